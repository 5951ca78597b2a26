"""Discovery: every source yields `Resource`s plus a report of what it saw."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from regops.jsontext import json_chunks
from regops.model import Discovery, Resource, SourceReport
from regops.normalize.estate import estate_resources

if TYPE_CHECKING:
    from regops.stages import HostsConfig, Settings

INVENTORY_SCHEMA = "regops.inventory/v1"


class InventoryError(Exception):
    """An inventory file cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class Inventory:
    """The normalised resources of one stage and the reports of the sources they came from."""

    stage: str
    resources: tuple[Resource, ...]
    sources: tuple[SourceReport, ...]

    @classmethod
    def merge(cls, stage: str, discoveries: Iterable[Discovery]) -> Inventory:
        resources: dict[str, Resource] = {}
        sources = []
        for discovery in discoveries:
            sources.append(discovery.report)
            for resource in discovery.resources:
                resources.setdefault(resource.id, resource)
        for estate in estate_resources(list(resources.values()), stage):
            resources[estate.id] = estate
        return cls(stage, tuple(sorted(resources.values(), key=lambda r: r.id)), tuple(sources))

    @property
    def complete(self) -> bool:
        return all(source.complete for source in self.sources)

    def of_kinds(self, kinds: Sequence[str]) -> list[Resource]:
        return [r for r in self.resources if r.kind in kinds]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": INVENTORY_SCHEMA,
            "stage": self.stage,
            "sources": [s.to_dict() for s in self.sources],
            "resources": [r.to_dict() for r in self.resources],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, default=str)

    def write(self, path: Path) -> str:
        """Write the inventory a resource per line (what one diffs between runs), as it is
        encoded; its sha256."""
        digest = hashlib.sha256()
        with path.open("wb") as out:
            for chunk in json_chunks(self.to_dict(), sort_keys=True, expand=2):
                data = chunk.encode("utf-8")
                digest.update(data)
                out.write(data)
        return digest.hexdigest()

    @classmethod
    def read(cls, path: Path) -> Inventory:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InventoryError(f"{path}: cannot read the inventory: {exc}") from None
        return cls.from_json(text, origin=str(path))

    @classmethod
    def from_json(cls, text: str, origin: str = "inventory") -> Inventory:
        """The inventory `to_json` wrote; `origin` names where the text came from in errors.

        xdist workers get the controller's inventory as content: a worker on another
        machine has no access to the controller's files.
        """
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InventoryError(f"{origin}: cannot read the inventory: {exc}") from None
        if not isinstance(document, dict) or document.get("schema") != INVENTORY_SCHEMA:
            raise InventoryError(f"{origin}: not a regops inventory (expected schema {INVENTORY_SCHEMA!r})")
        try:
            return cls(
                stage=document["stage"],
                resources=tuple(Resource.from_dict(r) for r in document["resources"]),
                sources=tuple(SourceReport.from_dict(s) for s in document["sources"]),
            )
        except (KeyError, TypeError) as exc:
            raise InventoryError(f"{origin}: the inventory is truncated or malformed ({exc!r})") from None


def discover(settings: Settings, progress: Callable[[str], None] | None = None) -> Inventory:
    """Run every source configured for the stage; SDKs are imported only for sources in use."""
    from regops.discovery.terraform_plan import discover_plan

    stage = settings.stage
    discoveries = [discover_plan(path, stage) for path in settings.plans]
    if settings.inventories:
        # It reads cloud exports too, with every live normaliser: a plan-only run needs none.
        from regops.discovery.inventory_file import discover_inventory

        discoveries.extend(discover_inventory(path, stage) for path in settings.inventories)
    if settings.aws is not None:
        from regops.discovery.aws import AwsSource, discover_aws

        aws = settings.aws
        source = AwsSource(
            regions=tuple(aws.regions),
            tag_key=aws.tag_key,
            account_id=aws.account_id,
            profile=aws.profile,
            role_arn=aws.role_arn,
            endpoint_url=aws.endpoint_url,
            max_workers=aws.max_workers,
        )
        discoveries.append(discover_aws(source, stage, progress))
    if settings.azure is not None:
        from regops.discovery.azure import AzureSource, discover_azure

        azure = settings.azure
        azure_source = AzureSource(
            subscriptions=tuple(azure.subscriptions),
            tag_key=azure.tag_key,
            endpoint=azure.endpoint,
            token_env=azure.token_env,
            ca_bundle=azure.ca_bundle,
            max_workers=azure.max_workers,
        )
        discoveries.append(discover_azure(azure_source, stage, progress))
    if settings.gcp is not None:
        from regops.discovery.gcp import GcpSource, discover_gcp

        gcp = settings.gcp
        gcp_source = GcpSource(
            scope=gcp.scope, label_key=gcp.label_key, endpoint=gcp.endpoint, token_env=gcp.token_env
        )
        discoveries.append(discover_gcp(gcp_source, stage, progress))
    if settings.hosts is not None:
        # After the clouds: the stage's live compute instances are hosts to look at too.
        live = [r for d in discoveries for r in d.resources if r.origin == "live"]
        discoveries.append(_discover_hosts(stage, settings.hosts, live, progress))
    return Inventory.merge(stage, discoveries)


def _discover_hosts(
    stage: str, config: HostsConfig, live: Sequence[Resource], progress: Callable[[str], None] | None
) -> Discovery:
    from regops.discovery.hosts import HostTarget, discover_hosts, targets_from_ansible

    def target(spec: str, name: str | None = None, tags: Mapping[str, str] | None = None) -> HostTarget:
        return HostTarget(
            spec,
            name=name,
            ssh_config=config.ssh_config,
            ssh_identity_file=config.ssh_identity_file,
            sudo=config.sudo,
            sshd_config=config.sshd_config,
            tags=dict(tags or {}),
        )

    targets = [target(spec) for spec in config.targets]
    if config.ansible_inventory:
        targets.extend(
            replace(t, sudo=config.sudo, sshd_config=config.sshd_config)
            for t in targets_from_ansible(Path(config.ansible_inventory))
        )
    if config.live_instances:
        user = f"{config.ssh_user}@" if config.ssh_user else ""
        for resource in live:
            description = resource.attributes.get("description")
            address = description.get("PrivateIpAddress") if isinstance(description, Mapping) else None
            if resource.kind == "compute" and isinstance(address, str):
                targets.append(target(f"ssh://{user}{address}", resource.id, resource.tags))
    return discover_hosts(targets, config.tls_endpoints, stage, progress)

"""Discovery: every source yields `Resource`s plus a report of what it saw."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from regops.jsontext import json_chunks
from regops.model import KINDS, ORIGINS, PROVIDERS, STAGES, Discovery, Resource, SourceReport
from regops.normalize.aws_data_events import settle
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
        """Every source's resources; an id that more than one source holds is qualified by each
        holder's label (`root_a.json:aws_s3_bucket.data`), so none is dropped or judged twice."""
        found = list(discoveries)
        holders: dict[str, int] = {}
        for discovery in found:
            seen: set[str] = set()
            for resource in discovery.resources:
                if resource.id in seen:
                    raise InventoryError(
                        f"{discovery.report.location}: more than one resource has the id {resource.id!r}"
                    )
                seen.add(resource.id)
                holders[resource.id] = holders.get(resource.id, 0) + 1
        labels = _source_labels([d.report for d in found])
        resources: dict[str, Resource] = {}
        came_from: dict[str, str] = {}
        for discovery, label in zip(found, labels, strict=True):
            for resource in discovery.resources:
                if holders[resource.id] > 1:
                    resource = replace(resource, id=f"{label}:{resource.id}")
                if resource.id in resources:
                    # The same file given twice, or an id that already reads like a qualified one.
                    raise InventoryError(
                        f"{discovery.report.location}: resource {resource.id!r} cannot be told apart"
                        f" from the one of the same id in {came_from[resource.id]}"
                    )
                resources[resource.id] = resource
                came_from[resource.id] = discovery.report.location
        resources = {resource.id: resource for resource in settle(list(resources.values()))}
        for estate in estate_resources(list(resources.values()), stage):
            if estate.id in resources:
                raise InventoryError(
                    f"{came_from[estate.id]}: the id {estate.id!r} is the stage's estate, not a resource"
                )
            resources[estate.id] = estate
        sources = [source for d in found for source in (d.report, *d.saved_sources)]
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
        return _checked(document, origin)


def _source_labels(reports: Sequence[SourceReport]) -> list[str]:
    """What qualifies the ids a source shares with another: a file's name, with as many of its
    folders as tell it from every other file given (`eu/main.json`, `us/main.json`), anything
    else its location.

    Never the absolute path: ids are what waivers and baselines match, and a checkout's
    location changes from one pipeline run to the next.
    """
    # A source that read a file records the file's digest; live ones have none.
    parts = [PurePath(r.location).parts if r.sha256 else (r.location,) for r in reports]
    labels = []
    for index, (report, own) in enumerate(zip(reports, parts, strict=True)):
        if not report.sha256 or not own:
            labels.append(_id_text(report.location))
            continue
        others = [other for number, other in enumerate(parts) if number != index]
        depth = next(
            (n for n in range(1, len(own)) if all(other[-n:] != own[-n:] for other in others)), len(own)
        )
        labels.append(_id_text(str(PurePath(*own[-depth:]))))
    return labels


def _id_text(label: str) -> str:
    # Ids end up in pytest node ids (`test_x[<id>]`): whitespace and "::" would break them.
    label = re.sub(r"\s+", "_", label)
    label = re.sub(r":{2,}", ":", label)
    return label.rstrip(":") or "source"


class _SavedResource(BaseModel):
    # Strict: `"complete": "false"` is not a boolean, `"region": 5` is not a region. Members
    # this version does not know are ignored, so a later version may add optional ones.
    model_config = ConfigDict(strict=True, frozen=True)

    id: str = Field(min_length=1)
    provider: str
    native_type: str
    kind: str
    region: str | None = None
    stage: str
    origin: str
    address: str | None = None
    source: str = ""
    tags: dict[str, str] = {}
    facts: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    components: dict[str, dict[str, Any]] = {}


class _SavedSource(BaseModel):
    model_config = ConfigDict(strict=True, frozen=True)

    kind: str = Field(min_length=1)
    location: str
    sha256: str | None = None
    configuration_sha256: str | None = None
    resource_count: int = Field(ge=0)
    complete: bool
    errors: list[str] = []
    notes: list[str] = []


# Values that decide which controls judge a resource, and how: one regops does not know would
# leave the resource unjudged and the gate green.
_CHOICES = {"provider": PROVIDERS, "kind": KINDS, "origin": ORIGINS}


def _checked(document: Mapping[str, Any], origin: str) -> Inventory:
    malformed = f"{origin}: the inventory is truncated or malformed"
    stage = document.get("stage")
    if stage not in STAGES:
        raise InventoryError(f"{malformed} (stage {stage!r} is not one of {', '.join(STAGES)})")
    listed: dict[str, list[Any]] = {}
    for name in ("resources", "sources"):
        value = document.get(name)
        if not isinstance(value, list):
            raise InventoryError(f"{malformed} ({name} is not a list)")
        listed[name] = value
    resources = []
    positions: dict[str, int] = {}
    for position, data in enumerate(listed["resources"]):
        name = _entry(origin, "resources", position, data, "id", _SavedResource)
        for field, known in _CHOICES.items():
            if data[field] not in known:
                raise InventoryError(
                    f"{origin}: {name}: {field} {data[field]!r} is not one regops knows ({', '.join(known)})"
                )
        if data["stage"] != stage:
            raise InventoryError(f"{origin}: {name}: of stage {data['stage']!r} in an inventory of {stage!r}")
        if data["id"] in positions:
            raise InventoryError(f"{origin}: {name}: resources[{positions[data['id']]}] has the same id")
        positions[data["id"]] = position
        resources.append(Resource.from_dict(data))
    sources = []
    for position, data in enumerate(listed["sources"]):
        _entry(origin, "sources", position, data, "location", _SavedSource)
        sources.append(SourceReport.from_dict(data))
    return Inventory(stage=stage, resources=tuple(resources), sources=tuple(sources))


def _entry(origin: str, member: str, position: int, data: Any, label: str, model: type[BaseModel]) -> str:
    """An entry of a saved inventory's list, checked against its model; the name errors give it
    (`resources[3] (aws_s3_bucket.logs)`)."""
    name = f"{member}[{position}]"
    if isinstance(data, Mapping) and isinstance(data.get(label), str):
        name += f" ({data[label]})"
    try:
        model.model_validate(data)
    except ValidationError as exc:
        raise InventoryError(f"{origin}: {name}: {_problems(exc)}") from None
    return name


def _problems(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(map(_key_text, e['loc'])) or 'the entry'}: {e['msg']}"
        for e in error.errors(include_url=False)
    )


def _key_text(key: str | int) -> str:
    # A key is any text in a hand-edited file (a tag named "a\nb"): the error stays on one line.
    text = str(key)
    return text if text.isprintable() else json.dumps(text)


def discover(settings: Settings, progress: Callable[[str], None] | None = None) -> Inventory:
    """Run every source configured for the stage; SDKs are imported only for sources in use."""
    from regops.discovery.terraform_plan import discover_plan

    stage = settings.stage
    # A file named twice is one source: its resources are the same resources.
    discoveries = [discover_plan(path, stage) for path in dict.fromkeys(settings.plans)]
    if settings.inventories:
        # It reads cloud exports too, with every live normaliser: a plan-only run needs none.
        from regops.discovery.inventory_file import discover_inventory

        discoveries.extend(discover_inventory(path, stage) for path in dict.fromkeys(settings.inventories))
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
    if settings.github is not None:
        from regops.discovery.github import GithubSource, discover_github

        github = settings.github
        github_source = GithubSource(
            repositories=tuple(github.repositories),
            api_url=github.api_url,
            token_env=github.token_env,
            branch=github.branch,
        )
        discoveries.append(discover_github(github_source, stage, progress))
    if settings.gitlab is not None:
        from regops.discovery.gitlab import GitlabSource, discover_gitlab

        gitlab = settings.gitlab
        gitlab_source = GitlabSource(
            projects=tuple(gitlab.projects),
            api_url=gitlab.api_url,
            token_env=gitlab.token_env,
            branch=gitlab.branch,
        )
        discoveries.append(discover_gitlab(gitlab_source, stage, progress))
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
    # A host listed twice alike is one host; two different ones of one name stay an error.
    unique: list[HostTarget] = []
    for found in targets:
        if found not in unique:
            unique.append(found)
    return discover_hosts(unique, list(dict.fromkeys(config.tls_endpoints)), stage, progress)

"""A saved inventory as a source: replay a run, or judge a stage from an archived snapshot.

Three formats, told apart by their content:
- regops's own inventory.json (a bundle's, or `regops snapshot`'s). Its resources come back as
  they were discovered; its estate is derived again from them. Its sources' reports come back
  too and are judged as they were: a snapshot whose sources were incomplete, or found nothing
  of the stage, fails the gate on replay as the run did: what was not seen then is not seen now.
  Every member is checked: a value of the wrong type or a kind regops does not know is an error.
- Azure Resource Graph query output (`az graph query -q ... -o json`: an object with `data`, or
  a bare list of rows). Rows carry what ARM returns for the resource itself; what live discovery
  reads beside it (blob service, auditing settings, server parameters) is not there, so facts
  from it stay unknown. Output with a `skip_token` is a first page only: incomplete.
- `gcloud asset export` newline-delimited JSON, resources and IAM policies in one file (two
  exports concatenated). Without IAM policy lines, the facts that read them stay unknown.
- An AWS Config configuration snapshot (the file Config delivers to S3), or the output of
  `aws configservice get-resource-config-history`. What Config does not record (RDS parameter
  values, key policies, a trail's logging status) stays unknown. Output with a `nextToken` is a
  first page only: incomplete.
Cloud exports are filtered to the stage by its `stage` tag or label, as live discovery does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from regops.discovery import INVENTORY_SCHEMA, Inventory, InventoryError
from regops.discovery.live import (
    arm_resource,
    asset_payload,
    asset_resources,
    aws_resource,
    custom_roles_of,
    in_stage,
)
from regops.model import UNKNOWN, Discovery, Resource, SourceReport
from regops.normalize import aws_config
from regops.normalize.estate import ESTATE_KIND
from regops.normalize.gcp_asset import IAM_POLICY_TYPES

STAGE_TAG = "stage"


@contextmanager
def _readable(path: Path, what: str) -> Iterator[None]:
    """One entry of an export whose shape the normalisers cannot read: a clear error, not a
    traceback, and never a resource that reads as compliant."""
    try:
        yield
    except (AttributeError, TypeError, ValueError, KeyError, IndexError) as exc:
        raise InventoryError(f"{path}: {what} is malformed ({type(exc).__name__}: {exc})") from None


def discover_inventory(path: Path, stage: str) -> Discovery:
    """The stage's resources in a saved inventory or a cloud export, with a report of the file."""
    try:
        data = path.read_bytes()
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InventoryError(f"{path}: cannot read the inventory: {exc}") from None
    try:
        document: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg != "Extra data":
            raise InventoryError(f"{path}: cannot read the inventory: not JSON ({exc})") from None
        return _asset_export(path, text, stage, hashlib.sha256(data).hexdigest())
    if isinstance(document, Mapping) and document.get("schema") == INVENTORY_SCHEMA:
        return _regops_inventory(path, text, stage, hashlib.sha256(data).hexdigest())
    if isinstance(document, Mapping) and isinstance(document.get("data"), list):
        return _resource_graph(path, document, document["data"], stage, hashlib.sha256(data).hexdigest())
    if isinstance(document, list) and all(isinstance(row, Mapping) and "type" in row for row in document):
        return _resource_graph(path, {}, document, stage, hashlib.sha256(data).hexdigest())
    if isinstance(document, Mapping) and isinstance(document.get("configurationItems"), list):
        return _config_snapshot(path, document, stage, hashlib.sha256(data).hexdigest())
    if isinstance(document, Mapping) and ("asset_type" in document or "assetType" in document):
        return _asset_export(path, text, stage, hashlib.sha256(data).hexdigest())
    raise InventoryError(
        f"{path}: not a regops inventory (schema {INVENTORY_SCHEMA!r}), Azure Resource Graph output,"
        " gcloud asset export or AWS Config snapshot"
    )


def _cloud_export(
    path: Path,
    kind: str,
    sha256: str,
    resources: Sequence[Resource],
    stage: str,
    errors: list[str],
    notes: list[str],
) -> Discovery:
    if not any(r.tags.get(STAGE_TAG) == stage for r in resources):
        # Subscription or project settings alone are no stage: fail closed.
        errors.append(f"no resource is tagged {STAGE_TAG}={stage}")
        resources = []
    report = SourceReport(
        kind=kind,
        location=str(path),
        sha256=sha256,
        resource_count=len(resources),
        complete=not errors,
        errors=tuple(errors),
        notes=tuple(notes),
    )
    return Discovery(tuple(sorted(resources, key=lambda r: r.id)), report)


def _resource_graph(
    path: Path, document: Mapping[str, Any], rows: Sequence[Any], stage: str, sha256: str
) -> Discovery:
    errors, notes = [], ["Azure Resource Graph rows: facts read beside a resource stay unknown"]
    if document.get("skip_token"):
        errors.append("the query output is one page of several (skip_token is set): page through it")
    total = document.get("total_records", document.get("totalRecords"))
    if isinstance(total, int) and total > len(rows):
        errors.append(f"the query output holds {len(rows)} of {total} records")
    resources = []
    for number, row in enumerate(rows, 1):
        if not isinstance(row, Mapping) or not isinstance(row.get("id"), str) or "type" not in row:
            raise InventoryError(f"{path}: row {number} is not a Resource Graph resource (needs id and type)")
        with _readable(path, f"row {number}"):
            resource = arm_resource(row, stage, str(path))
        if resource is not None and in_stage(resource, STAGE_TAG, stage):
            resources.append(resource)
    return _cloud_export(path, "azure-resource-graph", sha256, resources, stage, errors, notes)


def _asset_export(path: Path, text: str, stage: str, sha256: str) -> Discovery:
    records: list[Mapping[str, Any]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InventoryError(
                f"{path}: line {number} is not JSON ({exc}); is the export truncated?"
            ) from None
        if not isinstance(record, Mapping) or not isinstance(record.get("name"), str):
            raise InventoryError(f"{path}: line {number} is not a Cloud Asset record (needs name)")
        records.append(record)
    policies = {
        str(r["name"]): r.get("iam_policy", r.get("iamPolicy")) for r in records if not r.get("resource")
    }
    notes = ["gcloud asset export"]
    if not policies:
        notes.append("no IAM policies in the export: facts that read them stay unknown")
    resources = []
    roles = custom_roles_of(records)
    for record in records:
        if not record.get("resource"):
            continue
        policy: Any = None
        asset_type = record.get("asset_type", record.get("assetType"))
        if asset_type in IAM_POLICY_TYPES:
            # Every bucket and project has a policy (the convenience bindings at least), so one
            # missing from the IAM lines was not exported; a key without bindings has none.
            missing: Any = UNKNOWN if asset_type in ALWAYS_HAVE_POLICIES else {}
            policy = policies.get(str(record["name"]), missing) if policies else UNKNOWN
        with _readable(path, f"the asset {record['name']}"):
            found = asset_resources(asset_payload(record, policy, policies or None, roles), stage, str(path))
        resources += [resource for resource in found if in_stage(resource, STAGE_TAG, stage)]
    return _cloud_export(path, "gcp-asset-export", sha256, resources, stage, [], notes)


ALWAYS_HAVE_POLICIES = frozenset(
    {"storage.googleapis.com/Bucket", "cloudresourcemanager.googleapis.com/Project"}
)


def _config_snapshot(path: Path, document: Mapping[str, Any], stage: str, sha256: str) -> Discovery:
    numbered: list[tuple[int, Mapping[str, Any]]] = []
    for number, item in enumerate(document["configurationItems"], 1):
        if not isinstance(item, Mapping) or not isinstance(item.get("resourceType"), str):
            raise InventoryError(f"{path}: configuration item {number} has no resourceType")
        status = item.get("configurationItemStatus")
        if status is not None and not isinstance(status, str):
            raise InventoryError(
                f"{path}: configuration item {number} has configurationItemStatus {status!r}"
            )
        if status not in aws_config.SKIPPED_STATUSES:
            numbered.append((number, item))
    items = [item for _, item in numbered]
    errors, notes = [], ["AWS Config snapshot: facts Config does not record stay unknown"]
    if document.get("nextToken"):
        errors.append("the output is one page of several (nextToken is set): page through it")
    managers = aws_config.key_managers(items)
    account_block = aws_config.account_public_access_block(items)
    resources = []
    for number, item in numbered:
        found = aws_config.CONFIG_TYPES.get(item["resourceType"])
        arn = aws_config.item_arn(item)
        if found is None or managers.get(str(arn)) == "AWS":
            continue  # a type regops does not judge, or a key AWS manages (as live discovery)
        native_type, payload_of = found
        if arn is None:
            raise InventoryError(f"{path}: configuration item {number} ({item['resourceType']}) has no ARN")
        where = f"configuration item {number} ({item['resourceType']} {arn})"
        with _readable(path, where):
            tags = aws_config.item_tags(item)
        if item["resourceType"] not in aws_config.ACCOUNT_TYPES and tags.get(STAGE_TAG) != stage:
            continue
        with _readable(path, where):
            payload = payload_of(aws_config.ConfigItem(item, managers, account_block))
            resource = aws_resource(
                arn=arn,
                native_type=native_type,
                region=aws_config.item_region(item),
                tags=tags,
                payload=payload,
                stage=stage,
                source=str(path),
                redact=True,
            )
        resources.append(resource)
    return _cloud_export(path, "aws-config-snapshot", sha256, resources, stage, errors, notes)


def _regops_inventory(path: Path, text: str, stage: str, sha256: str) -> Discovery:
    """The resources of a saved inventory of `stage`, with the reports of its original sources."""
    saved = Inventory.from_json(text, origin=str(path))
    if saved.stage != stage:
        raise InventoryError(f"{path}: an inventory of stage {saved.stage!r}, not of {stage!r}")
    resources = tuple(r for r in saved.resources if r.kind != ESTATE_KIND)
    # Promotion lineage follows the Terraform configuration the snapshot's plans came from.
    digests = {s.configuration_sha256 for s in saved.sources if s.configuration_sha256}
    report = SourceReport(
        kind="inventory",
        location=str(path),
        sha256=sha256,
        resource_count=len(resources),
        # The file itself was read whole; what its sources missed is in their own reports.
        complete=True,
        notes=tuple(
            f"taken from {s.kind} {s.location} ({s.resource_count} resources"
            + (f", sha256 {s.sha256[:12]})" if s.sha256 else ")")
            for s in saved.sources
        ),
        configuration_sha256=digests.pop() if len(digests) == 1 else None,
    )
    # Each saved source is judged as it was: one that was incomplete or found nothing of the
    # stage fails the replay's gate with the reason it failed the original's.
    recorded = tuple(replace(s, notes=(*s.notes, f"as recorded in {path}")) for s in saved.sources)
    return Discovery(resources, report, saved_sources=recorded)

"""What every live source does alike: payloads made safe for evidence, and normalised resources."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from regops.model import UNKNOWN, Resource
from regops.normalize import aws, azure_arm, gcp_asset
from regops.normalize.common import (
    LiveNormaliser,
    LiveType,
    Unknown,
    secret_bearing,
    secret_pair_values,
    tags_fit_for_evidence,
)

UNREADABLE_TEXT = "(could not be read)"
REDACTED_TEXT = "(redacted)"


def jsonable(value: Any, redact: bool = True, everything: bool = False) -> Any:
    """A payload as evidence may hold it: unreadable parts marked and, with `redact`, strings
    under credential-like or boot-script names removed, also inside what such a name holds (an
    API may echo a connection string or a password). The value of a name/value pair so named is
    removed even without `redact`: no payload holds a flag in that shape."""
    if value is UNKNOWN:
        return UNREADABLE_TEXT
    if isinstance(value, Mapping):
        pairs = secret_pair_values(value)
        shown: dict[str, Any] = {}
        for key, item in value.items():
            if key == "ResponseMetadata":
                continue
            named = redact and secret_bearing(str(key))
            if isinstance(item, str) and (everything or named or str(key) in pairs):
                shown[str(key)] = REDACTED_TEXT
            else:
                shown[str(key)] = jsonable(item, redact, everything or named)
        return shown
    if isinstance(value, (list, tuple)):
        return [jsonable(v, redact, everything) for v in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, bytes):
        return f"({len(value)} bytes)"
    return value


def normalised(normaliser: LiveNormaliser, payload: Mapping[str, Any]) -> dict[str, Any]:
    try:
        return normaliser(payload)
    except Unknown:
        # An unreadable part was needed outside any one fact: none of them can be trusted.
        return {}


def live_resource(
    *,
    resource_id: str,
    provider: str,
    native_type: str,
    live_type: LiveType,
    region: str,
    tags: Mapping[str, str],
    payload: Mapping[str, Any],
    stage: str,
    source: str,
) -> Resource:
    facts = normalised(live_type.facts, payload)
    facts["taggable"] = live_type.taggable
    return Resource(
        id=resource_id,
        provider=provider,
        native_type=native_type,
        kind=live_type.kind,
        region=region,
        stage=stage,
        origin="live",
        tags=tags_fit_for_evidence(tags, REDACTED_TEXT),
        attributes=jsonable(payload),
        facts=facts,
        source=source,
    )


def aws_resource(
    *,
    arn: str,
    native_type: str,
    region: str | None,
    tags: Mapping[str, str],
    payload: Mapping[str, Any],
    stage: str,
    source: str,
    redact: bool = False,
) -> Resource:
    """An AWS resource from its API payloads (boto3's, or a Config item's made alike).

    Live payloads are not redacted by name: the credential report's password_* columns are
    flags, not secrets. Config items are, as they echo whatever a service returned."""
    kind, normaliser = aws.LIVE[native_type]
    return Resource(
        id=arn,
        provider="aws",
        native_type=native_type,
        kind=kind,
        # IAM and account-wide settings belong to no region; anything else without one is a
        # resource that could not be located, and its region stays unknown.
        region=region or ("global" if kind in ("identity", "access_policy", "account") else None),
        stage=stage,
        origin="live",
        tags=tags_fit_for_evidence(tags, REDACTED_TEXT),
        attributes=jsonable(payload, redact=redact),
        facts=normalised(normaliser, payload),
        source=source,
    )


def arm_resource(payload: Mapping[str, Any], stage: str, source: str) -> Resource | None:
    """An Azure Resource Manager resource (the SDK's or a Resource Graph row); None for a type
    regops does not normalise."""
    native_type = azure_arm.canonical_type(str(payload.get("type", "")))
    if native_type is None:
        return None
    return live_resource(
        resource_id=str(payload["id"]),
        provider="azure",
        native_type=native_type,
        live_type=azure_arm.LIVE[native_type],
        region=azure_arm.region_of(payload),
        tags=azure_arm.tags_of(payload),
        payload=payload,
        stage=stage,
        source=source,
    )


_IAM_KEYS = {"audit_configs": "auditConfigs", "audit_log_configs": "auditLogConfigs", "log_type": "logType"}


def _iam_policy(policy: Any) -> Any:
    """An IAM policy in the camelCase of the REST API, whichever spelling the export used."""
    if isinstance(policy, Mapping):
        return {_IAM_KEYS.get(str(k), str(k)): _iam_policy(v) for k, v in policy.items()}
    if isinstance(policy, list):
        return [_iam_policy(v) for v in policy]
    return policy


def custom_roles_of(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The custom roles among Cloud Asset records, by the name grants give them
    (`projects/p/roles/deployer`): their data."""
    roles = {}
    for record in records:
        if record.get("asset_type", record.get("assetType")) == gcp_asset.CUSTOM_ROLE:
            data = (record.get("resource") or {}).get("data") or {}
            if isinstance(data, Mapping) and isinstance(data.get("name"), str):
                roles[data["name"]] = data
    return roles


def asset_payload(
    record: Mapping[str, Any],
    iam_policy: Any = None,
    policies: Mapping[str, Any] | None = None,
    custom_roles: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A Cloud Asset record (SDK or `gcloud asset export`, snake_case or camelCase) as the
    payload normalize/gcp_asset.py reads; a Cloud KMS key's with its key ring's policy, from
    `policies` (asset name to policy; None when they could not be read); a project's, folder's
    or organisation's with the scope's `custom_roles` (custom_roles_of)."""
    resource = record.get("resource") or {}
    payload = {
        "name": record.get("name"),
        "asset_type": record.get("asset_type", record.get("assetType")),
        "data": resource.get("data") or {},
        "location": resource.get("location"),
        gcp_asset.IAM_POLICY: _iam_policy(
            iam_policy if iam_policy is not None else record.get("iam_policy", record.get("iamPolicy"))
        ),
    }
    if payload["asset_type"] in gcp_asset.GRANTS:
        payload[gcp_asset.CUSTOM_ROLES] = dict(custom_roles or {})
    if payload["asset_type"] == gcp_asset.CRYPTO_KEY:
        ring = gcp_asset.key_ring_of(str(record.get("name")))
        # A ring without a policy of its own grants nothing; unread policies leave it unknown.
        payload[gcp_asset.INHERITED_IAM_POLICY] = (
            UNKNOWN if policies is None else _iam_policy(policies.get(ring, {}))
        )
    return payload


def asset_resources(payload: Mapping[str, Any], stage: str, source: str) -> list[Resource]:
    """A Cloud Asset record's resources (none for a type regops does not normalise): the asset,
    and for a project, folder or organisation its IAM policy as a grant of rights (gcp_asset.GRANTS)."""
    native_type = str(payload.get("asset_type"))
    found = []
    for resource_id, live_type in (
        (str(payload["name"]), gcp_asset.LIVE.get(native_type)),
        (str(payload["name"]) + gcp_asset.GRANTS_ID_SUFFIX, gcp_asset.GRANTS.get(native_type)),
    ):
        if live_type is not None:
            found.append(
                live_resource(
                    resource_id=resource_id,
                    provider="gcp",
                    native_type=native_type,
                    live_type=live_type,
                    region=gcp_asset.region_of(payload),
                    tags=gcp_asset.labels_of(payload),
                    payload=payload,
                    stage=stage,
                    source=source,
                )
            )
    return found


def in_stage(resource: Resource, tag_key: str, stage: str) -> bool:
    """Whether a live resource belongs to the stage: tagged for it, or untaggable in its scope."""
    return resource.tags.get(tag_key) == stage or resource.facts.get("taggable") is False

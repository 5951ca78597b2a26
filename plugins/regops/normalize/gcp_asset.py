"""GCP: live resources as Cloud Asset Inventory returns them, to facts.

The payload is one asset: `data` (the resource in its service's REST representation, as in
`resource.data`), `location`, and `iam_policy` (the asset's IAM policy, when discovery read
one; UNKNOWN when that listing failed). The facts have the names and meanings of the planned
side (normalize/gcp.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from regops.normalize.alerting import (
    GCP_ALERT_EVENTS,
    gcp_log_filter_categories,
    gcp_watched_metrics,
    known_list,
)
from regops.normalize.common import (
    Facts,
    LiveType,
    Unknown,
    conditional,
    days_from_duration,
    dig,
    is_internet,
    known,
    live_security_service,
    merged_labels,
    parse_port_span,
    port_ranges,
)
from regops.normalize.gcp import (
    binding_grants,
    custom_role_facts,
    custom_role_permissions,
    hierarchy_facts,
    key_access_gaps,
    public_grants,
)

IAM_POLICY = "iam_policy"
# A Cloud KMS key's: the IAM policy of its key ring, which grants on every key in it.
INHERITED_IAM_POLICY = "inherited_iam_policy"


def _data(payload: Mapping[str, Any]) -> Any:
    return dig(payload, "data", default={})


def _grants(payload: Mapping[str, Any], policy: str = IAM_POLICY) -> list[tuple[str, str]]:
    """(role, member) of the asset's IAM policy, or of the one it inherits."""
    return binding_grants(dig(payload, policy, "bindings", default=[]))


def storage_bucket(payload: Mapping[str, Any]) -> dict[str, Any]:
    facts = Facts()
    data = _data(payload)
    facts.derive("encrypted_at_rest", lambda: True)
    facts.derive("https_only", lambda: True)
    facts.derive("encryption_cmk", lambda: bool(dig(data, "encryption", "defaultKmsKeyName")))
    facts.derive(
        "uniform_access",
        lambda: dig(data, "iamConfiguration", "uniformBucketLevelAccess", "enabled", default=False) is True,
    )

    def public() -> bool:
        prevention = dig(data, "iamConfiguration", "publicAccessPrevention", default="inherited")
        if str(prevention).lower() == "enforced":
            return False
        return public_grants(_grants(payload))

    facts.derive("public", public)
    facts.derive("versioning", lambda: dig(data, "versioning", "enabled", default=False) is True)
    facts.derive("access_logging", lambda: bool(dig(data, "logging", "logBucket")))
    facts.derive(
        "retention_days",
        lambda: int(float(dig(data, "retentionPolicy", "retentionPeriod", default=0))) // 86400,
    )
    return facts.values


def sql_instance(payload: Mapping[str, Any]) -> dict[str, Any]:
    facts = Facts()
    data = _data(payload)
    settings = dig(data, "settings", default={})
    ip = dig(settings, "ipConfiguration", default={})
    backup = dig(settings, "backupConfiguration", default={})
    facts.derive("encrypted_at_rest", lambda: True)
    facts.derive("encryption_cmk", lambda: bool(dig(data, "diskEncryptionConfiguration", "kmsKeyName")))
    facts.derive("engine", lambda: str(dig(data, "databaseVersion", default="")).split("_")[0].lower())
    facts.derive(
        "public",
        lambda: (
            dig(ip, "ipv4Enabled", default=True) is True
            and any(
                is_internet(dig(n, "value", default="")) for n in dig(ip, "authorizedNetworks", default=[])
            )
        ),
    )

    def tls_enforced() -> bool:
        mode = dig(ip, "sslMode")
        if mode is not None:
            return mode in {"ENCRYPTED_ONLY", "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"}
        return dig(ip, "requireSsl", default=False) is True

    facts.derive("tls_enforced", tls_enforced)
    facts.derive(
        "backup_days",
        lambda: (
            int(dig(backup, "backupRetentionSettings", "retainedBackups", default=7))
            if dig(backup, "enabled", default=False) is True
            else 0
        ),
    )
    facts.derive(
        "pitr",
        lambda: (
            dig(backup, "pointInTimeRecoveryEnabled", default=False) is True
            or dig(backup, "binaryLogEnabled", default=False) is True
        ),
    )
    facts.derive("zone_redundant", lambda: dig(settings, "availabilityType", default="ZONAL") == "REGIONAL")
    facts.derive(
        "deletion_protection", lambda: dig(settings, "deletionProtectionEnabled", default=False) is True
    )

    def audit_logging() -> bool:
        flags = {
            str(dig(f, "name")): str(dig(f, "value", default="")).lower()
            for f in dig(settings, "databaseFlags", default=[])
        }
        return flags.get("cloudsql.enable_pgaudit") == "on" or flags.get("log_connections") == "on"

    facts.derive("audit_logging", audit_logging)
    # A clone or restore leaves no mark on the running instance; only the plan declares it.
    return facts.values


def firewall(payload: Mapping[str, Any]) -> dict[str, Any]:
    facts = Facts()
    data = _data(payload)

    def direction() -> str:
        return str(dig(data, "direction", default="INGRESS")).lower()

    facts.derive("direction", direction)
    facts.derive("enabled", lambda: dig(data, "disabled", default=False) is not True)

    def open_ports() -> list[list[int]]:
        if direction() != "ingress" or dig(data, "disabled", default=False) is True:
            return []
        if not any(is_internet(s) for s in dig(data, "sourceRanges", default=[])):
            return []
        spans: list[tuple[int, int]] = []
        for rule in dig(data, "allowed", default=[]):
            ports = dig(rule, "ports", default=[])
            if str(dig(rule, "IPProtocol", default="all")).lower() == "all" or not ports:
                spans.append((0, 65535))
            else:
                spans.extend(parse_port_span(p) for p in ports)
        return port_ranges(spans)

    facts.derive("internet_ingress_ports", open_ports)
    return facts.values


def crypto_key(payload: Mapping[str, Any]) -> dict[str, Any]:
    facts = Facts()
    data = _data(payload)
    facts.derive("rotatable", lambda: dig(data, "purpose", default="ENCRYPT_DECRYPT") == "ENCRYPT_DECRYPT")
    facts.derive("rotation_enabled", lambda: bool(dig(data, "rotationPeriod")))
    facts.derive("rotation_period_days", lambda: days_from_duration(dig(data, "rotationPeriod")))

    def window() -> int | None:
        return days_from_duration(dig(data, "destroyScheduledDuration", default="2592000s"))

    facts.derive("deletion_window_days", window)
    facts.derive("deletion_protected", lambda: (window() or 0) >= 30)

    def access_gaps() -> list[str]:
        return key_access_gaps(_grants(payload), _grants(payload, INHERITED_IAM_POLICY))

    facts.derive("access_gaps", access_gaps)
    return facts.values


def project_audit_config(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The project's IAM policy: its `auditConfigs` say which Data Access logs are written."""
    facts = Facts()

    def all_services_types() -> set[str]:
        for config in dig(payload, IAM_POLICY, "auditConfigs", default=[]):
            if dig(config, "service") == "allServices":
                return {str(dig(c, "logType")) for c in dig(config, "auditLogConfigs", default=[])}
        return set()

    def enabled() -> bool:
        # Admin Activity logs are always written; Data Access logs only where configured.
        known(payload.get(IAM_POLICY))
        return True

    facts.derive("enabled", enabled)
    facts.derive("covers_all_regions", lambda: True)
    facts.derive("data_access_logged", lambda: {"DATA_READ", "DATA_WRITE"} <= all_services_types())
    return facts.values


# The scope's custom roles (name to the Role asset's data) beside a project's, folder's or
# organisation's policy: what a grant of one of them gives.
CUSTOM_ROLES = "custom_roles"
CUSTOM_ROLE = "iam.googleapis.com/Role"


def hierarchy_grants(level: str) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """A project's, folder's or organisation's IAM policy as a grant of rights over everything
    in it."""

    def normalise(payload: Mapping[str, Any]) -> dict[str, Any]:
        def custom_roles() -> dict[str, frozenset[str]]:
            roles = known(payload.get(CUSTOM_ROLES, {}))
            return {
                name: custom_role_permissions(role, "includedPermissions") for name, role in roles.items()
            }

        return hierarchy_facts(lambda: _grants(payload), level, custom_roles)

    return normalise


def custom_role(payload: Mapping[str, Any]) -> dict[str, Any]:
    """A custom role of the project or organisation, as the planned side reads it."""
    return custom_role_facts(lambda: _data(payload), "includedPermissions")


def logging_bucket(payload: Mapping[str, Any]) -> dict[str, Any]:
    facts = Facts()
    facts.derive("retention_days", lambda: int(dig(payload, "data", "retentionDays", default=30)))
    return facts.values


def _metadata(data: Mapping[str, Any]) -> dict[str, str]:
    items = dig(data, "metadata", "items", default=[])
    return {str(dig(i, "key")): str(dig(i, "value", default="")) for i in items}


def compute_instance(payload: Mapping[str, Any]) -> dict[str, Any]:
    facts = Facts()
    facts.derive("disk_encrypted", lambda: True)  # as planned: Compute Engine always encrypts
    data = _data(payload)
    facts.derive(
        "public_ip",
        lambda: any(dig(n, "accessConfigs", default=[]) for n in dig(data, "networkInterfaces", default=[])),
    )
    shielded = dig(data, "shieldedInstanceConfig", default={})
    facts.derive("shielded_boot", lambda: dig(shielded, "enableSecureBoot", default=False) is True)

    def hardening_gaps() -> list[str]:
        gaps = []
        if dig(shielded, "enableSecureBoot", default=False) is not True:
            gaps.append("secure boot off")
        if dig(shielded, "enableVtpm", default=True) is not True:
            gaps.append("vTPM off")
        metadata = _metadata(data)
        if metadata.get("block-project-ssh-keys", "false").lower() != "true":
            gaps.append("project-wide SSH keys accepted")
        if metadata.get("serial-port-enable", "false").lower() in {"true", "1"}:
            gaps.append("serial console enabled")
        if dig(data, "canIpForward", default=False) is True:
            gaps.append("IP forwarding on")
        return gaps

    facts.derive("hardening_gaps", hardening_gaps)
    return facts.values


def compute_disk(payload: Mapping[str, Any]) -> dict[str, Any]:
    facts = Facts()
    data = _data(payload)
    facts.derive("encrypted_at_rest", lambda: True)
    facts.derive("encryption_cmk", lambda: bool(dig(data, "diskEncryptionKey", "kmsKeyName")))
    facts.derive("restored_from", lambda: dig(data, "sourceSnapshot") or dig(data, "sourceDisk"))
    return facts.values


def container_cluster(payload: Mapping[str, Any]) -> dict[str, Any]:
    facts = Facts()
    data = _data(payload)
    facts.derive(
        "secrets_encrypted",
        lambda: (
            dig(data, "databaseEncryption", "state") == "ENCRYPTED"
            and bool(dig(data, "databaseEncryption", "keyName"))
        ),
    )

    def control_plane_public() -> bool:
        if dig(data, "privateClusterConfig", "enablePrivateEndpoint", default=False) is True:
            return False
        authorised = dig(data, "masterAuthorizedNetworksConfig", default={})
        if dig(authorised, "enabled", default=False) is not True:
            return True
        if any(is_internet(dig(b, "cidrBlock")) for b in dig(authorised, "cidrBlocks", default=[])):
            return True
        # The API leaves the field out when the cluster never set it; GKE then decides, and a
        # public endpoint admits every Compute Engine public address (any customer's VM).
        access = dig(authorised, "gcpPublicCidrsAccessEnabled")
        if access is None:
            raise Unknown
        return access is True

    facts.derive("control_plane_public", control_plane_public)
    return facts.values


def network(payload: Mapping[str, Any]) -> dict[str, Any]:
    facts = Facts()
    facts.derive("default_allow", lambda: dig(payload, "data", "name") == "default")
    facts.derive("flow_logs", lambda: None)
    return facts.values


def subnetwork(payload: Mapping[str, Any]) -> dict[str, Any]:
    facts = Facts()
    facts.derive("default_allow", lambda: False)
    facts.derive("flow_logs", lambda: dig(payload, "data", "logConfig", "enable", default=False) is True)
    return facts.values


def secret(payload: Mapping[str, Any]) -> dict[str, Any]:
    facts = Facts()
    facts.derive("rotates", lambda: bool(dig(payload, "data", "rotation", "rotationPeriod")))
    return facts.values


def _service(payload: Mapping[str, Any]) -> list[str]:
    if dig(payload, "data", "state") != "ENABLED":
        return []
    return [f"api:{str(dig(payload, 'data', 'name', default='')).rsplit('/', 1)[-1]}"]


def _alert_policy(payload: Mapping[str, Any]) -> list[str]:
    """As the planned side (gcp._alert_policy): `log_metric:<name>` per log-based metric a
    threshold condition watches, and the categories of a log-match condition's filter."""
    data = _data(payload)
    if dig(data, "enabled", default=True) is False:
        return []
    conditions = dig(data, "conditions", default=[])
    if len(conditions) > 1 and dig(data, "combiner") != "OR":
        return []  # AND: no condition alerts by itself
    provided: list[str] = []
    for condition in conditions:
        threshold = dig(condition, "conditionThreshold")
        if threshold is not None:
            provided += gcp_watched_metrics(
                dig(threshold, "filter"), dig(threshold, "comparison"), dig(threshold, "thresholdValue")
            )
        matched = dig(condition, "conditionMatchedLog")
        if matched is not None:
            provided += gcp_log_filter_categories(dig(matched, "filter"), GCP_ALERT_EVENTS)
    if not provided or not known_list(dig(data, "notificationChannels")):
        return []
    return list(dict.fromkeys(provided))


def _log_metric(payload: Mapping[str, Any]) -> list[str]:
    """As the planned side (gcp._log_metric): categories that count once a policy watches it."""
    if dig(payload, "data", "disabled", default=False) is True:
        return []
    categories = gcp_log_filter_categories(dig(payload, "data", "filter"), GCP_ALERT_EVENTS)
    if not categories:
        return []
    # The API names the metric by its identifier; a full resource name ends in it.
    name = re.sub(r"^projects/[^/]+/metrics/", "", str(dig(payload, "data", "name")))
    return [conditional(category, f"log_metric:{name}") for category in categories]


def _sink(payload: Mapping[str, Any]) -> list[str]:
    return ["aggregated_sink"] if dig(payload, "data", "includeChildren", default=False) is True else []


LIVE: dict[str, LiveType] = {
    "storage.googleapis.com/Bucket": LiveType("object_store", storage_bucket),
    "sqladmin.googleapis.com/Instance": LiveType("database", sql_instance),
    "compute.googleapis.com/Firewall": LiveType("network_rule", firewall, taggable=False),
    "cloudkms.googleapis.com/CryptoKey": LiveType("key", crypto_key),
    "cloudresourcemanager.googleapis.com/Project": LiveType(
        "audit_trail", project_audit_config, taggable=False
    ),
    "logging.googleapis.com/LogBucket": LiveType("log_store", logging_bucket, taggable=False),
    "compute.googleapis.com/Instance": LiveType("compute", compute_instance),
    "compute.googleapis.com/Disk": LiveType("disk", compute_disk),
    "container.googleapis.com/Cluster": LiveType("cluster", container_cluster),
    "compute.googleapis.com/Network": LiveType("network", network, taggable=False),
    "compute.googleapis.com/Subnetwork": LiveType("network", subnetwork, taggable=False),
    "secretmanager.googleapis.com/Secret": LiveType("secret", secret),
    "serviceusage.googleapis.com/Service": live_security_service(_service),
    "monitoring.googleapis.com/AlertPolicy": live_security_service(_alert_policy),
    "logging.googleapis.com/LogMetric": live_security_service(_log_metric),
    "logging.googleapis.com/LogSink": live_security_service(_sink),
    CUSTOM_ROLE: LiveType("access_policy", custom_role, taggable=False),
}

# What a project's, folder's or organisation's asset stands for besides itself, as a resource
# whose id is the asset's with this suffix: its IAM policy, a grant of rights over everything in
# it, judged apart from the project's audit settings (IAM-004, KMS-003). A folder or an
# organisation is listed for this alone, when the discovery scope holds one.
GRANTS = {
    f"cloudresourcemanager.googleapis.com/{level.title()}": LiveType(
        "access_policy", hierarchy_grants(level), taggable=False
    )
    for level in ("project", "folder", "organization")
}
GRANTS_ID_SUFFIX = "#iamPolicy"

# Assets with an IAM policy the controls read.
IAM_POLICY_TYPES = (
    "storage.googleapis.com/Bucket",
    "cloudkms.googleapis.com/CryptoKey",
    "cloudkms.googleapis.com/KeyRing",
    *GRANTS,
)
CRYPTO_KEY = "cloudkms.googleapis.com/CryptoKey"


def key_ring_of(asset_name: str) -> str:
    """The asset name of the key ring a Cloud KMS key's asset name lies in."""
    return asset_name.partition("/cryptoKeys/")[0]


def labels_of(payload: Mapping[str, Any]) -> dict[str, str]:
    """The resource's labels, where its API keeps them: `labels` for most types, `resourceLabels`
    for a GKE cluster, `settings.userLabels` for a Cloud SQL instance."""
    data = payload.get("data")
    if not isinstance(data, Mapping):
        return {}
    settings = data.get("settings")
    return merged_labels(
        data.get("labels"),
        data.get("resourceLabels"),
        settings.get("userLabels") if isinstance(settings, Mapping) else None,
    )


def region_of(payload: Mapping[str, Any]) -> str:
    location = payload.get("location")
    if not isinstance(location, str) or not location or location.lower() == "global":
        return "global"
    location = location.lower()
    # A zone ("europe-west3-a") belongs to its region.
    parts = location.split("-")
    return "-".join(parts[:2]) if len(parts) == 3 and len(parts[2]) == 1 else location

"""Azure: live resources as Azure Resource Manager returns them, to facts.

The payload is one ARM resource (`id`, `type`, `location`, `tags`, `properties`, as from
`resources.get_by_id` or a Resource Graph row) plus what discovery read beside it under
`regops:` keys: a storage account's blob service, a SQL server's auditing settings, a
PostgreSQL server's configuration values. Such an extra holds UNKNOWN when its call failed.
The facts have the names and meanings of the planned side (normalize/azure.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from regops.model import UNKNOWN
from regops.normalize.alerting import (
    AZURE_ALERT_OPERATIONS,
    azure_alert_categories,
)
from regops.normalize.azure import (
    ARM_ROLE_NAMES,
    NSG_EXEMPT_SUBNETS,
    RETENTION_UNIT_DAYS,
    NsgRule,
    custom_role_facts,
    exports_audit_trail,
    nsg_internet_ports,
)
from regops.normalize.common import (
    Facts,
    LiveType,
    Unknown,
    blocks,
    days_from_duration,
    dig,
    known,
    live_security_service,
    tls_version,
)

BLOB_SERVICE = "regops:blob_service"
SQL_AUDITING = "regops:auditing"
SQL_DATABASE_TDE = "regops:database_encryption"
PG_CONFIGURATIONS = "regops:configurations"
FLOW_LOGS = "regops:flow_logs"
BLOB_DIAGNOSTICS = "regops:blob_diagnostic_settings"
NETWORK_INTERFACES = "regops:network_interfaces"
BACKUP_POLICIES = "regops:backup_policies"
# The definition of the role an assignment assigns, custom or built-in.
ROLE_DEFINITION = "regops:role_definition"
# PostgreSQL flexible server settings the controls read, fetched one by one.
PG_SETTINGS = ("require_secure_transport", "log_connections", "pgaudit.log")


def _properties(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    """The resource's `properties`. A payload without them (a Resource Graph query that projects
    columns, a read that failed) says nothing of its settings: read as an empty object, every
    default would pass for a setting."""
    found = dig(payload, "properties")
    if not isinstance(found, Mapping):
        raise Unknown
    return found


def _setting(values: Any, *path: str) -> Any:
    """A setting whose absence Azure does not define: unknown when missing, never a default."""
    found = dig(values, *path)
    if found is None:
        raise Unknown
    return found


def _extra(payload: Mapping[str, Any], key: str) -> Any:
    """What discovery read beside the resource; unknown when it was not read or could not be."""
    if key not in payload:
        raise Unknown
    return known(payload[key])


def storage_account(payload: Mapping[str, Any]) -> dict[str, Any]:
    facts = Facts()
    p = _properties(payload)
    facts.derive("encrypted_at_rest", lambda: True)
    facts.derive(
        "encryption_cmk",
        lambda: str(dig(p, "encryption", "keySource", default="")).lower() == "microsoft.keyvault",
    )
    # Azure documents an unset minimumTlsVersion as admitting TLS 1.0, and an unset
    # allowSharedKeyAccess as true; both are left out on accounts that never changed them.
    facts.derive("tls_min_version", lambda: tls_version(dig(p, "minimumTlsVersion", default="TLS1_0")))
    # Unset, these read as HTTPS only and no anonymous access for accounts created with newer
    # API versions and as the opposite for older ones.
    facts.derive("https_only", lambda: _setting(p, "supportsHttpsTrafficOnly") is True)

    def public() -> bool:
        if str(dig(p, "publicNetworkAccess", default="Enabled")) == "Disabled":
            return False
        return _setting(p, "allowBlobPublicAccess") is True

    facts.derive("public", public)
    facts.derive("shared_key_access", lambda: dig(p, "allowSharedKeyAccess", default=True) is not False)
    facts.derive(
        "versioning",
        lambda: (
            dig(_extra(payload, BLOB_SERVICE), "properties", "isVersioningEnabled", default=False) is True
        ),
    )
    facts.derive(
        "access_logging",
        lambda: any(
            dig(log, "category") == "StorageRead" and dig(log, "enabled", default=False) is True
            for setting in _extra(payload, BLOB_DIAGNOSTICS)
            for log in dig(setting, "properties", "logs", default=[])
        ),
    )
    facts.derive(
        "infrastructure_encryption",
        lambda: dig(p, "encryption", "requireInfrastructureEncryption", default=False) is True,
    )
    return facts.values


def sql_server(payload: Mapping[str, Any]) -> dict[str, Any]:
    facts = Facts()
    p = _properties(payload)
    # Transparent data encryption is on by default and set per database; each may turn it off.
    facts.derive(
        "encrypted_at_rest",
        lambda: all(state == "Enabled" for state in _extra(payload, SQL_DATABASE_TDE).values()),
    )
    facts.derive("tls_enforced", lambda: True)
    # Servers created before the setting existed report none, which admits TLS 1.0.
    facts.derive("tls_min_version", lambda: tls_version(dig(p, "minimalTlsVersion", default="1.0")))
    facts.derive("public", lambda: str(dig(p, "publicNetworkAccess", default="Enabled")) != "Disabled")
    facts.derive("engine", lambda: "sqlserver")
    facts.derive("restored_from", lambda: None)
    facts.derive(
        "audit_logging",
        lambda: dig(_extra(payload, SQL_AUDITING), "properties", "state", default="Disabled") == "Enabled",
    )
    return facts.values


def postgresql_flexible_server(payload: Mapping[str, Any]) -> dict[str, Any]:
    facts = Facts()
    p = _properties(payload)

    def setting(name: str, default: str) -> str:
        return str(dig(_extra(payload, PG_CONFIGURATIONS), name, default=default)).lower()

    facts.derive("encrypted_at_rest", lambda: True)
    facts.derive("encryption_cmk", lambda: dig(p, "dataEncryption", "type") == "AzureKeyVault")
    facts.derive("public", lambda: dig(p, "network", "publicNetworkAccess", default="Enabled") != "Disabled")
    facts.derive("backup_days", lambda: int(_setting(p, "backup", "backupRetentionDays")))
    facts.derive("pitr", lambda: int(_setting(p, "backup", "backupRetentionDays")) > 0)
    facts.derive(
        "geo_redundant_backup",
        lambda: dig(p, "backup", "geoRedundantBackup", default="Disabled") == "Enabled",
    )
    facts.derive("zone_redundant", lambda: dig(p, "highAvailability", "mode") == "ZoneRedundant")
    facts.derive("engine", lambda: "postgres")
    facts.derive(
        "restored_from",
        lambda: (
            dig(p, "sourceServerResourceId")
            if dig(p, "createMode", default="Default") not in {"Default", "Update", "Create"}
            else None
        ),
    )
    facts.derive("tls_enforced", lambda: setting("require_secure_transport", "on") == "on")
    facts.derive(
        "audit_logging",
        lambda: setting("log_connections", "off") == "on" or setting("pgaudit.log", "none") != "none",
    )
    return facts.values


def network_security_group(payload: Mapping[str, Any]) -> dict[str, Any]:
    facts = Facts()
    p = _properties(payload)

    def rule(item: Mapping[str, Any]) -> NsgRule:
        # A rule missing its priority, direction or access would otherwise be read as one that
        # admits nothing.
        r = _properties(item)
        return NsgRule(
            priority=int(_setting(r, "priority")),
            inbound=str(_setting(r, "direction")).lower() == "inbound",
            allow=str(_setting(r, "access")).lower() == "allow",
            sources=(dig(r, "sourceAddressPrefix"), *dig(r, "sourceAddressPrefixes", default=[])),
            ports=(dig(r, "destinationPortRange"), *dig(r, "destinationPortRanges", default=[])),
            protocol=dig(r, "protocol"),
            destinations=(
                dig(r, "destinationAddressPrefix"),
                *dig(r, "destinationAddressPrefixes", default=[]),
            ),
        )

    # The default rules admit only the virtual network and the load balancer.
    facts.derive(
        "internet_ingress_ports",
        lambda: nsg_internet_ports(rule(r) for r in _setting(p, "securityRules")),
    )
    facts.derive("direction", lambda: "ingress")
    facts.derive("enabled", lambda: True)
    return facts.values


def key_vault(payload: Mapping[str, Any]) -> dict[str, Any]:
    facts = Facts()
    p = _properties(payload)
    facts.derive("deletion_protected", lambda: dig(p, "enablePurgeProtection", default=False) is True)
    facts.derive("soft_delete_days", lambda: int(dig(p, "softDeleteRetentionInDays", default=90)))
    facts.derive(
        "public",
        lambda: (
            dig(p, "publicNetworkAccess", default="Enabled") != "Disabled"
            and dig(p, "networkAcls", "defaultAction", default="Allow") != "Deny"
        ),
    )

    def access_gaps() -> list[str]:
        gaps = []
        if dig(p, "enableRbacAuthorization", default=False) is not True:
            gaps.append("vault access policies instead of Azure RBAC")
        if "public" not in facts.values:
            raise Unknown
        if facts.values["public"]:
            gaps.append("reachable from any network")
        return gaps

    facts.derive("access_gaps", access_gaps)
    return facts.values


def key_vault_key(payload: Mapping[str, Any]) -> dict[str, Any]:
    facts = Facts()
    p = _properties(payload)
    policy = dig(p, "rotationPolicy", default={})

    def period() -> int | None:
        rotations = [
            dig(action, "trigger", default={})
            for action in dig(policy, "lifetimeActions", default=[])
            if str(dig(action, "action", "type", default="")).lower() == "rotate"
        ]
        if not rotations:
            return None
        after_creation = days_from_duration(dig(rotations[0], "timeAfterCreate"))
        if after_creation:
            return after_creation
        expire = days_from_duration(dig(policy, "attributes", "expiryTime"))
        before = days_from_duration(dig(rotations[0], "timeBeforeExpiry"))
        return expire - (before or 0) if expire else None

    facts.derive("rotation_enabled", lambda: period() is not None)
    facts.derive("rotation_period_days", period)
    facts.derive(
        "expiry_set",
        lambda: bool(dig(p, "attributes", "exp") or dig(policy, "attributes", "expiryTime")),
    )
    facts.derive("access_gaps", lambda: [])
    return facts.values


def diagnostic_setting(payload: Mapping[str, Any]) -> dict[str, Any]:
    facts = Facts()
    p = _properties(payload)

    # A setting on the subscription itself exports the activity log, which covers every region.
    def subscription_wide() -> bool:
        return str(dig(payload, "id", default="")).lower().split("/providers/")[0].count("/") == 2

    def enabled() -> bool:
        logs = [log for log in dig(p, "logs", default=[]) if dig(log, "enabled", default=False) is True]
        destinations = ("workspaceId", "storageAccountId", "eventHubAuthorizationRuleId")
        if not (logs and any(dig(p, key) for key in destinations)):
            return False
        # The activity log holds the audit trail only in some categories, as for planned settings.
        return not subscription_wide() or exports_audit_trail(
            (dig(log, "categoryGroup", default="") for log in logs),
            (dig(log, "category", default="") for log in logs),
        )

    facts.derive("enabled", enabled)
    facts.derive("covers_all_regions", subscription_wide)
    return facts.values


def log_analytics_workspace(payload: Mapping[str, Any]) -> dict[str, Any]:
    facts = Facts()
    facts.derive("retention_days", lambda: int(_setting(_properties(payload), "retentionInDays")))
    return facts.values


def virtual_machine(payload: Mapping[str, Any]) -> dict[str, Any]:
    facts = Facts()
    p = _properties(payload)
    security = dig(p, "securityProfile", default={})
    # As planned: the temporary disk and the disk caches are encrypted only with encryption at host.
    facts.derive("disk_encrypted", lambda: dig(security, "encryptionAtHost", default=False) is True)
    facts.derive(
        "public_ip",
        lambda: any(
            dig(ip, "properties", "publicIPAddress", "id") is not None
            for nic in _extra(payload, NETWORK_INTERFACES)
            for ip in _setting(_properties(nic), "ipConfigurations")
        ),
    )

    def hardening_gaps() -> list[str]:
        gaps = []
        if dig(security, "uefiSettings", "secureBootEnabled", default=False) is not True:
            gaps.append("secure boot off")
        if dig(security, "uefiSettings", "vTpmEnabled", default=False) is not True:
            gaps.append("vTPM off")
        linux = dig(p, "osProfile", "linuxConfiguration")
        if linux is not None and dig(linux, "disablePasswordAuthentication", default=False) is not True:
            gaps.append("password SSH login allowed")
        return gaps

    facts.derive("hardening_gaps", hardening_gaps)
    return facts.values


def managed_disk(payload: Mapping[str, Any]) -> dict[str, Any]:
    facts = Facts()
    p = _properties(payload)
    facts.derive("encrypted_at_rest", lambda: True)
    facts.derive(
        "encryption_cmk",
        lambda: (
            "customerkey" in str(dig(p, "encryption", "type", default="")).lower()
            or bool(dig(p, "encryption", "diskEncryptionSetId"))
        ),
    )
    facts.derive(
        "restored_from",
        lambda: (
            dig(p, "creationData", "sourceResourceId") or dig(p, "creationData", "sourceUri")
            if dig(p, "creationData", "createOption", default="Empty") in {"Copy", "Restore", "Import"}
            else None
        ),
    )
    return facts.values


def kubernetes_cluster(payload: Mapping[str, Any]) -> dict[str, Any]:
    facts = Facts()
    p = _properties(payload)
    facts.derive(
        "secrets_encrypted",
        lambda: dig(p, "securityProfile", "azureKeyVaultKms", "enabled", default=False) is True,
    )
    facts.derive(
        "control_plane_public",
        lambda: (
            dig(p, "apiServerAccessProfile", "enablePrivateCluster", default=False) is not True
            and not dig(p, "apiServerAccessProfile", "authorizedIPRanges", default=[])
        ),
    )
    return facts.values


def virtual_network(payload: Mapping[str, Any]) -> dict[str, Any]:
    facts = Facts()
    facts.derive("default_allow", lambda: False)
    facts.derive(
        "flow_logs",
        lambda: any(
            dig(log, "properties", "enabled", default=False) is True for log in _extra(payload, FLOW_LOGS)
        ),
    )
    return facts.values


def subnet(payload: Mapping[str, Any]) -> dict[str, Any]:
    facts = Facts()
    facts.derive(
        "default_allow",
        lambda: (
            dig(payload, "name") not in NSG_EXEMPT_SUBNETS
            and dig(_properties(payload), "networkSecurityGroup", "id") is None
        ),
    )
    facts.derive("flow_logs", lambda: None)
    return facts.values


def _duration_days(duration: Any) -> int:
    count = dig(duration, "count")
    unit = RETENTION_UNIT_DAYS.get(str(dig(duration, "durationType", default="")).lower())
    if not isinstance(count, int) or isinstance(count, bool) or unit is None:
        raise Unknown
    return count * unit


def _policy_retention_days(policy: Mapping[str, Any]) -> int:
    """The shortest time any recovery point of a backup policy is kept, in days."""
    p = _properties(policy)
    retentions = [dig(p, "retentionPolicy")]
    # A workload policy (SQL or SAP HANA in a VM) keeps full, differential and log backups apart.
    retentions += [dig(sub, "retentionPolicy") for sub in dig(p, "subProtectionPolicy", default=[])]
    spans: list[int] = []
    for retention in retentions:
        if retention is None:
            continue
        if dig(retention, "retentionDuration") is not None:  # SimpleRetentionPolicy
            spans.append(_duration_days(dig(retention, "retentionDuration")))
        for schedule in ("dailySchedule", "weeklySchedule", "monthlySchedule", "yearlySchedule"):
            if dig(retention, schedule, "retentionDuration") is not None:
                spans.append(_duration_days(dig(retention, schedule, "retentionDuration")))
    if not spans:
        raise Unknown
    return min(spans)


def recovery_services_vault(payload: Mapping[str, Any]) -> dict[str, Any]:
    facts = Facts()
    p = _properties(payload)
    facts.derive("immutable", lambda: dig(p, "securitySettings", "immutabilitySettings", "state") == "Locked")

    def immutable_retention_days() -> int:
        # Retention is set per backup policy, and the lock keeps each recovery point that long.
        policies = _extra(payload, BACKUP_POLICIES)
        if not policies:
            raise Unknown
        return min(_policy_retention_days(policy) for policy in policies)

    facts.derive("immutable_retention_days", immutable_retention_days)
    facts.derive("encryption_cmk", lambda: bool(dig(p, "encryption", "keyVaultProperties", "keyUri")))
    facts.derive(
        "soft_delete",
        lambda: (
            dig(p, "securitySettings", "softDeleteSettings", "softDeleteState", default="Enabled")
            != "Disabled"
        ),
    )
    return facts.values


def _defender_pricing(payload: Mapping[str, Any]) -> list[str]:
    p = _properties(payload)
    if dig(p, "pricingTier") != "Standard":
        return []
    plan = f"defender:{dig(payload, 'name')}"
    sub_plan = dig(p, "subPlan")
    return [plan, f"{plan}:{sub_plan}"] if sub_plan else [plan]


def _alert_conditions(condition: Any) -> list[tuple[str, Any]]:
    """An activity-log alert's `condition.allOf` as (field, allowed value or values) pairs: an
    `anyOf` over one field allows any of its values; over several fields it narrows in a way
    regops does not read, and counts as a restriction that admits nothing."""
    found: list[tuple[str, Any]] = []
    for item in dig(condition, "allOf", default=[]):
        item = known(item)
        alternatives = dig(item, "anyOf")
        if alternatives is not None:
            pairs = _alert_conditions({"allOf": alternatives})
            fields = {field for field, _ in pairs}
            if len(fields) == 1:
                values: list[Any] = []
                for _, allowed in pairs:
                    values.extend(allowed if isinstance(allowed, list) else [allowed])
                found.append((fields.pop(), values))
            else:
                found.append(("anyOf", "(several fields)"))
            continue
        allowed = dig(item, "equals")
        if allowed is None:
            allowed = dig(item, "containsAny")
        found.append((str(dig(item, "field", default="")), allowed))
    return found


def _activity_log_alert(payload: Mapping[str, Any]) -> list[str]:
    """The operations of CIS Azure 6.2.1-6.2.10 (and MON-004's diagnostic settings) an enabled
    alert with an action group watches subscription-wide (normalize/alerting.py)."""
    p = _properties(payload)
    if dig(p, "enabled", default=True) is not True or not dig(p, "actions", "actionGroups", default=[]):
        return []
    conditions = _alert_conditions(dig(p, "condition"))
    scopes = dig(p, "scopes")
    return azure_alert_categories(conditions, scopes, AZURE_ALERT_OPERATIONS)


def _security_contact(payload: Mapping[str, Any]) -> list[str]:
    return ["security_contact"] if dig(_properties(payload), "emails") else []


def _sentinel(payload: Mapping[str, Any]) -> list[str]:
    return ["siem"]


def role_definition(payload: Mapping[str, Any]) -> dict[str, Any]:
    """A custom role definition of the subscription (discovery lists no built-in one)."""
    return custom_role_facts(
        lambda: blocks(_properties(payload), "permissions"),
        lambda: dig(_properties(payload), "assignableScopes", default=[]),
        ARM_ROLE_NAMES,
    )


def role_assignment(payload: Mapping[str, Any]) -> dict[str, Any]:
    """A role assigned to a principal at a scope, judged by the role's definition as discovery
    read it (built-in roles included): what the principal may do there."""
    properties = _properties(payload)

    def where() -> tuple[str, str]:
        scope, principal = dig(properties, "scope"), dig(properties, "principalId")
        if scope is None or principal is None:
            raise Unknown  # an assignment that does not say where, or to whom
        return str(scope), f"{dig(properties, 'principalType', default='principal')} {principal}"

    return custom_role_facts(
        lambda: blocks(dig(known(payload.get(ROLE_DEFINITION, UNKNOWN)), "properties"), "permissions"),
        lambda: [where()[0]],
        ARM_ROLE_NAMES,
        assignment=where,
    )


LIVE: dict[str, LiveType] = {
    "Microsoft.Storage/storageAccounts": LiveType("object_store", storage_account),
    "Microsoft.Sql/servers": LiveType("database", sql_server),
    "Microsoft.DBforPostgreSQL/flexibleServers": LiveType("database", postgresql_flexible_server),
    "Microsoft.Network/networkSecurityGroups": LiveType("network_rule", network_security_group),
    "Microsoft.KeyVault/vaults": LiveType("secret_store", key_vault),
    "Microsoft.KeyVault/vaults/keys": LiveType("key", key_vault_key, taggable=False),
    "Microsoft.Insights/diagnosticSettings": LiveType("audit_trail", diagnostic_setting, taggable=False),
    "Microsoft.OperationalInsights/workspaces": LiveType("log_store", log_analytics_workspace),
    "Microsoft.Compute/virtualMachines": LiveType("compute", virtual_machine),
    "Microsoft.Compute/disks": LiveType("disk", managed_disk),
    "Microsoft.ContainerService/managedClusters": LiveType("cluster", kubernetes_cluster),
    "Microsoft.Network/virtualNetworks": LiveType("network", virtual_network),
    "Microsoft.Network/virtualNetworks/subnets": LiveType("network", subnet, taggable=False),
    "Microsoft.RecoveryServices/vaults": LiveType("backup_vault", recovery_services_vault),
    "Microsoft.Security/pricings": live_security_service(_defender_pricing),
    "Microsoft.Security/securityContacts": live_security_service(_security_contact),
    "Microsoft.Insights/activityLogAlerts": live_security_service(_activity_log_alert),
    "Microsoft.SecurityInsights/onboardingStates": live_security_service(_sentinel),
    "Microsoft.Authorization/roleDefinitions": LiveType("access_policy", role_definition, taggable=False),
    "Microsoft.Authorization/roleAssignments": LiveType("access_policy", role_assignment, taggable=False),
}

# Resource Graph spells types in lower case.
_BY_LOWER = {name.lower(): name for name in LIVE}


def canonical_type(arm_type: str) -> str | None:
    """The LIVE key for an ARM type in any casing; None for a type regops does not normalise."""
    return _BY_LOWER.get(arm_type.lower())


def region_of(payload: Mapping[str, Any]) -> str:
    location = payload.get("location")
    if not isinstance(location, str) or location.lower() == "global":
        return "global"
    return location.lower().replace(" ", "")


def tags_of(payload: Mapping[str, Any]) -> dict[str, str]:
    found = payload.get("tags")
    if isinstance(found, Mapping):
        return {str(k): str(v) for k, v in found.items() if isinstance(v, str)}
    return {}

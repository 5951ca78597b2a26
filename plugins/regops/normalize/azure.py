"""Azure: Terraform `hashicorp/azurerm` values to facts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from regops.normalize.common import (
    Facts,
    Join,
    PlannedType,
    Related,
    blocks,
    days_from_duration,
    dig,
    is_internet,
    parse_port_span,
    port_ranges,
    tls_version,
)


def _first(related: Related, native_type: str) -> Mapping[str, Any] | None:
    found = related.get(native_type) or ()
    return found[0] if found else None


def storage_account(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    # Azure Storage encrypts every account; the question is whose key.
    facts.derive("encrypted_at_rest", lambda: True)
    facts.derive(
        "encryption_cmk",
        lambda: (
            bool(blocks(values, "customer_managed_key"))
            or bool(related.get("azurerm_storage_account_customer_managed_key"))
        ),
    )
    # azurerm 4.x defaults: TLS1_2, HTTPS only, nested items private, shared keys allowed.
    facts.derive("tls_min_version", lambda: tls_version(dig(values, "min_tls_version", default="TLS1_2")))

    def https_only() -> bool:
        for key in ("https_traffic_only_enabled", "enable_https_traffic_only"):
            if key in values:
                return dig(values, key, default=True) is True
        return True

    facts.derive("https_only", https_only)
    facts.derive(
        "public",
        lambda: (
            dig(values, "allow_nested_items_to_be_public", default=False) is True
            and dig(values, "public_network_access_enabled", default=True) is True
        ),
    )
    facts.derive("shared_key_access", lambda: dig(values, "shared_access_key_enabled", default=True) is True)
    facts.derive(
        "versioning", lambda: dig(values, "blob_properties", 0, "versioning_enabled", default=False) is True
    )
    facts.derive(
        "infrastructure_encryption",
        lambda: dig(values, "infrastructure_encryption_enabled", default=False) is True,
    )
    return facts.values


def mssql_server(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    # Azure SQL always encrypts (TDE) and only accepts encrypted connections.
    facts.derive("encrypted_at_rest", lambda: True)
    facts.derive("tls_enforced", lambda: True)
    facts.derive("tls_min_version", lambda: tls_version(dig(values, "minimum_tls_version", default="1.2")))
    facts.derive("public", lambda: dig(values, "public_network_access_enabled", default=True) is True)
    facts.derive("engine", lambda: "sqlserver")
    return facts.values


def postgresql_flexible_server(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    facts.derive("encrypted_at_rest", lambda: True)
    facts.derive("encryption_cmk", lambda: bool(blocks(values, "customer_managed_key")))
    facts.derive("public", lambda: dig(values, "public_network_access_enabled", default=True) is True)
    facts.derive("backup_days", lambda: int(dig(values, "backup_retention_days", default=7)))
    # Flexible servers restore to any point within the backup retention window.
    facts.derive("pitr", lambda: int(dig(values, "backup_retention_days", default=7)) > 0)
    facts.derive(
        "geo_redundant_backup", lambda: dig(values, "geo_redundant_backup_enabled", default=False) is True
    )
    facts.derive("zone_redundant", lambda: dig(values, "high_availability", 0, "mode") == "ZoneRedundant")
    facts.derive("engine", lambda: "postgres")

    def tls_enforced() -> bool:
        # require_secure_transport defaults to on for flexible servers.
        for setting in related.get("azurerm_postgresql_flexible_server_configuration", ()):
            if dig(setting, "name") == "require_secure_transport":
                return str(dig(setting, "value", default="on")).lower() == "on"
        return True

    facts.derive("tls_enforced", tls_enforced)
    # Azure has no deletion flag; a CanNotDelete or ReadOnly lock is the safeguard. Without one in
    # the plan the fact stays unknown: a lock on the resource group may exist outside it.
    if any(
        dig(lock, "lock_level") in {"CanNotDelete", "ReadOnly"}
        for lock in related.get("azurerm_management_lock", ())
    ):
        facts.derive("deletion_protection", lambda: True)
    return facts.values


def _rules(values: Mapping[str, Any], related: Related) -> list[Mapping[str, Any]]:
    return [*blocks(values, "security_rule"), *related.get("azurerm_network_security_rule", ())]


def network_security_group(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()

    def open_ports() -> list[list[int]]:
        inbound = sorted(
            (r for r in _rules(values, related) if str(dig(r, "direction", default="")).lower() == "inbound"),
            key=lambda r: int(dig(r, "priority", default=4096)),
        )
        # Approximation of NSG evaluation: rules in priority order; a port an earlier internet
        # Deny covers cannot be opened by a later Allow. Overlaps are resolved per whole span.
        denied: list[tuple[int, int]] = []
        allowed: list[tuple[int, int]] = []
        for rule in inbound:
            sources = [dig(rule, "source_address_prefix"), *dig(rule, "source_address_prefixes", default=[])]
            if not any(s is not None and is_internet(s) for s in sources):
                continue
            spans = [
                parse_port_span(p)
                for p in [
                    dig(rule, "destination_port_range"),
                    *dig(rule, "destination_port_ranges", default=[]),
                ]
                if p is not None
            ]
            for low, high in spans:
                if str(dig(rule, "access")).lower() == "deny":
                    denied.append((low, high))
                elif not any(d_low <= low and high <= d_high for d_low, d_high in denied):
                    allowed.append((low, high))
        return port_ranges(allowed)

    facts.derive("internet_ingress_ports", open_ports)
    facts.derive("direction", lambda: "ingress")
    facts.derive("enabled", lambda: True)
    return facts.values


def key_vault(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    facts.derive("deletion_protected", lambda: dig(values, "purge_protection_enabled", default=False) is True)
    facts.derive("soft_delete_days", lambda: int(dig(values, "soft_delete_retention_days", default=90)))
    facts.derive(
        "public",
        lambda: (
            dig(values, "public_network_access_enabled", default=True) is True
            and dig(values, "network_acls", 0, "default_action", default="Allow") != "Deny"
        ),
    )
    return facts.values


def key_vault_key(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()

    def policy() -> Any:
        return dig(values, "rotation_policy", 0, default={})

    def period() -> int | None:
        automatic = dig(policy(), "automatic", 0, default=None)
        if automatic is None:
            return None
        after_creation = days_from_duration(dig(automatic, "time_after_creation"))
        if after_creation:
            return after_creation
        expire, before = (
            days_from_duration(dig(policy(), "expire_after")),
            days_from_duration(dig(automatic, "time_before_expiry")),
        )
        return expire - (before or 0) if expire else None

    facts.derive("rotation_enabled", lambda: period() is not None)
    facts.derive("rotation_period_days", period)
    facts.derive("expiry_set", lambda: bool(dig(values, "expiration_date") or dig(policy(), "expire_after")))
    vault = _first(related, "azurerm_key_vault")
    if vault is not None:
        facts.derive(
            "deletion_protected",
            lambda: (
                dig(vault, "purge_protection_enabled", default=False) is True
                and int(dig(vault, "soft_delete_retention_days", default=90)) >= 7
            ),
        )
    return facts.values


def diagnostic_setting(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()

    def enabled() -> bool:
        logs = blocks(values, "enabled_log")
        destinations = [
            dig(values, key)
            for key in ("log_analytics_workspace_id", "storage_account_id", "eventhub_authorization_rule_id")
        ]
        return bool(logs) and any(destinations)

    facts.derive("enabled", enabled)

    # A setting on the subscription itself exports the activity log, which covers every region.
    def subscription_wide() -> bool:
        target = str(dig(values, "target_resource_id", default="")).rstrip("/")
        return target.startswith("/subscriptions/") and target.count("/") == 2

    facts.derive("covers_all_regions", subscription_wide)
    return facts.values


def log_analytics_workspace(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    facts.derive("retention_days", lambda: int(dig(values, "retention_in_days", default=30)))
    return facts.values


def virtual_machine(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    facts.derive(
        "encryption_at_host", lambda: dig(values, "encryption_at_host_enabled", default=False) is True
    )
    return facts.values


def managed_disk(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    facts.derive("encrypted_at_rest", lambda: True)
    facts.derive("encryption_cmk", lambda: bool(dig(values, "disk_encryption_set_id")))
    return facts.values


PLANNED: dict[str, PlannedType] = {
    "azurerm_storage_account": PlannedType("object_store", storage_account),
    "azurerm_mssql_server": PlannedType("database", mssql_server),
    "azurerm_postgresql_flexible_server": PlannedType("database", postgresql_flexible_server),
    "azurerm_network_security_group": PlannedType("network_rule", network_security_group),
    "azurerm_key_vault": PlannedType("secret_store", key_vault),
    "azurerm_key_vault_key": PlannedType("key", key_vault_key),
    "azurerm_monitor_diagnostic_setting": PlannedType("audit_trail", diagnostic_setting),
    "azurerm_log_analytics_workspace": PlannedType("log_store", log_analytics_workspace),
    "azurerm_linux_virtual_machine": PlannedType("compute", virtual_machine),
    "azurerm_windows_virtual_machine": PlannedType("compute", virtual_machine),
    "azurerm_managed_disk": PlannedType("disk", managed_disk),
}

JOINS: dict[str, Join] = {
    "azurerm_storage_account_customer_managed_key": Join("storage_account_id", "azurerm_storage_account"),
    "azurerm_postgresql_flexible_server_configuration": Join(
        "server_id", "azurerm_postgresql_flexible_server"
    ),
    "azurerm_network_security_rule": Join("network_security_group_name", "azurerm_network_security_group"),
    "azurerm_management_lock": Join("scope", "azurerm_postgresql_flexible_server"),
    "azurerm_key_vault_key": Join("key_vault_id", "azurerm_key_vault", absorb=False),
}


# Types the provider cannot tag or label: the tagging control does not apply to them.
UNTAGGABLE = frozenset(
    {
        "azurerm_monitor_diagnostic_setting",
        "azurerm_network_security_rule",
        "azurerm_postgresql_flexible_server_configuration",
    }
)


def tags_of(native_type: str, values: Mapping[str, Any]) -> dict[str, str]:
    found = values.get("tags")
    if isinstance(found, Mapping):
        return {str(k): str(v) for k, v in found.items() if isinstance(v, str)}
    return {}


# Subscription-level settings hold no data and live in no region.
GLOBAL_TYPES = frozenset({"azurerm_monitor_diagnostic_setting"})


def region_of(native_type: str, values: Mapping[str, Any]) -> str | None:
    if native_type in GLOBAL_TYPES:
        return "global"
    location = values.get("location")
    return location.lower().replace(" ", "") if isinstance(location, str) else None

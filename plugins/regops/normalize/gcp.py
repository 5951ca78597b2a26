"""GCP: Terraform `hashicorp/google` values to facts."""

from __future__ import annotations

import re
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
)

PUBLIC_MEMBERS = frozenset({"allusers", "allauthenticatedusers"})


def storage_bucket(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    # Google encrypts every object and serves Cloud Storage over HTTPS only.
    facts.derive("encrypted_at_rest", lambda: True)
    facts.derive("https_only", lambda: True)
    facts.derive("encryption_cmk", lambda: bool(dig(values, "encryption", 0, "default_kms_key_name")))
    facts.derive("uniform_access", lambda: dig(values, "uniform_bucket_level_access", default=False) is True)

    def public() -> bool:
        if dig(values, "public_access_prevention", default="inherited") == "enforced":
            return False
        members = []
        for binding in related.get("google_storage_bucket_iam_member", ()):
            members.append(str(dig(binding, "member", default="")))
        for binding in related.get("google_storage_bucket_iam_binding", ()):
            members.extend(str(m) for m in dig(binding, "members", default=[]))
        return any(member.lower() in PUBLIC_MEMBERS for member in members)

    facts.derive("public", public)
    facts.derive("versioning", lambda: dig(values, "versioning", 0, "enabled", default=False) is True)
    facts.derive("access_logging", lambda: bool(blocks(values, "logging")))
    facts.derive(
        "retention_days",
        lambda: int(dig(values, "retention_policy", 0, "retention_period", default=0)) // 86400,
    )
    return facts.values


def sql_instance(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()

    def settings() -> Any:
        return dig(values, "settings", 0, default={})

    def ip() -> Any:
        return dig(settings(), "ip_configuration", 0, default={})

    def backup() -> Any:
        return dig(settings(), "backup_configuration", 0, default={})

    facts.derive("encrypted_at_rest", lambda: True)
    facts.derive("encryption_cmk", lambda: bool(dig(values, "encryption_key_name")))
    facts.derive("engine", lambda: str(dig(values, "database_version", default="")).split("_")[0].lower())

    def public() -> bool:
        # A public IPv4 address is reachable from the internet only through authorised networks.
        if dig(ip(), "ipv4_enabled", default=True) is not True:
            return False
        networks = [str(dig(n, "value", default="")) for n in blocks(ip(), "authorized_networks")]
        return any(is_internet(n) for n in networks)

    facts.derive("public", public)

    def tls_enforced() -> bool:
        mode = dig(ip(), "ssl_mode")
        if mode is not None:
            return mode in {"ENCRYPTED_ONLY", "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"}
        return dig(ip(), "require_ssl", default=False) is True

    facts.derive("tls_enforced", tls_enforced)

    def backup_days() -> int:
        if dig(backup(), "enabled", default=False) is not True:
            return 0
        # Cloud SQL keeps one automated backup a day; retained_backups counts them (default 7).
        return int(dig(backup(), "backup_retention_settings", 0, "retained_backups", default=7))

    facts.derive("backup_days", backup_days)
    facts.derive(
        "pitr",
        lambda: (
            dig(backup(), "point_in_time_recovery_enabled", default=False) is True
            or dig(backup(), "binary_log_enabled", default=False) is True
        ),
    )
    facts.derive(
        "zone_redundant", lambda: dig(settings(), "availability_type", default="ZONAL") == "REGIONAL"
    )
    facts.derive("deletion_protection", lambda: dig(values, "deletion_protection", default=True) is True)
    return facts.values


def firewall(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()

    def direction() -> str:
        return str(dig(values, "direction", default="INGRESS")).lower()

    facts.derive("direction", direction)
    facts.derive("enabled", lambda: dig(values, "disabled", default=False) is not True)

    def open_ports() -> list[list[int]]:
        if direction() != "ingress" or dig(values, "disabled", default=False) is True:
            return []
        if not any(is_internet(s) for s in dig(values, "source_ranges", default=[])):
            return []
        spans: list[tuple[int, int]] = []
        for rule in blocks(values, "allow"):
            ports = dig(rule, "ports", default=[])
            if str(dig(rule, "protocol", default="all")).lower() == "all" or not ports:
                spans.append((0, 65535))
            else:
                spans.extend(parse_port_span(p) for p in ports)
        return port_ranges(spans)

    facts.derive("internet_ingress_ports", open_ports)
    return facts.values


def crypto_key(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    facts.derive("rotatable", lambda: dig(values, "purpose", default="ENCRYPT_DECRYPT") == "ENCRYPT_DECRYPT")
    facts.derive("rotation_enabled", lambda: bool(dig(values, "rotation_period")))
    facts.derive("rotation_period_days", lambda: days_from_duration(dig(values, "rotation_period")))
    # Cloud KMS never deletes a key, only versions, after the scheduled duration (default 30 days).

    def window() -> int | None:
        return days_from_duration(dig(values, "destroy_scheduled_duration", default="2592000s"))

    facts.derive("deletion_window_days", window)
    facts.derive("deletion_protected", lambda: (window() or 0) >= 30)
    return facts.values


def audit_config(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()

    def types() -> set[str]:
        return {str(dig(c, "log_type")) for c in blocks(values, "audit_log_config")}

    facts.derive("enabled", lambda: bool(types()))
    facts.derive("covers_all_regions", lambda: dig(values, "service") == "allServices")
    facts.derive("data_access_logged", lambda: {"DATA_READ", "DATA_WRITE"} <= types())
    return facts.values


def logging_bucket(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    facts.derive("retention_days", lambda: int(dig(values, "retention_days", default=30)))
    return facts.values


def compute_instance(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    facts.derive(
        "public_ip", lambda: any(blocks(n, "access_config") for n in blocks(values, "network_interface"))
    )
    facts.derive(
        "shielded_boot",
        lambda: dig(values, "shielded_instance_config", 0, "enable_secure_boot", default=False) is True,
    )
    return facts.values


def compute_disk(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    facts.derive("encrypted_at_rest", lambda: True)
    facts.derive("encryption_cmk", lambda: bool(dig(values, "disk_encryption_key", 0, "kms_key_self_link")))
    return facts.values


PLANNED: dict[str, PlannedType] = {
    "google_storage_bucket": PlannedType("object_store", storage_bucket),
    "google_sql_database_instance": PlannedType("database", sql_instance),
    "google_compute_firewall": PlannedType("network_rule", firewall),
    "google_kms_crypto_key": PlannedType("key", crypto_key),
    "google_project_iam_audit_config": PlannedType("audit_trail", audit_config),
    "google_logging_project_bucket_config": PlannedType("log_store", logging_bucket),
    "google_compute_instance": PlannedType("compute", compute_instance),
    "google_compute_disk": PlannedType("disk", compute_disk),
}

JOINS: dict[str, Join] = {
    "google_storage_bucket_iam_member": Join("bucket", "google_storage_bucket"),
    "google_storage_bucket_iam_binding": Join("bucket", "google_storage_bucket"),
}

GLOBAL_TYPES = frozenset({"google_project_iam_audit_config", "google_compute_firewall"})


# Types the provider cannot tag or label: the tagging control does not apply to them.
UNTAGGABLE = frozenset(
    {"google_compute_firewall", "google_project_iam_audit_config", "google_logging_project_bucket_config"}
)


def tags_of(native_type: str, values: Mapping[str, Any]) -> dict[str, str]:
    found = values.get("labels")
    if native_type == "google_sql_database_instance":
        settings = values.get("settings")
        found = settings[0].get("user_labels") if isinstance(settings, list) and settings else None
    if isinstance(found, Mapping):
        return {str(k): str(v) for k, v in found.items() if isinstance(v, str)}
    return {}


def region_of(native_type: str, values: Mapping[str, Any]) -> str | None:
    if native_type in GLOBAL_TYPES:
        return "global"
    for key in ("region", "location"):
        found = values.get(key)
        if isinstance(found, str):
            return found.lower()
    zone = values.get("zone")
    if isinstance(zone, str):
        return zone.rsplit("-", 1)[0]
    key_ring = values.get("key_ring")
    if isinstance(key_ring, str):
        match = re.search(r"/locations/([^/]+)/", key_ring)
        return match.group(1) if match else None
    return None

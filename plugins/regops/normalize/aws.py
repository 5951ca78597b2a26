"""AWS: Terraform `hashicorp/aws` values to facts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from regops.normalize.common import (
    Facts,
    Join,
    PlannedType,
    Related,
    Unknown,
    blocks,
    dig,
    is_internet,
    known,
    port_ranges,
)

# Minimum TLS version of each ELBv2 security policy; an unlisted policy leaves the fact out
# rather than guessing from its name (TLS13-1-0 and TLS13-1-1 policies exist).
ELB_POLICY_TLS_MIN: dict[str, str] = {
    "ELBSecurityPolicy-2016-08": "1.0",
    "ELBSecurityPolicy-2015-05": "1.0",
    "ELBSecurityPolicy-FS-2018-06": "1.0",
    "ELBSecurityPolicy-TLS-1-0-2015-04": "1.0",
    "ELBSecurityPolicy-TLS-1-1-2017-01": "1.1",
    "ELBSecurityPolicy-FS-1-1-2019-08": "1.1",
    "ELBSecurityPolicy-TLS-1-2-2017-01": "1.2",
    "ELBSecurityPolicy-TLS-1-2-Ext-2018-06": "1.2",
    "ELBSecurityPolicy-FS-1-2-2019-08": "1.2",
    "ELBSecurityPolicy-FS-1-2-Res-2019-08": "1.2",
    "ELBSecurityPolicy-FS-1-2-Res-2020-10": "1.2",
    "ELBSecurityPolicy-TLS13-1-0-2021-06": "1.0",
    "ELBSecurityPolicy-TLS13-1-1-2021-06": "1.1",
    "ELBSecurityPolicy-TLS13-1-2-2021-06": "1.2",
    "ELBSecurityPolicy-TLS13-1-2-Res-2021-06": "1.2",
    "ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06": "1.2",
    "ELBSecurityPolicy-TLS13-1-2-Ext2-2021-06": "1.2",
    "ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04": "1.2",
    "ELBSecurityPolicy-TLS13-1-3-2021-06": "1.3",
    "ELBSecurityPolicy-TLS13-1-3-FIPS-2023-04": "1.3",
}

KMS_SSE_ALGORITHMS = frozenset({"aws:kms", "aws:kms:dsse"})


def _first(related: Related, native_type: str) -> Mapping[str, Any] | None:
    found = related.get(native_type) or ()
    return found[0] if found else None


def s3_bucket(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    sse = _first(related, "aws_s3_bucket_server_side_encryption_configuration")

    def algorithm() -> str | None:
        # Provider 4+ moved encryption to its own resource; the inline block is the fallback
        # (and a computed inline block is unknown, so nothing is derived from it).
        if sse is not None:
            rules = blocks(sse, "rule")
        else:
            rules = [
                r for b in blocks(values, "server_side_encryption_configuration") for r in blocks(b, "rule")
            ]
        for rule in rules:
            found = dig(rule, "apply_server_side_encryption_by_default", 0, "sse_algorithm")
            if found:
                return str(found)
        return None

    # Since January 2023 S3 encrypts every new object with SSE-S3 by default.
    facts.derive("encrypted_at_rest", lambda: True)
    facts.derive("encryption_cmk", lambda: algorithm() in KMS_SSE_ALGORITHMS)

    block = _first(related, "aws_s3_bucket_public_access_block")

    def public() -> bool:
        if dig(values, "acl") in {"public-read", "public-read-write"}:
            return True
        if block is None:
            # Without a bucket-level block only the account-level block, a live fact, can
            # say whether a policy or ACL could open the bucket.
            raise Unknown
        flags = [
            dig(block, "block_public_acls", default=False),
            dig(block, "block_public_policy", default=False),
            dig(block, "ignore_public_acls", default=False),
            dig(block, "restrict_public_buckets", default=False),
        ]
        return not all(flag is True for flag in flags)

    facts.derive("public", public)

    versioning = _first(related, "aws_s3_bucket_versioning")
    if versioning is not None:
        facts.derive(
            "versioning",
            lambda: dig(versioning, "versioning_configuration", 0, "status") == "Enabled",
        )
    else:
        facts.derive("versioning", lambda: dig(values, "versioning", 0, "enabled", default=False) is True)
    logging = _first(related, "aws_s3_bucket_logging")
    facts.derive(
        "access_logging",
        lambda: logging is not None or bool(blocks(values, "logging")),
    )
    return facts.values


def _rule_spans(protocol: Any, from_port: Any, to_port: Any) -> tuple[int, int]:
    if str(known(protocol)) in {"-1", "all"}:
        return (0, 65535)
    low, high = known(from_port), known(to_port)
    if low is None or high is None or (low == -1 and high == -1):
        return (0, 65535)
    return (int(low), int(high))


def security_group(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()

    def open_ports() -> list[list[int]]:
        spans: list[tuple[int, int]] = []
        for rule in blocks(values, "ingress"):
            sources = list(dig(rule, "cidr_blocks", default=[])) + list(
                dig(rule, "ipv6_cidr_blocks", default=[])
            )
            if any(is_internet(s) for s in sources):
                spans.append(_rule_spans(rule.get("protocol"), rule.get("from_port"), rule.get("to_port")))
        for rule in related.get("aws_vpc_security_group_ingress_rule", ()):
            sources = [dig(rule, "cidr_ipv4"), dig(rule, "cidr_ipv6")]
            if any(s is not None and is_internet(s) for s in sources):
                spans.append(_rule_spans(rule.get("ip_protocol"), rule.get("from_port"), rule.get("to_port")))
        for rule in related.get("aws_security_group_rule", ()):
            if dig(rule, "type") != "ingress":
                continue
            sources = list(dig(rule, "cidr_blocks", default=[])) + list(
                dig(rule, "ipv6_cidr_blocks", default=[])
            )
            if any(is_internet(s) for s in sources):
                spans.append(_rule_spans(rule.get("protocol"), rule.get("from_port"), rule.get("to_port")))
        return port_ranges(spans)

    facts.derive("internet_ingress_ports", open_ports)
    facts.derive("direction", lambda: "ingress")
    facts.derive("enabled", lambda: True)
    return facts.values


def _db_common(values: Mapping[str, Any], facts: Facts) -> None:
    facts.derive("encrypted_at_rest", lambda: dig(values, "storage_encrypted", default=False) is True)
    facts.derive(
        "encryption_cmk",
        lambda: dig(values, "storage_encrypted", default=False) is True and bool(dig(values, "kms_key_id")),
    )
    facts.derive("backup_days", lambda: int(dig(values, "backup_retention_period", default=0)))
    # RDS restores to any second within the retention window once automated backups are on.
    facts.derive("pitr", lambda: int(dig(values, "backup_retention_period", default=0)) > 0)
    facts.derive("deletion_protection", lambda: dig(values, "deletion_protection", default=False) is True)
    facts.derive("engine", lambda: str(dig(values, "engine")))


def db_instance(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    _db_common(values, facts)
    facts.derive("public", lambda: dig(values, "publicly_accessible", default=False) is True)
    facts.derive("zone_redundant", lambda: dig(values, "multi_az", default=False) is True)
    group = _first(related, "aws_db_parameter_group")

    def tls_enforced() -> bool:
        if group is None:
            name = dig(values, "parameter_group_name")
            if name and not str(name).startswith("default."):
                # A parameter group the plan does not define: only the live side can tell.
                raise Unknown
            # The default groups force TLS from RDS for PostgreSQL 15 on, and not before.
            engine = str(dig(values, "engine", default=""))
            major = str(dig(values, "engine_version", default="0")).split(".")[0]
            return engine == "postgres" and major.isdigit() and int(major) >= 15
        for parameter in blocks(group, "parameter"):
            name, value = dig(parameter, "name"), str(dig(parameter, "value", default="")).lower()
            if name in {"rds.force_ssl", "require_secure_transport"} and value in {"1", "on", "true"}:
                return True
        return False

    facts.derive("tls_enforced", tls_enforced)
    return facts.values


def rds_cluster(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    _db_common(values, facts)
    facts.derive("zone_redundant", lambda: len(dig(values, "availability_zones", default=[])) > 1)
    return facts.values


def dynamodb_table(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    # DynamoDB always encrypts; the block only chooses a customer key.
    facts.derive("encrypted_at_rest", lambda: True)
    facts.derive(
        "encryption_cmk",
        lambda: (
            dig(values, "server_side_encryption", 0, "enabled", default=False) is True
            and bool(dig(values, "server_side_encryption", 0, "kms_key_arn"))
        ),
    )
    facts.derive("pitr", lambda: dig(values, "point_in_time_recovery", 0, "enabled", default=False) is True)
    facts.derive(
        "deletion_protection", lambda: dig(values, "deletion_protection_enabled", default=False) is True
    )
    facts.derive("public", lambda: False)
    facts.derive("engine", lambda: "dynamodb")
    return facts.values


def kms_key(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    facts.derive("rotation_enabled", lambda: dig(values, "enable_key_rotation", default=False) is True)
    facts.derive(
        "rotation_period_days",
        lambda: (
            int(dig(values, "rotation_period_in_days", default=365))
            if dig(values, "enable_key_rotation", default=False) is True
            else None
        ),
    )
    # AWS's default waiting period before deletion is 30 days.
    facts.derive("deletion_window_days", lambda: int(dig(values, "deletion_window_in_days", default=30)))
    facts.derive("deletion_protected", lambda: int(dig(values, "deletion_window_in_days", default=30)) >= 30)
    facts.derive(
        "rotatable",
        lambda: dig(values, "customer_master_key_spec", default="SYMMETRIC_DEFAULT") == "SYMMETRIC_DEFAULT",
    )
    return facts.values


def cloudtrail(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    facts.derive("enabled", lambda: dig(values, "enable_logging", default=True) is True)
    facts.derive("covers_all_regions", lambda: dig(values, "is_multi_region_trail", default=False) is True)
    facts.derive(
        "integrity_validation", lambda: dig(values, "enable_log_file_validation", default=False) is True
    )
    facts.derive("encryption_cmk", lambda: bool(dig(values, "kms_key_id")))
    return facts.values


def log_group(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    # 0 (or null) means "never expire", which satisfies any minimum retention.
    facts.derive(
        "retention_days",
        lambda: int(dig(values, "retention_in_days", default=0)) or 36500,
    )
    facts.derive("encryption_cmk", lambda: bool(dig(values, "kms_key_id")))
    return facts.values


def load_balancer(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    listeners = list(related.get("aws_lb_listener", ()))
    facts.derive("internet_facing", lambda: dig(values, "internal", default=False) is not True)
    facts.derive(
        "deletion_protection", lambda: dig(values, "enable_deletion_protection", default=False) is True
    )

    def tls_min_version() -> str | None:
        versions = []
        for listener in listeners:
            if dig(listener, "protocol") in {"HTTPS", "TLS"}:
                policy = dig(listener, "ssl_policy")
                if policy not in ELB_POLICY_TLS_MIN:
                    raise Unknown
                versions.append(ELB_POLICY_TLS_MIN[policy])
        return min(versions) if versions else None

    def plaintext_listener() -> bool:
        for listener in listeners:
            if dig(listener, "protocol") in {"HTTP", "TCP", "UDP", "TCP_UDP"}:
                actions = blocks(listener, "default_action")
                redirects = all(
                    dig(a, "type") == "redirect" and dig(a, "redirect", 0, "protocol") == "HTTPS"
                    for a in actions
                )
                if not (actions and redirects):
                    return True
        return False

    if listeners:
        facts.derive("tls_min_version", tls_min_version)
        facts.derive("plaintext_listener", plaintext_listener)
    return facts.values


def ebs_volume(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    facts.derive("encrypted_at_rest", lambda: dig(values, "encrypted", default=False) is True)
    facts.derive("encryption_cmk", lambda: bool(dig(values, "kms_key_id")))
    return facts.values


def instance(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    facts.derive("public_ip", lambda: dig(values, "associate_public_ip_address", default=False) is True)
    facts.derive("imdsv2_required", lambda: dig(values, "metadata_options", 0, "http_tokens") == "required")
    facts.derive(
        "disk_encrypted", lambda: dig(values, "root_block_device", 0, "encrypted", default=False) is True
    )
    return facts.values


PLANNED: dict[str, PlannedType] = {
    "aws_s3_bucket": PlannedType("object_store", s3_bucket),
    "aws_security_group": PlannedType("network_rule", security_group),
    "aws_db_instance": PlannedType("database", db_instance),
    "aws_rds_cluster": PlannedType("database", rds_cluster),
    "aws_dynamodb_table": PlannedType("database", dynamodb_table),
    "aws_kms_key": PlannedType("key", kms_key),
    "aws_cloudtrail": PlannedType("audit_trail", cloudtrail),
    "aws_cloudwatch_log_group": PlannedType("log_store", log_group),
    "aws_lb": PlannedType("load_balancer", load_balancer),
    "aws_ebs_volume": PlannedType("disk", ebs_volume),
    "aws_instance": PlannedType("compute", instance),
}

JOINS: dict[str, Join] = {
    "aws_s3_bucket_server_side_encryption_configuration": Join("bucket", "aws_s3_bucket"),
    "aws_s3_bucket_public_access_block": Join("bucket", "aws_s3_bucket"),
    "aws_s3_bucket_versioning": Join("bucket", "aws_s3_bucket"),
    "aws_s3_bucket_logging": Join("bucket", "aws_s3_bucket"),
    "aws_s3_bucket_policy": Join("bucket", "aws_s3_bucket"),
    "aws_vpc_security_group_ingress_rule": Join("security_group_id", "aws_security_group"),
    "aws_vpc_security_group_egress_rule": Join("security_group_id", "aws_security_group"),
    "aws_security_group_rule": Join("security_group_id", "aws_security_group"),
    "aws_lb_listener": Join("load_balancer_arn", "aws_lb"),
    "aws_db_instance": Join("parameter_group_name", "aws_db_parameter_group", absorb=False),
}


# Types the provider cannot tag or label: the tagging control does not apply to them.
UNTAGGABLE = frozenset(
    {"aws_security_group_rule", "aws_vpc_security_group_ingress_rule", "aws_s3_bucket_public_access_block"}
)


def tags_of(native_type: str, values: Mapping[str, Any]) -> dict[str, str]:
    for key in ("tags_all", "tags"):
        found = values.get(key)
        if isinstance(found, Mapping):
            return {str(k): str(v) for k, v in found.items() if isinstance(v, str)}
    return {}


def region_of(native_type: str, values: Mapping[str, Any]) -> str | None:
    region = values.get("region")
    return region if isinstance(region, str) else None

"""Planned AWS values to facts."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regops.discovery.terraform_plan import discover_plan
from regops.model import UNKNOWN
from regops.normalize.aws import LIVE, PLANNED
from tests.helpers import load_evidence, only_bundle, results_by_control, run_project_suites
from tests.plans import TAGS, Change, compliant_bucket, refer, write_plan

NONE: dict[str, Any] = {}
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
# A bucket-level block that lets policies and ACLs through: the bucket's own settings decide.
OPEN_BLOCK = {
    "block_public_acls": False,
    "block_public_policy": False,
    "ignore_public_acls": False,
    "restrict_public_buckets": False,
}
# Policies blocked, ACLs let through: what the ACL says decides.
ACLS_OPEN_BLOCK = {**OPEN_BLOCK, "block_public_policy": True, "restrict_public_buckets": True}
DENY_PLAIN_HTTP = {
    "Effect": "Deny",
    "Principal": "*",
    "Action": "s3:*",
    "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"],
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}


def facts(native_type: str, values: dict[str, Any], **related: list[dict[str, Any]]) -> dict[str, Any]:
    return PLANNED[native_type].facts(values, related)


def test_security_group_merges_inline_and_separate_rules() -> None:
    found = facts(
        "aws_security_group",
        {
            "ingress": [
                {"from_port": 443, "to_port": 443, "protocol": "tcp", "cidr_blocks": ["0.0.0.0/0"]},
                {
                    "from_port": 444,
                    "to_port": 450,
                    "protocol": "tcp",
                    "cidr_blocks": [],
                    "ipv6_cidr_blocks": ["::/0"],
                },
                {"from_port": 22, "to_port": 22, "protocol": "tcp", "cidr_blocks": ["10.0.0.0/8"]},
            ]
        },
        aws_security_group_rule=[
            {
                "type": "ingress",
                "from_port": 3389,
                "to_port": 3389,
                "protocol": "tcp",
                "cidr_blocks": ["0.0.0.0/0"],
            },
            {"type": "egress", "from_port": 0, "to_port": 0, "protocol": "-1", "cidr_blocks": ["0.0.0.0/0"]},
        ],
    )
    assert found["internet_ingress_ports"] == [[443, 450], [3389, 3389]]


def test_all_protocols_opens_every_port() -> None:
    found = facts(
        "aws_security_group",
        {"ingress": []},
        aws_vpc_security_group_ingress_rule=[{"ip_protocol": "-1", "cidr_ipv4": "0.0.0.0/0"}],
    )
    assert found["internet_ingress_ports"] == [[0, 65535]]


def test_an_unknown_rule_source_leaves_the_ports_unknown() -> None:
    found = facts(
        "aws_security_group",
        {"ingress": [{"from_port": 22, "to_port": 22, "protocol": "tcp", "cidr_blocks": UNKNOWN}]},
    )
    assert "internet_ingress_ports" not in found


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("ELBSecurityPolicy-TLS13-1-2-2021-06", "1.2"),
        ("ELBSecurityPolicy-TLS13-1-0-2021-06", "1.0"),
        ("ELBSecurityPolicy-2016-08", "1.0"),
        ("ELBSecurityPolicy-TLS13-1-3-2021-06", "1.3"),
    ],
)
def test_load_balancer_tls_from_listener_policy(policy: str, expected: str) -> None:
    found = facts(
        "aws_lb",
        {"internal": False},
        aws_lb_listener=[
            {"protocol": "HTTPS", "ssl_policy": policy, "default_action": [{"type": "forward"}]}
        ],
    )
    assert found["tls_min_version"] == expected
    assert found["plaintext_listener"] is False


def test_an_unlisted_policy_is_not_guessed() -> None:
    found = facts("aws_lb", {}, aws_lb_listener=[{"protocol": "HTTPS", "ssl_policy": "Custom-TLS13-ish"}])
    assert "tls_min_version" not in found


def test_http_listener_is_plaintext_unless_it_redirects() -> None:
    redirect = {
        "protocol": "HTTP",
        "default_action": [{"type": "redirect", "redirect": [{"protocol": "HTTPS"}]}],
    }
    forward = {"protocol": "HTTP", "default_action": [{"type": "forward"}]}
    assert facts("aws_lb", {}, aws_lb_listener=[redirect])["plaintext_listener"] is False
    assert facts("aws_lb", {}, aws_lb_listener=[redirect, forward])["plaintext_listener"] is True
    assert facts("aws_lb", {}, aws_lb_listener=[redirect])["tls_min_version"] is None


@pytest.mark.parametrize(
    ("values", "group", "expected"),
    [
        ({"engine": "postgres", "engine_version": "16.3"}, None, True),
        ({"engine": "postgres", "engine_version": "14.9"}, None, False),
        (
            {"engine": "mysql", "engine_version": "8.0", "parameter_group_name": "default.mysql8.0"},
            None,
            False,
        ),
        ({"engine": "postgres", "parameter_group_name": "custom"}, None, None),
        ({"engine": "postgres"}, {"parameter": [{"name": "rds.force_ssl", "value": "1"}]}, True),
        ({"engine": "mysql"}, {"parameter": [{"name": "require_secure_transport", "value": "ON"}]}, True),
        ({"engine": "postgres"}, {"parameter": [{"name": "rds.force_ssl", "value": "0"}]}, False),
    ],
)
def test_database_tls_from_parameter_group(
    values: dict[str, Any], group: dict[str, Any] | None, expected: bool | None
) -> None:
    related = {"aws_db_parameter_group": [group]} if group else {}
    found = PLANNED["aws_db_instance"].facts(values, related)
    assert found.get("tls_enforced") is expected


def test_database_facts() -> None:
    found = facts(
        "aws_db_instance",
        {
            "storage_encrypted": True,
            "kms_key_id": "arn:aws:kms:eu-central-1:1:key/k",
            "publicly_accessible": False,
            "backup_retention_period": 0,
            "multi_az": True,
            "deletion_protection": None,
            "engine": "postgres",
        },
    )
    assert found["encryption_cmk"] is True
    assert found["backup_days"] == 0
    assert found["pitr"] is False
    assert found["zone_redundant"] is True
    assert found["deletion_protection"] is False


def test_kms_key_rotation_and_deletion_window() -> None:
    on = facts(
        "aws_kms_key",
        {"enable_key_rotation": True, "rotation_period_in_days": 90, "deletion_window_in_days": 7},
    )
    assert (on["rotation_enabled"], on["rotation_period_days"], on["deletion_protected"]) == (True, 90, False)
    off = facts("aws_kms_key", {"enable_key_rotation": False, "customer_master_key_spec": "RSA_2048"})
    assert (off["rotation_enabled"], off["rotation_period_days"], off["rotatable"]) == (False, None, False)


def test_log_group_that_never_expires_satisfies_any_retention() -> None:
    assert facts("aws_cloudwatch_log_group", {"retention_in_days": 0})["retention_days"] >= 3650
    assert facts("aws_cloudwatch_log_group", {"retention_in_days": 90})["retention_days"] == 90


def test_s3_public_only_decided_with_a_block_or_public_acl() -> None:
    assert "public" not in facts("aws_s3_bucket", {"acl": None})
    assert facts("aws_s3_bucket", {"acl": "public-read"})["public"] is True


@given(
    rules=st.lists(
        st.tuples(
            st.integers(0, 65535), st.integers(0, 65535), st.sampled_from(["0.0.0.0/0", "10.0.0.0/8", "::/0"])
        ),
        max_size=8,
    )
)
def test_open_ports_are_sorted_merged_and_only_from_the_internet(rules: list[tuple[int, int, str]]) -> None:
    ingress = [
        {"from_port": min(a, b), "to_port": max(a, b), "protocol": "tcp", "cidr_blocks": [cidr]}
        for a, b, cidr in rules
    ]
    spans = facts("aws_security_group", {"ingress": ingress})["internet_ingress_ports"]
    assert spans == sorted(spans)
    for (_, high), (low, _) in itertools.pairwise(spans):
        assert low > high + 1
    for low, high in spans:
        assert any(
            r["from_port"] <= low <= r["to_port"] and r["cidr_blocks"][0] != "10.0.0.0/8" for r in ingress
        )
        assert 0 <= low <= high <= 65535


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"policy": json.dumps({"Version": "2012-10-17", "Statement": list(statements)})}


def read_by(principal: Any, condition: dict[str, Any] | None = None) -> dict[str, Any]:
    statement = {"Effect": "Allow", "Principal": principal, "Action": "s3:GetObject", "Resource": "*"}
    return statement | ({"Condition": condition} if condition else {})


@pytest.mark.parametrize(
    ("statement", "public"),
    [
        (read_by("*"), True),
        # Only over TLS, but still to anyone.
        (read_by("*", {"Bool": {"aws:SecureTransport": "true"}}), True),
        (read_by({"AWS": ["arn:aws:iam::123456789012:root", "*"]}), True),
        (read_by({"AWS": "*"}, {"StringLike": {"s3:prefix": "reports/"}}), True),
        (read_by({"AWS": "*"}, {"StringNotEquals": {"aws:SourceAccount": "123456789012"}}), True),
        (read_by("*", {"StringEqualsIfExists": {"aws:SourceVpce": "vpce-1a2b3c4d"}}), True),
        (read_by("*", {"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}), True),
        (read_by("*", {"StringLike": {"aws:PrincipalOrgID": "o-*"}}), True),
        (read_by("*", {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.0.2.0/24"]}}), False),
        (read_by("*", {"StringEquals": {"AWS:SourceVpce": "vpce-1a2b3c4d"}}), False),
        (
            read_by({"AWS": "*"}, {"ForAnyValue:StringEquals": {"aws:PrincipalOrgPaths": "o-a/r-b/ou-c/"}}),
            False,
        ),
        (
            read_by(
                "*",
                {"Bool": {"aws:SecureTransport": "true"}, "StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3"}},
            ),
            False,
        ),
        (read_by({"AWS": "arn:aws:iam::123456789012:root"}), False),
        (DENY_PLAIN_HTTP, False),
    ],
)
def test_a_policy_is_public_unless_a_condition_pins_the_caller(
    statement: dict[str, Any], public: bool
) -> None:
    found = facts(
        "aws_s3_bucket",
        {"acl": None},
        aws_s3_bucket_public_access_block=[OPEN_BLOCK],
        aws_s3_bucket_policy=[policy(statement)],
    )
    assert found["public"] is public
    live = LIVE["aws_s3_bucket"][1](
        {
            "encryption": None,
            "public_access_block": None,
            "account_public_access_block": None,
            "policy": {"Policy": policy(statement)["policy"]},
            "acl": {"Grants": []},
            "versioning": {},
            "logging": {},
        }
    )
    assert live["public"] is public


def test_key_policies_for_any_principal_in_the_account_are_not_gaps() -> None:
    via_service = read_by(
        {"AWS": "*"},
        {
            "StringEquals": {
                "kms:CallerAccount": "123456789012",
                "kms:ViaService": "rds.eu-central-1.amazonaws.com",
            }
        },
    )
    anyone_over_tls = read_by({"AWS": "*"}, {"Bool": {"aws:SecureTransport": "true"}})
    assert facts("aws_kms_key", policy(via_service))["access_gaps"] == []
    assert facts("aws_kms_key", policy(anyone_over_tls))["access_gaps"] == ["key policy allows any principal"]


@pytest.mark.parametrize(
    ("acl", "public"),
    [
        ({"acl": "public-read"}, True),
        ({"acl": "authenticated-read"}, True),
        ({"acl": "private"}, False),
        ({"acl": "log-delivery-write"}, False),
        (
            {
                "acl": None,
                "access_control_policy": [
                    {"grant": [{"grantee": [{"type": "Group", "uri": ALL_USERS}], "permission": "READ"}]}
                ],
            },
            True,
        ),
        (
            {
                "acl": None,
                "access_control_policy": [
                    {
                        "grant": [
                            {
                                "grantee": [
                                    {
                                        "type": "Group",
                                        "uri": "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
                                    }
                                ],
                                "permission": "READ",
                            }
                        ]
                    }
                ],
            },
            True,
        ),
        (
            {
                "acl": None,
                "access_control_policy": [
                    {
                        "grant": [
                            {
                                "grantee": [{"type": "CanonicalUser", "id": "abc"}],
                                "permission": "FULL_CONTROL",
                            }
                        ]
                    }
                ],
            },
            False,
        ),
    ],
)
def test_a_separate_acl_resource_decides_publicness(acl: dict[str, Any], public: bool) -> None:
    found = facts(
        "aws_s3_bucket",
        {"acl": None},
        aws_s3_bucket_public_access_block=[ACLS_OPEN_BLOCK],
        aws_s3_bucket_acl=[acl],
    )
    assert found["public"] is public


def test_the_acl_resource_is_joined_into_its_bucket(tmp_path: Path) -> None:
    changes = compliant_bucket("card")
    changes[2].after = {**changes[2].after, "block_public_policy": False}  # type: ignore[dict-item]
    acl = Change(
        "aws_s3_bucket_acl.card",
        "aws_s3_bucket_acl",
        {"bucket": "payments-card", "acl": "public-read"},
        expressions={"bucket": refer("aws_s3_bucket.card.id", "aws_s3_bucket.card")},
    )
    discovery = discover_plan(write_plan(tmp_path / "plan.json", *changes, acl), "acceptance")
    (bucket,) = discovery.resources
    assert "aws_s3_bucket_acl.card" in bucket.components
    assert bucket.facts["public"] is True


def test_a_policy_that_is_not_public_does_not_stand_in_for_a_public_access_block() -> None:
    # Without a block, ACLs set outside the plan may still open the bucket.
    found = facts("aws_s3_bucket", {"acl": None}, aws_s3_bucket_policy=[policy(DENY_PLAIN_HTTP)])
    assert "public" not in found
    assert found["https_only"] is True
    assert (
        facts("aws_s3_bucket", {"acl": None}, aws_s3_bucket_policy=[policy(read_by("*"))])["public"] is True
    )


@pytest.mark.parametrize(
    ("statements", "https_only"),
    [
        ([DENY_PLAIN_HTTP], True),
        ([read_by("*"), DENY_PLAIN_HTTP | {"Principal": {"AWS": "*"}, "Action": ["s3:*"]}], True),
        ([DENY_PLAIN_HTTP | {"Condition": {"Bool": {"aws:SecureTransport": False}}}], True),
        ([], False),
        ([DENY_PLAIN_HTTP | {"Effect": "Allow"}], False),
        ([DENY_PLAIN_HTTP | {"Action": "s3:PutObject"}], False),
        ([DENY_PLAIN_HTTP | {"Principal": {"AWS": "arn:aws:iam::123456789012:root"}}], False),
        ([DENY_PLAIN_HTTP | {"Condition": {"Bool": {"aws:SecureTransport": "true"}}}], False),
        (
            [
                DENY_PLAIN_HTTP
                | {
                    "Condition": {
                        "Bool": {"aws:SecureTransport": "false"},
                        "IpAddress": {"aws:SourceIp": "10.0.0.0/8"},
                    }
                }
            ],
            False,
        ),
    ],
)
def test_https_only_needs_a_policy_denying_everyone_plain_http(
    statements: list[dict[str, Any]], https_only: bool
) -> None:
    planned = facts("aws_s3_bucket", {"acl": None}, aws_s3_bucket_policy=[policy(*statements)])
    assert planned["https_only"] is https_only
    live = LIVE["aws_s3_bucket"][1](
        {"policy": {"Policy": policy(*statements)["policy"]}, "versioning": {}, "logging": {}}
    )
    assert live["https_only"] is https_only


def test_https_only_without_a_policy_and_with_an_unknown_one() -> None:
    assert facts("aws_s3_bucket", {"acl": None})["https_only"] is False
    assert "https_only" not in facts(
        "aws_s3_bucket", {"acl": None}, aws_s3_bucket_policy=[{"policy": UNKNOWN}]
    )
    assert LIVE["aws_s3_bucket"][1]({"policy": None})["https_only"] is False
    assert "https_only" not in LIVE["aws_s3_bucket"][1]({"policy": UNKNOWN})


def test_live_bucket_parts_that_were_never_read_leave_their_facts_unknown() -> None:
    assert LIVE["aws_s3_bucket"][1]({"location": UNKNOWN}) == {}
    read = {
        "encryption": None,
        "public_access_block": None,
        "policy": UNKNOWN,
        "acl": {"Grants": []},
        "versioning": {"Status": "Enabled"},
        "logging": {},
        "account_public_access_block": None,
    }
    found = LIVE["aws_s3_bucket"][1](read)
    assert set(found) == {"encrypted_at_rest", "encryption_cmk", "versioning", "access_logging"}
    without_logging = {k: v for k, v in read.items() if k != "logging"}
    assert "access_logging" not in LIVE["aws_s3_bucket"][1](without_logging)


def test_enc_004_judges_s3_by_its_policy_and_errors_where_https_is_unknown(pytester: pytest.Pytester) -> None:
    def with_policy(name: str, document: Any, **unknown: bool) -> Change:
        return Change(
            f"aws_s3_bucket_policy.{name}",
            "aws_s3_bucket_policy",
            {"bucket": f"payments-{name}", "policy": document},
            unknown=unknown,
            expressions={"bucket": refer(f"aws_s3_bucket.{name}.id", f"aws_s3_bucket.{name}")},
        )

    def storage_account(name: str, https: Any, **unknown: bool) -> Change:
        return Change(
            f"azurerm_storage_account.{name}",
            "azurerm_storage_account",
            {
                "name": name,
                "location": "germanywestcentral",
                "tags": TAGS,
                "https_traffic_only_enabled": https,
            },
            unknown=unknown,
        )

    write_plan(
        pytester.path / "plan.json",
        *compliant_bucket("tls"),
        with_policy("tls", policy(DENY_PLAIN_HTTP)["policy"]),
        *compliant_bucket("plain"),
        *compliant_bucket("later"),
        with_policy("later", None, policy=True),
        storage_account("stknown", True),
        storage_account("stlater", None, https_traffic_only_enabled=True),
    )
    pytester.makepyprojecttoml("[tool.regops]\n")
    run_project_suites(
        pytester,
        "--stage=acceptance",
        "--plan=plan.json",
        "--control=ENC-004",
        "--evidence-dir=out",
    )
    outcomes = results_by_control(load_evidence(only_bundle(pytester.path / "out", "acceptance")))["ENC-004"]
    assert outcomes == {
        "aws_s3_bucket.tls": "passed",
        "aws_s3_bucket.plain": "failed",
        "aws_s3_bucket.later": "error",
        "azurerm_storage_account.stknown": "passed",
        "azurerm_storage_account.stlater": "error",
    }


def discovered(tmp_path: Path, *changes: Change) -> dict[str, Any]:
    resources = discover_plan(write_plan(tmp_path / "plan.json", *changes), "acceptance").resources
    return {r.id: r.facts for r in resources}


def to(address: str, attribute: str = "id") -> dict[str, Any]:
    return refer(f"{address}.{attribute}", address)


@pytest.mark.parametrize(
    ("own", "public"),
    [
        (policy(read_by("*")), True),
        (policy(DENY_PLAIN_HTTP), False),
        ({"grant": [{"type": "Group", "uri": ALL_USERS, "permissions": ["READ"], "id": None}]}, True),
        (
            {"grant": [{"type": "CanonicalUser", "uri": None, "permissions": ["FULL_CONTROL"], "id": "abc"}]},
            False,
        ),
    ],
)
def test_a_bucket_s_own_policy_and_grants_decide_publicness(own: dict[str, Any], public: bool) -> None:
    block = OPEN_BLOCK if "policy" in own else ACLS_OPEN_BLOCK
    found = facts("aws_s3_bucket", {"acl": None, **own}, aws_s3_bucket_public_access_block=[block])
    assert found["public"] is public


def test_a_block_that_lets_policies_through_leaves_a_bucket_without_one_unknown() -> None:
    # A policy attached outside the plan would decide.
    assert "public" not in facts(
        "aws_s3_bucket", {"acl": None}, aws_s3_bucket_public_access_block=[OPEN_BLOCK]
    )
    blocked = facts("aws_s3_bucket", {"acl": None}, aws_s3_bucket_public_access_block=[ACLS_OPEN_BLOCK])
    assert blocked["public"] is False


def test_https_only_from_the_bucket_s_own_policy_unless_a_policy_resource_replaces_it() -> None:
    own = {"acl": None, **policy(DENY_PLAIN_HTTP)}
    assert facts("aws_s3_bucket", own)["https_only"] is True
    assert facts("aws_s3_bucket", own, aws_s3_bucket_policy=[policy(read_by("*"))])["https_only"] is False


def test_a_bucket_s_own_policy_and_grants_the_configuration_leaves_unset_are_not_guessed(
    tmp_path: Path,
) -> None:
    def bucket(name: str, **expressions: Any) -> list[Change]:
        changes = compliant_bucket(name)
        changes[0].unknown = {"policy": True, "grant": True}
        changes[0].expressions = expressions
        changes[2].after = {**changes[2].after, **OPEN_BLOCK}  # type: ignore[dict-item]
        return changes

    found = discovered(
        tmp_path,
        *bucket("provided"),
        *bucket("computed", policy=refer("data.aws_iam_policy_document.web.json")),
    )
    # The provider fills in what the split resources set: there are none, so no policy stands
    # between the open block and one attached outside the plan.
    assert "public" not in found["aws_s3_bucket.provided"]
    assert found["aws_s3_bucket.provided"]["https_only"] is False
    assert "public" not in found["aws_s3_bucket.computed"]
    assert "https_only" not in found["aws_s3_bucket.computed"]


def test_a_separate_key_policy_is_joined_and_judged_instead_of_the_key_s_own(tmp_path: Path) -> None:
    def key(name: str, document: Any, **unknown: bool) -> list[Change]:
        return [
            Change(
                f"aws_kms_key.{name}",
                "aws_kms_key",
                {"enable_key_rotation": True, "tags": TAGS},
                unknown={"policy": True, "id": True, "arn": True},
            ),
            Change(
                f"aws_kms_key_policy.{name}",
                "aws_kms_key_policy",
                {"policy": document},
                unknown={"key_id": True, **unknown},
                expressions={"key_id": to(f"aws_kms_key.{name}")},
            ),
        ]

    plan = write_plan(
        tmp_path / "plan.json",
        *key("open", policy(read_by("*"))["policy"]),
        *key("closed", policy(read_by({"AWS": "arn:aws:iam::123456789012:root"}))["policy"]),
        *key("later", None, policy=True),
    )
    found = {r.id: r for r in discover_plan(plan, "acceptance").resources}
    assert set(found) == {"aws_kms_key.open", "aws_kms_key.closed", "aws_kms_key.later"}
    assert "aws_kms_key_policy.open" in found["aws_kms_key.open"].components
    assert found["aws_kms_key.open"].facts["access_gaps"] == ["key policy allows any principal"]
    assert found["aws_kms_key.closed"].facts["access_gaps"] == []
    assert "access_gaps" not in found["aws_kms_key.later"].facts
    # The separate policy replaces the key's own one.
    own_open = {"policy": policy(read_by("*"))["policy"]}
    closed = policy(read_by({"AWS": "arn:aws:iam::123456789012:root"}))
    assert facts("aws_kms_key", own_open, aws_kms_key_policy=[closed])["access_gaps"] == []


@pytest.mark.parametrize(
    ("selectors", "enabled"),
    [
        ({}, True),
        ({"event_selector": [{"read_write_type": "All"}]}, True),
        ({"event_selector": [{"include_management_events": False, "read_write_type": "All"}]}, False),
        (
            {
                "event_selector": [
                    {"include_management_events": False, "read_write_type": "All"},
                    {"include_management_events": True, "read_write_type": "All"},
                ]
            },
            True,
        ),
        ({"event_selector": [{"include_management_events": UNKNOWN}]}, None),
        (
            {
                "advanced_event_selector": [
                    {"field_selector": [{"field": "eventCategory", "equals": ["Management"]}]}
                ]
            },
            True,
        ),
        (
            {
                "advanced_event_selector": [
                    {
                        "field_selector": [
                            {"field": "eventCategory", "equals": ["Data"]},
                            {"field": "resources.type", "equals": ["AWS::S3::Object"]},
                        ]
                    }
                ]
            },
            False,
        ),
        ({"advanced_event_selector": [{"field_selector": UNKNOWN}]}, None),
        (
            {
                "advanced_event_selector": [
                    {"field_selector": [{"field": "eventCategory", "equals": UNKNOWN}]}
                ]
            },
            None,
        ),
    ],
)
def test_a_trail_logs_only_with_management_events(selectors: dict[str, Any], enabled: bool | None) -> None:
    found = facts("aws_cloudtrail", {"enable_logging": True, "is_multi_region_trail": True, **selectors})
    assert found.get("enabled") is enabled


def test_an_elastic_ip_gives_its_instance_a_public_address(tmp_path: Path) -> None:
    def instance(name: str) -> Change:
        return Change(
            f"aws_instance.{name}",
            "aws_instance",
            {"ami": "ami-1", "associate_public_ip_address": False, "tags": TAGS},
            unknown={"id": True},
        )

    found = discovered(
        tmp_path,
        instance("eip"),
        Change(
            "aws_eip.eip",
            "aws_eip",
            {"domain": "vpc", "tags": TAGS},
            unknown={"instance": True, "public_ip": True},
            expressions={"instance": to("aws_instance.eip")},
        ),
        instance("associated"),
        Change("aws_eip.spare", "aws_eip", {"domain": "vpc", "instance": None, "tags": TAGS}),
        Change(
            "aws_eip_association.associated",
            "aws_eip_association",
            {},
            unknown={"instance_id": True, "allocation_id": True},
            expressions={
                "instance_id": to("aws_instance.associated"),
                "allocation_id": to("aws_eip.spare"),
            },
        ),
        instance("private"),
    )
    assert found["aws_instance.eip"]["public_ip"] is True
    assert found["aws_instance.associated"]["public_ip"] is True
    assert found["aws_instance.private"]["public_ip"] is False
    assert "aws_eip.eip" not in found


@pytest.mark.parametrize(
    ("engine", "exports", "audited"),
    [
        ("postgres", ["postgresql"], True),
        ("postgres", ["upgrade"], False),
        ("aurora-postgresql", ["postgresql", "upgrade"], True),
        ("mysql", ["error", "slowquery"], False),
        ("mysql", ["general"], True),
        ("mariadb", ["audit"], True),
        ("aurora-mysql", ["audit", "error"], True),
        ("mysql", [], False),
        ("sqlserver-ee", ["error"], None),
        ("oracle-ee", ["audit"], None),
    ],
)
def test_database_audit_logging_needs_the_engine_s_audit_logs(
    engine: str, exports: list[str], audited: bool | None
) -> None:
    planned = facts("aws_db_instance", {"engine": engine, "enabled_cloudwatch_logs_exports": exports})
    assert planned.get("audit_logging") is audited
    cluster = facts("aws_rds_cluster", {"engine": engine, "enabled_cloudwatch_logs_exports": exports})
    assert cluster.get("audit_logging") is audited
    live = LIVE["aws_db_instance"][1](
        {"description": {"Engine": engine, "EnabledCloudwatchLogsExports": exports}}
    )
    assert live.get("audit_logging") is audited


def test_database_audit_logging_with_unknown_exports_is_unknown() -> None:
    found = facts("aws_db_instance", {"engine": "postgres", "enabled_cloudwatch_logs_exports": UNKNOWN})
    assert "audit_logging" not in found


@pytest.mark.parametrize(
    ("lock", "immutable"),
    [
        ({"min_retention_days": 400, "changeable_for_days": 3}, True),
        ({"min_retention_days": 400, "changeable_for_days": None}, False),
        ({"min_retention_days": 400, "changeable_for_days": UNKNOWN}, None),
    ],
)
def test_only_a_vault_lock_in_compliance_mode_is_immutable(
    lock: dict[str, Any], immutable: bool | None
) -> None:
    found = facts("aws_backup_vault", {"kms_key_arn": "arn:k"}, aws_backup_vault_lock_configuration=[lock])
    assert found.get("immutable") is immutable
    assert facts("aws_backup_vault", {"kms_key_arn": "arn:k"})["immutable"] is False


def test_disabled_rules_and_alarms_alert_nobody(tmp_path: Path) -> None:
    events = ["StopLogging", "DeleteTrail", "UpdateTrail", "PutEventSelectors"]
    pattern = json.dumps({"source": ["aws.cloudtrail"], "detail": {"eventName": events}})

    def rule(name: str, expressions: dict[str, Any] | None = None, **settings: Any) -> list[Change]:
        unknown = {k: True for k, v in settings.items() if v is UNKNOWN}
        after = {k: v for k, v in settings.items() if v is not UNKNOWN}
        return [
            Change(
                f"aws_cloudwatch_event_rule.{name}",
                "aws_cloudwatch_event_rule",
                {"name": name, "event_pattern": pattern, **after},
                unknown=unknown,
                expressions=expressions or {},
            ),
            Change(
                f"aws_cloudwatch_event_target.{name}",
                "aws_cloudwatch_event_target",
                {"rule": name, "arn": "arn:aws:sns:eu-central-1:1:alerts"},
                expressions={"rule": to(f"aws_cloudwatch_event_rule.{name}", "name")},
            ),
        ]

    found = discovered(
        tmp_path,
        *rule("on", state="ENABLED", is_enabled=UNKNOWN),
        *rule("all_management", state="ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS", is_enabled=UNKNOWN),
        *rule("off", state="DISABLED", is_enabled=UNKNOWN),
        *rule("off_before_state", state=UNKNOWN, is_enabled=False),
        *rule("later", {"state": refer("var.rule_state")}, state=UNKNOWN, is_enabled=UNKNOWN),
    )
    tamper = ["trail_tampering"]
    assert found["aws_cloudwatch_event_rule.on"]["provides"] == tamper
    assert found["aws_cloudwatch_event_rule.all_management"]["provides"] == tamper
    assert found["aws_cloudwatch_event_rule.off"]["provides"] == []
    assert found["aws_cloudwatch_event_rule.off_before_state"]["provides"] == []
    assert "provides" not in found["aws_cloudwatch_event_rule.later"]
    alarm = {
        "alarm_name": "a",
        "alarm_actions": ["arn:aws:sns:eu-central-1:1:alerts"],
        "namespace": "CISBenchmark",
        "metric_name": "RootUsage",
        "comparison_operator": "GreaterThanOrEqualToThreshold",
        "threshold": 1,
        "evaluation_periods": 1,
    }
    assert facts("aws_cloudwatch_metric_alarm", alarm)["provides"] == ["alarm:CISBenchmark/RootUsage"]
    assert facts("aws_cloudwatch_metric_alarm", {**alarm, "actions_enabled": False})["provides"] == []

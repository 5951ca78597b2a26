"""Planned AWS values to facts."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regops.model import UNKNOWN
from regops.normalize.aws import PLANNED

NONE: dict[str, Any] = {}


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

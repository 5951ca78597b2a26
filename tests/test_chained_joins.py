"""Joins that pass on: blocks folded into a block that is folded in turn (a listener rule into its
listener into its load balancer), a join that may name several target types (a rule of the
default security group), and a link that sees what was folded into the block it links to (a
key sees its key ring's IAM)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from regops.discovery.terraform_plan import discover_plan
from regops.model import Resource
from tests.helpers import load_evidence, only_bundle, run_project_suites
from tests.plans import TAGS, Change, refer, write_plan


def discover(tmp_path: Path, *changes: Change) -> tuple[dict[str, Resource], list[str]]:
    discovery = discover_plan(write_plan(tmp_path / "plan.json", *changes), "acceptance")
    return {r.id: r for r in discovery.resources}, list(discovery.report.notes)


# --- AWS load balancer listener rules -------------------------------------------------------

REDIRECT = [{"type": "redirect", "redirect": [{"protocol": "HTTPS", "port": "443"}]}]
FORWARD = [{"type": "forward", "target_group_arn": "arn:aws:elasticloadbalancing:tg/api"}]


def lb(name: str = "front", prefix: str = "") -> Change:
    return Change(
        f"{prefix}aws_lb.{name}", "aws_lb", {"internal": False, "tags": TAGS}, unknown={"arn": True}
    )


def listener(
    name: str, protocol: str, action: list[dict[str, Any]], lb_name: str = "front", prefix: str = ""
) -> Change:
    values: dict[str, Any] = {
        "protocol": protocol,
        "port": 80 if protocol == "HTTP" else 443,
        "default_action": action,
    }
    if protocol == "HTTPS":
        values["ssl_policy"] = "ELBSecurityPolicy-TLS13-1-2-2021-06"
    return Change(
        f"{prefix}aws_lb_listener.{name}",
        "aws_lb_listener",
        values,
        unknown={"arn": True, "load_balancer_arn": True},
        expressions={"load_balancer_arn": refer(f"aws_lb.{lb_name}.arn", f"aws_lb.{lb_name}")},
    )


def rule(
    name: str,
    listener_name: str,
    action: Any = FORWARD,
    prefix: str = "",
    unknown: dict[str, Any] | None = None,
) -> Change:
    return Change(
        f"{prefix}aws_lb_listener_rule.{name}",
        "aws_lb_listener_rule",
        {"priority": 10, "action": action, "condition": [{"path_pattern": [{"values": ["/api/*"]}]}]},
        unknown={"listener_arn": True, **(unknown or {})},
        expressions={
            "listener_arn": refer(f"aws_lb_listener.{listener_name}.arn", f"aws_lb_listener.{listener_name}")
        },
    )


@pytest.mark.parametrize("rule_first", [False, True])
def test_a_rule_forwarding_plain_http_makes_a_redirecting_listener_plaintext(
    tmp_path: Path, rule_first: bool
) -> None:
    changes = [lb(), listener("http", "HTTP", REDIRECT), rule("api", "http")]
    found, notes = discover(tmp_path, *(reversed(changes) if rule_first else changes))
    assert set(found) == {"aws_lb.front"}
    front = found["aws_lb.front"]
    assert front.facts["plaintext_listener"] is True
    assert sorted(front.components) == ["aws_lb_listener.http", "aws_lb_listener_rule.api"]
    assert not notes


def test_a_rule_counts_only_on_its_own_listener(tmp_path: Path) -> None:
    # The same forward rule on the HTTPS listener serves TLS; the HTTP listener still redirects.
    found, _ = discover(
        tmp_path,
        rule("api", "https"),
        lb(),
        listener("http", "HTTP", REDIRECT),
        listener("https", "HTTPS", FORWARD),
        rule("upgrade", "http", action=REDIRECT),
    )
    assert found["aws_lb.front"].facts["plaintext_listener"] is False
    assert found["aws_lb.front"].facts["tls_min_version"] == "1.2"
    assert set(found) == {"aws_lb.front"}
    assert {"aws_lb_listener_rule.api", "aws_lb_listener_rule.upgrade"} <= set(
        found["aws_lb.front"].components
    )


def test_an_unknown_rule_action_leaves_plaintext_listener_unknown(tmp_path: Path) -> None:
    found, _ = discover(
        tmp_path,
        lb(),
        listener("http", "HTTP", REDIRECT),
        rule("api", "http", action=None, unknown={"action": True}),
    )
    assert "plaintext_listener" not in found["aws_lb.front"].facts


def test_listener_rules_join_inside_module_instances_and_count_indexes(tmp_path: Path) -> None:
    changes = []
    for key in ("a", "b"):
        prefix = f'module.edge["{key}"].'
        changes += [lb(prefix=prefix), listener("http", "HTTP", REDIRECT, prefix=prefix)]
        # Two rules by count on module a's listener: one redirects, one forwards plain HTTP.
        if key == "a":
            changes += [
                rule("api[0]", "http", action=REDIRECT, prefix=prefix),
                rule("api[1]", "http", prefix=prefix),
            ]
    found, notes = discover(tmp_path, *changes)
    assert found['module.edge["a"].aws_lb.front'].facts["plaintext_listener"] is True
    assert found['module.edge["b"].aws_lb.front'].facts["plaintext_listener"] is False
    assert sorted(found['module.edge["a"].aws_lb.front'].components) == [
        'module.edge["a"].aws_lb_listener.http',
        'module.edge["a"].aws_lb_listener_rule.api[0]',
        'module.edge["a"].aws_lb_listener_rule.api[1]',
    ]
    assert len(found) == 2
    assert not notes


def test_a_rule_naming_its_listener_by_literal_arn_joins(tmp_path: Path) -> None:
    arn = "arn:aws:elasticloadbalancing:eu-central-1:1:listener/app/front/1/2"
    found, _ = discover(
        tmp_path,
        Change("aws_lb.front", "aws_lb", {"internal": False, "arn": "arn:aws:elb:front"}),
        Change(
            "aws_lb_listener.http",
            "aws_lb_listener",
            {
                "protocol": "HTTP",
                "default_action": REDIRECT,
                "arn": arn,
                "load_balancer_arn": "arn:aws:elb:front",
            },
        ),
        Change("aws_lb_listener_rule.api", "aws_lb_listener_rule", {"listener_arn": arn, "action": FORWARD}),
    )
    assert set(found) == {"aws_lb.front"}
    assert found["aws_lb.front"].facts["plaintext_listener"] is True


def test_unresolvable_chains_stay_resources_with_a_note(tmp_path: Path) -> None:
    # A rule of a listener outside the plan stays on its own; a rule of a listener whose load
    # balancer is outside the plan goes with that listener, which stays on its own.
    found, notes = discover(
        tmp_path,
        rule("lost", "elsewhere"),
        listener("http", "HTTP", REDIRECT, lb_name="gone"),
        rule("api", "http"),
    )
    assert set(found) == {"aws_lb_listener_rule.lost", "aws_lb_listener.http"}
    assert list(found["aws_lb_listener.http"].components) == ["aws_lb_listener_rule.api"]
    assert any(n.startswith("aws_lb_listener_rule.lost: the aws_lb_listener") for n in notes)
    assert any(n.startswith("aws_lb_listener.http: the aws_lb ") for n in notes)


# --- AWS default security group rules -------------------------------------------------------


def default_group_rule(native_type: str, values: dict[str, Any]) -> Change:
    group = "aws_default_security_group.main"
    return Change(
        f"{native_type}.open",
        native_type,
        values,
        unknown={"security_group_id": True},
        expressions={"security_group_id": refer(f"{group}.id", group)},
    )


STANDALONE_RULES = [
    (
        "aws_vpc_security_group_ingress_rule",
        {"cidr_ipv4": "10.0.0.0/16", "ip_protocol": "tcp", "from_port": 443},
    ),
    ("aws_vpc_security_group_egress_rule", {"cidr_ipv4": "0.0.0.0/0", "ip_protocol": "-1"}),
    ("aws_security_group_rule", {"type": "ingress", "cidr_blocks": ["10.0.0.0/8"], "protocol": "tcp"}),
]


@pytest.mark.parametrize(("native_type", "values"), STANDALONE_RULES)
@pytest.mark.parametrize("with_vpc", [True, False])
def test_standalone_rules_of_the_default_group_allow_traffic(
    tmp_path: Path, native_type: str, values: dict[str, Any], with_vpc: bool
) -> None:
    changes = [
        default_group_rule(native_type, values),
        Change(
            "aws_default_security_group.main",
            "aws_default_security_group",
            {"ingress": [], "egress": [], "tags": TAGS},
            unknown={"id": True, "vpc_id": True},
            expressions={"vpc_id": refer("aws_vpc.main.id", "aws_vpc.main")},
        ),
    ]
    # An ordinary group's rule, of the same type, joins that group and not the default one.
    app = "aws_security_group.app"
    changes += [
        Change(app, "aws_security_group", {"ingress": [], "tags": TAGS}, unknown={"id": True}),
        Change(
            f"{native_type}.app",
            native_type,
            {
                "cidr_ipv4": "0.0.0.0/0",
                "cidr_blocks": ["0.0.0.0/0"],
                "type": "ingress",
                "from_port": 443,
                "to_port": 443,
            },
            expressions={"security_group_id": refer(f"{app}.id", app)},
        ),
    ]
    if with_vpc:
        changes.append(Change("aws_vpc.main", "aws_vpc", {"cidr_block": "10.0.0.0/16"}, unknown={"id": True}))
    found, notes = discover(tmp_path, *changes)
    owner = "aws_vpc.main" if with_vpc else "aws_default_security_group.main"
    assert set(found) == {owner, app}
    assert found[owner].facts["default_allow"] is True
    assert f"{native_type}.open" in found[owner].components
    assert list(found[app].components) == [f"{native_type}.app"]
    assert bool(notes) is not with_vpc  # the default group of a VPC outside the plan is noted


# --- GCP key ring IAM -----------------------------------------------------------------------

RING = "google_kms_key_ring.ring"
TO_RING = {"key_ring_id": refer(f"{RING}.id", RING)}


def key_ring_changes(*iam: Change) -> list[Change]:
    return [
        *iam,
        Change(
            "google_kms_crypto_key.card",
            "google_kms_crypto_key",
            {"name": "card", "rotation_period": "7776000s", "labels": {}},
            unknown={"key_ring": True, "id": True},
            expressions={"key_ring": refer(f"{RING}.id", RING)},
        ),
        Change(
            RING, "google_kms_key_ring", {"name": "ring", "location": "europe-west3"}, unknown={"id": True}
        ),
    ]


IAM_POLICY = (
    '{"bindings": [{"role": "roles/cloudkms.cryptoKeyDecrypter", "members": ["allAuthenticatedUsers"]}]}'
)


@pytest.mark.parametrize(
    ("native_type", "values"),
    [
        (
            "google_kms_key_ring_iam_member",
            {"role": "roles/cloudkms.cryptoKeyDecrypter", "member": "allUsers"},
        ),
        (
            "google_kms_key_ring_iam_binding",
            {"role": "roles/cloudkms.admin", "members": ["allAuthenticatedUsers"]},
        ),
        ("google_kms_key_ring_iam_policy", {"policy_data": IAM_POLICY}),
    ],
)
def test_a_key_ring_granted_to_everyone_opens_its_keys(
    tmp_path: Path, native_type: str, values: dict[str, Any]
) -> None:
    iam = Change(f"{native_type}.public", native_type, values, expressions=TO_RING)
    found, notes = discover(tmp_path, *key_ring_changes(iam))
    key = found["google_kms_crypto_key.card"]
    assert key.facts["access_gaps"] == [
        "IAM on the key ring grants its keys to allUsers or allAuthenticatedUsers"
    ]
    # The key's ring is known only after apply: its region comes from the ring it links to.
    assert key.region == "europe-west3"
    assert set(found) == {"google_kms_crypto_key.card", RING}
    assert list(found[RING].components) == [f"{native_type}.public"]
    assert not notes


def test_an_unknown_key_ring_member_leaves_the_key_access_unknown(tmp_path: Path) -> None:
    iam = Change(
        "google_kms_key_ring_iam_member.who",
        "google_kms_key_ring_iam_member",
        {"role": "roles/cloudkms.cryptoKeyDecrypter"},
        unknown={"member": True},
        expressions=TO_RING,
    )
    found, _ = discover(tmp_path, *key_ring_changes(iam))
    assert "access_gaps" not in found["google_kms_crypto_key.card"].facts


def test_key_ring_iam_joins_inside_a_module(tmp_path: Path) -> None:
    changes = []
    for key in ("a", "b"):
        prefix = f'module.kms["{key}"].'
        member = "allUsers" if key == "a" else "group:ops@example.com"
        iam = Change(
            f"{prefix}google_kms_key_ring_iam_member.m",
            "google_kms_key_ring_iam_member",
            {"role": "roles/cloudkms.cryptoKeyDecrypter", "member": member},
            expressions=TO_RING,
        )
        for change in key_ring_changes(iam):
            if not change.address.startswith("module."):
                change.address = prefix + change.address
            changes.append(change)
    found, _ = discover(tmp_path, *changes)
    assert found['module.kms["a"].google_kms_crypto_key.card'].facts["access_gaps"]
    assert found['module.kms["b"].google_kms_crypto_key.card'].facts["access_gaps"] == []


# --- Azure SQL database TDE -----------------------------------------------------------------

SERVER = "azurerm_mssql_server.sql"


def sql_changes(*tde: Any) -> list[Change]:
    databases = [
        Change(
            f"azurerm_mssql_database.db{i}",
            "azurerm_mssql_database",
            {"name": f"db{i}"}
            if state is None
            else {"name": f"db{i}", "transparent_data_encryption_enabled": state},
            unknown={
                "server_id": True,
                **({"transparent_data_encryption_enabled": True} if state == "unknown" else {}),
            },
            expressions={"server_id": refer(f"{SERVER}.id", SERVER)},
        )
        for i, state in enumerate(tde)
    ]
    server = Change(
        SERVER, "azurerm_mssql_server", {"minimum_tls_version": "1.2", "tags": TAGS}, unknown={"id": True}
    )
    return [*databases, server]


@pytest.mark.parametrize(
    ("tde", "encrypted"),
    [
        ((True, False), False),
        ((False, "unknown"), False),
        (("unknown", False), False),
        ((True, None), True),
    ],
)
def test_a_database_without_tde_leaves_its_server_unencrypted(
    tmp_path: Path, tde: tuple[Any, ...], encrypted: bool
) -> None:
    found, notes = discover(tmp_path, *sql_changes(*tde))
    assert set(found) == {SERVER}
    assert found[SERVER].facts["encrypted_at_rest"] is encrypted
    assert sorted(found[SERVER].components) == [f"azurerm_mssql_database.db{i}" for i in range(len(tde))]
    assert not notes


def test_a_database_whose_tde_is_unknown_leaves_encryption_unknown(tmp_path: Path) -> None:
    found, _ = discover(tmp_path, *sql_changes(True, "unknown"))
    assert "encrypted_at_rest" not in found[SERVER].facts


# --- End to end: the control that reads plaintext_listener -----------------------------------


def test_tls_control_fails_a_load_balancer_whose_rule_forwards_plain_http(pytester: pytest.Pytester) -> None:
    write_plan(
        pytester.path / "plan.json",
        rule("api", "http"),
        lb(),
        listener("http", "HTTP", REDIRECT),
        listener("https", "HTTPS", FORWARD),
    )
    pytester.makepyprojecttoml("[tool.regops]\n")
    run_project_suites(
        pytester, "--stage=acceptance", "--plan=plan.json", "--evidence-dir=out", "--control=ENC-004"
    )
    document = load_evidence(only_bundle(pytester.path / "out", "acceptance"))
    [control] = [c for c in document["controls"] if c["id"] == "ENC-004"]
    [result] = [r for r in control["results"] if r["resource_id"] == "aws_lb.front"]
    assert result["outcome"] == "failed"
    assert "plaintext listener" in result["message"]

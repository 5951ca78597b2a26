"""Grants of rights as resources (AWS IAM policies, Azure custom roles, GCP grants on projects,
folders and organisations) and the AWS roles that hold them: IAM-004 (every action on every
resource) and KMS-003 (rights on every KMS key at once, key deletion with decryption)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regops.discovery.aws import discover_aws
from regops.discovery.terraform_plan import discover_plan
from regops.model import UNKNOWN
from regops.normalize import azure, gcp
from regops.normalize.aws import PLANNED, live_iam_policy
from regops.normalize.common import CONFIGURATION
from tests.aws_server import Clients, aws, moto_endpoint  # noqa: F401
from tests.helpers import judge_plan, results_by_control
from tests.plans import Change, write_plan
from tests.test_discovery_aws import STAGE_TAGS, _http_error, _session_with, by_id, source

KEY_WIDE = "allows kms:PutKeyPolicy, kms:ScheduleKeyDeletion, kms:Decrypt, kms:ReEncryptFrom on every KMS key"


def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action: Any, resource: Any = "*", **more: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **more}


def planned(policy: Any) -> dict[str, Any]:
    return PLANNED["aws_iam_policy"].facts({"policy": policy}, {})


def rights(facts: Any) -> dict[str, Any]:
    """The facts IAM-004 and KMS-003 judge but escalation (tests/test_iam_escalation.py)."""
    return {k: v for k, v in facts.items() if k in ("admin", "access_gaps")}


@pytest.mark.parametrize(
    ("statements", "admin", "gaps"),
    [
        ((allow("*"),), True, [KEY_WIDE]),
        ((allow("*:*"),), True, [KEY_WIDE]),
        ((allow("kms:*"),), False, [KEY_WIDE]),
        ((allow(["kms:Decrypt", "kms:GenerateDataKey"]),), False, ["allows kms:Decrypt on every KMS key"]),
        (
            (allow("kms:Decrypt", "arn:aws:kms:*:123456789012:key/*"),),
            False,
            ["allows kms:Decrypt on every KMS key"],
        ),
        ((allow("kms:Decrypt", "arn:aws:*"),), False, ["allows kms:Decrypt on every KMS key"]),
        (
            (
                allow(
                    "kms:Decrypt",
                    "arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                ),
            ),
            False,
            [],
        ),
        ((allow("kms:Decrypt", "arn:aws:kms:eu-central-1:123456789012:alias/*"),), False, []),
        (
            ({"Effect": "Allow", "Action": "kms:Decrypt", "NotResource": "arn:aws:s3:::logs/*"},),
            False,
            ["allows kms:Decrypt on every KMS key"],
        ),
        (({"Effect": "Allow", "Action": "kms:Decrypt", "NotResource": "arn:aws:kms:*:*:key/*"},), False, []),
        (({"Effect": "Allow", "NotAction": "kms:*", "Resource": "*"},), False, []),
        (({"Effect": "Allow", "NotAction": ["iam:*"], "Resource": "*"},), False, [KEY_WIDE]),
        (
            (
                allow(
                    "kms:Decrypt",
                    Condition={"StringEquals": {"kms:ViaService": "s3.eu-central-1.amazonaws.com"}},
                ),
            ),
            False,
            ["allows kms:Decrypt on every KMS key"],
        ),
        (({"Effect": "Deny", "Action": "*", "Resource": "*"},), False, []),
        ((allow("s3:GetObject"), allow("*", "arn:aws:s3:::reports/*")), False, []),
    ],
    ids=[
        "everything",
        "star-colon-star",
        "all-of-kms",
        "decrypt",
        "every-key-pattern",
        "every-arn",
        "one-key",
        "aliases",
        "not-resource-elsewhere",
        "not-resource-keys",
        "all-but-kms",
        "all-but-iam",
        "conditional",
        "deny",
        "narrow",
    ],
)
def test_what_a_policy_grants_on_everything_and_on_every_key(
    statements: tuple[dict[str, Any], ...], admin: bool, gaps: list[str]
) -> None:
    assert rights(planned(document(*statements))) == {"admin": admin, "access_gaps": gaps}
    live = live_iam_policy({"document": json.loads(document(*statements))})
    assert rights(live) == {"admin": admin, "access_gaps": gaps}


@pytest.mark.parametrize("policy", [UNKNOWN, "{not json"], ids=["known-after-apply", "malformed"])
def test_a_policy_that_cannot_be_read_grants_unknown_rights(policy: Any) -> None:
    assert planned(policy) == {}
    assert live_iam_policy({"document": UNKNOWN}) == {}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
statement_keys = st.sampled_from(["Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"])
statements = st.dictionaries(statement_keys, json_values | st.sampled_from(["Allow", "*", "kms:*"]))


@given(st.lists(statements | json_values, max_size=4) | statements | json_values, json_values)
def test_any_document_is_judged_or_left_unknown(found: Any, other: Any) -> None:
    """Whatever a policy's text holds, its facts are established or unknown, never a crash."""
    for policy in (json.dumps({"Statement": found}), json.dumps(other)):
        facts = planned(policy)
        assert set(facts) <= {"admin", "access_gaps", "escalation"}
        assert isinstance(facts.get("admin", False), bool)
        assert isinstance(facts.get("access_gaps", []), list)
        assert isinstance(facts.get("escalation", []), list)


def test_planned_policies_of_every_owner_are_access_policies(tmp_path: Path) -> None:
    grant = document(allow("kms:Decrypt"))
    changes = [
        Change("aws_iam_policy.ops", "aws_iam_policy", {"name": "ops", "policy": document(allow("*"))}),
        Change(
            "aws_iam_role_policy.app", "aws_iam_role_policy", {"name": "app", "role": "app", "policy": grant}
        ),
        Change(
            "aws_iam_user_policy.ci", "aws_iam_user_policy", {"name": "ci", "user": "ci", "policy": grant}
        ),
        Change(
            "aws_iam_group_policy.ops",
            "aws_iam_group_policy",
            {"name": "ops", "group": "ops", "policy": grant},
        ),
        Change(
            "aws_iam_role_policy.later",
            "aws_iam_role_policy",
            {"name": "later", "role": "app"},
            unknown={"policy": True},
        ),
    ]
    found = {
        r.id: r for r in discover_plan(write_plan(tmp_path / "plan.json", *changes), "acceptance").resources
    }
    assert {r.kind for r in found.values()} == {"access_policy"}

    def rights(address: str) -> dict[str, Any]:
        return {k: v for k, v in found[address].facts.items() if k in ("admin", "access_gaps")}

    assert rights("aws_iam_policy.ops") == {"admin": True, "access_gaps": [KEY_WIDE]}
    for owned in ("aws_iam_role_policy.app", "aws_iam_user_policy.ci", "aws_iam_group_policy.ops"):
        assert rights(owned) == {"admin": False, "access_gaps": ["allows kms:Decrypt on every KMS key"]}
    assert rights("aws_iam_role_policy.later") == {}


def test_live_managed_policies_of_the_stage_are_judged(aws: Clients) -> None:  # noqa: F811
    iam = aws("iam")
    decrypt = iam.create_policy(
        PolicyName="decrypt-all", PolicyDocument=document(allow("kms:Decrypt")), Tags=STAGE_TAGS
    )
    iam.create_policy_version(
        PolicyArn=decrypt["Policy"]["Arn"], PolicyDocument=document(allow("*")), SetAsDefault=True
    )
    iam.create_policy(
        PolicyName="other-stage",
        PolicyDocument=document(allow("*")),
        Tags=[{"Key": "stage", "Value": "production"}],
    )
    iam.create_policy(PolicyName="untagged", PolicyDocument=document(allow("*")))
    discovery = discover_aws(source(aws), "acceptance")
    assert discovery.report.complete, discovery.report.errors
    policies = [r for r in discovery.resources if r.kind == "access_policy"]
    assert [(r.id, r.region, r.native_type) for r in policies] == [
        ("arn:aws:iam::123456789012:policy/decrypt-all", "global", "aws_iam_policy")
    ]
    # The default version is the one in force, not the first.
    assert rights(policies[0].facts) == {"admin": True, "access_gaps": [KEY_WIDE]}
    assert "allows iam:PutRolePolicy" in policies[0].facts["escalation"]

    denied = _http_error(403, "AccessDenied", "GetPolicyVersion")
    discovery = discover_aws(
        source(aws),
        "acceptance",
        session_factory=_session_with("before-send.iam.GetPolicyVersion", denied),
    )
    assert not discovery.report.complete
    unread = by_id(discovery.resources)["arn:aws:iam::123456789012:policy/decrypt-all"]
    assert dict(unread.facts) == {}

    denied = _http_error(403, "AccessDenied", "ListPolicies")
    discovery = discover_aws(
        source(aws),
        "acceptance",
        session_factory=_session_with("before-send.iam.ListPolicies", denied),
    )
    assert any("iam.list_policies" in error for error in discovery.report.errors)


SUBSCRIPTION = "/subscriptions/00000000-0000-0000-0000-000000000001"
DUTIES = "the role both deletes Key Vault keys (Microsoft.KeyVault/vaults/keys/delete) and decrypts with them"


def role(
    *permissions: dict[str, Any],
    scope: Any = SUBSCRIPTION,
    configuration: dict[str, Any] | None = None,
    **values: Any,
) -> dict[str, Any]:
    related = {CONFIGURATION: [configuration]} if configuration is not None else {}
    return azure.PLANNED["azurerm_role_definition"].facts(
        {"scope": scope, "permissions": list(permissions), **values}, related
    )


@pytest.mark.parametrize(
    ("permission", "values", "admin"),
    [
        ({"actions": ["*"]}, {}, True),
        ({"actions": ["*"]}, {"assignable_scopes": ["/"]}, True),
        (
            {"actions": ["*"]},
            {"assignable_scopes": ["/providers/Microsoft.Management/managementGroups/payments"]},
            True,
        ),
        ({"actions": ["*"]}, {"scope": f"{SUBSCRIPTION}/resourceGroups/ledger"}, False),
        ({"actions": ["*"]}, {"assignable_scopes": [f"{SUBSCRIPTION}/resourceGroups/ledger"]}, False),
        ({"actions": ["Microsoft.Compute/*"]}, {}, False),
    ],
    ids=[
        "subscription",
        "root",
        "management-group",
        "resource-group",
        "assignable-to-a-group",
        "one-service",
    ],
)
def test_a_custom_role_with_every_action_above_resource_groups_is_an_administrator(
    permission: dict[str, Any], values: dict[str, Any], admin: bool
) -> None:
    assert role(permission, **values)["admin"] is admin


def test_assignable_scopes_left_to_the_provider_are_the_role_s_scope() -> None:
    everything = {"actions": ["*"]}
    assert role(everything, assignable_scopes=UNKNOWN, configuration={"name": {}})["admin"] is True
    # Set in the configuration but known only after apply: nobody can tell yet.
    assert "admin" not in role(everything, assignable_scopes=UNKNOWN, configuration={"assignable_scopes": {}})
    assert "admin" not in role(everything, scope=UNKNOWN)


@pytest.mark.parametrize(
    ("permissions", "gaps"),
    [
        (({"data_actions": ["Microsoft.KeyVault/vaults/keys/*"]},), [DUTIES]),
        (({"data_actions": ["*"]},), [DUTIES]),
        (
            (
                {"data_actions": ["Microsoft.KeyVault/vaults/keys/delete"]},
                {"data_actions": ["microsoft.keyvault/vaults/keys/decrypt/action"]},
            ),
            [DUTIES],
        ),
        (({"data_actions": ["Microsoft.KeyVault/vaults/keys/*"], "not_data_actions": ["*/delete"]},), []),
        (
            (
                {
                    "data_actions": [
                        "Microsoft.KeyVault/vaults/keys/decrypt/action",
                        "Microsoft.KeyVault/vaults/keys/read",
                    ]
                },
            ),
            [],
        ),
        (({"actions": ["*"]},), []),
    ],
    ids=[
        "all-of-keys",
        "every-data-action",
        "across-blocks",
        "all-but-delete",
        "use-only",
        "control-plane-only",
    ],
)
def test_a_custom_role_that_deletes_keys_and_decrypts_with_them_is_a_gap(
    permissions: tuple[dict[str, Any], ...], gaps: list[str]
) -> None:
    assert role(*permissions)["access_gaps"] == gaps


def test_iam_004_and_kms_003_judge_the_plan_s_policies_end_to_end(pytester: pytest.Pytester) -> None:
    custom_admin = {
        "name": "breakglass",
        "scope": SUBSCRIPTION,
        "permissions": [{"actions": ["*"], "data_actions": ["Microsoft.KeyVault/vaults/keys/*"]}],
    }
    write_plan(
        pytester.path / "plan.json",
        Change("aws_iam_policy.ops", "aws_iam_policy", {"name": "ops", "policy": document(allow("*"))}),
        Change(
            "aws_iam_role_policy.app",
            "aws_iam_role_policy",
            {"name": "app", "role": "app", "policy": document(allow("kms:Decrypt", "arn:aws:kms:*:*:key/*"))},
        ),
        Change(
            "aws_iam_role_policy.reports",
            "aws_iam_role_policy",
            {
                "name": "reports",
                "role": "reports",
                "policy": document(allow("s3:GetObject", "arn:aws:s3:::reports/*")),
            },
        ),
        Change("azurerm_role_definition.breakglass", "azurerm_role_definition", custom_admin),
        Change(
            "google_project_iam_member.owner",
            "google_project_iam_member",
            {"project": "payments-4821", "role": "roles/owner", "member": "user:ops@example.com"},
        ),
    )
    outcomes = results_by_control(judge_plan(pytester, "IAM-004", "KMS-003"))
    assert outcomes["IAM-004"] == {
        "aws_iam_policy.ops": "failed",
        "aws_iam_role_policy.app": "passed",
        "aws_iam_role_policy.reports": "passed",
        "azurerm_role_definition.breakglass": "failed",
        "google_project_iam_member.owner": "failed",
    }
    assert outcomes["KMS-003"] == {
        "aws_iam_policy.ops": "failed",
        "aws_iam_role_policy.app": "failed",
        "aws_iam_role_policy.reports": "passed",
        "azurerm_role_definition.breakglass": "failed",
        "google_project_iam_member.owner": "passed",
    }


def hierarchy(native_type: str, values: dict[str, Any]) -> dict[str, Any]:
    return gcp.PLANNED[native_type].facts({"project": "payments-4821", **values}, {})


@pytest.mark.parametrize(
    ("role", "member", "admin"),
    [
        ("roles/owner", "user:ops@example.com", True),
        ("roles/editor", "group:developers@example.com", True),
        ("roles/iam.serviceAccountUser", "user:ops@example.com", True),
        ("roles/iam.serviceAccountTokenCreator", "user:ops@example.com", True),
        ("roles/cloudsql.admin", "serviceAccount:app@payments-4821.iam.gserviceaccount.com", True),
        ("roles/cloudsql.admin", "group:dba@example.com", False),
        ("roles/viewer", "serviceAccount:app@payments-4821.iam.gserviceaccount.com", False),
    ],
)
def test_a_project_grant_that_holds_everything_is_an_administrator(
    role: str, member: str, admin: bool
) -> None:
    assert hierarchy("google_project_iam_member", {"role": role, "member": member})["admin"] is admin
    binding = hierarchy(
        "google_folder_iam_binding", {"role": role, "members": ["user:a@example.com", member]}
    )
    assert binding["admin"] is admin


def test_a_cloud_kms_role_on_a_project_reaches_every_key_in_it() -> None:
    policy = json.dumps(
        {
            "bindings": [
                {"role": "roles/cloudkms.cryptoKeyDecrypter", "members": ["serviceAccount:app@p.iam"]},
                {"role": "roles/viewer", "members": ["group:audit@example.com"]},
            ]
        }
    )
    assert rights(hierarchy("google_project_iam_policy", {"policy_data": policy})) == {
        "admin": False,
        "access_gaps": [
            "grants roles/cloudkms.cryptoKeyDecrypter on every Cloud KMS key of the project"
            " to serviceAccount:app@p.iam"
        ],
    }
    admin = hierarchy(
        "google_organization_iam_member", {"role": "roles/cloudkms.admin", "member": "user:a@x.com"}
    )
    assert admin["access_gaps"] == [
        "grants roles/cloudkms.admin on every Cloud KMS key of the organization to user:a@x.com"
    ]


@pytest.mark.parametrize(
    "values",
    [
        {"role": UNKNOWN, "member": "user:ops@example.com"},
        {"role": "roles/owner", "members": UNKNOWN},
        {"policy_data": UNKNOWN},
        {"policy_data": "[]"},
    ],
    ids=["role-after-apply", "members-after-apply", "policy-after-apply", "not-a-policy"],
)
def test_a_grant_the_plan_cannot_show_grants_unknown_rights(values: dict[str, Any]) -> None:
    native = "google_project_iam_policy" if "policy_data" in values else "google_project_iam_binding"
    assert hierarchy(native, values) == {}


def test_a_live_role_is_an_administrator_by_any_policy_it_holds(aws: Clients) -> None:  # noqa: F811
    iam = aws("iam")
    trust = json.dumps({"Version": "2012-10-17", "Statement": []})
    for name in ("batch", "api", "someone-elses"):
        tags = STAGE_TAGS if name != "someone-elses" else [{"Key": "stage", "Value": "production"}]
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust, Tags=tags)
    iam.put_role_policy(RoleName="batch", PolicyName="all", PolicyDocument=document(allow("*")))
    narrow = iam.create_policy(PolicyName="reports", PolicyDocument=document(allow("s3:GetObject")))
    iam.attach_role_policy(RoleName="api", PolicyArn=narrow["Policy"]["Arn"])
    roles = {
        r.id: r for r in discover_aws(source(aws), "acceptance").resources if r.native_type == "aws_iam_role"
    }
    assert {arn: (r.kind, r.facts["admin"], r.facts["access_gaps"]) for arn, r in roles.items()} == {
        "arn:aws:iam::123456789012:role/batch": ("identity", True, [KEY_WIDE]),
        "arn:aws:iam::123456789012:role/api": ("identity", False, []),
    }

    denied = _http_error(403, "AccessDenied", "ListRolePolicies")
    discovery = discover_aws(
        source(aws), "acceptance", session_factory=_session_with("before-send.iam.ListRolePolicies", denied)
    )
    assert not discovery.report.complete
    unread = by_id(discovery.resources)["arn:aws:iam::123456789012:role/batch"].facts
    assert {"admin", "access_gaps"}.isdisjoint(unread)

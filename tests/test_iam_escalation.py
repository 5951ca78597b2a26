"""Ways for a grant's holder to raise its own rights (IAM-004's `escalation`): AWS IAM's published
privilege-escalation methods, Azure custom roles that grant roles, GCP roles that change who
holds what."""

from __future__ import annotations

import json
from typing import Any

import pytest

from regops.model import UNKNOWN
from regops.normalize import gcp
from regops.normalize.aws import ESCALATION_PATHS, PLANNED, escalation_paths
from tests.helpers import judge_plan, result_rows
from tests.plans import Change, refer, write_plan
from tests.test_iam_policies import SUBSCRIPTION, allow, document, hierarchy, role

ACCOUNT = "123456789012"


@pytest.mark.parametrize(
    ("statements", "paths"),
    [
        ((allow("iam:PutRolePolicy"),), ["allows iam:PutRolePolicy"]),
        ((allow("iam:PutRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/app"),), []),
        ((allow("iam:PutRolePolicy", "arn:aws:iam::*:role/*"),), ["allows iam:PutRolePolicy"]),
        (
            (allow("iam:Put*"),),
            ["allows iam:PutUserPolicy", "allows iam:PutGroupPolicy", "allows iam:PutRolePolicy"],
        ),
        ((allow("iam:PassRole"),), []),
        ((allow(["iam:PassRole", "ec2:RunInstances"]),), ["allows iam:PassRole with ec2:RunInstances"]),
        (
            (allow("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/batch"), allow("ec2:RunInstances")),
            [],
        ),
        ((allow(["iam:PassRole", "lambda:CreateFunction"]),), []),
        (
            (allow(["iam:PassRole", "lambda:CreateFunction", "lambda:InvokeFunction"]),),
            ["allows iam:PassRole with lambda:CreateFunction with lambda:InvokeFunction"],
        ),
        ((allow("iam:UpdateAssumeRolePolicy"),), []),
        (
            (allow("iam:UpdateAssumeRolePolicy"), allow("sts:AssumeRole")),
            ["allows iam:UpdateAssumeRolePolicy with sts:AssumeRole"],
        ),
        (
            (allow("lambda:UpdateFunctionCode", f"arn:aws:lambda:eu-central-1:{ACCOUNT}:function:reports"),),
            [],
        ),
        (
            (allow("lambda:UpdateFunctionCode", "arn:aws:lambda:*:*:function:*"),),
            ["allows lambda:UpdateFunctionCode"],
        ),
        (
            ({"Effect": "Allow", "NotAction": ["iam:*", "organizations:*"], "Resource": "*"},),
            ["allows lambda:UpdateFunctionCode", "allows glue:UpdateDevEndpoint"],
        ),
        (({"Effect": "Deny", "Action": "*", "Resource": "*"},), []),
        (
            (
                {
                    "Effect": "Allow",
                    "Action": "iam:CreateAccessKey",
                    "NotResource": f"arn:aws:iam::{ACCOUNT}:user/ci",
                },
            ),
            ["allows iam:CreateAccessKey"],
        ),
        (
            ({"Effect": "Allow", "Action": "iam:CreateAccessKey", "NotResource": "arn:aws:iam::*:user/*"},),
            [],
        ),
        ((allow(["s3:*", "kms:Decrypt", "iam:Get*", "iam:List*"]),), []),
    ],
    ids=[
        "put-role-policy",
        "named-role",
        "every-role-pattern",
        "put-wildcard",
        "pass-role-alone",
        "pass-role-and-run-instances",
        "pass-role-to-one-role",
        "create-function-without-a-trigger",
        "create-and-invoke",
        "trust-without-assume",
        "trust-and-assume",
        "named-function",
        "every-function",
        "all-but-iam",
        "deny",
        "every-user-but-one",
        "no-user",
        "read-only-iam",
    ],
)
def test_the_ways_a_policy_lets_its_holder_raise_its_rights(
    statements: tuple[dict[str, Any], ...], paths: list[str]
) -> None:
    assert escalation_paths(document(*statements)) == paths


def passed_to(operator: str, *services: str) -> dict[str, Any]:
    return {operator: {"iam:PassedToService": list(services)}}


@pytest.mark.parametrize(
    ("condition", "escalates"),
    [
        (passed_to("StringEquals", "ec2.amazonaws.com"), True),
        (passed_to("StringEquals", "lambda.amazonaws.com", "ecs-tasks.amazonaws.com"), False),
        (passed_to("ForAnyValue:StringLike", "ec2.*"), True),
        (passed_to("StringEqualsIfExists", "dax.amazonaws.com"), False),
        # A negated operator passes the role to every other service, EC2 among them.
        (passed_to("StringNotEquals", "lambda.amazonaws.com"), True),
        ({"Bool": {"aws:MultiFactorAuthPresent": "true"}}, True),
    ],
    ids=["to-ec2", "to-others", "like-ec2", "if-exists-elsewhere", "not-equals", "other-condition"],
)
def test_pass_role_counts_only_towards_the_service_it_may_reach(
    condition: dict[str, Any], escalates: bool
) -> None:
    policy = document(allow("iam:PassRole", Condition=condition), allow("ec2:RunInstances"))
    assert escalation_paths(policy) == (["allows iam:PassRole with ec2:RunInstances"] if escalates else [])


def test_every_action_on_every_resource_takes_every_path() -> None:
    assert len(escalation_paths(document(allow("*")))) == len(ESCALATION_PATHS)


def test_a_path_may_run_across_the_policies_a_role_holds() -> None:
    values = {
        "name": "deployer",
        "inline_policy": [
            {"name": "pass", "policy": document(allow("iam:PassRole"))},
            {"name": "run", "policy": document(allow("ec2:RunInstances"))},
        ],
        "managed_policy_arns": [],
    }
    facts = PLANNED["aws_iam_role"].facts(values, {})
    assert facts["escalation"] == ["allows iam:PassRole with ec2:RunInstances"]
    # Either policy unread could complete a path: the fact is unknown, never a partial list.
    values["inline_policy"][1]["policy"] = UNKNOWN
    assert "escalation" not in PLANNED["aws_iam_role"].facts(values, {})


def test_an_aws_managed_policy_completes_a_path_another_policy_begins() -> None:
    dynamodb = "arn:aws:iam::aws:policy/AmazonDynamoDBFullAccess"
    values = {"name": "r", "inline_policy": [], "managed_policy_arns": [dynamodb]}
    # Alone it passes roles to Auto Scaling and DAX only.
    assert PLANNED["aws_iam_role"].facts(values, {})["escalation"] == []
    values["inline_policy"] = [{"name": "pass", "policy": document(allow("iam:PassRole"))}]
    assert PLANNED["aws_iam_role"].facts(values, {})["escalation"] == [
        "allows iam:PassRole with lambda:CreateFunction with lambda:CreateEventSourceMapping",
        "allows iam:PassRole with datapipeline:CreatePipeline with datapipeline:PutPipelineDefinition",
    ]


@pytest.mark.parametrize(
    ("permission", "values", "paths"),
    [
        (
            {"actions": ["Microsoft.Authorization/*"]},
            {},
            [
                "allows Microsoft.Authorization/roleAssignments/write above resource groups",
                "allows Microsoft.Authorization/roleDefinitions/write above resource groups",
            ],
        ),
        (
            {"actions": ["*"], "not_actions": ["Microsoft.Authorization/roleAssignments/*"]},
            {},
            ["allows Microsoft.Authorization/roleDefinitions/write above resource groups"],
        ),
        (
            {"actions": ["Microsoft.Authorization/roleAssignments/write"]},
            {"assignable_scopes": [f"{SUBSCRIPTION}/resourceGroups/ledger"]},
            [],
        ),
        ({"actions": ["Microsoft.Authorization/*/read"]}, {}, []),
    ],
    ids=["authorization", "all-but-assignments", "resource-group", "read"],
)
def test_an_azure_custom_role_that_grants_roles_above_resource_groups(
    permission: dict[str, Any], values: dict[str, Any], paths: list[str]
) -> None:
    assert role(permission, **values)["escalation"] == paths


def test_a_gcp_role_that_changes_who_holds_what() -> None:
    policy = json.dumps(
        {
            "bindings": [
                {"role": "roles/resourcemanager.projectIamAdmin", "members": ["user:ops@example.com"]},
                {"role": "roles/iam.serviceAccountKeyAdmin", "members": ["group:platform@example.com"]},
                {"role": "roles/viewer", "members": ["group:audit@example.com"]},
            ]
        }
    )
    assert hierarchy("google_project_iam_policy", {"policy_data": policy})["escalation"] == [
        "grants roles/resourcemanager.projectIamAdmin on the project to user:ops@example.com",
        "grants roles/iam.serviceAccountKeyAdmin on the project to group:platform@example.com",
    ]
    viewer = hierarchy("google_folder_iam_member", {"role": "roles/viewer", "member": "user:a@example.com"})
    assert viewer["escalation"] == []


def test_iam_004_names_the_way_up_end_to_end(pytester: pytest.Pytester) -> None:
    write_plan(
        pytester.path / "plan.json",
        Change(
            "aws_iam_policy.deployer",
            "aws_iam_policy",
            {"name": "deployer", "policy": document(allow(["iam:PassRole", "ec2:RunInstances"]))},
        ),
        Change(
            "aws_iam_policy.batch",
            "aws_iam_policy",
            {
                "name": "batch",
                "policy": document(
                    allow("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/batch"), allow("ec2:RunInstances")
                ),
            },
        ),
        Change(
            "google_project_iam_custom_role.grantor",
            "google_project_iam_custom_role",
            {
                "role_id": "grantor",
                "project": "payments-4821",
                "permissions": ["resourcemanager.projects.setIamPolicy"],
            },
        ),
    )
    rows = result_rows(judge_plan(pytester, "IAM-004"))
    assert {(resource, outcome) for _, resource, outcome, _ in rows} == {
        ("aws_iam_policy.deployer", "failed"),
        ("aws_iam_policy.batch", "passed"),
        ("google_project_iam_custom_role.grantor", "failed"),
    }
    failures = {resource: message for _, resource, outcome, message in rows if outcome == "failed"}
    assert (
        "may raise its own rights: allows iam:PassRole with ec2:RunInstances"
        in failures["aws_iam_policy.deployer"]
    )
    assert (
        "allows resourcemanager.projects.setIamPolicy" in failures["google_project_iam_custom_role.grantor"]
    )


@pytest.mark.parametrize(
    ("values", "escalation", "gaps"),
    [
        ({"permissions": ["storage.objects.get", "storage.objects.list"]}, [], []),
        (
            {"permissions": ["iam.serviceAccounts.actAs", "run.services.create", "run.services.get"]},
            ["allows iam.serviceAccounts.actAs with run.services.create"],
            [],
        ),
        ({"permissions": ["iam.serviceAccounts.actAs"]}, [], []),
        (
            {"permissions": ["iam.serviceAccountKeys.create", "iam.roles.update"]},
            ["allows iam.roles.update", "allows iam.serviceAccountKeys.create"],
            [],
        ),
        ({"permissions": ["iam.roles.update"], "stage": "DISABLED"}, [], []),
        ({"permissions": ["iam.roles.update"], "deleted": True}, [], []),
        (
            {
                "permissions": [
                    "cloudkms.cryptoKeyVersions.destroy",
                    "cloudkms.cryptoKeyVersions.useToDecrypt",
                ]
            },
            [],
            [
                "the role both destroys Cloud KMS key versions (cloudkms.cryptoKeyVersions.destroy)"
                " and decrypts with them"
            ],
        ),
    ],
    ids=["reader", "act-as-and-deploy", "act-as-alone", "keys-and-roles", "disabled", "deleted", "custody"],
)
def test_a_gcp_custom_role_is_judged_by_its_permissions(
    values: dict[str, Any], escalation: list[str], gaps: list[str]
) -> None:
    for native_type in ("google_project_iam_custom_role", "google_organization_iam_custom_role"):
        facts = gcp.PLANNED[native_type].facts({"role_id": "r", **values}, {})
        assert facts == {"admin": False, "escalation": escalation, "access_gaps": gaps}


def test_a_gcp_custom_role_known_after_apply_grants_unknown_rights() -> None:
    facts = gcp.PLANNED["google_project_iam_custom_role"].facts({"role_id": "r", "permissions": UNKNOWN}, {})
    assert facts == {"admin": False}


def test_a_planned_grant_of_the_plan_s_custom_role_gives_what_the_role_permits(
    pytester: pytest.Pytester,
) -> None:
    role = Change(
        "google_project_iam_custom_role.grantor",
        "google_project_iam_custom_role",
        {
            "role_id": "grantor",
            "project": "payments-4821",
            "permissions": ["resourcemanager.projects.setIamPolicy"],
        },
        unknown={"name": True, "id": True},
    )
    # The role's name is known only after apply: the grant names it by reference.
    grant = Change(
        "google_project_iam_member.ci",
        "google_project_iam_member",
        {"project": "payments-4821", "member": "serviceAccount:ci@payments-tools.iam.gserviceaccount.com"},
        unknown={"role": True},
        expressions={
            "role": refer(
                "google_project_iam_custom_role.grantor.id", "google_project_iam_custom_role.grantor"
            )
        },
    )
    write_plan(pytester.path / "plan.json", role, grant)
    rows = result_rows(judge_plan(pytester, "IAM-004"))
    failures = {resource: message for _, resource, outcome, message in rows if outcome == "failed"}
    assert set(failures) == {"google_project_iam_custom_role.grantor", "google_project_iam_member.ci"}
    assert (
        "grants projects/payments-4821/roles/grantor on the project to"
        " serviceAccount:ci@payments-tools.iam.gserviceaccount.com, which allows"
        " resourcemanager.projects.setIamPolicy" in failures["google_project_iam_member.ci"]
    )

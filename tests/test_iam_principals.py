"""Planned AWS roles, users and groups: identities judged with every policy the plan gives them
(inline, attached from the plan or from AWS's managed policies), and attachments kept apart
from a holder the plan does not hold."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regops.discovery.terraform_plan import discover_plan
from regops.model import UNKNOWN, Resource
from regops.normalize.aws import (
    AWS_MANAGED_GRANTS,
    PLANNED,
    aws_managed_policy,
    grants_everything,
    key_wide_grants,
)
from regops.normalize.common import Unknown
from tests.helpers import judge_plan, results_by_control
from tests.plans import Change, plan, refer, write_plan
from tests.test_iam_policies import KEY_WIDE, allow, document

ADMINISTRATOR = "arn:aws:iam::aws:policy/AdministratorAccess"
POWER_USER = "arn:aws:iam::aws:policy/PowerUserAccess"
LAMBDA_LOGS = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
OUTSIDE = "arn:aws:iam::123456789012:policy/made-elsewhere"
DECRYPT_ALL = "allows kms:Decrypt on every KMS key"


def role(name: str, **values: Any) -> Change:
    return Change(f"aws_iam_role.{name}", "aws_iam_role", {"name": name, **values}, **_computed(values))


def _computed(values: dict[str, Any]) -> dict[str, Any]:
    """A role's `inline_policy` and `managed_policy_arns` the configuration does not set are
    computed: known after apply, and absent from the configuration."""
    left = {a: True for a in ("inline_policy", "managed_policy_arns") if a not in values}
    return {"unknown": left, "expressions": {a: {"constant_value": values[a]} for a in values}}


def attachment(name: str, holder: str, policy_arn: str | None, **more: Any) -> Change:
    """`holder` is "role.app", "user.ci" or "group.ops"; a None `policy_arn` refers to the plan's
    `aws_iam_policy.<name>`, whose ARN is known after apply."""
    kind, holder_name = holder.split(".")
    native_type = f"aws_iam_{kind}_policy_attachment"
    expressions = {kind: refer(f"aws_iam_{kind}.{holder_name}.name", f"aws_iam_{kind}.{holder_name}")}
    if policy_arn is None:
        expressions["policy_arn"] = refer(f"aws_iam_policy.{name}.arn", f"aws_iam_policy.{name}")
        return Change(
            f"{native_type}.{name}",
            native_type,
            {kind: holder_name},
            unknown={"policy_arn": True},
            expressions=expressions,
            **more,
        )
    return Change(
        f"{native_type}.{name}",
        native_type,
        {kind: holder_name, "policy_arn": policy_arn},
        expressions=expressions,
    )


def policy(name: str, *statements: dict[str, Any]) -> Change:
    return Change(f"aws_iam_policy.{name}", "aws_iam_policy", {"name": name, "policy": document(*statements)})


def discover(tmp_path: Path, *changes: Change) -> dict[str, Resource]:
    found = discover_plan(write_plan(tmp_path / "plan.json", *changes), "acceptance")
    return {r.id: r for r in found.resources}


def rights(resource: Resource) -> dict[str, Any]:
    return {k: v for k, v in resource.facts.items() if k in ("admin", "access_gaps")}


def test_a_role_holds_its_inline_policies_and_managed_policy_arns(tmp_path: Path) -> None:
    found = discover(
        tmp_path,
        role("inline", inline_policy=[{"name": "all", "policy": document(allow("*"))}]),
        role("managed", managed_policy_arns=[LAMBDA_LOGS, POWER_USER]),
        role("plain"),
    )
    assert {r.kind for r in found.values()} == {"identity"}
    assert rights(found["aws_iam_role.inline"]) == {"admin": True, "access_gaps": [KEY_WIDE]}
    assert rights(found["aws_iam_role.managed"]) == {"admin": False, "access_gaps": [KEY_WIDE]}
    assert rights(found["aws_iam_role.plain"]) == {"admin": False, "access_gaps": []}
    # No password, no access key; policies are how a role grants.
    assert {k: found["aws_iam_role.plain"].facts[k] for k in ("console_access", "direct_policies")} == {
        "console_access": False,
        "direct_policies": None,
    }
    assert found["aws_iam_role.plain"].facts["access_key_max_age_days"] is None


def test_attachments_and_inline_policies_are_folded_into_their_role(tmp_path: Path) -> None:
    """Whatever the plan's order, an attachment reaches its role carrying the plan's own policy."""
    changes = [
        role("app"),
        policy("decrypt", allow("kms:Decrypt")),
        attachment("decrypt", "role.app", None),
        attachment("logs", "role.app", LAMBDA_LOGS),
        Change(
            "aws_iam_role_policy.reports",
            "aws_iam_role_policy",
            {"name": "reports", "role": "app", "policy": document(allow("s3:GetObject", "arn:aws:s3:::r/*"))},
            expressions={"role": refer("aws_iam_role.app.id", "aws_iam_role.app")},
        ),
    ]
    for order in (changes, changes[::-1]):
        found = discover(tmp_path, *order)
        assert set(found) == {"aws_iam_role.app", "aws_iam_policy.decrypt"}
        app = found["aws_iam_role.app"]
        assert rights(app) == {"admin": False, "access_gaps": [DECRYPT_ALL]}
        assert set(app.components) == {
            "aws_iam_role_policy_attachment.decrypt",
            "aws_iam_role_policy_attachment.logs",
            "aws_iam_role_policy.reports",
        }


def test_a_policy_the_plan_cannot_show_leaves_a_role_s_rights_unknown_unless_others_settle_them(
    tmp_path: Path,
) -> None:
    found = discover(
        tmp_path,
        role("outside"),
        attachment("outside", "role.outside", OUTSIDE),
        role("admin"),
        attachment("admin_outside", "role.admin", OUTSIDE),
        attachment("admin", "role.admin", ADMINISTRATOR),
        role("later", inline_policy=[{"name": "x"}]),
        role("unlisted", managed_policy_arns=["arn:aws:iam::aws:policy/SomeNewServicePolicy"]),
    )
    assert rights(found["aws_iam_role.outside"]) == {}
    # One policy granting everything settles both facts whatever the other grants.
    assert rights(found["aws_iam_role.admin"]) == {"admin": True, "access_gaps": [KEY_WIDE]}
    # A configured inline policy without its text, an AWS managed policy regops does not know.
    assert rights(found["aws_iam_role.later"]) == {"admin": False, "access_gaps": []}
    assert rights(found["aws_iam_role.unlisted"]) == {}


def test_a_configured_inline_policy_known_after_apply_is_unknown(tmp_path: Path) -> None:
    later = Change(
        "aws_iam_role.later",
        "aws_iam_role",
        {"name": "later", "managed_policy_arns": []},
        unknown={"inline_policy": True},
        expressions={"inline_policy": [{"policy": refer("aws_s3_bucket.x.arn")}]},
    )
    assert rights(discover(tmp_path, later)["aws_iam_role.later"]) == {}


def test_an_attachment_whose_holder_is_not_in_the_plan_is_a_grant_of_its_own(tmp_path: Path) -> None:
    found = discover(
        tmp_path,
        attachment("admin", "role.elsewhere", ADMINISTRATOR),
        attachment("logs", "group.elsewhere", LAMBDA_LOGS),
        Change(
            "aws_iam_policy_attachment.everyone",
            "aws_iam_policy_attachment",
            {"name": "everyone", "users": ["ci"], "roles": [], "groups": [], "policy_arn": POWER_USER},
        ),
    )
    assert {r.kind for r in found.values()} == {"access_policy"}
    assert rights(found["aws_iam_role_policy_attachment.admin"]) == {"admin": True, "access_gaps": [KEY_WIDE]}
    assert rights(found["aws_iam_group_policy_attachment.logs"]) == {"admin": False, "access_gaps": []}
    assert rights(found["aws_iam_policy_attachment.everyone"]) == {"admin": False, "access_gaps": [KEY_WIDE]}
    report = discover_plan(tmp_path / "plan.json", "acceptance").report
    assert any(
        note.startswith(
            "aws_iam_role_policy_attachment.admin: the aws_iam_role it configures is not in this plan"
        )
        for note in report.notes
    )


def user(name: str) -> Change:
    return Change(f"aws_iam_user.{name}", "aws_iam_user", {"name": name})


def of_user(native_type: str, name: str, holder: str, values: dict[str, Any], **more: Any) -> Change:
    """A block that names its user by reference: a login profile, an access key."""
    reference = {"user": refer(f"aws_iam_user.{holder}.name")}
    return Change(
        f"{native_type}.{name}", native_type, {"user": holder, **values}, expressions=reference, **more
    )


def test_a_user_has_the_credentials_and_policies_the_plan_gives_it(tmp_path: Path) -> None:
    old = (datetime.now(UTC) - timedelta(days=200)).strftime("%Y-%m-%dT%H:%M:%SZ")
    key = "aws_iam_access_key"
    found = discover(
        tmp_path,
        user("console"),
        of_user("aws_iam_user_login_profile", "console", "console", {}),
        user("ci"),
        of_user(key, "new", "ci", {"status": "Active"}, unknown={"create_date": True}),
        of_user(key, "old", "ci", {"status": "Active", "create_date": old}, actions=("no-op",)),
        attachment("ci", "user.ci", LAMBDA_LOGS),
        user("retired"),
        of_user(key, "retired", "retired", {"status": "Inactive", "create_date": old}, actions=("no-op",)),
    )
    console, ci, retired = (found[f"aws_iam_user.{n}"].facts for n in ("console", "ci", "retired"))
    assert (console["console_access"], ci["console_access"]) == (True, False)
    # MFA is enrolled by a person: never in a plan.
    assert "mfa_enabled" not in console
    assert (console["access_key_max_age_days"], ci["access_key_max_age_days"]) == (None, 200)
    assert retired["access_key_max_age_days"] is None
    assert (console["direct_policies"], ci["direct_policies"]) == (False, True)
    assert rights(found["aws_iam_user.ci"]) == {"admin": False, "access_gaps": []}


@pytest.mark.parametrize(
    ("arn", "admin", "gaps"),
    [
        (ADMINISTRATOR, True, [KEY_WIDE]),
        ("arn:aws-us-gov:iam::aws:policy/AdministratorAccess", True, [KEY_WIDE]),
        (POWER_USER, False, [KEY_WIDE]),
        (LAMBDA_LOGS, False, []),
        ("arn:aws:iam::aws:policy/AWSKeyManagementServicePowerUser", False, []),
        (
            "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup",
            False,
            ["allows kms:Decrypt, kms:ReEncryptFrom on every KMS key"],
        ),
        ("arn:aws:iam::aws:policy/AmazonDynamoDBFullAccess", False, []),
    ],
)
def test_aws_managed_policies_stand_for_what_they_grant(arn: str, admin: bool, gaps: list[str]) -> None:
    standing = aws_managed_policy(arn)
    assert (grants_everything(standing), key_wide_grants(standing)) == (admin, gaps)


@pytest.mark.parametrize(
    "arn",
    [
        OUTSIDE,
        "arn:aws:iam::aws:policy/AWSLambdaBasicExecutionRole",  # the path is part of the name
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole/extra",
        "AdministratorAccess",
    ],
)
def test_any_other_policy_arn_is_unknown(arn: str) -> None:
    with pytest.raises(Unknown):
        aws_managed_policy(arn)


ESCALATING = {"AdministratorAccess", "PowerUserAccess", "IAMFullAccess"}
KEY_WIDE_HOLDERS = {
    "AdministratorAccess",
    "PowerUserAccess",
    "service-role/AWSBackupServiceRolePolicyForBackup",
}


@settings(max_examples=60, deadline=None)
@given(st.permutations(list(AWS_MANAGED_GRANTS)), st.integers(min_value=0, max_value=3))
def test_a_role_is_as_strong_as_the_strongest_policy_it_holds(names: list[str], count: int) -> None:
    held = names[:count]
    arns = [f"arn:aws:iam::aws:policy/{name}" for name in held]
    facts = PLANNED["aws_iam_role"].facts({"name": "r", "inline_policy": [], "managed_policy_arns": arns}, {})
    assert facts["admin"] == ("AdministratorAccess" in held)
    assert bool(facts["access_gaps"]) == bool(KEY_WIDE_HOLDERS & set(held))
    assert bool(facts["escalation"]) == bool(ESCALATING & set(held))


def test_iam_controls_judge_planned_principals_end_to_end(pytester: pytest.Pytester) -> None:
    write_plan(
        pytester.path / "plan.json",
        role("admin"),
        attachment("admin", "role.admin", ADMINISTRATOR),
        role("app"),
        attachment("app", "role.app", LAMBDA_LOGS),
        role("unknown"),
        attachment("unknown", "role.unknown", OUTSIDE),
        Change("aws_iam_group.ops", "aws_iam_group", {"name": "ops"}),
        attachment("ops", "group.ops", POWER_USER),
        user("console"),
        of_user("aws_iam_user_login_profile", "console", "console", {}),
        attachment("console", "user.console", LAMBDA_LOGS),
    )
    outcomes = results_by_control(judge_plan(pytester, "IAM-003", "IAM-004", "IAM-005", "IAM-006", "KMS-003"))
    assert outcomes["IAM-004"] == {
        "aws_iam_role.admin": "failed",
        "aws_iam_role.app": "passed",
        "aws_iam_role.unknown": "error",
        # PowerUserAccess may change the code of any function, and so act as its role.
        "aws_iam_group.ops": "failed",
        "aws_iam_user.console": "passed",
    }
    assert outcomes["KMS-003"] == {
        "aws_iam_role.admin": "failed",
        "aws_iam_role.app": "passed",
        "aws_iam_role.unknown": "error",
        "aws_iam_group.ops": "failed",
        "aws_iam_user.console": "passed",
    }
    # A console password the plan makes: whether MFA guards it is not known before a person enrols.
    assert outcomes["IAM-003"]["aws_iam_user.console"] == "error"
    assert outcomes["IAM-003"]["aws_iam_role.app"] == "not_applicable"
    assert outcomes["IAM-005"]["aws_iam_user.console"] == "not_applicable"
    assert outcomes["IAM-006"] == {
        "aws_iam_role.admin": "not_applicable",
        "aws_iam_role.app": "not_applicable",
        "aws_iam_role.unknown": "not_applicable",
        "aws_iam_group.ops": "not_applicable",
        "aws_iam_user.console": "failed",
    }


def test_masking_any_input_of_a_holder_only_takes_facts_away() -> None:
    from tests.test_normalize_clouds import _paths, _replace

    values = {
        "name": "r",
        "inline_policy": [
            {
                "name": "logs",
                "policy": document(allow("logs:PutLogEvents", "arn:aws:logs:*:*:log-group:app:*")),
            },
            {"name": "all", "policy": document(allow(["kms:Decrypt", "s3:*"]))},
        ],
        "managed_policy_arns": [LAMBDA_LOGS, ADMINISTRATOR],
    }
    for held in (values, {**values, "managed_policy_arns": [LAMBDA_LOGS]}):
        normalise = PLANNED["aws_iam_role"].facts
        baseline = normalise(held, {})
        assert set(baseline) >= {"admin", "access_gaps"}
        for path in _paths(held):
            facts = normalise(_replace(held, path, UNKNOWN), {})
            assert all(facts[name] == baseline[name] for name in facts), path


def data_policy(address: str, arn: str, *statements: dict[str, Any]) -> dict[str, Any]:
    """A `data "aws_iam_policy"` the plan read, as `prior_state` holds it."""
    name = address.rsplit(".", 1)[-1]
    values = {"arn": arn, "name": arn.rsplit("/", 1)[-1], "policy": document(*statements)}
    return {"address": address, "mode": "data", "type": "aws_iam_policy", "name": name, "values": values}


def test_a_policy_read_by_a_data_source_is_judged_by_its_document(tmp_path: Path) -> None:
    """The idiomatic way to attach a policy made elsewhere: `policy_arn = data.aws_iam_policy.x.arn`.
    The plan holds the document it read; a literal ARN matching it is seen the same way."""
    by_reference = attachment("shared", "role.app", OUTSIDE)
    by_reference.expressions["policy_arn"] = refer(
        "data.aws_iam_policy.shared.arn", "data.aws_iam_policy.shared"
    )
    document_plan = plan(
        role("app"),
        by_reference,
        role("batch"),
        attachment("literal", "role.batch", "arn:aws:iam::123456789012:policy/decrypt"),
        role("deferred"),
        attachment("deferred", "role.deferred", "arn:aws:iam::123456789012:policy/later"),
    )
    document_plan["prior_state"] = {
        "values": {
            "root_module": {
                "resources": [
                    data_policy("data.aws_iam_policy.shared", OUTSIDE, allow("*")),
                    data_policy(
                        "data.aws_iam_policy.decrypt",
                        "arn:aws:iam::123456789012:policy/decrypt",
                        allow("kms:Decrypt"),
                    ),
                ]
            }
        }
    }
    # A data source read only at apply: its document is unknown.
    document_plan["resource_changes"].append(
        {
            "address": "data.aws_iam_policy.later",
            "mode": "data",
            "type": "aws_iam_policy",
            "name": "later",
            "change": {
                "actions": ["read"],
                "after": {"arn": "arn:aws:iam::123456789012:policy/later"},
                "after_unknown": {"policy": True},
            },
        }
    )
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(document_plan), encoding="utf-8")
    found = {r.id: r for r in discover_plan(path, "acceptance").resources}
    # Data sources are read, never resources of the stage.
    assert set(found) == {"aws_iam_role.app", "aws_iam_role.batch", "aws_iam_role.deferred"}
    assert rights(found["aws_iam_role.app"]) == {"admin": True, "access_gaps": [KEY_WIDE]}
    assert rights(found["aws_iam_role.batch"]) == {"admin": False, "access_gaps": [DECRYPT_ALL]}
    assert rights(found["aws_iam_role.deferred"]) == {}

"""ENV-001: the stages kept apart. A resource tagged for another stage does not belong in this
one, and a role may be assumed from its own stage's accounts only."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regops.discovery.aws import discover_aws
from regops.normalize.aws import federated_subjects, open_federation, trusted_accounts
from regops.normalize.common import Unknown
from tests.aws_server import Clients, aws, moto_endpoint  # noqa: F401
from tests.helpers import judge_plan, result_rows
from tests.plans import TAGS, Change, write_plan
from tests.test_discovery_aws import STAGE_TAGS, source
from tests.test_iam_policies import json_values

OWN = "123456789012"
TEST_ACCOUNT = "210987654321"


def trust(*principals: Any, **statement: Any) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole", **statement}
                for principal in principals
            ],
        }
    )


@pytest.mark.parametrize(
    ("document", "accounts"),
    [
        (trust({"Service": "lambda.amazonaws.com"}), []),
        (trust({"AWS": f"arn:aws:iam::{OWN}:root"}), [OWN]),
        (trust({"AWS": [TEST_ACCOUNT, f"arn:aws:iam::{OWN}:role/ci"]}), [OWN, TEST_ACCOUNT]),
        (trust({"AWS": f"arn:aws:sts::{TEST_ACCOUNT}:assumed-role/ci/session"}), [TEST_ACCOUNT]),
        (trust({"AWS": "*"}, Condition={"StringEquals": {"aws:PrincipalOrgID": "o-payments"}}), ["*"]),
        (trust("*"), ["*"]),
        (trust({"Federated": f"arn:aws:iam::{OWN}:oidc-provider/token.actions.githubusercontent.com"}), []),
        (
            json.dumps({"Statement": [{"Effect": "Allow", "NotPrincipal": {"AWS": OWN}, "Action": "sts:*"}]}),
            ["*"],
        ),
        (
            json.dumps({"Statement": [{"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "sts:*"}]}),
            [],
        ),
    ],
    ids=[
        "service",
        "own-root",
        "two-accounts",
        "assumed-role",
        "anyone-in-the-org",
        "anyone",
        "oidc",
        "not-principal",
        "deny",
    ],
)
def test_the_accounts_a_trust_policy_lets_in(document: str, accounts: list[str]) -> None:
    assert trusted_accounts(document) == accounts


@pytest.mark.parametrize("document", [trust({"AWS": "AROAEXAMPLEUNIQUEID"}), "{not json", ["a", "list"]])
def test_a_trust_policy_that_names_no_account_leaves_them_unknown(document: Any) -> None:
    with pytest.raises(Unknown):
        trusted_accounts(document)


GITHUB = "token.actions.githubusercontent.com"
OIDC = {"Federated": f"arn:aws:iam::{OWN}:oidc-provider/{GITHUB}"}


def web_identity(condition: dict[str, Any] | None = None) -> str:
    extra = {"Condition": condition} if condition is not None else {}
    return trust(OIDC, **extra).replace("sts:AssumeRole", "sts:AssumeRoleWithWebIdentity")


@pytest.mark.parametrize(
    ("document", "providers"),
    [
        (web_identity(), [GITHUB]),
        (web_identity({"StringEquals": {f"{GITHUB}:aud": "sts.amazonaws.com"}}), [GITHUB]),
        (web_identity({"StringLike": {f"{GITHUB}:sub": "*"}}), [GITHUB]),
        (web_identity({"StringEquals": {f"{GITHUB}:sub": "repo:payments/infra:environment:production"}}), []),
        (web_identity({"StringLike": {f"{GITHUB}:sub": ["repo:payments/infra:*"]}}), []),
        # A negated test names no subject: every other one may assume the role.
        (
            web_identity({"StringNotEquals": {f"{GITHUB}:sub": "repo:attacker/x:ref:refs/heads/main"}}),
            [GITHUB],
        ),
        (trust({"Federated": "cognito-identity.amazonaws.com"}), ["cognito-identity.amazonaws.com"]),
        (
            trust(
                {"Federated": "cognito-identity.amazonaws.com"},
                Condition={"StringEquals": {"cognito-identity.amazonaws.com:aud": "eu-central-1:pool"}},
            ),
            [],
        ),
        (trust({"Federated": f"arn:aws:iam::{OWN}:saml-provider/corporate"}), []),
        (trust({"AWS": OWN}), []),
    ],
    ids=[
        "no-condition",
        "audience-only",
        "any-subject",
        "environment",
        "repository",
        "negated",
        "cognito",
        "cognito-pool",
        "saml",
        "account",
    ],
)
def test_an_identity_provider_lets_in_only_the_subjects_named(document: str, providers: list[str]) -> None:
    assert open_federation(document) == providers


@pytest.mark.parametrize(
    ("condition", "subjects"),
    [
        (
            {"StringEquals": {f"{GITHUB}:sub": "repo:payments/infra:environment:production"}},
            ["repo:payments/infra:environment:production"],
        ),
        (
            {
                "StringLike": {
                    f"{GITHUB}:sub": ["repo:payments/infra:*", "repo:payments/app:ref:refs/heads/main"]
                }
            },
            ["repo:payments/app:ref:refs/heads/main", "repo:payments/infra:*"],
        ),
        # The audience says which service the token is for, not who holds it.
        ({"StringEquals": {f"{GITHUB}:aud": "sts.amazonaws.com"}}, []),
        ({"StringNotEquals": {f"{GITHUB}:sub": "repo:attacker/x:ref:refs/heads/main"}}, []),
        (None, []),
    ],
    ids=["one", "patterns", "audience", "negated", "none"],
)
def test_the_subjects_an_identity_provider_may_present(
    condition: dict[str, Any] | None, subjects: list[str]
) -> None:
    assert federated_subjects(web_identity(condition)) == subjects


def role(name: str, document: str, **tags: str) -> Change:
    return Change(
        f"aws_iam_role.{name}",
        "aws_iam_role",
        {
            "name": name,
            "assume_role_policy": document,
            "tags": {**TAGS, **tags},
            "tags_all": {**TAGS, **tags},
        },
        unknown={"inline_policy": True, "managed_policy_arns": True},
    )


PLAN = (
    role("own", trust({"AWS": f"arn:aws:iam::{OWN}:role/ci"})),
    role("from_test", trust({"AWS": f"arn:aws:iam::{TEST_ACCOUNT}:role/ci"})),
    role("service", trust({"Service": "lambda.amazonaws.com"})),
    role("any_workflow", web_identity({"StringEquals": {f"{GITHUB}:aud": "sts.amazonaws.com"}})),
    role("stray", trust({"Service": "lambda.amazonaws.com"}), stage="production"),
)


def env_001(pytester: pytest.Pytester, parameters: str) -> dict[str | None, tuple[str, str]]:
    write_plan(pytester.path / "plan.json", *PLAN)
    (pytester.path / "pyproject.toml").write_text(parameters, encoding="utf-8")
    rows = result_rows(judge_plan(pytester, "ENV-001"), lambda control: control["id"] == "ENV-001")
    return {resource: (outcome, message) for _, resource, outcome, message in rows}


def test_env_001_keeps_each_stage_to_its_own_resources_and_accounts(pytester: pytest.Pytester) -> None:
    found = env_001(
        pytester,
        f'[tool.regops]\n[tool.regops.stages.acceptance.parameters]\nstage_accounts = {{aws = ["{OWN}"]}}\n',
    )
    assert {resource: outcome for resource, (outcome, _) in found.items()} == {
        "aws_iam_role.own": "passed",
        "aws_iam_role.from_test": "failed",
        "aws_iam_role.service": "passed",
        "aws_iam_role.any_workflow": "failed",
        "aws_iam_role.stray": "failed",
    }
    assert f"any subject of {GITHUB} may assume it" in found["aws_iam_role.any_workflow"][1]
    assert (
        f"may be assumed from {TEST_ACCOUNT}, no account of the acceptance stage"
        in found["aws_iam_role.from_test"][1]
    )
    assert "tagged stage=production in the acceptance stage" in found["aws_iam_role.stray"][1]


def test_a_trust_in_an_account_is_an_error_while_the_stage_s_accounts_are_unset(
    pytester: pytest.Pytester,
) -> None:
    found = env_001(pytester, "[tool.regops]\n")
    assert found["aws_iam_role.own"][0] == "error"
    assert (
        "set stage_accounts.aws in [tool.regops.stages.acceptance.parameters]" in found["aws_iam_role.own"][1]
    )
    # A role only services assume needs no accounts to be judged.
    assert found["aws_iam_role.service"][0] == "passed"


def test_a_live_role_s_trust_is_read_from_its_listing(aws: Clients) -> None:  # noqa: F811
    iam = aws("iam")
    iam.create_role(
        RoleName="from-test",
        AssumeRolePolicyDocument=trust({"AWS": f"arn:aws:iam::{TEST_ACCOUNT}:root"}),
        Tags=STAGE_TAGS,
    )
    found = {
        r.id: r for r in discover_aws(source(aws), "acceptance").resources if r.native_type == "aws_iam_role"
    }
    assert found[f"arn:aws:iam::{OWN}:role/from-test"].facts["trusted_accounts"] == [TEST_ACCOUNT]


principals = st.dictionaries(
    st.sampled_from(["AWS", "Federated", "Service"]),
    json_values
    | st.sampled_from(["*", f"arn:aws:iam::{OWN}:root", OWN, f"arn:aws:iam::{OWN}:oidc-provider/x"]),
)
trust_statements = st.dictionaries(
    st.sampled_from(["Effect", "Principal", "NotPrincipal", "Action", "Condition"]),
    json_values | principals | st.sampled_from(["Allow", "*"]),
)


@given(st.lists(trust_statements | json_values, max_size=4) | trust_statements | json_values)
def test_any_trust_policy_is_read_or_left_unknown(found: Any) -> None:
    """Whatever a trust policy's text holds, its accounts and providers are read or unknown."""
    for reader in (trusted_accounts, open_federation, federated_subjects):
        try:
            read = reader(json.dumps({"Statement": found}))
        except Unknown:
            continue
        assert isinstance(read, list)
        assert all(isinstance(name, str) for name in read)


def pipeline(name: str, subject: str) -> Change:
    return role(name, web_identity({"StringLike": {f"{GITHUB}:sub": subject}}))


PIPELINES = (
    pipeline("deploy", "repo:payments/infra:environment:acceptance"),
    pipeline("pull_requests", "repo:payments/infra:pull_request"),
    pipeline("any_ref", "repo:payments/infra:*"),
)


@pytest.mark.parametrize(
    ("subjects", "expected"),
    [
        (
            '["repo:payments/*:environment:acceptance"]',
            {
                "aws_iam_role.deploy": ("passed", ""),
                "aws_iam_role.pull_requests": (
                    "failed",
                    "aws_iam_role.pull_requests: may be assumed by repo:payments/infra:pull_request, no"
                    " pipeline of the acceptance stage",
                ),
                "aws_iam_role.any_ref": (
                    "failed",
                    "aws_iam_role.any_ref: may be assumed by repo:payments/infra:*, no pipeline of the"
                    " acceptance stage",
                ),
            },
        ),
        (
            None,
            dict.fromkeys(
                ("aws_iam_role.deploy", "aws_iam_role.pull_requests", "aws_iam_role.any_ref"),
                ("error", "set stage_subjects in [tool.regops.stages.acceptance.parameters]"),
            ),
        ),
    ],
    ids=["stage-subjects", "unset"],
)
def test_env_001_admits_the_stage_s_own_pipelines_only(
    pytester: pytest.Pytester, subjects: str | None, expected: dict[str, tuple[str, str]]
) -> None:
    settings = f"stage_subjects = {subjects}\n" if subjects else ""
    write_plan(pytester.path / "plan.json", *PIPELINES)
    (pytester.path / "pyproject.toml").write_text(
        f"[tool.regops]\n[tool.regops.stages.acceptance.parameters]\n{settings}", encoding="utf-8"
    )
    rows = result_rows(judge_plan(pytester, "ENV-001"), lambda control: control["id"] == "ENV-001")
    found = {resource: (outcome, message) for _, resource, outcome, message in rows}
    assert {resource: outcome for resource, (outcome, _) in found.items()} == {
        resource: outcome for resource, (outcome, _) in expected.items()
    }
    for resource, (_, message) in expected.items():
        assert message in found[resource][1]

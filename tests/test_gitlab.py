"""CHG-001 from GitLab: a project's protected branches, approval settings and approval rules,
read through its REST API from recorded responses on 127.0.0.1, and judged by the control."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from regops.discovery.gitlab import GitlabSource, discover_gitlab
from regops.model import Discovery
from regops.normalize import gitlab
from regops.normalize.gitlab import UNPROTECTED
from tests.helpers import judge_plan, leaks, load_evidence, only_bundle, run_project_suites
from tests.plans import Change, refer, write_plan
from tests.recorded_api import RecordedApi

TOKEN_ENV = "REGOPS_TEST_GITLAB_TOKEN"
TOKEN = "glpat-recordedTokenNeverInEvidence"
PROJECT = "payments/platform/infrastructure"
API = f"/api/v4/projects/{PROJECT}"
MAINTAINERS = {"id": 1001, "access_level": 40, "access_level_description": "Maintainers"}
NO_ONE = {"id": 1002, "access_level": 0, "access_level_description": "No one"}

PROJECT_BODY = {
    "id": 4821,
    "path_with_namespace": PROJECT,
    "web_url": f"https://gitlab.com/{PROJECT}",
    "default_branch": "main",
    "only_allow_merge_if_pipeline_succeeds": True,
    "merge_method": "ff",
}
PROTECTED = [
    {
        "id": 101,
        "name": "main",
        "push_access_levels": [NO_ONE],
        "merge_access_levels": [MAINTAINERS],
        "unprotect_access_levels": [MAINTAINERS],
        "allow_force_push": False,
        "code_owner_approval_required": True,
    }
]
SETTINGS = {
    "approvals_before_merge": 0,
    "reset_approvals_on_push": True,
    "selective_code_owner_removals": False,
    "disable_overriding_approvers_per_merge_request": True,
    "merge_requests_author_approval": False,
    "merge_requests_disable_committers_approval": True,
    "require_password_to_approve": False,
}
RULES = [
    {
        "id": 1,
        "name": "platform reviewers",
        "rule_type": "regular",
        "approvals_required": 2,
        "applies_to_all_protected_branches": False,
        "protected_branches": [],
    },
    {
        "id": 2,
        "name": "release managers",
        "rule_type": "regular",
        "approvals_required": 4,
        "applies_to_all_protected_branches": False,
        "protected_branches": [{"id": 102, "name": "release/*"}],
    },
]


def recording(**changes: Any) -> list[dict[str, Any]]:
    """The project as recorded, with parts replaced: a body, or a whole response (`status`)."""
    parts = {
        "": PROJECT_BODY,
        "/protected_branches": PROTECTED,
        "/approvals": SETTINGS,
        "/approval_rules": RULES,
    }
    found = []
    for path, body in parts.items():
        response = changes.get(path.strip("/") or "project", {"status": 200, "body": copy.deepcopy(body)})
        found.append({"method": "GET", "path": f"{API}{path}", "responses": [response]})
    return found


@pytest.fixture
def run_gitlab(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    servers: list[RecordedApi] = []

    def run(branch: str | None = None, **changes: Any) -> tuple[Discovery, RecordedApi]:
        api = RecordedApi(recording(**changes)).start()
        servers.append(api)
        source = GitlabSource((PROJECT,), f"{api.endpoint}/api/v4", TOKEN_ENV, branch)
        return discover_gitlab(source, "acceptance"), api

    yield run
    for api in servers:
        api.close()


def ok(body: Any) -> dict[str, Any]:
    return {"status": 200, "body": body}


def test_a_project_through_the_rest_api(run_gitlab: Any) -> None:
    discovery, api = run_gitlab()
    assert api.unmatched == []
    assert discovery.report.complete, discovery.report.errors
    (resource,) = discovery.resources
    assert (resource.id, resource.provider, resource.kind) == (
        f"gitlab.com/{PROJECT}",
        "gitlab",
        "repository_branch",
    )
    # The release managers' rule governs release branches only.
    assert dict(resource.facts) == {
        "required_approvals": 2,
        "code_owner_review": True,
        "stale_reviews_dismissed": True,
        "last_push_approval": True,
        "force_push_blocked": True,
        "deletion_blocked": True,
        "required_checks": ["pipeline"],
        "bypass_actors": [],
        "taggable": False,
    }
    assert TOKEN not in json.dumps(resource.to_dict())


def test_who_may_push_without_a_merge_request_bypasses_review(run_gitlab: Any) -> None:
    pushers = [
        MAINTAINERS,
        {"id": 1003, "access_level": 40, "user_id": 17, "access_level_description": "ops"},
    ]
    protected = [{**PROTECTED[0], "push_access_levels": pushers, "allow_force_push": True}]
    discovery, _ = run_gitlab(protected_branches=ok(protected))
    facts = discovery.resources[0].facts
    assert facts["bypass_actors"] == [
        "Maintainers (pushes without a merge request)",
        "user 17 (pushes without a merge request)",
    ]
    assert facts["force_push_blocked"] is False


def test_a_branch_no_protected_branch_covers_takes_anyone_s_push(run_gitlab: Any) -> None:
    discovery, _ = run_gitlab(branch="develop")
    facts = discovery.resources[0].facts
    assert facts["bypass_actors"] == [UNPROTECTED]
    assert (facts["force_push_blocked"], facts["deletion_blocked"], facts["code_owner_review"]) == (
        False,
        False,
        False,
    )
    # A rule naming no branch governs every branch.
    assert facts["required_approvals"] == 2


def test_a_wildcard_protected_branch_and_its_rule_cover_a_release_branch(run_gitlab: Any) -> None:
    protected = [
        *PROTECTED,
        {**PROTECTED[0], "id": 102, "name": "release/*", "code_owner_approval_required": False},
    ]
    discovery, _ = run_gitlab(branch="release/2026", protected_branches=ok(protected))
    facts = discovery.resources[0].facts
    assert facts["required_approvals"] == 4
    assert facts["bypass_actors"] == []


@pytest.mark.parametrize(
    ("changes", "unknown", "expected"),
    [
        (
            {"approval_rules": {"status": 403, "body": {"message": "403 Forbidden"}}},
            {"required_approvals"},
            "403 403 Forbidden: the token needs read_api and a Maintainer's role (approval settings and"
            " rules need GitLab Premium)",
        ),
        (
            {
                "approvals": {
                    "status": 429,
                    "headers": {"Retry-After": "30"},
                    "body": {"message": "Retry later"},
                }
            },
            {"stale_reviews_dismissed", "last_push_approval"},
            "rate limited (Retry later); retry after 30 s",
        ),
        (
            {"project": {"status": 404, "body": {"message": "404 Project Not Found"}}},
            {"required_approvals", "bypass_actors", "required_checks", "force_push_blocked"},
            f"{PROJECT}: 404 404 Project Not Found (no such project, or the token may not read it)",
        ),
        (
            {"project": {"status": 200, "body": [PROJECT_BODY]}},
            {"required_approvals", "bypass_actors", "required_checks", "last_push_approval"},
            f"{PROJECT}: the answer is no project",
        ),
    ],
    ids=["rules-forbidden", "settings-throttled", "no-project", "not-a-project"],
)
def test_what_cannot_be_read_leaves_its_facts_unknown(
    run_gitlab: Any, changes: dict[str, Any], unknown: set[str], expected: str
) -> None:
    discovery, _ = run_gitlab(**changes)
    assert discovery.report.complete is False
    assert any(expected in error for error in discovery.report.errors), discovery.report.errors
    (resource,) = discovery.resources
    assert not unknown & set(resource.facts)


def test_without_a_token_the_source_is_incomplete(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    with RecordedApi(recording()) as api:
        discovery = discover_gitlab(
            GitlabSource((PROJECT,), f"{api.endpoint}/api/v4", TOKEN_ENV), "acceptance"
        )
    assert api.requests == []
    assert discovery.report.errors == (f"the environment variable {TOKEN_ENV} holds no GitLab token",)


# At the system stage: at acceptance, this repository's conftest.py serves the demo.
def test_chg_001_judges_a_gitlab_project_and_keeps_the_token_out(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    unreviewed = copy.deepcopy(SETTINGS) | {"merge_requests_author_approval": True}
    with RecordedApi(recording(approvals=ok(unreviewed))) as api:
        pytester.makepyprojecttoml(
            "[tool.regops.stages.system.gitlab]\n"
            f'projects = ["{PROJECT}"]\n'
            f'api_url = "{api.endpoint}/api/v4"\n'
            f'token_env = "{TOKEN_ENV}"\n'
            "[tool.regops.stages.system.parameters]\n"
            'required_status_checks = ["pipeline"]\n'
        )
        result = run_project_suites(pytester, "--stage=system", "--evidence-dir=out", "--control=CHG-001")
    assert result.ret == 1
    bundle = only_bundle(pytester.path / "out", "system")
    (control,) = load_evidence(bundle)["controls"]
    (found,) = control["results"]
    assert (found["resource_id"], found["outcome"]) == (f"gitlab.com/{PROJECT}", "failed")
    assert "may approve their own change" in found["message"]
    assert leaks(TOKEN, result, bundle) == []


def test_a_gitlab_api_over_plain_http_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml(
        f'[tool.regops.stages.system.gitlab]\nprojects = ["{PROJECT}"]\napi_url = "http://gitlab.example.com/api/v4"\n'
    )
    result = run_project_suites(pytester, "--stage=system", "--evidence-dir=out")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*gitlab.api_url*the token would go over plain HTTP*"])


# --- planned ------------------------------------------------------------------------------------

GITLAB_PROJECT = "gitlab_project.infrastructure"


def planned_project(**values: Any) -> Change:
    return Change(
        GITLAB_PROJECT,
        "gitlab_project",
        {
            "name": "infrastructure",
            "default_branch": "main",
            "only_allow_merge_if_pipeline_succeeds": True,
            **values,
        },
        unknown={"id": True},
    )


def folded(native_type: str, local_name: str, **values: Any) -> Change:
    return Change(
        f"{native_type}.{local_name}",
        native_type,
        {"project": None, **values},
        unknown={"project": True},
        expressions={"project": refer(f"{GITLAB_PROJECT}.id", GITLAB_PROJECT)},
    )


PLANNED_PROTECTION = folded(
    "gitlab_branch_protection",
    "main",
    branch="main",
    push_access_level="no one",
    merge_access_level="maintainer",
    allow_force_push=False,
    code_owner_approval_required=True,
    allowed_to_push=[],
)
PLANNED_RULE = folded(
    "gitlab_project_approval_rule",
    "reviewers",
    name="reviewers",
    approvals_required=2,
    protected_branch_ids=[],
)
PLANNED_SETTINGS = folded(
    "gitlab_project_level_mr_approvals",
    "settings",
    reset_approvals_on_push=True,
    merge_requests_author_approval=False,
    merge_requests_disable_committers_approval=True,
)


def chg_001(pytester: pytest.Pytester, *changes: Change) -> dict[str | None, tuple[str, str]]:
    write_plan(pytester.path / "plan.json", *changes)
    pytester.makepyprojecttoml(
        '[tool.regops]\n[tool.regops.stages.acceptance.parameters]\nrequired_status_checks = ["pipeline"]\n'
    )
    (control,) = judge_plan(pytester, "CHG-001")["controls"]
    return {r["resource_id"]: (r["outcome"], r["message"]) for r in control["results"]}


def test_a_planned_project_is_judged_with_what_the_plan_folds_into_it(pytester: pytest.Pytester) -> None:
    results = chg_001(pytester, planned_project(), PLANNED_PROTECTION, PLANNED_RULE, PLANNED_SETTINGS)
    assert results == {GITLAB_PROJECT: ("passed", "")}


@pytest.mark.parametrize(
    ("changes", "outcome", "message"),
    [
        (
            (PLANNED_PROTECTION, PLANNED_RULE),
            "error",
            "fact 'last_push_approval' could not be established",
        ),
        (
            (
                folded(
                    "gitlab_branch_protection",
                    "main",
                    branch="main",
                    push_access_level="maintainer",
                    allow_force_push=False,
                    code_owner_approval_required=True,
                ),
                PLANNED_RULE,
                PLANNED_SETTINGS,
            ),
            "failed",
            "may bypass the review rules: Maintainers (pushes without a merge request)",
        ),
    ],
    ids=["settings-not-managed", "maintainers-push"],
)
def test_a_planned_project_s_gaps(
    pytester: pytest.Pytester, changes: tuple[Change, ...], outcome: str, message: str
) -> None:
    ((found, text),) = chg_001(pytester, planned_project(), *changes).values()
    assert found == outcome
    assert message in text


def test_a_planned_project_without_a_protected_branch_takes_anyone_s_push() -> None:
    related = {
        "gitlab_project_approval_rule": [PLANNED_RULE.after],
        "gitlab_project_level_mr_approvals": [PLANNED_SETTINGS.after],
    }
    facts = gitlab.PLANNED["gitlab_project"].facts(planned_project().after or {}, related)
    assert facts["bypass_actors"] == [UNPROTECTED]
    assert (facts["force_push_blocked"], facts["required_approvals"]) == (False, 2)

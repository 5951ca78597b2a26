"""CHG-001 from GitHub: branch rules read from the REST API (recorded responses on 127.0.0.1,
regops's own client) and from planned github_* resources, judged by the control."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regops.discovery.github import GithubSource, discover_github
from regops.discovery.live import normalised
from regops.model import UNKNOWN, Discovery
from regops.normalize.branches import BranchRules, branch_facts
from regops.normalize.github import ADMINS, live_branch, ref_matches
from tests.helpers import DEMO, judge_plan, leaks, load_evidence, only_bundle, run_project_suites
from tests.plans import Change, refer, write_plan
from tests.recorded_api import RecordedApi, load_recording

TOKEN_ENV = "REGOPS_TEST_GITHUB_TOKEN"
TOKEN = "ghs_recordedTokenNeverInEvidence0123"
INFRA = "payments/platform-infrastructure"
VAULT = "payments/card-vault-modules"


def answer(path: str, status: int, body: Any, **headers: str) -> dict[str, Any]:
    return {
        "method": "GET",
        "path": path,
        "responses": [{"status": status, "headers": headers, "body": body}],
    }


Run = Callable[..., tuple[Discovery, RecordedApi]]


@pytest.fixture
def run_github(monkeypatch: pytest.MonkeyPatch) -> Iterator[Run]:
    """Discover the demo's repositories, with `overrides` answering before the recording does."""
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    servers: list[RecordedApi] = []

    def run(
        overrides: Sequence[dict[str, Any]] = (), repositories: Sequence[str] = (INFRA, VAULT), **options: Any
    ) -> tuple[Discovery, RecordedApi]:
        api = RecordedApi([*overrides, *load_recording(DEMO / "github_api.json")]).start()
        servers.append(api)
        source = GithubSource(
            repositories=tuple(repositories), api_url=api.endpoint, token_env=TOKEN_ENV, **options
        )
        return discover_github(source, "acceptance"), api

    yield run
    for api in servers:
        api.close()


def facts_of(discovery: Discovery) -> dict[str, dict[str, Any]]:
    return {resource.id: dict(resource.facts) for resource in discovery.resources}


def test_the_demo_repositories_through_the_rest_api(run_github: Run) -> None:
    discovery, api = run_github()
    assert api.unmatched == []
    assert discovery.report.complete, discovery.report.errors
    facts = facts_of(discovery)
    # The branch protection and the organisation's ruleset, layered: the strictest of each.
    assert facts[f"github.com/{INFRA}"] == {
        "required_approvals": 2,
        "code_owner_review": True,
        "stale_reviews_dismissed": True,
        "last_push_approval": True,
        "force_push_blocked": True,
        "deletion_blocked": True,
        "required_checks": ["regops-gate"],
        "bypass_actors": [],
        "taggable": False,
    }
    vault = facts[f"github.com/{VAULT}"]
    assert vault["last_push_approval"] is False
    # enforce_admins off, and the repository's ruleset lets its admin role bypass.
    assert vault["bypass_actors"] == ["RepositoryRole 5 (always)", ADMINS]
    (resource,) = (r for r in discovery.resources if r.id.endswith(VAULT))
    assert (resource.provider, resource.kind, resource.origin) == ("github", "repository_branch", "live")
    assert resource.attributes["branch"] == "main"
    assert TOKEN not in json.dumps([r.to_dict() for r in discovery.resources])


def test_a_configured_branch_is_read_instead_of_the_default(run_github: Run) -> None:
    release = f"/repos/{INFRA}/branches/release/2026/protection"
    discovery, api = run_github(
        [
            answer(release, 404, {"message": "Branch not protected"}),
            answer(f"/repos/{INFRA}/rules/branches/release/2026", 200, []),
        ],
        repositories=(INFRA,),
        branch="release/2026",
    )
    assert api.calls(release) == 1
    assert discovery.report.complete, discovery.report.errors
    # Not protected is an answer: no rule holds changes back, which CHG-001 fails.
    assert facts_of(discovery)[f"github.com/{INFRA}"]["required_approvals"] == 0
    assert facts_of(discovery)[f"github.com/{INFRA}"]["bypass_actors"] == []


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (
            answer(
                f"/repos/{INFRA}/branches/main/protection",
                403,
                {"message": "Resource not accessible by integration"},
            ),
            "403 Resource not accessible by integration: the token needs read access",
        ),
        (
            answer(f"/repos/{INFRA}/branches/main/protection", 404, {"message": "Not Found"}),
            "branch main: 404 Not Found (no such branch, or the token may not read its protection)",
        ),
        (
            answer(
                f"/repos/{INFRA}/rules/branches/main",
                403,
                {"message": "API rate limit exceeded for installation ID 7"},
                **{"x-ratelimit-remaining": "0", "retry-after": "60"},
            ),
            "rate limited (API rate limit exceeded for installation ID 7); retry after 60 s",
        ),
        (
            answer(f"/repos/{INFRA}", 401, {"message": "Bad credentials"}),
            "the token was refused (401 Bad credentials)",
        ),
        (
            answer(f"/repos/{INFRA}", 404, {"message": "Not Found"}),
            f"{INFRA}: 404 Not Found (no such repository, or the token may not read it)",
        ),
        (
            {"method": "GET", "path": f"/repos/{INFRA}/branches/main/protection", "drop": True},
            "no answer from",
        ),
    ],
    ids=["forbidden", "not-found", "rate-limited", "bad-token", "no-repository", "dropped"],
)
def test_what_cannot_be_read_is_an_error_never_an_unprotected_branch(
    run_github: Run, override: dict[str, Any], expected: str
) -> None:
    discovery, _ = run_github([override], repositories=(INFRA,))
    assert discovery.report.complete is False
    assert any(expected in error for error in discovery.report.errors), discovery.report.errors
    (resource,) = discovery.resources
    assert resource.id == f"github.com/{INFRA}" or resource.id.endswith(f"/{INFRA}")
    # The approvals the branch needs are unknown: CHG-001 is an error, not a pass or a failure.
    assert "required_approvals" not in resource.facts


def test_a_redirect_is_followed_on_the_apis_host_only(run_github: Run) -> None:
    moved = "/repos/payments/infrastructure-old"
    same_host = answer(moved, 301, {"message": "Moved Permanently"}, Location="{endpoint}/repos/" + INFRA)
    discovery, api = run_github([same_host], repositories=("payments/infrastructure-old",))
    assert api.calls(moved) == 1
    assert [r.id for r in discovery.resources] == [f"github.com/{INFRA}"]
    elsewhere = answer(moved, 301, {"message": "Moved"}, Location="https://elsewhere.example/repos/" + INFRA)
    discovery, _ = run_github([elsewhere], repositories=("payments/infrastructure-old",))
    assert discovery.report.complete is False
    assert "GET /repos/payments/infrastructure-old: HTTP 301 Moved" in discovery.report.errors[0]


def test_a_ruleset_whose_bypass_actors_are_withheld_leaves_only_them_unknown(run_github: Run) -> None:
    withheld = {k: v for k, v in load_ruleset(VAULT, 205).items() if k != "bypass_actors"}
    discovery, _ = run_github([answer(f"/repos/{VAULT}/rulesets/205", 200, withheld)], repositories=(VAULT,))
    # GitHub shows bypass actors only to whoever may edit the ruleset: no error, but no answer.
    assert discovery.report.complete, discovery.report.errors
    facts = facts_of(discovery)[f"github.com/{VAULT}"]
    assert "bypass_actors" not in facts
    assert facts["deletion_blocked"] is True


def load_ruleset(repository: str, ruleset_id: int) -> dict[str, Any]:
    for interaction in load_recording(DEMO / "github_api.json"):
        if interaction["path"] == f"/repos/{repository}/rulesets/{ruleset_id}":
            body: dict[str, Any] = interaction["responses"][0]["body"]
            return body
    raise LookupError(ruleset_id)


def test_rules_are_read_from_every_page_on_the_apis_host_only(run_github: Run) -> None:
    rules = f"/repos/{INFRA}/rules/branches/main"

    def page(query: dict[str, str], following: str, rule: str) -> dict[str, Any]:
        response = {
            "status": 200,
            "headers": {"Link": f'<{following}>; rel="next"'},
            "body": [{"type": rule, "ruleset_id": 101}],
        }
        return {"method": "GET", "path": rules, "query": query, "responses": [response]}

    first = page({"per_page": "100"}, "{endpoint}" + rules + "?per_page=100&page=2", "deletion")
    second = page({"page": "2"}, "https://elsewhere.example/steal?page=3", "non_fast_forward")
    # The recorder answers the first interaction that matches: the second page first.
    discovery, api = run_github([second, first], repositories=(INFRA,))
    assert api.calls(rules) == 2
    facts = facts_of(discovery)[f"github.com/{INFRA}"]
    assert (facts["deletion_blocked"], facts["force_push_blocked"]) == (True, True)


def test_without_a_token_the_source_is_incomplete(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    with RecordedApi(load_recording(DEMO / "github_api.json")) as api:
        discovery = discover_github(GithubSource((INFRA,), api.endpoint, TOKEN_ENV), "acceptance")
    assert api.requests == []
    assert discovery.report.complete is False
    assert discovery.report.errors == (f"the environment variable {TOKEN_ENV} holds no GitHub token",)


# --- the REST payloads and the layers, without a server ----------------------------------------


def protection(**changes: Any) -> dict[str, Any]:
    found: dict[str, Any] = {
        "required_pull_request_reviews": {
            "dismiss_stale_reviews": True,
            "require_code_owner_reviews": True,
            "require_last_push_approval": True,
            "required_approving_review_count": 2,
        },
        "enforce_admins": {"enabled": True},
        "allow_force_pushes": {"enabled": False},
        "allow_deletions": {"enabled": False},
    }
    found.update(changes)
    return found


def test_reviews_and_checks_that_are_off_are_absent_or_null() -> None:
    for off in ({}, {"required_pull_request_reviews": None, "required_status_checks": None}):
        payload = {"protection": {**protection(), "required_pull_request_reviews": None, **off}}
        facts = live_branch({**payload, "rules": [], "rulesets": {}})
        assert facts["required_approvals"] == 0
        assert facts["required_checks"] == []
        assert facts["last_push_approval"] is False


def test_bypass_allowances_and_admins_are_named() -> None:
    reviews = protection()["required_pull_request_reviews"]
    allowed = {
        **reviews,
        "bypass_pull_request_allowances": {
            "users": [{"login": "octocat"}],
            "teams": [{"slug": "platform"}],
            "apps": [{"slug": "renovate"}],
        },
    }
    payload = protection(required_pull_request_reviews=allowed, enforce_admins={"enabled": False})
    facts = live_branch({"protection": payload, "rules": [], "rulesets": {}})
    assert facts["bypass_actors"] == ["App renovate", "Team platform", "User octocat", ADMINS]


def test_an_unreadable_protection_leaves_every_fact_unknown() -> None:
    assert normalised(live_branch, {"protection": UNKNOWN, "rules": [], "rulesets": {}}) == {}


@pytest.mark.parametrize(
    ("include", "exclude", "branch", "default", "applies"),
    [
        (["~DEFAULT_BRANCH"], [], "main", True, True),
        (["~DEFAULT_BRANCH"], [], "release", False, False),
        (["~ALL"], ["refs/heads/main"], "main", True, False),
        (["refs/heads/release/*"], [], "release/2026", False, True),
        (["refs/heads/main"], [], "trunk", True, False),
    ],
)
def test_ruleset_ref_conditions(
    include: list[str], exclude: list[str], branch: str, default: bool, applies: bool
) -> None:
    assert ref_matches(include, exclude, branch, default=default) is applies


layers = st.builds(
    BranchRules,
    approvals=st.integers(0, 6),
    code_owner_review=st.booleans(),
    stale_reviews_dismissed=st.booleans(),
    last_push_approval=st.booleans(),
    force_push_blocked=st.booleans(),
    deletion_blocked=st.booleans(),
    checks=st.lists(st.sampled_from(["regops-gate", "plan", "lint"]), max_size=3).map(tuple),
    bypass=st.lists(st.sampled_from([ADMINS, "Team 7 (always)", "User a"]), max_size=2).map(tuple),
)


@given(st.lists(layers, max_size=4), layers)
def test_another_layer_never_loosens_a_branch(found: list[BranchRules], added: BranchRules) -> None:
    before, after = branch_facts(found), branch_facts([*found, added])
    assert after["required_approvals"] == max(before["required_approvals"], added.approvals)
    for fact in ("code_owner_review", "stale_reviews_dismissed", "last_push_approval", "force_push_blocked"):
        assert after[fact] is (before[fact] or getattr(added, fact))
    assert set(after["required_checks"]) == set(before["required_checks"]) | set(added.checks)
    # Anyone any layer lets past its rules is a way around review.
    assert set(after["bypass_actors"]) == set(before["bypass_actors"]) | set(added.bypass)


def test_a_layer_with_unknown_bypass_leaves_only_that_fact_unknown() -> None:
    facts = branch_facts([BranchRules(approvals=2), BranchRules(approvals=1, bypass=UNKNOWN)])
    assert facts["required_approvals"] == 2
    assert "bypass_actors" not in facts


# --- planned ------------------------------------------------------------------------------------

REVIEWS = {
    "required_approving_review_count": 2,
    "dismiss_stale_reviews": True,
    "require_code_owner_reviews": True,
    "require_last_push_approval": True,
    "pull_request_bypassers": [],
}


REPOSITORY = "github_repository.infra"


def repository(default_branch: str | None = "main") -> Change:
    """An existing repository (its default branch known from state), or a new one (None)."""
    return Change(
        REPOSITORY,
        "github_repository",
        {"name": "infra", "visibility": "private", "default_branch": default_branch},
        unknown={"node_id": True, **({"default_branch": True} if default_branch is None else {})},
    )


def branch_protection(pattern: str | None = "main") -> Change:
    after = {
        "pattern": pattern,
        "repository_id": None,
        "enforce_admins": True,
        "allows_force_pushes": False,
        "allows_deletions": False,
        "force_push_bypassers": [],
        "required_pull_request_reviews": [REVIEWS],
        "required_status_checks": [{"strict": True, "contexts": ["regops-gate"]}],
    }
    return Change(
        "github_branch_protection.infra",
        "github_branch_protection",
        after,
        unknown={"repository_id": True, **({"pattern": True} if pattern is None else {})},
        expressions={"repository_id": refer(f"{REPOSITORY}.node_id", REPOSITORY)},
    )


def ruleset(enforcement: str = "active", include: Sequence[str] = ("~DEFAULT_BRANCH",)) -> Change:
    return Change(
        "github_repository_ruleset.infra",
        "github_repository_ruleset",
        {
            "name": "protect",
            "repository": "infra",
            "target": "branch",
            "enforcement": enforcement,
            "bypass_actors": [{"actor_id": 5, "actor_type": "RepositoryRole", "bypass_mode": "always"}],
            "conditions": [{"ref_name": [{"include": list(include), "exclude": []}]}],
            "rules": [{"deletion": True, "non_fast_forward": True}],
        },
        expressions={"repository": refer(f"{REPOSITORY}.name", REPOSITORY)},
    )


def branch_default(branch: str) -> Change:
    return Change(
        "github_branch_default.infra",
        "github_branch_default",
        {"repository": "infra", "branch": branch, "rename": False},
        expressions={"repository": refer(f"{REPOSITORY}.name", REPOSITORY)},
    )


def chg_001(pytester: pytest.Pytester, *changes: Change) -> dict[str | None, tuple[str, str]]:
    write_plan(pytester.path / "plan.json", *changes)
    document = judge_plan(pytester, "CHG-001")
    (control,) = document["controls"]
    return {r["resource_id"]: (r["outcome"], r["message"]) for r in control["results"]}


def test_a_planned_repository_is_judged_with_its_protection(pytester: pytest.Pytester) -> None:
    results = chg_001(pytester, repository(), branch_protection())
    # The protection is folded into the repository it protects: one result.
    assert results == {REPOSITORY: ("passed", "")}


def test_a_planned_repository_without_protection_fails(pytester: pytest.Pytester) -> None:
    assert chg_001(pytester, repository()) == {
        REPOSITORY: ("failed", "github_repository.infra: 0 approval(s) required, at least 1")
    }


def test_a_planned_ruleset_reaching_the_default_branch_adds_its_bypass(pytester: pytest.Pytester) -> None:
    results = chg_001(pytester, repository(), branch_protection(), ruleset())
    assert results[REPOSITORY] == (
        "failed",
        "github_repository.infra: may bypass the review rules: RepositoryRole 5 (always)",
    )


@pytest.mark.parametrize(
    "ignored",
    [ruleset(enforcement="evaluate"), ruleset(include=("refs/heads/release/*",))],
    ids=["evaluate-only", "other-branches"],
)
def test_a_planned_ruleset_that_does_not_reach_the_branch_adds_nothing(
    pytester: pytest.Pytester, ignored: Change
) -> None:
    assert chg_001(pytester, repository(), branch_protection(), ignored) == {REPOSITORY: ("passed", "")}


def test_a_protection_of_another_branch_protects_nothing(pytester: pytest.Pytester) -> None:
    results = chg_001(pytester, repository(), branch_protection("main"), branch_default("trunk"))
    assert results[REPOSITORY] == ("failed", f"{REPOSITORY}: 0 approval(s) required, at least 1")


@pytest.mark.parametrize(("named", "outcome"), [(False, "error"), (True, "passed")])
def test_a_new_repositorys_default_branch_is_its_branch_default(
    pytester: pytest.Pytester, named: bool, outcome: str
) -> None:
    # Without github_branch_default, which branch a new repository protects is known after apply.
    default = [branch_default("main")] if named else []
    results = chg_001(pytester, repository(None), branch_protection("main"), *default)
    assert results[REPOSITORY][0] == outcome


def test_a_v3_protection_of_a_repository_outside_the_plan_is_judged_alone(pytester: pytest.Pytester) -> None:
    v3 = Change(
        "github_branch_protection_v3.payments_api",
        "github_branch_protection_v3",
        {
            "repository": "payments-api",
            "branch": "main",
            "enforce_admins": False,
            "required_pull_request_reviews": [
                {**{k: v for k, v in REVIEWS.items() if k != "pull_request_bypassers"}}
            ],
            "required_status_checks": [{"strict": True, "contexts": [], "checks": ["regops-gate:15368"]}],
        },
    )
    assert chg_001(pytester, v3) == {
        "github_branch_protection_v3.payments_api": (
            "failed",
            f"github_branch_protection_v3.payments_api: may bypass the review rules: {ADMINS}",
        )
    }


def test_a_pattern_known_only_after_apply_is_an_error(pytester: pytest.Pytester) -> None:
    results = chg_001(pytester, repository(), branch_protection(None))
    outcome, message = results[REPOSITORY]
    assert outcome == "error"
    assert "fact 'required_approvals' could not be established" in message


# --- configuration and the whole run ------------------------------------------------------------
# At the system stage: at acceptance, this repository's conftest.py serves the demo's recorded APIs
# and points REGOPS_GITHUB_API_URL at them.


@pytest.mark.parametrize(
    ("settings", "environment", "expected"),
    [
        ('api_url = "http://github.example.com/api/v3"', {}, "the token would go over plain HTTP"),
        ("", {"REGOPS_GITHUB_API_URL": "http://github.example.com"}, "REGOPS_GITHUB_API_URL: api_url"),
        ('repositories = ["no-owner"]', {}, "repositories.0"),
    ],
    ids=["plain-http", "plain-http-from-environment", "repository-name"],
)
def test_wrong_github_settings_are_usage_errors(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    settings: str,
    environment: dict[str, str],
    expected: str,
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    repositories = "" if "repositories" in settings else f'repositories = ["{INFRA}"]\n'
    pytester.makepyprojecttoml(f"[tool.regops.stages.system.github]\n{repositories}{settings}\n")
    result = run_project_suites(pytester, "--stage=system", "--evidence-dir=out")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{expected}*"])
    assert not (pytester.path / "out").exists()


def test_a_stage_of_repositories_alone_is_gated_and_keeps_the_token_out(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    with RecordedApi(load_recording(DEMO / "github_api.json")) as api:
        pytester.makepyprojecttoml(
            "[tool.regops.stages.system.github]\n"
            f'repositories = ["{INFRA}", "{VAULT}"]\n'
            f'api_url = "{api.endpoint}"\n'
            f'token_env = "{TOKEN_ENV}"\n'
        )
        result = run_project_suites(pytester, "--stage=system", "--evidence-dir=out", "--control=CHG-001")
    assert result.ret == 1
    assert api.unmatched == []
    bundle = only_bundle(pytester.path / "out", "system")
    document = load_evidence(bundle)
    (control,) = document["controls"]
    assert {r["resource_id"]: r["outcome"] for r in control["results"]} == {
        f"github.com/{INFRA}": "passed",
        f"github.com/{VAULT}": "failed",
    }
    (source,) = document["sources"]
    assert (source["kind"], source["complete"], source["resource_count"]) == ("github", True, 2)
    assert leaks(TOKEN, result, bundle) == []


def test_checkov_reads_the_planned_protection_beside_chg_001(tmp_path: Path) -> None:
    pytest.importorskip("checkov")
    from regops.scanners.checkov import ScanTarget, check_mappings, scan

    assert check_mappings()["CKV_GIT_5"].control == "CHG-001"
    plan = write_plan(tmp_path / "plan.json", repository(), branch_protection())
    found = scan([ScanTarget(plan, "terraform_plan")], cache_dir=tmp_path / "cache", checks=["CKV_GIT_5"])
    assert {(f.check_id, f.resource, f.outcome) for f in found.findings} == {
        ("CKV_GIT_5", "github_branch_protection.infra", "passed")
    }

"""Four-eyes verification on real git repositories built in temporary folders."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from regops.changes import default_range, four_eyes_results, load_review_export
from regops.model import Outcome
from tests.helpers import load_evidence, only_bundle, results_by_control
from tests.plans import compliant_bucket, write_plan
from tests.test_plugin import CONTROLS


class Repo:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True)
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str, author: str = "alice") -> str:
        env = {
            "GIT_AUTHOR_NAME": author,
            "GIT_AUTHOR_EMAIL": f"{author}@example.com",
            "GIT_COMMITTER_NAME": author,
            "GIT_COMMITTER_EMAIL": f"{author}@example.com",
            "HOME": str(self.path),
            "PATH": "/usr/bin:/bin",
        }
        return subprocess.run(
            ["git", *args], cwd=self.path, env=env, capture_output=True, text=True, check=True
        ).stdout.strip()

    def commit(self, name: str, message: str, author: str = "alice") -> str:
        (self.path / name).parent.mkdir(parents=True, exist_ok=True)
        with (self.path / name).open("a") as handle:
            handle.write(f"# {message}\n")
        self.git("add", name, author=author)
        self.git("commit", "-q", "-m", message, author=author)
        return self.git("rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path / "iac")


def outcomes(repo: Repo, revision_range: str = "HEAD", **kwargs: object) -> dict[str, tuple[Outcome, str]]:
    return {
        r.resource_id or "": (r.outcome, r.message)
        for r in four_eyes_results(repo.path, revision_range, **kwargs)
    }  # type: ignore[arg-type]


def test_trailers_from_a_second_person_approve(repo: Repo) -> None:
    good = repo.commit("main.tf", "Add bucket\n\nReviewed-by: Bob <bob@example.com>")
    self_reviewed = repo.commit("db.tf", "Tune db\n\nApproved-by: Alice <alice@example.com>")
    none = repo.commit("modules/net/main.tf", "Open port")
    repo.commit("README.md", "Docs only")
    found = outcomes(repo)
    assert found == {
        good: (Outcome.PASSED, ""),
        self_reviewed: (
            Outcome.FAILED,
            f"{self_reviewed[:12]} by alice@example.com: approved only by its author",
        ),
        none: (Outcome.FAILED, f"{none[:12]} by alice@example.com: no approval by a second person"),
    }


def test_an_approved_merge_covers_the_commits_it_brings(repo: Repo) -> None:
    repo.commit("README.md", "Start")
    repo.git("checkout", "-q", "-b", "feature")
    first = repo.commit("main.tf", "Feature part 1")
    second = repo.commit("vars.tfvars", "Feature part 2")
    repo.git("checkout", "-q", "main")
    repo.git("merge", "-q", "--no-ff", "feature", "-m", "Merge feature\n\nApproved-by: carol@example.com")
    found = outcomes(repo)
    assert found == {first: (Outcome.PASSED, ""), second: (Outcome.PASSED, "")}


def test_a_review_export_approves(repo: Repo, tmp_path: Path) -> None:
    sha = repo.commit("main.tf", "Change")
    export = tmp_path / "reviews.json"
    export.write_text(
        json.dumps([{"commit": sha, "approvals": [{"user": "dave@example.com", "state": "APPROVED"}]}])
    )
    assert outcomes(repo, review_export=load_review_export(export))[sha][0] is Outcome.PASSED
    export.write_text(
        json.dumps([{"commit": sha, "approvals": [{"user": "dave@example.com", "state": "COMMENTED"}]}])
    )
    assert outcomes(repo, review_export=load_review_export(export))[sha][0] is Outcome.FAILED


def test_default_range_starts_at_the_last_release_tag(repo: Repo) -> None:
    repo.commit("old.tf", "Old, unreviewed")
    repo.git("tag", "release-production-1")
    new = repo.commit("new.tf", "New\n\nReviewed-by: bob@example.com")
    revision_range = default_range(repo.path, "release-production-*")
    assert revision_range == "release-production-1..HEAD"
    assert list(outcomes(repo, revision_range)) == [new]


def test_no_infrastructure_commits_is_not_applicable(repo: Repo) -> None:
    repo.commit("README.md", "Docs")
    ((outcome, message),) = outcomes(repo).values()
    assert outcome is Outcome.NOT_APPLICABLE
    assert message == "no infrastructure commits in HEAD"


def test_an_unreadable_range_is_an_error_result(repo: Repo) -> None:
    repo.commit("main.tf", "x")
    ((outcome, message),) = outcomes(repo, "no-such-tag..HEAD").values()
    assert outcome is Outcome.ERROR
    assert "could not evaluate" in message
    assert "no-such-tag" in message


def test_a_malformed_review_export_names_the_file(tmp_path: Path) -> None:
    export = tmp_path / "reviews.json"
    export.write_text('{"commit": "abc"}')
    with pytest.raises(Exception, match=r"reviews.json: not a review export"):
        load_review_export(export)


def test_four_eyes_results_reach_the_evidence(pytester: pytest.Pytester, tmp_path: Path) -> None:
    repo = Repo(tmp_path / "iac")
    sha = repo.commit("main.tf", "Unreviewed change")
    pytester.makepyfile(test_controls=CONTROLS)
    write_plan(pytester.path / "plan.json", *compliant_bucket())
    result = pytester.runpytest(
        "-p",
        "no:cacheprovider",
        "--stage=acceptance",
        "--plan",
        "plan.json",
        "--evidence-dir",
        "out",
        f"--iac-repo={repo.path}",
    )
    result.stdout.fnmatch_lines(["*CHG-002 (critical): 1 failed result*"])
    assert result.ret == 1
    document = load_evidence(only_bundle(pytester.path / "out", "acceptance"))
    assert results_by_control(document)["CHG-002"] == {sha: "failed"}
    assert document["run"]["iac_commit"] == sha


def test_iac_repo_must_be_a_repository(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makepyfile(test_controls=CONTROLS)
    write_plan(pytester.path / "plan.json", *compliant_bucket())
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "--stage=acceptance", "--plan", "plan.json", f"--iac-repo={tmp_path}"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--iac-repo is not a git repository*"])

"""Promotion lineage: production needs passed system and acceptance bundles of the same change."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import load_evidence, only_bundle, results_by_control
from tests.plans import compliant_bucket, write_plan
from tests.test_changes import Repo
from tests.test_plugin import CONTROLS, public_bucket


@pytest.fixture
def pipeline(pytester: pytest.Pytester, tmp_path: Path) -> tuple[pytest.Pytester, Repo]:
    repo = Repo(tmp_path / "iac")
    repo.commit("main.tf", "Change\n\nReviewed-by: bob@example.com")
    pytester.makepyfile(test_controls=CONTROLS)
    for stage in ("system", "acceptance", "production"):
        write_plan(pytester.path / f"{stage}.json", *compliant_bucket("card", stage=stage))
    return pytester, repo


def gate(pytester: pytest.Pytester, repo: Repo, stage: str, *args: str) -> pytest.RunResult:
    # Keep one production bundle, so the one read back is the run just made.
    shutil.rmtree(pytester.path / "archive" / "production", ignore_errors=True)
    return pytester.runpytest(
        "-p",
        "no:cacheprovider",
        f"--stage={stage}",
        "--plan",
        f"{stage}.json",
        "--evidence-dir",
        "archive",
        f"--iac-repo={repo.path}",
        *args,
    )


def promotion(pytester: pytest.Pytester) -> dict[str | None, str]:
    return results_by_control(load_evidence(only_bundle(pytester.path / "archive", "production")))["CHG-004"]


def test_production_passes_after_system_and_acceptance(pipeline: tuple[pytest.Pytester, Repo]) -> None:
    pytester, repo = pipeline
    assert gate(pytester, repo, "system").ret == 0
    assert gate(pytester, repo, "acceptance").ret == 0
    result = gate(pytester, repo, "production")
    assert result.ret == 0, result.stdout.str()
    assert promotion(pytester) == {"promotion:system": "passed", "promotion:acceptance": "passed"}


def test_production_fails_without_acceptance(pipeline: tuple[pytest.Pytester, Repo]) -> None:
    pytester, repo = pipeline
    gate(pytester, repo, "system")
    result = gate(pytester, repo, "production")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*CHG-004 (high): 1 failed result*"])
    assert promotion(pytester) == {"promotion:system": "passed", "promotion:acceptance": "failed"}


def test_failed_gate_new_commit_and_tampering_do_not_count(pipeline: tuple[pytest.Pytester, Repo]) -> None:
    pytester, repo = pipeline
    gate(pytester, repo, "system")
    # acceptance of a failing plan does not count
    write_plan(pytester.path / "acceptance.json", *compliant_bucket("card"), *public_bucket())
    assert gate(pytester, repo, "acceptance").ret == 1
    gate(pytester, repo, "production")
    production = only_bundle(pytester.path / "archive", "production")
    message = next(
        r["message"]
        for c in load_evidence(production)["controls"]
        if c["id"] == "CHG-004"
        for r in c["results"]
        if r["resource_id"] == "promotion:acceptance"
    )
    assert "gate failed" in message
    # a tampered system bundle does not count
    system = only_bundle(pytester.path / "archive", "system")
    evidence = json.loads((system / "evidence.json").read_text())
    evidence["run"]["command_line"].append("--edited")
    (system / "evidence.json").write_text(json.dumps(evidence))
    gate(pytester, repo, "production")
    assert promotion(pytester)["promotion:system"] == "failed"
    # a new commit needs its own passes
    shutil.rmtree(system)
    gate(pytester, repo, "system")
    repo.commit("main.tf", "Another\n\nReviewed-by: bob@example.com")
    gate(pytester, repo, "production")
    assert promotion(pytester)["promotion:system"] == "failed"


def test_a_different_configuration_does_not_count(pipeline: tuple[pytest.Pytester, Repo]) -> None:
    pytester, repo = pipeline
    gate(pytester, repo, "system")
    gate(pytester, repo, "acceptance")
    changes = compliant_bucket("card", stage="production")
    changes[0].expressions = {"bucket": {"constant_value": "other"}}
    write_plan(pytester.path / "production.json", *changes)
    gate(pytester, repo, "production")
    assert promotion(pytester) == {"promotion:system": "failed", "promotion:acceptance": "failed"}


def only_result(pytester: pytest.Pytester, resource_id: str) -> tuple[str, str]:
    document = load_evidence(only_bundle(pytester.path / "archive", "production"))
    (control,) = (c for c in document["controls"] if c["id"] == "CHG-004")
    (result,) = (r for r in control["results"] if r["resource_id"] == resource_id)
    return result["outcome"], result["message"]


@pytest.mark.parametrize(
    "edit", [lambda d: {"schema": d["schema"], "run": None}, lambda d: {**d, "sources": [1]}]
)
def test_an_invalid_bundle_in_the_archive_is_an_error_not_a_crash(
    pipeline: tuple[pytest.Pytester, Repo], edit: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    pytester, repo = pipeline
    gate(pytester, repo, "system")
    gate(pytester, repo, "acceptance")
    system = only_bundle(pytester.path / "archive", "system")
    document = json.loads((system / "evidence.json").read_text())
    (system / "evidence.json").write_text(json.dumps(edit(document)))
    result = gate(pytester, repo, "production")
    assert result.ret == 1, result.stdout.str() + result.stderr.str()
    outcome, message = only_result(pytester, "promotion:system")
    assert outcome == "error"
    assert message.startswith(f"could not evaluate: {system}/evidence.json: not a valid regops.evidence/v1")
    assert only_result(pytester, "promotion:acceptance")[0] == "passed"


def test_a_damaged_bundle_does_not_hide_an_intact_pass(pipeline: tuple[pytest.Pytester, Repo]) -> None:
    pytester, repo = pipeline
    gate(pytester, repo, "system")
    gate(pytester, repo, "acceptance")
    damaged = pytester.path / "archive" / "system" / "99991231T235959.999Z-ffffff"
    damaged.mkdir()
    (damaged / "evidence.json").write_text(json.dumps({"schema": "regops.evidence/v1", "run": None}))
    assert gate(pytester, repo, "production").ret == 0
    assert promotion(pytester) == {"promotion:system": "passed", "promotion:acceptance": "passed"}


def test_a_bundle_of_another_stage_does_not_count(pipeline: tuple[pytest.Pytester, Repo]) -> None:
    pytester, repo = pipeline
    gate(pytester, repo, "acceptance")
    acceptance = only_bundle(pytester.path / "archive", "acceptance")
    shutil.copytree(acceptance, pytester.path / "archive" / "system" / acceptance.name)
    gate(pytester, repo, "production")
    outcome, message = only_result(pytester, "promotion:system")
    assert outcome == "failed"
    assert message.endswith(f"({acceptance.name}: a bundle of the acceptance stage)")

"""Shared by the plugin's tests: reading bundles back and checking them."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from regops.evidence.bundle import validate_evidence

ROOT = Path(__file__).resolve().parent.parent
SUITES = ROOT / "suites"
DEMO = ROOT / "fixtures" / "demo"


def run_project_suites(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """The project's suites in a process of their own, configured by the test's pyproject.toml,
    with the test's directory as the root (the repository's own configuration stays out)."""
    return pytester.runpytest_subprocess(
        str(SUITES), "-c", "pyproject.toml", "--rootdir", str(pytester.path), "-p", "no:cacheprovider", *args
    )


def judge_plan(pytester: pytest.Pytester, *controls: str) -> dict[str, Any]:
    """The evidence of the project's suites judging the test's `plan.json` at acceptance, as the
    test's `pyproject.toml` configures them (regops's defaults without one; only `controls`,
    when given)."""
    if not (pytester.path / "pyproject.toml").exists():
        pytester.makepyprojecttoml("[tool.regops]\n")
    selected = [f"--control={control}" for control in controls]
    run_project_suites(pytester, "--stage=acceptance", "--plan=plan.json", "--evidence-dir=out", *selected)
    return load_evidence(only_bundle(pytester.path / "out", "acceptance"))


def bundles(evidence_dir: Path, stage: str) -> list[Path]:
    return sorted(p for p in (evidence_dir / stage).iterdir() if p.is_dir())


def only_bundle(evidence_dir: Path, stage: str) -> Path:
    found = bundles(evidence_dir, stage)
    assert len(found) == 1, found
    return found[0]


def load_evidence(bundle: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((bundle / "evidence.json").read_text())
    problems = validate_evidence(document)
    assert not problems, problems
    return document


def results_by_control(document: dict[str, Any]) -> dict[str, dict[str | None, str]]:
    return {
        control["id"]: {r["resource_id"]: r["outcome"] for r in control["results"]}
        for control in document["controls"]
    }


Row = tuple[str, str | None, str, str]


def result_rows(
    document: dict[str, Any], keep: Callable[[dict[str, Any]], bool] = lambda control: True
) -> set[Row]:
    """Every result as (control, resource, outcome, message), of the controls `keep` accepts:
    what two runs that judged the same resources must agree on."""
    return {
        (c["id"], r["resource_id"], r["outcome"], r["message"])
        for c in document["controls"]
        if keep(c)
        for r in c["results"]
    }


def leaks(secret: str, result: pytest.RunResult, bundle: Path) -> list[str]:
    """Where a run shows `secret`: its output, and each file of its bundle by name."""
    shown = ["output"] if secret in result.stdout.str() + result.stderr.str() else []
    return shown + [path.name for path in sorted(bundle.iterdir()) if secret.encode() in path.read_bytes()]


def sha256sum_check(bundle: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sha256sum", "-c", "MANIFEST.sha256"], cwd=bundle, capture_output=True, text=True, check=False
    )

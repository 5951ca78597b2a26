"""Saved inventories as a source: `regops snapshot`, and a replay that gives the run's results."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import DEMO, SUITES, load_evidence, only_bundle, result_rows


def judge(pytester: pytest.Pytester, stage: str, out: str, *sources: str) -> dict[str, Any]:
    pytester.runpytest_subprocess(
        str(SUITES),
        "-c",
        "pyproject.toml",
        "--rootdir",
        str(pytester.path),
        "-p",
        "no:cacheprovider",
        f"--stage={stage}",
        f"--evidence-dir={out}",
        *sources,
    )
    return load_evidence(only_bundle(pytester.path / out, stage))


def test_a_replayed_inventory_gives_the_results_of_the_run_it_came_from(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml("[tool.regops]\n")
    shutil.copy(DEMO / "production.plan.json", pytester.path / "plan.json")
    original = judge(pytester, "production", "first", "--plan=plan.json")
    saved = only_bundle(pytester.path / "first", "production") / "inventory.json"
    replayed = judge(pytester, "production", "second", f"--inventory={saved}")
    assert len(result_rows(original)) > 150
    assert result_rows(replayed) == result_rows(original)
    (source,) = replayed["sources"]
    assert source["kind"] == "inventory"
    assert source["complete"] is True
    # the plan's configuration digest carries over, so promotion lineage still holds
    assert source["configuration_sha256"] == original["sources"][0]["configuration_sha256"]


def test_an_incomplete_snapshot_stays_incomplete(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makepyprojecttoml("[tool.regops]\n")
    shutil.copy(DEMO / "system.plan.json", pytester.path / "plan.json")
    judge(pytester, "system", "first", "--plan=plan.json")
    saved = json.loads((only_bundle(pytester.path / "first", "system") / "inventory.json").read_text())
    saved["sources"][0]["complete"] = False
    saved["sources"][0]["errors"] = ["AccessDenied on ec2:DescribeSecurityGroups in eu-central-1"]
    (pytester.path / "partial.json").write_text(json.dumps(saved))
    replayed = judge(pytester, "system", "second", "--inventory=partial.json")
    assert replayed["gate"]["verdict"] == "fail"
    assert any("AccessDenied" in reason for reason in replayed["gate"]["reasons"])


def test_an_inventory_of_another_stage_is_refused(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml("[tool.regops]\n")
    shutil.copy(DEMO / "system.plan.json", pytester.path / "plan.json")
    judge(pytester, "system", "first", "--plan=plan.json")
    saved = only_bundle(pytester.path / "first", "system") / "inventory.json"
    result = pytester.runpytest_subprocess(
        str(SUITES),
        "-c",
        "pyproject.toml",
        "--rootdir",
        str(pytester.path),
        "-p",
        "no:cacheprovider",
        "--stage=production",
        f"--inventory={saved}",
        "--evidence-dir=second",
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*inventory.json: an inventory of stage 'system', not of 'production'*"])


def snapshot(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "regops.cli", "snapshot", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


def test_snapshot_writes_the_inventory_a_run_would_judge(tmp_path: Path) -> None:
    shutil.copy(DEMO / "acceptance.plan.json", tmp_path / "plan.json")
    (tmp_path / "pyproject.toml").write_text('[tool.regops.stages.acceptance]\nplans = ["plan.json"]\n')
    done = snapshot(tmp_path, "--stage=acceptance", "-o", "snap.json")
    assert done.returncode == 0, done.stderr
    document = json.loads((tmp_path / "snap.json").read_text())
    assert document["schema"] == "regops.inventory/v1"
    assert document["stage"] == "acceptance"
    ids = {r["id"] for r in document["resources"]}
    assert {"aws_db_instance.ledger", "estate:aws", "estate:azure", "estate:gcp"} <= ids
    assert "snap.json: " in done.stdout
    # the secret in the plan is redacted in the snapshot as everywhere else
    assert "S3cr3t-ledger-pw-DO-NOT-LEAK" not in (tmp_path / "snap.json").read_text()


def test_snapshot_of_a_bad_plan_is_one_clear_error_and_no_file(tmp_path: Path) -> None:
    (tmp_path / "plan.json").write_text('{"format_version": ')
    done = snapshot(tmp_path, "--stage=system", "--plan=plan.json", "-o", "snap.json")
    assert done.returncode == 2
    assert "plan.json" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "snap.json").exists()

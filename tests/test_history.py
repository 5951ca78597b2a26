"""Run history: baselines, what changed, gating on new failures only, the trend."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from regops.cli import main
from tests.helpers import load_evidence
from tests.plans import compliant_bucket, write_plan
from tests.test_plugin import CONTROLS, public_bucket


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_controls=CONTROLS)
    return pytester


def run(
    pytester: pytest.Pytester, *changes: object, args: tuple[str, ...] = ()
) -> tuple[pytest.RunResult, Path]:
    write_plan(pytester.path / "plan.json", *changes)  # type: ignore[arg-type]
    before = (
        set((pytester.path / "out" / "acceptance").glob("*")) if (pytester.path / "out").exists() else set()
    )
    result = pytester.runpytest(
        "-p",
        "no:cacheprovider",
        "--stage=acceptance",
        "--plan",
        "plan.json",
        "--evidence-dir",
        "out",
        "--control",
        "T-001",
        *args,
    )
    (bundle,) = set((pytester.path / "out" / "acceptance").glob("*")) - before
    return result, bundle


def test_baseline_latest_reports_new_fixed_and_resource_changes(project: pytest.Pytester) -> None:
    run(project, *compliant_bucket("card"), *public_bucket())
    result, bundle = run(
        project,
        *compliant_bucket("card"),
        *compliant_bucket("open"),
        *compliant_bucket("web"),
        args=("--baseline", "latest"),
    )
    result.stdout.fnmatch_lines(
        ["*since *: 0 new failures, 1 fixed, 0 still failing, 1 new resources, 0 gone*"]
    )
    comparison = load_evidence(bundle)["comparison"]
    assert comparison["fixed"] == [
        {
            "control": "T-001",
            "resource_id": "aws_s3_bucket.open",
            "outcome": "passed",
            "message": "",
            "was": "failed",
        }
    ]
    assert comparison["new_resources"] == ["aws_s3_bucket.web"]
    result, bundle = run(project, *compliant_bucket("card"), *public_bucket(), args=("--baseline", "latest"))
    result.stdout.fnmatch_lines(
        ["*1 new failures*", "*NEW   T-001 aws_s3_bucket.open: aws_s3_bucket.open: public*"]
    )
    comparison = load_evidence(bundle)["comparison"]
    assert [i["resource_id"] for i in comparison["new_failures"]] == ["aws_s3_bucket.open"]
    assert comparison["gone_resources"] == ["aws_s3_bucket.web"]
    assert "1 new failures" in (bundle / "report.html").read_text()


def test_gate_on_new_failures_only_is_a_stage_choice_recorded_in_evidence(project: pytest.Pytester) -> None:
    project.makepyprojecttoml('[tool.regops.stages.acceptance]\ngate_on = "new"\n')
    first, bundle = run(project, *compliant_bucket("card"), *public_bucket(), args=("--baseline", "latest"))
    assert first.ret == 1  # no history: every failure is new
    second, bundle = run(project, *compliant_bucket("card"), *public_bucket(), args=("--baseline", "latest"))
    assert second.ret == 0
    document = load_evidence(bundle)
    assert document["gate"]["mode"] == "new-failures-only"
    assert document["comparison"]["still_failing"][0]["resource_id"] == "aws_s3_bucket.open"
    assert document["summary"]["by_outcome"]["failed"] == 1  # never hidden, only not gating


def test_a_bad_baseline_is_a_usage_error(project: pytest.Pytester) -> None:
    write_plan(project.path / "plan.json", *compliant_bucket())
    result = project.runpytest(
        "-p", "no:cacheprovider", "--stage=acceptance", "--plan", "plan.json", "--baseline", "nowhere"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*nowhere/evidence.json: cannot read the evidence*"])


def test_history_command_prints_and_plots(
    project: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    run(project, *compliant_bucket("card"))
    run(project, *compliant_bucket("card"), *public_bucket())
    capsys.readouterr()
    page = project.path / "trend.html"
    assert (
        main(
            ["history", "--stage", "acceptance", "--archive", str(project.path / "out"), "--html", str(page)]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[1:] == ["pass", "1", "0", "0", "0"]
    assert lines[2].split()[1:] == ["fail", "1", "1", "0", "0"]
    text = page.read_text()
    assert text.count("<polyline") == 4
    assert "<td>fail</td>" in text
    assert main(["history", "--stage", "production", "--archive", str(project.path / "out")]) == 1


def test_history_skips_unreadable_bundles(
    project: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    run(project, *compliant_bucket("card"))
    broken = project.path / "out" / "acceptance" / "00000000T000000.000Z-000000"
    broken.mkdir()
    (broken / "evidence.json").write_text(json.dumps({"schema": "other"}))
    capsys.readouterr()
    assert main(["history", "--stage", "acceptance", "--archive", str(project.path / "out")]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2

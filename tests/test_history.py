"""Run history: baselines, what changed, gating on new failures only, the trend."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest

from regops.cli import main
from regops.history import HistoryError, resolve_baseline, stage_history
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
    result.stderr.fnmatch_lines(["*nowhere: no such bundle directory*"])


def truncate_inventory(bundle: Path) -> str:
    (bundle / "inventory.json").write_bytes((bundle / "inventory.json").read_bytes()[:500])
    return "inventory.json: cannot read the inventory (Unterminated string*"


def empty_evidence(bundle: Path) -> str:
    (bundle / "evidence.json").write_text(json.dumps({"schema": "regops.evidence/v1"}))
    return "evidence.json: not a valid regops.evidence/v1 document ((top): 'run' is a required property*"


def numbers_inventory(bundle: Path) -> str:
    document = json.loads((bundle / "inventory.json").read_text())
    (bundle / "inventory.json").write_text(json.dumps({**document, "resources": [1, 2]}))
    return "inventory.json: not a regops inventory (resources/0: not an object)"


DAMAGES = [truncate_inventory, empty_evidence, numbers_inventory]


@pytest.mark.parametrize("damage", DAMAGES)
def test_latest_skips_a_damaged_bundle_for_the_newest_intact_one(
    project: pytest.Pytester, damage: Callable[[Path], str]
) -> None:
    _, intact = run(project, *compliant_bucket("card"), *public_bucket())
    _, damaged = run(project, *compliant_bucket("card"))
    problem = damage(damaged)
    result, bundle = run(project, *compliant_bucket("card"), args=("--baseline", "latest"))
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    assert load_evidence(bundle)["comparison"]["baseline"] == intact.name
    assert (bundle / "MANIFEST.sha256").is_file()
    skipped: list[str] = []
    found = resolve_baseline("latest", project.path / "out", "acceptance", bundle, skipped=skipped)
    assert found is not None
    assert found.id == intact.name
    (reason,) = skipped
    assert fnmatch(reason, f"{damaged}/{problem}")


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_baseline_is_a_usage_error_before_anything_runs(
    project: pytest.Pytester, damage: Callable[[Path], str]
) -> None:
    _, damaged = run(project, *compliant_bucket("card"))
    problem = damage(damaged)
    result = project.runpytest(
        "-p",
        "no:cacheprovider",
        "--stage=acceptance",
        "--plan",
        "plan.json",
        "--evidence-dir",
        "out",
        f"--baseline={damaged}",
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {damaged}/{problem}"])
    assert "Traceback" not in result.stderr.str()
    assert sorted((project.path / "out" / "acceptance").iterdir()) == [damaged]


def test_a_baseline_of_another_stage_is_refused(project: pytest.Pytester) -> None:
    _, bundle = run(project, *compliant_bucket("card"))
    with pytest.raises(HistoryError, match=f"{bundle}: a bundle of the acceptance stage, not of system$"):
        resolve_baseline(str(bundle), project.path / "out", "system", project.path / "current")
    assert stage_history(project.path / "out", "system") == []


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
    _, intact = run(project, *compliant_bucket("card"))
    broken = project.path / "out" / "acceptance" / "00000000T000000.000Z-000000"
    broken.mkdir()
    (broken / "evidence.json").write_text(json.dumps({"schema": "other"}))
    document = load_evidence(intact)
    edits: dict[str, Callable[[dict[str, Any]], object]] = {
        "no-summary": lambda d: d.pop("summary"),
        "no-run-id": lambda d: d["run"].pop("id"),
        "no-waived-count": lambda d: d["summary"]["by_outcome"].pop("waived"),
    }
    for name, edit in edits.items():
        shutil.copytree(intact, intact.with_name(name))
        edited = json.loads(json.dumps(document))
        edit(edited)
        (intact.with_name(name) / "evidence.json").write_text(json.dumps(edited))
    capsys.readouterr()
    assert main(["history", "--stage", "acceptance", "--archive", str(project.path / "out")]) == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 2
    archive = project.path / "out" / "acceptance"
    assert err.splitlines() == [
        f"skipped {archive}/00000000T000000.000Z-000000/evidence.json: not a regops.evidence/v1 document",
        f"skipped {archive}/no-run-id/evidence.json: not a valid regops.evidence/v1 document "
        "(run: 'id' is a required property)",
        f"skipped {archive}/no-summary/evidence.json: not a valid regops.evidence/v1 document "
        "((top): 'summary' is a required property)",
        f"skipped {archive}/no-waived-count/evidence.json: not a valid regops.evidence/v1 document "
        "(summary/by_outcome: 'waived' is a required property)",
    ]


@pytest.mark.parametrize("page", ["folder", "nodir/trend.html"])
def test_history_page_that_cannot_be_written_is_one_error(
    project: pytest.Pytester, capsys: pytest.CaptureFixture[str], page: str
) -> None:
    run(project, *compliant_bucket("card"))
    (project.path / "folder").mkdir()
    capsys.readouterr()
    archive = str(project.path / "out")
    assert main(["history", "--stage", "acceptance", "--archive", archive, "--html", page]) == 2
    (error,) = capsys.readouterr().err.splitlines()
    assert error.startswith(f"regops history: {page}: cannot write (")


def test_a_skipped_bundle_is_named_in_the_summary(project: pytest.Pytester) -> None:
    run(project, *compliant_bucket("card"))
    _, damaged = run(project, *compliant_bucket("card"))
    truncate_inventory(damaged)
    result, _ = run(project, *compliant_bucket("card"), args=("--baseline", "latest"))
    result.stdout.fnmatch_lines([f"history: skipped {damaged}/inventory.json: cannot read the inventory*"])


def test_a_baseline_of_another_stage_is_a_usage_error(project: pytest.Pytester) -> None:
    _, bundle = run(project, *compliant_bucket("card"))
    result = project.runpytest(
        "-p",
        "no:cacheprovider",
        "--stage=system",
        "--plan",
        "plan.json",
        "--evidence-dir",
        "out",
        f"--baseline={bundle}",
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {bundle}: a bundle of the acceptance stage, not of system"])
    assert not (project.path / "out" / "system").exists()


def test_a_waived_failure_is_still_failing_not_fixed(project: pytest.Pytester) -> None:
    run(project, *compliant_bucket("card"), *public_bucket())
    today = datetime.now(UTC).date()
    (project.path / "w.yaml").write_text(
        "waivers:\n"
        "  - control: T-001\n"
        '    resources: ["aws_s3_bucket.open"]\n'
        "    justification: Public website assets, approved by the CISO\n"
        "    requested_by: alice@example.com\n"
        "    approved_by: bob@example.com\n"
        "    ticket: CHG-1234\n"
        f"    expires: {today + timedelta(days=30)}\n"
    )
    waived = ("--baseline", "latest", "--waivers", "w.yaml")
    result, bundle = run(project, *compliant_bucket("card"), *public_bucket(), args=waived)
    # A waiver accepts the risk; the bucket is as public as it was.
    result.stdout.fnmatch_lines(["*0 new failures, 0 fixed, 1 still failing*"])
    comparison = json.loads((bundle / "evidence.json").read_text())["comparison"]
    assert [(e["resource_id"], e["outcome"]) for e in comparison["still_failing"]] == [
        ("aws_s3_bucket.open", "waived")
    ]

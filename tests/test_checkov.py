"""checkov, run for real in-process: findings, mapping, cache, fail-closed, and in the plugin."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from regops.scanners.checkov import SCAN_CONTROL, ScanTarget, check_mappings, scan, scan_results
from tests.helpers import ROOT, SUITES, load_evidence, only_bundle, run_project_suites, sha256sum_check
from tests.plans import compliant_bucket, write_plan

pytest.importorskip("checkov")


def open_bucket_plan(path: Path) -> Path:
    """A compliant bucket, and one whose public access block lets policies through."""
    changes = compliant_bucket("card") + compliant_bucket("open")
    block = changes[-2]
    block.after = {**block.after, "block_public_policy": False, "restrict_public_buckets": False}  # type: ignore[dict-item]
    return write_plan(path, *changes)


def test_findings_of_a_plan_and_the_cache(tmp_path: Path) -> None:
    plan = open_bucket_plan(tmp_path / "plan.json")
    cache = tmp_path / "cache"
    first = scan([ScanTarget(plan, "terraform_plan")], cache_dir=cache, checks=["CKV_AWS_54", "CKV_AWS_56"])
    assert first.problems == {str(plan): None}
    outcomes = {(f.check_id, f.resource): f.outcome for f in first.findings}
    assert outcomes == {
        ("CKV_AWS_54", "aws_s3_bucket_public_access_block.card"): "passed",
        ("CKV_AWS_54", "aws_s3_bucket_public_access_block.open"): "failed",
        ("CKV_AWS_56", "aws_s3_bucket_public_access_block.card"): "passed",
        ("CKV_AWS_56", "aws_s3_bucket_public_access_block.open"): "failed",
    }
    assert first.version
    assert first.reports[0].notes == (f"checkov {first.version}",)
    assert len(list(cache.glob("*.json"))) == 1

    again = scan([ScanTarget(plan, "terraform_plan")], cache_dir=cache, checks=["CKV_AWS_54", "CKV_AWS_56"])
    assert again.findings == first.findings
    assert any("from the cache" in note for note in again.reports[0].notes)

    # Another selection, or a changed plan, is another question: scanned afresh.
    other = scan([ScanTarget(plan, "terraform_plan")], cache_dir=cache, checks=["CKV_AWS_54"])
    assert {f.check_id for f in other.findings} == {"CKV_AWS_54"}
    assert not any("from the cache" in note for note in other.reports[0].notes)


def test_a_plan_checkov_cannot_read_is_an_error_not_silence(tmp_path: Path) -> None:
    # checkov itself reports nothing at all for this plan, not even a parse error.
    plan = tmp_path / "odd.json"
    plan.write_text(json.dumps({"format_version": "1.2", "resource_changes": "not a list"}))
    found = scan([ScanTarget(plan, "terraform_plan")], cache_dir=tmp_path / "cache")
    assert found.findings == ()
    assert (
        found.problems[str(plan)]
        == f"{plan}: checkov scanned no resource in it (unreadable, or no resources)"
    )
    assert found.reports[0].complete is False
    assert not (tmp_path / "cache").exists()  # a failed scan is never cached
    (result,) = scan_results(found)
    assert (result.control_id, result.outcome.value) == (SCAN_CONTROL.id, "error")


def test_a_folder_with_broken_terraform_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text('resource "aws_s3_bucket" "a" {\n  bucket = "a"\n}\n')
    (tmp_path / "broken.tf").write_text('resource "aws_s3_bucket" "b" {\n  bucket =\n')
    found = scan([ScanTarget(tmp_path, "terraform")], cache_dir=None)
    assert found.problems[str(tmp_path)] == f"{tmp_path}: checkov could not parse broken.tf"


def test_findings_of_a_folder_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text('resource "aws_s3_bucket" "a" {\n  bucket = "a"\n}\n')
    found = scan([ScanTarget(tmp_path, "terraform")], cache_dir=None, checks=["CKV_AWS_21"])
    assert [(f.check_id, f.resource, f.outcome) for f in found.findings] == [
        ("CKV_AWS_21", "main.tf:aws_s3_bucket.a", "failed")
    ]


def test_without_checkov_installed_the_scan_is_an_error(tmp_path: Path) -> None:
    plan = open_bucket_plan(tmp_path / "plan.json")
    program = (
        "import sys; sys.modules['checkov'] = None\n"
        "from pathlib import Path\n"
        "from regops.scanners.checkov import ScanTarget, scan\n"
        f"found = scan([ScanTarget(Path({str(plan)!r}), 'terraform_plan')], cache_dir=None)\n"
        "print(found.problems)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert "checkov is not installed" in completed.stdout


def test_checkov_reaches_for_nothing_beyond_the_machine(tmp_path: Path) -> None:
    plan = open_bucket_plan(tmp_path / "plan.json")
    # An audit hook sees every outgoing connection and name lookup of the scan.
    program = (
        "import sys\n"
        "seen = []\n"
        "sys.addaudithook(lambda event, args: seen.append((event, repr(args)[:80]))"
        " if event in ('socket.connect', 'socket.getaddrinfo') else None)\n"
        "from pathlib import Path\n"
        "from regops.scanners.checkov import ScanTarget, scan\n"
        f"found = scan([ScanTarget(Path({str(plan)!r}), 'terraform_plan')], cache_dir=None)\n"
        "assert found.findings, found.problems\n"
        "print(seen)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert completed.stdout.strip() == "[]"


def test_every_mapped_check_names_a_native_control() -> None:
    native = {
        line.split('"')[1]
        for path in SUITES.rglob("test_*.py")
        for line in path.read_text().splitlines()
        if line.strip().startswith('id="')
    }
    mapped = {m.control for m in check_mappings().values() if m.control}
    assert mapped
    assert mapped <= native


# The plugin, end to end


CONFIG = """
[tool.regops.checkov]
checks = ["CKV_AWS_54", "CKV_AWS_56", "CKV_AWS_21"]
{extra}
"""


def run(pytester: pytest.Pytester, *args: str, extra: str = "") -> pytest.RunResult:
    pytester.makepyprojecttoml(CONFIG.format(extra=extra))
    open_bucket_plan(pytester.path / "plan.json")
    return run_project_suites(
        pytester,
        "--stage=acceptance",
        "--plan",
        "plan.json",
        "--evidence-dir=out",
        *args,
    )


def checkov_controls(document: dict[str, object]) -> dict[str, dict[str, object]]:
    return {c["id"]: c for c in document["controls"] if c["source"].startswith("checkov")}  # type: ignore[attr-defined, index]


def test_plugin_findings_are_results_with_their_control_s_references(pytester: pytest.Pytester) -> None:
    result = run(pytester)
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "regops checkov: plan.json: 4 resources",
            "FAILED *CKV_AWS_54:aws_s3_bucket_public_access_block.open]*",
        ]
    )
    bundle = only_bundle(pytester.path / "out", "acceptance")
    document = load_evidence(bundle)
    controls = checkov_controls(document)
    native = {c["id"]: c for c in document["controls"]}
    block = controls["CKV_AWS_54"]
    assert block["maps_to"] == "NET-004"
    assert (block["severity"], block["frameworks"]) == (
        native["NET-004"]["severity"],
        native["NET-004"]["frameworks"],
    )
    # The finding stands on the bucket the block is joined into, naming the block it came from.
    outcomes = {(r["resource_id"], r["address"]): r["outcome"] for r in block["results"]}  # type: ignore[index]
    assert outcomes == {
        ("aws_s3_bucket.card", "aws_s3_bucket_public_access_block.card"): "passed",
        ("aws_s3_bucket.open", "aws_s3_bucket_public_access_block.open"): "failed",
    }
    (scan_source,) = (s for s in document["sources"] if s["kind"] == "checkov")
    assert scan_source["complete"] is True
    assert scan_source["notes"][0].startswith("checkov 3.")
    assert "checkov.json" in (bundle / "MANIFEST.sha256").read_text()
    assert sha256sum_check(bundle).returncode == 0


def test_plugin_findings_of_two_plans_sharing_addresses_stand_on_their_own_plan_s_resource(
    pytester: pytest.Pytester,
) -> None:
    # Two root modules of one stage with the same code: every address is in both plans.
    open_bucket_plan(pytester.path / "other.json")
    result = run(pytester, "--plan", "other.json")
    assert result.ret == 1
    document = load_evidence(only_bundle(pytester.path / "out", "acceptance"))
    outcomes = sorted(
        (r["resource_id"], r["outcome"])
        for r in checkov_controls(document)["CKV_AWS_54"]["results"]  # type: ignore[attr-defined]
    )
    assert outcomes == [
        ("other.json:aws_s3_bucket.card", "passed"),
        ("other.json:aws_s3_bucket.open", "failed"),
        ("plan.json:aws_s3_bucket.card", "passed"),
        ("plan.json:aws_s3_bucket.open", "failed"),
    ]


def test_plugin_rerun_of_the_same_plan_uses_the_cache(pytester: pytest.Pytester) -> None:
    run(pytester)
    second = run(pytester)
    second.stdout.fnmatch_lines(["regops checkov: plan.json: 4 resources (cached)"])


def test_plugin_control_selection_takes_the_checks_mapped_to_it(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--control=NET-004", "--co", "-q")
    lines = [line for line in result.stdout.lines if "::" in line]
    assert any("test_object_store_not_public" in line for line in lines)
    assert any("CKV_AWS_54:" in line for line in lines)
    assert not any("CKV_AWS_21:" in line for line in lines)  # mapped to BCK-005


def test_plugin_unreadable_folder_fails_the_gate(pytester: pytest.Pytester) -> None:
    (pytester.path / "infra").mkdir()
    (pytester.path / "infra" / "broken.tf").write_text('resource "aws_s3_bucket" "b" {\n  bucket =\n')
    result = run(pytester, extra='directories = ["infra"]')
    assert result.ret == 1
    result.stdout.fnmatch_lines(["gate: FAIL*", "  - source checkov *"])
    document = load_evidence(only_bundle(pytester.path / "out", "acceptance"))
    scan_outcomes = {
        r["resource_id"].rsplit("/", 1)[-1]: r["outcome"]
        for c in document["controls"]
        if c["id"] == "SCAN-001"
        for r in c["results"]
    }
    assert scan_outcomes == {"plan.json": "passed", "infra": "error"}
    assert document["gate"]["verdict"] == "fail"
    assert any(
        reason.startswith("source checkov ") and reason.endswith("checkov could not parse broken.tf")
        for reason in document["gate"]["reasons"]
    )


def test_plugin_under_xdist_gives_the_same_findings(pytester: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    run(pytester)
    serial = load_evidence(only_bundle(pytester.path / "out", "acceptance"))
    (pytester.path / "out").rename(pytester.path / "serial")
    run(pytester, "-n", "2")
    parallel = load_evidence(only_bundle(pytester.path / "out", "acceptance"))

    def outcomes(document: dict[str, object]) -> set[tuple[str, str, str]]:
        return {
            (cid, r["resource_id"], r["outcome"])  # type: ignore[index]
            for cid, c in checkov_controls(document).items()
            for r in c["results"]  # type: ignore[attr-defined]
        }

    assert outcomes(serial) == outcomes(parallel) != set()


def test_a_checkov_crash_is_an_error_of_the_scan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from checkov.terraform import plan_runner

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("checkov fell over")

    # The third-party scanner is made to fail; regops's handling of it is what is tested.
    monkeypatch.setattr(plan_runner.Runner, "run", crash)
    plan = open_bucket_plan(tmp_path / "plan.json")
    found = scan([ScanTarget(plan, "terraform_plan")], cache_dir=tmp_path / "cache")
    assert found.problems[str(plan)] == f"{plan}: checkov crashed: RuntimeError: checkov fell over"
    assert found.reports[0].complete is False
    assert not (tmp_path / "cache").exists()

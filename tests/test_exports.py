"""SARIF and OSCAL exports in the bundle: derived from evidence.json, consistent with it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from regops.evidence.exports import oscal_assessment_results, sarif_document
from regops.jsontext import json_chunks
from tests.helpers import SUITES, load_evidence, only_bundle, sha256sum_check
from tests.plans import compliant_bucket, write_plan


@pytest.fixture
def bundle(pytester: pytest.Pytester) -> Path:
    pytester.makepyprojecttoml("[tool.regops]\n")
    changes = compliant_bucket("card") + compliant_bucket("plain")
    tags = dict(changes[4].after["tags"])  # type: ignore[index]
    del tags["owner"]
    changes[4].after = {**changes[4].after, "tags": tags, "tags_all": tags}  # type: ignore[dict-item]
    write_plan(pytester.path / "plan.json", *changes)
    result = pytester.runpytest_subprocess(
        str(SUITES),
        "-c",
        "pyproject.toml",
        "--rootdir",
        str(pytester.path),
        "-p",
        "no:cacheprovider",
        "--stage=acceptance",
        "--plan=plan.json",
        "--evidence-dir=out",
    )
    assert result.ret == 1  # the bucket without an owner tag fails AST-001
    return only_bundle(pytester.path / "out", "acceptance")


def read(bundle: Path, name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((bundle / name).read_text())
    return document


def test_sarif_lists_what_failed_with_its_rule_and_file(bundle: Path) -> None:
    evidence = load_evidence(bundle)
    sarif = read(bundle, "results.sarif")
    assert sarif["version"] == "2.1.0"
    (run,) = sarif["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [c["id"] for c in evidence["controls"]]
    failing = {
        (c["id"], r["resource_id"])
        for c in evidence["controls"]
        for r in c["results"]
        if r["outcome"] in {"failed", "error"}
    }
    exported = {(r["ruleId"], r["locations"][0]["logicalLocations"][0]["name"]) for r in run["results"]}
    assert exported == failing
    assert ("AST-001", "aws_s3_bucket.plain") in exported
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
    ast = next(r for r in run["results"] if r["ruleId"] == "AST-001")
    assert ast["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "plan.json"
    assert ast["level"] == "error"  # AST-001 is high
    fingerprints = [r["partialFingerprints"]["regops/v1"] for r in run["results"]]
    assert len(fingerprints) == len(set(fingerprints))
    assert run["invocations"][0]["executionSuccessful"] is False


def test_oscal_has_an_observation_per_result_and_a_finding_per_control(bundle: Path) -> None:
    evidence = load_evidence(bundle)
    oscal = read(bundle, "oscal-assessment-results.json")["assessment-results"]
    assert oscal["metadata"]["oscal-version"] == "1.1.2"
    (result,) = oscal["results"]
    assert len(result["observations"]) == sum(len(c["results"]) for c in evidence["controls"])
    states = {f["title"].split(":")[0]: f["target"]["status"]["state"] for f in result["findings"]}
    for control in evidence["controls"]:
        outcomes = {r["outcome"] for r in control["results"]}
        expected = (
            "satisfied"
            if outcomes and outcomes <= {"passed", "waived", "not_applicable"}
            else "not-satisfied"
        )
        assert states[control["id"]] == expected, control["id"]
    assert states["AST-001"] == "not-satisfied"
    observation_ids = {o["uuid"] for o in result["observations"]}
    for finding in result["findings"]:
        assert {r["observation-uuid"] for r in finding["related-observations"]} <= observation_ids
    requirements = {
        p["value"] for f in result["findings"] if f["title"].startswith("AST-001") for p in f["props"]
    }
    assert any(value.startswith("pci-dss ") for value in requirements)


def test_exports_are_in_the_manifest_and_reproducible(bundle: Path) -> None:
    manifest = (bundle / "MANIFEST.sha256").read_text()
    assert "results.sarif" in manifest
    assert "oscal-assessment-results.json" in manifest
    assert sha256sum_check(bundle).returncode == 0
    evidence = load_evidence(bundle)
    # The same evidence always gives the same documents, identifiers included.
    written = "".join(json_chunks(oscal_assessment_results(evidence)))
    assert json.loads(written) == read(bundle, "oscal-assessment-results.json")
    assert (
        sarif_document(evidence, {"aws_s3_bucket.plain": "plan.json", "aws_s3_bucket.card": "plan.json"})[
            "runs"
        ][0]["results"]
        == read(bundle, "results.sarif")["runs"][0]["results"]
    )


def test_oscal_without_controls_stays_valid_in_shape() -> None:
    document = {
        "run": {
            "id": "20260101T000000.000Z-abcdef",
            "stage": "system",
            "started_at": "2026-01-01T00:00:00Z",
            "finished_at": "2026-01-01T00:00:01Z",
            "tool": {"version": "0"},
            "command_line": [],
        },
        "controls": [],
        "gate": {"verdict": "fail", "reasons": ["no resources"]},
    }
    oscal = json.loads("".join(json_chunks(oscal_assessment_results(document))))
    (result,) = oscal["assessment-results"]["results"]
    assert result["reviewed-controls"]["control-selections"] == [{"include-all": {}}]
    assert "observations" not in result
    assert "findings" not in result

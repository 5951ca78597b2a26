"""SARIF, OSCAL and JUnit exports in the bundle: derived from the evidence, consistent with it."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from regops.discovery import Inventory
from regops.evidence.bundle import RunInfo, evidence_document, junit_xml, validate_evidence
from regops.evidence.exports import oscal_assessment_results, sarif_document
from regops.gate import judge, summarise
from regops.jsontext import json_chunks
from regops.model import Control, Outcome, Resource, Result, SourceReport
from tests.helpers import load_evidence, only_bundle, run_project_suites, sha256sum_check
from tests.plans import compliant_bucket, write_plan

BUCKET = Resource("b", "aws", "aws_s3_bucket", "object_store", "eu-central-1", "acceptance", "planned")
MOMENT = datetime(2026, 1, 1, tzinfo=UTC)


def control(control_id: str) -> Control:
    return Control(
        control_id,
        f"{control_id} title",
        "system",
        "high",
        ("acceptance",),
        ("object_store",),
        {"pci-dss": ("1.1",)},
    )


def result(control_id: str, outcome: Outcome, nodeid: str, resource_id: str | None = "b") -> Result:
    return Result(control_id, resource_id, outcome, f"{outcome.value} message", nodeid, provider="aws")


def evidence(results: list[Result]) -> dict[str, Any]:
    """A schema-valid evidence.json of these results, as a reader of the bundle gets it."""
    controls = {r.control_id: control(r.control_id) for r in results}
    inventory = Inventory(
        "acceptance", (BUCKET,), (SourceReport("terraform_plan", "plan.json", "0" * 64, 1, True),)
    )
    document = evidence_document(
        run=RunInfo("20260101T000000.000Z-abcdef", "acceptance", MOMENT, "0", "8", [], finished_at=MOMENT),
        settings={
            "stage": "acceptance",
            "fail_on": "low",
            "controls": [],
            "frameworks": [],
            "parameters": {},
        },
        sources=inventory.sources,
        inventory_file={"file": "inventory.json", "sha256": "0" * 64, "count": 1},
        controls=controls,
        results=results,
        summary=summarise(results, controls),
        gate=judge(results, controls, inventory, "low").to_dict(),
        waivers={"applied": [], "expired": [], "rejected": []},
    )
    loaded: dict[str, Any] = json.loads("".join(json_chunks(document)))
    assert not validate_evidence(loaded)
    return loaded


@pytest.fixture
def bundle(pytester: pytest.Pytester) -> Path:
    pytester.makepyprojecttoml("[tool.regops]\n")
    changes = compliant_bucket("card") + compliant_bucket("plain")
    tags = dict(changes[4].after["tags"])  # type: ignore[index]
    del tags["owner"]
    changes[4].after = {**changes[4].after, "tags": tags, "tags_all": tags}  # type: ignore[dict-item]
    write_plan(pytester.path / "plan.json", *changes)
    result = run_project_suites(
        pytester,
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
    # The gate failed, but regops ran to the end: the verdict is in the run's properties.
    (invocation,) = run["invocations"]
    assert invocation["executionSuccessful"] is True
    assert "toolExecutionNotifications" not in invocation
    assert run["properties"]["gate"]["verdict"] == evidence["gate"]["verdict"] == "fail"


def test_sarif_says_a_run_stopped_early_did_not_finish(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml("[tool.regops]\n")
    changes = compliant_bucket("plain")
    tags = dict(changes[0].after["tags"])  # type: ignore[index]
    del tags["owner"]
    changes[0].after = {**changes[0].after, "tags": tags, "tags_all": tags}  # type: ignore[dict-item]
    write_plan(pytester.path / "plan.json", *changes)
    ran = run_project_suites(
        pytester,
        "-x",
        "--stage=acceptance",
        "--plan=plan.json",
        "--evidence-dir=out",
    )
    assert ran.ret == 1
    stopped = only_bundle(pytester.path / "out", "acceptance")
    (reason,) = [
        r for r in load_evidence(stopped)["gate"]["reasons"] if r.startswith("the run stopped early")
    ]
    (invocation,) = read(stopped, "results.sarif")["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is False
    assert invocation["toolExecutionNotifications"] == [{"level": "error", "message": {"text": reason}}]


def test_sarif_marks_a_result_that_could_not_be_evaluated_open() -> None:
    document = evidence(
        [result("C-1", Outcome.ERROR, "t::error"), result("C-2", Outcome.FAILED, "t::failed")]
    )
    errored, failed = sarif_document(document, {})["runs"][0]["results"]
    assert (errored["ruleId"], errored["kind"], errored["level"]) == ("C-1", "open", "none")
    assert errored["message"]["text"] == "could not be evaluated: error message"
    assert (failed["ruleId"], failed["kind"], failed["level"]) == ("C-2", "fail", "error")


def test_oscal_has_an_observation_per_result_and_a_finding_per_control(bundle: Path) -> None:
    evidence = load_evidence(bundle)
    oscal = read(bundle, "oscal-assessment-results.json")["assessment-results"]
    assert oscal["metadata"]["oscal-version"] == "1.1.2"
    (result,) = oscal["results"]
    assert len(result["observations"]) == sum(len(c["results"]) for c in evidence["controls"])
    states = {f["title"].split(":")[0]: f["target"]["status"]["state"] for f in result["findings"]}
    for control in evidence["controls"]:
        outcomes = {r["outcome"] for r in control["results"]}
        satisfied = "passed" in outcomes and outcomes <= {"passed", "not_applicable"}
        expected = "satisfied" if satisfied else "not-satisfied"
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


def test_oscal_satisfies_a_control_only_when_something_passed_and_nothing_is_unmet() -> None:
    outcomes = {
        "C-OK": [Outcome.PASSED, Outcome.NOT_APPLICABLE],
        "C-NONE": [Outcome.NOT_APPLICABLE],
        "C-WAIVED": [Outcome.PASSED, Outcome.WAIVED],
        "C-ERROR": [Outcome.PASSED, Outcome.WAIVED, Outcome.ERROR],
        "C-FAILED": [Outcome.ERROR, Outcome.FAILED],
    }
    document = evidence(
        [
            result(control_id, outcome, f"t::{control_id}[{index}]", f"r{index}")
            for control_id, found in outcomes.items()
            for index, outcome in enumerate(found)
        ]
    )
    (found,) = oscal_assessment_results(document)["assessment-results"]["results"]
    statuses = {f["title"].split(":")[0]: f["target"]["status"] for f in found["findings"]}
    assert statuses == {
        "C-OK": {"state": "satisfied"},
        "C-NONE": {"state": "not-satisfied", "reason": "not-evaluated"},
        "C-WAIVED": {"state": "not-satisfied", "reason": "waived"},
        "C-ERROR": {"state": "not-satisfied", "reason": "error"},
        "C-FAILED": {"state": "not-satisfied", "reason": "fail"},
    }


def test_two_results_of_a_control_on_one_resource_stay_two_in_every_export() -> None:
    """A control parametrised beyond its resource gives it two results: no export merges them."""
    results = [
        result("C-1", Outcome.FAILED, "t::c1[b-eu]"),
        result("C-1", Outcome.FAILED, "t::c1[b-us]"),
        result("C-2", Outcome.FAILED, "t::c2[b]"),
    ]
    document = evidence(results)

    oscal = json.loads("".join(json_chunks(oscal_assessment_results(document))))
    (found,) = oscal["assessment-results"]["results"]
    observation_ids = [o["uuid"] for o in found["observations"]]
    assert len(set(observation_ids)) == 3
    related = {
        f["title"].split(":")[0]: [r["observation-uuid"] for r in f["related-observations"]]
        for f in found["findings"]
    }
    assert len(set(related["C-1"])) == 2
    assert sorted(related["C-1"] + related["C-2"]) == sorted(observation_ids)
    # Still the same identifiers each time the run is exported.
    assert json.loads("".join(json_chunks(oscal_assessment_results(document)))) == oscal

    fingerprints = [
        r["partialFingerprints"]["regops/v1"] for r in sarif_document(document, {})["runs"][0]["results"]
    ]
    assert fingerprints == ["C-1:b:t::c1[b-eu]", "C-1:b:t::c1[b-us]", "C-2:b"]

    suite = ET.fromstring(b"".join(junit_xml("acceptance", {c: control(c) for c in ("C-1", "C-2")}, results)))
    names = [(case.get("classname"), case.get("name")) for case in suite.iter("testcase")]
    assert names == [("C-1", "b (t::c1[b-eu])"), ("C-1", "b (t::c1[b-us])"), ("C-2", "b")]


def test_junit_counts_a_waived_result_with_the_skips_never_as_a_pass() -> None:
    message = "waived by W-1 (RISK-7, until 2026-06-30): bucket is public"
    results = [
        Result("C-1", "b", Outcome.WAIVED, message, "t::waived"),
        Result("C-1", "c", Outcome.NOT_APPLICABLE, "", "t::na"),
        Result("C-1", "d", Outcome.PASSED, "", "t::passed"),
    ]
    suite = ET.fromstring(b"".join(junit_xml("acceptance", {"C-1": control("C-1")}, results)))
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == (
        "3",
        "0",
        "0",
        "2",
    )
    waived = suite.find("testcase[@name='b']")
    assert waived is not None
    skipped = waived.find("skipped")
    assert skipped is not None
    assert (skipped.get("type"), skipped.get("message"), skipped.text) == ("waived", message, message)
    passed = suite.find("testcase[@name='d']")
    assert passed is not None
    assert passed.find("skipped") is None

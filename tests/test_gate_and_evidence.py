"""The gate, the summary and the bundle writer, without pytest in the way."""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regops.discovery import Inventory, InventoryError
from regops.evidence.bundle import EvidenceBundle, junit_xml, validate_evidence
from regops.gate import judge, summarise
from regops.jsontext import JSONStream, json_chunks
from regops.model import LAYERS, SEVERITIES, Control, Outcome, Resource, Result, SourceReport
from regops.stages import ConfigError, load_tool_config, resolve

HIGH = Control(
    "C-1", "High control", "system", "high", ("acceptance",), ("object_store",), {"pci-dss": ("3.5.1",)}
)
LOW = Control(
    "C-2", "Low control", "system", "low", ("acceptance",), ("object_store",), {"dora": ("Art. 9",)}
)
CONTROLS = {c.id: c for c in (HIGH, LOW)}
BUCKET = Resource("b", "aws", "aws_s3_bucket", "object_store", "eu-central-1", "acceptance", "planned")
SOURCE = SourceReport("terraform_plan", "plan.json", "0" * 64, 1, True)


def inventory(*sources: SourceReport, resources: tuple[Resource, ...] = (BUCKET,)) -> Inventory:
    return Inventory("acceptance", resources, sources or (SOURCE,))


def result(control: Control, outcome: Outcome) -> Result:
    return Result(control.id, "b", outcome, "", f"t::{control.id}")


def test_gate_passes_when_nothing_blocks() -> None:
    gate = judge([result(HIGH, Outcome.PASSED), result(LOW, Outcome.FAILED)], CONTROLS, inventory(), "medium")
    assert gate.passed
    assert gate.reasons == ()


def test_gate_fails_at_threshold_and_names_the_control() -> None:
    gate = judge([result(HIGH, Outcome.ERROR), result(LOW, Outcome.FAILED)], CONTROLS, inventory(), "low")
    assert not gate.passed
    assert gate.reasons == (
        "C-1 (high): 1 error result - High control",
        "C-2 (low): 1 failed result - Low control",
    )


def test_gate_fails_closed_on_empty_or_incomplete_sources() -> None:
    empty = judge([], CONTROLS, inventory(resources=()), "critical")
    assert empty.reasons == ("no resources discovered for stage 'acceptance': nothing was checked",)
    broken = SourceReport("aws", "eu-west-1", None, 1, False, ("eu-west-1 s3: AccessDenied",))
    partial = judge([result(HIGH, Outcome.PASSED)], CONTROLS, inventory(broken), "critical")
    assert partial.reasons == ("source aws eu-west-1 is incomplete: eu-west-1 s3: AccessDenied",)
    nothing = judge([result(HIGH, Outcome.NOT_APPLICABLE)], CONTROLS, inventory(), "critical")
    assert nothing.reasons == ("no control evaluated any resource",)


def test_gate_fails_when_a_live_source_finds_nothing_of_the_stage() -> None:
    """A plan found the bucket, but the subscription had nothing tagged: it looked elsewhere."""
    looked_elsewhere = SourceReport("azure", "azure:6f1e9c2a@management.azure.com", None, 0, True)
    gate = judge([result(HIGH, Outcome.PASSED)], CONTROLS, inventory(SOURCE, looked_elsewhere), "critical")
    assert gate.reasons == (
        "source azure azure:6f1e9c2a@management.azure.com found no resources of the stage",
    )
    # A scanner with no findings found nothing wrong: that is no reason to fail.
    clean_scan = SourceReport("checkov", "plan.json", None, 0, True)
    assert judge([result(HIGH, Outcome.PASSED)], CONTROLS, inventory(SOURCE, clean_scan), "critical").passed


@pytest.mark.parametrize(
    ("section", "key"),
    [
        (
            '[tool.regops.stages.acceptance.azure]\nsubscriptions = ["s"]\nendpoint = "http://arm.internal"',
            "endpoint",
        ),
        ("[tool.regops.stages.acceptance.azure]\nsubscriptions = []", "subscriptions"),
        ('[tool.regops.stages.acceptance.gcp]\nscope = "payments-acceptance-4821"', "scope"),
        ('[tool.regops.stages.acceptance.gcp]\nscope = "projects/p"\nlabel_key = 7', "label_key"),
    ],
    ids=["azure-plain-http", "azure-no-subscription", "gcp-bare-project", "gcp-label-not-text"],
)
def test_invalid_cloud_settings_name_the_file_and_key(tmp_path: Path, section: str, key: str) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(section + "\n")
    with pytest.raises(ConfigError, match=rf"pyproject\.toml: invalid \[tool\.regops\]: .*{key}"):
        load_tool_config(pyproject)


def test_summary_counts_by_outcome_severity_and_framework() -> None:
    summary = summarise([result(HIGH, Outcome.FAILED), result(LOW, Outcome.PASSED)], CONTROLS)
    assert summary["total"] == 2
    assert summary["by_outcome"]["failed"] == 1
    assert summary["by_severity"]["high"]["failed"] == 1
    assert summary["by_severity"]["low"]["passed"] == 1
    assert summary["by_framework"] == {
        "dora": {"passed": 1, "failed": 0, "waived": 0, "error": 0, "not_applicable": 0},
        "pci-dss": {"passed": 0, "failed": 1, "waived": 0, "error": 0, "not_applicable": 0},
    }


def test_schema_rejects_a_document_that_breaks_the_contract() -> None:
    problems = validate_evidence({"schema": "regops.evidence/v2", "run": {}})
    assert any("regops.evidence/v1" in p for p in problems)
    assert any("'controls' is a required property" in p for p in problems)


def test_manifest_checks_with_sha256sum(tmp_path: Path) -> None:
    bundle = EvidenceBundle.create(tmp_path, "system", "20260101T000000Z-abcdef")
    bundle.write_json("evidence.json", {"a": 1})
    bundle.write_bytes("junit.xml", b"<testsuite/>")
    bundle.write_manifest()
    checked = subprocess.run(
        ["sha256sum", "-c", "MANIFEST.sha256"], cwd=bundle.directory, capture_output=True
    )
    assert checked.returncode == 0
    (bundle.directory / "junit.xml").write_bytes(b"<testsuite tampered/>")
    checked = subprocess.run(
        ["sha256sum", "-c", "MANIFEST.sha256"], cwd=bundle.directory, capture_output=True
    )
    assert checked.returncode != 0


def test_a_run_folder_is_never_reused(tmp_path: Path) -> None:
    first = EvidenceBundle.create(tmp_path, "system", "20260101T000000Z-abcdef")
    first.write_bytes("junit.xml", b"<testsuite/>")
    with pytest.raises(FileExistsError):
        EvidenceBundle.create(tmp_path, "system", "20260101T000000Z-abcdef")


def test_inventory_round_trip_and_truncation(tmp_path: Path) -> None:
    original = inventory()
    path = tmp_path / "inventory.json"
    original.write(path)
    assert Inventory.read(path) == original
    path.write_text(path.read_text()[:-40])
    with pytest.raises(InventoryError, match=r"inventory.json: cannot read the inventory"):
        Inventory.read(path)
    path.write_text(json.dumps({"schema": "regops.inventory/v1", "stage": "system"}))
    with pytest.raises(InventoryError, match="truncated or malformed"):
        Inventory.read(path)


_NAMES = st.lists(st.text(max_size=8), max_size=3).map(tuple)


@given(
    st.builds(
        Control,
        id=st.text(min_size=1),
        title=st.text(),
        layer=st.sampled_from(LAYERS),
        severity=st.sampled_from(SEVERITIES),
        stages=_NAMES,
        kinds=_NAMES,
        frameworks=st.dictionaries(st.text(max_size=8), _NAMES, max_size=3),
        facts=_NAMES,
        rationale=st.text(),
        unverified=_NAMES,
        source=st.text(),
        maps_to=st.none() | st.text(),
    )
)
def test_a_control_survives_its_dict(control: Control) -> None:
    # How a worker's first result hands the controller the control's definition.
    assert Control.from_dict(json.loads(json.dumps(control.to_dict()))) == control


def test_settings_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "p.json").write_text("{}")
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[tool.regops]\nfail_on = "high"\n[tool.regops.parameters]\nbackup_retention_days = 14\n'
        '[tool.regops.stages.production]\nplans = ["p.json"]\nfail_on = "critical"\n'
        "[tool.regops.stages.production.parameters]\nbackup_retention_days = 35\n"
    )
    common = {"plans": [], "evidence_dir": None, "controls": [], "frameworks": [], "rootdir": tmp_path}
    monkeypatch.delenv("REGOPS_STAGE", raising=False)
    production = resolve(stage="production", fail_on=None, pyproject=pyproject, **common)  # type: ignore[arg-type]
    assert production.fail_on == "critical"
    assert production.parameters.backup_retention_days == 35
    assert production.plans == ((tmp_path / "p.json").resolve(),)
    assert production.evidence_dir == (tmp_path / "reports").resolve()
    overridden = resolve(stage="production", fail_on="low", pyproject=pyproject, **common)  # type: ignore[arg-type]
    assert overridden.fail_on == "low"
    with pytest.raises(ConfigError, match="stage 'system' has no sources"):
        resolve(stage="system", fail_on=None, pyproject=pyproject, **common)  # type: ignore[arg-type]
    monkeypatch.setenv("REGOPS_STAGE", "production")
    assert (
        resolve(stage=None, ini_stage="system", fail_on=None, pyproject=pyproject, **common).stage
        == "production"
    )  # type: ignore[arg-type]


def test_invalid_parameters_are_a_config_error(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[tool.regops.parameters]\nbackup_retention_days = "a month"\n')
    (tmp_path / "p.json").write_text("{}")
    with pytest.raises(ConfigError, match="backup_retention_days"):
        resolve(
            stage="system",
            plans=[str(tmp_path / "p.json")],
            evidence_dir=None,
            fail_on=None,
            controls=[],
            frameworks=[],
            rootdir=tmp_path,
            pyproject=pyproject,
        )


def json_containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    keys = st.text(max_size=6) | st.integers() | st.booleans() | st.none()
    return st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3)


EVIDENCE_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6),
    json_containers,
    max_leaves=20,
)


@given(EVIDENCE_VALUES)
def test_streamed_json_is_the_json_module_s(value: Any) -> None:
    assert json.loads("".join(json_chunks(value))) == json.loads(json.dumps(value))


def as_streams(value: Any) -> Any:
    """`value` with every list made a JSONStream."""
    if isinstance(value, list):
        members = [as_streams(member) for member in value]
        return JSONStream(lambda: iter(members))
    if isinstance(value, dict):
        return {key: as_streams(member) for key, member in value.items()}
    return value


@given(EVIDENCE_VALUES, st.integers(min_value=0, max_value=5))
def test_streams_are_written_as_the_arrays_they_make(value: Any, expand: int) -> None:
    streamed = "".join(json_chunks(as_streams(value), expand=expand))
    assert json.loads(streamed) == json.loads(json.dumps(value))


def test_a_stream_without_its_length_will_not_guess_one() -> None:
    assert len(JSONStream(lambda: [1, 2], length=2)) == 2
    with pytest.raises(TypeError, match="without its length"):
        bool(JSONStream(lambda: [1, 2]))


NESTED_OBJECTS = st.recursive(
    st.integers() | st.text(max_size=4), lambda inner: st.dictionaries(st.text(max_size=4), inner)
)


@given(NESTED_OBJECTS, st.integers(min_value=0, max_value=5))
def test_streamed_json_sorts_keys_at_every_level_as_the_json_module_does(value: Any, expand: int) -> None:
    streamed = "".join(json_chunks(value, sort_keys=True, expand=expand))
    assert json.loads(streamed) == value
    assert json.dumps(json.loads(streamed)) == json.dumps(value, sort_keys=True)


def test_streamed_json_lays_out_a_member_per_line_and_a_result_per_line() -> None:
    document = {
        "controls": [{"id": "C-1", "results": [{"outcome": "passed", "observed": {"public": False}}]}]
    }
    assert "".join(json_chunks(document)).splitlines() == [
        "{",
        ' "controls": [',
        "  {",
        '   "id": "C-1",',
        '   "results": [',
        '    {"outcome": "passed", "observed": {"public": false}}',
        "   ]",
        "  }",
        " ]",
        "}",
    ]


@given(st.text(max_size=60), st.text(max_size=30), st.sampled_from(list(Outcome)))
def test_junit_xml_is_well_formed_whatever_a_message_holds(
    message: str, resource_id: str, outcome: Outcome
) -> None:
    results = [
        Result(HIGH.id, resource_id or None, outcome, message, "t::x"),
        Result(LOW.id, "b", Outcome.PASSED, "", "t::y"),
    ]
    suite = ET.fromstring(b"".join(junit_xml("acceptance", CONTROLS, results)))
    assert suite.get("name") == "regops.acceptance"
    assert suite.get("tests") == "2"
    case = suite.find(f"testcase[@classname='{HIGH.id}']")
    assert case is not None
    properties = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert properties == {"severity": "high", "pci-dss": "3.5.1", "outcome": outcome.value}
    # What XML can carry arrives as it was; what it cannot is replaced, never the file broken.
    readable = "".join(
        "\ufffd" if (c < " " and c not in "\t\n\r") or c in "\ufffe\uffff" else c for c in message
    )
    if outcome in (Outcome.FAILED, Outcome.ERROR):
        detail = case.find("error" if outcome is Outcome.ERROR else "failure")
        assert detail is not None
        assert detail.get("message") == readable
        assert (detail.text or "") == readable
    elif outcome is Outcome.NOT_APPLICABLE:
        skipped = case.find("skipped")
        assert skipped is not None
        assert skipped.get("message") == readable

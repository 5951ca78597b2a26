"""Frameworks as data, control references checked against them, and the coverage matrix."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest

from regops.coverage import coverage_html, coverage_matrix
from regops.frameworks import expand_framework, load_frameworks
from regops.gate import Gate
from regops.model import Control, Outcome, Result
from regops.terminal import render_summary
from tests.helpers import load_evidence, only_bundle, run_project_suites

EXPECTED = {
    "pci-dss",
    "dora",
    "rts-2024-1774",
    "iso-27001",
    "bsi-c5",
    "cis-aws",
    "cis-azure",
    "cis-gcp",
    "marisk",
}


def test_every_framework_has_its_data_file() -> None:
    frameworks = load_frameworks()
    assert set(frameworks) == EXPECTED
    assert len(frameworks["iso-27001"].requirements) == 93  # Annex A of the 2022 edition
    assert frameworks["pci-dss"].has("3.5.1")
    assert not frameworks["pci-dss"].has("3.5.9")
    assert expand_framework("CIS") == ("cis-aws", "cis-azure", "cis-gcp")
    assert "BAIT" in (frameworks["marisk"].note or "")


def test_unconfirmed_requirements_stay_marked() -> None:
    c5 = {r.id: r for r in load_frameworks()["bsi-c5"].requirements}
    assert c5["CRY-02"].verified is True
    assert c5["OPS-05"].verified is False


CONTROL = """
import pytest

@pytest.mark.control(id="T-001", layer="system", severity="high", kinds=("object_store",),
                     frameworks={{"pci-dss": [{refs}]}})
def test_something(resource):
    \"\"\"Something\"\"\"
"""


def test_a_reference_to_a_missing_requirement_is_a_collection_error(pytester: pytest.Pytester) -> None:
    from tests.plans import compliant_bucket, write_plan

    write_plan(pytester.path / "plan.json", *compliant_bucket())
    pytester.makepyfile(CONTROL.format(refs='"3.5.1", "3.5.9"'))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--stage=system", "--plan=plan.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*T-001*pci-dss has no requirement '3.5.9'*framework_data/pci-dss.yaml*"])


def control(control_id: str, **frameworks: tuple[str, ...]) -> Control:
    return Control(control_id, control_id, "system", "high", ("system",), ("object_store",), frameworks)


def test_coverage_counts_outcomes_and_lists_manual_requirements() -> None:
    iso = load_frameworks()["iso-27001"]
    controls = {
        "A-1": control("A-1", **{"iso-27001": ("A.8.24",)}),
        "B-1": control("B-1", **{"iso-27001": ("A.8.24", "A.8.13")}),
    }
    results = [
        Result("A-1", "r1", Outcome.PASSED, "", "n1"),
        Result("A-1", "r2", Outcome.FAILED, "", "n2"),
        Result("B-1", "r1", Outcome.PASSED, "", "n3"),
    ]
    matrix = coverage_matrix([iso], controls, results)["iso-27001"]
    rows = {r["id"]: r for r in matrix["requirements"]}
    assert rows["A.8.24"]["controls"] == ["A-1", "B-1"]
    assert (rows["A.8.24"]["outcomes"]["passed"], rows["A.8.24"]["outcomes"]["failed"]) == (2, 1)
    assert rows["A.8.24"]["status"] == "failing"
    assert rows["A.8.13"]["status"] == "passing"
    assert rows["A.5.1"] == {**rows["A.5.1"], "controls": [], "status": "manual"}
    assert matrix["summary"] == {
        "requirements": 93,
        "automated": 2,
        "manual": 91,
        "failing": 1,
        "passing": 1,
        "waived": 0,
        "partially_evaluated": 0,
        "not_evaluated": 0,
    }
    page = coverage_html({"iso-27001": matrix}, "system", "run-1")
    assert page.count("manual evidence needed") == 91


def statuses_matrix() -> dict[str, Any]:
    """One ISO requirement of each status that controls can give it."""
    iso = load_frameworks()["iso-27001"]
    controls = {
        "P-1": control("P-1", **{"iso-27001": ("A.8.24", "A.8.2", "A.8.5")}),
        "N-1": control("N-1", **{"iso-27001": ("A.8.2",)}),
        "Z-1": control("Z-1", **{"iso-27001": ("A.8.5",)}),
        "W-1": control("W-1", **{"iso-27001": ("A.8.13", "A.8.15")}),
        "Q-1": control("Q-1", **{"iso-27001": ("A.8.15",)}),
        "X-1": control("X-1", **{"iso-27001": ("A.8.16",)}),
        "F-1": control("F-1", **{"iso-27001": ("A.8.20",)}),
    }
    results = [
        Result("P-1", "r1", Outcome.PASSED, "", "n1"),
        Result("P-1", "r2", Outcome.NOT_APPLICABLE, "", "n2"),
        Result("N-1", None, Outcome.NOT_APPLICABLE, "no identity resources", "n3"),
        Result("W-1", "r1", Outcome.WAIVED, "", "n4"),
        Result("W-1", "r2", Outcome.WAIVED, "", "n5"),
        Result("Q-1", "r1", Outcome.PASSED, "", "n6"),
        Result("X-1", None, Outcome.NOT_APPLICABLE, "no host resources", "n7"),
        Result("F-1", "r1", Outcome.ERROR, "", "n8"),
    ]
    return coverage_matrix([iso], controls, results)


def test_a_requirement_passes_only_when_every_control_passed_on_something() -> None:
    matrix = statuses_matrix()["iso-27001"]
    status = {r["id"]: r["status"] for r in matrix["requirements"] if r["controls"]}
    assert status == {
        # P-1's not-applicable resource is the control's own scoping, not a gap
        "A.8.24": "passing",
        # P-1 passed, but N-1 ran on nothing and Z-1 reported nothing: part of each is unevidenced
        "A.8.2": "partially evaluated",
        "A.8.5": "partially evaluated",
        # accepted failures, alone or beside a pass
        "A.8.13": "waived",
        "A.8.15": "waived",
        "A.8.16": "not evaluated",
        "A.8.20": "failing",
    }
    assert matrix["summary"] == {
        "requirements": 93,
        "automated": 7,
        "manual": 86,
        "failing": 1,
        "passing": 1,
        "waived": 2,
        "partially_evaluated": 2,
        "not_evaluated": 1,
    }


def test_every_coverage_summary_states_each_status_apart() -> None:
    matrix = statuses_matrix()
    page = coverage_html(matrix, "system", "run-1")
    assert (
        "93 requirements: 7 mapped to controls (1 passing, 1 failing, 2 waived, 2 partially evaluated, "
        "1 not evaluated), 86 need manual evidence." in page
    )
    text = render_summary(
        stage="system",
        summary={"by_outcome": {}, "by_severity": {}, "by_framework": {}},
        gate=Gate("pass", "low", ()),
        bundle="out",
        width=80,
        color=False,
        coverage=matrix,
    )
    table = text[text.index("framework coverage") : text.index("gate:")]
    # Headings may wrap, but none is cut short: "pa…" could be passing or partially evaluated.
    assert "…" not in table
    headings = table[: table.index("━")]
    for heading in ("passing", "failing", "waived", "partially", "not", "evaluated", "manual", "evidence"):
        assert re.search(rf"\b{heading}\b", headings), heading
    row = next(line for line in table.splitlines() if line.startswith("iso-27001"))
    assert re.findall(r"\d+", row.removeprefix("iso-27001")) == ["1", "1", "2", "2", "1", "86"]


def test_coverage_is_in_the_bundle_and_follows_the_framework_selection(pytester: pytest.Pytester) -> None:
    from tests.plans import compliant_bucket, write_plan

    pytester.makepyprojecttoml("[tool.regops]\n")
    write_plan(pytester.path / "plan.json", *compliant_bucket())
    result = run_project_suites(
        pytester,
        "--stage=acceptance",
        "--plan=plan.json",
        "--framework=dora",
        "--evidence-dir=out",
    )
    result.stdout.fnmatch_lines(["*framework coverage*", "*dora*"])
    bundle = only_bundle(pytester.path / "out", "acceptance")
    document = load_evidence(bundle)
    assert list(document["coverage"]) == ["dora"]
    import json

    matrix = json.loads((bundle / "coverage.json").read_text())
    assert matrix["dora"]["summary"]["automated"] >= 1
    assert matrix["dora"]["summary"]["manual"] >= 1
    # evidence.json keeps the summary's keys and adds a count per status, which add up to them
    summary = document["coverage"]["dora"]
    assert summary == matrix["dora"]["summary"]
    found = Counter(r["status"].replace(" ", "_") for r in matrix["dora"]["requirements"])
    for status in ("passing", "failing", "waived", "partially_evaluated", "not_evaluated", "manual"):
        assert summary[status] == found[status], status
    assert summary["automated"] == summary["requirements"] - found["manual"]
    assert "Framework coverage" in (bundle / "coverage.html").read_text()

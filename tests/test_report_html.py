"""report.html: the evidence document as a page, checked as text and as a browser shows it."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regops.report_html import report_html
from tests.helpers import load_evidence, only_bundle, run_project_suites
from tests.plans import compliant_bucket, write_plan

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
OUTCOMES = ("passed", "failed", "waived", "error", "not_applicable")


def render(page: Path) -> str:
    """The DOM after the page's script ran."""
    assert CHROMIUM is not None
    completed = subprocess.run(
        [
            CHROMIUM,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--virtual-time-budget=5000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return completed.stdout


def control(control_id: str, results: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "id": control_id,
        "title": f"title of {control_id}",
        "source": "regops",
        "maps_to": None,
        "unverified": [],
        "layer": "system",
        "severity": "high",
        "stages": ["acceptance"],
        "kinds": ["object_store"],
        "facts": ["public"],
        "frameworks": {"pci-dss": ["1.3.1"]},
        "rationale": "why it matters",
        "results": results,
        **extra,
    }


def result(resource_id: str | None, outcome: str, message: str = "", **extra: Any) -> dict[str, Any]:
    return {
        "resource_id": resource_id,
        "address": resource_id,
        "provider": "aws",
        "origin": "planned",
        "outcome": outcome,
        "message": message,
        "nodeid": f"suites/test_x.py::test_x[{resource_id}]",
        **extra,
    }


def document(*controls: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "run": {
            "id": "20261130T000000.000Z-abcdef",
            "stage": "acceptance",
            "started_at": "2026-11-30T00:00:00Z",
            "finished_at": "2026-11-30T00:00:01Z",
            "tool": {"name": "regops", "version": "0.1.0"},
            "suite_commit": None,
            "iac_commit": None,
        },
        "sources": [
            {
                "kind": "terraform_plan",
                "location": "plan.json",
                "resource_count": 2,
                "complete": False,
                "errors": ["page 2 <timed out>"],
            }
        ],
        "inventory": {"count": 2, "sha256": "0" * 64},
        "controls": list(controls),
        "summary": {"by_framework": {}, "by_severity": {"high": {"failed": 1}}},
        "gate": {"verdict": "fail", "threshold": "low", "mode": "all", "reasons": ["T-001 (high): 1 failed"]},
        **extra,
    }


def page(doc: dict[str, Any]) -> str:
    return "".join(report_html(doc))


def test_what_a_result_says_is_escaped_not_markup() -> None:
    text = page(
        document(
            control(
                "T-001",
                [
                    result(
                        "aws_s3_bucket.a&b",
                        "failed",
                        "<script>alert(1)</script> is public",
                        observed={"public": "<b>yes</b>", "owner": None},
                        unknown_facts=["owner"],
                        comparison="assert '<b>yes</b>' is False",
                    )
                ],
            )
        )
    )
    assert "<script>alert(1)</script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; is public" in text
    assert "aws_s3_bucket.a&amp;b" in text
    assert "public = &quot;&lt;b&gt;yes&lt;/b&gt;&quot;" in text
    assert "owner = <em>unknown</em>" in text
    assert "<code>assert &#x27;&lt;b&gt;yes&lt;/b&gt;&#x27; is False</code>" in text
    # a source that could not be read completely says so, with its error
    assert "<b>incomplete</b>" in text
    assert "page 2 &lt;timed out&gt;" in text


def test_controls_that_need_attention_come_first_and_open() -> None:
    passing = control("A-001", [result("r1", "passed"), result("r2", "not_applicable", "n/a")])
    failing = control(
        "Z-001", [result("r1", "passed"), result("r3", "failed", "bad"), result("r2", "error", "?")]
    )
    text = page(document(passing, failing))
    assert text.index('id="control-Z-001"') < text.index('id="control-A-001"')
    assert '<details class="control" id="control-Z-001" open>' in text
    assert '<details class="control" id="control-A-001">' in text
    # within a control, what could not be looked at, then what failed, then the rest
    section = text[text.index('id="control-Z-001"') : text.index('id="control-A-001"')]
    classes = re.findall(r'<tr class="result (\w+)">', section)
    assert classes == ["error", "failed", "passed"]


def test_comparison_with_a_baseline_is_summarised() -> None:
    comparison = {
        "baseline": "20261129T000000.000Z-000000",
        "new_failures": [{"control": "T-001", "resource_id": "r3", "message": "bad"}],
        "fixed": [],
        "still_failing": [{}, {}],
        "new_resources": ["r3"],
        "gone_resources": [],
    }
    text = page(document(control("T-001", [result("r3", "failed", "bad")]), comparison=comparison))
    assert "<b>1 new failures</b>, 0 fixed, 2 still failing, 1 new and 0 gone resources" in text
    assert "<li>T-001 r3: bad</li>" in text


def test_coverage_counts_each_status_apart() -> None:
    coverage = {
        "pci-dss": {
            "requirements": 145,
            "automated": 60,
            "manual": 85,
            "failing": 9,
            "passing": 25,
            "waived": 1,
            "partially_evaluated": 6,
            "not_evaluated": 19,
        }
    }
    text = page(document(control("T-001", [result("r1", "passed")]), coverage=coverage))
    table = text[text.index("<caption>framework coverage") :]
    table = table[: table.index("</table>")]
    headings = re.findall(r"<th>([^<]*)</th>", table)
    assert headings == [
        "framework",
        "requirements",
        "passing",
        "failing",
        "waived",
        "partially evaluated",
        "not evaluated",
        "manual evidence",
    ]
    cells = re.findall(r"<td>([^<]*)</td>", table)
    assert cells == ["pci-dss", "145", "25", "9", "1", "6", "19", "85"]


@given(
    st.lists(
        st.lists(
            st.tuples(st.text(max_size=20), st.sampled_from(OUTCOMES), st.text(max_size=40)), max_size=8
        ),
        max_size=5,
    )
)
def test_every_result_is_one_row_of_its_outcome(results: list[list[tuple[str, str, str]]]) -> None:
    controls = [
        control(f"T-{n:03d}", [result(rid or None, outcome, message) for rid, outcome, message in found])
        for n, found in enumerate(results)
    ]
    text = page(document(*controls))
    rows = Counter(re.findall(r'<tr class="result (\w+)">', text))
    assert rows == Counter(outcome for found in results for _, outcome, _ in found)
    assert text.count("<details class=") == len(controls)


def test_the_bundle_page_shows_every_result_of_the_evidence(pytester: pytest.Pytester) -> None:
    bundle = run_suites(pytester)
    evidence = load_evidence(bundle)
    text = (bundle / "report.html").read_text()
    rows = Counter(re.findall(r'<tr class="result (\w+)">', text))
    assert rows == Counter(r["outcome"] for c in evidence["controls"] for r in c["results"])
    assert f"run {evidence['run']['id']}" in text
    assert "<link" not in text
    assert "src=" not in text


def run_suites(pytester: pytest.Pytester) -> Path:
    pytester.makepyprojecttoml("[tool.regops]\n")
    changes = compliant_bucket("card") + compliant_bucket("plain")
    tags = {k: v for k, v in changes[4].after["tags"].items() if k != "owner"}  # type: ignore[index]
    changes[4].after = {**changes[4].after, "tags": tags, "tags_all": tags}  # type: ignore[dict-item]
    write_plan(pytester.path / "plan.json", *changes)
    run_project_suites(
        pytester,
        "--stage=acceptance",
        "--plan=plan.json",
        "--evidence-dir=out",
    )
    return only_bundle(pytester.path / "out", "acceptance")


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (.ci/run installs Debian's chromium)")
def test_report_opens_on_the_regops_summary_in_a_browser(pytester: pytest.Pytester) -> None:
    report = run_suites(pytester) / "report.html"
    dom = render(report)
    summary = dom.index('id="regops-summary"')
    # The summary comes before the results, and says what the gate decided and why.
    assert summary < dom.index('id="results"')
    section = dom[summary : dom.index("</section>", summary)]
    assert "regops gate: stage acceptance: <b>FAIL</b>" in section
    assert "AST-001" in section  # the reason names the failing control
    for caption in ("by framework", "by severity", "framework coverage"):
        assert f"<caption>{caption}" in section
    # The failing control is open, with the resource, its requirements and the facts it saw.
    failing = dom[dom.index('id="control-AST-001"') :]
    assert failing.startswith('id="control-AST-001" open=""')
    assert "aws_s3_bucket.plain" in failing
    assert "pci-dss" in failing
    assert "public = false" in dom
    # The script ran: a filter per outcome, which the file itself does not contain.
    filters = re.findall(r'<input type="checkbox" data-outcome="(\w+)"', dom)
    assert filters == list(OUTCOMES)
    assert "<input" not in report.read_text()

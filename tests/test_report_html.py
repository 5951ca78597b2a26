"""The HTML report as a browser shows it: headless Chromium renders the bundle's report.html."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import SUITES, only_bundle
from tests.plans import compliant_bucket, write_plan

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def render(page: Path) -> str:
    """The DOM after the page's scripts ran (pytest-html builds its results table in JavaScript)."""
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


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (.ci/run installs Debian's chromium)")
def test_report_opens_on_the_regops_summary(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml("[tool.regops]\n")
    changes = compliant_bucket("card") + compliant_bucket("plain")
    tags = {k: v for k, v in changes[4].after["tags"].items() if k != "owner"}  # type: ignore[index]
    changes[4].after = {**changes[4].after, "tags": tags, "tags_all": tags}  # type: ignore[dict-item]
    write_plan(pytester.path / "plan.json", *changes)
    pytester.runpytest_subprocess(
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
    dom = render(only_bundle(pytester.path / "out", "acceptance") / "report.html")
    summary = dom.index('id="regops-summary"')
    # The summary comes before the results table, and says what the gate decided and why.
    assert summary < dom.index('id="results-table"')
    section = dom[summary : dom.index("</section>", summary)]
    assert "regops gate: stage acceptance: <b>FAIL</b>" in section
    assert "AST-001" in section  # the reason names the failing control
    for caption in ("by framework", "by severity", "framework coverage"):
        assert f"<caption>{caption}" in section
    # pytest-html's script ran and built the rows, with the requirement references of each.
    rows = re.findall(r'<tbody class="results-table-row[^"]*"', dom)
    assert len(rows) > 5
    assert "aws_s3_bucket.plain" in dom
    table = dom[dom.index('id="results-table"') :]
    assert "pci-dss" in table
    # and the facts each control saw
    assert "public = false" in table

"""Waivers: file validation with line numbers, four-eyes and expiry rules, application."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from regops.model import Outcome
from regops.waivers import WaiverBook, WaiverFileError, load_waivers
from tests.helpers import load_evidence, only_bundle, results_by_control
from tests.plans import compliant_bucket, write_plan
from tests.test_plugin import CONTROLS, public_bucket

TODAY = date(2026, 11, 25)

GOOD = """\
waivers:
  - control: T-001
    resources: ["aws_s3_bucket.open"]
    justification: Public website assets, approved by the CISO
    requested_by: alice@example.com
    approved_by: bob@example.com
    ticket: CHG-1234
    approved_on: 2026-11-01
    expires: 2027-01-15
"""


def current(text: str) -> str:
    """GOOD's dates moved around today: the plugin judges waivers against the day it runs."""
    today = datetime.now(UTC).date()
    return text.replace("2026-11-01", (today - timedelta(days=10)).isoformat()).replace(
        "2027-01-15", (today + timedelta(days=30)).isoformat()
    )


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "waivers.yaml"
    path.write_text(text)
    return path


def test_a_valid_waiver_has_no_problems(tmp_path: Path) -> None:
    (waiver,) = load_waivers(write(tmp_path, GOOD), today=TODAY, max_days=90)
    assert waiver.valid
    assert waiver.line == 2
    assert waiver.matches("T-001", "aws_s3_bucket.open", {})
    assert not waiver.matches("T-001", "aws_s3_bucket.card", {})
    assert not waiver.matches("T-002", "aws_s3_bucket.open", {})


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (("approved_by: bob@example.com", "approved_by: Alice@Example.com"), "approved by its own requester"),
        (("    approved_by: bob@example.com\n", ""), "not approved"),
        (("    expires: 2027-01-15\n", ""), "has no expiry date"),
        (("expires: 2027-01-15", "expires: 2026-11-24"), "expired on 2026-11-24"),
        (("expires: 2027-01-15", "expires: 2027-06-01"), "runs 212 days from 2026-11-01; at most 90 allowed"),
        (
            ("approved_on: 2026-11-01", "approved_on: 2026-12-01"),
            "approved on 2026-12-01, after today 2026-11-25",
        ),
        (
            (
                "approved_on: 2026-11-01\n    expires: 2027-01-15",
                "approved_on: 2028-01-01\n    expires: 2028-03-01",
            ),
            "runs 462 days from 2026-11-25; at most 90 allowed",
        ),
        (
            (
                "approved_on: 2026-11-01\n    expires: 2027-01-15",
                "approved_on: 2026-11-20\n    expires: 2026-11-10",
            ),
            "approved on 2026-11-20, after it expires on 2026-11-10",
        ),
    ],
)
def test_rule_breaking_waivers_are_rejected(tmp_path: Path, change: tuple[str, str], problem: str) -> None:
    (waiver,) = load_waivers(write(tmp_path, GOOD.replace(*change)), today=TODAY, max_days=90)
    assert not waiver.valid
    assert any(problem in p for p in waiver.problems), waiver.problems
    assert not waiver.matches("T-001", "aws_s3_bucket.open", {})


def test_tag_selectors_must_all_match(tmp_path: Path) -> None:
    text = GOOD.replace('resources: ["aws_s3_bucket.open"]', 'resources: ["*"]\n    tags: {service: web}')
    (waiver,) = load_waivers(write(tmp_path, text), today=TODAY, max_days=90)
    assert waiver.matches("T-001", "anything", {"service": "web", "owner": "x"})
    assert not waiver.matches("T-001", "anything", {"service": "payments"})


def test_an_exact_id_matches_though_it_reads_as_a_glob(tmp_path: Path) -> None:
    text = GOOD.replace(
        '["aws_s3_bucket.open"]', """['aws_s3_bucket.regional["eu"]', "arn:*:s3:::logs-[ab]"]"""
    )
    (waiver,) = load_waivers(write(tmp_path, text), today=TODAY, max_days=90)
    assert waiver.matches("T-001", 'aws_s3_bucket.regional["eu"]', {})
    assert not waiver.matches("T-001", 'aws_s3_bucket.regional["us"]', {})
    assert not waiver.matches("T-001", "aws_s3_bucket.regional", {})
    assert waiver.matches("T-001", "arn:aws:s3:::logs-a", {})
    assert not waiver.matches("T-001", "arn:aws:s3:::logs-c", {})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("waivers:\n  - control: T-001\n    ticket: a: b\n", ":3: not valid YAML"),
        ("- just a list\n", ":1: expected a mapping with a `waivers` list"),
        (GOOD.replace("    ticket: CHG-1234\n", ""), ":2: ticket: Field required"),
        (
            GOOD.replace("justification: Public website assets, approved by the CISO", "justification: ok"),
            ":4: justification",
        ),
        (GOOD.replace("expires: 2027-01-15", "expires: soon"), ":9: expires: Input should be a valid date"),
        (GOOD + "    colour: red\n", ":10: colour: Extra inputs are not permitted"),
        ("version: 2\n" + GOOD, ":1: version: Extra inputs are not permitted"),
        (
            GOOD.replace("expires: 2027-01-15", "expires: 2027-02-30"),
            ":9: expires: Input should be a valid date",
        ),
        (
            GOOD.replace("approved_on: 2026-11-01", "approved_on: 2026-13-01"),
            ":8: approved_on: Input should be a valid date",
        ),
    ],
)
def test_invalid_files_name_the_line(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(WaiverFileError) as raised:
        load_waivers(path, today=TODAY, max_days=90)
    assert str(raised.value).startswith(f"{path}:")
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfe" + GOOD.encode("utf-16-le"), ":1: not UTF-8 text"),
        (GOOD.replace("the CISO", "the CISO's d\xe9puty").encode("latin-1"), ":4: not UTF-8 text"),
    ],
    ids=["utf-16", "latin-1"],
)
def test_a_file_that_is_not_utf8_names_the_line(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "waivers.yaml"
    path.write_bytes(content)
    with pytest.raises(WaiverFileError) as raised:
        load_waivers(path, today=TODAY, max_days=90)
    assert str(raised.value).startswith(f"{path}{message}")


def test_waivers_for_controls_the_run_does_not_know_are_rejected(tmp_path: Path) -> None:
    item = GOOD.removeprefix("waivers:\n")
    text = GOOD + item.replace("T-001", "NET-999") + item.replace("T-001", "t-001")
    book = WaiverBook(load_waivers(write(tmp_path, text), today=TODAY, max_days=90))
    book.reject_unknown_controls(["T-001", "T-002"])
    known, unknown, lower_case = book.waivers
    assert known.valid
    assert unknown.problems == ("names control NET-999, which this run does not know",)
    assert lower_case.problems == (
        "names control t-001, which this run does not know (ids are case-sensitive: T-001)",
    )
    assert not lower_case.matches("t-001", "aws_s3_bucket.open", {})
    assert [(r.outcome, r.message) for r in book.results()] == [
        (Outcome.PASSED, ""),
        (Outcome.ERROR, f"{unknown.id}: {unknown.problems[0]}"),
        (Outcome.ERROR, f"{lower_case.id}: {lower_case.problems[0]}"),
    ]


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_controls=CONTROLS)
    write_plan(pytester.path / "plan.json", *compliant_bucket("card"), *public_bucket())
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest(
        "-p", "no:cacheprovider", "--stage=acceptance", "--plan", "plan.json", "--evidence-dir", "out", *args
    )


def test_a_waiver_turns_the_failure_into_waived(project: pytest.Pytester) -> None:
    (project.path / "w.yaml").write_text(current(GOOD))
    result = run(project, "--waivers", "w.yaml", "--control", "T-001", "-v")
    result.stdout.fnmatch_lines(["*test_not_public?aws_s3_bucket.open? WAIVED*", "*gate: PASS*"])
    assert result.ret == 0
    document = load_evidence(only_bundle(project.path / "out", "acceptance"))
    assert results_by_control(document)["T-001"]["aws_s3_bucket.open"] == "waived"
    assert results_by_control(document)["GOV-001"] == {f"waiver:{project.path / 'w.yaml'}:2": "passed"}
    (applied,) = document["waivers"]["applied"]
    assert applied["ticket"] == "CHG-1234"
    assert applied["results"] == [{"control": "T-001", "resource_id": "aws_s3_bucket.open"}]


def test_a_self_approved_waiver_is_an_error_and_waives_nothing(project: pytest.Pytester) -> None:
    (project.path / "w.yaml").write_text(GOOD.replace("bob@example.com", "alice@example.com"))
    result = run(project, "--waivers", "w.yaml", "--control", "T-001")
    result.stdout.fnmatch_lines(["*GOV-001 (high): 1 error result*", "*T-001 (high): 1 failed result*"])
    assert result.ret == 1
    document = load_evidence(only_bundle(project.path / "out", "acceptance"))
    assert results_by_control(document)["T-001"]["aws_s3_bucket.open"] == "failed"
    (rejected,) = document["waivers"]["rejected"]
    assert rejected["problems"] == ["approved by its own requester alice@example.com"]


def test_a_waiver_approved_in_the_future_is_an_error_and_waives_nothing(project: pytest.Pytester) -> None:
    # Dates relative to the real day: the plugin judges waivers against the day it runs.
    today = datetime.now(UTC).date()
    approved, expires = today + timedelta(days=30), today + timedelta(days=100)
    (project.path / "w.yaml").write_text(
        GOOD.replace("2026-11-01", approved.isoformat()).replace("2027-01-15", expires.isoformat())
    )
    result = run(project, "--waivers", "w.yaml", "--control", "T-001")
    result.stdout.fnmatch_lines(["*GOV-001 (high): 1 error result*", "*T-001 (high): 1 failed result*"])
    assert result.ret == 1
    document = load_evidence(only_bundle(project.path / "out", "acceptance"))
    assert results_by_control(document)["T-001"]["aws_s3_bucket.open"] == "failed"
    (rejected,) = document["waivers"]["rejected"]
    assert len(rejected["problems"]) == 2
    assert rejected["problems"][0].startswith(f"approved on {approved.isoformat()}, after today")
    assert rejected["problems"][1].endswith("; at most 90 allowed")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            GOOD.replace("expires: 2027-01-15", "expires: soon").encode(),
            "w.yaml:9: expires: Input should be a valid date",
        ),
        (
            GOOD.replace("2027-01-15", "2027-02-30").encode(),
            "w.yaml:9: expires: Input should be a valid date",
        ),
        (b"\xff\xfe" + GOOD.encode("utf-16-le"), "w.yaml:1: not UTF-8 text"),
    ],
    ids=["not-a-date", "impossible-date", "utf-16"],
)
def test_an_invalid_waiver_file_is_a_usage_error(
    project: pytest.Pytester, content: bytes, message: str
) -> None:
    (project.path / "w.yaml").write_bytes(content)
    result = run(project, "--waivers", "w.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{message}*"])
    assert "Traceback" not in result.stderr.str()
    assert not (project.path / "out").exists()


@pytest.mark.parametrize("workers", [[], ["-p", "xdist", "-n", "1"]], ids=["in-process", "xdist"])
def test_a_waiver_for_a_control_the_run_does_not_know_is_an_error(
    project: pytest.Pytester, workers: list[str]
) -> None:
    item = current(GOOD).removeprefix("waivers:\n")
    (project.path / "w.yaml").write_text(
        "waivers:\n"
        + item.replace("T-001", "NET-999")
        + item.replace("T-001", "t-001")
        + item.replace("T-001", "T-002")
    )
    result = run(project, "--waivers", "w.yaml", "--control", "T-001", *workers)
    result.stdout.fnmatch_lines(["*GOV-001 (high): 2 error results*", "*T-001 (high): 1 failed result*"])
    assert result.ret == 1
    document = load_evidence(only_bundle(project.path / "out", "acceptance"))
    assert results_by_control(document)["T-001"]["aws_s3_bucket.open"] == "failed"
    path = project.path / "w.yaml"
    # T-002 is collected, though not selected: its waiver stays valid.
    assert results_by_control(document)["GOV-001"] == {
        f"waiver:{path}:2": "error",
        f"waiver:{path}:10": "error",
        f"waiver:{path}:18": "passed",
    }
    assert [w["problems"] for w in document["waivers"]["rejected"]] == [
        ["names control NET-999, which this run does not know"],
        ["names control t-001, which this run does not know (ids are case-sensitive: T-001)"],
    ]

"""`--item-per=control`: one pytest item per control, each resource's result as its own item's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from regops.batch import BatchEntry, failures_summary, judge_each, result_nodeid
from regops.model import Control, Outcome, Resource
from tests.helpers import load_evidence, only_bundle
from tests.plans import TAGS, Change, compliant_bucket, write_plan
from tests.test_plugin import public_bucket

CONTROLS = '''
import pytest
from regops import not_applicable

@pytest.mark.control(id="B-001", layer="system", severity="high", kinds=("object_store",),
                     facts=("public",), frameworks={"pci-dss": ["1.3.1"]})
def test_not_public(resource):
    """Buckets are not public"""
    assert resource.fact("public") is False, f"{resource.id}: public"

@pytest.mark.control(id="B-002", layer="system", severity="high", kinds=("object_store",),
                     frameworks={"iso-27001": ["A.8.24"]})
def test_cde_customer_key(resource, parameters):
    """CDE buckets use a customer key"""
    if resource.tags.get(parameters.classification_tag) != "cde":
        not_applicable("only CDE buckets need a customer key")
    assert resource.fact("encryption_cmk") is True

@pytest.mark.control(id="B-003", layer="system", severity="medium", kinds=("object_store",),
                     frameworks={"bsi-c5": ["OPS-06"]})
def test_breaks_on_one(resource):
    """A control with a bug"""
    if resource.id == "aws_s3_bucket.card":
        raise KeyError("owner")

@pytest.mark.control(id="B-004", layer="system", severity="low", kinds=("database",),
                     frameworks={"bsi-c5": ["OPS-06"]})
def test_databases(resource):
    """Databases have backups"""
    assert resource.fact("backup_days") > 0
'''

# A for_each key that is not ASCII: pytest escapes it in the parameter's id.
ZURICH = Change(
    'aws_s3_bucket.regional["zürich"]',
    "aws_s3_bucket",
    {"bucket": "payments-zurich", "tags": {**TAGS, "data_classification": "cde"}, "acl": None},
)
# Nothing in the plan says whether this bucket is public: its declared fact is unknown.
COMPUTED = Change("aws_s3_bucket.computed", "aws_s3_bucket", {"bucket": None}, unknown={"bucket": True})


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_controls=CONTROLS)
    pytester.makepyprojecttoml("[tool.regops]\n")
    write_plan(pytester.path / "plan.json", *compliant_bucket("card"), *public_bucket(), ZURICH, COMPUTED)
    return pytester


def judge(pytester: pytest.Pytester, out: str, *args: str) -> tuple[pytest.RunResult, dict[str, Any]]:
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--stage=acceptance", "--plan=plan.json", f"--evidence-dir={out}", *args
    )
    return result, load_evidence(only_bundle(pytester.path / out, "acceptance"))


def results(document: dict[str, Any]) -> dict[tuple[str, str | None], dict[str, Any]]:
    return {(c["id"], r["resource_id"]): r for c in document["controls"] for r in c["results"]}


def test_one_item_per_control_gives_each_resource_the_result_of_its_own_item(
    project: pytest.Pytester,
) -> None:
    per_resource, one = judge(project, "per-resource")
    per_control, two = judge(project, "per-control", "--item-per=control")
    per_resource.assert_outcomes(passed=4, failed=2, errors=3, skipped=4)
    # One item per control; an item fails when any of its resources failed or errored.
    per_control.assert_outcomes(failed=1, errors=2, skipped=1)
    first, second = results(one), results(two)
    judged = {key: result for key, result in first.items() if key[1] is not None}
    assert {key: second[key] for key in judged} == judged
    # The results hold every outcome, and the escaped node id pytest gave the non-ASCII address.
    assert {r["outcome"] for r in judged.values()} == {"passed", "failed", "error", "not_applicable"}
    zurich = second[("B-001", 'aws_s3_bucket.regional["zürich"]')]
    assert zurich["nodeid"] == 'test_controls.py::test_not_public[aws_s3_bucket.regional["z\\xfcrich"]]'
    assert second[("B-001", "aws_s3_bucket.open")]["comparison"] == "assert True is False"
    assert second[("B-001", "aws_s3_bucket.computed")]["unknown_facts"] == ["public"]
    assert second[("B-003", "aws_s3_bucket.card")]["message"] == (
        "could not evaluate (KeyError during call): 'owner'"
    )
    assert second[("B-004", None)] == {
        **first[("B-004", None)],
        "nodeid": "test_controls.py::test_databases",
    }
    assert one["summary"] == two["summary"]
    assert one["gate"] == two["gate"]
    assert two["settings"]["item_per"] == "control"
    assert per_resource.ret == per_control.ret == 1


def test_a_failed_control_item_names_each_resource_it_failed(project: pytest.Pytester) -> None:
    result, _ = judge(project, "out", "--item-per=control", "--control=B-001", "--control=B-003")
    result.stdout.fnmatch_lines(
        [
            "*B-001: 1 failed, 2 error of 4 resources",
            "*  FAILED aws_s3_bucket.open: aws_s3_bucket.open: public",
            "*  ERROR aws_s3_bucket.computed: could not evaluate: aws_s3_bucket.computed: fact 'public'*",
            "*B-003: 1 error of 4 resources",
        ]
    )
    # The item's status says error when any of its resources could not be evaluated.
    result.stdout.fnmatch_lines(["ERROR test_controls.py::test_not_public - B-001*"])


def test_a_control_item_whose_failures_are_all_waived_shows_waived(project: pytest.Pytester) -> None:
    expires = datetime.now(UTC).date() + timedelta(days=30)
    (project.path / "w.yaml").write_text(
        "waivers:\n"
        "  - control: B-002\n"
        '    resources: ["aws_s3_bucket.regional[\\"zürich\\"]"]\n'
        "    justification: The key moves next sprint\n"
        "    requested_by: alice@example.com\n"
        "    approved_by: bob@example.com\n"
        "    ticket: CHG-7\n"
        f"    expires: {expires}\n"
    )
    result, document = judge(
        project, "out", "--item-per=control", "--control=B-002", "--waivers=w.yaml", "-v"
    )
    result.stdout.fnmatch_lines(["*test_cde_customer_key WAIVED*"])
    assert results(document)[("B-002", 'aws_s3_bucket.regional["zürich"]')]["outcome"] == "waived"
    assert document["gate"]["verdict"] == "pass"
    assert result.ret == 0


def test_an_xfail_mark_is_an_error_on_every_resource_of_the_control(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_controls='''
import pytest

@pytest.mark.xfail(reason="known")
@pytest.mark.control(id="X-001", layer="system", severity="high", kinds=("object_store",),
                     frameworks={"pci-dss": ["1.3.1"]})
def test_not_public(resource):
    """Buckets are not public"""
    assert resource.fact("public") is False
'''
    )
    write_plan(pytester.path / "plan.json", *compliant_bucket("card"), *public_bucket())
    result, document = judge(pytester, "out", "--item-per=control")
    outcomes = {key[1]: (r["outcome"], r["message"]) for key, r in results(document).items()}
    xfail = ("error", "a control marked xfail proves nothing; waive the failure instead")
    assert outcomes == dict.fromkeys(("aws_s3_bucket.card", "aws_s3_bucket.open"), xfail)
    assert result.ret == 1


def test_a_fixture_error_is_an_error_on_every_resource_of_the_control(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_controls='''
import pytest

@pytest.fixture
def allowed_ports():
    raise RuntimeError("port list unreadable")

@pytest.mark.control(id="F-001", layer="system", severity="high", kinds=("object_store",),
                     frameworks={"pci-dss": ["1.3.1"]})
def test_with_a_fixture(resource, allowed_ports):
    """Buckets with a fixture"""
'''
    )
    write_plan(pytester.path / "plan.json", *compliant_bucket("card"), *public_bucket())
    result, document = judge(pytester, "out", "--item-per=control")
    result.assert_outcomes(errors=1)
    setup = "could not evaluate (RuntimeError during setup): port list unreadable"
    messages = {key[1]: r["message"] for key, r in results(document).items()}
    assert messages == dict.fromkeys(("aws_s3_bucket.card", "aws_s3_bucket.open"), setup)
    assert document["gate"]["verdict"] == "fail"


def test_xdist_workers_give_the_control_items_results(project: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    _, serial = judge(project, "serial", "--item-per=control")
    _, parallel = judge(project, "parallel", "--item-per=control", "-n", "2")
    assert results(parallel) == results(serial)
    assert parallel["gate"] == serial["gate"]


def test_item_per_comes_from_pyproject_and_is_validated(project: pytest.Pytester) -> None:
    project.makepyprojecttoml('[tool.regops]\nitem_per = "control"\n')
    result, _ = judge(project, "out")
    result.assert_outcomes(failed=1, errors=2, skipped=1)
    project.makepyprojecttoml('[tool.regops]\nitem_per = "bucket"\n')
    wrong = project.runpytest_subprocess("-p", "no:cacheprovider", "--stage=acceptance", "--plan=plan.json")
    assert wrong.ret == pytest.ExitCode.USAGE_ERROR
    wrong.stderr.fnmatch_lines(["*pyproject.toml*item_per*'resource' or 'control'*"])
    option = project.runpytest_subprocess("--stage=acceptance", "--plan=plan.json", "--item-per=bucket")
    assert option.ret == pytest.ExitCode.USAGE_ERROR
    option.stderr.fnmatch_lines(["*--item-per: invalid choice: 'bucket'*"])


CONTROL = Control(
    id="U-001",
    title="Buckets are not public",
    layer="system",
    severity="high",
    stages=("acceptance",),
    kinds=("object_store",),
    frameworks={"pci-dss": ("1.3.1",)},
    facts=("public",),
)


def bucket(name: str, **facts: Any) -> Resource:
    return Resource(
        id=name,
        provider="aws",
        native_type="aws_s3_bucket",
        kind="object_store",
        region="eu-central-1",
        stage="acceptance",
        origin="planned",
        facts=facts,
    )


def not_public(resource: Resource) -> None:
    if resource.id == "skipped":
        pytest.skip("not applicable: a log bucket")
    if resource.id == "failing":
        pytest.fail("gave up")
    assert resource.fact("public") is False, f"{resource.id}: public"
    assert resource.fact("versioning") is True


def test_judge_each_decides_for_each_resource_as_its_own_item_would() -> None:
    buckets = [
        bucket("private", public=False, versioning=True),
        bucket("open", public=True),
        bucket("computed"),
        bucket("skipped", public=False),
        bucket("failing", public=False),
        bucket("unversioned", public=False),
    ]
    entries = [BatchEntry.of(found) for found in buckets]
    judged = {r.entry.param_id: r for r in judge_each(CONTROL, entries, lambda each: not_public(**each))}
    assert {name: (r.outcome, r.message) for name, r in judged.items()} == {
        "private": (Outcome.PASSED, ""),
        "open": (Outcome.FAILED, "open: public"),
        "computed": (
            Outcome.ERROR,
            "could not evaluate: computed: fact 'public' could not be established from the source",
        ),
        "skipped": (Outcome.NOT_APPLICABLE, "not applicable: a log bucket"),
        "failing": (Outcome.ERROR, "could not evaluate (Failed during call): gave up"),
        "unversioned": (
            Outcome.ERROR,
            "could not evaluate: unversioned: fact 'versioning' could not be established from the source",
        ),
    }
    # Each result holds the facts read for its own resource, and a failure its comparison.
    assert judged["private"].observed == {"public": False, "versioning": True}
    assert judged["open"].observed == {"public": True}
    assert judged["open"].comparison == "assert True is False"
    summary = failures_summary(CONTROL, list(judged.values()))
    assert summary is not None
    assert summary.splitlines()[0] == "U-001: 1 failed, 3 error of 6 resources"
    assert failures_summary(CONTROL, [judged["private"], judged["skipped"]]) is None


def test_result_nodeid_escapes_as_pytest_writes_parameter_ids() -> None:
    assert result_nodeid("t.py::test_x", "a") == "t.py::test_x[a]"
    assert result_nodeid("t.py::test_x", "é\t") == "t.py::test_x[\\xe9\\t]"


def test_narrowing_a_control_item_counts_each_resource_left_out(project: pytest.Pytester) -> None:
    result, document = judge(project, "out", "--item-per=control", "-k", "not test_cde_customer_key")
    assert result.ret == 1
    (reason,) = [r for r in document["gate"]["reasons"] if "deselected" in r]
    # B-002's item held all four buckets: four results are missing from the evidence.
    assert reason.startswith(
        "4 control result(s) deselected by -k, -m or --deselect (such as B-002 on aws_s3_bucket."
    )

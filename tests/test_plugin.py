"""The plugin end to end, through pytester: options, selection, outcomes, bundle, gate."""

from __future__ import annotations

import gc
import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.helpers import load_evidence, only_bundle, results_by_control, sha256sum_check
from tests.plans import Change, compliant_bucket, refer, write_plan

CONTROLS = '''
import pytest
from regops import not_applicable

@pytest.mark.control(id="T-001", layer="system", severity="high", kinds=("object_store",),
                     facts=("public",), frameworks={"pci-dss": ["1.3.1"], "iso-27001": ["A.8.20"]})
def test_not_public(resource):
    """Buckets are not public"""
    assert resource.fact("public") is False, f"{resource.id}: public"

@pytest.mark.control(id="T-002", layer="production", severity="medium", kinds=("object_store",),
                     frameworks={"dora": ["Art. 12(1)"]})
def test_versioned(resource):
    """Buckets are versioned"""
    assert resource.fact("versioning") is True, f"{resource.id}: not versioned"

@pytest.mark.control(id="T-003", layer="system", severity="low", kinds=("database",),
                     frameworks={"bsi-c5": ["OPS-06"]})
def test_databases(resource):
    """Databases have backups"""
    assert resource.fact("backup_days") > 0

@pytest.mark.control(id="T-004", layer="system", severity="high", kinds=("object_store",),
                     frameworks={"iso-27001": ["A.8.24"]})
def test_cmk(resource):
    """Buckets use a customer key"""
    if resource.tags.get("data_classification") != "cde":
        not_applicable("only CDE buckets need a customer key")
    assert resource.fact("encryption_cmk") is True
'''


PUBLIC_POLICY = json.dumps(
    {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}]}
)


def public_bucket() -> list[Change]:
    """A bucket whose block lets policies through, and a policy that lets anyone read."""
    changes = compliant_bucket("open")
    block = changes[2]
    block.after = {**block.after, "block_public_policy": False, "restrict_public_buckets": False}  # type: ignore[dict-item]
    policy = Change(
        "aws_s3_bucket_policy.open",
        "aws_s3_bucket_policy",
        {"bucket": "payments-open", "policy": PUBLIC_POLICY},
        expressions={"bucket": refer("aws_s3_bucket.open.id", "aws_s3_bucket.open")},
    )
    return [*changes, policy]


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_controls=CONTROLS)
    write_plan(pytester.path / "plan.json", *compliant_bucket("card"), *public_bucket())
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("-p", "no:cacheprovider", "--evidence-dir", "out", *args)


def test_inert_without_stage(project: pytest.Pytester) -> None:
    result = project.runpytest("-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(skipped=4)
    result.stdout.fnmatch_lines(["*regops is inactive: pass --stage*"])
    assert not (project.path / "reports").exists()
    assert not (project.path / "out").exists()


def test_inert_plugin_imports_no_sdk_and_writes_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="def test_ok():\n    pass\n")
    pytester.makeconftest(
        "import sys\n"
        "HEAVY = ('boto3', 'azure', 'google.cloud', 'rich', 'jsonschema')\n"
        "def pytest_sessionfinish(session):\n"
        "    loaded = [m for m in HEAVY if m in sys.modules]\n"
        "    print('LOADED', loaded)\n"
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*LOADED [[][]]"])
    assert not (pytester.path / "reports").exists()


def test_full_collections_are_rare_during_a_run_and_as_before_after_it(project: pytest.Pytester) -> None:
    project.makeconftest(
        "import gc\ndef pytest_sessionfinish(session):\n    print('THRESHOLD', gc.get_threshold())\n"
    )
    before = gc.get_threshold()
    result = run(project, "--stage=acceptance", "--plan", "plan.json", "-s")
    result.stdout.fnmatch_lines([f"*THRESHOLD ({before[0]}, {before[1]}, {max(before[2], 1000)})"])
    assert gc.get_threshold() == before


# Registered when the conftest is imported, before regops configures a run: exit handlers run
# last registered first, so this one sees what regops's handler left.
AT_EXIT = """
import atexit, gc, sys
atexit.register(lambda: sys.stdout.write(f"FROZEN AT EXIT {gc.get_freeze_count() > 0}\\n"))
"""


@pytest.mark.parametrize(
    ("args", "frozen"), [(["--stage=acceptance", "--plan=plan.json"], True), ([], False)]
)
def test_a_run_leaves_its_objects_out_of_the_collection_at_exit(
    project: pytest.Pytester, args: list[str], frozen: bool
) -> None:
    project.makeconftest(AT_EXIT)
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "--evidence-dir=out", *args)
    result.stdout.fnmatch_lines([f"FROZEN AT EXIT {frozen}"])


def test_stage_runs_controls_over_resources(project: pytest.Pytester) -> None:
    result = run(project, "--stage=acceptance", "--plan", "plan.json", "-v")
    result.stdout.fnmatch_lines(
        [
            "*test_not_public?aws_s3_bucket.card? PASSED*",
            "*test_not_public?aws_s3_bucket.open? FAILED*",
            "*gate: FAIL (threshold: low)*",
            "*T-001 (high): 1 failed result - Buckets are not public*",
        ]
    )
    # T-002 is production-only: at acceptance one item stands for it, deselected.
    result.assert_outcomes(passed=1, failed=1, skipped=3, deselected=1)
    assert result.ret == 1
    document = load_evidence(only_bundle(project.path / "out", "acceptance"))
    assert results_by_control(document) == {
        "T-001": {"aws_s3_bucket.card": "passed", "aws_s3_bucket.open": "failed"},
        "T-003": {None: "not_applicable"},
        "T-004": {"aws_s3_bucket.card": "not_applicable", "aws_s3_bucket.open": "not_applicable"},
    }
    failed = next(c for c in document["controls"] if c["id"] == "T-001")
    message = next(r["message"] for r in failed["results"] if r["outcome"] == "failed")
    assert message == "aws_s3_bucket.open: public"


def test_production_runs_production_layer(project: pytest.Pytester) -> None:
    result = run(project, "--stage=production", "--plan", "plan.json")
    result.assert_outcomes(passed=3, failed=1, skipped=3)
    document = load_evidence(only_bundle(project.path / "out", "production"))
    assert results_by_control(document)["T-002"] == {
        "aws_s3_bucket.card": "passed",
        "aws_s3_bucket.open": "passed",
    }
    # Production requires the earlier stages' bundles; without an IaC commit it cannot tell.
    assert results_by_control(document)["CHG-004"] == {
        "promotion:system": "error",
        "promotion:acceptance": "error",
    }


def test_missing_fact_is_an_error_not_a_pass(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_controls=CONTROLS)
    changes = compliant_bucket("card")
    del changes[2]  # no public access block: the plan cannot say whether the bucket is public
    write_plan(pytester.path / "plan.json", *changes)
    result = run(pytester, "--stage=acceptance", "--plan", "plan.json", "--control", "T-001")
    result.assert_outcomes(errors=1, deselected=3)
    result.stdout.fnmatch_lines(["*fact 'public' could not be established*", "*gate: FAIL*"])
    assert result.ret == 1
    document = load_evidence(only_bundle(pytester.path / "out", "acceptance"))
    (control,) = document["controls"]
    assert control["results"][0]["outcome"] == "error"
    assert "could not evaluate" in control["results"][0]["message"]


def test_resource_outside_a_control_is_a_clear_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="def test_uses_resource(resource):\n    assert resource\n")
    write_plan(pytester.path / "plan.json", *compliant_bucket("card"))
    result = run(pytester, "--stage=acceptance", "--plan", "plan.json")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*the `resource` argument is only for regops controls run with --stage*"])
    assert result.ret != 0


def test_parameters_are_the_stages_in_a_run_and_a_clear_error_outside_one(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml('[tool.regops.parameters]\nallowed_regions = { aws = ["eu-north-1"] }\n')
    pytester.makepyfile(
        test_plain="def test_uses_parameters(parameters):\n"
        "    assert parameters.allowed_regions['aws'] == ['eu-north-1']\n"
    )
    write_plan(pytester.path / "plan.json", *compliant_bucket("card"))
    run(pytester, "--stage=acceptance", "--plan", "plan.json").assert_outcomes(passed=1)
    result = run(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*the `parameters` argument is only for regops controls run with --stage*"])


def test_unknown_fact_in_control_body_is_an_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_controls=CONTROLS)
    changes = compliant_bucket("card")
    del changes[3]
    changes[0].unknown = {"versioning": True}
    write_plan(pytester.path / "plan.json", *changes)
    result = run(pytester, "--stage=production", "--plan", "plan.json", "--control", "T-002", "-rA")
    result.assert_outcomes(errors=1, deselected=3)
    # The summary asks again once the report has been recorded: it still says error.
    result.stdout.fnmatch_lines(["*short test summary info*", "ERROR test_controls.py::*aws_s3_bucket.card*"])
    document = load_evidence(only_bundle(pytester.path / "out", "production"))
    assert results_by_control(document)["T-002"] == {"aws_s3_bucket.card": "error"}


def test_gate_threshold_decides_the_exit_code(project: pytest.Pytester) -> None:
    changes = compliant_bucket("card")
    write_plan(project.path / "clean.json", *changes, *public_bucket())
    result = run(project, "--stage=acceptance", "--plan", "clean.json", "--fail-on", "critical")
    result.stdout.fnmatch_lines(["*gate: PASS (threshold: critical)*"])
    assert result.ret == 0
    result = run(project, "--stage=acceptance", "--plan", "clean.json", "--fail-on", "high")
    assert result.ret == 1


@pytest.mark.parametrize("stop", [["-x"], ["--maxfail", "1"]])
def test_a_run_stopped_at_a_minor_failure_does_not_pass_the_gate(
    project: pytest.Pytester, stop: list[str]
) -> None:
    # Collected first: a low-severity failure that stops the run before T-001 sees the public bucket.
    project.makepyfile(
        test_a_first="""
import pytest

@pytest.mark.control(id="T-010", layer="system", severity="low", kinds=("object_store",),
                     frameworks={"iso-27001": ["A.8.9"]})
def test_always_fails(resource):
    \"\"\"Fails everywhere\"\"\"
    assert False, "minor"
"""
    )
    result = run(project, "--stage=acceptance", "--plan", "plan.json", "--fail-on", "high", *stop)
    result.stdout.fnmatch_lines(["*gate: FAIL*", "*the run stopped early (stopping after 1 failures)*"])
    assert result.ret == 1
    document = load_evidence(only_bundle(project.path / "out", "acceptance"))
    assert "T-001" not in results_by_control(document)
    assert document["gate"]["verdict"] == "fail"


@pytest.mark.parametrize("workers", [[], ["-p", "xdist", "-n", "1"]], ids=["in-process", "xdist"])
@pytest.mark.parametrize("narrowing", [["-k", "card"], ["-m", "not slow"], ["--deselect", "x"]])
def test_a_run_narrowed_by_pytest_selection_does_not_pass_the_gate(
    project: pytest.Pytester, narrowing: list[str], workers: list[str]
) -> None:
    """The public bucket's results would be missing from the evidence without a trace."""
    if narrowing[0] == "-m":
        project.makeconftest(
            "import pytest\n\n"
            "def pytest_collection_modifyitems(items):\n"
            "    for item in items:\n"
            "        if 'open' in item.nodeid:\n"
            "            item.add_marker(pytest.mark.slow)\n"
        )
    if narrowing[0] == "--deselect":
        narrowing = ["--deselect", "test_controls.py::test_not_public[aws_s3_bucket.open]"]
    result = run(project, "--stage=acceptance", "--plan", "plan.json", *narrowing, *workers)
    result.stdout.fnmatch_lines(["*gate: FAIL*", "*control result(s) deselected by -k, -m or --deselect*"])
    assert result.ret == 1
    document = load_evidence(only_bundle(project.path / "out", "acceptance"))
    (problem,) = document["gate"]["run_problems"]
    assert "T-001 on aws_s3_bucket.open" in problem
    assert results_by_control(document)["T-001"] == {"aws_s3_bucket.card": "passed"}


def test_a_subset_of_controls_chosen_with_control_is_no_narrowing(project: pytest.Pytester) -> None:
    run(project, "--stage=acceptance", "--plan", "plan.json", "--control", "T-001")
    document = load_evidence(only_bundle(project.path / "out", "acceptance"))
    assert set(results_by_control(document)) == {"T-001"}
    assert document["gate"]["run_problems"] == []


def test_a_worker_that_crashes_on_a_control_fails_the_gate(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_crash="""
import os
import pytest

@pytest.mark.control(id="T-020", layer="system", severity="low", kinds=("object_store",),
                     frameworks={"iso-27001": ["A.8.9"]})
def test_crashes_on_one(resource):
    \"\"\"Crashes on one bucket\"\"\"
    if resource.id == "aws_s3_bucket.open":
        os._exit(1)
"""
    )
    result = run(
        project, "--stage=acceptance", "--plan", "plan.json", "--control", "T-020", "-p", "xdist", "-n", "1"
    )
    assert result.ret == 1
    document = load_evidence(only_bundle(project.path / "out", "acceptance"))
    # The crashed item left no result; the one that ran passed.
    assert results_by_control(document)["T-020"] == {"aws_s3_bucket.card": "passed"}
    assert document["gate"]["verdict"] == "fail"
    assert document["gate"]["reasons"] == [
        "1 test item(s) failed without a control result (a crashed worker, or a test that is not a control):"
        " the run did not evaluate cleanly"
    ]


def test_a_control_marked_xfail_is_an_error(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_expected="""
import pytest

@pytest.mark.control(id="T-021", layer="system", severity="low", kinds=("object_store",),
                     frameworks={"iso-27001": ["A.8.9"]})
@pytest.mark.xfail(reason="known")
def test_expected_to_fail(resource):
    \"\"\"Expected to fail\"\"\"
    assert resource.id == "aws_s3_bucket.card"
"""
    )
    run(project, "--stage=acceptance", "--plan", "plan.json", "--control", "T-021")
    document = load_evidence(only_bundle(project.path / "out", "acceptance"))
    # Both the expected failure and the unexpected pass: neither says anything about the bucket.
    assert results_by_control(document)["T-021"] == {
        "aws_s3_bucket.card": "error",
        "aws_s3_bucket.open": "error",
    }


def test_a_waived_failure_that_then_errors_applies_no_waiver(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_teardown="""
import pytest

@pytest.fixture
def broken_teardown():
    yield
    raise RuntimeError("teardown broke")

@pytest.mark.control(id="T-022", layer="system", severity="low", kinds=("object_store",),
                     frameworks={"iso-27001": ["A.8.9"]})
def test_fails_then_errors(resource, broken_teardown):
    \"\"\"Fails, then errors\"\"\"
    assert False, "fails"
"""
    )
    today = datetime.now(UTC).date()
    (project.path / "w.yaml").write_text(
        "waivers:\n"
        "  - control: T-022\n"
        '    resources: ["aws_s3_bucket.open"]\n'
        "    justification: Known and accepted for the demo\n"
        "    requested_by: alice@example.com\n"
        "    approved_by: bob@example.com\n"
        "    ticket: CHG-1\n"
        f"    expires: {today + timedelta(days=30)}\n"
    )
    run(project, "--stage=acceptance", "--plan", "plan.json", "--control", "T-022", "--waivers", "w.yaml")
    document = load_evidence(only_bundle(project.path / "out", "acceptance"))
    assert results_by_control(document)["T-022"]["aws_s3_bucket.open"] == "error"
    assert document["waivers"]["applied"] == []


def test_no_resources_fails_closed(project: pytest.Pytester) -> None:
    write_plan(project.path / "empty.json")
    result = run(project, "--stage=acceptance", "--plan", "empty.json")
    result.stdout.fnmatch_lines(["*no resources discovered for stage 'acceptance': nothing was checked*"])
    assert result.ret == 1
    document = load_evidence(only_bundle(project.path / "out", "acceptance"))
    assert document["gate"]["verdict"] == "fail"


def test_only_planned_deletions_fail_closed(project: pytest.Pytester) -> None:
    write_plan(
        project.path / "deletes.json",
        Change("aws_security_group.old", "aws_security_group", None, actions=("delete",)),
    )
    result = run(project, "--stage=acceptance", "--plan", "deletes.json")
    assert result.ret == 1
    document = load_evidence(only_bundle(project.path / "out", "acceptance"))
    assert document["inventory"]["count"] == 0
    assert document["sources"][0]["notes"] == ["1 planned deletion(s) left out of the inventory"]


def test_selection_by_control_and_framework(project: pytest.Pytester) -> None:
    result = run(project, "--stage=acceptance", "--plan", "plan.json", "--framework", "pci-dss")
    result.assert_outcomes(passed=1, failed=1, deselected=3)  # one item per control left out
    result = run(project, "--stage=acceptance", "--plan", "plan.json", "--control", "T-004")
    result.assert_outcomes(skipped=2, deselected=3)


def test_marker_keywords_select_by_severity(project: pytest.Pytester) -> None:
    result = run(project, "--stage=acceptance", "--plan", "plan.json", "-m", "control(severity='high')")
    result.assert_outcomes(passed=1, failed=1, skipped=2, deselected=2)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--stage=staging"], "*unknown stage 'staging'; choose one of: system, acceptance, production*"),
        (["--stage=acceptance", "--plan", "nope.json"], "*plan file not found: *nope.json*"),
        (["--stage=acceptance"], "*stage 'acceptance' has no sources: pass --plan PATH*"),
        (["--stage=acceptance", "--plan", "plan.json", "--fail-on", "urgent"], "*unknown severity 'urgent'*"),
        (["--stage=acceptance", "--plan", "plan.json", "--framework", "sox"], "*unknown framework 'sox'*"),
        (
            ["--stage=acceptance", "--plan", "plan.json", "--control", "T-999"],
            "*unknown control id(s): T-999*",
        ),
        (["--stage=acceptance", "--plan", "bad.json"], "*bad.json: not valid JSON*"),
        (["--stage=acceptance", "--inventory", "nope.json"], "*inventory file not found: *nope.json*"),
        (["--stage=acceptance", "--inventory", "bad.json"], "*bad.json: cannot read the inventory*"),
        (["--stage=acceptance", "--inventory", "plan.json"], "*plan.json: not a regops inventory*"),
        (["--stage=acceptance", "--plan", "folder"], "*plan file */folder is a directory*"),
        (
            ["--stage=acceptance", "--plan", "plan.json", "--evidence-dir", "plan.json"],
            "*evidence directory *plan.json is not a directory*",
        ),
        (
            ["--stage=acceptance", "--plan", "plan.json", "--evidence-dir", "plan.json/under"],
            "*evidence directory *plan.json/under: cannot write the bundle (Not a directory)*",
        ),
    ],
)
def test_usage_errors(project: pytest.Pytester, args: list[str], message: str) -> None:
    (project.path / "bad.json").write_text('{"format_version": "1.2", "resource_')
    (project.path / "folder").mkdir()
    result = run(project, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stderr.str()
    assert not (project.path / "out").exists()


def test_a_regops_key_that_is_not_a_table_is_a_usage_error(project: pytest.Pytester) -> None:
    project.makepyprojecttoml('[tool]\nregops = "x"\n')
    result = run(project, "--stage=acceptance", "--plan", "plan.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*pyproject.toml: [[]tool.regops[]] is not a table*"])
    assert "Traceback" not in result.stderr.str()


def test_invalid_control_definitions_are_reported_together(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_bad='''
import pytest

@pytest.mark.control(id="X-1", layer="system", severity="urgent", kinds=("object_store",),
                     frameworks={"pci-dss": ["1.1"]})
def test_a(resource):
    """A"""

@pytest.mark.control(id="X-2", layer="system", severity="low", kinds=("bucket",),
                     frameworks={"sox": ["1"]})
def test_b(resource):
    """B"""

@pytest.mark.control(id="X-3", layer="system", severity="low", kinds=("object_store",),
                     frameworks={"dora": ["Art. 9"]})
def test_c(resource):
    """C"""

@pytest.mark.control(id="X-3", layer="system", severity="low", kinds=("object_store",),
                     frameworks={"dora": ["Art. 9"]})
def test_d(resource):
    """D"""
'''
    )
    write_plan(pytester.path / "plan.json", *compliant_bucket())
    result = run(pytester, "--stage=acceptance", "--plan", "plan.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*invalid control definitions:*",
            "*X-1*severity 'urgent' is not one of*",
            "*X-2*kinds must name known kinds*",
            "*X-2*unknown framework 'sox'*",
            "*X-3: declared twice*",
        ]
    )


def test_stage_from_ini_and_environment(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    project.makeini("[pytest]\nregops_stage = production\n")
    result = run(project, "--plan", "plan.json")
    result.stdout.fnmatch_lines(["*regops 0.1.0: stage production*"])
    monkeypatch.setenv("REGOPS_STAGE", "system")
    result = run(project, "--plan", "plan.json")
    result.stdout.fnmatch_lines(["*regops 0.1.0: stage system*"])
    result = run(project, "--plan", "plan.json", "--stage", "acceptance")
    result.stdout.fnmatch_lines(["*regops 0.1.0: stage acceptance*"])


def test_stage_sources_from_pyproject(project: pytest.Pytester) -> None:
    project.makepyprojecttoml(
        '[tool.regops]\nevidence_dir = "evidence"\nfail_on = "critical"\n'
        '[tool.regops.stages.acceptance]\nplans = ["plan.json"]\n'
    )
    result = project.runpytest("-p", "no:cacheprovider", "--stage=acceptance")
    result.stdout.fnmatch_lines(["*gate: PASS (threshold: critical)*"])
    assert only_bundle(project.path / "evidence", "acceptance").is_dir()
    # the command line overrides pyproject
    result = project.runpytest("-p", "no:cacheprovider", "--stage=acceptance", "--fail-on", "low")
    result.stdout.fnmatch_lines(["*gate: FAIL (threshold: low)*"])


def test_an_option_value_taken_for_the_root_directory_is_a_usage_error(
    project: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # A project configured for regops but not for pytest: pytest looks for a configuration file
    # from the paths on the command line, which for it include the value of `--evidence-dir`.
    project.makepyprojecttoml('[tool.regops.stages.acceptance]\nplans = ["plan.json"]\n')
    elsewhere = tmp_path_factory.mktemp("evidence")
    result = project.runpytest(
        "-p", "no:cacheprovider", "--stage=acceptance", "--evidence-dir", str(elsewhere)
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"*--evidence-dir {elsewhere}: pytest took {elsewhere} for a test path and chose"
            f" {elsewhere.parent} as its root directory instead of {project.path}*"
            f"Write --evidence-dir={elsewhere}*"
        ]
    )
    assert list(elsewhere.iterdir()) == []
    result = project.runpytest("-p", "no:cacheprovider", "--stage=acceptance", f"--evidence-dir={elsewhere}")
    result.stdout.fnmatch_lines(["*regops 0.1.0: stage acceptance*"])
    assert only_bundle(elsewhere, "acceptance").is_dir()
    # a root directory chosen with --rootdir is the user's choice
    chosen = (f"--rootdir={elsewhere.parent}", "--plan", "plan.json", "--evidence-dir", str(elsewhere))
    result = project.runpytest("-p", "no:cacheprovider", "--stage=acceptance", *chosen)
    result.stdout.fnmatch_lines(["*regops 0.1.0: stage acceptance*"])
    # a value inside the project leaves the root directory where pytest was run
    result = project.runpytest("-p", "no:cacheprovider", "--stage=acceptance", "--plan", "plan.json")
    result.stdout.fnmatch_lines(["*regops 0.1.0: stage acceptance*"])


def test_invalid_pyproject_names_file_and_key(project: pytest.Pytester) -> None:
    project.makepyprojecttoml('[tool.regops.stages.acceptance]\nplanz = ["plan.json"]\n')
    result = project.runpytest("-p", "no:cacheprovider", "--stage=acceptance")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*pyproject.toml: invalid [[]tool.regops[]]: stages.acceptance.planz*"])


def test_bundle_files_and_manifest(project: pytest.Pytester) -> None:
    run(project, "--stage=acceptance", "--plan", "plan.json")
    bundle = only_bundle(project.path / "out", "acceptance")
    assert sorted(p.name for p in bundle.iterdir()) == [
        "MANIFEST.sha256",
        "coverage.html",
        "coverage.json",
        "evidence.json",
        "inventory.json",
        "junit.xml",
        "oscal-assessment-results.json",
        "report.html",
        "results.sarif",
    ]
    checked = sha256sum_check(bundle)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count(": OK") == 8
    html = (bundle / "report.html").read_text()
    assert "regops gate: stage acceptance: <b>FAIL</b>" in html
    assert '<link rel="stylesheet"' not in html  # self-contained
    document = load_evidence(bundle)
    inventory = json.loads((bundle / "inventory.json").read_text())
    # the two planned buckets and the AWS estate derived from them
    assert document["inventory"]["count"] == len(inventory["resources"]) == 3
    assert {r["id"] for r in inventory["resources"] if r["kind"] == "estate"} == {"estate:aws"}
    assert document["summary"]["by_outcome"]["failed"] == 1
    assert document["summary"]["by_framework"]["pci-dss"]["failed"] == 1
    assert document["sources"][0]["resource_count"] == 2
    junit = (bundle / "junit.xml").read_text()
    assert 'classname="T-001" name="aws_s3_bucket.open"' in junit
    assert '<failure message="aws_s3_bucket.open: public"' in junit


def test_every_run_gets_its_own_bundle(project: pytest.Pytester) -> None:
    run(project, "--stage=acceptance", "--plan", "plan.json")
    run(project, "--stage=acceptance", "--plan", "plan.json")
    assert len(list((project.path / "out" / "acceptance").iterdir())) == 2


def test_xdist_gives_the_serial_results_in_one_bundle(project: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    serial = run(project, "--stage=acceptance", "--plan", "plan.json", "--evidence-dir", "serial")
    assert serial.ret == 1
    parallel = project.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--stage=acceptance",
        "--plan",
        "plan.json",
        "--evidence-dir",
        "parallel",
        "-n",
        "2",
    )
    assert parallel.ret == 1
    one = load_evidence(only_bundle(project.path / "serial", "acceptance"))
    two = load_evidence(only_bundle(project.path / "parallel", "acceptance"))
    assert results_by_control(one) == results_by_control(two)
    assert one["summary"] == two["summary"]
    assert one["gate"] == two["gate"]


def test_bad_signing_key_is_a_usage_error(project: pytest.Pytester) -> None:
    (project.path / "key.pem").write_text("not a key")
    result = run(project, "--stage=acceptance", "--plan", "plan.json", "--signing-key", "key.pem")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*key.pem: cannot load an unencrypted PEM private key*"])


def test_results_record_the_facts_the_control_saw(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_controls=CONTROLS)
    write_plan(
        pytester.path / "plan.json",
        *public_bucket(),
        Change("aws_s3_bucket.computed", "aws_s3_bucket", {"bucket": None}, unknown={"bucket": True}),
    )
    run(pytester, "--stage=acceptance", "--plan", "plan.json", "--control=T-001")
    document = load_evidence(only_bundle(pytester.path / "out", "acceptance"))
    (control,) = document["controls"]
    results = {r["resource_id"]: r for r in control["results"]}
    assert results["aws_s3_bucket.open"]["outcome"] == "failed"
    assert results["aws_s3_bucket.open"]["observed"] == {"public": True}
    assert results["aws_s3_bucket.open"]["comparison"] == "assert True is False"
    assert "unknown_facts" not in results["aws_s3_bucket.open"]
    # without a public access block nothing says whether the bucket is public
    assert results["aws_s3_bucket.computed"]["outcome"] == "error"
    assert results["aws_s3_bucket.computed"]["observed"] == {"public": None}
    assert results["aws_s3_bucket.computed"]["unknown_facts"] == ["public"]
    assert "comparison" not in results["aws_s3_bucket.computed"]


def test_collect_only_evaluates_nothing_and_leaves_no_bundle(project: pytest.Pytester) -> None:
    result = run(project, "--stage=acceptance", "--plan", "plan.json", "--collect-only", "-q")
    result.stdout.fnmatch_lines(
        ["*test_not_public?aws_s3_bucket.open?*", "*collect only; nothing evaluated*"]
    )
    assert "gate:" not in result.stdout.str()
    assert not list((project.path / "out").glob("acceptance/*"))

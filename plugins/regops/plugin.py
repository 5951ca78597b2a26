"""pytest hooks: options, discovery before collection, parametrisation, results and the gate."""

from __future__ import annotations

import atexit
import gc
import inspect
import json
import os
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from regops import __version__
from regops.anomalies import ANOMALY_CONTROL_ID, anomaly_control, anomaly_results
from regops.batch import (
    BatchEntry,
    ControlFailures,
    ResourceResult,
    failures_summary,
    judge_each,
    result_nodeid,
)
from regops.changes import (
    FOUR_EYES_CONTROL,
    ChangeHistoryError,
    default_range,
    four_eyes_results,
    load_review_export,
)
from regops.controls import control_from_marker
from regops.coverage import coverage_html, coverage_matrix
from regops.discovery import Inventory, InventoryError
from regops.discovery.terraform_plan import PlanError
from regops.drift import DRIFT_CONTROL, drift_results
from regops.evidence.archive import ArchiveError, archive_bundle
from regops.evidence.bundle import (
    EvidenceBundle,
    RunInfo,
    ci_identifiers,
    evidence_document,
    git_commit,
    junit_xml,
    new_run_id,
    utc_now,
)
from regops.evidence.exports import oscal_assessment_results, sarif_document
from regops.evidence.signing import SigningError, load_private_key, sign_manifest
from regops.frameworks import load_frameworks
from regops.gate import Gate, judge, summarise
from regops.history import Comparison, HistoryError, compare, read_run, resolve_baseline, stage_history
from regops.model import Control, Outcome, Resource, Result, observed_json, observing
from regops.outcomes import RANK, XFAIL_PROVES_NOTHING, failed_comparison, phase_outcome
from regops.promotion import PROMOTION_CONTROL, promotion_results
from regops.report_html import report_html
from regops.scanners.checkov import (
    SCAN_CONTROL,
    CheckovScan,
    Finding,
    ScanTarget,
    check_control,
    mapped_checks,
    owner_of,
    owners,
    scan,
    scan_results,
)
from regops.stages import (
    ConfigError,
    Parameters,
    Settings,
    parse_framework,
    parse_severity,
    parse_stage,
    resolve,
)
from regops.waivers import WAIVER_CONTROL, Waiver, WaiverBook, WaiverFileError, load_waivers

PROPERTY = "regops"
settings_key = pytest.StashKey[Settings]()
inventory_key = pytest.StashKey[Inventory]()
control_key = pytest.StashKey[Control]()
resource_key = pytest.StashKey[Resource | None]()
# --item-per=control: the resources a control's item judges, and what it decided for each
batch_key = pytest.StashKey[tuple[BatchEntry, ...]]()
batch_results_key = pytest.StashKey[list[ResourceResult]]()
observed_key = pytest.StashKey[dict[str, Mapping[str, Any]]]()
problems_key = pytest.StashKey[list[str]]()
checkov_key = pytest.StashKey[CheckovScan]()
# The controls whose definition this process has already reported: later results name them only.
reported_controls_key = pytest.StashKey[set[str]]()
# Every control id collected, selected or not: a waiver for any other id waives nothing.
known_controls_key = pytest.StashKey[set[str]]()
# (control, resource) of the items that -k, -m or --deselect took out of what regops selected
narrowed_key = pytest.StashKey[set[tuple[str, str | None]]]()


def _option_type(parse: Any) -> Any:
    def convert(value: str) -> str:
        try:
            return str(parse(value))
        except ConfigError as exc:
            raise pytest.UsageError(str(exc)) from None

    return convert


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("regops", "regops compliance gate")
    group.addoption(
        "--stage",
        type=_option_type(parse_stage),
        help="Stage to gate: system, acceptance or production (also ini regops_stage, env REGOPS_STAGE)",
    )
    group.addoption(
        "--plan",
        action="append",
        default=[],
        metavar="PATH",
        help="Terraform plan JSON (terraform show -json) to check; repeatable; overrides pyproject",
    )
    group.addoption(
        "--inventory",
        action="append",
        default=[],
        metavar="FILE",
        help="Saved inventory.json to judge instead of calling the clouds (a replay); repeatable",
    )
    group.addoption("--evidence-dir", metavar="DIR", help="Where evidence bundles go (default: reports/)")
    group.addoption(
        "--fail-on",
        type=_option_type(parse_severity),
        metavar="SEVERITY",
        help="Lowest severity whose failed or error results fail the gate (default: low)",
    )
    group.addoption(
        "--waivers",
        action="append",
        default=[],
        metavar="YAML",
        help="Waiver file for the stage; repeatable; replaces the stage's configured waivers",
    )
    group.addoption(
        "--iac-repo", metavar="PATH", help="Git repository of the infrastructure code (four-eyes)"
    )
    group.addoption(
        "--iac-range",
        metavar="RANGE",
        help="Commits to check for four-eyes approval (default: since the last production release tag)",
    )
    group.addoption("--review-export", metavar="JSON", help="Approvals exported from the Git host, by commit")
    group.addoption(
        "--promotion-from",
        metavar="DIR",
        help="Evidence archive holding the earlier stages' bundles (default: the evidence dir)",
    )
    group.addoption(
        "--aws-endpoint",
        metavar="URL",
        help="Send every AWS call there (moto, LocalStack); also env REGOPS_AWS_ENDPOINT",
    )
    group.addoption(
        "--evidence-archive",
        metavar="DEST",
        help="Also archive the bundle to a folder or to s3://bucket/prefix (Object Lock, compliance mode)",
    )
    group.addoption(
        "--baseline",
        metavar="BUNDLE|latest",
        help="Compare with an earlier bundle of the stage, or the newest one in the evidence dir",
    )
    group.addoption(
        "--anomalies",
        action="store_true",
        default=None,
        help="Flag departures from the stage's history of inventories (also per stage: anomalies = true)",
    )
    group.addoption(
        "--signing-key",
        metavar="PEM",
        help="Ed25519 private key that signs MANIFEST.sha256 (also env REGOPS_SIGNING_KEY)",
    )
    group.addoption(
        "--checkov",
        action="store_true",
        default=False,
        help="Also run checkov on the stage's plans (also [tool.regops.checkov])",
    )
    group.addoption(
        "--control", action="append", default=[], metavar="ID", help="Run only this control; repeatable"
    )
    group.addoption(
        "--framework",
        action="append",
        default=[],
        type=_option_type(parse_framework),
        metavar="NAME",
        help="Run only controls mapped to this framework (pci-dss, dora, iso-27001, bsi-c5, cis, ...)",
    )
    group.addoption(
        "--item-per",
        choices=("resource", "control"),
        help="One pytest item per control and resource (default), or one per control judging all"
        " its resources: much faster on large estates (also [tool.regops] item_per)",
    )
    parser.addini("regops_stage", "Stage to gate when --stage is not given", default=None)


def _fewer_full_collections(config: pytest.Config) -> None:
    """A run keeps what it makes to its end (items, reports, results). CPython walks every object
    in a full collection, which it starts whenever the old objects grew by a quarter: at 10,000
    resources that was an eighth of the run. Young collections still free short-lived cycles.

    At exit, CPython walks every object once more before it tears the modules down: after a run
    at 10,000 resources that took 4.5 s, a tenth of the run, to free memory the operating system
    takes back anyway. Exit handlers run once pytest is done (its cleanups ran, the bundle is
    written and closed), and frozen objects are left out of that last collection. Reference
    counting still frees what it can and Python never promised finalisers at exit."""
    young, middle, old = gc.get_threshold()
    gc.set_threshold(young, middle, max(old, 1000))
    config.add_cleanup(lambda: gc.set_threshold(young, middle, old))
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)


def _start_run(config: pytest.Config) -> tuple[Settings, datetime, str] | None:
    """The stage's settings and a new run id; None when regops is not asked to gate a stage."""
    stage = config.getoption("stage") or None
    ini_stage = config.getini("regops_stage") or None
    if stage is None and ini_stage is None and not os.environ.get("REGOPS_STAGE"):
        return None
    misread = _rootdir_from_an_option_value(config)
    if misread is not None:
        raise pytest.UsageError(misread)
    try:
        settings = _resolve(config, stage, ini_stage)
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    started = datetime.now(UTC)
    # A failed control is one line (where, and the message); the evidence holds the rest.
    # Full tracebacks of thousands of failures cost pytest time that grows with their square.
    # A control's item already shows one line per resource that failed.
    if config.option.tbstyle == "auto" and settings.item_per == "resource":
        config.option.tbstyle = "line"
    return settings, started, new_run_id(started)


# regops's options whose value is a path on disk (see pytest_addoption).
_PATH_OPTIONS = frozenset(
    {
        "--plan",
        "--inventory",
        "--evidence-dir",
        "--waivers",
        "--iac-repo",
        "--review-export",
        "--promotion-from",
        "--evidence-archive",
        "--baseline",
        "--signing-key",
    }
)


def _rootdir_from_an_option_value(config: pytest.Config) -> str | None:
    """The error for a root directory pytest chose from the value of a regops option; None when
    it did not.

    Without a configuration file, pytest chooses the root directory from the paths on the command
    line before any plugin's options are known, so in `--evidence-dir /elsewhere` it sees a test
    path. A root directory away from where pytest was run hides the project's pyproject.toml (its
    [tool.regops]) and its Git commit from regops."""
    invocation, rootpath = config.invocation_params.dir, config.rootpath
    if config.inipath is not None or config.getoption("rootdir") or rootpath == invocation:
        return None  # a configuration file or --rootdir chose it, or it is where pytest was run
    for option, value in pairwise(str(arg) for arg in config.invocation_params.args):
        if option not in _PATH_OPTIONS or "\0" in value:
            continue
        path = Path(os.path.abspath(invocation / value))
        if path.exists() and invocation not in (path, *path.parents):
            return (
                f"{option} {value}: pytest took {value} for a test path and chose {rootpath} as its"
                f" root directory instead of {invocation} (without a pytest configuration file it"
                f" does so before plugins' options are known). Write {option}={value}, or"
                " configure pytest in the project ([tool.pytest.ini_options] in pyproject.toml)."
            )
    return None


def _resolve(config: pytest.Config, stage: str | None, ini_stage: str | None) -> Settings:
    return resolve(
        stage=stage,
        ini_stage=ini_stage,
        plans=config.getoption("plan"),
        inventories=config.getoption("inventory"),
        signing_key=config.getoption("signing_key"),
        waivers=config.getoption("waivers"),
        iac_repo=config.getoption("iac_repo"),
        iac_range=config.getoption("iac_range"),
        review_export=config.getoption("review_export"),
        promotion_archive=config.getoption("promotion_from"),
        evidence_archive=config.getoption("evidence_archive"),
        aws_endpoint=config.getoption("aws_endpoint"),
        baseline=config.getoption("baseline"),
        anomalies=bool(config.getoption("anomalies")),
        checkov=bool(config.getoption("checkov")),
        evidence_dir=config.getoption("evidence_dir"),
        fail_on=config.getoption("fail_on"),
        controls=config.getoption("control"),
        frameworks=config.getoption("framework"),
        item_per=config.getoption("item_per"),
        rootdir=config.rootpath,
        pyproject=_pyproject(config),
    )


# trylast: the terminal reporter exists by then, so discovery can show its progress.
@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "control(id, layer, severity, kinds, frameworks, stages=None, facts=()): a regops control",
    )
    config.addinivalue_line("markers", "checkov: parametrised over the stage's checkov findings")
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and "regops_settings" in workerinput:
        # An xdist worker, maybe on another machine: it gets documents, not paths, evaluates
        # controls and reports results back; discovery and the bundle stay with the controller.
        _use_settings(config, Settings.from_dict(workerinput["regops_settings"]))
        config.stash[inventory_key] = Inventory.from_json(
            workerinput["regops_inventory"], origin="the controller's inventory"
        )
        if workerinput.get("regops_checkov"):
            config.stash[checkov_key] = CheckovScan.from_dict(json.loads(workerinput["regops_checkov"]))
        _fewer_full_collections(config)
        return
    run = _start_run(config) if workerinput is None else None
    if run is None:
        return
    settings, started, run_id = run
    _fewer_full_collections(config)
    try:
        signing_key = load_private_key(settings.signing_key) if settings.signing_key else None
        today = utc_now().date()
        book = WaiverBook(
            [
                waiver
                for path in settings.waivers
                for waiver in load_waivers(path, today=today, max_days=settings.waiver_max_days)
            ]
        )
        from regops.discovery import discover

        inventory = discover(settings, _progress(config))
        checkov = _checkov_scan(settings, _progress(config, "checkov"))
        if checkov is not None:
            inventory = replace(inventory, sources=(*inventory.sources, *checkov.reports))
            config.stash[checkov_key] = checkov
        governance = [
            *(scan_results(checkov) if checkov is not None else []),
            *_change_results(settings),
            *_promotion_results(settings, inventory),
            *_drift_results(settings, inventory),
        ]
    except (ConfigError, PlanError, InventoryError, SigningError, WaiverFileError, ChangeHistoryError) as exc:
        raise pytest.UsageError(str(exc)) from None
    if settings.baseline not in (None, "latest"):
        try:
            read_run(Path(str(settings.baseline)), stage=settings.stage)
        except HistoryError as exc:
            raise pytest.UsageError(str(exc)) from None
    _use_settings(config, settings)
    config.stash[inventory_key] = inventory
    try:
        session = RegopsSession(
            config,
            settings,
            inventory,
            book,
            governance,
            signing_key,
            checkov,
            started=started,
            run_id=run_id,
        )
    except OSError as exc:
        raise pytest.UsageError(
            f"evidence directory {settings.evidence_dir}: cannot write the bundle ({exc.strerror or exc})"
        ) from None
    config.pluginmanager.register(session, "regops-session")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistBridge(session), "regops-xdist")


def _progress(config: pytest.Config, what: str = "discovery") -> Callable[[str], None] | None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or config.get_verbosity() < 0:
        return None
    return lambda message: reporter.write_line(f"regops {what}: {message}")


def _checkov_scan(settings: Settings, progress: Callable[[str], None] | None) -> CheckovScan | None:
    config = settings.checkov
    if config is None:
        return None
    targets = [
        *(ScanTarget(plan, "terraform_plan") for plan in settings.plans),
        *(ScanTarget(Path(folder), "terraform") for folder in config.directories),
    ]
    checks = list(config.checks)
    if config.only_mapped:
        checks = [c for c in mapped_checks() if not checks or c in checks]
    found = scan(
        targets,
        cache_dir=Path(config.cache_dir) if config.cache_dir else None,
        checks=checks,
        skip_checks=config.skip_checks,
    )
    if progress is not None:
        for report in found.reports:
            state = "; ".join(report.errors) if report.errors else f"{report.resource_count} resources"
            progress(
                f"{Path(report.location).name}: {state}" + (" (cached)" if len(report.notes) > 1 else "")
            )
    return found


def _change_results(settings: Settings) -> list[Result]:
    if settings.iac_repo is None or settings.stage not in FOUR_EYES_CONTROL.stages:
        return []
    export = load_review_export(settings.review_export) if settings.review_export else None
    revision_range = settings.iac_range or default_range(settings.iac_repo, settings.release_tag_pattern)
    return four_eyes_results(
        settings.iac_repo, revision_range, iac_paths=settings.iac_paths, review_export=export
    )


def _promotion_results(settings: Settings, inventory: Inventory) -> list[Result]:
    if not settings.promotion_from:
        return []
    digests = {s.configuration_sha256 for s in inventory.sources if s.configuration_sha256}
    return promotion_results(
        settings.promotion_archive or settings.evidence_dir,
        settings.promotion_from,
        git_commit(settings.iac_repo) if settings.iac_repo else None,
        digests,
    )


def _drift_results(settings: Settings, inventory: Inventory) -> list[Result]:
    # Drift needs both sides: today the live side is AWS.
    live = {r.provider for r in inventory.resources if r.origin == "live"}
    planned = {r.provider for r in inventory.resources if r.origin == "planned"}
    return drift_results(inventory.resources, sorted(live & planned))


def _pyproject(config: pytest.Config) -> Path | None:
    if config.inipath is not None and config.inipath.name == "pyproject.toml":
        return config.inipath
    candidate = config.rootpath / "pyproject.toml"
    return candidate if candidate.is_file() else None


class _XdistBridge:
    """Hands every worker the controller's settings, inventory and checkov findings.

    As content (JSON text, plain values execnet can send), never as paths: a worker started with
    `--tx ssh=...` runs on another machine and cannot read the controller's files.
    """

    def __init__(self, session: RegopsSession) -> None:
        self.session = session
        self.documents: dict[str, Any] | None = None

    def pytest_configure_node(self, node: Any) -> None:
        if self.documents is None:
            session = self.session
            self.documents = {
                "regops_settings": session.settings.to_dict(),
                "regops_inventory": session.inventory.to_json(),
            }
            if session.checkov is not None:
                self.documents["regops_checkov"] = json.dumps(session.checkov.to_dict(), default=str)
        node.workerinput.update(self.documents)

    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        output = getattr(node, "workeroutput", {})
        stash = self.session.config.stash
        stash.setdefault(known_controls_key, set()).update(output.get("regops_controls", ()))
        narrowed = {(control, resource) for control, resource in output.get("regops_narrowed", ())}
        if narrowed:
            stash.setdefault(narrowed_key, set()).update(narrowed)


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    session = config.pluginmanager.get_plugin("regops-session")
    if not isinstance(session, RegopsSession):
        return None
    inventory = session.inventory
    sources = ", ".join(f"{s.kind} {Path(s.location).name} ({s.resource_count})" for s in inventory.sources)
    return [
        f"regops {__version__}: stage {session.settings.stage}, gate fails on {session.settings.fail_on}+",
        f"regops sources: {sources}",
        f"regops inventory: {len(inventory.resources)} resources, sha256 {session.inventory_sha256[:16]}",
    ]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    config = metafunc.config
    if settings_key not in config.stash:
        return
    if metafunc.definition.get_closest_marker("checkov") is not None:
        found = config.stash.get(checkov_key, None)
        findings = list(found.findings) if found is not None else []
        if config.stash[settings_key].item_per == "control":
            # One item per check, standing for its findings (given to it at collection's end).
            firsts: dict[str, Finding] = {}
            for finding in findings:
                firsts.setdefault(finding.check_id, finding)
            findings = list(firsts.values())
            metafunc.parametrize("finding", findings, ids=[f.check_id for f in findings])
            return
        metafunc.parametrize("finding", findings, ids=[f.test_id for f in findings])
        return
    marker = metafunc.definition.get_closest_marker("control")
    if marker is None:
        return
    control, problems = control_from_marker(marker.kwargs, metafunc.function)
    config.stash.setdefault(problems_key, []).extend(problems)
    if "resource" not in metafunc.fixturenames:
        config.stash[problems_key].append(
            f"{metafunc.definition.nodeid}: a control takes a `resource` argument"
        )
        return
    if config.stash[settings_key].item_per == "control":
        return  # one item per control: its resources are given to it at collection's end
    resources = [] if control is None else config.stash[inventory_key].of_kinds(control.kinds)
    if control is not None and not _evaluated(config.stash[settings_key], control):
        # Not evaluated in this run: one item stands for the control (deselected with the
        # others), rather than one per resource that would only be collected to be dropped.
        resources = resources[:1]
    metafunc.parametrize("resource", resources, ids=[r.id for r in resources])


def _evaluated(settings: Settings, control: Control) -> bool:
    """Whether this run evaluates the control: its stage, then --control and --framework (a
    checkov check is also selected through the native control it maps to)."""
    return settings.stage in control.stages and (
        settings.selects(control.id, control.frameworks)
        or (control.maps_to is not None and settings.selects(control.maps_to, control.frameworks))
    )


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    if settings_key not in config.stash:
        for item in items:
            if item.get_closest_marker("control") is not None or item.get_closest_marker("checkov"):
                item.add_marker(
                    pytest.mark.skip(reason="regops is inactive: pass --stage to evaluate controls")
                )
        return
    settings = config.stash[settings_key]
    problems = config.stash.get(problems_key, [])
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    seen: dict[str, str] = {}
    # A control function's items share its control and whether the run selects it.
    parsed: dict[Any, tuple[Control, bool] | None] = {}
    scanned: list[pytest.Function] = []
    for item in items:
        if item.get_closest_marker("checkov") is not None and isinstance(item, pytest.Function):
            scanned.append(item)
            continue
        marker = item.get_closest_marker("control")
        if marker is None or not isinstance(item, pytest.Function):
            kept.append(item)
            continue
        if item.function not in parsed:
            control = control_from_marker(marker.kwargs, item.function)[0]
            parsed[item.function] = None
            if control is not None:
                owner = f"{item.module.__name__ if item.module else ''}.{item.originalname}"
                if seen.setdefault(control.id, owner) != owner:
                    problems.append(f"{control.id}: declared twice, by {seen[control.id]} and {owner}")
                parsed[item.function] = (control, _evaluated(settings, control))
        found = parsed[item.function]
        if found is None:
            continue
        control, selected = found
        item.stash[control_key] = control
        params = getattr(item, "callspec", None)
        resource = params.params.get("resource") if params is not None else None
        item.stash[resource_key] = resource if isinstance(resource, Resource) else None
        if settings.item_per == "control" and selected:
            _give_resources(item, control, config.stash[inventory_key])
        (kept if selected else dropped).append(item)
    if problems:
        raise pytest.UsageError(
            "regops: invalid control definitions:\n  " + "\n  ".join(dict.fromkeys(problems))
        )
    native = {found[0].id: found[0] for found in parsed.values() if found is not None}
    for item, control in _checkov_items(config, scanned, native):
        seen.setdefault(control.id, "checkov")
        (kept if _evaluated(settings, control) else dropped).append(item)
    unknown = [c for c in settings.controls if c not in seen]
    if unknown:
        raise pytest.UsageError(f"unknown control id(s): {', '.join(unknown)}")
    config.stash.setdefault(known_controls_key, set()).update(seen)
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is not None:
        # The controller of an xdist run collects nothing: it judges the waivers with these.
        workeroutput["regops_controls"] = sorted(seen)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def _give_resources(item: pytest.Item, control: Control, inventory: Inventory) -> None:
    entries = tuple(BatchEntry.of(resource) for resource in inventory.of_kinds(control.kinds))
    item.stash[batch_key] = entries
    if not entries:
        # As pytest skips an empty parametrisation, before any fixture: not applicable.
        item.add_marker(pytest.mark.skip(reason=_no_resources(control)))


def pytest_deselected(items: Sequence[pytest.Item]) -> None:
    if not items or settings_key not in items[0].config.stash:
        return
    config = items[0].config
    settings = config.stash[settings_key]
    narrowed = {
        (control.id, resource.id if resource is not None else None)
        for item in items
        if (control := item.stash.get(control_key, None)) is not None and _evaluated(settings, control)
        for resource in _resources_of(item)
    }
    if not narrowed:
        return  # regops's own selection: stage, --control, --framework
    recorded = config.stash.setdefault(narrowed_key, set())
    recorded.update(narrowed)
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["regops_narrowed"] = [list(pair) for pair in recorded]


def _resources_of(item: pytest.Item) -> list[Resource | None]:
    """What an item judges: its one resource, or each of a control's item (--item-per=control),
    which stands for the results of all of them."""
    entries = item.stash.get(batch_key, ())
    return [entry.resource for entry in entries] if entries else [item.stash.get(resource_key, None)]


def _checkov_items(
    config: pytest.Config, items: list[pytest.Function], native: dict[str, Control]
) -> list[tuple[pytest.Function, Control]]:
    """checkov findings as control results: each stands on the planned resource it concerns."""
    found = config.stash.get(checkov_key, None)
    if found is None:
        return []  # checkov does not run for this stage: its suite is dropped quietly
    settings = config.stash[settings_key]
    default_severity = settings.checkov.severity if settings.checkov else "low"
    index = owners(config.stash[inventory_key].resources)

    def resource(finding: Finding) -> Resource:
        return Resource(
            id=owner_of(finding, index),
            provider=finding.provider or "terraform",
            native_type=finding.address.split(".")[-2] if "." in finding.address else "",
            kind="other",
            region=None,
            stage=settings.stage,
            origin="planned",
            address=finding.resource,
        )

    # --item-per=control: a check's item judges each of its findings.
    by_check: dict[str, list[Finding]] = {}
    for each in found.findings if settings.item_per == "control" else ():
        by_check.setdefault(each.check_id, []).append(each)
    paired = []
    for item in items:
        finding = item.callspec.params.get("finding") if hasattr(item, "callspec") else None
        if not isinstance(finding, Finding):
            continue
        control = check_control(finding, native, default_severity, found.version)
        item.stash[control_key] = control
        if settings.item_per == "control":
            item.stash[resource_key] = None
            item.stash[batch_key] = tuple(
                BatchEntry(resource(each), {"finding": each}, each.test_id)
                for each in by_check[finding.check_id]
            )
        else:
            item.stash[resource_key] = resource(finding)
        paired.append((item, control))
    return paired


@pytest.fixture
def resource(request: pytest.FixtureRequest) -> Resource | None:
    """The resource a control is evaluated on: regops parametrises every control with them."""
    if batch_key in request.node.stash:
        return None  # --item-per=control: pytest_pyfunc_call gives the control each resource
    raise pytest.UsageError("the `resource` argument is only for regops controls run with --stage")


@pytest.fixture(scope="session")
def parameters() -> Parameters:
    """The stage's control parameters (allowed regions, retention, rotation, ...)."""
    raise pytest.UsageError("the `parameters` argument is only for regops controls run with --stage")


class _StageParameters:
    """Gives controls the stage's parameters, overriding the module's `parameters` fixture.

    A fixture of a plugin object needs no other fixture to find them. Through `pytestconfig`,
    pytest resolves `pytestconfig` again for every item and builds a `request` fixture definition
    for it (with `inspect.signature`), cached value or not: most controls take parameters."""

    def __init__(self, values: Parameters) -> None:
        self.values = values

    @pytest.fixture(scope="session")
    def parameters(self) -> Parameters:
        """The stage's control parameters (allowed regions, retention, rotation, ...)."""
        return self.values


def _use_settings(config: pytest.Config, settings: Settings) -> None:
    config.stash[settings_key] = settings
    config.pluginmanager.register(_StageParameters(settings.parameters), "regops-parameters")


def _observe(
    item: pytest.Item, phase: str, then: Callable[[pytest.Item], None] | None = None
) -> Generator[None, None, None]:
    if control_key not in item.stash:
        return (yield)
    with observing() as seen:
        try:
            done = yield
            if then is not None:
                then(item)
            return done
        finally:
            item.stash.setdefault(observed_key, {})[phase] = seen


def _read_declared_facts(item: pytest.Item) -> None:
    # A fact the control declares that its resource cannot have is an error before the control
    # runs, not a failure or a pass decided on a missing value.
    found = item.stash.get(resource_key, None)
    if found is not None:
        for fact in item.stash[control_key].facts:
            found.fact(fact)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    return (yield from _observe(item, "setup", then=_read_declared_facts))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    return (yield from _observe(item, "call"))


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    entries = pyfuncitem.stash.get(batch_key, None)
    if entries is None:
        return None
    control = pyfuncitem.stash[control_key]
    function, given = pyfuncitem.obj, pyfuncitem.funcargs
    arguments = {name: given[name] for name in inspect.signature(function).parameters if name in given}
    results = judge_each(control, entries, lambda each: function(**{**arguments, **each}))
    pyfuncitem.stash[batch_results_key] = results
    failures = failures_summary(control, results)
    if failures is not None:
        raise ControlFailures(failures)
    return True


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    control = item.stash.get(control_key, None)
    if control is None:
        return report
    error = call.excinfo.value if call.excinfo is not None else None
    # Taken out of the item, which pytest keeps to the end of the run; the report carries it.
    seen = item.stash.get(observed_key, {}).pop(report.when, None)
    decided = phase_outcome(report.when, report.outcome, error)
    if decided is None:
        return report
    outcome, message = decided
    xfail = getattr(report, "wasxfail", None) is not None
    if xfail:
        # An expected failure would silence the control without a waiver's approval and expiry.
        outcome, message = Outcome.ERROR, XFAIL_PROVES_NOTHING
    if batch_key in item.stash:
        entries = _control_item_results(item, control, report, outcome, message, seen, error, xfail)
    else:
        resource = item.stash.get(resource_key, None)
        if resource is None and not xfail:
            outcome, message = Outcome.NOT_APPLICABLE, _no_resources(control)
        entries = [_result_property(control, resource, outcome, message, seen, failed_comparison(error))]
    reported = item.config.stash.setdefault(reported_controls_key, set())
    if control.id not in reported:
        # Every result holds its control's id; only the first (per xdist worker) its whole
        # definition, which every report would otherwise carry in memory to the end of the run.
        entries[0] = {**entries[0], "control": control.to_dict()}
        reported.add(control.id)
    report.user_properties.extend((PROPERTY, entry) for entry in entries)
    return report


def _control_item_results(
    item: pytest.Item,
    control: Control,
    report: pytest.TestReport,
    outcome: Outcome,
    message: str,
    seen: Mapping[str, Any] | None,
    error: BaseException | None,
    xfail: bool,
) -> list[dict[str, Any]]:
    """--item-per=control: a result for each resource of the item, under the node id its own
    item would have had."""
    entries = item.stash[batch_key]
    function = (
        f"{item.parent.nodeid}::{getattr(item, 'originalname', item.name)}" if item.parent else item.nodeid
    )
    judged = item.stash.get(batch_results_key, None) if report.when == "call" else None
    if judged is not None:
        del item.stash[batch_results_key]
        if not xfail:
            if isinstance(error, ControlFailures):
                report.longrepr = str(error)
            return [
                _result_property(
                    control,
                    r.entry.resource,
                    r.outcome,
                    r.message,
                    r.observed,
                    r.comparison,
                    result_nodeid(function, r.entry.param_id),
                )
                for r in judged
            ]
    if not entries and not xfail:
        outcome, message = Outcome.NOT_APPLICABLE, _no_resources(control)
    # The phase decided for every resource: a fixture's error, xfail, or no resources at all.
    return [
        _result_property(
            control, e.resource, outcome, message, seen, None, result_nodeid(function, e.param_id)
        )
        for e in entries
    ] or [_result_property(control, None, outcome, message, seen, None, item.nodeid)]


def _no_resources(control: Control) -> str:
    return f"no {', '.join(control.kinds)} resources in the inventory"


def _result_property(
    control: Control,
    resource: Resource | None,
    outcome: Outcome,
    message: str,
    seen: Mapping[str, Any] | None,
    comparison: str | None,
    nodeid: str | None = None,
) -> dict[str, Any]:
    """One result as a report carries it to the controller (a pytest-xdist worker's report too);
    `nodeid` when it is not the report's (one of a control's item's resources)."""
    return {
        "control_id": control.id,
        "resource_id": resource.id if resource else None,
        "address": resource.address if resource else None,
        "provider": resource.provider if resource else None,
        "origin": resource.origin if resource else None,
        "outcome": outcome.value,
        "message": message,
        **_observed_property(seen),
        **({"comparison": comparison} if comparison else {}),
        **({"nodeid": nodeid} if nodeid else {}),
    }


def _observed_property(seen: Mapping[str, Any] | None) -> dict[str, Any]:
    if not seen:
        return {}
    observed, unknown = observed_json(seen)
    return {"observed": observed, "unknown_facts": unknown}


def _regops_properties(report: pytest.TestReport | pytest.CollectReport) -> list[dict[str, Any]]:
    """The results a report carries: one, or each resource's of a control's item."""
    return [
        value
        for name, value in getattr(report, "user_properties", ())
        if name == PROPERTY and isinstance(value, dict)
    ]


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> Any:
    if not isinstance(report, pytest.TestReport) or not (report.failed and report.when == "call"):
        return None
    if any(found["outcome"] == Outcome.ERROR.value for found in _regops_properties(report)):
        return "error", "E", ("ERROR", {"red": True})
    return None


class RegopsSession:
    """Controller-side state of a run: collects results, judges the gate, writes the bundle."""

    def __init__(
        self,
        config: pytest.Config,
        settings: Settings,
        inventory: Inventory,
        waivers: WaiverBook,
        governance: list[Result],
        signing_key: object | None,
        checkov: CheckovScan | None,
        *,
        started: datetime,
        run_id: str,
    ) -> None:
        self.config = config
        self.governance = governance
        self.waivers = waivers
        # nodeid -> the waiver that made its result waived
        self.waived_by: dict[str, str] = {}
        self.resources = {resource.id: resource for resource in inventory.resources}
        self.signing_key = signing_key
        self.settings = settings
        self.inventory = inventory
        self.run = RunInfo(
            id=run_id,
            stage=settings.stage,
            started_at=started,
            tool_version=__version__,
            pytest_version=pytest.__version__,
            command_line=list(config.invocation_params.args),
            suite_commit=git_commit(config.rootpath),
            iac_commit=git_commit(settings.iac_repo) if settings.iac_repo else None,
            ci=ci_identifiers(),
        )
        self.bundle = EvidenceBundle.create(settings.evidence_dir, settings.stage, self.run.id)
        self.inventory_sha256 = inventory.write(self.bundle.path("inventory.json"))
        self.checkov = checkov
        if checkov is not None:
            # The raw findings, for whoever re-reads the run.
            self.bundle.write_json("checkov.json", checkov.to_dict())
        self.results: dict[str, Result] = {}
        self.controls: dict[str, Control] = {}
        self.other_failures = 0
        self.gate_passed: bool | None = None
        # A usage error or --collect-only: nothing was evaluated, so no bundle and no gate.
        self.nothing_evaluated = False
        self.archived: str | None = None
        self.comparison: Comparison | None = None
        self.archive_error: str | None = None
        # Damaged bundles of the stage's history that the baseline or the anomalies left out.
        self.history_skipped: list[str] = []
        self._summary: tuple[dict[str, Any], Gate, dict[str, Any]] | None = None

    # trylast: other plugins (pytest's --junitxml) have read the report's properties whole.
    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        properties = _regops_properties(report)
        if not properties:
            if report.failed:
                self.other_failures += 1
            return
        for found in properties:
            self._record(found, found.get("nodeid", report.nodeid))
        # pytest keeps every report to the end of the run; the results now hold what this one
        # said. Only a failure's status line asks regops again, in the summary (waived? error?).
        statuses = [
            {key: found[key] for key in ("control_id", "resource_id", "outcome")}
            for found in properties
            if found["outcome"] in (Outcome.FAILED.value, Outcome.ERROR.value)
        ]
        report.user_properties = [
            *((name, value) for name, value in report.user_properties if name != PROPERTY),
            *((PROPERTY, status) for status in statuses),
        ]

    def _record(self, found: Mapping[str, Any], nodeid: str) -> None:
        control = found.get("control")
        if control is not None and control["id"] not in self.controls:
            self.controls[control["id"]] = Control.from_dict(control)
        result = Result(
            control_id=found["control_id"],
            resource_id=found["resource_id"],
            outcome=Outcome(found["outcome"]),
            message=found["message"],
            nodeid=nodeid,
            address=found["address"],
            provider=found["provider"],
            origin=found["origin"],
            observed=found.get("observed"),
            unknown_facts=tuple(found.get("unknown_facts", ())),
            comparison=found.get("comparison"),
        )
        waiver = self._waiver_for(result)
        if waiver is not None:
            result = replace(
                result,
                outcome=Outcome.WAIVED,
                message=f"waived by {waiver.id} ({waiver.entry.ticket}, until {waiver.entry.expires}): "
                f"{result.message}",
            )
        previous = self.results.get(nodeid)
        if previous is None or RANK[result.outcome] > RANK[previous.outcome]:
            self.results[nodeid] = result
            # A later phase's error outranks a waived failure: the waiver then applies to nothing.
            if waiver is not None:
                self.waived_by[nodeid] = waiver.id
            else:
                self.waived_by.pop(nodeid, None)

    def _anomalies(self) -> list[Result]:
        if not self.settings.anomalies:
            return []
        self.controls[ANOMALY_CONTROL_ID] = anomaly_control(self.settings.anomaly_severity)
        history = stage_history(
            self.settings.evidence_dir,
            self.settings.stage,
            exclude=self.bundle.directory,
            skipped=self.history_skipped,
        )
        inventories = []
        for run in history:
            try:
                inventories.append(run.inventory())
            except HistoryError:
                continue
        return anomaly_results(
            inventories,
            (r.to_dict() for r in self.inventory.resources),
            window=self.settings.anomaly_window,
            min_runs=self.settings.anomaly_min_runs,
        )

    def _compare(self, results: list[Result]) -> Comparison | None:
        if self.settings.baseline is None:
            return None
        baseline = resolve_baseline(
            self.settings.baseline,
            self.settings.evidence_dir,
            self.settings.stage,
            self.bundle.directory,
            skipped=self.history_skipped,
        )
        if baseline is None:
            return None
        return compare(baseline, results, (r.id for r in self.inventory.resources))

    def _coverage(self, results: list[Result]) -> dict[str, Any]:
        """The selected frameworks (all without --framework), requirement by requirement."""
        known = load_frameworks()
        keys = self.settings.frameworks or tuple(known)
        return coverage_matrix([known[k] for k in keys if k in known], self.controls, results)

    def _source_files(self) -> dict[str, str]:
        """Resource id -> the plan file that holds it, relative to the root (for code scanning)."""
        files = {}
        # A plan holds thousands of resources: each plan's name is worked out once.
        names: dict[str, str] = {}
        for found in self.inventory.resources:
            # Derived resources (the estate) have no Terraform address and no file.
            if found.origin != "planned" or not found.source or found.address is None:
                continue
            if found.source not in names:
                path = Path(found.source).absolute()
                names[found.source] = (
                    str(path.relative_to(self.config.rootpath))
                    if path.is_relative_to(self.config.rootpath)
                    else path.as_uri()
                )
            files[found.id] = names[found.source]
        return files

    def _waiver_for(self, result: Result) -> Waiver | None:
        if result.outcome is not Outcome.FAILED:
            return None
        found = self.resources.get(result.resource_id or "")
        return self.waivers.match(result.control_id, result.resource_id, found.tags if found else {})

    def pytest_report_teststatus(self, report: pytest.TestReport, config: pytest.Config) -> Any:
        if not isinstance(report, pytest.TestReport) or not report.failed:
            return None
        failing = [
            Result(found["control_id"], found["resource_id"], Outcome(found["outcome"]), "", report.nodeid)
            for found in _regops_properties(report)
            if found["outcome"] in (Outcome.FAILED.value, Outcome.ERROR.value)
        ]
        if failing and all(self._waiver_for(result) is not None for result in failing):
            return "waived", "w", ("WAIVED", {"yellow": True})
        return None

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if exitstatus == pytest.ExitCode.USAGE_ERROR or session.config.option.collectonly:
            self.nothing_evaluated = True
            return
        # The ids come from collection, here or on the xdist workers: without them no waiver is valid.
        known = self.config.stash.get(known_controls_key, set())
        self.waivers.reject_unknown_controls(known)
        governance = [*self.waivers.results(), *self.governance]
        results = [*self.results.values(), *governance, *self._anomalies()]
        comparison = self._compare(results)
        for control in (WAIVER_CONTROL, FOUR_EYES_CONTROL, PROMOTION_CONTROL, DRIFT_CONTROL, SCAN_CONTROL):
            if any(r.control_id == control.id for r in governance):
                self.controls[control.id] = control
        stopped = session.shouldfail or session.shouldstop
        if stopped:
            # -x or --maxfail: the verdict would rest on the controls that ran before the stop.
            run_problems = [f"the run stopped early ({stopped}); controls after the stop were not evaluated"]
        elif exitstatus == pytest.ExitCode.INTERRUPTED:
            run_problems = ["the run was interrupted"]
        else:
            run_problems = []
        gating = None
        if self.settings.gate_on == "new":
            # Without a baseline every failure is new: the gate never passes for want of history.
            gating = comparison.is_new_failure if comparison is not None else (lambda _: True)
        if self.other_failures:
            # A worker that crashed on a control leaves a failure without a result behind.
            run_problems.append(
                f"{self.other_failures} test item(s) failed without a control result (a crashed worker,"
                " or a test that is not a control): the run did not evaluate cleanly"
            )
        recorded: set[tuple[str, str | None]] = self.config.stash.get(narrowed_key, set())
        narrowed = sorted(recorded, key=str)
        if narrowed:
            # A keyword or marker narrows within a control as easily as across controls, and
            # the results left out would be missing from the evidence without a trace.
            control_id, resource_id = narrowed[0]
            run_problems.append(
                f"{len(narrowed)} control result(s) deselected by -k, -m or --deselect (such as"
                f" {control_id} on {resource_id}): the run did not judge all it selected; run a subset"
                " of controls with --control or --framework"
            )
        gate = judge(results, self.controls, self.inventory, self.settings.fail_on, run_problems, gating)
        applied: dict[str, list[dict[str, str | None]]] = {}
        for nodeid, waiver_id in self.waived_by.items():
            waived = self.results[nodeid]
            applied.setdefault(waiver_id, []).append(
                {"control": waived.control_id, "resource_id": waived.resource_id}
            )
        summary = summarise(results, self.controls)
        self.run.finished_at = utc_now()
        by_kind: dict[str, int] = {}
        by_provider: dict[str, int] = {}
        for found in self.inventory.resources:
            by_kind[found.kind] = by_kind.get(found.kind, 0) + 1
            by_provider[found.provider] = by_provider.get(found.provider, 0) + 1
        document = evidence_document(
            run=self.run,
            settings=self.settings.to_dict(),
            sources=self.inventory.sources,
            inventory_file={
                "file": "inventory.json",
                "sha256": self.inventory_sha256,
                "count": len(self.inventory.resources),
                "by_kind": dict(sorted(by_kind.items())),
                "by_provider": dict(sorted(by_provider.items())),
            },
            controls=self.controls,
            results=results,
            summary=summary,
            gate=gate.to_dict(),
            waivers={
                "applied": [
                    {**w.to_dict(), "results": applied[w.id]} for w in self.waivers.waivers if w.id in applied
                ],
                "expired": [
                    w.to_dict() for w in self.waivers.waivers if any("expired" in p for p in w.problems)
                ],
                "rejected": [w.to_dict() for w in self.waivers.waivers if not w.valid],
            },
        )
        if comparison is not None:
            document["comparison"] = comparison.to_dict()
        coverage = self._coverage(results)
        document["coverage"] = {key: framework["summary"] for key, framework in coverage.items()}
        self.bundle.write_json("evidence.json", document)
        self.bundle.write_json("coverage.json", coverage)
        self.bundle.write_bytes(
            "coverage.html", coverage_html(coverage, self.settings.stage, self.run.id).encode()
        )
        self.bundle.write_json("results.sarif", sarif_document(document, self._source_files()))
        self.bundle.write_json("oscal-assessment-results.json", oscal_assessment_results(document))
        self.bundle.write_chunks("junit.xml", junit_xml(self.settings.stage, self.controls, results))
        self.bundle.write_chunks("report.html", (piece.encode() for piece in report_html(document)))
        self.gate_passed = gate.passed
        self._summary = (summary, gate, coverage)
        self.comparison = comparison
        if exitstatus in (
            pytest.ExitCode.OK,
            pytest.ExitCode.TESTS_FAILED,
            pytest.ExitCode.NO_TESTS_COLLECTED,
        ):
            if not gate.passed:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
            elif self.other_failures == 0:
                session.exitstatus = pytest.ExitCode.OK

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.nothing_evaluated:
            if terminalreporter.config.option.collectonly:
                terminalreporter.write_line("regops: collect only; nothing evaluated, no evidence bundle")
            return
        from regops.terminal import render_comparison, render_summary

        if self._summary is None:
            return
        summary, gate, coverage = self._summary
        writer = terminalreporter._tw
        terminalreporter.write_sep("=", f"regops {self.settings.stage} gate")
        terminalreporter.write(
            render_summary(
                stage=self.settings.stage,
                summary=summary,
                gate=gate,
                bundle=str(self.bundle.directory),
                width=writer.fullwidth,
                color=writer.hasmarkup,
                coverage=coverage,
            )
        )
        if self.comparison is not None:
            terminalreporter.write(render_comparison(self.comparison.to_dict()))
        elif self.settings.baseline is not None:
            terminalreporter.write_line("baseline: no earlier bundle of this stage; every result is new")
        for reason in dict.fromkeys(self.history_skipped):
            terminalreporter.write_line(f"history: skipped {reason}", yellow=True)
        if self.archived:
            terminalreporter.write_line(f"archived: {self.archived}")
        if self.archive_error:
            terminalreporter.write_line(f"ARCHIVE FAILED: {self.archive_error}", red=True, bold=True)

    # (Named pytest_* so pytest sees it; specname makes it a second sessionfinish.)
    # trylast makes this wrapper the innermost: it finishes after every plain sessionfinish
    # and before the terminal summary is printed.
    @pytest.hookimpl(wrapper=True, trylast=True, specname="pytest_sessionfinish")
    def pytest_sessionfinish_bundle(
        self, session: pytest.Session, exitstatus: int
    ) -> Generator[None, None, None]:
        yield
        if self.nothing_evaluated:
            # Leave no half bundle that could pass for a run.
            self.bundle.discard()
            return
        self.bundle.write_manifest()
        if self.signing_key is not None:
            sign_manifest(self.bundle.directory, self.signing_key)
        if self.settings.evidence_archive:
            try:
                self.archived = archive_bundle(
                    self.bundle.directory,
                    self.settings.evidence_archive,
                    self.settings.stage,
                    retention_days=self.settings.archive_retention_days,
                    endpoint_url=self.settings.aws_endpoint,
                )
            except ArchiveError as exc:
                self.archive_error = str(exc)
                session.exitstatus = pytest.ExitCode.TESTS_FAILED

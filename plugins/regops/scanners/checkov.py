"""checkov, run in-process on a stage's plans (and IaC folders), its findings as plain data.

checkov is imported only here. Its checks become results of their own; where regops maps a
check to one of its controls (`checkov_map.yaml`), the result carries that control's severity
and framework references.

Fail closed: checkov returns an empty report, not an error, for a plan it cannot read. A plan
(or folder) with resources in which checkov scanned nothing, a parse error, or a crash is an
error of the scan, which fails the gate. Findings are cached by the digest of what was scanned,
checkov's version and the check selection, so an unchanged plan is not scanned twice.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Final

import yaml

from regops.model import STAGES, Control, Outcome, Resource, Result, SourceReport

CACHE_SCHEMA: Final = "regops.checkov-cache/v1"
FINDINGS_SCHEMA: Final = "regops.checkov-findings/v1"
PROVIDER_PREFIXES: Final = {"aws_": "aws", "azurerm_": "azure", "google_": "gcp"}


@dataclass(frozen=True)
class Finding:
    """One checkov check on one resource."""

    check_id: str
    check_name: str
    resource: str  # the Terraform address (plans) or "file.tf:address" (folders)
    target: str  # the plan file or folder scanned
    outcome: str  # "passed", "failed" or "skipped"
    guideline: str | None = None
    evaluated_keys: tuple[str, ...] = ()

    @property
    def address(self) -> str:
        return self.resource.rsplit(":", 1)[-1]

    @property
    def provider(self) -> str | None:
        resource_type = self.address.split(".")[-2] if "." in self.address else ""
        return next((p for prefix, p in PROVIDER_PREFIXES.items() if resource_type.startswith(prefix)), None)

    @property
    def test_id(self) -> str:
        return f"{self.check_id}:{self.resource}"


@dataclass(frozen=True)
class ScanTarget:
    """What checkov looks at: a plan JSON file or a folder of Terraform code."""

    path: Path
    kind: str  # "terraform_plan" or "terraform"

    def digest(self) -> str:
        hasher = hashlib.sha256()
        files = [self.path] if self.path.is_file() else sorted(p for p in self.path.rglob("*") if p.is_file())
        for file in files:
            if file.suffix in {".json", ".tf", ".tfvars", ".hcl"} or file == self.path:
                hasher.update(str(file.relative_to(self.path.parent)).encode())
                hasher.update(hashlib.sha256(file.read_bytes()).digest())
        return hasher.hexdigest()


@dataclass(frozen=True)
class CheckovScan:
    version: str | None
    findings: tuple[Finding, ...]
    reports: tuple[SourceReport, ...]
    # target path -> None when it was scanned, else why it could not be
    problems: Mapping[str, str | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": FINDINGS_SCHEMA,
            "version": self.version,
            "findings": [asdict(f) for f in self.findings],
            "reports": [r.to_dict() for r in self.reports],
            "problems": dict(self.problems),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckovScan:
        return cls(
            version=data["version"],
            findings=tuple(_finding(f) for f in data["findings"]),
            reports=tuple(SourceReport.from_dict(r) for r in data["reports"]),
            problems=dict(data["problems"]),
        )


def _finding(data: Mapping[str, Any]) -> Finding:
    return Finding(**{**data, "evaluated_keys": tuple(data.get("evaluated_keys") or ())})


@dataclass(frozen=True)
class CheckMapping:
    """What regops knows about a checkov check: its own control, or a severity and references."""

    control: str | None = None
    severity: str | None = None
    frameworks: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@cache
def check_mappings() -> Mapping[str, CheckMapping]:
    text = resources.files("regops.scanners").joinpath("checkov_map.yaml").read_text(encoding="utf-8")
    raw = yaml.safe_load(text)["checks"]
    return {
        check_id: CheckMapping(
            control=entry.get("control"),
            severity=entry.get("severity"),
            frameworks={k: tuple(v) for k, v in (entry.get("frameworks") or {}).items()},
        )
        for check_id, entry in raw.items()
    }


def _quiet_checkov() -> None:
    # checkov otherwise asks PyPI for a newer version and its vendor's service for guidelines:
    # a compliance gate must not reach out beyond what it was told to look at.
    os.environ.setdefault("BC_SKIP_MAPPING", "TRUE")
    os.environ.setdefault("SKIP_PACKAGE_UPDATE_CHECK", "TRUE")
    os.environ.setdefault("CHECKOV_EXPERIMENTAL_IMAGE_REFERENCING", "False")


def checkov_version() -> str | None:
    _quiet_checkov()
    try:
        from checkov.version import version
    except ImportError:
        return None
    return str(version)


def scan(
    targets: Sequence[ScanTarget],
    *,
    cache_dir: Path | None,
    checks: Sequence[str] = (),
    skip_checks: Sequence[str] = (),
) -> CheckovScan:
    """Scan every target (each on its own, so a failure is attributed to it); never raises."""
    version = checkov_version()
    findings: list[Finding] = []
    reports: list[SourceReport] = []
    problems: dict[str, str | None] = {}
    for target in targets:
        location = str(target.path)
        if version is None:
            problem: str | None = "checkov is not installed (pip install 'pytest-regops[checkov]')"
            found: list[Finding] = []
            digest = None
            cached = False
        else:
            digest = _cache_key(target, version, checks, skip_checks)
            cached_findings = _read_cache(cache_dir, digest)
            cached = cached_findings is not None
            if cached_findings is not None:
                found, problem = cached_findings, None
            else:
                found, problem = _run(target, checks, skip_checks)
                if problem is None:
                    _write_cache(cache_dir, digest, version, found)
        findings.extend(found)
        problems[location] = problem
        notes = [f"checkov {version}"] if version else []
        if cached:
            notes.append("findings from the cache: this exact input was scanned before")
        reports.append(
            SourceReport(
                kind="checkov",
                location=location,
                sha256=target.digest() if target.path.exists() else None,
                resource_count=len({f.resource for f in found}),
                complete=problem is None,
                errors=(problem,) if problem else (),
                notes=tuple(notes),
            )
        )
    return CheckovScan(version, tuple(findings), tuple(reports), problems)


def _cache_key(target: ScanTarget, version: str, checks: Sequence[str], skip: Sequence[str]) -> str:
    key = json.dumps([target.kind, target.digest(), version, sorted(checks), sorted(skip)])
    return hashlib.sha256(key.encode()).hexdigest()


def _read_cache(cache_dir: Path | None, digest: str) -> list[Finding] | None:
    if cache_dir is None:
        return None
    try:
        data = json.loads((cache_dir / f"{digest}.json").read_text(encoding="utf-8"))
        if data.get("schema") != CACHE_SCHEMA:
            return None
        return [_finding(f) for f in data["findings"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None  # a missing or damaged cache entry only costs a rescan


def _write_cache(cache_dir: Path | None, digest: str, version: str, findings: Iterable[Finding]) -> None:
    if cache_dir is None:
        return
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = cache_dir / f"{digest}.json.partial"
    document = {"schema": CACHE_SCHEMA, "version": version, "findings": [asdict(f) for f in findings]}
    partial.write_text(json.dumps(document), encoding="utf-8")
    partial.replace(cache_dir / f"{digest}.json")


def _run(
    target: ScanTarget, checks: Sequence[str], skip_checks: Sequence[str]
) -> tuple[list[Finding], str | None]:
    if not target.path.exists():
        return [], f"{target.path}: no such file or folder"
    _quiet_checkov()
    try:
        from checkov.runner_filter import RunnerFilter

        runner_filter = RunnerFilter(
            framework=[target.kind],
            checks=list(checks) or None,
            skip_checks=list(skip_checks) or None,
            show_progress_bar=False,
        )
        if target.kind == "terraform_plan":
            from checkov.terraform.plan_runner import Runner as PlanRunner

            report: Any = PlanRunner().run(
                root_folder=None, files=[str(target.path)], runner_filter=runner_filter
            )
        else:
            from checkov.terraform.runner import Runner as FolderRunner

            report = FolderRunner().run(root_folder=str(target.path), runner_filter=runner_filter)
    except Exception as exc:  # checkov is third-party code: any crash is an error of the scan
        return [], f"{target.path}: checkov crashed: {type(exc).__name__}: {exc}"
    # The folder runner answers with a list of reports when it ran more than one framework.
    reports: list[Any] = report if isinstance(report, list) else [report]
    parsing_errors = sorted({Path(p).name for r in reports for p in r.parsing_errors})
    if parsing_errors:
        return [], f"{target.path}: checkov could not parse {', '.join(parsing_errors)}"
    if not any(r.resources for r in reports):
        return [], f"{target.path}: checkov scanned no resource in it (unreadable, or no resources)"
    findings = []
    for outcome, records in (
        ("failed", [c for r in reports for c in r.failed_checks]),
        ("passed", [c for r in reports for c in r.passed_checks]),
        ("skipped", [c for r in reports for c in r.skipped_checks]),
    ):
        for record in records:
            resource = record.resource
            if target.kind == "terraform":
                resource = f"{record.file_path.lstrip('/')}:{resource}"
            findings.append(
                Finding(
                    check_id=record.check_id,
                    check_name=record.check_name,
                    resource=resource,
                    target=str(target.path),
                    outcome=outcome,
                    guideline=record.guideline or None,
                    evaluated_keys=tuple(
                        str(k) for k in (record.check_result or {}).get("evaluated_keys") or ()
                    ),
                )
            )
    findings.sort(key=lambda f: (f.check_id, f.resource))
    return findings, None


SCAN_CONTROL = Control(
    id="SCAN-001",
    title="checkov read every plan and folder it was given",
    layer="system",
    severity="high",
    stages=STAGES,
    kinds=("other",),
    frameworks={},
    rationale="A scanner that could not read its input reports nothing; that silence must not pass.",
)


def scan_results(found: CheckovScan) -> list[Result]:
    """One SCAN-001 result per target: passed when checkov read it, an error when it could not."""
    return [
        Result(
            control_id=SCAN_CONTROL.id,
            resource_id=target,
            outcome=Outcome.ERROR if problem else Outcome.PASSED,
            message=problem or f"checkov {found.version} scanned {target}",
            nodeid=f"regops::checkov::{target}",
            origin="planned",
        )
        for target, problem in found.problems.items()
    ]


def check_control(
    finding: Finding, native: Mapping[str, Control], default_severity: str, version: str | None
) -> Control:
    """The control a checkov check stands for in the evidence: its own, with what regops maps to it."""
    mapping = check_mappings().get(finding.check_id, CheckMapping())
    mapped = native.get(mapping.control) if mapping.control else None
    return Control(
        id=finding.check_id,
        title=finding.check_name,
        layer=mapped.layer if mapped else "system",
        severity=mapped.severity if mapped else (mapping.severity or default_severity),
        stages=mapped.stages if mapped else STAGES,
        kinds=mapped.kinds if mapped else ("other",),
        frameworks=mapped.frameworks if mapped else mapping.frameworks,
        rationale=finding.guideline or "",
        unverified=mapped.unverified if mapped else (),
        source=f"checkov {version}" if version else "checkov",
        maps_to=mapping.control,
    )


def owners(found: Iterable[Resource]) -> dict[tuple[str | None, str], str]:
    """(plan file, Terraform address) -> the id of the planned resource it is, or is joined into.

    Also (None, address) where only one plan has the address: a scanned folder's findings name
    no plan. Two root modules of a stage may share addresses, so the plan decides first.
    """
    index: dict[tuple[str | None, str], str] = {}
    plans: dict[str, set[str]] = {}
    for resource in found:
        if resource.origin != "planned" or resource.address is None:
            continue
        for address in (resource.address, *resource.components):
            index.setdefault((resource.source, address), resource.id)
            plans.setdefault(address, set()).add(resource.source)
    for address, sources in plans.items():
        if len(sources) == 1:
            index[(None, address)] = index[(next(iter(sources)), address)]
    return index


def owner_of(finding: Finding, index: Mapping[tuple[str | None, str], str]) -> str:
    """The id of the planned resource a finding concerns; its own name when no plan has it."""
    planned = index.get((finding.target, finding.address))
    return planned or index.get((None, finding.address), finding.resource)


def mapped_checks() -> tuple[str, ...]:
    return tuple(sorted(check_mappings()))

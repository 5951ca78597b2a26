"""Run history: the bundles of a stage in the evidence archive, compared and trended.

Every bundle of a stage is one run of its history. A comparison keys results by (control,
resource) and says what is new, fixed, still failing, and which resources came or went.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from regops.discovery import INVENTORY_SCHEMA
from regops.evidence.bundle import evidence_schema, validate_evidence
from regops.model import Outcome, Result

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

BAD = {Outcome.FAILED.value, Outcome.ERROR.value}
# A waived failure still fails: a waiver accepts the risk, it does not fix the resource.
STILL_BAD = BAD | {Outcome.WAIVED.value}

# The members of evidence.json a trend or an inventory history reads: checked against the schema
# without the controls, whose every result would make reading a long history slow.
SUMMARY_MEMBERS = ("schema", "run", "gate", "summary")


class HistoryError(Exception):
    """A baseline or the archive cannot be read; the message names the path."""


@dataclass(frozen=True)
class Run:
    """One archived bundle, read back."""

    path: Path
    evidence: Mapping[str, Any]
    # The inventory's resources when they were read and checked with the evidence.
    resources: Sequence[Mapping[str, Any]] | None = field(default=None, repr=False, compare=False)

    @property
    def id(self) -> str:
        return str(self.evidence["run"]["id"])

    @property
    def results(self) -> dict[tuple[str, str | None], Mapping[str, Any]]:
        return {
            (control["id"], result["resource_id"]): result
            for control in self.evidence["controls"]
            for result in control["results"]
        }

    def inventory(self) -> list[Mapping[str, Any]]:
        return list(self.resources if self.resources is not None else read_inventory(self.path))


# What the history and the anomalies read of each resource, and the types they can read.
_RESOURCE_MEMBERS: dict[str, type | tuple[type, ...]] = {
    "id": str,
    "kind": str,
    "region": (str, type(None)),
    "origin": (str, type(None)),
    "address": (str, type(None)),
    "facts": (dict, type(None)),
}


def _resource_problem(resource: object) -> str | None:
    if not isinstance(resource, dict):
        return "not an object"
    for key, types in _RESOURCE_MEMBERS.items():
        if not isinstance(resource.get(key), types):
            return f"{key} is {resource.get(key)!r}"
    return None


def read_inventory(bundle: Path) -> list[Mapping[str, Any]]:
    """The resources of the bundle's inventory.json, or a HistoryError naming the file."""
    path = bundle / "inventory.json"
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HistoryError(f"{path}: cannot read the inventory ({exc})") from None
    if not isinstance(document, dict) or document.get("schema") != INVENTORY_SCHEMA:
        raise HistoryError(f"{path}: not a {INVENTORY_SCHEMA} document")
    resources = document.get("resources")
    if not isinstance(resources, list):
        raise HistoryError(f"{path}: not a regops inventory (resources is not a list)")
    for index, resource in enumerate(resources):
        problem = _resource_problem(resource)
        if problem is not None:
            raise HistoryError(f"{path}: not a regops inventory (resources/{index}: {problem})")
    return resources


@cache
def _validator(members: tuple[str, ...]) -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    schema = evidence_schema()
    return Draft202012Validator(
        {
            **schema,
            "required": [m for m in schema["required"] if m in members],
            "properties": {m: schema["properties"][m] for m in members},
        }
    )


def read_evidence(bundle: Path, members: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The bundle's evidence.json, checked against the evidence schema (only the top-level
    `members` when given, for a reader that needs no more), or a HistoryError naming the file."""
    if not bundle.is_dir():
        problem = "not a directory" if bundle.exists() else "no such bundle directory"
        raise HistoryError(f"{bundle}: {problem}")
    path = bundle / "evidence.json"
    try:
        evidence = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HistoryError(f"{path}: cannot read the evidence ({exc})") from None
    if not isinstance(evidence, dict) or evidence.get("schema") != "regops.evidence/v1":
        raise HistoryError(f"{path}: not a regops.evidence/v1 document")
    if members is None:
        problems = validate_evidence(evidence)
    else:
        problems = [
            f"{'/'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}"
            for error in sorted(
                _validator(members).iter_errors(evidence), key=lambda e: list(map(str, e.path))
            )
        ]
    if problems:
        more = f" and {len(problems) - 1} more" if len(problems) > 1 else ""
        raise HistoryError(f"{path}: not a valid regops.evidence/v1 document ({problems[0]}{more})")
    return evidence


def _of_stage(bundle: Path, evidence: Mapping[str, Any], stage: str | None) -> None:
    if stage is not None and evidence["run"]["stage"] != stage:
        raise HistoryError(f"{bundle}: a bundle of the {evidence['run']['stage']} stage, not of {stage}")


def read_run(bundle: Path, *, stage: str | None = None) -> Run:
    """The bundle to compare with, its evidence and inventory checked whole: a comparison never
    fails half way through; `stage`, when given, is the stage it must be of."""
    evidence = read_evidence(bundle)
    _of_stage(bundle, evidence, stage)
    return Run(bundle, evidence, read_inventory(bundle))


def _bundles(archive: Path, stage: str, exclude: Path | None) -> list[Path]:
    folder = archive / stage
    if not folder.is_dir():
        return []
    excluded = exclude.resolve() if exclude is not None else None
    return sorted(p for p in folder.iterdir() if p.is_dir() and p.resolve() != excluded)


def stage_history(
    archive: Path,
    stage: str,
    *,
    exclude: Path | None = None,
    skipped: list[str] | None = None,
    inventories: bool = True,
) -> list[Run]:
    """The stage's runs, oldest first (run ids sort by time), with their SUMMARY_MEMBERS and,
    unless `inventories` is false, their inventories checked. A damaged bundle is left out; why
    is added to `skipped` when it is given."""
    runs = []
    for bundle in _bundles(archive, stage, exclude):
        try:
            evidence = read_evidence(bundle, SUMMARY_MEMBERS)
            _of_stage(bundle, evidence, stage)
            runs.append(Run(bundle, evidence, read_inventory(bundle) if inventories else None))
        except HistoryError as exc:
            if skipped is not None:
                skipped.append(str(exc))
    return runs


def resolve_baseline(
    choice: str, archive: Path, stage: str, current: Path, *, skipped: list[str] | None = None
) -> Run | None:
    """`latest`: the newest other bundle of the stage that is intact (None if there is none),
    damaged newer ones added to `skipped`; else the bundle at that path, or a HistoryError."""
    if choice != "latest":
        return read_run(Path(choice), stage=stage)
    for bundle in reversed(_bundles(archive, stage, current)):
        try:
            return read_run(bundle, stage=stage)
        except HistoryError as exc:
            if skipped is not None:
                skipped.append(str(exc))
    return None


@dataclass
class Comparison:
    baseline: str
    new_failures: list[dict[str, Any]] = field(default_factory=list)
    fixed: list[dict[str, Any]] = field(default_factory=list)
    still_failing: list[dict[str, Any]] = field(default_factory=list)
    new_resources: list[str] = field(default_factory=list)
    gone_resources: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline,
            "new_failures": self.new_failures,
            "fixed": self.fixed,
            "still_failing": self.still_failing,
            "new_resources": self.new_resources,
            "gone_resources": self.gone_resources,
        }

    def is_new_failure(self, result: Result) -> bool:
        return (result.control_id, result.resource_id) in self._new_failure_keys

    @cached_property
    def _new_failure_keys(self) -> frozenset[tuple[str, str | None]]:
        # Asked once per failed result: a set, not a scan of every new failure each time.
        return frozenset((item["control"], item["resource_id"]) for item in self.new_failures)


def compare(baseline: Run, results: Sequence[Result], resource_ids: Iterable[str]) -> Comparison:
    before = baseline.results
    now = {(r.control_id, r.resource_id): r for r in results}
    comparison = Comparison(baseline=baseline.id)
    for key, result in sorted(now.items(), key=lambda item: (item[0][0], item[0][1] or "")):
        entry = {
            "control": key[0],
            "resource_id": key[1],
            "outcome": result.outcome.value,
            "message": result.message,
        }
        previous = before.get(key)
        if result.outcome.value in STILL_BAD:
            if previous is not None and previous["outcome"] in STILL_BAD:
                comparison.still_failing.append(entry)
            else:
                comparison.new_failures.append(entry)
        elif previous is not None and previous["outcome"] in STILL_BAD:
            comparison.fixed.append({**entry, "was": previous["outcome"]})
    current_ids = set(resource_ids)
    previous_ids = {str(r["id"]) for r in baseline.inventory()}
    comparison.new_resources = sorted(current_ids - previous_ids)
    comparison.gone_resources = sorted(previous_ids - current_ids)
    return comparison


def trend(runs: Sequence[Run]) -> list[dict[str, Any]]:
    """Per run: id, start, verdict, counts by outcome and by framework."""
    return [
        {
            "run": run.id,
            "started_at": run.evidence["run"]["started_at"],
            "verdict": run.evidence["gate"]["verdict"],
            "by_outcome": run.evidence["summary"]["by_outcome"],
            "by_framework": run.evidence["summary"]["by_framework"],
        }
        for run in runs
    ]


def _bad(counts: Mapping[str, int]) -> int:
    return counts.get("failed", 0) + counts.get("error", 0)


def render_trend_html(stage: str, points: Sequence[Mapping[str, Any]]) -> str:
    """A self-contained page: an SVG line plot of outcomes per run and a table per framework."""
    import html

    series = {"passed": "#2e7d32", "failed": "#c62828", "error": "#6a1b9a", "waived": "#f9a825"}
    width, height, pad = 760, 260, 40
    top = max([1, *(p["by_outcome"].get(o, 0) for p in points for o in series)])
    step = (width - 2 * pad) / max(1, len(points) - 1)

    def xy(index: int, value: int) -> str:
        return f"{pad + index * step:.1f},{height - pad - (height - 2 * pad) * value / top:.1f}"

    lines = [
        f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="'
        + " ".join(xy(i, p["by_outcome"].get(outcome, 0)) for i, p in enumerate(points))
        + f'"><title>{outcome}</title></polyline>'
        for outcome, colour in series.items()
    ]
    legend = "".join(
        f'<text x="{pad + 90 * i}" y="16" fill="{colour}">{outcome}</text>'
        for i, (outcome, colour) in enumerate(series.items())
    )
    axis = (
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#999"/>'
        f'<text x="4" y="{pad}">{top}</text><text x="4" y="{height - pad}">0</text>'
    )
    frameworks = sorted({f for p in points for f in p["by_framework"]})
    header = "".join(f"<th>{html.escape(f)} failed</th>" for f in frameworks)
    rows = "".join(
        f"<tr><td>{html.escape(p['run'])}</td><td>{html.escape(p['verdict'])}</td>"
        + "".join(f"<td>{p['by_outcome'].get(o, 0)}</td>" for o in ("passed", "failed", "error", "waived"))
        + "".join(f"<td>{_bad(p['by_framework'].get(f, {}))}</td>" for f in frameworks)
        + "</tr>"
        for p in points
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>regops history: {html.escape(stage)}</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}</style></head><body>"
        f"<h1>regops history: {html.escape(stage)} ({len(points)} runs)</h1>"
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">'
        f"{axis}{legend}{''.join(lines)}</svg>"
        "<table><tr><th>run</th><th>gate</th><th>passed</th><th>failed</th><th>error</th><th>waived</th>"
        f"{header}</tr>{rows}</table></body></html>\n"
    )

"""The gate verdict and the summary counts, from results alone."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from regops.discovery import Inventory
from regops.model import SEVERITIES, Control, Outcome, Result, severity_rank

BLOCKING = (Outcome.FAILED, Outcome.ERROR)
EVALUATED = (Outcome.PASSED, Outcome.FAILED, Outcome.WAIVED, Outcome.ERROR)


@dataclass(frozen=True)
class Gate:
    verdict: str
    threshold: str
    reasons: tuple[str, ...]
    mode: str = "all"
    # The reasons that are about the run itself (stopped early, interrupted, lost results).
    run_problems: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "threshold": self.threshold,
            "mode": self.mode,
            "reasons": list(self.reasons),
            "run_problems": list(self.run_problems),
        }


# Sources that report findings on resources other sources found, not resources of their own.
FINDING_SOURCES = frozenset({"checkov"})


def judge(
    results: Sequence[Result],
    controls: Mapping[str, Control],
    inventory: Inventory,
    threshold: str,
    run_problems: Sequence[str] = (),
    gating: Callable[[Result], bool] | None = None,
) -> Gate:
    """Fail when anything at or above the threshold failed or errored, or when we could not look.

    `gating` narrows which failed and error results may fail the gate (new failures only); the
    rest are still counted, reported and recorded.
    """
    reasons: list[str] = list(run_problems)
    if not inventory.resources:
        reasons.append(f"no resources discovered for stage {inventory.stage!r}: nothing was checked")
    for source in inventory.sources:
        if source.complete and source.resource_count == 0 and source.kind not in FINDING_SOURCES:
            # A live source that found nothing tagged for the stage looked in the wrong place.
            reasons.append(f"source {source.kind} {source.location} found no resources of the stage")
        if not source.complete:
            detail = "; ".join(source.errors) or "no detail"
            reasons.append(f"source {source.kind} {source.location} is incomplete: {detail}")
    if inventory.resources and not any(r.outcome in EVALUATED for r in results):
        reasons.append("no control evaluated any resource")
    blocking: Counter[tuple[str, Outcome]] = Counter()
    for result in results:
        control = controls.get(result.control_id)
        if control is None or result.outcome not in BLOCKING:
            continue
        if gating is not None and not gating(result):
            continue
        if severity_rank(control.severity) >= severity_rank(threshold):
            blocking[(result.control_id, result.outcome)] += 1
    for (control_id, outcome), count in sorted(blocking.items(), key=_by_severity(controls)):
        control = controls[control_id]
        noun = "result" if count == 1 else "results"
        reasons.append(f"{control_id} ({control.severity}): {count} {outcome.value} {noun} - {control.title}")
    mode = "all" if gating is None else "new-failures-only"
    return Gate("fail" if reasons else "pass", threshold, tuple(reasons), mode, tuple(run_problems))


def _by_severity(controls: Mapping[str, Control]) -> Any:
    def key(item: tuple[tuple[str, Outcome], int]) -> tuple[int, str, str]:
        (control_id, outcome), _ = item
        return (-severity_rank(controls[control_id].severity), control_id, outcome.value)

    return key


def _empty() -> dict[str, int]:
    return {outcome.value: 0 for outcome in Outcome}


def summarise(results: Iterable[Result], controls: Mapping[str, Control]) -> dict[str, Any]:
    by_outcome = _empty()
    by_severity = {severity: _empty() for severity in reversed(SEVERITIES)}
    by_framework: dict[str, dict[str, int]] = {}
    for result in results:
        control = controls[result.control_id]
        by_outcome[result.outcome.value] += 1
        by_severity[control.severity][result.outcome.value] += 1
        for framework in control.frameworks:
            if framework not in by_framework:
                by_framework[framework] = _empty()
            by_framework[framework][result.outcome.value] += 1
    return {
        "total": sum(by_outcome.values()),
        "by_outcome": by_outcome,
        "by_severity": by_severity,
        "by_framework": dict(sorted(by_framework.items())),
    }

"""One pytest item per control (`--item-per=control`): the item judges each of its resources.

pytest's own work for an item (its phases, its reports, the terminal) costs more than most
controls do. On a plan of tens of thousands of resources, one item per control and resource
spends most of the run there. A control's item instead calls the control on each resource in
turn and decides for each what that resource's own item would have: the declared facts read
first, then the call's assert, skip or exception.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from regops.model import Control, FactUnknown, Outcome, Resource, observing
from regops.outcomes import XFAIL_PROVES_NOTHING, error_outcome, failed_comparison, skipped_outcome


@dataclass(frozen=True, slots=True)
class BatchEntry:
    """One resource of a control's item: what the control function is called with for it, and
    the id its own item would have (a checkov finding's, for checkov's checks)."""

    resource: Resource
    arguments: Mapping[str, Any]
    param_id: str

    @classmethod
    def of(cls, resource: Resource) -> BatchEntry:
        return cls(resource, {"resource": resource}, resource.id)


@dataclass(frozen=True, slots=True)
class ResourceResult:
    """What a control decided for one resource within its item."""

    entry: BatchEntry
    outcome: Outcome
    message: str
    # Every fact the control read, by name (UNKNOWN where the source could not establish it).
    observed: Mapping[str, Any]
    comparison: str | None = None


class ControlFailures(Exception):
    """Fails a control's item when any of its resources failed or could not be evaluated."""


Call = Callable[[Mapping[str, Any]], object]


def judge_each(control: Control, entries: Sequence[BatchEntry], call: Call) -> list[ResourceResult]:
    """The control's result on each entry; `call` runs the control function with an entry's
    arguments."""
    return [_judge(control, entry, call) for entry in entries]


def _judge(control: Control, entry: BatchEntry, call: Call) -> ResourceResult:
    with observing() as declared:
        try:
            for fact in control.facts:
                entry.resource.fact(fact)
        except FactUnknown as error:
            outcome, message = error_outcome("setup", error)
            return ResourceResult(entry, outcome, message, declared)
    with observing() as seen:
        try:
            call(entry.arguments)
        except pytest.skip.Exception as skipped:
            outcome, message = skipped_outcome(skipped)
        except pytest.xfail.Exception:
            outcome, message = Outcome.ERROR, XFAIL_PROVES_NOTHING
        except (Exception, pytest.fail.Exception) as error:
            outcome, message = error_outcome("call", error)
            return ResourceResult(entry, outcome, message, seen, failed_comparison(error))
        else:
            outcome, message = Outcome.PASSED, ""
    return ResourceResult(entry, outcome, message, seen)


def result_nodeid(function_nodeid: str, param_id: str) -> str:
    """The node id of the resource's own item under `--item-per=resource`, so that a result
    names the same node either way (pytest writes a parameter's id with non-ASCII escaped)."""
    return f"{function_nodeid}[{param_id.encode('unicode_escape').decode('ascii')}]"


def failures_summary(control: Control, results: Sequence[ResourceResult]) -> str | None:
    """The text a control's failed item shows, one line per resource; None when none failed."""
    failed = [r for r in results if r.outcome is Outcome.FAILED]
    errors = [r for r in results if r.outcome is Outcome.ERROR]
    if not failed and not errors:
        return None
    counts = ", ".join(
        f"{len(group)} {name}" for group, name in ((failed, "failed"), (errors, "error")) if group
    )
    lines = [f"{control.id}: {counts} of {len(results)} resources"]
    lines += [f"  {r.outcome.value.upper()} {r.entry.param_id}: {r.message}" for r in (*failed, *errors)]
    return "\n".join(lines)

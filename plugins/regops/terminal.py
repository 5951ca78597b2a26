"""The terminal summary, rendered with rich into text pytest's terminal writer prints."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table

from regops.coverage import SUMMARY_COLUMNS
from regops.gate import Gate
from regops.model import Outcome

_STYLES = {
    Outcome.PASSED.value: "green",
    Outcome.FAILED.value: "red",
    Outcome.ERROR.value: "red bold",
    Outcome.WAIVED.value: "yellow",
    Outcome.NOT_APPLICABLE.value: "dim",
}


def _counts_table(title: str, first: str, rows: Mapping[str, Mapping[str, int]]) -> Table:
    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    table.add_column(first)
    for outcome in Outcome:
        table.add_column(outcome.value, justify="right", style=_STYLES[outcome.value])
    for name, counts in rows.items():
        table.add_row(name, *(str(counts.get(o.value, 0)) for o in Outcome))
    return table


def render_summary(
    *,
    stage: str,
    summary: Mapping[str, Any],
    gate: Gate,
    bundle: str,
    width: int,
    color: bool,
    coverage: Mapping[str, Any] | None = None,
) -> str:
    buffer = io.StringIO()
    console = Console(
        file=buffer, width=max(width, 60), force_terminal=color, no_color=not color, highlight=False
    )
    console.print(_counts_table("by outcome", "stage", {stage: summary["by_outcome"]}))
    console.print(_counts_table("by severity", "severity", summary["by_severity"]))
    if summary["by_framework"]:
        console.print(_counts_table("by framework", "framework", summary["by_framework"]))
    if coverage:
        # No column for the total, which is their sum: with it the headings no longer fit 80
        # columns, and a truncated "pa…" could be passing or partially evaluated.
        table = Table(
            title="framework coverage (requirements by status)",
            title_justify="left",
            show_edge=False,
            pad_edge=False,
        )
        table.add_column("framework", no_wrap=True)
        for _, heading in SUMMARY_COLUMNS:
            table.add_column(heading, justify="right")
        for key, framework in coverage.items():
            counts = framework["summary"]
            table.add_row(key, *(str(counts[k]) for k, _ in SUMMARY_COLUMNS))
        console.print(table)
    style = "bold green" if gate.passed else "bold red"
    console.print(
        f"gate: [{style}]{gate.verdict.upper()}[/{style}] (threshold: {gate.threshold})",
    )
    for reason in gate.reasons:
        console.print(f"  - {reason}", markup=False)
    console.print(f"evidence: {bundle}", markup=False)
    return buffer.getvalue()


def render_comparison(comparison: Mapping[str, Any]) -> str:
    """What changed since the baseline, new failures first."""
    lines = [
        f"since {comparison['baseline']}: {len(comparison['new_failures'])} new failures, "
        f"{len(comparison['fixed'])} fixed, {len(comparison['still_failing'])} still failing, "
        f"{len(comparison['new_resources'])} new resources, {len(comparison['gone_resources'])} gone",
    ]
    lines += [
        f"  NEW   {i['control']} {i['resource_id']}: {i['message']}" for i in comparison["new_failures"]
    ]
    lines += [f"  FIXED {i['control']} {i['resource_id']}" for i in comparison["fixed"]]
    return "\n".join(lines) + "\n"

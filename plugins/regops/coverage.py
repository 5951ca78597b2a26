"""Framework coverage: every requirement, the controls that evidence it, and what they found.

A requirement no control references needs manual evidence; the matrix says so instead of
leaving it out, so an auditor sees the whole framework, not only what regops automates.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from regops.frameworks import Framework
from regops.model import Control, Outcome, Result

AUTOMATED = "automated"
MANUAL = "manual"
PASSING = "passing"
FAILING = "failing"
WAIVED = "waived"
PARTIAL = "partially evaluated"
NOT_EVALUATED = "not evaluated"
# A framework's summary counts as every report shows them: key, heading. Only "passing" says the
# controls evidenced a requirement, so none of the others is folded into it or into a total.
SUMMARY_COLUMNS = (
    ("passing", PASSING),
    ("failing", FAILING),
    ("waived", WAIVED),
    ("partially_evaluated", PARTIAL),
    ("not_evaluated", NOT_EVALUATED),
    ("manual", "manual evidence"),
)


def coverage_matrix(
    frameworks: Sequence[Framework], controls: Mapping[str, Control], results: Iterable[Result]
) -> dict[str, Any]:
    """Per framework, per requirement: the mapped controls, their outcome counts and a status."""
    counts: dict[str, dict[str, int]] = {}
    for result in results:
        tally = counts.setdefault(result.control_id, {o.value: 0 for o in Outcome})
        tally[result.outcome.value] += 1
    matrix: dict[str, Any] = {}
    for framework in frameworks:
        by_requirement: dict[str, list[str]] = {}
        for control in controls.values():
            for reference in control.frameworks.get(framework.key, ()):
                by_requirement.setdefault(reference, []).append(control.id)
        rows = []
        for requirement in framework.requirements:
            mapped = sorted(by_requirement.get(requirement.id, ()))
            outcomes = {o.value: 0 for o in Outcome}
            for control_id in mapped:
                for outcome, n in counts.get(control_id, {}).items():
                    outcomes[outcome] += n
            rows.append(
                {
                    "id": requirement.id,
                    "title": requirement.title,
                    "verified": requirement.verified,
                    "controls": mapped,
                    "outcomes": outcomes,
                    "status": _status({c: counts.get(c, {}) for c in mapped}),
                }
            )
        automated = [r for r in rows if r["controls"]]
        statuses = Counter(r["status"] for r in automated)
        matrix[framework.key] = {
            "title": framework.title,
            "requirements": rows,
            "summary": {
                "requirements": len(rows),
                "automated": len(automated),
                "manual": len(rows) - len(automated),
                "failing": statuses[FAILING],
                # "automated" only says that controls map to a requirement; these say what they
                # found, one status per requirement, and add up to it.
                "passing": statuses[PASSING],
                "waived": statuses[WAIVED],
                "partially_evaluated": statuses[PARTIAL],
                "not_evaluated": statuses[NOT_EVALUATED],
            },
        }
    return matrix


def _status(controls: Mapping[str, Mapping[str, int]]) -> str:
    """The least favourable status the mapped controls' outcome counts allow."""
    if not controls:
        return MANUAL

    def total(outcome: Outcome) -> int:
        return sum(tally.get(outcome.value, 0) for tally in controls.values())

    if total(Outcome.FAILED) or total(Outcome.ERROR):
        return FAILING
    # A waived result is a failure someone accepted, not a pass.
    if total(Outcome.WAIVED):
        return WAIVED
    # The plugin passes the controls the run evaluated (it learns them from their results), so a
    # control of another stage or outside --control is not here. Each mapped control checks its
    # own part of the requirement; one that ran on no resource (no results, or only
    # not-applicable ones) evidenced nothing, and regops cannot tell a stage without resources of
    # its kinds from a source that did not show them. So another control passing does not make
    # the requirement pass. Not-applicable results of a control that passed on other resources
    # are its own scoping and do not count against it.
    evaluated = sum(1 for tally in controls.values() if tally.get(Outcome.PASSED.value, 0))
    if not evaluated:
        return NOT_EVALUATED
    return PASSING if evaluated == len(controls) else PARTIAL


def coverage_html(matrix: Mapping[str, Any], stage: str, run_id: str) -> str:
    """A self-contained page: one table per framework, manual-evidence rows marked."""
    sections = []
    for key, framework in matrix.items():
        summary = framework["summary"]
        rows = "".join(
            f'<tr class="{html.escape(row["status"].replace(" ", "-"))}">'
            f"<td>{html.escape(row['id'])}{'' if row['verified'] else ' <em>(unverified)</em>'}</td>"
            f"<td>{html.escape(row['title'])}</td>"
            f"<td>{html.escape(', '.join(row['controls']) or 'manual evidence needed')}</td>"
            + "".join(f"<td>{row['outcomes'][o.value]}</td>" for o in Outcome)
            + f"<td>{html.escape(row['status'])}</td></tr>"
            for row in framework["requirements"]
        )
        sections.append(
            f'<section id="{html.escape(key)}"><h2>{html.escape(framework["title"])}</h2>'
            f"<p>{summary['requirements']} requirements: {summary['automated']} mapped to controls ("
            + ", ".join(f"{summary[k]} {label}" for k, label in SUMMARY_COLUMNS if k != "manual")
            + f"), {summary['manual']} need manual evidence.</p>"
            "<table><thead><tr><th>Requirement</th><th>Title</th><th>Controls</th>"
            + "".join(f"<th>{o.value.replace('_', ' ')}</th>" for o in Outcome)
            + f"<th>status</th></tr></thead><tbody>{rows}</tbody></table>"
            "</section>"
        )
    style = (
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;width:100%}"
        "td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}"
        "tr.failing{background:#fdd}tr.manual{background:#f4f4f4;color:#555}tr.passing{background:#efe}"
        "tr.waived,tr.partially-evaluated,tr.not-evaluated{background:#ffe}"
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>regops coverage, {html.escape(stage)} {html.escape(run_id)}</title><style>{style}</style>"
        f"</head><body><h1>Framework coverage: stage {html.escape(stage)}, run {html.escape(run_id)}</h1>"
        + "".join(sections)
        + "</body></html>\n"
    )

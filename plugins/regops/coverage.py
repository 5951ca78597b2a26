"""Framework coverage: every requirement, the controls that evidence it, and what they found.

A requirement no control references needs manual evidence; the matrix says so instead of
leaving it out, so an auditor sees the whole framework, not only what regops automates.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from regops.frameworks import Framework
from regops.model import Control, Outcome, Result

AUTOMATED = "automated"
MANUAL = "manual"


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
                    "status": _status(mapped, outcomes),
                }
            )
        automated = [r for r in rows if r["controls"]]
        matrix[framework.key] = {
            "title": framework.title,
            "requirements": rows,
            "summary": {
                "requirements": len(rows),
                "automated": len(automated),
                "manual": len(rows) - len(automated),
                "failing": sum(1 for r in automated if r["status"] == "failing"),
            },
        }
    return matrix


def _status(controls: Sequence[str], outcomes: Mapping[str, int]) -> str:
    if not controls:
        return MANUAL
    if outcomes[Outcome.FAILED.value] or outcomes[Outcome.ERROR.value]:
        return "failing"
    if outcomes[Outcome.PASSED.value] or outcomes[Outcome.WAIVED.value]:
        return "passing"
    return "not evaluated"


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
            f"<td>{row['outcomes']['passed']}</td><td>{row['outcomes']['failed']}</td>"
            f"<td>{row['outcomes']['error']}</td><td>{html.escape(row['status'])}</td></tr>"
            for row in framework["requirements"]
        )
        sections.append(
            f'<section id="{html.escape(key)}"><h2>{html.escape(framework["title"])}</h2>'
            f"<p>{summary['requirements']} requirements: {summary['automated']} evidenced by controls "
            f"({summary['failing']} failing), {summary['manual']} need manual evidence.</p>"
            "<table><thead><tr><th>Requirement</th><th>Title</th><th>Controls</th><th>passed</th>"
            f"<th>failed</th><th>error</th><th>status</th></tr></thead><tbody>{rows}</tbody></table>"
            "</section>"
        )
    style = (
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;width:100%}"
        "td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}"
        "tr.failing{background:#fdd}tr.manual{background:#f4f4f4;color:#555}tr.passing{background:#efe}"
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>regops coverage, {html.escape(stage)} {html.escape(run_id)}</title><style>{style}</style>"
        f"</head><body><h1>Framework coverage: stage {html.escape(stage)}, run {html.escape(run_id)}</h1>"
        + "".join(sections)
        + "</body></html>\n"
    )

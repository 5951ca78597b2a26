"""What regops adds to pytest-html's report: a summary an auditor reads first, then references."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from typing import Any

from regops.gate import Gate
from regops.model import Outcome

_OUTCOMES = [o.value for o in Outcome]


def _counts(title: str, first: str, rows: Mapping[str, Mapping[str, int]]) -> str:
    head = "".join(f"<th>{o}</th>" for o in _OUTCOMES)
    body = "".join(
        f"<tr><td>{html.escape(name)}</td>"
        + "".join(f'<td class="regops-{o}">{counts.get(o, 0)}</td>' for o in _OUTCOMES)
        + "</tr>"
        for name, counts in rows.items()
    )
    return (
        f'<table class="regops-summary"><caption>{html.escape(title)}</caption>'
        f"<thead><tr><th>{html.escape(first)}</th>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def summary_html(
    *,
    stage: str,
    run_id: str,
    gate: Gate,
    summary: Mapping[str, Any],
    coverage: Mapping[str, Any],
) -> list[str]:
    """The gate verdict and its reasons, counts by framework and severity, and coverage."""
    verdict = "PASS" if gate.passed else "FAIL"
    parts = [
        '<section id="regops-summary">',
        f"<h2>regops gate: stage {html.escape(stage)}: <b>{verdict}</b></h2>",
        f"<p>run {html.escape(run_id)}, threshold {html.escape(gate.threshold)}</p>",
    ]
    if gate.reasons:
        parts.append("<ul>" + "".join(f"<li>{html.escape(r)}</li>" for r in gate.reasons) + "</ul>")
    if summary["by_framework"]:
        parts.append(_counts("by framework", "framework", summary["by_framework"]))
    parts.append(_counts("by severity", "severity", summary["by_severity"]))
    if coverage:
        rows = "".join(
            f"<tr><td>{html.escape(key)}</td><td>{f['summary']['requirements']}</td>"
            f"<td>{f['summary']['automated']}</td><td>{f['summary']['failing']}</td>"
            f"<td>{f['summary']['manual']}</td></tr>"
            for key, f in coverage.items()
        )
        parts.append(
            '<table class="regops-summary"><caption>framework coverage (coverage.html has every '
            "requirement)</caption><thead><tr><th>framework</th><th>requirements</th>"
            "<th>by controls</th><th>failing</th><th>manual evidence</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )
    parts.append("</section>")
    return parts


def references_html(control: Mapping[str, Any]) -> str:
    """A result row's requirement references; unverified ones say so."""
    refs = "; ".join(
        f"{html.escape(framework)} {html.escape(', '.join(ids))}"
        for framework, ids in control["frameworks"].items()
    )
    if control.get("unverified"):
        refs += " <em>(unverified: " + html.escape("; ".join(control["unverified"])) + ")</em>"
    return refs


def observed_html(found: Mapping[str, Any] | None) -> str:
    """The facts a result's control read, `name = value`, unknown ones marked; the failed check."""
    if not found:
        return ""
    unknown = set(found.get("unknown_facts") or ())
    lines = [
        f"{html.escape(name)} = "
        + ("<em>unknown</em>" if name in unknown else html.escape(json.dumps(value, default=str)))
        for name, value in (found.get("observed") or {}).items()
    ]
    if found.get("comparison"):
        lines.append(f"<code>{html.escape(found['comparison'])}</code>")
    return "<br>".join(lines)

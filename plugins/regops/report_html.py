"""report.html: the evidence document as a page an auditor reads, written a control at a time.

The page is a view of evidence.json and nothing else: the gate verdict and its reasons first,
then counts, coverage and sources, then every control with its requirements and results. It
needs no network and no script to be read; a small inline script only adds outcome filters.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from regops.coverage import SUMMARY_COLUMNS
from regops.model import Outcome

_OUTCOMES = [o.value for o in Outcome]
# Worst first: what needs attention opens the list of a control's results.
_ORDER = {
    Outcome.ERROR.value: 0,
    Outcome.FAILED.value: 1,
    Outcome.WAIVED.value: 2,
    Outcome.PASSED.value: 3,
    Outcome.NOT_APPLICABLE.value: 4,
}
_ATTENTION = (Outcome.ERROR.value, Outcome.FAILED.value)

_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em 2em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1em}
td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left;vertical-align:top}
th{background:#f4f4f4}
.regops-passed,.passed>td:nth-child(2){color:#176317}
.regops-failed,.failed>td:nth-child(2){color:#b00020;font-weight:bold}
.regops-error,.error>td:nth-child(2){color:#8a4b00;font-weight:bold}
.regops-waived,.waived>td:nth-child(2){color:#6a5acd}
.regops-not_applicable,.not_applicable>td:nth-child(2){color:#666}
details.control{border-top:1px solid #ddd;padding:.3em 0}
details.control>summary{cursor:pointer;font-weight:bold}
.meta{color:#444;margin:.3em 0}
code{white-space:pre-wrap}
#filters label{margin-right:1em}
"""
_HIDDEN = "".join(f"body.hide-{o} tr.result.{o}{{display:none}}" for o in _OUTCOMES)

# Filters need a script; without it every result is shown, which is the safe reading.
_SCRIPT = """
(function () {
  var box = document.getElementById("filters");
  var outcomes = box.getAttribute("data-outcomes").split(" ");
  box.appendChild(document.createTextNode("show: "));
  outcomes.forEach(function (outcome) {
    var label = document.createElement("label");
    var input = document.createElement("input");
    input.type = "checkbox";
    input.checked = true;
    input.setAttribute("data-outcome", outcome);
    input.addEventListener("change", function () {
      document.body.classList.toggle("hide-" + outcome, !input.checked);
    });
    label.appendChild(input);
    label.appendChild(document.createTextNode(" " + outcome));
    box.appendChild(label);
  });
})();
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _counts(title: str, first: str, rows: Mapping[str, Mapping[str, int]]) -> str:
    head = "".join(f"<th>{o}</th>" for o in _OUTCOMES)
    body = "".join(
        f"<tr><td>{_e(name)}</td>" + _tally_cells(counts) + "</tr>" for name, counts in rows.items()
    )
    return (
        f'<table class="regops-summary"><caption>{_e(title)}</caption>'
        f"<thead><tr><th>{_e(first)}</th>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def summary_html(document: Mapping[str, Any]) -> str:
    """The gate verdict and its reasons, the comparison with a baseline, counts and coverage."""
    run, gate, summary = document["run"], document["gate"], document["summary"]
    verdict = "PASS" if gate["verdict"] == "pass" else "FAIL"
    parts = [
        '<section id="regops-summary">',
        f"<h2>regops gate: stage {_e(run['stage'])}: <b>{verdict}</b></h2>",
        f"<p>threshold {_e(gate['threshold'])}, judging {_e(gate['mode'])} results</p>",
    ]
    if gate["reasons"]:
        parts.append('<ul class="reasons">' + "".join(f"<li>{_e(r)}</li>" for r in gate["reasons"]) + "</ul>")
    comparison = document.get("comparison")
    if comparison:
        n = {key: len(value) for key, value in comparison.items() if isinstance(value, list)}
        parts.append(
            f"<p>Since {_e(comparison['baseline'])}: <b>{n['new_failures']} new failures</b>, "
            f"{n['fixed']} fixed, {n['still_failing']} still failing, "
            f"{n['new_resources']} new and {n['gone_resources']} gone resources</p>"
        )
        if comparison["new_failures"]:
            parts.append(
                "<ul>"
                + "".join(
                    f"<li>{_e(i['control'])} {_e(i['resource_id'])}: {_e(i['message'])}</li>"
                    for i in comparison["new_failures"]
                )
                + "</ul>"
            )
    if summary["by_framework"]:
        parts.append(_counts("by framework", "framework", summary["by_framework"]))
    parts.append(_counts("by severity", "severity", summary["by_severity"]))
    coverage = document.get("coverage") or {}
    if coverage:
        rows = "".join(
            f"<tr><td>{_e(key)}</td><td>{f['requirements']}</td>"
            + "".join(f"<td>{f[k]}</td>" for k, _ in SUMMARY_COLUMNS)
            + "</tr>"
            for key, f in coverage.items()
        )
        parts.append(
            '<table class="regops-summary"><caption>framework coverage (coverage.html has every '
            "requirement)</caption><thead><tr><th>framework</th><th>requirements</th>"
            + "".join(f"<th>{_e(heading)}</th>" for _, heading in SUMMARY_COLUMNS)
            + f"</tr></thead><tbody>{rows}</tbody></table>"
        )
    parts.append("</section>")
    return "".join(parts)


def references_html(control: Mapping[str, Any]) -> str:
    """A control's requirement references; unverified ones say so."""
    refs = "; ".join(
        f"{_e(framework)} {_e(', '.join(ids))}" for framework, ids in control["frameworks"].items()
    )
    if control.get("unverified"):
        refs += " <em>(unverified: " + _e("; ".join(control["unverified"])) + ")</em>"
    return refs


def observed_html(found: Mapping[str, Any]) -> str:
    """The facts a result's control read, `name = value`, unknown ones marked; the failed check."""
    unknown = set(found.get("unknown_facts") or ())
    lines = [
        f"{_e(name)} = " + ("<em>unknown</em>" if name in unknown else _e(json.dumps(value, default=str)))
        for name, value in (found.get("observed") or {}).items()
    ]
    if found.get("comparison"):
        lines.append(f"<code>{_e(found['comparison'])}</code>")
    return "<br>".join(lines)


def _tally(results: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    tally = dict.fromkeys(_OUTCOMES, 0)
    for result in results:
        tally[result["outcome"]] += 1
    return tally


def _needs_attention(tally: Mapping[str, int]) -> bool:
    return any(tally[outcome] for outcome in _ATTENTION)


def _tally_cells(tally: Mapping[str, int]) -> str:
    # Only counts that are not zero are coloured, so the eye finds them.
    return "".join(
        f'<td class="regops-{o}">{n}</td>' if (n := tally.get(o, 0)) else "<td>0</td>" for o in _OUTCOMES
    )


def _run_html(document: Mapping[str, Any]) -> str:
    run, inventory = document["run"], document["inventory"]
    facts = [
        ("run", run["id"]),
        ("started", run["started_at"]),
        ("finished", run["finished_at"]),
        ("regops", run["tool"]["version"]),
        ("suite commit", run["suite_commit"]),
        ("infrastructure commit", run["iac_commit"]),
        ("inventory", f"{inventory['count']} resources, sha256 {inventory['sha256']}"),
    ]
    return '<p class="meta">' + "<br>".join(f"{name}: {_e(value)}" for name, value in facts if value) + "</p>"


def _sources_html(sources: list[Mapping[str, Any]]) -> str:
    rows = "".join(
        f"<tr><td>{_e(s['kind'])}</td><td>{_e(s['location'])}</td><td>{s['resource_count']}</td>"
        f"<td>{'complete' if s['complete'] else '<b>incomplete</b>'}</td>"
        f"<td>{'<br>'.join(_e(e) for e in s['errors'])}</td></tr>"
        for s in sources
    )
    return (
        '<section id="sources"><h2>Sources</h2><table><thead><tr><th>kind</th><th>location</th>'
        f"<th>resources</th><th>read</th><th>errors</th></tr></thead><tbody>{rows}</tbody></table></section>"
    )


def _control_index(controls: list[tuple[Mapping[str, Any], dict[str, int]]]) -> str:
    head = "".join(f"<th>{o}</th>" for o in _OUTCOMES)
    rows = "".join(
        f'<tr><td><a href="#control-{_e(c["id"])}">{_e(c["id"])}</a></td><td>{_e(c["title"])}</td>'
        f"<td>{_e(c['severity'])}</td>{_tally_cells(tally)}</tr>"
        for c, tally in controls
    )
    return (
        '<section id="controls"><h2>Controls</h2><table><thead><tr><th>control</th><th>title</th>'
        f"<th>severity</th>{head}</tr></thead><tbody>{rows}</tbody></table></section>"
    )


def _control_html(control: Mapping[str, Any], tally: Mapping[str, int]) -> Iterator[str]:
    counts = ", ".join(f"{n} {o}" for o, n in tally.items() if n)
    opened = " open" if _needs_attention(tally) else ""
    yield (
        f'<details class="control" id="control-{_e(control["id"])}"{opened}>'
        f"<summary>{_e(control['id'])} {_e(control['title'])} ({_e(control['severity'])}): "
        f"{_e(counts or 'no results')}</summary>"
        f'<p class="meta">requirements: {references_html(control) or "none"}<br>'
        f"layer {_e(control['layer'])}, stages {_e(', '.join(control['stages']))}, "
        f"source {_e(control['source'])}</p>"
    )
    if control["rationale"]:
        yield f'<p class="meta">{_e(control["rationale"])}</p>'
    if not any(tally.values()):
        yield "</details>\n"
        return
    yield (
        '<table class="results"><thead><tr><th>resource</th><th>outcome</th><th>message</th>'
        "<th>observed</th></tr></thead><tbody>\n"
    )
    ordered = sorted(control["results"], key=lambda r: (_ORDER[r["outcome"]], r["resource_id"] or ""))
    for result in ordered:
        where = " ".join(_e(result[k]) for k in ("provider", "origin") if result.get(k))
        yield (
            f'<tr class="result {result["outcome"]}"><td>{_e(result["resource_id"] or "(no resource)")}'
            f"{f'<br><small>{where}</small>' if where else ''}</td><td>{result['outcome']}</td>"
            f"<td>{_e(result['message'])}</td><td>{observed_html(result)}</td></tr>\n"
        )
    yield "</tbody></table></details>\n"


def report_html(document: Mapping[str, Any]) -> Iterator[str]:
    """The page for an evidence document, in pieces: a large run's page is never whole in memory."""
    run = document["run"]
    title = f"regops report: stage {run['stage']}, run {run['id']}"
    yield (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
        f"<style>{_STYLE}{_HIDDEN}</style></head><body>\n<h1>{_e(title)}</h1>\n"
    )
    yield _run_html(document) + "\n"
    yield summary_html(document) + "\n"
    yield _sources_html(document["sources"]) + "\n"
    # Controls that failed or could not look come first, each group in the document's order.
    # A control's results are counted once: in a large run they are made each time they are read.
    tallied = [(control, _tally(control["results"])) for control in document["controls"]]
    controls = sorted(tallied, key=lambda found: not _needs_attention(found[1]))
    yield _control_index(controls) + "\n"
    yield '<section id="results"><h2>Results</h2>'
    yield f'<div id="filters" data-outcomes="{" ".join(_OUTCOMES)}"></div>\n'
    for control, tally in controls:
        yield from _control_html(control, tally)
    yield f"</section>\n<script>{_SCRIPT}</script>\n</body></html>\n"

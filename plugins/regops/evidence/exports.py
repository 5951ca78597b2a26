"""Other tools' formats, derived from evidence.json alone: SARIF 2.1.0 and OSCAL assessment results.

Both are views of the evidence document, never a second source of truth: they are computed
from it, so `evidence.json` and the exports cannot disagree.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final

from regops.jsontext import JSONStream

SARIF_SCHEMA: Final = "https://json.schemastore.org/sarif-2.1.0.json"
OSCAL_VERSION: Final = "1.1.2"
INFORMATION_URI: Final = "https://github.com/regops/regops"
# Stable UUIDs: the same run always exports the same identifiers.
_NAMESPACE: Final = uuid.UUID("6f1c3f53-5d1e-4b8e-9a57-2b7d8f0a9c11")

_LEVEL: Final = {"critical": "error", "high": "error", "medium": "warning", "low": "note"}
# GitHub code scanning orders alerts by this number (0.0 to 10.0).
_SECURITY_SEVERITY: Final = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0"}


def _results(document: Mapping[str, Any]) -> Iterator[tuple[Mapping[str, Any], Mapping[str, Any]]]:
    for control in document["controls"]:
        for result in control["results"]:
            yield control, result


def _references(control: Mapping[str, Any]) -> list[str]:
    return [f"{framework} {ref}" for framework, refs in sorted(control["frameworks"].items()) for ref in refs]


def _shared_resources(results: Iterable[Mapping[str, Any]]) -> set[str | None]:
    """The resources a control has more than one result on: only there does a result need its
    nodeid to be told apart, so every other result keeps the identity it has always had."""
    counts = Counter(result["resource_id"] for result in results)
    return {resource for resource, count in counts.items() if count > 1}


def sarif_document(document: Mapping[str, Any], locations: Mapping[str, str]) -> dict[str, Any]:
    """Failed, error and waived results as SARIF; `locations` maps resource ids to source files."""
    run = document["run"]
    rules: list[dict[str, Any]] = []
    rule_index: dict[str, int] = {}
    for control in document["controls"]:
        rule_index[control["id"]] = len(rules)
        references = _references(control)
        rules.append(
            {
                "id": control["id"],
                "name": control["id"].replace("-", ""),
                "shortDescription": {"text": control["title"]},
                "fullDescription": {"text": control.get("rationale") or control["title"]},
                "help": {"text": "Requirements: " + ("; ".join(references) or "none mapped")},
                "defaultConfiguration": {"level": _LEVEL[control["severity"]]},
                "properties": {
                    "tags": ["compliance", f"layer:{control['layer']}", *references],
                    "severity": control["severity"],
                    "security-severity": _SECURITY_SEVERITY[control["severity"]],
                    "unverified-references": control.get("unverified", []),
                },
            }
        )
    shared = {control["id"]: _shared_resources(control["results"]) for control in document["controls"]}
    results = []
    for control, result in _results(document):
        if result["outcome"] not in {"failed", "error", "waived"}:
            continue
        resource = result["resource_id"] or "(stage)"
        fingerprint = f"{control['id']}:{resource}"
        if result["resource_id"] in shared[control["id"]]:
            fingerprint += f":{result['nodeid']}"
        # "open": the control could not tell pass from fail. SARIF allows no level but "none"
        # beside a kind other than "fail"; the rule keeps the control's severity.
        error = result["outcome"] == "error"
        entry: dict[str, Any] = {
            "ruleId": control["id"],
            "ruleIndex": rule_index[control["id"]],
            "level": "none" if error else _LEVEL[control["severity"]],
            "kind": "open" if error else "fail",
            "message": {
                "text": ("could not be evaluated: " if error else "")
                + (result["message"] or control["title"])
            },
            "locations": [
                {
                    "logicalLocations": [
                        {
                            "name": resource,
                            "fullyQualifiedName": result["address"] or resource,
                            "kind": "resource",
                        }
                    ],
                    **(
                        {"physicalLocation": {"artifactLocation": {"uri": locations[resource]}}}
                        if resource in locations
                        else {}
                    ),
                }
            ],
            "partialFingerprints": {"regops/v1": fingerprint},
            "properties": {
                "outcome": result["outcome"],
                "origin": result.get("origin"),
                "provider": result["provider"],
                "stage": run["stage"],
                **{key: result[key] for key in ("observed", "comparison") if key in result},
            },
        }
        if result["outcome"] == "waived":
            entry["suppressions"] = [{"kind": "external", "justification": result["message"]}]
        results.append(entry)
    # Why the run itself did not finish (stopped by -x, interrupted, a worker crashed), as
    # against what the controls found.
    unfinished = list(document["gate"].get("run_problems", ()))
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "regops",
                        "version": run["tool"]["version"],
                        "informationUri": INFORMATION_URI,
                        "rules": rules,
                    }
                },
                "automationDetails": {"id": f"regops/{run['stage']}/{run['id']}"},
                "invocations": [
                    {
                        # Whether regops ran to the end; what it found, the gate verdict with it,
                        # is in the run's properties.
                        "executionSuccessful": not unfinished,
                        "startTimeUtc": run["started_at"],
                        "endTimeUtc": run["finished_at"],
                        "commandLine": " ".join(run["command_line"]),
                        **(
                            {
                                "toolExecutionNotifications": [
                                    {"level": "error", "message": {"text": reason}} for reason in unfinished
                                ]
                            }
                            if unfinished
                            else {}
                        ),
                    }
                ],
                "results": results,
                "properties": {"gate": document["gate"]},
            }
        ],
    }


def _uuid(run_id: str, *parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "/".join((run_id, *parts))))


def _token(control_id: str) -> str:
    return control_id.lower()


def _observation(
    run: Mapping[str, Any],
    control: Mapping[str, Any],
    result: Mapping[str, Any],
    observation_id: str,
    subject_ids: dict[str, str],
) -> dict[str, Any]:
    subject = result["resource_id"] or f"stage {run['stage']}"
    # A resource is the subject of every control that evaluated it: its uuid is made once.
    if subject not in subject_ids:
        subject_ids[subject] = _uuid(run["id"], "subject", subject)
    return {
        "uuid": observation_id,
        "title": f"{control['id']} on {subject}",
        "description": result["message"] or control["title"],
        "props": [
            {"name": "outcome", "ns": INFORMATION_URI, "value": result["outcome"]},
            *(
                [{"name": "origin", "ns": INFORMATION_URI, "value": result["origin"]}]
                if result.get("origin")
                else []
            ),
            # OSCAL props carry strings: one per fact the control read, as JSON.
            *(
                {
                    "name": "observed",
                    "ns": INFORMATION_URI,
                    "class": name,
                    "value": json.dumps(value, sort_keys=True),
                }
                for name, value in (result.get("observed") or {}).items()
            ),
        ],
        "methods": ["TEST"],
        "types": ["finding"] if result["outcome"] in {"failed", "error"} else ["control-objective"],
        "subjects": [{"subject-uuid": subject_ids[subject], "type": "resource", "title": subject}],
        "relevant-evidence": [
            {"href": "evidence.json", "description": f"regops evidence of run {run['id']}"}
        ],
        "collected": run["finished_at"] or run["started_at"],
    }


def _status(outcomes: set[str]) -> dict[str, str]:
    """Satisfied only when something was shown to pass and nothing was left unmet: a waiver
    accepts the risk of an unmet requirement, and a control that ran on nothing showed nothing."""
    if "passed" in outcomes and outcomes <= {"passed", "not_applicable"}:
        return {"state": "satisfied"}
    # OSCAL's reasons are "pass", "fail" and "other", and it allows others: these say which.
    for outcome, reason in (("failed", "fail"), ("error", "error"), ("waived", "waived")):
        if outcome in outcomes:
            return {"state": "not-satisfied", "reason": reason}
    return {"state": "not-satisfied", "reason": "not-evaluated"}


def _related(observation_ids: list[str]) -> JSONStream:
    return JSONStream(lambda: ({"observation-uuid": i} for i in observation_ids))


def oscal_assessment_results(document: Mapping[str, Any]) -> dict[str, Any]:
    """An OSCAL assessment-results document: one observation per result, one finding per control.

    The observations are a JSONStream, made as the document is written: they are the bulk of it."""
    run = document["run"]
    run_id = run["id"]
    # In the order of _results(document), which the observations are written in.
    observation_ids: list[str] = []
    findings = []
    for control in document["controls"]:
        ids: list[str] = []
        states: set[str] = set()
        for result in control["results"]:
            ids.append(
                _uuid(run_id, "observation", control["id"], str(result["resource_id"]), result["nodeid"])
            )
            states.add(result["outcome"])
        observation_ids.extend(ids)
        findings.append(
            {
                "uuid": _uuid(run_id, "finding", control["id"]),
                "title": f"{control['id']}: {control['title']}",
                "description": control.get("rationale") or control["title"],
                "props": [
                    *(
                        {"name": "requirement", "ns": INFORMATION_URI, "value": reference}
                        for reference in _references(control)
                    ),
                    *(
                        {"name": "unverified-requirement", "ns": INFORMATION_URI, "value": reference}
                        for reference in control.get("unverified", [])
                    ),
                    {"name": "severity", "ns": INFORMATION_URI, "value": control["severity"]},
                ],
                "target": {
                    "type": "objective-id",
                    "target-id": _token(control["id"]) + "_obj",
                    "status": _status(states),
                },
                "related-observations": _related(ids),
            }
        )

    def observations() -> Iterator[dict[str, Any]]:
        subject_ids: dict[str, str] = {}
        for (control, result), observation_id in zip(_results(document), observation_ids, strict=True):
            yield _observation(run, control, result, observation_id, subject_ids)

    return {
        "assessment-results": {
            "uuid": _uuid(run_id, "assessment-results"),
            "metadata": {
                "title": f"regops {run['stage']} gate, run {run_id}",
                "last-modified": run["finished_at"] or run["started_at"],
                "version": run["tool"]["version"],
                "oscal-version": OSCAL_VERSION,
            },
            # regops has no separate assessment plan: the plan is the suites at this commit.
            "import-ap": {"href": f"#regops-suites-{run.get('suite_commit') or 'unknown'}"},
            "results": [
                {
                    "uuid": _uuid(run_id, "result"),
                    "title": f"Stage {run['stage']}: gate {document['gate']['verdict']}",
                    "description": "; ".join(document["gate"]["reasons"]) or "every gating result passed",
                    "start": run["started_at"],
                    "end": run["finished_at"] or run["started_at"],
                    "reviewed-controls": {
                        "control-selections": [
                            {
                                "include-controls": [
                                    {"control-id": _token(control["id"])} for control in document["controls"]
                                ]
                            }
                            if document["controls"]
                            else {"include-all": {}}
                        ]
                    },
                    # OSCAL wants these lists non-empty when present.
                    **(
                        {"observations": JSONStream(observations, length=len(observation_ids))}
                        if observation_ids
                        else {}
                    ),
                    **({"findings": findings} if findings else {}),
                }
            ],
        }
    }

"""Drift between what the plans say and what is live, for the same stage.

Planned and live resources are paired by their natural name (bucket, identifier, group or trail
name). A pair whose facts differ, a planned resource that should exist (not a planned create)
but is not live, and a live resource no plan manages are each a failed result of CHG-003.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from regops.model import PLANNED_DELETION, Control, Outcome, Resource, Result

DRIFT_CONTROL = Control(
    id="CHG-003",
    title="No out-of-band changes: live resources match what the plans manage",
    layer="regulatory",
    severity="critical",
    stages=("system", "acceptance", "production"),
    kinds=("drift",),
    frameworks={
        "pci-dss": ("6.5.1", "6.5.4"),
        "dora": ("Art. 9(4)(e)",),
        "rts-2024-1774": ("Art. 17(1)(b)", "Art. 17(1)(f)", "Art. 17(1)(g)", "Art. 21(e)(ii)"),
        "iso-27001": ("A.8.32", "A.8.9", "A.8.2"),
        "bsi-c5": ("DEV-07", "DEV-09", "OIS-04"),
        "marisk": ("AT 7.2 Tz. 3",),
    },
    rationale="A change made by hand bypasses four-eyes review and the pipeline's tests.",
)

IGNORED_FACTS = frozenset({"taggable", "planned_action"})


def _last(text: str, separator: str) -> str:
    return text.rsplit(separator, 1)[-1]


def _description(resource: Resource, key: str) -> Any:
    description = resource.attributes.get("description")
    return description.get(key) if isinstance(description, Mapping) else None


# (planned attribute holding the name, how to read the same name from the live resource)
NAMES: dict[str, tuple[str, Callable[[Resource], Any]]] = {
    "aws_s3_bucket": ("bucket", lambda r: _last(r.id, ":")),
    "aws_security_group": ("name", lambda r: _description(r, "GroupName")),
    "aws_db_instance": ("identifier", lambda r: _last(r.id, ":")),
    "aws_rds_cluster": ("cluster_identifier", lambda r: _last(r.id, ":")),
    "aws_dynamodb_table": ("name", lambda r: _last(r.id, "/")),
    "aws_kms_key": ("description", lambda r: _description(r, "Description")),
    "aws_cloudtrail": ("name", lambda r: _last(r.id, "/")),
    "aws_cloudwatch_log_group": ("name", lambda r: _description(r, "logGroupName")),
    "aws_lb": ("name", lambda r: _description(r, "LoadBalancerName")),
    "aws_lambda_function": ("function_name", lambda r: _last(r.id, ":")),
}


def _key(resource: Resource) -> tuple[str, str] | None:
    naming = NAMES.get(resource.native_type)
    if naming is None:
        return None
    name = resource.attributes.get(naming[0]) if resource.origin == "planned" else naming[1](resource)
    return (
        (resource.native_type, name) if isinstance(name, str) and name and not name.startswith("(") else None
    )


def _differences(planned: Resource, live: Resource) -> list[str]:
    names = (set(planned.facts) & set(live.facts)) - IGNORED_FACTS
    return [
        f"{name}: planned {planned.facts[name]!r}, live {live.facts[name]!r}"
        for name in sorted(names)
        if planned.facts[name] != live.facts[name]
    ]


def drift_results(resources: Sequence[Resource], providers: Sequence[str]) -> list[Result]:
    """CHG-003 results for the providers that have both a plan and a live source."""
    results = []
    planned = {
        k: r
        for r in resources
        if r.origin == "planned" and r.kind != PLANNED_DELETION and r.provider in providers and (k := _key(r))
    }
    live = {k: r for r in resources if r.origin == "live" and r.provider in providers and (k := _key(r))}

    def result(resource_id: str, outcome: Outcome, message: str, provider: str) -> Result:
        return Result(
            DRIFT_CONTROL.id,
            resource_id,
            outcome,
            message,
            f"regops::drift::{resource_id}",
            provider=provider,
        )

    for key in sorted(planned.keys() | live.keys()):
        plan, found = planned.get(key), live.get(key)
        if plan is not None and found is not None:
            changed = _differences(plan, found)
            if changed:
                message = f"{found.id} differs from {plan.address}: {'; '.join(changed)}"
                results.append(result(found.id, Outcome.FAILED, message, found.provider))
            else:
                results.append(result(found.id, Outcome.PASSED, "", found.provider))
        elif plan is not None:
            if plan.facts.get("planned_action") == "create":
                continue  # not applied yet: nothing live to compare
            message = f"{plan.address}: managed by the plan but not found live"
            results.append(result(plan.id, Outcome.FAILED, message, plan.provider))
        elif found is not None:
            message = f"{found.id}: live but managed by no plan (made by hand?)"
            results.append(result(found.id, Outcome.FAILED, message, found.provider))
    return results

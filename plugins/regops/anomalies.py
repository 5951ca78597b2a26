"""Behaviour anomalies: what departs from a stage's history of inventories.

Each run's inventory is reduced to a few signals (regions in use, resources per kind and
region, internet-exposed endpoints, administrative principals, live resources no plan manages).
A signal that departs from every run in the window is an anomaly with a plain reason. Anomalies
that share resources are grouped, so one change gives one alert. Everything is deterministic:
the same history and inventory always give the same alerts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from regops.model import Control, Outcome, Result

ANOMALY_CONTROL_ID = "ANO-001"


def anomaly_control(severity: str) -> Control:
    return Control(
        id=ANOMALY_CONTROL_ID,
        title="No unexplained departure from the stage's usual behaviour",
        layer="regulatory",
        severity=severity,
        stages=("system", "acceptance", "production"),
        kinds=("anomaly",),
        frameworks={"dora": ("Art. 10(1)",), "rts-2024-1774": ("Art. 23(1)",), "iso-27001": ("A.8.16",)},
        rationale="Unusual changes in exposure, location or privileges are how incidents begin.",
    )


def _exposed(resource: Mapping[str, Any]) -> bool:
    facts = resource.get("facts") or {}
    return bool(
        facts.get("public") is True
        or facts.get("internet_ingress_ports")
        or facts.get("internet_facing") is True
        or facts.get("public_ip") is True
    )


@dataclass(frozen=True)
class Signals:
    regions: frozenset[str]
    counts: Mapping[tuple[str, str], int]
    exposed: frozenset[str]
    admins: frozenset[str]
    unmanaged: frozenset[str]
    by_region: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, resources: Iterable[Mapping[str, Any]]) -> Signals:
        regions: set[str] = set()
        counts: dict[tuple[str, str], int] = {}
        by_region: dict[str, set[str]] = {}
        exposed, admins, unmanaged = set(), set(), set()
        for resource in resources:
            rid, kind, region = (
                str(resource["id"]),
                str(resource["kind"]),
                resource.get("region") or "unknown",
            )
            if region != "global":
                regions.add(region)
                by_region.setdefault(region, set()).add(rid)
            counts[(kind, region)] = counts.get((kind, region), 0) + 1
            if _exposed(resource):
                exposed.add(rid)
            if (resource.get("facts") or {}).get("admin") is True:
                admins.add(rid)
            if resource.get("origin") == "live" and not resource.get("address"):
                unmanaged.add(rid)
        return cls(
            frozenset(regions),
            counts,
            frozenset(exposed),
            frozenset(admins),
            frozenset(unmanaged),
            {k: frozenset(v) for k, v in by_region.items()},
        )


@dataclass
class Anomaly:
    kind: str
    reason: str
    resources: frozenset[str]


@dataclass
class Alert:
    anomalies: list[Anomaly]

    @property
    def resources(self) -> frozenset[str]:
        return frozenset().union(*(a.resources for a in self.anomalies))

    @property
    def id(self) -> str:
        digest = hashlib.sha256("\n".join(sorted(self.resources) or [self.message]).encode()).hexdigest()
        return f"anomaly:{digest[:12]}"

    @property
    def message(self) -> str:
        return "; ".join(a.reason for a in self.anomalies)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def detect(history: Sequence[Signals], current: Signals) -> list[Anomaly]:
    runs = len(history)
    span = f"the last {_plural(runs, 'run')}"
    anomalies = []
    seen_regions = frozenset().union(*(h.regions for h in history))
    for region in sorted(current.regions - seen_regions):
        anomalies.append(
            Anomaly(
                "region",
                f"region {region} in use for the first time; none in {span}",
                current.by_region.get(region, frozenset()),
            )
        )
    seen_exposed = frozenset().union(*(h.exposed for h in history))
    new_exposed = current.exposed - seen_exposed
    if new_exposed:
        usual = max(len(h.exposed) for h in history)
        anomalies.append(
            Anomaly(
                "exposure",
                f"{_plural(len(new_exposed), 'new internet-exposed endpoint')}; "
                f"{'none' if usual == 0 else f'at most {usual} exposed'} in {span}",
                new_exposed,
            )
        )
    new_admins = current.admins - frozenset().union(*(h.admins for h in history))
    if new_admins:
        anomalies.append(
            Anomaly(
                "privilege",
                f"{_plural(len(new_admins), 'new administrative principal')}; none of them in {span}",
                new_admins,
            )
        )
    new_unmanaged = current.unmanaged - frozenset().union(*(h.unmanaged for h in history))
    if new_unmanaged:
        anomalies.append(
            Anomaly(
                "unmanaged",
                f"{_plural(len(new_unmanaged), 'resource')} created outside IaC; none of them in {span}",
                new_unmanaged,
            )
        )
    for key in sorted(current.counts):
        values = [h.counts.get(key, 0) for h in history]
        now, high = current.counts[key], max(values)
        # A rise past every earlier run by at least half (and two resources) is unusual growth.
        if now >= high + 2 and now >= 1.5 * max(high, 1):
            kind, region = key
            anomalies.append(
                Anomaly(
                    "growth",
                    f"{now} {kind} resources in {region}; {min(values)}-{high} in {span}",
                    current.by_region.get(region, frozenset()),
                )
            )
    return anomalies


def group(anomalies: Sequence[Anomaly]) -> list[Alert]:
    """Anomalies that share a resource become one alert (connected components)."""
    alerts: list[Alert] = []
    for anomaly in anomalies:
        joined = [a for a in alerts if a.resources & anomaly.resources]
        merged = Alert([x for a in joined for x in a.anomalies] + [anomaly])
        alerts = [a for a in alerts if a not in joined] + [merged]
    return sorted(alerts, key=lambda a: a.id)


def anomaly_results(
    history: Sequence[Sequence[Mapping[str, Any]]],
    current: Iterable[Mapping[str, Any]],
    *,
    window: int,
    min_runs: int,
) -> list[Result]:
    """ANO-001 results: one failed result per alert, a pass when nothing departs, or too little history."""
    recent = [Signals.of(resources) for resources in history[-window:]]
    if len(recent) < min_runs:
        message = f"too little history to judge: {_plural(len(recent), 'earlier run')}, {min_runs} needed"
        return [
            Result(
                ANOMALY_CONTROL_ID, "anomaly:history", Outcome.NOT_APPLICABLE, message, "regops::anomalies"
            )
        ]
    alerts = group(detect(recent, Signals.of(current)))
    if not alerts:
        message = f"consistent with the last {_plural(len(recent), 'run')}"
        return [Result(ANOMALY_CONTROL_ID, "anomaly:none", Outcome.PASSED, message, "regops::anomalies")]
    return [
        Result(ANOMALY_CONTROL_ID, alert.id, Outcome.FAILED, alert.message, f"regops::anomalies::{alert.id}")
        for alert in alerts
    ]

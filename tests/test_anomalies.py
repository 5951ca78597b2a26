"""Behaviour anomalies across runs: each kind fires on the run that brings it, never on a stable history."""

from __future__ import annotations

import shutil
from typing import Any

import pytest

from regops.anomalies import anomaly_results
from regops.model import Outcome
from tests.helpers import load_evidence, only_bundle, results_by_control
from tests.plans import compliant_bucket, write_plan
from tests.test_plugin import CONTROLS, public_bucket


def resource(
    rid: str, kind: str = "object_store", region: str = "eu-central-1", **facts: Any
) -> dict[str, Any]:
    return {"id": rid, "kind": kind, "region": region, "origin": "planned", "address": rid, "facts": facts}


STABLE = [
    resource("bucket-a", public=False),
    resource("db", "database", public=False),
    resource("lb", "load_balancer", internet_facing=True),
]


def judge(current: list[dict[str, Any]], runs: int = 6) -> list[tuple[Outcome, str]]:
    results = anomaly_results([STABLE] * runs, current, window=20, min_runs=5)
    return [(r.outcome, r.message) for r in results]


def test_a_stable_history_gives_no_alert() -> None:
    assert judge(STABLE) == [(Outcome.PASSED, "consistent with the last 6 runs")]


def test_too_little_history_is_said_not_taken_as_normal() -> None:
    ((outcome, message),) = judge([*STABLE, resource("new", region="us-east-1")], runs=2)
    assert outcome is Outcome.NOT_APPLICABLE
    assert message == "too little history to judge: 2 earlier runs, 5 needed"


def test_a_new_region_fires() -> None:
    found = judge([*STABLE, resource("bucket-us", region="us-east-1")])
    assert found == [(Outcome.FAILED, "region us-east-1 in use for the first time; none in the last 6 runs")]


def test_new_internet_exposure_fires() -> None:
    found = judge(
        [
            *STABLE,
            resource("bucket-b", public=True),
            resource("sg", "network_rule", internet_ingress_ports=[[22, 22]]),
        ]
    )
    assert found == [
        (Outcome.FAILED, "2 new internet-exposed endpoints; at most 1 exposed in the last 6 runs")
    ]


def test_new_admin_and_unmanaged_resources_fire() -> None:
    admin = {
        **resource("arn:aws:iam::1:user/mallory", "identity", "global", admin=True),
        "origin": "live",
        "address": None,
    }
    found = judge([*STABLE, admin])
    assert len(found) == 1  # one principal, two findings: one alert
    assert found[0][1] == (
        "1 new administrative principal; none of them in the last 6 runs; "
        "1 resource created outside IaC; none of them in the last 6 runs"
    )


def test_growth_fires_and_related_anomalies_group_into_one_alert() -> None:
    extra = [resource(f"db-{i}", "database", region="eu-west-1") for i in range(3)]
    found = judge([*STABLE, *extra])
    assert found == [
        (
            Outcome.FAILED,
            "region eu-west-1 in use for the first time; none in the last 6 runs; "
            "3 database resources in eu-west-1; 0-0 in the last 6 runs",
        )
    ]


def test_alerts_are_deterministic() -> None:
    current = [*STABLE, resource("x", region="us-east-1"), resource("y", public=True)]
    assert anomaly_results([STABLE] * 6, current, window=20, min_runs=5) == anomaly_results(
        [STABLE] * 6, list(reversed(current)), window=20, min_runs=5
    )


def test_anomalies_from_a_history_of_runs(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_controls=CONTROLS)
    pytester.makepyprojecttoml("[tool.regops]\nanomaly_min_runs = 3\n")

    def gate(*changes: object) -> dict[str, Any]:
        write_plan(pytester.path / "plan.json", *changes)  # type: ignore[arg-type]
        pytester.runpytest(
            "-p",
            "no:cacheprovider",
            "--stage=acceptance",
            "--plan",
            "plan.json",
            "--evidence-dir",
            "out",
            "--anomalies",
            "--control",
            "T-001",
        )
        newest = sorted((pytester.path / "out" / "acceptance").iterdir())[-1]
        return results_by_control(load_evidence(newest))["ANO-001"]

    for _ in range(3):
        assert gate(*compliant_bucket("card")) == {"anomaly:history": "not_applicable"}
    assert gate(*compliant_bucket("card")) == {"anomaly:none": "passed"}
    flagged = gate(*compliant_bucket("card"), *public_bucket())
    assert list(flagged.values()) == ["failed"]


@pytest.mark.parametrize("inventory", ["[]", '{"resources": [1, 2]}', '{"resources": "abc"}', '{"sche'])
def test_a_damaged_bundle_in_the_history_is_left_out(pytester: pytest.Pytester, inventory: str) -> None:
    pytester.makepyfile(test_controls=CONTROLS)
    pytester.makepyprojecttoml("[tool.regops]\nanomaly_min_runs = 1\n")
    write_plan(pytester.path / "plan.json", *compliant_bucket("card"))
    args = ("-p", "no:cacheprovider", "--stage=acceptance", "--plan", "plan.json", "--evidence-dir", "out")
    pytester.runpytest(*args)
    damaged = pytester.path / "out" / "acceptance" / "00000000T000000.000Z-000000"
    shutil.copytree(only_bundle(pytester.path / "out", "acceptance"), damaged)
    (damaged / "inventory.json").write_text(inventory)
    result = pytester.runpytest(*args, "--anomalies", "--control", "T-001")
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    newest = sorted((pytester.path / "out" / "acceptance").iterdir())[-1]
    (control,) = (c for c in load_evidence(newest)["controls"] if c["id"] == "ANO-001")
    assert [(r["outcome"], r["message"]) for r in control["results"]] == [
        ("passed", "consistent with the last 1 run")
    ]

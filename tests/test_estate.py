"""Estate-wide capabilities: which resources provide them, region by region, and what is missing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from regops.discovery import Inventory
from regops.discovery.terraform_plan import discover_plan
from regops.model import Discovery, Resource, SourceReport
from regops.normalize import aws
from regops.normalize.common import everywhere
from regops.normalize.estate import estate_resources
from tests.plans import Change, refer, write_plan


def service(rid: str, provides: Any, region: str = "eu-central-1", origin: str = "planned") -> Resource:
    facts = {} if provides is None else {"provides": provides}
    return Resource(
        rid, "aws", "aws_guardduty_detector", "security_service", region, "production", origin, facts=facts
    )


def bucket(rid: str, region: str) -> Resource:
    return Resource(rid, "aws", "aws_s3_bucket", "object_store", region, "production", "planned")


def aws_estate(*resources: Resource) -> Resource:
    (estate,) = estate_resources(resources, "production")
    return estate


def test_a_regional_capability_must_hold_in_every_region_in_use() -> None:
    estate = aws_estate(
        bucket("a", "eu-central-1"),
        bucket("b", "eu-west-1"),
        service("gd-central", ["threat_detection"], "eu-central-1"),
    )
    assert estate.id == "estate:aws"
    assert estate.kind == "estate"
    assert estate.facts["threat_detection"] is False
    assert estate.facts["threat_detection_gaps"] == ["threat_detection in eu-west-1"]
    assert estate.attributes["provided_by"]["threat_detection"] == {
        "threat_detection@eu-central-1": ["gd-central"],
        "threat_detection@eu-west-1": [],
    }
    covered = aws_estate(
        bucket("a", "eu-central-1"),
        bucket("b", "eu-west-1"),
        service("gd-central", ["threat_detection"], "eu-central-1"),
        service("gd-west", ["threat_detection"], "eu-west-1"),
    )
    assert covered.facts["threat_detection"] is True
    assert covered.facts["threat_detection_gaps"] == []


def test_a_global_capability_needs_every_token_somewhere() -> None:
    estate = aws_estate(bucket("a", "eu-central-1"), service("contact", ["security_contact"], "global"))
    assert estate.facts["security_contact"] is True
    assert estate.facts["security_alerting"] is False
    assert estate.facts["security_alerting_gaps"] == [f"{c} in eu-central-1" for c in aws.AWS_SECURITY_EVENTS]
    assert estate.facts["config_recording_gaps"] == [
        "config_recorder in eu-central-1",
        "config_recording in eu-central-1",
    ]


def test_an_account_wide_token_counts_in_every_region_and_a_regional_one_in_its_own() -> None:
    estate = aws_estate(
        bucket("a", "eu-central-1"),
        bucket("b", "eu-west-1"),
        service("iam-rule", [everywhere("iam_policy_changes")], "us-east-1"),
        service("sg-rule", ["security_group_changes"], "eu-central-1"),
    )
    gaps = estate.facts["security_alerting_gaps"]
    assert "iam_policy_changes in eu-central-1" not in gaps
    assert "iam_policy_changes in eu-west-1" not in gaps
    assert "security_group_changes in eu-central-1" not in gaps
    assert "security_group_changes in eu-west-1" in gaps
    assert estate.attributes["provided_by"]["security_alerting"]["iam_policy_changes@eu-west-1"] == [
        "iam-rule"
    ]


def test_a_security_service_of_unknown_configuration_leaves_the_gaps_unknown() -> None:
    estate = aws_estate(
        bucket("a", "eu-central-1"),
        service("gd", ["threat_detection"]),
        service("undetermined", None),
    )
    # what is present stays established; what is missing might be the undetermined service
    assert estate.facts["threat_detection"] is True
    assert "security_contact" not in estate.facts
    assert estate.facts["security_contact_gaps"] == ["security_contact"]
    assert estate.attributes["undetermined"] == ["undetermined"]


@pytest.mark.parametrize("provides", ["threat_detection", 5, None, [["threat_detection"]], {"a": 1}])
def test_a_provides_fact_that_is_no_list_of_capabilities_is_undetermined(provides: Any) -> None:
    # What a saved inventory holds reaches the estate as it was edited.
    odd = Resource(
        "odd",
        "aws",
        "aws_guardduty_detector",
        "security_service",
        "eu-central-1",
        "production",
        "planned",
        facts={"provides": provides},
    )
    estate = aws_estate(bucket("a", "eu-central-1"), service("gd", ["threat_detection"]), odd)
    assert estate.facts["threat_detection"] is True
    assert "security_contact" not in estate.facts
    assert estate.attributes["undetermined"] == ["odd"]


def test_no_estate_without_resources_and_one_per_provider() -> None:
    assert estate_resources([], "production") == []
    gcs = Resource("g", "gcp", "google_storage_bucket", "object_store", "europe-west3", "production", "live")
    estates = estate_resources([bucket("a", "eu-central-1"), gcs], "production")
    assert [(e.id, e.origin) for e in estates] == [("estate:aws", "planned"), ("estate:gcp", "live")]


def test_the_inventory_carries_the_estate_and_recomputes_it_over_all_sources() -> None:
    report = SourceReport(
        kind="terraform_plan", location="p.json", sha256="0" * 64, resource_count=1, complete=True
    )
    planned = Discovery((bucket("a", "eu-central-1"),), report)
    live = Discovery((service("gd", ["threat_detection"], origin="live"),), report)
    inventory = Inventory.merge("production", [planned, live])
    estate = {r.id: r for r in inventory.resources}["estate:aws"]
    assert estate.origin == "live"
    assert estate.facts["threat_detection"] is True


def test_planned_security_services_fill_the_estate(tmp_path: Path) -> None:
    events = ["StopLogging", "DeleteTrail", "UpdateTrail", "PutEventSelectors"]
    events += ["StopConfigurationRecorder", "DeleteDeliveryChannel"]
    pattern = json.dumps({"source": ["aws.cloudtrail", "aws.config"], "detail": {"eventName": events}})
    plan = write_plan(
        tmp_path / "plan.json",
        Change("aws_guardduty_detector.this", "aws_guardduty_detector", {"enable": True}),
        Change("aws_guardduty_detector.off", "aws_guardduty_detector", {"enable": False}),
        Change(
            "aws_cloudwatch_event_rule.tamper",
            "aws_cloudwatch_event_rule",
            {"name": "t", "event_pattern": pattern},
        ),
        Change(
            "aws_cloudwatch_event_target.tamper",
            "aws_cloudwatch_event_target",
            {"rule": "t", "arn": "arn:aws:sns:eu-central-1:1:alerts"},
            expressions={
                "rule": refer("aws_cloudwatch_event_rule.tamper.name", "aws_cloudwatch_event_rule.tamper")
            },
        ),
        Change(
            "aws_cloudwatch_event_rule.untargeted",
            "aws_cloudwatch_event_rule",
            {"name": "u", "event_pattern": pattern},
        ),
    )
    discovery = discover_plan(plan, "production")
    found = {r.id: r for r in discovery.resources}
    assert found["aws_guardduty_detector.this"].facts["provides"] == ["threat_detection"]
    assert found["aws_guardduty_detector.off"].facts["provides"] == []
    assert found["aws_cloudwatch_event_rule.tamper"].facts["provides"] == [
        "trail_tampering",
        "recorder_tampering",
    ]
    # an event rule without a target alerts nobody
    assert found["aws_cloudwatch_event_rule.untargeted"].facts["provides"] == []
    estate = aws_estate(*discovery.resources)
    assert estate.facts["threat_detection"] is True
    assert estate.facts["tamper_alerting"] is True
    assert estate.attributes["provided_by"]["tamper_alerting"] == {
        "trail_tampering": ["aws_cloudwatch_event_rule.tamper"],
        "recorder_tampering": ["aws_cloudwatch_event_rule.tamper"],
    }

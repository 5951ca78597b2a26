"""MON-003 and MON-004 on live AWS: EventBridge rules, metric alarms and metric filters read per
region from a moto server on 127.0.0.1, judged as the planned side judges them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from regops.discovery import Inventory
from regops.discovery.aws import AwsSource, discover_aws
from regops.model import Discovery, Resource
from regops.normalize.alerting import AWS_SECURITY_EVENTS
from regops.normalize.aws import PLANNED
from tests.aws_server import Clients, aws, moto_endpoint  # noqa: F401
from tests.helpers import load_evidence, only_bundle, run_project_suites
from tests.test_discovery_aws import _http_error, _session_with

ACCOUNT = "123456789012"
TOPIC = f"arn:aws:sns:eu-central-1:{ACCOUNT}:security-alerts"
TAMPERING = {
    "source": ["aws.cloudtrail", "aws.config"],
    "detail": {
        "eventName": [
            "StopLogging",
            "DeleteTrail",
            "UpdateTrail",
            "PutEventSelectors",
            "StopConfigurationRecorder",
            "DeleteDeliveryChannel",
        ]
    },
}
ROOT_FILTER = (
    '{ $.userIdentity.type = "Root" && $.userIdentity.invokedBy NOT EXISTS '
    '&& $.eventType != "AwsServiceEvent" }'
)


def rule_arn(name: str, region: str = "eu-central-1") -> str:
    return f"arn:aws:events:{region}:{ACCOUNT}:rule/{name}"


def stage(aws: Clients, name: str = "acceptance") -> None:  # noqa: F811
    """One resource tagged for the stage, so that discovery has a stage to report."""
    aws("s3").create_bucket(
        Bucket=f"ledger-{name}", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
    )
    aws("s3").put_bucket_tagging(
        Bucket=f"ledger-{name}", Tagging={"TagSet": [{"Key": "stage", "Value": name}]}
    )


def rule(
    aws: Clients,  # noqa: F811
    name: str,
    pattern: dict[str, Any],
    targeted: bool = True,
    state: str = "ENABLED",
    region: str = "eu-central-1",
) -> None:
    events = aws("events", region)
    events.put_rule(Name=name, EventPattern=json.dumps(pattern), State=state)
    if targeted:
        events.put_targets(Rule=name, Targets=[{"Id": "soc", "Arn": TOPIC, "Input": '{"token": "s3cr3t"}'}])


def alarm(aws: Clients, name: str, namespace: str, metric: str, **settings: Any) -> None:  # noqa: F811
    aws("cloudwatch").put_metric_alarm(
        **{
            "AlarmName": name,
            "Namespace": namespace,
            "MetricName": metric,
            "Statistic": "Sum",
            "Period": 300,
            "EvaluationPeriods": 1,
            "Threshold": 1.0,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "AlarmActions": [TOPIC],
            **settings,
        }
    )


def root_filter(aws: Clients) -> str:  # noqa: F811
    logs = aws("logs")
    logs.create_log_group(logGroupName="/trail")
    logs.put_metric_filter(
        logGroupName="/trail",
        filterName="root",
        filterPattern=ROOT_FILTER,
        metricTransformations=[{"metricName": "RootUsage", "metricNamespace": "CIS", "metricValue": "1"}],
    )
    return f"arn:aws:logs:eu-central-1:{ACCOUNT}:log-group:/trail:metric-filter/root"


def discover(aws: Clients, *regions: str, **kwargs: Any) -> Discovery:  # noqa: F811
    source = AwsSource(regions=regions or ("eu-central-1",), endpoint_url=aws.endpoint, max_attempts=1)
    return discover_aws(source, "acceptance", **kwargs)


def estate(discovery: Discovery) -> Resource:
    inventory = Inventory.merge("acceptance", [discovery])
    (found,) = (r for r in inventory.resources if r.id == "estate:aws")
    return found


def provides(discovery: Discovery) -> dict[str, Any]:
    return {r.id: r.facts.get("provides") for r in discovery.resources if r.kind == "security_service"}


def test_an_enabled_rule_with_a_target_provides_the_categories_its_pattern_covers(aws: Clients) -> None:  # noqa: F811
    stage(aws)
    rule(aws, "tampering", TAMPERING)
    rule(aws, "untargeted", TAMPERING, targeted=False)
    rule(aws, "off", TAMPERING, state="DISABLED")
    rule(aws, "part", {"source": ["aws.cloudtrail"], "detail": {"eventName": ["StopLogging"]}})
    rule(aws, "tampering", TAMPERING, region="eu-west-1", targeted=False)
    target_calls: list[str] = []

    def count(**_: Any) -> None:
        target_calls.append("ListTargetsByRule")

    discovery = discover(
        aws,
        "eu-central-1",
        "eu-west-1",
        session_factory=_session_with("before-send.eventbridge.ListTargetsByRule", count),
    )
    assert discovery.report.complete, discovery.report.errors
    found = provides(discovery)
    assert found[rule_arn("tampering")] == ["trail_tampering", "recorder_tampering"]
    assert found[rule_arn("untargeted")] == []
    assert found[rule_arn("off")] == []
    assert found[rule_arn("part")] == []
    assert found[rule_arn("tampering", "eu-west-1")] == []  # the same rule, without a target there
    # Targets are asked for only where a category is at stake: not for "off" nor "part".
    assert len(target_calls) == 3
    resources = {r.id: r for r in discovery.resources}
    assert resources[rule_arn("tampering")].region == "eu-central-1"
    # What a target is sent stays out of the evidence.
    assert "s3cr3t" not in json.dumps([r.to_dict() for r in discovery.resources])
    # The planned side judges the same rule alike.
    planned = PLANNED["aws_cloudwatch_event_rule"].facts(
        {"name": "tampering", "event_pattern": json.dumps(TAMPERING), "state": "ENABLED"},
        {"aws_cloudwatch_event_target": [{"rule": "tampering", "arn": TOPIC}]},
    )
    assert planned["provides"] == found[rule_arn("tampering")]
    result = estate(discovery)
    # A rule sees its own region's events: eu-west-1's copy has no target, so nothing alerts there.
    assert (result.facts["tamper_alerting"], result.facts["tamper_alerting_gaps"]) == (
        False,
        ["trail_tampering in eu-west-1", "recorder_tampering in eu-west-1"],
    )
    assert result.facts["security_alerting"] is False
    provided = result.attributes["provided_by"]["tamper_alerting"]
    assert provided["trail_tampering@eu-central-1"] == [rule_arn("tampering")]


def test_a_rule_on_iam_events_alerts_only_from_us_east_1_and_there_for_every_region(aws: Clients) -> None:  # noqa: F811
    stage(aws)
    iam = {
        "source": ["aws.iam"],
        "detail": {"eventName": sorted({e["eventName"] for e in AWS_SECURITY_EVENTS["iam_policy_changes"]})},
    }
    rule(aws, "iam", iam)
    rule(aws, "iam", iam, region="us-east-1")
    discovery = discover(aws, "eu-central-1", "us-east-1")
    found = provides(discovery)
    assert found[rule_arn("iam")] == []  # IAM's events never reach eu-central-1's event bus
    assert found[rule_arn("iam", "us-east-1")] == ["iam_policy_changes everywhere"]
    gaps = estate(discovery).facts["security_alerting_gaps"]
    assert not [gap for gap in gaps if gap.startswith("iam_policy_changes")]


def test_an_alarmed_metric_filter_gives_its_category_through_the_estate(aws: Clients) -> None:  # noqa: F811
    stage(aws)
    metric_filter = root_filter(aws)
    alarm(aws, "cpu", "AWS/EC2", "CPUUtilization", Threshold=80.0, ComparisonOperator="GreaterThanThreshold")
    alarm(aws, "silent", "CIS", "RootUsage", ActionsEnabled=False)
    lonely = discover(aws)
    assert lonely.report.complete, lonely.report.errors
    cpu = f"arn:aws:cloudwatch:eu-central-1:{ACCOUNT}:alarm:cpu"
    silent = f"arn:aws:cloudwatch:eu-central-1:{ACCOUNT}:alarm:silent"
    found = provides(lonely)
    assert found[cpu] == []
    assert found[silent] == []
    # A trail's log holds every region's events: the filter's category counts in all of them.
    assert found[metric_filter] == [
        "root_account_use everywhere when alarm:CIS/RootUsage and trail_log:/trail"
    ]
    assert "root_account_use in eu-central-1" in estate(lonely).facts["security_alerting_gaps"]
    alarm(aws, "root", "CIS", "RootUsage")
    unfed = discover(aws)
    root = f"arn:aws:cloudwatch:eu-central-1:{ACCOUNT}:alarm:root"
    assert provides(unfed)[root] == ["alarm:CIS/RootUsage"]
    # Until a trail delivers every region's events to its log group, the filter waits for nothing.
    assert "root_account_use in eu-central-1" in estate(unfed).facts["security_alerting_gaps"]
    trail = aws("cloudtrail").create_trail(
        Name="platform",
        S3BucketName="ledger-acceptance",
        IsMultiRegionTrail=True,
        CloudWatchLogsLogGroupArn=f"arn:aws:logs:eu-central-1:{ACCOUNT}:log-group:/trail:*",
        CloudWatchLogsRoleArn=f"arn:aws:iam::{ACCOUNT}:role/trail-to-logs",
    )["TrailARN"]
    aws("cloudtrail").start_logging(Name="platform")
    paired = discover(aws)
    (recording,) = (r for r in paired.resources if r.id == trail)
    assert recording.facts["provides"] == ["log_aggregation", "trail_log:/trail"]
    result = estate(paired)
    assert "root_account_use in eu-central-1" not in result.facts["security_alerting_gaps"]
    assert result.facts["security_alerting"] is False  # the other categories are still missing
    provided = result.attributes["provided_by"]["security_alerting"]
    assert provided["root_account_use@eu-central-1"] == [metric_filter, root, trail]
    # As planned: the same filter and alarm give the same tokens.
    planned_filter = PLANNED["aws_cloudwatch_log_metric_filter"].facts(
        {
            "name": "root",
            "pattern": ROOT_FILTER,
            "log_group_name": "/trail",
            "metric_transformation": [{"name": "RootUsage", "namespace": "CIS", "value": "1"}],
        },
        {},
    )
    assert planned_filter["provides"] == provides(paired)[metric_filter]


@pytest.mark.parametrize(
    ("event", "operation", "json_protocol", "unread"),
    [
        ("eventbridge.ListRules", "events.list_rules", True, f"arn:aws:events:eu-central-1:{ACCOUNT}:rule/*"),
        ("eventbridge.ListTargetsByRule", "events.list_targets_by_rule", True, rule_arn("tampering")),
        (
            "cloudwatch.DescribeAlarms",
            "cloudwatch.describe_alarms",
            False,
            f"arn:aws:cloudwatch:eu-central-1:{ACCOUNT}:alarm:*",
        ),
        (
            "cloudwatch-logs.DescribeMetricFilters",
            "logs.describe_metric_filters",
            True,
            f"arn:aws:logs:eu-central-1:{ACCOUNT}:log-group:*:metric-filter/*",
        ),
    ],
)
def test_a_denied_listing_leaves_the_capability_unknown(
    aws: Clients,  # noqa: F811
    event: str,
    operation: str,
    json_protocol: bool,
    unread: str,
) -> None:
    stage(aws)
    rule(aws, "tampering", TAMPERING)
    root_filter(aws)
    alarm(aws, "cpu", "AWS/EC2", "CPUUtilization", Threshold=80.0)
    denied = _http_error(403, "AccessDenied", event.split(".")[1], json_protocol=json_protocol)
    discovery = discover(aws, session_factory=_session_with(f"before-send.{event}", denied))
    assert discovery.report.complete is False
    assert f"eu-central-1 {operation}: AccessDenied: injected AccessDenied" in discovery.report.errors
    resources = {r.id: r for r in discovery.resources}
    assert resources[unread].kind == "security_service"
    assert "provides" not in resources[unread].facts
    result = estate(discovery)
    assert unread in result.attributes["undetermined"]
    # A gap the unread part might fill is neither passed nor failed: the control reports an error.
    assert "security_alerting" not in result.facts
    assert result.facts["security_alerting_gaps"]
    # Tampering is alerted on by the rule; only where the rule was not fully read is it unknown.
    assert result.facts.get("tamper_alerting") is (None if operation.startswith("events.") else True)


def run_mon_004(pytester: pytest.Pytester, aws: Clients, out: str) -> str:  # noqa: F811
    pytester.makepyprojecttoml('[tool.regops.stages.production.aws]\nregions = ["eu-central-1"]\n')
    run_project_suites(
        pytester,
        "--stage=production",
        f"--aws-endpoint={aws.endpoint}",
        f"--evidence-dir={out}",
        "--control=MON-004",
    )
    document = load_evidence(only_bundle(Path(pytester.path / out), "production"))
    (control,) = (c for c in document["controls"] if c["id"] == "MON-004")
    (result,) = (r for r in control["results"] if r["resource_id"] == "estate:aws")
    return str(result["outcome"])


def test_mon_004_on_a_live_stage_passes_with_a_tamper_rule_and_fails_without(
    pytester: pytest.Pytester,
    aws: Clients,  # noqa: F811
) -> None:
    stage(aws, "production")
    rule(aws, "part", {"source": ["aws.cloudtrail"], "detail": {"eventName": ["StopLogging"]}})
    assert run_mon_004(pytester, aws, "without") == "failed"
    rule(aws, "tampering", TAMPERING)
    assert run_mon_004(pytester, aws, "with") == "passed"

"""MON-003 and MON-004 judge what alerts watch: named categories of critical events, not any
alarm, rule, alert or policy that notifies someone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from regops.discovery.terraform_plan import discover_plan
from regops.model import UNKNOWN, Resource
from regops.normalize import alerting, aws, azure, azure_arm, gcp, gcp_asset
from regops.normalize.estate import estate_resources
from tests.helpers import load_evidence, only_bundle, run_project_suites
from tests.plans import Change, refer, write_plan

TOPIC = "arn:aws:sns:eu-central-1:123456789012:security-alerts"
SUBSCRIPTION = "/subscriptions/6f1e9c2a-4b7d-4e8a-9c3f-2d5b8a1e7f40"
ACTION_GROUP = f"{SUBSCRIPTION}/resourceGroups/rg/providers/Microsoft.Insights/actionGroups/security"
CHANNEL = "projects/p/notificationChannels/7"


def estate(*resources: Resource, provider: str) -> Resource:
    (found,) = (e for e in estate_resources(resources, "production") if e.provider == provider)
    return found


def planned(tmp_path: Path, *changes: Change) -> list[Resource]:
    return list(discover_plan(write_plan(tmp_path / "plan.json", *changes), "production").resources)


# AWS ------------------------------------------------------------------------------------------


def cpu_alarm(name: str = "cpu") -> Change:
    return Change(
        f"aws_cloudwatch_metric_alarm.{name}",
        "aws_cloudwatch_metric_alarm",
        {
            "alarm_name": name,
            "namespace": "AWS/EC2",
            "metric_name": "CPUUtilization",
            "comparison_operator": "GreaterThanThreshold",
            "threshold": 80,
            "evaluation_periods": 2,
            "actions_enabled": True,
            "alarm_actions": [TOPIC],
        },
    )


def metric_filter(name: str, pattern: Any, metric: str = "RootUsage") -> Change:
    after = {
        "name": name,
        "pattern": pattern,
        "log_group_name": "/trail",
        "metric_transformation": [{"name": metric, "namespace": "CIS", "value": "1", "dimensions": {}}],
    }
    unknown = {}
    if pattern is UNKNOWN:
        after["pattern"], unknown = None, {"pattern": True}
    return Change(
        f"aws_cloudwatch_log_metric_filter.{name}", "aws_cloudwatch_log_metric_filter", after, unknown
    )


TRAIL_LOG_GROUP = Change(
    "aws_cloudwatch_log_group.trail", "aws_cloudwatch_log_group", {"name": "/trail"}, {"arn": True}
)


def trail(
    log_group_arn: Any = "arn:aws:logs:eu-central-1:123456789012:log-group:/trail:*", **settings: Any
) -> Change:
    """A trail recording every region's management events into a CloudWatch Logs group."""
    after = {"name": "platform", "is_multi_region_trail": True, "cloud_watch_logs_group_arn": log_group_arn}
    return Change("aws_cloudtrail.platform", "aws_cloudtrail", {**after, **settings})


def alarm(name: str, metric: str = "RootUsage", **settings: Any) -> Change:
    return Change(
        f"aws_cloudwatch_metric_alarm.{name}",
        "aws_cloudwatch_metric_alarm",
        {
            "alarm_name": name,
            "namespace": "CIS",
            "metric_name": metric,
            "statistic": "Sum",
            "period": 300,
            "comparison_operator": "GreaterThanOrEqualToThreshold",
            "threshold": 1,
            "evaluation_periods": 1,
            "alarm_actions": [TOPIC],
            **settings,
        },
    )


def event_rule(
    name: str, pattern: Any, targeted: bool = True, provider_key: str = "", **settings: Any
) -> list[Change]:
    """A rule in the plan's region (eu-central-1), or in us-east-1 with `provider_key="aws.virginia"`."""
    unknown = {"event_pattern": True} if pattern is UNKNOWN else {}
    text = None if pattern is UNKNOWN else pattern if isinstance(pattern, str) else json.dumps(pattern)
    after = {"name": name, "event_pattern": text}
    rule = Change(
        f"aws_cloudwatch_event_rule.{name}",
        "aws_cloudwatch_event_rule",
        {**after, **settings},
        unknown,
        provider_key=provider_key,
    )
    if not targeted:
        return [rule]
    target = Change(
        f"aws_cloudwatch_event_target.{name}",
        "aws_cloudwatch_event_target",
        {"rule": name, "arn": TOPIC},
        expressions={
            "rule": refer(f"aws_cloudwatch_event_rule.{name}.name", f"aws_cloudwatch_event_rule.{name}")
        },
        provider_key=provider_key,
    )
    return [rule, target]


ROOT_FILTER = (
    '{ $.userIdentity.type = "Root" && $.userIdentity.invokedBy NOT EXISTS '
    '&& $.eventType != "AwsServiceEvent" }'
)
TRAIL_TAMPERING = ["StopLogging", "DeleteTrail", "UpdateTrail", "PutEventSelectors"]
EVERY_AWS_CATEGORY = {
    "$or": [
        {
            "detail": {
                "eventName": sorted(
                    {e["eventName"] for s in alerting.AWS_SECURITY_EVENTS.values() for e in s}
                )
            }
        },
        {"detail": {"userIdentity": {"type": ["Root"]}}},
        {"detail": {"errorCode": [{"suffix": "UnauthorizedOperation"}, {"prefix": "AccessDenied"}]}},
        {
            "detail-type": ["AWS Console Sign In via CloudTrail"],
            "detail": {"additionalEventData": {"MFAUsed": ["No"]}},
        },
    ]
}


def test_a_cpu_alarm_is_no_security_alerting(tmp_path: Path) -> None:
    found = planned(tmp_path, cpu_alarm())
    assert found[0].facts["provides"] == []
    result = estate(*found, provider="aws")
    assert result.facts["security_alerting"] is False
    assert result.facts["security_alerting_gaps"] == list(alerting.AWS_SECURITY_EVENTS)
    assert result.facts["tamper_alerting"] is False


def test_a_metric_filter_counts_only_with_an_alarm_that_notifies_someone(tmp_path: Path) -> None:
    lonely = estate(*planned(tmp_path, metric_filter("root", ROOT_FILTER), trail()), provider="aws")
    assert "root_account_use in eu-central-1" in lonely.facts["security_alerting_gaps"]
    silent = estate(
        *planned(tmp_path, metric_filter("root", ROOT_FILTER), alarm("root", alarm_actions=[]), trail()),
        provider="aws",
    )
    assert "root_account_use in eu-central-1" in silent.facts["security_alerting_gaps"]
    # an alarm on another metric, or one that needs three bad periods, waits for nothing it watches
    elsewhere = estate(
        *planned(tmp_path, metric_filter("root", ROOT_FILTER), alarm("other", "Other"), trail()),
        provider="aws",
    )
    assert "root_account_use in eu-central-1" in elsewhere.facts["security_alerting_gaps"]
    slow = estate(
        *planned(tmp_path, metric_filter("root", ROOT_FILTER), alarm("root", evaluation_periods=3), trail()),
        provider="aws",
    )
    assert "root_account_use in eu-central-1" in slow.facts["security_alerting_gaps"]
    paired = estate(
        *planned(tmp_path, metric_filter("root", ROOT_FILTER), alarm("root"), trail()), provider="aws"
    )
    assert "root_account_use in eu-central-1" not in paired.facts["security_alerting_gaps"]
    assert paired.attributes["provided_by"]["security_alerting"]["root_account_use@eu-central-1"] == [
        "aws_cloudwatch_log_metric_filter.root",
        "aws_cloudwatch_metric_alarm.root",
        "aws_cloudtrail.platform",
    ]


@pytest.mark.parametrize(
    "feeding",
    [
        [],
        [trail("arn:aws:logs:eu-central-1:123456789012:log-group:/application:*")],
        [trail(is_multi_region_trail=False)],
        [trail(enable_logging=False)],
        [trail(event_selector=[{"include_management_events": False, "read_write_type": "All"}])],
    ],
    ids=["no-trail", "another-log-group", "one-region", "not-logging", "no-management-events"],
)
def test_a_metric_filter_counts_only_on_the_log_of_a_trail_recording_every_region(
    tmp_path: Path, feeding: list[Change]
) -> None:
    # The events a CIS metric filter looks for arrive only in the log group a multi-region trail
    # delivers every region's management events to; on any other group it waits for nothing.
    found = estate(
        *planned(tmp_path, TRAIL_LOG_GROUP, metric_filter("root", ROOT_FILTER), alarm("root"), *feeding),
        provider="aws",
    )
    assert "root_account_use in eu-central-1" in found.facts["security_alerting_gaps"]


def test_a_log_group_made_with_its_trail_is_known_by_name(tmp_path: Path) -> None:
    new_trail = trail(None)
    new_trail.unknown = {"cloud_watch_logs_group_arn": True}
    new_trail.expressions = {
        "cloud_watch_logs_group_arn": refer(
            "aws_cloudwatch_log_group.trail.arn", "aws_cloudwatch_log_group.trail"
        )
    }
    root = metric_filter("root", ROOT_FILTER)
    root.expressions = {
        "log_group_name": refer("aws_cloudwatch_log_group.trail.name", "aws_cloudwatch_log_group.trail")
    }
    found = estate(*planned(tmp_path, TRAIL_LOG_GROUP, new_trail, root, alarm("root")), provider="aws")
    assert "root_account_use in eu-central-1" not in found.facts["security_alerting_gaps"]


def test_patterns_are_evaluated_not_searched(tmp_path: Path) -> None:
    found = {
        r.id: r.facts.get("provides")
        for r in planned(
            tmp_path,
            *event_rule("but", {"detail": {"eventName": [{"anything-but": TRAIL_TAMPERING}]}}),
            *event_rule("part", {"source": ["aws.cloudtrail"], "detail": {"eventName": ["StopLogging"]}}),
            *event_rule("other_source", {"source": ["aws.s3"], "detail": {"eventName": TRAIL_TAMPERING}}),
            *event_rule("whole", {"source": ["aws.cloudtrail"], "detail": {"eventName": TRAIL_TAMPERING}}),
            *event_rule("broken", '{"detail": {"eventName": ["StopLogging"'),
            *event_rule("custom_bus", {"detail": {"eventName": TRAIL_TAMPERING}}, event_bus_name="apps"),
            *event_rule("untargeted", {"detail": {"eventName": TRAIL_TAMPERING}}, targeted=False),
            *event_rule("off", {"detail": {"eventName": TRAIL_TAMPERING}}, state="DISABLED"),
            metric_filter("term", "StopLogging DeleteTrail UpdateTrail PutEventSelectors", "Term"),
        )
    }
    # every event but the tampering ones: the other categories, not tampering
    assert "trail_tampering" not in found.pop("aws_cloudwatch_event_rule.but")
    assert found == {
        "aws_cloudwatch_event_rule.part": [],
        "aws_cloudwatch_event_rule.other_source": [],
        "aws_cloudwatch_event_rule.whole": ["trail_tampering"],
        "aws_cloudwatch_event_rule.broken": [],
        "aws_cloudwatch_event_rule.custom_bus": [],
        "aws_cloudwatch_event_rule.untargeted": [],
        "aws_cloudwatch_event_rule.off": [],
        "aws_cloudwatch_log_metric_filter.term": [],
    }


def test_an_unknown_pattern_leaves_the_capability_unknown(tmp_path: Path) -> None:
    resources = planned(
        tmp_path, *event_rule("later", UNKNOWN), metric_filter("later", UNKNOWN), alarm("root"), cpu_alarm()
    )
    found = {r.id: r for r in resources}
    assert "provides" not in found["aws_cloudwatch_event_rule.later"].facts
    assert "provides" not in found["aws_cloudwatch_log_metric_filter.later"].facts
    result = estate(*resources, provider="aws")
    assert "security_alerting" not in result.facts  # neither passed nor failed on a guess
    assert "tamper_alerting" not in result.facts
    assert result.attributes["undetermined"] == [
        "aws_cloudwatch_event_rule.later",
        "aws_cloudwatch_log_metric_filter.later",
    ]


def test_every_category_and_tampering_alerted_on_aws(tmp_path: Path) -> None:
    tampering = {"source": ["aws.cloudtrail", "aws.config"], "detail": {"eventName": [*TRAIL_TAMPERING]}}
    tampering["detail"]["eventName"] += ["StopConfigurationRecorder", "DeleteDeliveryChannel"]
    rules = [
        *event_rule("all", EVERY_AWS_CATEGORY),
        *event_rule("tampering", tampering),
        # IAM and sign-in events reach EventBridge in us-east-1 only, for the whole account.
        *event_rule("global", EVERY_AWS_CATEGORY, provider_key="aws.virginia"),
    ]
    workload = Change("aws_s3_bucket.data", "aws_s3_bucket", {"bucket": "data"})
    result = estate(*planned(tmp_path, *rules, workload), provider="aws")
    assert (result.facts["security_alerting"], result.facts["security_alerting_gaps"]) == (True, [])
    assert (result.facts["tamper_alerting"], result.facts["tamper_alerting_gaps"]) == (True, [])
    provided = {r.id: r.facts["provides"] for r in planned(tmp_path, *rules) if "provides" in r.facts}
    assert "iam_policy_changes" not in " ".join(provided["aws_cloudwatch_event_rule.all"])
    assert "iam_policy_changes everywhere" in provided["aws_cloudwatch_event_rule.global"]


def test_an_event_rule_watches_its_own_region_only(tmp_path: Path) -> None:
    rules = [
        *event_rule("all", EVERY_AWS_CATEGORY),
        *event_rule("global", EVERY_AWS_CATEGORY, provider_key="aws.virginia"),
    ]
    elsewhere = Change("aws_s3_bucket.logs", "aws_s3_bucket", {"bucket": "logs"}, provider_key="aws.london")
    result = estate(*planned(tmp_path, *rules, elsewhere), provider="aws")
    # The London bucket's region has no rule of its own; IAM's events are watched account-wide.
    assert result.facts["security_alerting_gaps"] == [
        f"{category} in eu-west-2"
        for category in alerting.AWS_SECURITY_EVENTS
        if category not in alerting.AWS_ACCOUNT_WIDE_CATEGORIES
    ]


# Azure ----------------------------------------------------------------------------------------


def activity_alert(name: str, operation: Any, scopes: Any = None, **criteria: Any) -> Change:
    return Change(
        f"azurerm_monitor_activity_log_alert.{name}",
        "azurerm_monitor_activity_log_alert",
        {
            "name": name,
            "scopes": [SUBSCRIPTION] if scopes is None else scopes,
            "enabled": True,
            "criteria": [{"category": "Administrative", "operation_name": operation, **criteria}],
            "action": [{"action_group_id": ACTION_GROUP}],
        },
        unknown={"criteria": [{"operation_name": True}]} if operation is None else {},
    )


def test_azure_alerts_count_for_the_operations_they_watch(tmp_path: Path) -> None:
    found = {
        r.id: r.facts.get("provides")
        for r in planned(
            tmp_path,
            activity_alert("vm", "Microsoft.Compute/virtualMachines/write"),
            activity_alert("nsg", "Microsoft.Network/networkSecurityGroups/write"),
            activity_alert(
                "one_group",
                "Microsoft.Network/networkSecurityGroups/delete",
                [f"{SUBSCRIPTION}/resourceGroups/rg"],
            ),
            activity_alert("failures", "Microsoft.Network/networkSecurityGroups/delete", statuses=["Failed"]),
            activity_alert(
                "wrong_category", "Microsoft.Network/networkSecurityGroups/delete", category="Policy"
            ),
            activity_alert("diagnostics", "Microsoft.Insights/diagnosticSettings/delete"),
            activity_alert("later", None),
        )
    }
    assert found == {
        "azurerm_monitor_activity_log_alert.vm": [],
        "azurerm_monitor_activity_log_alert.nsg": ["nsg_write"],
        "azurerm_monitor_activity_log_alert.one_group": [],
        "azurerm_monitor_activity_log_alert.failures": [],
        "azurerm_monitor_activity_log_alert.wrong_category": [],
        "azurerm_monitor_activity_log_alert.diagnostics": ["diagnostic_settings_delete"],
        "azurerm_monitor_activity_log_alert.later": None,
    }


def test_an_unrelated_azure_alert_leaves_every_gap(tmp_path: Path) -> None:
    result = estate(
        *planned(tmp_path, activity_alert("vm", "Microsoft.Compute/virtualMachines/write")), provider="azure"
    )
    assert result.facts["security_alerting"] is False
    assert result.facts["security_alerting_gaps"] == list(alerting.AZURE_SECURITY_OPERATIONS)
    assert result.facts["tamper_alerting_gaps"] == ["diagnostic_settings_write", "diagnostic_settings_delete"]
    complete = estate(
        *planned(
            tmp_path,
            *(
                activity_alert(token, operation)
                for token, operation in {
                    **alerting.AZURE_SECURITY_OPERATIONS,
                    **alerting.AZURE_TAMPER_OPERATIONS,
                }.items()
            ),
        ),
        provider="azure",
    )
    assert complete.facts["security_alerting"] is True
    assert complete.facts["tamper_alerting"] is True


def arm_alert(*conditions: dict[str, Any], enabled: bool = True, groups: bool = True) -> dict[str, Any]:
    return {
        "id": f"{SUBSCRIPTION}/resourceGroups/rg/providers/Microsoft.Insights/activityLogAlerts/a",
        "type": "Microsoft.Insights/activityLogAlerts",
        "location": "Global",
        "properties": {
            "enabled": enabled,
            "scopes": [SUBSCRIPTION],
            "condition": {"allOf": [{"field": "category", "equals": "Administrative"}, *conditions]},
            "actions": {"actionGroups": [{"actionGroupId": ACTION_GROUP}] if groups else []},
        },
    }


def operation(name: str) -> dict[str, Any]:
    return {"field": "operationName", "equals": name}


def test_live_azure_alerts_as_resource_manager_returns_them() -> None:
    provides = azure_arm.LIVE["Microsoft.Insights/activityLogAlerts"].facts
    assert provides(arm_alert(operation("Microsoft.Compute/virtualMachines/write")))["provides"] == []
    assert provides(arm_alert(operation("microsoft.sql/servers/firewallrules/write")))["provides"] == [
        "sql_firewall_rule_write"
    ]
    either = {
        "anyOf": [
            operation("Microsoft.Network/publicIPAddresses/write"),
            operation("Microsoft.Network/publicIPAddresses/delete"),
        ]
    }
    assert provides(arm_alert(either))["provides"] == ["public_ip_write", "public_ip_delete"]
    by_caller = {"field": "caller", "equals": "someone@example.com"}
    assert (
        provides(arm_alert(operation("Microsoft.Network/publicIPAddresses/write"), by_caller))["provides"]
        == []
    )
    silent = arm_alert(operation("Microsoft.Insights/diagnosticSettings/write"), groups=False)
    assert provides(silent)["provides"] == []
    assert provides(arm_alert(operation("Microsoft.Insights/diagnosticSettings/write")))["provides"] == [
        "diagnostic_settings_write"
    ]


# GCP ------------------------------------------------------------------------------------------

AUDIT_FILTER = (
    'protoPayload.methodName="SetIamPolicy" AND protoPayload.serviceData.policyDelta.auditConfigDeltas:*'
)


def log_metric(name: str, log_filter: Any) -> Change:
    unknown = {"filter": True} if log_filter is UNKNOWN else {}
    after = {"name": name, "project": "p", "filter": None if log_filter is UNKNOWN else log_filter}
    return Change(f"google_logging_metric.{name}", "google_logging_metric", after, unknown)


def policy(name: str, *metrics: str, channels: list[str] | None = None, combiner: str = "OR") -> Change:
    return Change(
        f"google_monitoring_alert_policy.{name}",
        "google_monitoring_alert_policy",
        {
            "display_name": name,
            "project": "p",
            "combiner": combiner,
            "notification_channels": [CHANNEL] if channels is None else channels,
            "conditions": [
                {
                    "display_name": metric,
                    "condition_threshold": [
                        {
                            "filter": f'metric.type="logging.googleapis.com/user/{metric}" '
                            'AND resource.type="global"',
                            "comparison": "COMPARISON_GT",
                            "threshold_value": 0,
                        }
                    ],
                }
                for metric in metrics
            ],
        },
    )


def test_a_gcp_tamper_metric_without_a_policy_alerts_nobody(tmp_path: Path) -> None:
    lonely = estate(*planned(tmp_path, log_metric("audit", AUDIT_FILTER)), provider="gcp")
    assert lonely.facts["tamper_alerting"] is False
    assert lonely.facts["tamper_alerting_gaps"] == ["audit_config_changes"]
    mute = estate(
        *planned(tmp_path, log_metric("audit", AUDIT_FILTER), policy("audit", "audit", channels=[])),
        provider="gcp",
    )
    assert mute.facts["tamper_alerting"] is False
    other = estate(
        *planned(tmp_path, log_metric("audit", AUDIT_FILTER), policy("cpu", "cpu")), provider="gcp"
    )
    assert other.facts["tamper_alerting"] is False
    both_needed = estate(
        *planned(
            tmp_path, log_metric("audit", AUDIT_FILTER), policy("and", "audit", "other", combiner="AND")
        ),
        provider="gcp",
    )
    assert both_needed.facts["tamper_alerting"] is False
    watched = estate(
        *planned(tmp_path, log_metric("audit", AUDIT_FILTER), policy("audit", "audit")), provider="gcp"
    )
    assert watched.facts["tamper_alerting"] is True
    assert "audit_config_changes" not in watched.facts["security_alerting_gaps"]
    assert watched.attributes["provided_by"]["tamper_alerting"]["audit_config_changes"] == [
        "google_logging_metric.audit",
        "google_monitoring_alert_policy.audit",
    ]


def test_gcp_filters_must_match_every_event_of_a_category(tmp_path: Path) -> None:
    found = {
        r.id: r.facts.get("provides")
        for r in planned(
            tmp_path,
            log_metric(
                "inserts_only",
                'resource.type="gce_firewall_rule" AND protoPayload.methodName:"firewalls.insert"',
            ),
            log_metric(
                "firewalls",
                'resource.type="gce_firewall_rule" AND protoPayload.methodName:"compute.firewalls."',
            ),
            log_metric(
                "sinks", 'protoPayload.methodName:"DeleteSink" OR protoPayload.methodName:"UpdateSink"'
            ),
            log_metric("later", UNKNOWN),
        )
    }
    assert found == {
        "google_logging_metric.inserts_only": [],
        "google_logging_metric.firewalls": ["firewall_rule_changes when log_metric:firewalls"],
        "google_logging_metric.sinks": [],
        "google_logging_metric.later": None,
    }


def test_a_policy_with_a_log_match_condition_alerts_by_itself() -> None:
    values = {
        "combiner": "OR",
        "notification_channels": [CHANNEL],
        "conditions": [
            {"condition_matched_log": [{"filter": 'protoPayload.methodName="cloudsql.instances.update"'}]}
        ],
    }
    assert gcp.PLANNED["google_monitoring_alert_policy"].facts(values, {})["provides"] == [
        "sql_config_changes"
    ]
    assert (
        gcp.PLANNED["google_monitoring_alert_policy"].facts({**values, "notification_channels": []}, {})[
            "provides"
        ]
        == []
    )


def asset(asset_type: str, data: dict[str, Any]) -> Resource:
    return Resource(
        id=f"//{asset_type}/{data['name']}",
        provider="gcp",
        native_type=asset_type,
        kind="security_service",
        region="global",
        stage="production",
        origin="live",
        facts=gcp_asset.LIVE[asset_type].facts({"data": data, "location": "global"}),
    )


def test_exported_gcp_assets_pair_metrics_and_policies() -> None:
    metric = asset("logging.googleapis.com/LogMetric", {"name": "audit-config", "filter": AUDIT_FILTER})
    assert metric.facts["provides"] == ["audit_config_changes when log_metric:audit-config"]
    condition = {
        "conditionThreshold": {
            "filter": 'metric.type="logging.googleapis.com/user/audit-config"',
            "comparison": "COMPARISON_GT",
        }
    }
    watching = asset(
        "monitoring.googleapis.com/AlertPolicy",
        {
            "name": "projects/p/alertPolicies/1",
            "combiner": "OR",
            "notificationChannels": [CHANNEL],
            "conditions": [condition],
        },
    )
    assert watching.facts["provides"] == ["log_metric:audit-config"]
    assert estate(metric, provider="gcp").facts["tamper_alerting"] is False
    assert estate(metric, watching, provider="gcp").facts["tamper_alerting"] is True
    channelless = asset(
        "monitoring.googleapis.com/AlertPolicy",
        {"name": "projects/p/alertPolicies/2", "combiner": "OR", "conditions": [condition]},
    )
    assert channelless.facts["provides"] == []
    unrelated = asset(
        "monitoring.googleapis.com/AlertPolicy",
        {
            "name": "projects/p/alertPolicies/3",
            "notificationChannels": [CHANNEL],
            "conditions": [
                {
                    "conditionThreshold": {
                        "filter": 'metric.type="compute.googleapis.com/instance/cpu/utilization"',
                        "comparison": "COMPARISON_GT",
                        "thresholdValue": 0.9,
                    }
                }
            ],
        },
    )
    assert unrelated.facts["provides"] == []


def test_planned_and_live_normalisers_agree_on_the_tokens() -> None:
    assert tuple(aws.ESTATE["security_alerting"].tokens) == tuple(alerting.AWS_SECURITY_EVENTS)
    assert tuple(azure.ESTATE["tamper_alerting"].tokens) == tuple(alerting.AZURE_TAMPER_OPERATIONS)
    assert tuple(gcp.ESTATE["tamper_alerting"].tokens) == ("audit_config_changes",)


# End to end -----------------------------------------------------------------------------------


def mon_003(pytester: pytest.Pytester, *changes: Change) -> dict[str, Any]:
    contact = Change(
        "aws_account_alternate_contact.security",
        "aws_account_alternate_contact",
        {
            "alternate_contact_type": "SECURITY",
            "email_address": "soc@example.com",
            "name": "SOC",
            "title": "SOC",
        },
    )
    write_plan(pytester.path / "plan.json", contact, *changes)
    pytester.makepyprojecttoml("[tool.regops]\n")
    run_project_suites(
        pytester, "--stage=production", "--evidence-dir=out", "--plan=plan.json", "--control=MON-003"
    )
    document = load_evidence(only_bundle(pytester.path / "out", "production"))
    (control,) = (c for c in document["controls"] if c["id"] == "MON-003")
    (result,) = control["results"]
    return dict(result)


def test_mon_003_fails_an_estate_with_only_a_cpu_alarm(pytester: pytest.Pytester) -> None:
    result = mon_003(pytester, cpu_alarm())
    assert result["outcome"] == "failed"
    missing = "missing unauthorized_api_calls, console_signin_without_mfa, root_account_use"
    assert f"no routed security alert: {missing}" in result["message"]
    assert "vpc_changes" in result["message"]


def test_mon_003_passes_an_estate_that_alerts_on_every_category(pytester: pytest.Pytester) -> None:
    global_events = event_rule("global", EVERY_AWS_CATEGORY, provider_key="aws.virginia")
    result = mon_003(pytester, cpu_alarm(), *event_rule("all", EVERY_AWS_CATEGORY), *global_events)
    assert result["outcome"] == "passed", result["message"]


@pytest.mark.parametrize("unknown", ["is_multi_region_trail", "enable_logging"])
def test_a_trail_whose_reach_is_unknown_provides_nothing_established(unknown: str) -> None:
    values = {
        "name": "platform",
        "is_multi_region_trail": True,
        "cloud_watch_logs_group_arn": "arn:aws:logs:eu-central-1:123456789012:log-group:/trail:*",
        unknown: UNKNOWN,
    }
    assert "provides" not in aws.PLANNED["aws_cloudtrail"].facts(values, {})

"""LOG-005 for DynamoDB: a table's item-level access is logged only by a trail's data events."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from regops.discovery import Inventory
from regops.discovery.aws import AwsSource, discover_aws
from regops.discovery.terraform_plan import discover_plan
from regops.model import UNKNOWN, Resource
from regops.normalize.aws_data_events import dynamodb_scopes, live_selectors, planned_selectors
from tests.aws_server import Clients, aws, moto_endpoint  # noqa: F401
from tests.helpers import load_evidence, only_bundle, run_project_suites
from tests.plans import TAGS, Change, write_plan

TABLE_ARN = "arn:aws:dynamodb:eu-central-1:123456789012:table/ledger"


def field(name: str, **conditions: list[str]) -> dict[str, Any]:
    return {"field": name, **conditions}


def data_selector(*fields: dict[str, Any]) -> dict[str, Any]:
    return {
        "field_selector": [
            field("eventCategory", equals=["Data"]),
            field("resources.type", equals=["AWS::DynamoDB::Table"]),
            *fields,
        ]
    }


def planned_scopes(values: dict[str, Any]) -> list[str]:
    return dynamodb_scopes(*planned_selectors(values))


@pytest.mark.parametrize(
    ("values", "scopes"),
    [
        ({"advanced_event_selector": [data_selector()]}, ["*"]),
        ({"advanced_event_selector": [data_selector(field("readOnly", equals=["true"]))]}, []),
        (
            {
                "advanced_event_selector": [
                    data_selector(field("readOnly", equals=["true"])),
                    data_selector(field("readOnly", equals=["false"])),
                ]
            },
            ["*"],
        ),
        (
            {"advanced_event_selector": [data_selector(field("resources.ARN", equals=[TABLE_ARN]))]},
            [TABLE_ARN],
        ),
        (
            {
                "advanced_event_selector": [
                    data_selector(field("resources.ARN", starts_with=[TABLE_ARN[:-6]]))
                ]
            },
            [f"{TABLE_ARN[:-6]}*"],
        ),
        ({"advanced_event_selector": [data_selector(field("resources.ARN", not_equals=[TABLE_ARN]))]}, []),
        ({"advanced_event_selector": [data_selector(field("eventName", equals=["GetItem"]))]}, []),
        (
            {
                "advanced_event_selector": [
                    {"field_selector": [field("eventCategory", equals=["Data"])]},
                    {"field_selector": [field("eventCategory", equals=["Management"])]},
                ]
            },
            [],
        ),
        (
            {
                "event_selector": [
                    {
                        "read_write_type": "All",
                        "data_resource": [{"type": "AWS::DynamoDB::Table", "values": ["arn:aws:dynamodb"]}],
                    }
                ]
            },
            ["*"],
        ),
        (
            {
                "event_selector": [
                    {
                        "read_write_type": "WriteOnly",
                        "data_resource": [{"type": "AWS::DynamoDB::Table", "values": ["arn:aws:dynamodb"]}],
                    }
                ]
            },
            [],
        ),
        ({"event_selector": [{"read_write_type": "All", "include_management_events": True}]}, []),
        ({}, []),
    ],
    ids=[
        "every-table",
        "reads-only",
        "reads-and-writes-apart",
        "one-table",
        "arn-prefix",
        "all-but-one",
        "one-api-call",
        "no-table-type",
        "basic-every-table",
        "basic-writes-only",
        "management-only",
        "no-selectors",
    ],
)
def test_a_trail_covers_the_tables_whose_every_read_and_write_it_records(
    values: dict[str, Any], scopes: list[str]
) -> None:
    assert planned_scopes(values) == scopes


def test_live_selectors_read_as_planned_ones() -> None:
    answer = {
        "AdvancedEventSelectors": [
            {
                "FieldSelectors": [
                    {"Field": "eventCategory", "Equals": ["Data"]},
                    {"Field": "resources.type", "Equals": ["AWS::DynamoDB::Table"]},
                    {"Field": "resources.ARN", "StartsWith": ["arn:aws:dynamodb:eu-central-1:"]},
                ]
            }
        ]
    }
    assert dynamodb_scopes(*live_selectors(answer)) == ["arn:aws:dynamodb:eu-central-1:*"]


def table(name: str = "ledger", region: str = "eu-central-1") -> Change:
    return Change(
        f"aws_dynamodb_table.{name}",
        "aws_dynamodb_table",
        {"name": name, "hash_key": "id", "tags": TAGS, "tags_all": TAGS},
        provider_key="aws" if region == "eu-central-1" else "aws.london",
    )


def trail(multi_region: bool = False, **values: Any) -> Change:
    return Change(
        "aws_cloudtrail.platform",
        "aws_cloudtrail",
        {"name": "platform", "is_multi_region_trail": multi_region, "tags": TAGS, **values},
    )


def audited(tmp_path: Path, *changes: Change) -> Any:
    discovery = discover_plan(write_plan(tmp_path / "plan.json", *changes), "acceptance")
    inventory = Inventory.merge("acceptance", [discovery])
    (found,) = (r for r in inventory.resources if r.native_type == "aws_dynamodb_table")
    return found.facts.get("audit_logging", UNKNOWN)


def test_a_planned_table_is_audited_by_a_trail_of_the_stage(tmp_path: Path) -> None:
    every_table = {"advanced_event_selector": [data_selector()]}
    assert audited(tmp_path, table(), trail(**every_table)) is True
    assert audited(tmp_path, table(), trail()) is False
    assert audited(tmp_path, table()) is False  # no trail at all
    assert audited(tmp_path, table(), trail(enable_logging=False, **every_table)) is False
    one_table = {"advanced_event_selector": [data_selector(field("resources.ARN", equals=[TABLE_ARN]))]}
    assert audited(tmp_path, table(), trail(**one_table)) is True
    assert audited(tmp_path, table("payouts"), trail(**one_table)) is False
    computed = table()
    computed.after = {**computed.after, "name": None}  # type: ignore[dict-item]
    computed.unknown = {"name": True}
    assert audited(tmp_path, computed, trail(**one_table)) is UNKNOWN
    # A prefix may or may not hold the table's ARN, which the plan does not know yet.
    prefix = {
        "advanced_event_selector": [data_selector(field("resources.ARN", starts_with=[TABLE_ARN[:-6]]))]
    }
    assert audited(tmp_path, table(), trail(**prefix)) is UNKNOWN


def test_a_trail_of_one_region_does_not_audit_a_table_of_another(tmp_path: Path) -> None:
    every_table = {"advanced_event_selector": [data_selector()]}
    assert audited(tmp_path, table(region="eu-west-2"), trail(**every_table)) is False
    assert audited(tmp_path, table(region="eu-west-2"), trail(multi_region=True, **every_table)) is True


def test_selectors_the_plan_cannot_show_leave_the_table_unknown(tmp_path: Path) -> None:
    computed = trail(advanced_event_selector=None)
    computed.unknown = {"advanced_event_selector": True}
    assert audited(tmp_path, table(), computed) is UNKNOWN


def test_a_live_table_is_audited_by_the_live_trail(aws: Clients) -> None:  # noqa: F811
    aws("s3").create_bucket(
        Bucket="trail-logs", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
    )
    tables = aws("dynamodb")
    tables.create_table(
        TableName="ledger",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        Tags=[{"Key": "stage", "Value": "acceptance"}],
    )
    cloudtrail = aws("cloudtrail")
    cloudtrail.create_trail(Name="platform", S3BucketName="trail-logs", IsMultiRegionTrail=True)
    cloudtrail.start_logging(Name="platform")
    source = AwsSource(regions=("eu-central-1",), endpoint_url=aws.endpoint)

    def ledger() -> Resource:
        inventory = Inventory.merge("acceptance", [discover_aws(source, "acceptance")])
        (found,) = (r for r in inventory.resources if r.native_type == "aws_dynamodb_table")
        return found

    assert ledger().facts["audit_logging"] is False
    cloudtrail.put_event_selectors(
        TrailName="platform",
        AdvancedEventSelectors=[
            {
                "Name": "tables",
                "FieldSelectors": [
                    {"Field": "eventCategory", "Equals": ["Data"]},
                    {"Field": "resources.type", "Equals": ["AWS::DynamoDB::Table"]},
                ],
            }
        ],
    )
    assert ledger().facts["audit_logging"] is True


def test_log_005_fails_a_cardholder_table_no_trail_records(pytester: pytest.Pytester) -> None:
    cde = {**TAGS, "data_classification": "cde"}
    ledger = table()
    ledger.after = {**ledger.after, "tags": cde, "tags_all": cde}  # type: ignore[dict-item]
    write_plan(pytester.path / "plan.json", ledger, trail(multi_region=True))
    pytester.makepyprojecttoml("[tool.regops]\n")
    run_project_suites(
        pytester, "--stage=acceptance", "--plan=plan.json", "--evidence-dir=out", "--control=LOG-005"
    )
    document = load_evidence(only_bundle(pytester.path / "out", "acceptance"))
    (control,) = (c for c in document["controls"] if c["id"] == "LOG-005")
    outcomes = {r["resource_id"]: r["outcome"] for r in control["results"]}
    assert outcomes == {"aws_dynamodb_table.ledger": "failed"}

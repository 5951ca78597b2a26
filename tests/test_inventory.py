"""The stage's inventory: resources of every source kept apart, and saved inventories read
strictly, so that nothing is dropped and nothing unknown passes."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from regops.discovery import Inventory, InventoryError, _discover_hosts, discover
from regops.discovery.inventory_file import discover_inventory
from regops.discovery.terraform_plan import discover_plan
from regops.model import KINDS, Discovery, Resource, SourceReport
from regops.stages import HostsConfig, resolve
from tests.plans import TAGS, Change, compliant_bucket, write_plan

CONFIG_SNAPSHOT = Path(__file__).parent / "fixtures" / "aws_config_snapshot.json"

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def bucket_plans(tmp_path: Path, stage: str = "system") -> tuple[Path, Path]:
    """Two root modules of one stage that both hold `aws_s3_bucket.data`: one private, one public."""
    tags = {**TAGS, "stage": stage}
    tmp_path.mkdir(parents=True, exist_ok=True)
    private = write_plan(tmp_path / "root_a.json", *compliant_bucket("data", stage))
    public = write_plan(
        tmp_path / "root_b.json",
        Change(
            "aws_s3_bucket.data",
            "aws_s3_bucket",
            {"bucket": "payments-data-b", "acl": "public-read", "tags": tags, "tags_all": tags},
        ),
        Change(
            "aws_s3_bucket.logs",
            "aws_s3_bucket",
            {"bucket": "payments-logs", "acl": "private", "tags": tags, "tags_all": tags},
        ),
    )
    return private, public


def resource(rid: str) -> Resource:
    return Resource(rid, "aws", "aws_s3_bucket", "object_store", "eu-central-1", "system", "planned", rid)


def source(location: str, *resources: Resource, sha256: str | None = "0" * 64) -> Discovery:
    report = SourceReport("terraform_plan", location, sha256, len(resources), True)
    return Discovery(resources, report)


def test_resources_of_one_id_from_two_sources_are_both_kept_under_their_source(tmp_path: Path) -> None:
    private, public = bucket_plans(tmp_path)
    inventory = Inventory.merge("system", [discover_plan(private, "system"), discover_plan(public, "system")])
    found = {r.id: r for r in inventory.resources if r.kind != "estate"}
    # an id only one source holds keeps its plain form
    assert sorted(found) == [
        "aws_s3_bucket.logs",
        "root_a.json:aws_s3_bucket.data",
        "root_b.json:aws_s3_bucket.data",
    ]
    # the address stays what Terraform calls it; the source still names the file
    assert found["root_b.json:aws_s3_bucket.data"].address == "aws_s3_bucket.data"
    assert found["root_b.json:aws_s3_bucket.data"].source == str(public)
    assert found["root_b.json:aws_s3_bucket.data"].facts["public"] is True
    assert found["root_a.json:aws_s3_bucket.data"].facts["public"] is False


def test_sources_of_one_file_name_are_told_apart_by_their_folders() -> None:
    inventory = Inventory.merge(
        "system",
        [
            source("/ci/work 1/roots/eu/main.json", resource("aws_s3_bucket.data")),
            source("/ci/work 1/roots/us/main.json", resource("aws_s3_bucket.data")),
            source("/ci/work 1/roots/eu/extra.json", resource("aws_s3_bucket.data")),
        ],
    )
    ids = sorted(r.id for r in inventory.resources if r.kind != "estate")
    # not the absolute path: a checkout's location changes from run to run, the ids must not
    assert ids == [
        "eu/main.json:aws_s3_bucket.data",
        "extra.json:aws_s3_bucket.data",
        "us/main.json:aws_s3_bucket.data",
    ]


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("aws:123456789012@aws", "aws:123456789012@aws:"),
        ("web 1, web 2", "web_1,_web_2:"),
        ("host::", "host:"),
    ],
)
def test_a_qualified_id_is_fit_for_a_pytest_node_id(location: str, expected: str) -> None:
    inventory = Inventory.merge(
        "system",
        [source(location, resource("x"), sha256=None), source("/plans/p.json", resource("x"))],
    )
    ids = {r.id for r in inventory.resources if r.kind != "estate"}
    assert ids == {f"{expected}x", "p.json:x"}
    assert not any(" " in i or "::" in i for i in ids)


def test_one_source_holding_an_id_twice_is_an_error_naming_it() -> None:
    with pytest.raises(InventoryError, match=r"^/plans/p\.json: more than one resource has the id 'x'$"):
        Inventory.merge("system", [source("/plans/p.json", resource("x"), resource("x"))])


def test_a_resource_that_takes_the_estates_id_is_an_error() -> None:
    with pytest.raises(InventoryError, match=r"^/plans/p\.json: the id 'estate:aws' is the stage's estate"):
        Inventory.merge("system", [source("/plans/p.json", resource("estate:aws"))])


def test_a_plan_named_twice_is_one_source(tmp_path: Path) -> None:
    private, public = bucket_plans(tmp_path)
    chosen = resolve(
        stage="system",
        plans=[str(public), str(private), str(tmp_path / "." / "root_b.json")],
        evidence_dir=None,
        fail_on=None,
        controls=(),
        frameworks=(),
        rootdir=tmp_path,
        pyproject=None,
    )
    inventory = discover(chosen)
    assert [s.location for s in inventory.sources] == [str(public), str(private)]
    assert "aws_s3_bucket.logs" in {r.id for r in inventory.resources}


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_a_host_or_endpoint_listed_twice_alike_is_looked_at_once() -> None:
    host, endpoint = f"paramiko://root@127.0.0.1:{closed_port()}", f"127.0.0.1:{closed_port()}"
    config = HostsConfig(targets=[host, host], tls_endpoints=[endpoint, endpoint])
    discovery = _discover_hosts("system", config, [], None)
    assert sorted(r.id for r in discovery.resources) == [f"host:{host[11:]}", f"tls:{endpoint}"]
    # unreachable: nothing is established, and the source says why
    assert discovery.report.complete is False
    assert len(Inventory.merge("system", [discovery]).resources) == 2


# A saved inventory is read strictly.


def saved_inventory(tmp_path: Path) -> Path:
    private, public = bucket_plans(tmp_path / "plans")
    inventory = Inventory.merge("system", [discover_plan(private, "system"), discover_plan(public, "system")])
    path = tmp_path / "inventory.json"
    inventory.write(path)
    return path


def edited(path: Path, edit: Any) -> Path:
    document = json.loads(path.read_text(encoding="utf-8"))
    edit(document)
    out = path.with_name("edited.json")
    out.write_text(json.dumps(document), encoding="utf-8")
    return out


def public_bucket(document: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = next(
        r for r in document["resources"] if r["id"] == "root_b.json:aws_s3_bucket.data"
    )
    return found


def test_a_saved_inventory_reads_back_as_it_was_written(tmp_path: Path) -> None:
    path = saved_inventory(tmp_path)
    again = Inventory.read(path)
    assert again.to_dict() == json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        # a kind no control is parametrised over would pass every control unjudged
        (lambda d: public_bucket(d).update(kind="firewall"), "kind 'firewall' is not one regops knows"),
        (lambda d: public_bucket(d).update(provider="oracle"), "provider 'oracle' is not one regops knows"),
        (lambda d: public_bucket(d).update(origin="imagined"), "origin 'imagined' is not one regops knows"),
        (lambda d: public_bucket(d).update(region=5), "region: Input should be a valid string"),
        (lambda d: public_bucket(d).update(tags=["a"]), "tags: Input should be a valid dictionary"),
        (lambda d: public_bucket(d).update(facts="x"), "facts: Input should be a valid dictionary"),
        (lambda d: public_bucket(d).pop("kind"), "kind: Field required"),
        (lambda d: public_bucket(d).update(stage="production"), "of stage 'production' in an inventory of"),
        (lambda d: d["resources"].append(dict(public_bucket(d))), "has the same id"),
    ],
)
def test_a_malformed_resource_is_one_error_naming_the_file_and_the_resource(
    tmp_path: Path, edit: Any, problem: str
) -> None:
    path = edited(saved_inventory(tmp_path), edit)
    with pytest.raises(InventoryError) as caught:
        discover_inventory(path, "system")
    message = str(caught.value)
    assert message.startswith(f"{path}: resources[")
    assert "(root_b.json:aws_s3_bucket.data)" in message
    assert problem in message


def test_a_resource_whose_id_is_not_text_is_named_by_its_place(tmp_path: Path) -> None:
    path = edited(saved_inventory(tmp_path), lambda d: public_bucket(d).update(id=5))
    with pytest.raises(InventoryError, match=r"resources\[\d+\]: id: Input should be a valid string$"):
        discover_inventory(path, "system")


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        # a string is not a boolean: "false" must not read as complete
        ("complete", "false", "complete: Input should be a valid boolean"),
        ("resource_count", True, "resource_count: Input should be a valid integer"),
        ("resource_count", -1, "resource_count: Input should be greater than or equal to 0"),
        ("errors", "AccessDenied", "errors: Input should be a valid list"),
    ],
)
def test_a_malformed_source_report_is_one_error_naming_the_file_and_the_source(
    tmp_path: Path, field: str, value: Any, problem: str
) -> None:
    path = edited(saved_inventory(tmp_path), lambda d: d["sources"][0].update({field: value}))
    with pytest.raises(InventoryError) as caught:
        discover_inventory(path, "system")
    assert str(caught.value).startswith(f"{path}: sources[0] (")
    assert "root_a.json)" in str(caught.value)
    assert problem in str(caught.value)


RESOURCE_FIELDS = (
    "id",
    "provider",
    "native_type",
    "kind",
    "region",
    "stage",
    "origin",
    "address",
    "source",
    "tags",
    "facts",
    "attributes",
    "components",
)
SOURCE_FIELDS = ("kind", "location", "sha256", "resource_count", "complete", "errors", "notes")


@settings(max_examples=300, deadline=None)
@given(
    part=st.sampled_from(["resource", "source", "document"]),
    field=st.sampled_from(RESOURCE_FIELDS + SOURCE_FIELDS + ("stage", "resources", "sources", "provides")),
    value=JSON | st.sampled_from(["global", "system", "object_store", "threat_detection"]),
    drop=st.booleans(),
)
@example(part="resource", field="tags", value={"\n": None}, drop=False)  # a key of two lines
def test_any_edit_of_a_saved_inventory_reads_or_is_one_clear_error(
    tmp_path_factory: pytest.TempPathFactory, part: str, field: str, value: Any, drop: bool
) -> None:
    def edit(document: dict[str, Any]) -> None:
        target = {"resource": public_bucket(document), "source": document["sources"][0]}.get(part, document)
        if field == "provides":
            target = public_bucket(document)["facts"]
        if drop:
            target.pop(field, None)
        else:
            target[field] = value

    path = edited(saved_inventory(tmp_path_factory.mktemp("inventory")), edit)
    error = None
    try:
        inventory = Inventory.merge("system", [discover_inventory(path, "system")])
    except InventoryError as exc:
        error = str(exc)
    if error is not None:
        assert error.startswith(f"{path}: ")
        assert "\n" not in error
        return
    assert all(r.kind in KINDS for r in inventory.resources)
    assert all(isinstance(r.region, str | None) for r in inventory.resources)
    assert all(isinstance(s.complete, bool) for s in inventory.sources)


# An AWS Config snapshot's items


def config_item_edited(tmp_path: Path, field: str, value: Any) -> Path:
    document = json.loads(CONFIG_SNAPSHOT.read_text(encoding="utf-8"))
    document["configurationItems"][0][field] = value
    path = tmp_path / "snapshot.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("awsRegion", 5, "awsRegion 5 is not a region name"),
        ("awsRegion", ["x"], "awsRegion ['x'] is not a region name"),
        # read as no tags, the bucket would be left out of the stage unjudged
        ("tags", ["stage"], "tags ['stage'] is not an object of strings"),
        ("tags", {"stage": ["acceptance"]}, "is not an object of strings"),
    ],
)
def test_a_config_item_of_a_malformed_field_is_one_error_naming_the_item(
    tmp_path: Path, field: str, value: Any, problem: str
) -> None:
    path = config_item_edited(tmp_path, field, value)
    with pytest.raises(InventoryError) as caught:
        Inventory.merge("acceptance", [discover_inventory(path, "acceptance")])
    assert str(caught.value).startswith(f"{path}: configuration item 1 (AWS::S3::Bucket arn:aws:s3:::")
    assert problem in str(caught.value)


def test_a_config_item_of_an_unreadable_status_is_one_error_naming_the_item(tmp_path: Path) -> None:
    path = config_item_edited(tmp_path, "configurationItemStatus", ["OK"])
    with pytest.raises(InventoryError, match=r"configuration item 1 has configurationItemStatus \['OK'\]$"):
        discover_inventory(path, "acceptance")


@settings(max_examples=200, deadline=None)
@given(
    field=st.sampled_from(
        ["awsRegion", "tags", "configurationItemStatus", "resourceId", "ARN", "awsAccountId", "resourceType"]
    ),
    value=JSON,
)
def test_any_config_item_field_reads_or_is_one_clear_error(
    tmp_path_factory: pytest.TempPathFactory, field: str, value: Any
) -> None:
    path = config_item_edited(tmp_path_factory.mktemp("config"), field, value)
    error = None
    try:
        inventory = Inventory.merge("acceptance", [discover_inventory(path, "acceptance")])
    except InventoryError as exc:
        error = str(exc)
    if error is not None:
        assert error.startswith(f"{path}: configuration item 1 ")
        return
    assert all(isinstance(r.region, str | None) for r in inventory.resources)

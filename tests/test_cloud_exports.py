"""Cloud exports as `--inventory` sources: an AWS Config snapshot, Azure Resource Graph query
output and a `gcloud asset export`, each judged like the live resources they describe."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regops.discovery import Inventory, InventoryError
from regops.discovery.inventory_file import discover_inventory
from regops.model import Discovery, Resource
from regops.normalize import aws
from regops.normalize.aws_config import CONFIG_TYPES, boto_keys
from tests.helpers import DEMO, load_evidence, only_bundle, run_project_suites
from tests.recorded_api import load_recording

CONFIG_SNAPSHOT = Path(__file__).parent / "fixtures" / "aws_config_snapshot.json"
ACCOUNT_BLOCK = "AWS::S3::AccountPublicAccessBlock"


def by_name(discovery: Discovery) -> dict[str, Resource]:
    return {r.id.rsplit("/", 1)[-1].rsplit(":", 1)[-1]: r for r in discovery.resources}


def write(tmp_path: Path, name: str, document: Any) -> Path:
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else json.dumps(document), encoding="utf-8")
    return path


def config_snapshot(edit: Any = None) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(CONFIG_SNAPSHOT.read_text(encoding="utf-8"))
    if edit is not None:
        edit(document["configurationItems"])
    return document


def item_of(items: list[dict[str, Any]], resource_id: str) -> dict[str, Any]:
    return next(i for i in items if i["resourceId"] == resource_id)


# AWS Config


def test_a_config_snapshot_gives_the_stages_resources_with_their_facts() -> None:
    discovery = discover_inventory(CONFIG_SNAPSHOT, "acceptance")
    assert discovery.report.kind == "aws-config-snapshot"
    assert discovery.report.complete, discovery.report.errors
    found = by_name(discovery)
    # Another stage's bucket, a deleted bucket, an AWS-managed key and an unjudged type are left out.
    assert set(found) == {
        "payments-card-vault-acceptance",
        "payments-partner-drop-acceptance",
        "sg-0a1b2c3d4e5f60718",
        "payments-ledger-acceptance",
        "payments-idempotency-acceptance",
        "4f2a8c1e-7b3d-4e9a-a1c5-9d8e7f6a5b4c",
        "vol-0123456789abcdef0",
        "i-0fedcba9876543210",
        "public-access-block",
    }
    vault = found["payments-card-vault-acceptance"]
    assert (vault.kind, vault.origin, vault.region) == ("object_store", "live", "eu-central-1")
    assert dict(vault.facts) == {
        "encrypted_at_rest": True,
        "encryption_cmk": True,
        "public": False,
        "https_only": True,
        "versioning": True,
        "access_logging": True,
    }
    # Its ACL grants AllUsers read, but the account blocks public ACLs: AWS applies the stricter.
    assert found["payments-partner-drop-acceptance"].facts["public"] is False
    assert found["payments-partner-drop-acceptance"].facts["versioning"] is False
    assert found["sg-0a1b2c3d4e5f60718"].facts["internet_ingress_ports"] == [[22, 22]]
    ledger = found["payments-ledger-acceptance"].facts
    assert (ledger["encryption_cmk"], ledger["backup_days"], ledger["zone_redundant"]) == (True, 14, True)
    table = found["payments-idempotency-acceptance"].facts  # Config spells it `ssedescription`
    assert (table["encryption_cmk"], table["pitr"]) == (True, True)
    assert found["4f2a8c1e-7b3d-4e9a-a1c5-9d8e7f6a5b4c"].facts["rotation_enabled"] is True
    assert found["vol-0123456789abcdef0"].facts["encrypted_at_rest"] is False
    assert found["i-0fedcba9876543210"].facts["imdsv2_required"] is True
    block = found["public-access-block"]
    assert (block.region, block.facts["public_access_blocked"]) == ("global", True)


def test_what_config_does_not_record_stays_unknown() -> None:
    found = by_name(discover_inventory(CONFIG_SNAPSHOT, "acceptance"))
    assert "tls_enforced" not in found["payments-ledger-acceptance"].facts  # parameter values
    assert "access_gaps" not in found["4f2a8c1e-7b3d-4e9a-a1c5-9d8e7f6a5b4c"].facts  # key policy


def test_without_the_account_block_a_bucket_not_blocked_itself_is_of_unknown_exposure(tmp_path: Path) -> None:
    def drop_account_block(items: list[dict[str, Any]]) -> None:
        items[:] = [i for i in items if i["resourceType"] != ACCOUNT_BLOCK]

    found = by_name(
        discover_inventory(write(tmp_path, "s.json", config_snapshot(drop_account_block)), "acceptance")
    )
    assert "public" not in found["payments-partner-drop-acceptance"].facts
    assert found["payments-card-vault-acceptance"].facts["public"] is False  # blocked on the bucket


def test_a_public_acl_without_any_block_is_public(tmp_path: Path) -> None:
    def open_account(items: list[dict[str, Any]]) -> None:
        block = next(i for i in items if i["resourceType"] == ACCOUNT_BLOCK)
        block["configuration"] = dict.fromkeys(block["configuration"], False)

    found = by_name(
        discover_inventory(write(tmp_path, "s.json", config_snapshot(open_account)), "acceptance")
    )
    assert found["payments-partner-drop-acceptance"].facts["public"] is True


def test_an_unreadable_bucket_policy_leaves_exposure_unknown(tmp_path: Path) -> None:
    def open_account_and_garble_policy(items: list[dict[str, Any]]) -> None:
        block = next(i for i in items if i["resourceType"] == ACCOUNT_BLOCK)
        block["configuration"] = dict.fromkeys(block["configuration"], False)
        bucket = item_of(items, "payments-partner-drop-acceptance")
        bucket["supplementaryConfiguration"]["AccessControlList"] = json.dumps({"grantList": []})
        bucket["supplementaryConfiguration"]["BucketPolicy"] = '{"policyText": "{\\"Statement'

    path = write(tmp_path, "s.json", config_snapshot(open_account_and_garble_policy))
    assert (
        "public"
        not in by_name(discover_inventory(path, "acceptance"))["payments-partner-drop-acceptance"].facts
    )


def test_config_api_output_with_configuration_as_text_reads_alike(tmp_path: Path) -> None:
    """`get-resource-config-history` returns `configuration` and supplementary values as JSON text."""
    document = config_snapshot()
    for item in document["configurationItems"]:
        item["arn"] = item.pop("ARN")
        item["configuration"] = json.dumps(item["configuration"])
        item["supplementaryConfiguration"] = {
            k: v if isinstance(v, str) else json.dumps(v)
            for k, v in item["supplementaryConfiguration"].items()
        }
    as_text = discover_inventory(write(tmp_path, "history.json", document), "acceptance")
    as_objects = discover_inventory(CONFIG_SNAPSHOT, "acceptance")
    assert [(r.id, r.facts) for r in as_text.resources] == [(r.id, r.facts) for r in as_objects.resources]


def test_a_config_item_reads_as_the_live_describe_call_it_records() -> None:
    item = item_of(config_snapshot()["configurationItems"], "sg-0a1b2c3d4e5f60718")
    from_config = by_name(discover_inventory(CONFIG_SNAPSHOT, "acceptance"))["sg-0a1b2c3d4e5f60718"]
    # The same group as ec2 describe_security_groups returns it.
    described = {
        "GroupId": "sg-0a1b2c3d4e5f60718",
        "IpPermissions": [
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.20.0.0/16"}]},
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
                "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
            },
        ],
    }
    assert item["configuration"]["groupId"] == described["GroupId"]
    assert from_config.facts == aws.live_security_group({"description": described})


def test_config_secrets_are_redacted() -> None:
    ledger = by_name(discover_inventory(CONFIG_SNAPSHOT, "acceptance"))["payments-ledger-acceptance"]
    pending = ledger.attributes["description"]["PendingModifiedValues"]
    assert pending["MasterUserPassword"] == "(redacted)"


def test_a_config_lambda_environment_is_judged_and_its_values_withheld(tmp_path: Path) -> None:
    def add_functions(items: list[dict[str, Any]]) -> None:
        instance = item_of(items, "i-0fedcba9876543210")
        for name, environment in {
            "payments-api": {"variables": {"dbPassword": "hunter2-literal", "LOG_LEVEL": "debug-level"}},
            "payments-worker": None,  # Config recorded no environment for it
            "payments-odd": {"variables": ["shaped", "otherwise"]},
            "payments-flat": "DB_PASSWORD=flat-literal",  # not the shape Config records
        }.items():
            configuration = {"functionName": name, "runtime": "python3.12"}
            if environment is not None:
                configuration["environment"] = environment
            items.append(
                {
                    **copy.deepcopy(instance),
                    "resourceType": "AWS::Lambda::Function",
                    "resourceId": name,
                    "ARN": f"arn:aws:lambda:eu-central-1:123456789012:function:{name}",
                    "configuration": configuration,
                }
            )

    path = write(tmp_path, "snapshot.json", config_snapshot(add_functions))
    found = by_name(discover_inventory(path, "acceptance"))
    assert found["payments-api"].facts["plaintext_secrets"] == ["dbPassword"]
    assert "plaintext_secrets" not in found["payments-worker"].facts
    assert "plaintext_secrets" not in found["payments-odd"].facts
    assert "plaintext_secrets" not in found["payments-flat"].facts
    evidence = json.dumps([resource.to_dict() for resource in found.values()])
    for value in ("hunter2-literal", "debug-level", "shaped", "flat-literal"):
        assert value not in evidence


def test_a_paged_config_output_is_incomplete(tmp_path: Path) -> None:
    document = {**config_snapshot(), "nextToken": "eyJwYWdlIjogMn0="}
    discovery = discover_inventory(write(tmp_path, "history.json", document), "acceptance")
    assert discovery.report.complete is False
    assert "nextToken" in discovery.report.errors[0]


def test_a_config_snapshot_with_nothing_of_the_stage_fails_closed() -> None:
    discovery = discover_inventory(CONFIG_SNAPSHOT, "production")
    assert discovery.resources == ()
    assert discovery.report.errors == ("no resource is tagged stage=production",)


def test_a_config_item_without_a_type_is_one_clear_error(tmp_path: Path) -> None:
    def break_third(items: list[dict[str, Any]]) -> None:
        del items[2]["resourceType"]

    path = write(tmp_path, "broken.json", config_snapshot(break_third))
    with pytest.raises(InventoryError, match=r"broken\.json: configuration item 3 has no resourceType"):
        discover_inventory(path, "acceptance")


NAMES = st.from_regex(r"[a-z][A-Za-z0-9]{0,11}", fullmatch=True)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(NAMES, inner, max_size=3),
    max_leaves=12,
)


def keys(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [k for key, item in value.items() for k in [key, *keys(item)]]
    if isinstance(value, list):
        return [k for item in value for k in keys(item)]
    return []


@given(JSON)
def test_boto_keys_respells_keys_and_nothing_else(value: Any) -> None:
    converted = boto_keys(value)
    assert [k.lower() for k in keys(converted)] == [k.lower() for k in keys(value)]
    assert boto_keys(converted) == converted


@given(
    resource_type=st.sampled_from(sorted(CONFIG_TYPES)),
    configuration=JSON,
    supplementary=st.dictionaries(
        st.sampled_from(["ServerSideEncryptionConfiguration", "AccessControlList", "KeyRotationStatus"]), JSON
    ),
)
def test_any_config_item_gives_a_resource_or_one_clear_error(
    tmp_path_factory: pytest.TempPathFactory, resource_type: str, configuration: Any, supplementary: Any
) -> None:
    item = {
        "resourceType": resource_type,
        "ARN": "arn:aws:service:eu-central-1:123456789012:thing/odd",
        "configuration": configuration,
        "supplementaryConfiguration": supplementary,
        "tags": {"stage": "acceptance"},
    }
    path = write(tmp_path_factory.mktemp("config"), "odd.json", {"configurationItems": [item]})
    error = None
    try:
        resources = discover_inventory(path, "acceptance").resources
    except InventoryError as exc:
        error, resources = str(exc), ()
    if error is not None:
        assert error.startswith(f"{path}: configuration item 1 ({resource_type} ")
    else:
        assert [r.native_type for r in resources] == [CONFIG_TYPES[resource_type][0]]


# Azure Resource Graph

AZURE_TYPES = ("storageAccounts", "networkSecurityGroups", "flexibleServers", "vaults", "disks")


def resource_graph_rows() -> list[dict[str, Any]]:
    """What `az graph query` returns for the demo subscription: ARM bodies, type lower-cased,
    with the subscription and resource group beside them."""
    rows = []
    for interaction in load_recording(DEMO / "azure_api.json"):
        parts = interaction["path"].split("/")
        if len(parts) != 9 or parts[7] not in AZURE_TYPES or interaction.get("query"):
            continue
        body = copy.deepcopy(interaction["responses"][0]["body"])
        body.update(type=body["type"].lower(), subscriptionId=parts[2], resourceGroup=parts[4])
        rows.append(body)
    return rows


def test_resource_graph_output_gives_the_stages_resources(tmp_path: Path) -> None:
    rows = resource_graph_rows()
    document = {"count": len(rows), "data": rows, "skip_token": None, "total_records": len(rows)}
    discovery = discover_inventory(write(tmp_path, "graph.json", document), "acceptance")
    assert discovery.report.kind == "azure-resource-graph"
    assert discovery.report.complete, discovery.report.errors
    found = by_name(discovery)
    assert {
        "stpayacclogs",
        "stpayaccexport",
        "nsg-payments-web",
        "psql-payments-acc",
        "kv-payments-acc",
    } <= set(found)
    export = found["stpayaccexport"]
    assert export.native_type == "Microsoft.Storage/storageAccounts"  # canonical, whatever the case
    assert export.facts["public"] is True
    assert found["nsg-payments-web"].facts["internet_ingress_ports"]
    # A row holds the resource only: what discovery reads beside it stays unknown.
    assert "versioning" not in export.facts
    assert "access_logging" not in export.facts


def test_a_bare_list_of_rows_reads_alike(tmp_path: Path) -> None:
    rows = resource_graph_rows()
    in_object = discover_inventory(write(tmp_path, "a.json", {"data": rows}), "acceptance")
    bare = discover_inventory(write(tmp_path, "b.json", rows), "acceptance")
    assert [(r.id, r.facts) for r in bare.resources] == [(r.id, r.facts) for r in in_object.resources]


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ({"skip_token": "ew0KICAiJGlkIjogIjEiDQp9"}, "skip_token is set"),
        ({"total_records": 500}, "of 500 records"),
    ],
)
def test_a_first_page_of_resource_graph_output_is_incomplete(
    tmp_path: Path, extra: dict[str, Any], error: str
) -> None:
    discovery = discover_inventory(
        write(tmp_path, "graph.json", {"data": resource_graph_rows(), **extra}), "acceptance"
    )
    assert discovery.report.complete is False
    assert error in discovery.report.errors[0]


def test_a_rule_shaped_otherwise_leaves_the_exposure_unknown_not_closed(tmp_path: Path) -> None:
    """A security rule that is text where ARM gives an object cannot be read as 'no open ports'."""
    rows = resource_graph_rows()
    nsg = next(r for r in rows if r["name"] == "nsg-payments-web")
    nsg["properties"]["securityRules"][0]["properties"] = "Allow * from Internet"
    found = by_name(discover_inventory(write(tmp_path, "graph.json", {"data": rows}), "acceptance"))
    assert "internet_ingress_ports" not in found["nsg-payments-web"].facts
    assert found["nsg-payments-web"].facts["enabled"] is True  # the rest stands


def test_a_resource_graph_row_without_an_id_is_one_clear_error(tmp_path: Path) -> None:
    rows = resource_graph_rows()
    del rows[1]["id"]
    with pytest.raises(InventoryError, match=r"graph\.json: row 2 is not a Resource Graph resource"):
        discover_inventory(write(tmp_path, "graph.json", {"data": rows}), "acceptance")


def test_rows_without_properties_leave_every_fact_of_them_unknown(tmp_path: Path) -> None:
    """`| project id, name, type, location, tags` leaves out what the facts are read from."""
    projected = [
        {key: row[key] for key in ("id", "name", "type", "location", "tags")} for row in resource_graph_rows()
    ]
    discovery = discover_inventory(write(tmp_path, "graph.json", {"data": projected}), "acceptance")
    found = by_name(discovery)
    assert {"stpayaccexport", "nsg-payments-web", "psql-payments-acc", "kv-payments-acc"} <= set(found)
    assert {name: dict(r.facts) for name, r in found.items()} == {name: {"taggable": True} for name in found}


@pytest.mark.parametrize(
    ("name", "path", "fact", "kept"),
    [
        ("stpayaccexport", ("supportsHttpsTrafficOnly",), "https_only", "tls_min_version"),
        ("stpayaccexport", ("allowBlobPublicAccess",), "public", "https_only"),
        ("psql-payments-acc", ("backup", "backupRetentionDays"), "backup_days", "zone_redundant"),
        ("nsg-payments-web", ("securityRules",), "internet_ingress_ports", "enabled"),
        (
            "nsg-payments-web",
            ("securityRules", 0, "properties", "direction"),
            "internet_ingress_ports",
            "enabled",
        ),
        (
            "nsg-payments-web",
            ("securityRules", 0, "properties", "priority"),
            "internet_ingress_ports",
            "enabled",
        ),
    ],
)
def test_a_setting_azure_gives_no_meaning_unset_is_unknown(
    tmp_path: Path, name: str, path: tuple[Any, ...], fact: str, kept: str
) -> None:
    rows = resource_graph_rows()
    parent = next(r for r in rows if r["name"] == name)["properties"]
    for step in path[:-1]:
        parent = parent[step]
    del parent[path[-1]]
    found = by_name(discover_inventory(write(tmp_path, "graph.json", {"data": rows}), "acceptance"))
    assert fact not in found[name].facts
    assert kept in found[name].facts  # the rest stands


def test_an_account_closed_to_public_networks_is_not_public_whatever_else_is_unset(tmp_path: Path) -> None:
    rows = resource_graph_rows()
    logs = next(r for r in rows if r["name"] == "stpayacclogs")["properties"]
    del logs["allowBlobPublicAccess"]
    found = by_name(discover_inventory(write(tmp_path, "graph.json", {"data": rows}), "acceptance"))
    assert logs["publicNetworkAccess"] == "Disabled"
    assert found["stpayacclogs"].facts["public"] is False


@pytest.mark.parametrize(
    ("protocol", "destination", "open_ports"),
    [
        ("*", "*", [[443, 443]]),
        ("Udp", "*", [[22, 22], [443, 443]]),
        ("*", "10.0.0.5", [[22, 22], [443, 443]]),
    ],
)
def test_a_deny_rule_hides_a_later_allow_only_when_it_covers_it(
    tmp_path: Path, protocol: str, destination: str, open_ports: list[list[int]]
) -> None:
    rows = resource_graph_rows()
    rules = next(r for r in rows if r["name"] == "nsg-payments-web")["properties"]["securityRules"]
    deny = {
        "protocol": protocol,
        "sourcePortRange": "*",
        "destinationPortRange": "22",
        "sourceAddressPrefix": "*",
        "destinationAddressPrefix": destination,
        "access": "Deny",
        "priority": 150,
        "direction": "Inbound",
    }
    rules.append({"name": "deny-ssh", "properties": deny})
    found = by_name(discover_inventory(write(tmp_path, "graph.json", {"data": rows}), "acceptance"))
    assert found["nsg-payments-web"].facts["internet_ingress_ports"] == open_ports


def test_a_credential_in_a_tag_never_reaches_the_inventory(tmp_path: Path) -> None:
    secret = "sv=2024-11-04&ss=b&sig=c2FzLXNpZ25hdHVyZQ"
    rows = resource_graph_rows()
    export = next(r for r in rows if r["name"] == "stpayaccexport")
    export["tags"]["sas_token"] = secret
    discovery = discover_inventory(write(tmp_path, "graph.json", {"data": rows}), "acceptance")
    resource = by_name(discovery)["stpayaccexport"]
    assert resource.tags["sas_token"] == "(redacted)"
    assert resource.tags["stage"] == "acceptance"  # what discovery and controls read stays
    assert resource.tags["data_classification"] == "confidential"
    Inventory.merge("acceptance", [discovery]).write(tmp_path / "inventory.json")
    assert secret not in (tmp_path / "inventory.json").read_text(encoding="utf-8")


# gcloud asset export

SNAKE = {"assetType": "asset_type", "iamPolicy": "iam_policy", "updateTime": "update_time"}


def asset_export(policies: bool = True) -> str:
    """The demo project as `gcloud asset export` writes it: one asset per line, snake_case
    field names, the RESOURCE export and the IAM_POLICY export concatenated."""
    lines = []
    for interaction in load_recording(DEMO / "gcp_api.json"):
        if interaction["query"].get("contentType") == "2" and not policies:
            continue
        for asset in interaction["responses"][0]["body"]["assets"]:
            lines.append(json.dumps({SNAKE.get(k, k): v for k, v in asset.items()}))
    return "\n".join(lines) + "\n"


def test_a_gcloud_asset_export_gives_the_stages_resources(tmp_path: Path) -> None:
    discovery = discover_inventory(write(tmp_path, "assets.ndjson", asset_export()), "acceptance")
    assert discovery.report.kind == "gcp-asset-export"
    assert discovery.report.complete, discovery.report.errors
    found = by_name(discovery)
    assert "payments-sys-scratch" not in found  # labelled for the system stage
    assert found["payments-acc-public-assets"].facts["public"] is True  # allUsers, from its policy line
    assert found["payments-cmk"].facts["rotation_period_days"] == 90
    assert found["482113579024"].facts["data_access_logged"] is True  # snake_case audit configs
    grants = found["482113579024#iamPolicy"]  # the project's IAM policy, judged as a grant of rights
    assert (grants.kind, grants.facts["admin"], grants.facts["access_gaps"]) == ("access_policy", True, [])


def test_an_export_without_iam_policies_leaves_their_facts_unknown(tmp_path: Path) -> None:
    discovery = discover_inventory(
        write(tmp_path, "assets.ndjson", asset_export(policies=False)), "acceptance"
    )
    found = by_name(discovery)
    assert "public" not in found["payments-acc-public-assets"].facts
    assert found["payments-acc-public-assets"].facts["encrypted_at_rest"] is True
    assert "admin" not in found["482113579024#iamPolicy"].facts
    assert "no IAM policies in the export: facts that read them stay unknown" in discovery.report.notes


def test_a_bucket_without_its_iam_line_is_not_taken_for_private(tmp_path: Path) -> None:
    # Every bucket has a policy: one missing from the IAM lines was not exported.
    lines = [
        line
        for line in asset_export().splitlines()
        if not (
            json.loads(line).get("iam_policy") and "payments-acc-public-assets" in json.loads(line)["name"]
        )
    ]
    found = by_name(
        discover_inventory(write(tmp_path, "assets.ndjson", "\n".join(lines) + "\n"), "acceptance")
    )
    assert "public" not in found["payments-acc-public-assets"].facts
    assert found["payments-cmk"].facts["access_gaps"] == []  # a key without bindings has none


RING = "//cloudkms.googleapis.com/projects/payments-acceptance-4821/locations/europe-west3/keyRings/payments"


def ring_policy_line(*bindings: dict[str, Any]) -> str:
    return (
        json.dumps(
            {
                "name": RING,
                "asset_type": "cloudkms.googleapis.com/KeyRing",
                "iam_policy": {"bindings": list(bindings)},
            }
        )
        + "\n"
    )


def test_a_key_ring_s_iam_is_judged_on_every_key_in_it(tmp_path: Path) -> None:
    everyone = {"role": "roles/cloudkms.cryptoKeyDecrypter", "members": ["allUsers"]}
    path = write(tmp_path, "assets.ndjson", asset_export() + ring_policy_line(everyone))
    found = by_name(discover_inventory(path, "acceptance"))
    for key in ("payments-cmk", "legacy-export"):
        assert found[key].facts["access_gaps"] == [
            "IAM on the key ring grants its keys to allUsers or allAuthenticatedUsers"
        ]
    admin = {"role": "roles/cloudkms.admin", "members": ["user:ops@example.com"]}
    user = {"role": "roles/cloudkms.cryptoKeyEncrypterDecrypter", "members": ["user:ops@example.com"]}
    path = write(tmp_path, "duties.ndjson", asset_export() + ring_policy_line(admin, user))
    gaps = by_name(discover_inventory(path, "acceptance"))["legacy-export"].facts["access_gaps"]
    assert gaps == [
        f"user:ops@example.com both administers the key ({admin['role']}) and encrypts or decrypts with it"
    ]
    # Without the IAM lines, what the ring grants is not known.
    unread = discover_inventory(write(tmp_path, "bare.ndjson", asset_export(policies=False)), "acceptance")
    assert "access_gaps" not in by_name(unread)["legacy-export"].facts


CLUSTER = (
    "//container.googleapis.com/projects/payments-acceptance-4821/locations/europe-west3/clusters/gke-acc"
)


def cluster_line(**data: Any) -> str:
    """A GKE cluster as `gcloud asset export` writes it; its labels are `resourceLabels`."""
    record = {
        "name": CLUSTER,
        "asset_type": "container.googleapis.com/Cluster",
        "resource": {
            "version": "v1",
            "location": "europe-west3",
            "data": {
                "name": "gke-acc",
                "resourceLabels": {"stage": "acceptance", "owner": "payments-platform"},
                "privateClusterConfig": {"enablePrivateEndpoint": True},
                **data,
            },
        },
    }
    return json.dumps(record) + "\n"


def test_a_cluster_is_in_the_stage_by_its_resource_labels(tmp_path: Path) -> None:
    path = write(tmp_path, "assets.ndjson", asset_export() + cluster_line())
    cluster = by_name(discover_inventory(path, "acceptance"))["gke-acc"]
    assert (cluster.kind, cluster.tags["stage"]) == ("cluster", "acceptance")
    assert cluster.facts["control_plane_public"] is False
    other_stage = write(
        tmp_path, "other.ndjson", asset_export() + cluster_line(resourceLabels={"stage": "system"})
    )
    assert "gke-acc" not in by_name(discover_inventory(other_stage, "acceptance"))


@pytest.mark.parametrize(
    ("authorised", "public"),
    [
        ({"enabled": True, "gcpPublicCidrsAccessEnabled": True}, True),
        ({"enabled": True, "gcpPublicCidrsAccessEnabled": False}, False),
        ({"enabled": True}, None),
        (
            {
                "enabled": True,
                "gcpPublicCidrsAccessEnabled": False,
                "cidrBlocks": [{"cidrBlock": "0.0.0.0/0"}],
            },
            True,
        ),
        ({"enabled": False, "gcpPublicCidrsAccessEnabled": False}, True),
    ],
    ids=["compute-engine-addresses", "off", "left-to-gke", "the-internet", "no-authorised-networks"],
)
def test_a_public_cluster_endpoint_is_judged_by_who_may_reach_it(
    tmp_path: Path, authorised: dict[str, Any], public: bool | None
) -> None:
    line = cluster_line(privateClusterConfig={}, masterAuthorizedNetworksConfig=authorised)
    path = write(tmp_path, "assets.ndjson", asset_export() + line)
    assert (
        by_name(discover_inventory(path, "acceptance"))["gke-acc"].facts.get("control_plane_public") is public
    )


def test_metadata_and_cluster_credentials_never_reach_the_inventory(tmp_path: Path) -> None:
    secrets = {
        "db-password": "hunter2-metadata",
        "startup-script": "#!/bin/sh\nexport PGPASSWORD=hunter2-in-script",
        "windows-startup-script-ps1": "$key = 'hunter2-powershell'",
        "user-data": "#cloud-config\npassword: hunter2-cloud-init",
    }
    lines = []
    for line in asset_export().splitlines():
        record = json.loads(line)
        if record["name"].endswith("/instances/batch-worker-1") and record.get("resource"):
            items = record["resource"]["data"]["metadata"]["items"]
            items.extend({"key": key, "value": value} for key, value in secrets.items())
        lines.append(json.dumps(record))
    master_auth = {
        "clientKey": "LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQ",
        "clientCertificate": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t",
        "password": "hunter2-basic-auth",
        "clusterCaCertificate": "Y2x1c3Rlci1jYS1jZXJ0aWZpY2F0ZQ",
    }
    path = write(tmp_path, "assets.ndjson", "\n".join(lines) + "\n" + cluster_line(masterAuth=master_auth))
    discovery = discover_inventory(path, "acceptance")
    worker = by_name(discovery)["batch-worker-1"]
    items = {i["key"]: i["value"] for i in worker.attributes["data"]["metadata"]["items"]}
    # That a startup script exists stays visible; settings that are no secret stay as they are.
    assert items["startup-script"] == "(redacted)"
    assert items["block-project-ssh-keys"] == "true"
    assert "project-wide SSH keys accepted" not in worker.facts["hardening_gaps"]
    cluster = by_name(discovery)["gke-acc"]
    assert (
        cluster.attributes["data"]["masterAuth"]["clusterCaCertificate"]
        == master_auth["clusterCaCertificate"]
    )
    Inventory.merge("acceptance", [discovery]).write(tmp_path / "inventory.json")
    written = (tmp_path / "inventory.json").read_text(encoding="utf-8")
    for secret in [
        *secrets.values(),
        "systemctl start batch",
        master_auth["clientKey"],
        master_auth["password"],
    ]:
        assert secret.split("\n")[-1] not in written  # its last line: JSON escapes line breaks


def test_a_truncated_export_names_the_line(tmp_path: Path) -> None:
    text = asset_export()
    truncated = text[: text.index("\n", len(text) // 2) + 40]
    line = truncated.count("\n") + 1
    with pytest.raises(InventoryError, match=rf"assets\.ndjson: line {line} is not JSON .*truncated"):
        discover_inventory(write(tmp_path, "assets.ndjson", truncated), "acceptance")


def test_an_export_of_another_project_fails_closed(tmp_path: Path) -> None:
    discovery = discover_inventory(write(tmp_path, "assets.ndjson", asset_export()), "production")
    assert discovery.resources == ()
    assert discovery.report.complete is False


# End to end


def test_a_config_snapshot_gates_a_stage(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml("[tool.regops]\n")
    result = run_project_suites(
        pytester,
        "--stage=acceptance",
        f"--inventory={CONFIG_SNAPSHOT}",
        "--evidence-dir=out",
    )
    assert result.ret == 1
    document = load_evidence(only_bundle(pytester.path / "out", "acceptance"))
    outcomes = {
        (c["id"], r["resource_id"].rsplit("/", 1)[-1].rsplit(":", 1)[-1]): r["outcome"]
        for c in document["controls"]
        for r in c["results"]
        if r["resource_id"]
    }
    assert outcomes[("NET-001", "sg-0a1b2c3d4e5f60718")] == "failed"  # SSH from anywhere
    assert outcomes[("ENC-002", "vol-0123456789abcdef0")] == "failed"
    assert outcomes[("ENC-001", "payments-card-vault-acceptance")] == "passed"
    # TLS enforcement is not in the snapshot: an error, never a pass.
    assert outcomes[("ENC-005", "payments-ledger-acceptance")] == "error"
    (source,) = document["sources"]
    assert (source["kind"], source["complete"]) == ("aws-config-snapshot", True)


def test_projected_resource_graph_rows_gate_as_errors(pytester: pytest.Pytester, tmp_path: Path) -> None:
    projected = [
        {key: row[key] for key in ("id", "name", "type", "location", "tags")} for row in resource_graph_rows()
    ]
    pytester.makepyprojecttoml("[tool.regops]\n")
    result = run_project_suites(
        pytester,
        "--stage=acceptance",
        f"--inventory={write(tmp_path, 'graph.json', {'data': projected})}",
        "--evidence-dir=out",
    )
    assert result.ret == 1
    document = load_evidence(only_bundle(pytester.path / "out", "acceptance"))
    outcomes = {
        (c["id"], r["resource_id"].rsplit("/", 1)[-1]): r["outcome"]
        for c in document["controls"]
        if c["facts"]  # the tagging controls read the tags the rows do carry
        for r in c["results"]
        if r["resource_id"] and "/subscriptions/" in r["resource_id"]
    }
    assert outcomes[("NET-001", "nsg-payments-web")] == "error"
    assert outcomes[("ENC-001", "stpayaccexport")] == "error"
    assert "passed" not in outcomes.values(), outcomes

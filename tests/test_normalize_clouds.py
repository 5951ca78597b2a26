"""Azure and GCP planned values to facts, and properties every normaliser must keep."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regops.discovery.terraform_plan import discover_plan
from regops.model import UNKNOWN, Resource
from regops.normalize import aws, azure, gcp
from tests.helpers import DEMO
from tests.plans import TAGS, Change, refer, write_plan

CLOUDS = {"aws": aws, "azure": azure, "gcp": gcp}


def azure_facts(native_type: str, values: dict[str, Any], **related: list[dict[str, Any]]) -> dict[str, Any]:
    return azure.PLANNED[native_type].facts(values, related)


def gcp_facts(native_type: str, values: dict[str, Any], **related: list[dict[str, Any]]) -> dict[str, Any]:
    return gcp.PLANNED[native_type].facts(values, related)


def rule(priority: int, access: str, source: str, ports: str) -> dict[str, Any]:
    return {
        "priority": priority,
        "direction": "Inbound",
        "access": access,
        "source_address_prefix": source,
        "destination_port_range": ports,
    }


def test_nsg_respects_an_earlier_deny() -> None:
    found = azure_facts(
        "azurerm_network_security_group",
        {"security_rule": [rule(100, "Deny", "Internet", "22"), rule(200, "Allow", "*", "22")]},
        azurerm_network_security_rule=[
            rule(300, "Allow", "0.0.0.0/0", "443"),
            rule(310, "Allow", "10.0.0.0/8", "3389"),
        ],
    )
    assert found["internet_ingress_ports"] == [[443, 443]]


def test_storage_account_tls_public_and_keys() -> None:
    found = azure_facts(
        "azurerm_storage_account",
        {
            "min_tls_version": "TLS1_0",
            "https_traffic_only_enabled": False,
            "allow_nested_items_to_be_public": True,
            "public_network_access_enabled": True,
            "customer_managed_key": [],
        },
    )
    assert (found["tls_min_version"], found["https_only"], found["public"]) == ("1.0", False, True)
    assert found["encryption_cmk"] is False
    joined = azure_facts("azurerm_storage_account", {}, azurerm_storage_account_customer_managed_key=[{}])
    assert (joined["encryption_cmk"], joined["tls_min_version"], joined["https_only"]) == (True, "1.2", True)


def test_key_vault_key_rotation_and_vault_protection() -> None:
    key = {"rotation_policy": [{"expire_after": "P1Y", "automatic": [{"time_before_expiry": "P30D"}]}]}
    found = azure_facts("azurerm_key_vault_key", key, azurerm_key_vault=[{"purge_protection_enabled": False}])
    assert (found["rotation_enabled"], found["rotation_period_days"], found["deletion_protected"]) == (
        True,
        335,
        False,
    )
    assert azure_facts("azurerm_key_vault_key", {"rotation_policy": []})["rotation_enabled"] is False


def test_postgres_flexible_server_tls_from_configuration() -> None:
    off = [{"name": "require_secure_transport", "value": "OFF"}]
    found = azure_facts(
        "azurerm_postgresql_flexible_server",
        {"backup_retention_days": 7, "high_availability": [{"mode": "SameZone"}]},
        azurerm_postgresql_flexible_server_configuration=off,
    )
    assert (found["tls_enforced"], found["backup_days"], found["zone_redundant"]) == (False, 7, False)
    assert "deletion_protection" not in found  # no lock in the plan: unknown, not false


def test_subscription_diagnostic_setting_covers_all_regions() -> None:
    setting = {
        "target_resource_id": "/subscriptions/0000",
        "log_analytics_workspace_id": "/x",
        "enabled_log": [{"category": "Administrative"}],
    }
    assert azure_facts("azurerm_monitor_diagnostic_setting", setting)["covers_all_regions"] is True
    on_vault = {**setting, "target_resource_id": "/subscriptions/0000/resourceGroups/rg/providers/x/vaults/v"}
    assert azure_facts("azurerm_monitor_diagnostic_setting", on_vault)["covers_all_regions"] is False
    assert (
        azure_facts("azurerm_monitor_diagnostic_setting", {**setting, "enabled_log": []})["enabled"] is False
    )


def test_gcs_bucket_public_through_iam_unless_prevention_enforced() -> None:
    member = [{"member": "allUsers", "role": "roles/storage.objectViewer"}]
    assert gcp_facts("google_storage_bucket", {}, google_storage_bucket_iam_member=member)["public"] is True
    enforced = {"public_access_prevention": "enforced"}
    assert (
        gcp_facts("google_storage_bucket", enforced, google_storage_bucket_iam_member=member)["public"]
        is False
    )
    binding = [{"members": ["user:a@example.com", "allAuthenticatedUsers"]}]
    assert gcp_facts("google_storage_bucket", {}, google_storage_bucket_iam_binding=binding)["public"] is True


def iam_policy(*members: str) -> str:
    """The `policy_data` a `google_iam_policy` data source renders."""
    return json.dumps({"bindings": [{"role": "roles/storage.objectViewer", "members": list(members)}]})


def planned_bucket_with_policy(tmp_path: Path, policy: dict[str, Any], unknown: dict[str, Any]) -> Resource:
    bucket = "google_storage_bucket.assets"
    changes = [
        Change(bucket, "google_storage_bucket", {"name": "payments-assets", "labels": TAGS}),
        Change(
            "google_storage_bucket_iam_policy.assets",
            "google_storage_bucket_iam_policy",
            {"bucket": "payments-assets", **policy},
            unknown=unknown,
            expressions={"bucket": refer(f"{bucket}.name", bucket)},
        ),
    ]
    (found,) = discover_plan(write_plan(tmp_path / "plan.json", *changes), "acceptance").resources
    return found


@pytest.mark.parametrize(
    ("policy", "unknown", "public"),
    [
        ({"policy_data": iam_policy("user:ops@example.com", "allUsers")}, {}, True),
        ({"policy_data": iam_policy("allAuthenticatedUsers")}, {}, True),
        ({"policy_data": iam_policy("group:payments@example.com")}, {}, False),
        ({}, {"policy_data": True}, None),  # known only after apply
        ({"policy_data": "not a policy"}, {}, None),
    ],
    ids=["allUsers", "allAuthenticatedUsers", "a-group", "known-after-apply", "unreadable"],
)
def test_gcs_bucket_public_through_its_authoritative_iam_policy(
    tmp_path: Path, policy: dict[str, Any], unknown: dict[str, Any], public: bool | None
) -> None:
    bucket = planned_bucket_with_policy(tmp_path, policy, unknown)
    assert list(bucket.components) == ["google_storage_bucket_iam_policy.assets"]
    assert bucket.facts.get("public") is public
    assert bucket.facts["encrypted_at_rest"] is True


def test_kms_key_granted_to_everyone_through_its_iam_policy() -> None:
    policy = [{"crypto_key_id": "k", "policy_data": iam_policy("allUsers")}]
    found = gcp_facts("google_kms_crypto_key", {}, google_kms_crypto_key_iam_policy=policy)
    assert found["access_gaps"] == ["IAM grants the key to allUsers or allAuthenticatedUsers"]


def test_a_gke_cluster_is_labelled_through_resource_labels(tmp_path: Path) -> None:
    change = Change("google_container_cluster.gke", "google_container_cluster", {"resource_labels": TAGS})
    (found,) = discover_plan(write_plan(tmp_path / "plan.json", change), "acceptance").resources
    assert dict(found.tags) == TAGS


def test_cloud_sql_facts() -> None:
    values = {
        "database_version": "POSTGRES_16",
        "settings": [
            {
                "availability_type": "ZONAL",
                "ip_configuration": [
                    {
                        "ipv4_enabled": True,
                        "ssl_mode": "ALLOW_UNENCRYPTED_AND_ENCRYPTED",
                        "authorized_networks": [{"value": "0.0.0.0/0"}],
                    }
                ],
                "backup_configuration": [{"enabled": False}],
            }
        ],
    }
    found = gcp_facts("google_sql_database_instance", values)
    assert found["public"] is True
    assert found["tls_enforced"] is False
    assert found["backup_days"] == 0
    assert found["zone_redundant"] is False
    assert found["engine"] == "postgres"


def test_firewall_and_kms_key() -> None:
    firewall = {
        "direction": "INGRESS",
        "source_ranges": ["0.0.0.0/0"],
        "allow": [{"protocol": "tcp", "ports": ["22", "8000-8080"]}],
    }
    assert gcp_facts("google_compute_firewall", firewall)["internet_ingress_ports"] == [
        [22, 22],
        [8000, 8080],
    ]
    assert (
        gcp_facts("google_compute_firewall", {**firewall, "disabled": True})["internet_ingress_ports"] == []
    )
    key = gcp_facts(
        "google_kms_crypto_key", {"rotation_period": "7776000s", "destroy_scheduled_duration": "86400s"}
    )
    assert (key["rotation_period_days"], key["deletion_protected"]) == (90, False)


def demo_values() -> list[tuple[str, str, dict[str, Any]]]:
    """(cloud, type, values) of every normalised resource in the demo plans."""
    found = []
    for stage in ("system", "acceptance", "production"):
        plan = json.loads((DEMO / f"{stage}.plan.json").read_text())
        for change in plan["resource_changes"]:
            after = change["change"]["after"]
            for cloud_name, cloud in CLOUDS.items():
                if after is not None and change["type"] in cloud.PLANNED:
                    found.append((cloud_name, change["type"], after))
    return found


DEMO_VALUES = demo_values()


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    paths = [prefix] if prefix else []
    if isinstance(node, Mapping):
        for key, value in node.items():
            paths.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            paths.extend(_paths(value, (*prefix, index)))
    return paths


def _replace(node: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(node, Mapping):
        return {k: _replace(v, rest, value) if k == head else v for k, v in node.items()}
    return [_replace(v, rest, value) if i == head else v for i, v in enumerate(node)]


@given(data=st.data())
def test_an_unknown_anywhere_never_raises_and_never_becomes_a_fact(data: st.DataObject) -> None:
    cloud, native_type, values = data.draw(st.sampled_from(DEMO_VALUES), label="resource")
    path = data.draw(st.sampled_from(_paths(values)), label="path")
    masked = _replace(values, path, UNKNOWN)
    facts = CLOUDS[cloud].PLANNED[native_type].facts(masked, {})
    assert UNKNOWN not in facts.values()
    baseline = CLOUDS[cloud].PLANNED[native_type].facts(values, {})
    # masking an input can only take facts away, never invent or change one
    assert set(facts) <= set(baseline)
    assert all(facts[name] == baseline[name] for name in facts)


@pytest.mark.parametrize("cloud", sorted(CLOUDS))
def test_every_normaliser_names_a_known_kind(cloud: str) -> None:
    from regops.model import KINDS

    assert {planned.kind for planned in CLOUDS[cloud].PLANNED.values()} <= set(KINDS)

"""Azure and GCP planned values to facts, and properties every normaliser must keep."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from regops.discovery.terraform_plan import discover_plan
from regops.model import UNKNOWN, Resource
from regops.normalize import aws, azure, azure_arm, gcp
from regops.normalize.common import is_internet
from tests.helpers import DEMO
from tests.plans import TAGS, Change, refer, write_plan

CLOUDS = {"aws": aws, "azure": azure, "gcp": gcp}


def azure_facts(native_type: str, values: dict[str, Any], **related: list[dict[str, Any]]) -> dict[str, Any]:
    return azure.PLANNED[native_type].facts(values, related)


def gcp_facts(native_type: str, values: dict[str, Any], **related: list[dict[str, Any]]) -> dict[str, Any]:
    return gcp.PLANNED[native_type].facts(values, related)


def rule(
    priority: int, access: str, source: str, ports: str, protocol: str = "*", destination: str = "*"
) -> dict[str, Any]:
    return {
        "priority": priority,
        "direction": "Inbound",
        "access": access,
        "protocol": protocol,
        "source_address_prefix": source,
        "destination_address_prefix": destination,
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


@pytest.mark.parametrize(
    ("deny", "allow", "open_ports"),
    [
        (
            rule(100, "Deny", "Internet", "*", "Udp"),
            rule(200, "Allow", "Internet", "3389", "Tcp"),
            [[3389, 3389]],
        ),
        (
            rule(100, "Deny", "*", "*", destination="10.0.0.5"),
            rule(200, "Allow", "*", "22", "Tcp"),
            [[22, 22]],
        ),
        (rule(100, "Deny", "0.0.0.0/1", "*"), rule(200, "Allow", "*", "22", "Tcp"), [[22, 22]]),
        (rule(100, "Deny", "10.0.0.0/8", "*"), rule(200, "Allow", "*", "22", "Tcp"), [[22, 22]]),
        (rule(100, "Deny", "*", "20-30"), rule(200, "Allow", "*", "22-40", "Tcp"), [[22, 40]]),
        ({**rule(100, "Deny", "*", "*"), "protocol": None}, rule(200, "Allow", "*", "22"), [[22, 22]]),
        (rule(100, "Deny", "Internet", "*", "Tcp"), rule(200, "Allow", "*", "22", "Tcp"), []),
        (rule(100, "Deny", "0.0.0.0/0", "0-1024"), rule(200, "Allow", "0.0.0.0/1", "22", "Tcp"), []),
        (
            rule(100, "Deny", "*", "*", destination="10.0.0.5"),
            rule(200, "Allow", "*", "22", destination="10.0.0.5"),
            [],
        ),
    ],
    ids=[
        "other-protocol",
        "other-destination",
        "half-the-internet",
        "private-source",
        "part-of-the-span",
        "no-protocol",
        "same-protocol",
        "wider-source",
        "same-destination",
    ],
)
def test_nsg_deny_shadows_an_allow_only_for_every_packet_it_admits(
    deny: dict[str, Any], allow: dict[str, Any], open_ports: list[list[int]]
) -> None:
    found = azure_facts("azurerm_network_security_group", {"security_rule": [deny, allow]})
    assert found["internet_ingress_ports"] == open_ports


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


def test_storage_account_nested_items_may_be_public_unless_switched_off() -> None:
    # azurerm 3.x and 4.x default allow_nested_items_to_be_public to true.
    assert azure_facts("azurerm_storage_account", {"public_network_access_enabled": True})["public"] is True
    private = {"public_network_access_enabled": True, "allow_nested_items_to_be_public": False}
    assert azure_facts("azurerm_storage_account", private)["public"] is False


def test_key_vault_key_rotation_and_vault_protection() -> None:
    key = {"rotation_policy": [{"expire_after": "P1Y", "automatic": [{"time_before_expiry": "P30D"}]}]}
    found = azure_facts("azurerm_key_vault_key", key, azurerm_key_vault=[{"purge_protection_enabled": False}])
    assert (found["rotation_enabled"], found["rotation_period_days"], found["deletion_protected"]) == (
        True,
        335,
        False,
    )
    assert azure_facts("azurerm_key_vault_key", {"rotation_policy": []})["rotation_enabled"] is False


def test_who_may_use_a_vault_key_is_judged_on_its_vault_which_must_be_in_the_plan() -> None:
    assert azure_facts("azurerm_key_vault_key", {}, azurerm_key_vault=[{}])["access_gaps"] == []
    # A vault made elsewhere (a data source, another root module): its access model is not known.
    assert "access_gaps" not in azure_facts("azurerm_key_vault_key", {})


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


def log(category: str | None = None, group: str | None = None) -> dict[str, Any]:
    return {"category": category, "category_group": group}


@pytest.mark.parametrize(
    ("logs", "enabled"),
    [
        ([log("ServiceHealth")], False),
        ([log("Administrative"), log("Security"), log("Alert")], False),
        ([log("Administrative"), log("Security"), log("Policy")], True),
        ([log(group="allLogs")], True),
        ([log(group="audit")], True),
    ],
    ids=["service-health", "no-policy", "three-categories", "allLogs", "audit"],
)
def test_activity_log_export_is_an_audit_trail_only_with_administrative_records(
    logs: list[dict[str, Any]], enabled: bool
) -> None:
    setting = {
        "target_resource_id": "/subscriptions/0000",
        "log_analytics_workspace_id": "/x",
        "enabled_log": logs,
    }
    assert azure_facts("azurerm_monitor_diagnostic_setting", setting)["enabled"] is enabled


@pytest.mark.parametrize(
    ("logs", "enabled"),
    [
        ([log("ServiceHealth")], False),
        ([log("Administrative"), log("Security"), log("Alert")], False),
        ([log("Administrative"), log("Security"), log("Policy")], True),
        ([log(group="allLogs")], True),
    ],
    ids=["service-health", "no-policy", "three-categories", "allLogs"],
)
def test_a_live_activity_log_export_is_judged_as_a_planned_one(
    logs: list[dict[str, Any]], enabled: bool
) -> None:
    setting = {
        "id": "/subscriptions/0000/providers/microsoft.insights/diagnosticSettings/to-siem",
        "properties": {
            "workspaceId": "/x",
            "logs": [
                {"category": g["category"], "categoryGroup": g["category_group"], "enabled": True}
                for g in logs
            ],
        },
    }
    assert azure_arm.diagnostic_setting(setting)["enabled"] is enabled


def test_a_resource_diagnostic_setting_is_enabled_by_any_log() -> None:
    setting = {
        "target_resource_id": "/subscriptions/0000/resourceGroups/rg/providers/x/vaults/v",
        "log_analytics_workspace_id": "/x",
        "enabled_log": [log("AuditEvent")],
    }
    assert azure_facts("azurerm_monitor_diagnostic_setting", setting)["enabled"] is True


@pytest.mark.parametrize(
    ("cluster", "public"),
    [
        ({"api_server_access_profile": [{"authorized_ip_ranges": ["0.0.0.0/0"]}]}, True),
        ({"api_server_access_profile": [{"authorized_ip_ranges": ["0.0.0.0/1", "128.0.0.0/1"]}]}, True),
        ({"api_server_authorized_ip_ranges": ["0.0.0.0/0"]}, True),
        ({"api_server_access_profile": [{"authorized_ip_ranges": ["198.51.100.0/24"]}]}, False),
        ({"api_server_authorized_ip_ranges": ["198.51.100.0/24"]}, False),
        ({"api_server_access_profile": []}, True),
        ({"private_cluster_enabled": True}, False),
    ],
    ids=["v4-whole-internet", "v4-halves", "v3-whole-internet", "v4-office", "v3-office", "none", "private"],
)
def test_aks_control_plane_restricted_only_by_ranges_short_of_the_internet(
    cluster: dict[str, Any], public: bool
) -> None:
    assert azure_facts("azurerm_kubernetes_cluster", cluster)["control_plane_public"] is public


@pytest.mark.parametrize(
    ("configured", "public"), [(False, False), (True, None)], ids=["computed", "configured"]
)
def test_aks_top_level_ranges_known_after_apply(
    tmp_path: Path, configured: bool, public: bool | None
) -> None:
    expressions = {"api_server_authorized_ip_ranges": refer("var.ranges")} if configured else {}
    change = Change(
        "azurerm_kubernetes_cluster.aks",
        "azurerm_kubernetes_cluster",
        {"api_server_access_profile": [{"authorized_ip_ranges": ["198.51.100.0/24"]}], "tags": TAGS},
        unknown={"api_server_authorized_ip_ranges": True},
        expressions=expressions,
    )
    (found,) = discover_plan(write_plan(tmp_path / "plan.json", change), "acceptance").resources
    assert found.facts.get("control_plane_public") is public


NSG_ALERT = {
    "action": [{}],
    "scopes": ["/subscriptions/s"],
    "criteria": [
        {"category": "Administrative", "operation_name": "Microsoft.Network/networkSecurityGroups/write"}
    ],
}
METRIC_POLICY = {
    "notification_channels": ["c"],
    "combiner": "OR",
    "conditions": [
        {
            "condition_threshold": [
                {"filter": 'metric.type="logging.googleapis.com/user/m"', "comparison": "COMPARISON_GT"}
            ]
        }
    ],
}


@pytest.mark.parametrize(
    ("native_type", "values", "provides"),
    [
        ("azurerm_monitor_activity_log_alert", {**NSG_ALERT, "enabled": False}, []),
        ("azurerm_monitor_activity_log_alert", NSG_ALERT, ["nsg_write"]),
        ("google_monitoring_alert_policy", {**METRIC_POLICY, "enabled": False}, []),
        ("google_monitoring_alert_policy", {**METRIC_POLICY, "enabled": True}, ["log_metric:m"]),
        ("google_logging_organization_sink", {"include_children": True, "disabled": True}, []),
        ("google_logging_folder_sink", {"include_children": True, "disabled": True}, []),
        ("google_logging_organization_sink", {"include_children": True}, ["aggregated_sink"]),
    ],
    ids=[
        "azure-alert-off",
        "azure-alert",
        "gcp-policy-off",
        "gcp-policy",
        "org-sink-off",
        "folder-sink-off",
        "sink",
    ],
)
def test_switched_off_alerting_provides_nothing(
    native_type: str, values: dict[str, Any], provides: list[str]
) -> None:
    cloud = azure if native_type.startswith("azurerm_") else gcp
    assert cloud.PLANNED[native_type].facts(values, {})["provides"] == provides


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


def planned_bucket_with_acl(tmp_path: Path, bucket_values: dict[str, Any], acl: Change) -> Resource:
    bucket = "google_storage_bucket.assets"
    changes = [
        Change(bucket, "google_storage_bucket", {"name": "payments-assets", "labels": TAGS, **bucket_values}),
        acl,
    ]
    (found,) = discover_plan(write_plan(tmp_path / "plan.json", *changes), "acceptance").resources
    return found


def acl(native_type: str, **values: Any) -> Change:
    bucket = "google_storage_bucket.assets"
    return Change(
        f"{native_type}.assets",
        native_type,
        {"bucket": "payments-assets", **values},
        expressions={"bucket": refer(f"{bucket}.name", bucket)},
    )


PUBLIC_ACLS = [
    acl("google_storage_bucket_acl", predefined_acl="publicRead"),
    acl("google_storage_bucket_acl", role_entity=["OWNER:project-owners-1", "READER:allAuthenticatedUsers"]),
    acl("google_storage_bucket_acl", default_acl="publicRead"),
    acl("google_storage_bucket_access_control", entity="allUsers", role="READER"),
    acl("google_storage_default_object_access_control", entity="allUsers", role="READER"),
    # One object made public exposes the bucket's data too.
    acl("google_storage_object_acl", object="statement.pdf", predefined_acl="publicRead"),
    acl("google_storage_object_acl", object="statement.pdf", role_entity=["READER:allUsers"]),
    acl("google_storage_object_access_control", object="statement.pdf", entity="allUsers", role="READER"),
]


@pytest.mark.parametrize("granted", PUBLIC_ACLS, ids=lambda c: f"{c.type}-{sorted(c.after or {})[-1]}")
@pytest.mark.parametrize(
    ("bucket_values", "public"),
    [
        ({"uniform_bucket_level_access": False, "public_access_prevention": "inherited"}, True),
        ({"uniform_bucket_level_access": True, "public_access_prevention": "inherited"}, False),
        ({"uniform_bucket_level_access": False, "public_access_prevention": "enforced"}, False),
    ],
    ids=["fine-grained", "uniform", "prevention-enforced"],
)
def test_gcs_bucket_public_through_its_acls_unless_uniform_or_prevented(
    tmp_path: Path, granted: Change, bucket_values: dict[str, Any], public: bool
) -> None:
    bucket = planned_bucket_with_acl(tmp_path, bucket_values, granted)
    assert list(bucket.components) == [granted.address]
    assert bucket.facts["public"] is public


def test_gcs_bucket_with_a_private_acl_is_not_public(tmp_path: Path) -> None:
    private = acl(
        "google_storage_bucket_acl", predefined_acl="projectPrivate", role_entity=["READER:group-a@b.c"]
    )
    bucket = planned_bucket_with_acl(tmp_path, {"uniform_bucket_level_access": False}, private)
    assert bucket.facts["public"] is False


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


@pytest.mark.parametrize(
    ("config", "public"),
    [
        ({"gcp_public_cidrs_access_enabled": True}, True),
        ({"gcp_public_cidrs_access_enabled": False}, False),
        ({"gcp_public_cidrs_access_enabled": UNKNOWN}, None),
        ({}, None),
        ({"gcp_public_cidrs_access_enabled": False, "cidr_blocks": [{"cidr_block": "0.0.0.0/1"}]}, True),
    ],
    ids=["compute-engine-addresses", "off", "known-after-apply", "unset", "half-the-internet"],
)
def test_gke_control_plane_public_to_compute_engine_addresses(
    config: dict[str, Any], public: bool | None
) -> None:
    cluster = {
        "master_authorized_networks_config": [{"cidr_blocks": [{"cidr_block": "198.51.100.0/24"}], **config}]
    }
    assert gcp_facts("google_container_cluster", cluster).get("control_plane_public") is public


@pytest.mark.parametrize(
    ("settings", "protected"),
    [
        ({"deletion_protection_enabled": False}, False),
        ({}, False),
        ({"deletion_protection_enabled": True}, True),
    ],
    ids=["off", "unset", "on"],
)
def test_cloud_sql_deletion_protection_is_the_instance_setting(
    settings: dict[str, Any], protected: bool
) -> None:
    # The top-level deletion_protection (default true) only stops Terraform from destroying it.
    instance = {"deletion_protection": True, "settings": [{"tier": "db-custom-2-7680", **settings}]}
    assert gcp_facts("google_sql_database_instance", instance)["deletion_protection"] is protected


@pytest.mark.parametrize(
    ("metadata", "gaps"),
    [
        ({"block-project-ssh-keys": "true", "serial-port-enable": "FALSE"}, []),
        ({"block-project-ssh-keys": "true", "serial-port-enable": "TRUE"}, ["serial console enabled"]),
        ({"block-project-ssh-keys": "true"}, None),
    ],
    ids=["off-on-the-instance", "on-on-the-instance", "left-to-the-project"],
)
def test_gce_serial_console_left_to_project_metadata_is_unknown(
    tmp_path: Path, metadata: dict[str, str], gaps: list[str] | None
) -> None:
    instance = Change(
        "google_compute_instance.vm",
        "google_compute_instance",
        {
            "zone": "europe-west3-a",
            "labels": TAGS,
            "metadata": metadata,
            "shielded_instance_config": [{"enable_secure_boot": True, "enable_vtpm": True}],
        },
    )
    project = Change(
        "google_compute_project_metadata_item.serial",
        "google_compute_project_metadata_item",
        {"key": "serial-port-enable", "value": "TRUE"},
    )
    found = discover_plan(write_plan(tmp_path / "plan.json", instance, project), "acceptance").resources
    (vm,) = [r for r in found if r.native_type == "google_compute_instance"]
    assert vm.facts.get("hardening_gaps") == gaps


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
    halves = {**firewall, "source_ranges": ["0.0.0.0/1", "128.0.0.0/1"]}
    assert gcp_facts("google_compute_firewall", halves)["internet_ingress_ports"] == [[22, 22], [8000, 8080]]
    key = gcp_facts(
        "google_kms_crypto_key", {"rotation_period": "7776000s", "destroy_scheduled_duration": "86400s"}
    )
    assert (key["rotation_period_days"], key["deletion_protected"]) == (90, False)


@pytest.mark.parametrize(
    "source",
    [
        "0.0.0.0/0",
        "0.0.0.0/00",
        "::0/0",
        "0:0:0:0:0:0:0:0/0",
        "1.2.3.4/0",
        "0.0.0.0/1",
        "128.0.0.0/1",
        "11.0.0.0/8",
        "10.0.0.0/7",
        "2000::/3",
        "::/1",
        "*",
        "Internet",
        "Any",
        "0.0.0.0",
    ],
)
def test_sources_that_let_the_internet_in(source: str) -> None:
    assert is_internet(source) is True


@pytest.mark.parametrize(
    "source",
    [
        "10.0.0.0/8",
        "127.0.0.0/8",
        "224.0.0.0/3",
        "240.0.0.0/4",
        "fc00::/7",
        "4000::/2",
        "203.0.113.0/24",
        "12.0.0.0/9",
        "VirtualNetwork",
        "pl-0123",
        "sg-0123",
        "",
        "None",
    ],
)
def test_sources_that_do_not(source: str) -> None:
    assert is_internet(source) is False


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


def test_an_unknown_anywhere_never_raises_and_never_becomes_a_fact() -> None:
    # Every value of every demo resource in turn (a few thousand, well under a second): a
    # sample of them once let a trail whose reach was unknown still provide its log.
    changed = []
    for cloud, native_type, values in DEMO_VALUES:
        normalise = CLOUDS[cloud].PLANNED[native_type].facts
        baseline = normalise(values, {})
        for path in _paths(values):
            facts = normalise(_replace(values, path, UNKNOWN), {})
            # masking an input can only take facts away, never invent or change one
            if any(name not in baseline or facts[name] != baseline[name] for name in facts):
                changed.append((native_type, path))
    assert changed == []


@pytest.mark.parametrize("cloud", sorted(CLOUDS))
def test_every_normaliser_names_a_known_kind(cloud: str) -> None:
    from regops.model import KINDS

    assert {planned.kind for planned in CLOUDS[cloud].PLANNED.values()} <= set(KINDS)


@pytest.mark.parametrize(
    ("replication", "region"),
    [
        ({"auto": [{}]}, "global"),
        ({"user_managed": [{"replicas": [{"location": "europe-west3"}]}]}, "europe-west3"),
        ({"user_managed": [{"replicas": [{"location": "europe-west3"}, {"location": "us-east1"}]}]}, None),
    ],
)
def test_a_secret_is_where_its_replicas_are(
    tmp_path: Path, replication: dict[str, Any], region: str | None
) -> None:
    path = write_plan(
        tmp_path / "plan.json",
        Change(
            "google_secret_manager_secret.api",
            "google_secret_manager_secret",
            {"secret_id": "api", "labels": TAGS, "replication": [replication]},
        ),
    )
    (secret,) = discover_plan(path, "acceptance").resources
    assert secret.region == region


def test_planned_gcp_labels_include_the_provider_s_default_labels(tmp_path: Path) -> None:
    defaults = {key: value for key, value in TAGS.items() if key != "service"}
    path = write_plan(
        tmp_path / "plan.json",
        Change(
            "google_storage_bucket.exports",
            "google_storage_bucket",
            {
                "name": "exports",
                "location": "EU",
                "labels": {"service": "payments"},
                "terraform_labels": {**defaults, "service": "payments"},
            },
        ),
    )
    (bucket,) = discover_plan(path, "acceptance").resources
    assert dict(bucket.tags) == {**defaults, "service": "payments"}


def vm_policy(**retention: int) -> dict[str, Any]:
    return {f"retention_{period}": [{"count": count}] for period, count in retention.items()}


@pytest.mark.parametrize(
    ("policies", "days"),
    [
        ([vm_policy(daily=7, weekly=12)], 7),
        ([vm_policy(weekly=12, monthly=6)], 84),
        ([vm_policy(daily=90), vm_policy(daily=14)], 14),
        ([{"protection_policy": [vm_policy(daily=90), {"simple_retention": [{"count": 15}]}]}], 15),
        ([vm_policy(daily=UNKNOWN)], None),  # type: ignore[arg-type]
        ([{}], None),
        ([], None),
    ],
    ids=[
        "daily",
        "weekly",
        "shortest-policy",
        "log-backups",
        "known-after-apply",
        "no-retention",
        "no-policy",
    ],
)
def test_a_locked_recovery_vault_keeps_points_as_long_as_its_shortest_policy(
    policies: list[dict[str, Any]], days: int | None
) -> None:
    vault = azure_facts(
        "azurerm_recovery_services_vault", {"immutability": "Locked"}, azurerm_backup_policy_vm=policies
    )
    assert vault["immutable"] is True
    assert vault.get("immutable_retention_days") == days


def test_a_backup_policy_in_the_plan_joins_its_vault(tmp_path: Path) -> None:
    vault = Change(
        "azurerm_recovery_services_vault.main",
        "azurerm_recovery_services_vault",
        {"name": "rsv-payments", "immutability": "Locked", "tags": TAGS},
    )
    policy = Change(
        "azurerm_backup_policy_vm.daily",
        "azurerm_backup_policy_vm",
        {"name": "daily", **vm_policy(daily=7)},
        expressions={
            "recovery_vault_name": refer(
                "azurerm_recovery_services_vault.main.name", "azurerm_recovery_services_vault.main"
            )
        },
    )
    (found,) = discover_plan(write_plan(tmp_path / "plan.json", policy, vault), "acceptance").resources
    assert (found.kind, found.facts["immutable_retention_days"]) == ("backup_vault", 7)


def live_policy(retention: dict[str, Any], **properties: Any) -> dict[str, Any]:
    return {"properties": {"backupManagementType": "AzureIaasVM", "retentionPolicy": retention, **properties}}


def duration(count: Any, unit: str) -> dict[str, Any]:
    return {"retentionDuration": {"count": count, "durationType": unit}}


@pytest.mark.parametrize(
    ("policies", "days"),
    [
        ([live_policy({"dailySchedule": duration(30, "Days"), "weeklySchedule": duration(12, "Weeks")})], 30),
        ([live_policy({"weeklySchedule": duration(2, "Weeks")})], 14),
        (
            [
                live_policy(
                    {"dailySchedule": duration(90, "Days")},
                    subProtectionPolicy=[{"retentionPolicy": duration(5, "Days")}],
                )
            ],
            5,
        ),
        ([live_policy({"dailySchedule": duration(3, "Fortnights")})], None),
        ([live_policy({})], None),
        ([], None),
        (UNKNOWN, None),
    ],
    ids=["daily", "weekly", "log-backups", "unknown-unit", "no-retention", "no-policy", "not-read"],
)
def test_a_live_locked_recovery_vault_keeps_points_as_long_as_its_shortest_policy(
    policies: Any, days: int | None
) -> None:
    payload = {
        "properties": {"securitySettings": {"immutabilitySettings": {"state": "Locked"}}},
        azure_arm.BACKUP_POLICIES: policies,
    }
    vault = azure_arm.recovery_services_vault(payload)
    assert vault["immutable"] is True
    assert vault.get("immutable_retention_days") == days

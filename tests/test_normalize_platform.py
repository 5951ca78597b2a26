"""Clusters, networks, certificates, backup vaults, secrets and hardening, from plans to facts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regops.discovery.terraform_plan import discover_plan
from regops.model import UNKNOWN, Resource
from regops.normalize import aws, azure, azure_arm, gcp
from tests.plans import Change, refer, write_plan


def discovered(tmp_path: Path, *changes: Change) -> dict[str, Resource]:
    return {
        r.id: r for r in discover_plan(write_plan(tmp_path / "plan.json", *changes), "acceptance").resources
    }


def test_vpc_default_group_and_flow_logs_join_the_vpc(tmp_path: Path) -> None:
    to_vpc = {"vpc_id": refer("aws_vpc.main.id", "aws_vpc.main")}
    found = discovered(
        tmp_path,
        Change("aws_vpc.main", "aws_vpc", {"cidr_block": "10.0.0.0/16"}),
        Change(
            "aws_default_security_group.main",
            "aws_default_security_group",
            {"ingress": [], "egress": []},
            expressions=to_vpc,
        ),
        Change("aws_flow_log.main", "aws_flow_log", {"traffic_type": "ALL"}, expressions=to_vpc),
        Change("aws_vpc.bare", "aws_vpc", {"cidr_block": "10.1.0.0/16"}),
    )
    assert set(found) == {"aws_vpc.main", "aws_vpc.bare"}
    assert (found["aws_vpc.main"].facts["default_allow"], found["aws_vpc.main"].facts["flow_logs"]) == (
        False,
        True,
    )
    # AWS's own default group lets members talk to each other and everything out
    assert (found["aws_vpc.bare"].facts["default_allow"], found["aws_vpc.bare"].facts["flow_logs"]) == (
        True,
        False,
    )


def test_waf_association_joins_the_load_balancer(tmp_path: Path) -> None:
    found = discovered(
        tmp_path,
        Change("aws_lb.api", "aws_lb", {"internal": False, "access_logs": [{"enabled": True}]}),
        Change(
            "aws_wafv2_web_acl_association.api",
            "aws_wafv2_web_acl_association",
            {"resource_arn": None},
            unknown={"resource_arn": True},
            expressions={"resource_arn": refer("aws_lb.api.arn", "aws_lb.api")},
        ),
        Change("aws_lb.internal", "aws_lb", {"internal": True}),
    )
    assert found["aws_lb.api"].facts["waf_attached"] is True
    assert found["aws_lb.api"].facts["access_logs"] is True
    assert found["aws_lb.internal"].facts["waf_attached"] is False
    assert found["aws_lb.internal"].facts["access_logs"] is False


def test_a_key_policy_left_unset_is_the_default_one_but_a_computed_one_is_unknown(tmp_path: Path) -> None:
    public = json.dumps(
        {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"}]}
    )
    found = discovered(
        tmp_path,
        Change("aws_kms_key.default", "aws_kms_key", {"policy": None}, unknown={"policy": True}),
        Change(
            "aws_kms_key.computed",
            "aws_kms_key",
            {"policy": None},
            unknown={"policy": True},
            expressions={"policy": refer("data.aws_iam_policy_document.key.json")},
        ),
        Change(
            "aws_kms_key.public",
            "aws_kms_key",
            {"policy": public},
            expressions={"policy": {"constant_value": public}},
        ),
    )
    assert found["aws_kms_key.default"].facts["access_gaps"] == []
    assert "access_gaps" not in found["aws_kms_key.computed"].facts
    assert found["aws_kms_key.public"].facts["access_gaps"] == ["key policy allows any principal"]


def test_plaintext_secrets_in_function_environments() -> None:
    def secrets(variables: dict[str, Any]) -> Any:
        facts = aws.PLANNED["aws_lambda_function"].facts({"environment": [{"variables": variables}]}, {})
        return facts.get("plaintext_secrets", UNKNOWN)

    assert secrets({"DB_PASSWORD": "hunter2", "API_TOKEN": "abc", "LOG_LEVEL": "info"}) == [
        "API_TOKEN",
        "DB_PASSWORD",
    ]
    assert secrets({"DB_PASSWORD": "arn:aws:secretsmanager:eu-central-1:1:secret:db"}) == []
    # a sensitive or computed value may be a literal as well as a reference
    assert secrets({"DB_PASSWORD": UNKNOWN}) is UNKNOWN
    assert secrets({"LOG_LEVEL": UNKNOWN, "REGION": "eu-central-1"}) == []


# Environment values as a function may hold them: literals, empty, secret-store references.
ENVIRONMENT_VALUES = st.one_of(
    st.text(max_size=12),
    st.just(""),
    st.sampled_from(aws.SECRET_REFERENCES).map(lambda prefix: prefix + "eu-central-1:1:secret:db"),
)


@given(
    st.dictionaries(
        st.sampled_from(["DB_PASSWORD", "API_TOKEN", "LOG_LEVEL", "REGION", "client_secret", "X"]),
        ENVIRONMENT_VALUES,
    )
)
def test_a_live_environment_keeps_no_value_and_the_same_plaintext_secrets(variables: dict[str, str]) -> None:
    withheld = aws.environment_without_values({"Variables": variables})
    kept = withheld["Variables"]
    assert kept.keys() == variables.keys()
    for value in kept.values():
        assert value in ("", aws.WITHHELD_VALUE) or value.startswith(aws.SECRET_REFERENCES)
    _, normalise = aws.LIVE["aws_lambda_function"]
    planned = aws.PLANNED["aws_lambda_function"].facts({"environment": [{"variables": variables}]}, {})
    live = normalise({"description": {"Environment": withheld}})
    assert live["plaintext_secrets"] == planned["plaintext_secrets"]


def test_a_live_environment_that_was_not_read_leaves_plaintext_secrets_unknown() -> None:
    _, normalise = aws.LIVE["aws_lambda_function"]
    undecryptable = aws.environment_without_values(
        {"Variables": {"DB_PASSWORD": "hunter2"}, "Error": {"ErrorCode": "KMSAccessDeniedException"}}
    )
    assert undecryptable == {"Error": {"ErrorCode": "KMSAccessDeniedException"}}
    assert "plaintext_secrets" not in normalise({"description": {"Environment": undecryptable}})
    # a source that does not record the environment at all (an AWS Config item without one)
    assert "plaintext_secrets" not in normalise({"description": {"Runtime": "python3.12"}})
    # while a function ListFunctions gives without one has none
    assert (
        normalise({"description": {"Environment": aws.environment_without_values(None)}})["plaintext_secrets"]
        == []
    )


def test_secret_rotation_and_backup_vault_lock_join(tmp_path: Path) -> None:
    found = discovered(
        tmp_path,
        Change("aws_secretsmanager_secret.db", "aws_secretsmanager_secret", {"name": "db"}),
        Change(
            "aws_secretsmanager_secret_rotation.db",
            "aws_secretsmanager_secret_rotation",
            {"rotation_rules": [{"automatically_after_days": 30}]},
            expressions={
                "secret_id": refer("aws_secretsmanager_secret.db.id", "aws_secretsmanager_secret.db")
            },
        ),
        Change("aws_secretsmanager_secret.static", "aws_secretsmanager_secret", {"name": "static"}),
        Change("aws_backup_vault.main", "aws_backup_vault", {"name": "main", "kms_key_arn": "arn:aws:kms:k"}),
        Change(
            "aws_backup_vault_lock_configuration.main",
            "aws_backup_vault_lock_configuration",
            # changeable_for_days: compliance mode, which nobody can remove once it is in force
            {"min_retention_days": 35, "changeable_for_days": 3},
            expressions={"backup_vault_name": refer("aws_backup_vault.main.name", "aws_backup_vault.main")},
        ),
    )
    assert found["aws_secretsmanager_secret.db"].facts["rotates"] is True
    assert found["aws_secretsmanager_secret.static"].facts["rotates"] is False
    vault = found["aws_backup_vault.main"].facts
    assert (vault["immutable"], vault["immutable_retention_days"], vault["encryption_cmk"]) == (
        True,
        35,
        True,
    )


def test_clusters_on_three_clouds() -> None:
    eks = aws.PLANNED["aws_eks_cluster"].facts(
        {
            "encryption_config": [{"resources": ["secrets"], "provider": [{"key_arn": "arn:aws:kms:k"}]}],
            "vpc_config": [{"endpoint_public_access": True, "public_access_cidrs": ["203.0.113.0/24"]}],
        },
        {},
    )
    assert (eks["secrets_encrypted"], eks["control_plane_public"]) == (True, False)
    open_eks = aws.PLANNED["aws_eks_cluster"].facts({"vpc_config": [{}]}, {})
    assert (open_eks["secrets_encrypted"], open_eks["control_plane_public"]) == (False, True)
    aks = azure.PLANNED["azurerm_kubernetes_cluster"].facts(
        {
            "private_cluster_enabled": False,
            "api_server_access_profile": [{"authorized_ip_ranges": ["198.51.100.0/24"]}],
            "key_management_service": [{"key_vault_key_id": "https://kv/keys/k"}],
        },
        {},
    )
    assert (aks["secrets_encrypted"], aks["control_plane_public"]) == (True, False)
    gke = gcp.PLANNED["google_container_cluster"].facts(
        {
            "master_authorized_networks_config": [{"cidr_blocks": [{"cidr_block": "0.0.0.0/0"}]}],
            "database_encryption": [{"state": "DECRYPTED", "key_name": ""}],
        },
        {},
    )
    assert (gke["secrets_encrypted"], gke["control_plane_public"]) == (False, True)


def test_compute_hardening_gaps_name_what_is_missing() -> None:
    vm = azure.PLANNED["azurerm_linux_virtual_machine"].facts(
        {"secure_boot_enabled": True, "vtpm_enabled": False, "disable_password_authentication": False}, {}
    )
    assert vm["hardening_gaps"] == ["vTPM off", "password SSH login allowed"]
    instance = gcp.PLANNED["google_compute_instance"].facts(
        {
            "shielded_instance_config": [{"enable_secure_boot": True, "enable_vtpm": True}],
            "metadata": {"block-project-ssh-keys": "true", "serial-port-enable": "TRUE"},
            "can_ip_forward": True,
        },
        {},
    )
    assert instance["hardening_gaps"] == ["serial console enabled", "IP forwarding on"]
    ec2 = aws.PLANNED["aws_instance"].facts({"metadata_options": [{"http_tokens": "optional"}]}, {})
    assert ec2["hardening_gaps"] == ["IMDSv1 allowed"]


@pytest.mark.parametrize(
    ("devices", "encrypted"),
    [
        ({"root_block_device": [{"encrypted": True}]}, True),
        ({"root_block_device": [{"encrypted": True}], "ebs_block_device": [{"encrypted": False}]}, False),
        ({"root_block_device": [{"encrypted": False}]}, False),
        ({"root_block_device": [{"encrypted": UNKNOWN}]}, None),
        ({"root_block_device": UNKNOWN}, None),
    ],
    ids=["root-encrypted", "data-volume-plain", "root-plain", "left-to-the-account", "no-block"],
)
def test_an_aws_instance_is_disk_encrypted_only_with_every_volume(
    devices: dict[str, Any], encrypted: bool | None
) -> None:
    assert aws.PLANNED["aws_instance"].facts(devices, {}).get("disk_encrypted") is encrypted


def test_vm_disks_are_encrypted_on_azure_only_with_encryption_at_host_and_always_on_gcp() -> None:
    vm = azure.PLANNED["azurerm_linux_virtual_machine"].facts
    assert vm({"encryption_at_host_enabled": True}, {})["disk_encrypted"] is True
    assert vm({}, {})["disk_encrypted"] is False  # the temporary disk and caches stay plain
    assert gcp.PLANNED["google_compute_instance"].facts({}, {})["disk_encrypted"] is True
    live = {"properties": {"securityProfile": {"securityType": "TrustedLaunch"}}}
    assert azure_arm.virtual_machine(live)["disk_encrypted"] is False


def test_default_networking_on_azure_and_gcp(tmp_path: Path) -> None:
    found = discovered(
        tmp_path,
        Change("azurerm_subnet.app", "azurerm_subnet", {"name": "app", "location": "westeurope"}),
        Change(
            "azurerm_subnet_network_security_group_association.app",
            "azurerm_subnet_network_security_group_association",
            {"subnet_id": None},
            unknown={"subnet_id": True},
            expressions={"subnet_id": refer("azurerm_subnet.app.id", "azurerm_subnet.app")},
        ),
        Change("azurerm_subnet.data", "azurerm_subnet", {"name": "data"}),
        Change("azurerm_subnet.gateway", "azurerm_subnet", {"name": "GatewaySubnet"}),
        Change("google_compute_network.default", "google_compute_network", {"name": "default"}),
        Change(
            "google_compute_subnetwork.app", "google_compute_subnetwork", {"name": "app", "log_config": [{}]}
        ),
    )
    allow = {rid: r.facts["default_allow"] for rid, r in found.items()}
    assert allow == {
        "azurerm_subnet.app": False,
        "azurerm_subnet.data": True,
        "azurerm_subnet.gateway": False,
        "google_compute_network.default": True,
        "google_compute_subnetwork.app": False,
    }
    assert found["google_compute_subnetwork.app"].facts["flow_logs"] is True
    # Auto mode (the provider's default) makes subnetworks without flow logs, outside the plan.
    assert found["google_compute_network.default"].facts["flow_logs"] is False
    custom = gcp.PLANNED["google_compute_network"].facts({"auto_create_subnetworks": False}, {})
    assert custom["flow_logs"] is None  # its subnetworks say


def test_key_access_on_azure_and_gcp() -> None:
    vault = azure.PLANNED["azurerm_key_vault"].facts(
        {"enable_rbac_authorization": False, "public_network_access_enabled": True}, {}
    )
    assert vault["access_gaps"] == [
        "vault access policies instead of Azure RBAC",
        "reachable from any network",
    ]
    v4 = azure.PLANNED["azurerm_key_vault"].facts(
        {"rbac_authorization_enabled": True, "public_network_access_enabled": False}, {}
    )
    assert v4["access_gaps"] == []
    key = gcp.PLANNED["google_kms_crypto_key"].facts(
        {}, {"google_kms_crypto_key_iam_member": [{"member": "allAuthenticatedUsers"}]}
    )
    assert key["access_gaps"] == ["IAM grants the key to allUsers or allAuthenticatedUsers"]


def test_restored_from_names_the_source_of_the_data() -> None:
    assert (
        aws.PLANNED["aws_db_instance"].facts({"snapshot_identifier": "prod-ledger-final"}, {})[
            "restored_from"
        ]
        == "prod-ledger-final"
    )
    assert aws.PLANNED["aws_db_instance"].facts({}, {})["restored_from"] is None
    server = azure.PLANNED["azurerm_postgresql_flexible_server"].facts(
        {"create_mode": "PointInTimeRestore", "source_server_id": "/subscriptions/p/servers/ledger"}, {}
    )
    assert server["restored_from"] == "/subscriptions/p/servers/ledger"
    disk = gcp.PLANNED["google_compute_disk"].facts({"snapshot": "prod-snap"}, {})
    assert disk["restored_from"] == "prod-snap"


@pytest.mark.parametrize(
    ("cloud", "native_type", "values", "source"),
    [
        ("aws", "aws_db_instance", {"replicate_source_db": "prod-ledger"}, "prod-ledger"),
        ("aws", "aws_db_instance", {"s3_import": [{"bucket_name": "prod-dumps"}]}, "prod-dumps"),
        (
            "aws",
            "aws_db_instance",
            {"restore_to_point_in_time": [{"source_db_instance_automated_backups_arn": "arn:backups"}]},
            "arn:backups",
        ),
        ("aws", "aws_rds_cluster", {"replication_source_identifier": "arn:prod-cluster"}, "arn:prod-cluster"),
        ("gcp", "google_sql_database_instance", {"master_instance_name": "prod-risk"}, "prod-risk"),
    ],
)
def test_a_replica_or_an_import_is_created_from_another_s_data(
    cloud: str, native_type: str, values: dict[str, object], source: str
) -> None:
    module = {"aws": aws, "gcp": gcp}[cloud]
    assert module.PLANNED[native_type].facts(values, {})["restored_from"] == source

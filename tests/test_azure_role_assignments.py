"""Planned azurerm_role_assignment: a built-in role judged by its published permissions, a custom
role of the plan by its definition, each at the scope it is assigned (IAM-004, KMS-003)."""

from __future__ import annotations

from typing import Any

import pytest

from regops.normalize import azure
from regops.normalize.common import Joined
from tests.helpers import judge_plan, results_by_control
from tests.plans import Change, refer, write_plan

SUBSCRIPTION = "/subscriptions/00000000-0000-0000-0000-000000000001"
VAULT = f"{SUBSCRIPTION}/resourceGroups/keys/providers/Microsoft.KeyVault/vaults/kv-payments"
DUTIES = "the role both deletes Key Vault keys (Microsoft.KeyVault/vaults/keys/delete) and decrypts with them"
ROLE_WRITES = "allows Microsoft.Authorization/roleAssignments/write above resource groups"
DEFINITION_WRITES = "allows Microsoft.Authorization/roleDefinitions/write above resource groups"
USER_ACCESS_ADMINISTRATOR = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"
ROTATE = "Microsoft.KeyVault/vaults/keys/rotate/action"


def assignment(related: dict[str, Any] | None = None, **values: Any) -> dict[str, Any]:
    base = {"scope": SUBSCRIPTION, "principal_id": "5f1c0d2e", "principal_type": "ServicePrincipal"}
    return azure.PLANNED["azurerm_role_assignment"].facts({**base, **values}, related or {})


@pytest.mark.parametrize(
    ("role", "scope", "admin", "escalation"),
    [
        ("Owner", SUBSCRIPTION, True, [ROLE_WRITES, DEFINITION_WRITES]),
        # Contributor may do anything but grant roles: an administrator of the subscription all the same.
        ("Contributor", SUBSCRIPTION, True, []),
        ("Contributor", f"{SUBSCRIPTION}/resourceGroups/ledger", False, []),
        ("Reader", SUBSCRIPTION, False, []),
        (
            "User Access Administrator",
            SUBSCRIPTION,
            False,
            [ROLE_WRITES, DEFINITION_WRITES],
        ),
        ("Role Based Access Control Administrator", "/", False, [ROLE_WRITES]),
        ("Role Based Access Control Administrator", f"{SUBSCRIPTION}/resourceGroups/ledger", False, []),
    ],
)
def test_built_in_roles_by_name_where_they_are_assigned(
    role: str, scope: str, admin: bool, escalation: list[str]
) -> None:
    facts = assignment(role_definition_name=role, scope=scope)
    assert (facts["admin"], facts["escalation"]) == (admin, escalation)


def test_a_built_in_role_by_its_definition_id() -> None:
    role_id = f"{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/{USER_ACCESS_ADMINISTRATOR}"
    facts = assignment(role_definition_id=role_id, role_definition_name=None)
    assert facts["escalation"] == [ROLE_WRITES, DEFINITION_WRITES]


@pytest.mark.parametrize(
    ("role", "scope", "gaps"),
    [
        (
            "Key Vault Crypto Officer",
            VAULT,
            [DUTIES],
        ),
        (
            "Key Vault Crypto User",
            SUBSCRIPTION,
            [
                "grants Microsoft.KeyVault/vaults/keys/decrypt/action on every Key Vault key of"
                f" {SUBSCRIPTION} to ServicePrincipal 5f1c0d2e"
            ],
        ),
        ("Key Vault Crypto User", VAULT, []),
        # Azure matches a role's name in any case, and so does a plan's role_definition_name.
        ("key vault crypto officer", VAULT, [DUTIES]),
        ("Key Vault Crypto Service Encryption User", SUBSCRIPTION, []),
        ("Storage Blob Data Reader", SUBSCRIPTION, []),
    ],
)
def test_key_vault_roles_for_kms_003(role: str, scope: str, gaps: list[str]) -> None:
    assert assignment(role_definition_name=role, scope=scope)["access_gaps"] == gaps


def test_a_role_the_table_does_not_hold_leaves_the_facts_unknown() -> None:
    facts = assignment(role_definition_name="Backup Operator")
    assert not {"admin", "escalation", "access_gaps"} & set(facts)


def test_a_scope_known_after_apply_is_read_from_what_it_refers_to() -> None:
    vault = {"azurerm_key_vault": [Joined({"name": "kv-payments", "id": azure.UNKNOWN}, {})]}
    facts = assignment(vault, role_definition_name="Key Vault Crypto User", scope=azure.UNKNOWN)
    assert facts["access_gaps"] == []
    group = {"azurerm_resource_group": [Joined({"name": "ledger"}, {})]}
    assert assignment(group, role_definition_name="Owner", scope=azure.UNKNOWN)["admin"] is False
    unknown = assignment(role_definition_name="Owner", scope=azure.UNKNOWN, principal_id=azure.UNKNOWN)
    assert "admin" not in unknown


def test_planned_assignments_in_a_plan(pytester: pytest.Pytester) -> None:
    vault = Change(
        "azurerm_key_vault.payments",
        "azurerm_key_vault",
        {
            "name": "kv-payments",
            "location": "germanywestcentral",
            "purge_protection_enabled": True,
            "rbac_authorization_enabled": True,
            "public_network_access_enabled": False,
        },
        unknown={"id": True},
    )
    custom = Change(
        "azurerm_role_definition.key_rotation",
        "azurerm_role_definition",
        {
            "name": "key-rotation",
            "scope": SUBSCRIPTION,
            "assignable_scopes": [SUBSCRIPTION],
            "permissions": [{"actions": [], "data_actions": [ROTATE]}],
        },
        unknown={"role_definition_resource_id": True},
    )

    def assigned(name: str, **values: Any) -> Change:
        expressions = {
            key: refer(f"{value}", value.rsplit(".", 1)[0])
            for key, value in values.pop("references", {}).items()
        }
        return Change(
            f"azurerm_role_assignment.{name}",
            "azurerm_role_assignment",
            {"principal_id": "5f1c0d2e", "principal_type": "ServicePrincipal", **values},
            unknown=dict.fromkeys(expressions, True),
            expressions=expressions,
        )

    write_plan(
        pytester.path / "plan.json",
        vault,
        custom,
        assigned("ops_owner", scope=SUBSCRIPTION, role_definition_name="Owner"),
        assigned(
            "crypto_officer",
            role_definition_name="Key Vault Crypto Officer",
            references={"scope": "azurerm_key_vault.payments.id"},
        ),
        assigned(
            "app_keys",
            role_definition_name="Key Vault Crypto User",
            references={"scope": "azurerm_key_vault.payments.id"},
        ),
        assigned(
            "rotation",
            scope=SUBSCRIPTION,
            references={"role_definition_id": f"{custom.address}.role_definition_resource_id"},
        ),
    )
    outcomes = results_by_control(judge_plan(pytester, "IAM-004", "KMS-003"))
    assert outcomes["IAM-004"] == {
        "azurerm_role_assignment.ops_owner": "failed",
        "azurerm_role_assignment.crypto_officer": "passed",
        "azurerm_role_assignment.app_keys": "passed",
        "azurerm_role_assignment.rotation": "passed",
        "azurerm_role_definition.key_rotation": "passed",
    }
    assert outcomes["KMS-003"] == {
        "azurerm_key_vault.payments": "passed",
        "azurerm_role_assignment.ops_owner": "passed",
        "azurerm_role_assignment.crypto_officer": "failed",
        "azurerm_role_assignment.app_keys": "passed",
        "azurerm_role_assignment.rotation": "passed",
        "azurerm_role_definition.key_rotation": "passed",
    }

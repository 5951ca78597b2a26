"""Azure: Terraform `hashicorp/azurerm` values to facts."""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from regops.model import UNKNOWN
from regops.normalize.alerting import (
    AZURE_ALERT_OPERATIONS,
    AZURE_SECURITY_OPERATIONS,
    AZURE_TAMPER_OPERATIONS,
    azure_alert_categories,
)
from regops.normalize.common import (
    Capability,
    Facts,
    Join,
    PlannedType,
    Related,
    Unknown,
    blocks,
    configured,
    days_from_duration,
    dig,
    is_internet,
    known,
    parse_port_span,
    port_ranges,
    security_service,
    tls_version,
)


def _first(related: Related, native_type: str) -> Mapping[str, Any] | None:
    found = related.get(native_type) or ()
    return found[0] if found else None


def storage_account(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    # Azure Storage encrypts every account; the question is whose key.
    facts.derive("encrypted_at_rest", lambda: True)
    facts.derive(
        "encryption_cmk",
        lambda: (
            bool(blocks(values, "customer_managed_key"))
            or bool(related.get("azurerm_storage_account_customer_managed_key"))
        ),
    )
    # azurerm 3.x and 4.x defaults: TLS1_2, HTTPS only, nested items may be made public, shared
    # keys allowed.
    facts.derive("tls_min_version", lambda: tls_version(dig(values, "min_tls_version", default="TLS1_2")))

    def https_only() -> bool:
        for key in ("https_traffic_only_enabled", "enable_https_traffic_only"):
            if key in values:
                return dig(values, key, default=True) is True
        return True

    facts.derive("https_only", https_only)
    facts.derive(
        "public",
        lambda: (
            dig(values, "allow_nested_items_to_be_public", default=True) is True
            and dig(values, "public_network_access_enabled", default=True) is True
        ),
    )
    facts.derive("shared_key_access", lambda: dig(values, "shared_access_key_enabled", default=True) is True)
    facts.derive(
        "versioning", lambda: dig(values, "blob_properties", 0, "versioning_enabled", default=False) is True
    )
    facts.derive(
        "infrastructure_encryption",
        lambda: dig(values, "infrastructure_encryption_enabled", default=False) is True,
    )
    return facts.values


def _databases_encrypted(databases: Sequence[Mapping[str, Any]]) -> bool:
    """Whether every database of a server (folded into it) keeps TDE, which Azure SQL turns on
    for each new database unless the database turns it off; the server-level TDE resource only
    chooses the protector key and cannot turn it off. One database known to be unencrypted
    settles it, whatever another's unknowns."""
    unknown = False
    for database in databases:
        try:
            if dig(database, "transparent_data_encryption_enabled", default=True) is not True:
                return False
        except Unknown:
            unknown = True
    if unknown:
        raise Unknown
    return True


def mssql_server(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    # Azure SQL only accepts encrypted connections.
    facts.derive("encrypted_at_rest", lambda: _databases_encrypted(related.get("azurerm_mssql_database", ())))
    facts.derive("tls_enforced", lambda: True)
    facts.derive("tls_min_version", lambda: tls_version(dig(values, "minimum_tls_version", default="1.2")))
    facts.derive("public", lambda: dig(values, "public_network_access_enabled", default=True) is True)
    facts.derive("engine", lambda: "sqlserver")
    # A logical server holds no data of its own; its databases are created in it.
    facts.derive("restored_from", lambda: None)
    facts.derive(
        "audit_logging",
        lambda: any(
            dig(policy, "enabled", default=True) is True
            for policy in related.get("azurerm_mssql_server_extended_auditing_policy", ())
        ),
    )
    return facts.values


def postgresql_flexible_server(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    facts.derive("encrypted_at_rest", lambda: True)
    facts.derive("encryption_cmk", lambda: bool(blocks(values, "customer_managed_key")))
    facts.derive("public", lambda: dig(values, "public_network_access_enabled", default=True) is True)
    facts.derive("backup_days", lambda: int(dig(values, "backup_retention_days", default=7)))
    # Flexible servers restore to any point within the backup retention window.
    facts.derive("pitr", lambda: int(dig(values, "backup_retention_days", default=7)) > 0)
    facts.derive(
        "geo_redundant_backup", lambda: dig(values, "geo_redundant_backup_enabled", default=False) is True
    )
    facts.derive("zone_redundant", lambda: dig(values, "high_availability", 0, "mode") == "ZoneRedundant")
    facts.derive("engine", lambda: "postgres")
    facts.derive(
        "restored_from",
        lambda: (
            dig(values, "source_server_id")
            if dig(values, "create_mode", default="Default") not in {"Default", "Update"}
            else None
        ),
    )

    def tls_enforced() -> bool:
        # require_secure_transport defaults to on for flexible servers.
        for setting in related.get("azurerm_postgresql_flexible_server_configuration", ()):
            if dig(setting, "name") == "require_secure_transport":
                return str(dig(setting, "value", default="on")).lower() == "on"
        return True

    facts.derive("tls_enforced", tls_enforced)

    def audit_logging() -> bool:
        settings = {
            str(dig(c, "name")): str(dig(c, "value", default="")).lower()
            for c in related.get("azurerm_postgresql_flexible_server_configuration", ())
        }
        return settings.get("log_connections") == "on" or bool(settings.get("pgaudit.log", "none") != "none")

    facts.derive("audit_logging", audit_logging)
    # Azure has no deletion flag; a CanNotDelete or ReadOnly lock is the safeguard. Without one in
    # the plan the fact stays unknown: a lock on the resource group may exist outside it.
    if any(
        dig(lock, "lock_level") in {"CanNotDelete", "ReadOnly"}
        for lock in related.get("azurerm_management_lock", ())
    ):
        facts.derive("deletion_protection", lambda: True)
    return facts.values


def _rules(values: Mapping[str, Any], related: Related) -> list[Mapping[str, Any]]:
    return [*blocks(values, "security_rule"), *related.get("azurerm_network_security_rule", ())]


@dataclass(frozen=True)
class NsgRule:
    """One NSG rule as both Terraform and ARM spell it, reduced to what exposure depends on.

    A rule that does not say its protocol or destinations never shadows a later one.
    """

    priority: int
    inbound: bool
    allow: bool
    sources: tuple[Any, ...]
    ports: tuple[Any, ...]
    protocol: Any = None
    destinations: tuple[Any, ...] = ()


# Address prefixes that take in every source, or every internet source ("Internet" is Azure's
# tag for the public address space), and every destination.
_EVERY_SOURCE = frozenset({"*", "any", "internet"})
_EVERY_DESTINATION = frozenset({"*", "any"})


def _covers(outer: Any, inner: Any, everything: frozenset[str]) -> bool:
    """Whether address prefix `outer` takes in every address of `inner`."""
    if known(outer) is None or known(inner) is None:
        return False
    outer, inner = str(outer).strip().lower(), str(inner).strip().lower()
    if outer in everything or outer == inner:
        return True
    try:
        wide, narrow = ipaddress.ip_network(outer, strict=False), ipaddress.ip_network(inner, strict=False)
    except ValueError:
        return False
    return (
        wide.version == narrow.version
        and int(wide.network_address) <= int(narrow.network_address)
        and int(narrow.broadcast_address) <= int(wide.broadcast_address)
    )


def _shadows(deny: NsgRule, allow: NsgRule, span: tuple[int, int]) -> bool:
    """Whether `deny` drops every internet packet `allow` admits on `span`; when unsure, not."""
    protocol = str(deny.protocol).lower()
    if deny.protocol is None or protocol not in {"*", str(allow.protocol).lower()}:
        return False
    sources = [s for s in allow.sources if s is not None and is_internet(s)]
    destinations = [d for d in allow.destinations if d is not None] or ["*"]
    return (
        all(any(_covers(d, s, _EVERY_SOURCE) for d in deny.sources) for s in sources)
        and all(any(_covers(d, t, _EVERY_DESTINATION) for d in deny.destinations) for t in destinations)
        and any(
            low <= span[0] and span[1] <= high
            for low, high in (parse_port_span(p) for p in deny.ports if p is not None)
        )
    )


def nsg_internet_ports(rules: Iterable[NsgRule]) -> list[list[int]]:
    """Ports an NSG opens to the internet.

    Approximation of NSG evaluation: rules in priority order; a port an earlier Deny drops for
    every packet the Allow admits (protocol, internet sources, destinations) cannot be opened by
    the Allow. Overlaps are resolved per whole span.
    """
    denies: list[NsgRule] = []
    allowed: list[tuple[int, int]] = []
    for rule in sorted((r for r in rules if r.inbound), key=lambda r: r.priority):
        if not rule.allow:
            denies.append(rule)
            continue
        if not any(s is not None and is_internet(s) for s in rule.sources):
            continue
        for span in (parse_port_span(p) for p in rule.ports if p is not None):
            if not any(_shadows(deny, rule, span) for deny in denies):
                allowed.append(span)
    return port_ranges(allowed)


def network_security_group(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()

    def rule(block: Mapping[str, Any]) -> NsgRule:
        return NsgRule(
            priority=int(dig(block, "priority", default=4096)),
            inbound=str(dig(block, "direction", default="")).lower() == "inbound",
            allow=str(dig(block, "access")).lower() == "allow",
            sources=(dig(block, "source_address_prefix"), *dig(block, "source_address_prefixes", default=[])),
            ports=(dig(block, "destination_port_range"), *dig(block, "destination_port_ranges", default=[])),
            protocol=dig(block, "protocol"),
            destinations=(
                dig(block, "destination_address_prefix"),
                *dig(block, "destination_address_prefixes", default=[]),
            ),
        )

    facts.derive(
        "internet_ingress_ports", lambda: nsg_internet_ports(rule(r) for r in _rules(values, related))
    )
    facts.derive("direction", lambda: "ingress")
    facts.derive("enabled", lambda: True)
    return facts.values


def key_vault(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    facts.derive("deletion_protected", lambda: dig(values, "purge_protection_enabled", default=False) is True)
    facts.derive("soft_delete_days", lambda: int(dig(values, "soft_delete_retention_days", default=90)))
    facts.derive(
        "public",
        lambda: (
            dig(values, "public_network_access_enabled", default=True) is True
            and dig(values, "network_acls", 0, "default_action", default="Allow") != "Deny"
        ),
    )

    def access_gaps() -> list[str]:
        gaps = []
        # azurerm 3.x and 4.x spell the switch differently; access policies are the default.
        rbac = dig(values, "rbac_authorization_enabled", default=None)
        if rbac is None:
            rbac = dig(values, "enable_rbac_authorization", default=False)
        if rbac is not True:
            gaps.append("vault access policies instead of Azure RBAC")
        if "public" not in facts.values:
            raise Unknown
        if facts.values["public"]:
            gaps.append("reachable from any network")
        return gaps

    facts.derive("access_gaps", access_gaps)
    return facts.values


# A role that both destroys Key Vault keys and decrypts with them defeats the separation of key
# custody from key use (KMS-003), whoever it is later assigned to.
KEY_DELETE = "Microsoft.KeyVault/vaults/keys/delete"
KEY_DECRYPT = "Microsoft.KeyVault/vaults/keys/decrypt/action"
# Scopes above any resource group: a custom role with every action there is a subscription
# administrator role (CIS Azure 2.23).
_WIDE_SCOPE = re.compile(
    r"^/$|^/subscriptions/[^/]+/?$|^/providers/microsoft\.management/managementgroups/[^/]+/?$"
)


# Control-plane operations that let a role's holder grant roles, to itself too, or rewrite the
# role it holds: Azure's way to raise one's own rights (what User Access Administrator may do).
ROLE_GRANTING = (
    "Microsoft.Authorization/roleAssignments/write",
    "Microsoft.Authorization/roleDefinitions/write",
)

# How a role's permissions are spelled: Terraform's snake_case, ARM's camelCase.
PLANNED_ROLE_NAMES = {
    "actions": "actions",
    "not_actions": "not_actions",
    "data_actions": "data_actions",
    "not_data_actions": "not_data_actions",
}
ARM_ROLE_NAMES = {
    "actions": "actions",
    "not_actions": "notActions",
    "data_actions": "dataActions",
    "not_data_actions": "notDataActions",
}


def _allowed(permission: Mapping[str, Any], operation: str, names: Mapping[str, str], plane: str) -> bool:
    """Whether one permissions block of a role allows an operation of the control plane
    ("actions") or the data plane ("data_actions"), by case-insensitive globs."""

    def matches(key: str) -> bool:
        return any(
            fnmatch.fnmatchcase(operation.lower(), str(known(pattern)).lower())
            for pattern in dig(permission, names[key], default=[])
        )

    return matches(plane) and not matches(f"not_{plane}")


# Key Vault keys' data operations whose reach must stay one vault (KMS-003): decrypting with
# keys, and deleting them.
KEY_OPERATIONS = (KEY_DECRYPT, KEY_DELETE)


def _within_a_vault(scope: str) -> bool:
    return "/providers/microsoft.keyvault/vaults/" in scope.lower()


def custom_role_facts(
    permissions: Callable[[], list[Mapping[str, Any]]],
    assignable_scopes: Callable[[], Any],
    names: Mapping[str, str],
    assignment: Callable[[], tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """What a role lets whoever it is assigned to do, planned and live alike: a custom role
    definition wherever it may be assigned, or, given `assignment` ((scope, principal)), a role
    as it is assigned there."""
    facts = Facts()

    def above_resource_groups() -> bool:
        return any(_WIDE_SCOPE.match(str(known(scope)).lower()) for scope in known(assignable_scopes()))

    def admin() -> bool:
        actions = [known(a) for p in permissions() for a in dig(p, names["actions"], default=[])]
        return "*" in actions and above_resource_groups()

    def access_gaps() -> list[str]:
        granted = permissions()
        allowed = [
            op for op in KEY_OPERATIONS if any(_allowed(p, op, names, "data_actions") for p in granted)
        ]
        gaps = []
        if len(allowed) == len(KEY_OPERATIONS):
            gaps.append(f"the role both deletes Key Vault keys ({KEY_DELETE}) and decrypts with them")
        if assignment is not None and allowed:
            scope, principal = assignment()
            if not _within_a_vault(scope):
                # As a Cloud KMS role on a project: every key of every vault below, at once.
                gaps.append(f"grants {', '.join(allowed)} on every Key Vault key of {scope} to {principal}")
        return gaps

    def escalation() -> list[str]:
        granted = permissions()
        allowed = [op for op in ROLE_GRANTING if any(_allowed(p, op, names, "actions") for p in granted)]
        return (
            [f"allows {op} above resource groups" for op in allowed]
            if allowed and above_resource_groups()
            else []
        )

    facts.derive("admin", admin)
    facts.derive("access_gaps", access_gaps)
    facts.derive("escalation", escalation)
    return facts.values


def role_definition(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    """A custom role definition: what whoever it is assigned to may do."""

    def assignable_scopes() -> Any:
        scopes = values.get("assignable_scopes")
        if (scopes is UNKNOWN and configured(related, "assignable_scopes") is False) or scopes in (None, []):
            # Left unset, the role is assignable where it is defined (the provider fills it in).
            return [dig(values, "scope")]
        return scopes

    return custom_role_facts(lambda: blocks(values, "permissions"), assignable_scopes, PLANNED_ROLE_NAMES)


@dataclass(frozen=True)
class BuiltinRole:
    """A built-in role as Microsoft publishes it: a plan names it without its permissions."""

    guid: str
    permissions: Mapping[str, tuple[str, ...]]


def _role(
    guid: str,
    actions: Sequence[str] = (),
    not_actions: Sequence[str] = (),
    *,
    data_actions: Sequence[str] = (),
) -> BuiltinRole:
    # None of the roles below excludes data actions.
    permissions = {"actions": actions, "not_actions": not_actions, "data_actions": data_actions}
    return BuiltinRole(
        guid, {**{key: tuple(value) for key, value in permissions.items()}, "not_data_actions": ()}
    )


_KEY_VAULT_READ = (
    "Microsoft.Authorization/*/read",
    "Microsoft.Insights/alertRules/*",
    "Microsoft.Resources/deployments/*",
    "Microsoft.Resources/subscriptions/resourceGroups/read",
    "Microsoft.Support/*",
    "Microsoft.KeyVault/checkNameAvailability/read",
    "Microsoft.KeyVault/deletedVaults/read",
    "Microsoft.KeyVault/locations/*/read",
    "Microsoft.KeyVault/vaults/*/read",
    "Microsoft.KeyVault/operations/read",
)
_KEY_USE = tuple(
    f"Microsoft.KeyVault/vaults/keys/{operation}"
    for operation in (
        "read",
        "update/action",
        "backup/action",
        "encrypt/action",
        "decrypt/action",
        "wrap/action",
        "unwrap/action",
        "sign/action",
        "verify/action",
    )
)
_BLOBS = "Microsoft.Storage/storageAccounts/blobServices"

# The built-in roles a payments platform assigns most, by name, as Microsoft publishes them
# (learn.microsoft.com, "Azure built-in roles", 2025-2026). A plan names a built-in role without
# its permissions; any other leaves a planned assignment's facts unknown (live discovery reads
# every definition). The last three keep only the actions the facts read: their others manage
# their own service's resources.
BUILTIN_ROLES: dict[str, BuiltinRole] = {
    "Owner": _role("8e3af657-a8ff-443c-a75c-2fe8c4bcb635", ["*"]),
    "Contributor": _role(
        "b24988ac-6180-42a0-ab88-20f7382dd24c",
        ["*"],
        [
            "Microsoft.Authorization/*/Delete",
            "Microsoft.Authorization/*/Write",
            "Microsoft.Authorization/elevateAccess/Action",
            "Microsoft.Blueprint/blueprintAssignments/write",
            "Microsoft.Blueprint/blueprintAssignments/delete",
            "Microsoft.Compute/galleries/share/action",
            "Microsoft.Purview/consents/write",
            "Microsoft.Purview/consents/delete",
            "Microsoft.Resources/deploymentStacks/manageDenySetting/action",
            "Microsoft.Subscription/cancel/action",
            "Microsoft.Subscription/enable/action",
        ],
    ),
    "Reader": _role("acdd72a7-3385-48ef-bd42-f606fba81ae7", ["*/read"]),
    "User Access Administrator": _role(
        "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9", ["*/read", "Microsoft.Authorization/*", "Microsoft.Support/*"]
    ),
    "Role Based Access Control Administrator": _role(
        "f58310d9-a9f6-439a-9e8d-f62e7b41a168",
        [
            "Microsoft.Authorization/roleAssignments/write",
            "Microsoft.Authorization/roleAssignments/delete",
            "*/read",
            "Microsoft.Support/*",
        ],
    ),
    "Key Vault Administrator": _role(
        "00482a5a-887f-4fb3-b363-3b7fe8e74483", _KEY_VAULT_READ, data_actions=["Microsoft.KeyVault/vaults/*"]
    ),
    "Key Vault Crypto Officer": _role(
        "14b46e9e-c2b7-41b4-b07b-48a6ebf60603",
        _KEY_VAULT_READ,
        data_actions=["Microsoft.KeyVault/vaults/keys/*", "Microsoft.KeyVault/vaults/keyrotationpolicies/*"],
    ),
    "Key Vault Crypto User": _role("12338af0-0e69-4776-bea7-57ae8d297424", data_actions=_KEY_USE),
    "Key Vault Crypto Service Encryption User": _role(
        "e147488a-f6f5-4113-8e2d-b22465e65bf6",
        [
            "Microsoft.EventGrid/eventSubscriptions/write",
            "Microsoft.EventGrid/eventSubscriptions/read",
            "Microsoft.EventGrid/eventSubscriptions/delete",
        ],
        data_actions=[
            "Microsoft.KeyVault/vaults/keys/read",
            "Microsoft.KeyVault/vaults/keys/wrap/action",
            "Microsoft.KeyVault/vaults/keys/unwrap/action",
        ],
    ),
    "Key Vault Secrets Officer": _role(
        "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
        _KEY_VAULT_READ,
        data_actions=["Microsoft.KeyVault/vaults/secrets/*"],
    ),
    "Key Vault Secrets User": _role(
        "4633458b-17de-408a-b874-0445c86b69e6",
        data_actions=[
            "Microsoft.KeyVault/vaults/secrets/getSecret/action",
            "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
        ],
    ),
    "Key Vault Reader": _role(
        "21090545-7ca7-4776-b22c-e363652d74d2",
        _KEY_VAULT_READ,
        data_actions=[
            "Microsoft.KeyVault/vaults/*/read",
            "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
        ],
    ),
    "Storage Blob Data Owner": _role(
        "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
        [f"{_BLOBS}/containers/*", f"{_BLOBS}/generateUserDelegationKey/action"],
        data_actions=[f"{_BLOBS}/containers/blobs/*"],
    ),
    "Storage Blob Data Contributor": _role(
        "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
        [
            f"{_BLOBS}/containers/delete",
            f"{_BLOBS}/containers/read",
            f"{_BLOBS}/containers/write",
            f"{_BLOBS}/generateUserDelegationKey/action",
        ],
        data_actions=[
            f"{_BLOBS}/containers/blobs/{operation}"
            for operation in ("delete", "read", "write", "move/action", "add/action")
        ],
    ),
    "Storage Blob Data Reader": _role(
        "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
        [f"{_BLOBS}/containers/read", f"{_BLOBS}/generateUserDelegationKey/action"],
        data_actions=[f"{_BLOBS}/containers/blobs/read"],
    ),
    "Storage Account Contributor": _role(
        "17d1049b-9a84-46fb-8f53-869881c3d3ab",
        ["Microsoft.Authorization/*/read", "Microsoft.Storage/storageAccounts/*"],
    ),
    "Virtual Machine Contributor": _role(
        "9980e02c-c2be-4d73-94e8-173b1dc7cf3c",
        ["Microsoft.Authorization/*/read", "Microsoft.Compute/virtualMachines/*"],
    ),
    "Network Contributor": _role(
        "4d97b98b-1d4f-4787-a291-c67834d212e7", ["Microsoft.Authorization/*/read", "Microsoft.Network/*"]
    ),
}


def _builtin_role(name: Any, role_id: Any) -> BuiltinRole | None:
    """A built-in role by the name a plan gives it (as Azure, in any case) or by its definition id."""
    if name:
        return next(
            (role for known_name, role in BUILTIN_ROLES.items() if known_name.lower() == str(name).lower()),
            None,
        )
    guid = str(role_id or "").rstrip("/").rsplit("/", 1)[-1].lower()
    return next((role for role in BUILTIN_ROLES.values() if role.guid == guid), None)


# What a planned assignment's scope may refer to when its id is known only after apply, and
# how that scope is written: enough to tell one vault from the subscription above it.
_SCOPES = {
    "azurerm_key_vault": "/providers/Microsoft.KeyVault/vaults/{name}",
    "azurerm_resource_group": "/resourceGroups/{name}",
    "azurerm_management_group": "/providers/Microsoft.Management/managementGroups/{name}",
    "azurerm_subscription": "/subscriptions/{subscription_id}",
}


def _shown(value: Any, otherwise: str) -> str:
    return otherwise if value is None or value is UNKNOWN else str(value)


def role_assignment(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    """A role assigned to a principal at a scope: a custom role of the plan by its definition,
    a built-in one by its published permissions (BUILTIN_ROLES), as live assignments are."""

    def permissions() -> list[Mapping[str, Any]]:
        defined = _first(related, "azurerm_role_definition")
        if defined is not None:
            return blocks(defined, "permissions")
        role = _builtin_role(
            known(values.get("role_definition_name")), known(values.get("role_definition_id"))
        )
        if role is None:
            raise Unknown  # a role the table does not hold, or one known only after apply
        return [role.permissions]

    def scope() -> str:
        value = values.get("scope")
        if value is not UNKNOWN and value:
            return str(value)
        for native_type, written in _SCOPES.items():
            target = _first(related, native_type)
            if target is not None:
                known_values = {k: v for k, v in target.items() if v is not UNKNOWN and v is not None}
                return written.format_map(
                    {"name": "(known after apply)", "subscription_id": "", **known_values}
                )
        raise Unknown

    def where() -> tuple[str, str]:
        kind, principal = values.get("principal_type"), values.get("principal_id")
        # Only the message names the principal: one created in the same plan is not known yet.
        return scope(), f"{_shown(kind, 'principal')} {_shown(principal, '(known after apply)')}"

    return custom_role_facts(permissions, lambda: [scope()], PLANNED_ROLE_NAMES, assignment=where)


def key_vault_key(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()

    def policy() -> Any:
        return dig(values, "rotation_policy", 0, default={})

    def period() -> int | None:
        automatic = dig(policy(), "automatic", 0, default=None)
        if automatic is None:
            return None
        after_creation = days_from_duration(dig(automatic, "time_after_creation"))
        if after_creation:
            return after_creation
        expire, before = (
            days_from_duration(dig(policy(), "expire_after")),
            days_from_duration(dig(automatic, "time_before_expiry")),
        )
        return expire - (before or 0) if expire else None

    facts.derive("rotation_enabled", lambda: period() is not None)
    facts.derive("rotation_period_days", period)
    facts.derive("expiry_set", lambda: bool(dig(values, "expiration_date") or dig(policy(), "expire_after")))
    vault = _first(related, "azurerm_key_vault")

    # Who may use a key is decided on its vault, which KMS-003 judges when the plan holds it;
    # of a vault made elsewhere nothing is known here.
    def access_gaps() -> list[str]:
        if vault is None:
            raise Unknown
        return []

    facts.derive("access_gaps", access_gaps)
    if vault is not None:
        facts.derive(
            "deletion_protected",
            lambda: (
                dig(vault, "purge_protection_enabled", default=False) is True
                and int(dig(vault, "soft_delete_retention_days", default=90)) >= 7
            ),
        )
    return facts.values


# What a subscription's diagnostic setting must export for the activity log to hold the audit
# trail: a category group that takes in every administrative record, or these three categories.
ACTIVITY_LOG_AUDIT_GROUPS = frozenset({"alllogs", "audit"})
ACTIVITY_LOG_AUDIT_CATEGORIES = frozenset({"administrative", "security", "policy"})


def exports_audit_trail(groups: Iterable[Any], categories: Iterable[Any]) -> bool:
    """Whether an activity-log export of these category groups and categories holds the
    control-plane audit trail; ServiceHealth, Alert, Autoscale and the like record no
    administrative action."""
    return (
        bool({str(g).lower() for g in groups} & ACTIVITY_LOG_AUDIT_GROUPS)
        or {str(c).lower() for c in categories} >= ACTIVITY_LOG_AUDIT_CATEGORIES
    )


def diagnostic_setting(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()

    # A setting on the subscription itself exports the activity log, which covers every region.
    def subscription_wide() -> bool:
        target = str(dig(values, "target_resource_id", default="")).rstrip("/")
        return target.startswith("/subscriptions/") and target.count("/") == 2

    def enabled() -> bool:
        logs = blocks(values, "enabled_log")
        destinations = [
            dig(values, key)
            for key in ("log_analytics_workspace_id", "storage_account_id", "eventhub_authorization_rule_id")
        ]
        if not (logs and any(destinations)):
            return False
        if not subscription_wide():
            return True
        return exports_audit_trail(
            (dig(log, "category_group", default="") for log in logs),
            (dig(log, "category", default="") for log in logs),
        )

    facts.derive("enabled", enabled)

    facts.derive("covers_all_regions", subscription_wide)
    return facts.values


def log_analytics_workspace(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    facts.derive("retention_days", lambda: int(dig(values, "retention_in_days", default=30)))
    return facts.values


def virtual_machine(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    # Managed disks are always encrypted by the platform; the temporary disk and the disk caches
    # on the host only with encryption at host.
    facts.derive("disk_encrypted", lambda: dig(values, "encryption_at_host_enabled", default=False) is True)

    def hardening_gaps() -> list[str]:
        gaps = []
        if dig(values, "secure_boot_enabled", default=False) is not True:
            gaps.append("secure boot off")
        if dig(values, "vtpm_enabled", default=False) is not True:
            gaps.append("vTPM off")
        # Only Linux VMs have the switch; it defaults to keys only.
        if dig(values, "disable_password_authentication", default=True) is not True:
            gaps.append("password SSH login allowed")
        return gaps

    facts.derive("hardening_gaps", hardening_gaps)
    return facts.values


def kubernetes_cluster(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    facts.derive(
        "secrets_encrypted", lambda: bool(dig(values, "key_management_service", 0, "key_vault_key_id"))
    )

    def control_plane_public() -> bool:
        if dig(values, "private_cluster_enabled", default=False) is True:
            return False
        ranges = list(dig(values, "api_server_access_profile", 0, "authorized_ip_ranges", default=[]))
        # azurerm 3.x also takes the ranges at the top level; left unset there, it is computed
        # from the block above.
        legacy = "api_server_authorized_ip_ranges"
        if not (values.get(legacy) is UNKNOWN and configured(related, legacy) is False):
            ranges.extend(dig(values, legacy, default=[]))
        return not ranges or any(is_internet(r) for r in ranges)

    facts.derive("control_plane_public", control_plane_public)
    return facts.values


# Subnets Azure reserves for its own gateways and firewalls, which take no NSG.
NSG_EXEMPT_SUBNETS = frozenset({"GatewaySubnet", "AzureBastionSubnet", "AzureFirewallSubnet"})


def subnet(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    facts.derive(
        "default_allow",
        lambda: (
            dig(values, "name") not in NSG_EXEMPT_SUBNETS
            and not related.get("azurerm_subnet_network_security_group_association")
        ),
    )
    # Flow logs are set on the virtual network (or its NSGs), not the subnet.
    facts.derive("flow_logs", lambda: None)
    return facts.values


def virtual_network(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    facts.derive("default_allow", lambda: False)
    facts.derive(
        "flow_logs",
        lambda: any(
            dig(log, "enabled", default=False) is True
            for log in related.get("azurerm_network_watcher_flow_log", ())
        ),
    )
    return facts.values


# The fewest days a unit of retention stands for: a lock is judged by the shortest it keeps.
RETENTION_UNIT_DAYS = {"days": 1, "weeks": 7, "months": 28, "years": 365}
_RETENTION_BLOCKS = (
    ("retention_daily", "days"),
    ("retention_weekly", "weeks"),
    ("retention_monthly", "months"),
    ("retention_yearly", "years"),
)
BACKUP_POLICY_TYPES = (
    "azurerm_backup_policy_vm",
    "azurerm_backup_policy_vm_workload",
    "azurerm_backup_policy_file_share",
)


def _count(block: Mapping[str, Any]) -> int:
    count = dig(block, "count")
    if not isinstance(count, int) or isinstance(count, bool):
        raise Unknown
    return count


def _policy_retention_days(policy: Mapping[str, Any]) -> int:
    """The shortest time any recovery point of a backup policy is kept, in days."""
    spans: list[int] = []
    # A workload policy (SQL or SAP HANA in a VM) keeps full, differential and log backups apart.
    for schedule in (policy, *blocks(policy, "protection_policy")):
        for period, unit in _RETENTION_BLOCKS:
            spans.extend(_count(r) * RETENTION_UNIT_DAYS[unit] for r in blocks(schedule, period))
        spans.extend(_count(r) for r in blocks(schedule, "simple_retention"))
    if not spans:
        raise Unknown
    return min(spans)


def recovery_services_vault(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    facts.derive("immutable", lambda: dig(values, "immutability") == "Locked")
    policies = [policy for kind in BACKUP_POLICY_TYPES for policy in related.get(kind, ())]

    # Retention is set per backup policy, and the lock keeps each recovery point that long.
    # Policies outside this plan may use the vault too, so without one here it is unknown.
    def immutable_retention_days() -> int:
        if not policies:
            raise Unknown
        return min(_policy_retention_days(policy) for policy in policies)

    facts.derive("immutable_retention_days", immutable_retention_days)
    facts.derive("encryption_cmk", lambda: bool(dig(values, "encryption", 0, "key_id")))
    facts.derive("soft_delete", lambda: dig(values, "soft_delete_enabled", default=True) is True)
    return facts.values


def key_vault_secret(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    facts.derive("rotates", lambda: bool(dig(values, "expiration_date")))
    return facts.values


def key_vault_certificate(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()

    def policy() -> Any:
        return dig(values, "certificate_policy", 0, default={})

    facts.derive(
        "managed_renewal",
        lambda: any(
            dig(action, "action", 0, "action_type") == "AutoRenew"
            for action in blocks(policy(), "lifetime_action")
        ),
    )
    facts.derive(
        "strong_key",
        lambda: (
            dig(policy(), "key_properties", 0, "key_type", default="RSA") in {"EC", "EC-HSM"}
            or int(dig(policy(), "key_properties", 0, "key_size", default=2048)) >= 2048
        ),
    )
    facts.derive("in_certificate_register", lambda: True)
    facts.derive("expires", lambda: dig(values, "certificate_attribute", 0, "expires"))
    return facts.values


def _defender_plan(values: Mapping[str, Any], related: Related) -> list[str]:
    if dig(values, "tier") != "Standard":
        return []
    plan = f"defender:{dig(values, 'resource_type')}"
    return [plan, f"{plan}:{dig(values, 'subplan')}"] if dig(values, "subplan") else [plan]


# An activity-log alert's criteria, as the ARM condition fields they set (alerting.py reads those).
ACTIVITY_LOG_CRITERIA = {
    "category": "category",
    "operation_name": "operationName",
    "resource_provider": "resourceProvider",
    "resource_type": "resourceType",
    "resource_group": "resourceGroup",
    "resource_groups": "resourceGroup",
    "resource_id": "resourceId",
    "resource_ids": "resourceId",
    "caller": "caller",
    "level": "level",
    "levels": "level",
    "status": "status",
    "statuses": "status",
    "sub_status": "subStatus",
    "sub_statuses": "subStatus",
    "recommendation_category": "recommendationCategory",
    "recommendation_impact": "recommendationImpact",
    "recommendation_type": "recommendationType",
    "resource_health": "resourceHealth",
    "service_health": "serviceHealth",
}


def _activity_log_alert(values: Mapping[str, Any], related: Related) -> list[str]:
    """The operations of CIS Azure 6.2.1-6.2.10 (and MON-004's diagnostic settings) an enabled
    alert with an action group watches subscription-wide (normalize/alerting.py)."""
    if dig(values, "enabled", default=True) is not True or not blocks(values, "action"):
        return []
    criteria = blocks(values, "criteria")
    if len(criteria) != 1:
        return []
    conditions = [(field, criteria[0].get(attribute)) for attribute, field in ACTIVITY_LOG_CRITERIA.items()]
    scopes = dig(values, "scopes")
    return azure_alert_categories(conditions, scopes, AZURE_ALERT_OPERATIONS)


def managed_disk(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    facts.derive("encrypted_at_rest", lambda: True)
    facts.derive("encryption_cmk", lambda: bool(dig(values, "disk_encryption_set_id")))
    facts.derive(
        "restored_from",
        lambda: (
            dig(values, "source_resource_id") or dig(values, "source_uri")
            if dig(values, "create_option", default="Empty") in {"Copy", "Restore", "Import"}
            else None
        ),
    )
    return facts.values


PLANNED: dict[str, PlannedType] = {
    "azurerm_storage_account": PlannedType("object_store", storage_account),
    "azurerm_mssql_server": PlannedType("database", mssql_server),
    "azurerm_postgresql_flexible_server": PlannedType("database", postgresql_flexible_server),
    "azurerm_network_security_group": PlannedType("network_rule", network_security_group),
    "azurerm_key_vault": PlannedType("secret_store", key_vault),
    "azurerm_key_vault_key": PlannedType("key", key_vault_key),
    "azurerm_monitor_diagnostic_setting": PlannedType("audit_trail", diagnostic_setting),
    "azurerm_log_analytics_workspace": PlannedType("log_store", log_analytics_workspace),
    "azurerm_linux_virtual_machine": PlannedType("compute", virtual_machine),
    "azurerm_windows_virtual_machine": PlannedType("compute", virtual_machine),
    "azurerm_managed_disk": PlannedType("disk", managed_disk),
    "azurerm_kubernetes_cluster": PlannedType("cluster", kubernetes_cluster),
    "azurerm_subnet": PlannedType("network", subnet),
    "azurerm_virtual_network": PlannedType("network", virtual_network),
    "azurerm_recovery_services_vault": PlannedType("backup_vault", recovery_services_vault),
    "azurerm_key_vault_secret": PlannedType("secret", key_vault_secret),
    "azurerm_key_vault_certificate": PlannedType("certificate", key_vault_certificate),
    "azurerm_role_definition": PlannedType("access_policy", role_definition),
    "azurerm_role_assignment": PlannedType("access_policy", role_assignment),
    "azurerm_security_center_subscription_pricing": security_service(_defender_plan),
    "azurerm_sentinel_log_analytics_workspace_onboarding": security_service(lambda values, related: ["siem"]),
    "azurerm_monitor_activity_log_alert": security_service(_activity_log_alert),
    "azurerm_security_center_contact": security_service(
        lambda values, related: ["security_contact"] if dig(values, "email") else []
    ),
    "azurerm_maintenance_configuration": security_service(
        lambda values, related: ["patching"] if blocks(values, "install_patches") else []
    ),
}

# Defender plans that detect threats on the workloads a payments platform runs.
THREAT_DETECTION_PLANS = (
    "VirtualMachines",
    "StorageAccounts",
    "KeyVaults",
    "Arm",
    "SqlServers",
    "Containers",
)

ESTATE: dict[str, Capability] = {
    "threat_detection": Capability(tuple(f"defender:{plan}" for plan in THREAT_DETECTION_PLANS)),
    "config_recording": Capability(("defender:CloudPosture",)),
    "vulnerability_scanning": Capability(("defender:VirtualMachines:P2", "defender:Containers")),
    "central_logging": Capability(("siem",)),
    # One token per operation of CIS Azure 6.2.1-6.2.10 (normalize/alerting.py).
    "security_alerting": Capability(tuple(AZURE_SECURITY_OPERATIONS)),
    "security_contact": Capability(("security_contact",)),
    "tamper_alerting": Capability(tuple(AZURE_TAMPER_OPERATIONS)),
    "patch_management": Capability(("patching",)),
}

JOINS: dict[str, Join | tuple[Join, ...]] = {
    "azurerm_storage_account_customer_managed_key": Join("storage_account_id", "azurerm_storage_account"),
    "azurerm_postgresql_flexible_server_configuration": Join(
        "server_id", "azurerm_postgresql_flexible_server"
    ),
    "azurerm_network_security_rule": Join("network_security_group_name", "azurerm_network_security_group"),
    "azurerm_management_lock": Join("scope", "azurerm_postgresql_flexible_server"),
    "azurerm_key_vault_key": Join("key_vault_id", "azurerm_key_vault", absorb=False),
    "azurerm_subnet_network_security_group_association": Join("subnet_id", "azurerm_subnet"),
    "azurerm_network_watcher_flow_log": Join("target_resource_id", "azurerm_virtual_network"),
    "azurerm_mssql_server_extended_auditing_policy": Join("server_id", "azurerm_mssql_server"),
    # A database holds the server's data and decides its own TDE: the server is judged with it.
    "azurerm_mssql_database": Join("server_id", "azurerm_mssql_server"),
    "azurerm_backup_policy_vm": Join("recovery_vault_name", "azurerm_recovery_services_vault"),
    "azurerm_backup_policy_vm_workload": Join("recovery_vault_name", "azurerm_recovery_services_vault"),
    "azurerm_backup_policy_file_share": Join("recovery_vault_name", "azurerm_recovery_services_vault"),
    # An assignment sees the custom role it assigns, and what its scope refers to.
    "azurerm_role_assignment": (
        Join("role_definition_id", "azurerm_role_definition", absorb=False),
        Join("scope", tuple(_SCOPES), absorb=False),
    ),
}


# Types the provider cannot tag or label: the tagging control does not apply to them.
UNTAGGABLE = frozenset(
    {
        "azurerm_monitor_diagnostic_setting",
        "azurerm_network_security_rule",
        "azurerm_postgresql_flexible_server_configuration",
        "azurerm_subnet",
        "azurerm_security_center_subscription_pricing",
        "azurerm_security_center_contact",
        "azurerm_sentinel_log_analytics_workspace_onboarding",
    }
)


def tags_of(native_type: str, values: Mapping[str, Any]) -> dict[str, str]:
    found = values.get("tags")
    if isinstance(found, Mapping):
        return {str(k): str(v) for k, v in found.items() if isinstance(v, str)}
    return {}


# Subscription-level settings hold no data and live in no region.
GLOBAL_TYPES = frozenset(
    {
        "azurerm_monitor_diagnostic_setting",
        "azurerm_security_center_subscription_pricing",
        "azurerm_security_center_contact",
        "azurerm_monitor_activity_log_alert",
    }
)


def region_of(native_type: str, values: Mapping[str, Any]) -> str | None:
    if native_type in GLOBAL_TYPES:
        return "global"
    location = values.get("location")
    return location.lower().replace(" ", "") if isinstance(location, str) else None

"""GCP: Terraform `hashicorp/google` values to facts."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from regops.model import UNKNOWN
from regops.normalize.alerting import (
    GCP_ALERT_EVENTS,
    GCP_SECURITY_EVENTS,
    GCP_TAMPER_EVENTS,
    gcp_log_filter_categories,
    gcp_watched_metrics,
    known_list,
)
from regops.normalize.common import (
    Capability,
    Facts,
    Join,
    Normaliser,
    PlannedType,
    Related,
    Unknown,
    blocks,
    conditional,
    days_from_duration,
    dig,
    is_internet,
    known,
    merged_labels,
    parse_port_span,
    port_ranges,
    related_of,
    security_service,
)

PUBLIC_MEMBERS = frozenset({"allusers", "allauthenticatedusers"})


def _policy_bindings(policy: Mapping[str, Any]) -> list[Any]:
    """The bindings of an `<prefix>_iam_policy` block's `policy_data` (the JSON of a
    `google_iam_policy` data source); unknown when the plan cannot show it or it is not a policy."""
    try:
        document = json.loads(str(dig(policy, "policy_data")))
    except ValueError:
        raise Unknown from None
    if not isinstance(document, Mapping):
        raise Unknown
    return blocks(document, "bindings")


def _grants(related: Related, prefix: str) -> list[tuple[Any, str]]:
    """(role, member) of the joined `<prefix>_member`, `<prefix>_binding` and `<prefix>_policy`
    blocks; a role the plan does not know yet stays UNKNOWN for the reader who needs it."""
    grants = [(b.get("role"), str(dig(b, "member", default=""))) for b in related.get(f"{prefix}_member", ())]
    bindings = [*related.get(f"{prefix}_binding", ())]
    for policy in related.get(f"{prefix}_policy", ()):
        bindings.extend(_policy_bindings(policy))
    for binding in bindings:
        grants.extend((binding.get("role"), str(known(m))) for m in dig(binding, "members", default=[]))
    return grants


def public_grants(grants: Sequence[tuple[Any, str]]) -> bool:
    """Whether (role, member) grants admit anyone at all, whatever the role."""
    return any(member.lower() in PUBLIC_MEMBERS for _, member in grants)


def _grants_everyone(related: Related, prefix: str) -> bool:
    return public_grants(_grants(related, prefix))


# CIS GCP 1.11: who administers Cloud KMS keys does not also encrypt or decrypt with them.
KMS_ADMIN_ROLE = "roles/cloudkms.admin"
KMS_USER_ROLES = frozenset(
    {
        "roles/cloudkms.cryptoKeyEncrypterDecrypter",
        "roles/cloudkms.cryptoKeyEncrypter",
        "roles/cloudkms.cryptoKeyDecrypter",
    }
)


def key_access_gaps(own: Sequence[tuple[Any, str]], inherited: Sequence[tuple[Any, str]]) -> list[str]:
    """What is wrong with who may use a Cloud KMS key, from its own (role, member) grants and
    those of its key ring: grants to anyone, and members who both administer and use keys
    (unknown while a role is)."""
    gaps = []
    if public_grants(own):
        gaps.append("IAM grants the key to allUsers or allAuthenticatedUsers")
    if public_grants(inherited):
        gaps.append("IAM on the key ring grants its keys to allUsers or allAuthenticatedUsers")
    roles = [(known(role), member) for role, member in (*own, *inherited)]
    admins = {member for role, member in roles if role == KMS_ADMIN_ROLE}
    both = admins & {member for role, member in roles if role in KMS_USER_ROLES}
    return gaps + [
        f"{member} both administers the key ({KMS_ADMIN_ROLE}) and encrypts or decrypts with it"
        for member in sorted(both)
    ]


# What a grant on a project, folder or organisation gives over everything in it (IAM-004): the
# basic roles hold every right there; a service account with an administrator role (CIS GCP
# 1.5); acting as any of its service accounts holds all of theirs (CIS GCP 1.6).
BASIC_ROLES = frozenset({"roles/owner", "roles/editor"})
IMPERSONATION_ROLES = frozenset({"roles/iam.serviceAccountUser", "roles/iam.serviceAccountTokenCreator"})
# Their Terraform types, each with the level it grants on.
HIERARCHY_IAM = {
    f"google_{level}_iam_{grant}": level
    for level in ("project", "folder", "organization")
    for grant in ("member", "binding", "policy")
}
# Terraform's custom role types: a grant on the hierarchy may refer to one (JOINS).
CUSTOM_ROLES = frozenset({"google_project_iam_custom_role", "google_organization_iam_custom_role"})


def binding_grants(bindings: Sequence[Any]) -> list[tuple[str, str]]:
    """(role, member) of IAM policy bindings, each naming its role and members."""
    return [(str(dig(b, "role")), str(known(m))) for b in bindings for m in dig(b, "members", default=[])]


def _hierarchy_grants(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(role, member) of one project, folder or organisation IAM member, binding or policy."""
    if "policy_data" in values:
        return binding_grants(_policy_bindings(values))
    if "members" in values:
        return binding_grants([values])
    return [(str(known(values.get("role"))), str(known(values.get("member"))))]


def administers_everything(role: str, member: str) -> bool:
    return (
        role in BASIC_ROLES
        or role in IMPERSONATION_ROLES
        or (member.startswith("serviceAccount:") and role.lower().endswith("admin"))
    )


# Roles whose holder may change who holds what on everything in the project, folder or
# organisation, itself included: set its IAM policy, rewrite custom roles, or take over any of
# its service accounts (their keys, or who may act as them).
ROLE_GRANTING_ROLES = frozenset(
    {
        "roles/resourcemanager.projectIamAdmin",
        "roles/resourcemanager.folderIamAdmin",
        "roles/resourcemanager.folderAdmin",
        "roles/resourcemanager.organizationAdmin",
        "roles/iam.securityAdmin",
        "roles/iam.roleAdmin",
        "roles/iam.organizationRoleAdmin",
        "roles/iam.serviceAccountAdmin",
        "roles/iam.serviceAccountKeyAdmin",
    }
)


def hierarchy_facts(
    grants: Callable[[], list[tuple[str, str]]],
    level: str,
    custom_roles: Callable[[], Mapping[str, frozenset[str]]] = dict,
) -> dict[str, Any]:
    """What (role, member) grants on a project, folder or organisation give over everything in
    it, every Cloud KMS key included; planned and live alike. A custom role among
    `custom_roles` (its name to its permissions) gives what its permissions give; one that is
    not (defined elsewhere) is judged on its own where it is defined."""
    facts = Facts()
    facts.derive("admin", lambda: any(administers_everything(*grant) for grant in grants()))

    def access_gaps() -> list[str]:
        permissions = custom_roles()
        return [
            f"grants {role} on every Cloud KMS key of the {level} to {member}"
            for role, member in grants()
            if role == KMS_ADMIN_ROLE
            or role in KMS_USER_ROLES
            or permissions.get(role, frozenset()) & KEY_PERMISSIONS
        ]

    def escalation() -> list[str]:
        permissions = custom_roles()
        found = []
        for role, member in grants():
            if role in ROLE_GRANTING_ROLES:
                found.append(f"grants {role} on the {level} to {member}")
            found += [
                f"grants {role} on the {level} to {member}, which allows {' with '.join(path)}"
                for path in ESCALATION_PERMISSIONS
                if set(path) <= permissions.get(role, frozenset())
            ]
        return found

    facts.derive("access_gaps", access_gaps)
    facts.derive("escalation", escalation)
    return facts.values


# The published ways to raise one's own rights in GCP IAM, as the permissions each needs
# together: change who holds what, rewrite a custom role one holds, take over a service
# account (keys, tokens, signatures, its policy), or run code as one.
ESCALATION_PERMISSIONS: tuple[tuple[str, ...], ...] = (
    ("resourcemanager.projects.setIamPolicy",),
    ("resourcemanager.folders.setIamPolicy",),
    ("resourcemanager.organizations.setIamPolicy",),
    ("iam.roles.update",),
    ("iam.serviceAccounts.setIamPolicy",),
    ("iam.serviceAccountKeys.create",),
    ("iam.serviceAccounts.getAccessToken",),
    ("iam.serviceAccounts.implicitDelegation",),
    ("iam.serviceAccounts.signBlob",),
    ("iam.serviceAccounts.signJwt",),
    ("deploymentmanager.deployments.create",),
    ("cloudbuild.builds.create",),
    ("iam.serviceAccounts.actAs", "compute.instances.create"),
    ("iam.serviceAccounts.actAs", "cloudfunctions.functions.create"),
    ("iam.serviceAccounts.actAs", "run.services.create"),
)
# Key custody apart from key use (KMS-003), as for Azure's custom roles.
KEY_VERSION_DESTROY = "cloudkms.cryptoKeyVersions.destroy"
KEY_VERSION_DECRYPT = "cloudkms.cryptoKeyVersions.useToDecrypt"
# What a custom role granted on a project or above may do with every Cloud KMS key there, as
# the predefined Cloud KMS roles may (KMS-003).
KEY_PERMISSIONS = frozenset(
    {KEY_VERSION_DESTROY, KEY_VERSION_DECRYPT, "cloudkms.cryptoKeyVersions.useToEncrypt"}
)


def custom_role_permissions(role: Any, permissions: str) -> frozenset[str]:
    """A custom role's permissions, from its values and the name they go by there; none for a
    disabled or deleted role, which grants nothing."""
    if dig(role, "stage") == "DISABLED" or dig(role, "deleted") is True:
        return frozenset()
    return frozenset(str(known(p)) for p in dig(role, permissions, default=[]))


def custom_role_facts(role: Callable[[], Any], permissions: str) -> dict[str, Any]:
    """What a custom role lets whoever holds it do, planned and live alike, from the role's
    values and the name its permissions go by there. It lists permissions one by one (no
    wildcards), so it never holds every one."""
    facts = Facts()

    def held() -> frozenset[str]:
        return custom_role_permissions(role(), permissions)

    facts.derive("admin", lambda: False)
    facts.derive(
        "escalation",
        lambda: ["allows " + " with ".join(path) for path in ESCALATION_PERMISSIONS if set(path) <= held()],
    )
    facts.derive(
        "access_gaps",
        lambda: (
            [f"the role both destroys Cloud KMS key versions ({KEY_VERSION_DESTROY}) and decrypts with them"]
            if {KEY_VERSION_DESTROY, KEY_VERSION_DECRYPT} <= held()
            else []
        ),
    )
    return facts.values


def custom_role(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    """A project's or organisation's custom role: what whoever it is granted to may do."""
    return custom_role_facts(lambda: values, "permissions")


def custom_role_name(native_type: str, values: Mapping[str, Any]) -> str:
    """A planned custom role's name, as grants name it: known after apply for a new role, so
    made from its parent and id then."""
    name = values.get("name")
    if name is not None and name is not UNKNOWN:
        return str(name)
    if native_type == "google_organization_iam_custom_role":
        return f"organizations/{known(values.get('org_id'))}/roles/{known(values.get('role_id'))}"
    return f"projects/{known(values.get('project'))}/roles/{known(values.get('role_id'))}"


def hierarchy_iam(level: str) -> Normaliser:
    def normalise(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
        # A grant of a custom role of the plan links to it: the role's name may be known only
        # after apply, and its permissions say what the grant gives.
        linked = [
            (native_type, role) for native_type in CUSTOM_ROLES for role in related.get(native_type, ())
        ]

        def grants() -> list[tuple[str, str]]:
            if linked and values.get("role") is UNKNOWN:
                return _hierarchy_grants({**values, "role": custom_role_name(*linked[0])})
            return _hierarchy_grants(values)

        def custom_roles() -> dict[str, frozenset[str]]:
            return {
                custom_role_name(native_type, role): custom_role_permissions(role, "permissions")
                for native_type, role in linked
            }

        return hierarchy_facts(grants, level, custom_roles)

    return normalise


# Predefined ACLs (bucket and default object ACLs) that grant allUsers or allAuthenticatedUsers.
PUBLIC_PREDEFINED_ACLS = frozenset({"publicread", "publicreadwrite", "authenticatedread"})


def _acl_grants_everyone(related: Related) -> bool:
    """Whether the joined ACL and access control blocks, of the bucket or of an object in it,
    admit anyone: one public object exposes the bucket's data as much as a public bucket."""
    entities = [
        str(dig(control, "entity", default=""))
        for native_type in (
            "google_storage_bucket_access_control",
            "google_storage_default_object_access_control",
            "google_storage_object_access_control",
        )
        for control in related.get(native_type, ())
    ]
    for acl in (*related.get("google_storage_bucket_acl", ()), *related.get("google_storage_object_acl", ())):
        for key in ("predefined_acl", "default_acl"):
            if str(dig(acl, key, default="")).lower() in PUBLIC_PREDEFINED_ACLS:
                return True
        # role_entity reads "ROLE:entity", e.g. "READER:allUsers".
        entities.extend(str(known(r)).split(":", 1)[-1] for r in dig(acl, "role_entity", default=[]))
    return any(entity.lower() in PUBLIC_MEMBERS for entity in entities)


def storage_bucket(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    # Google encrypts every object and serves Cloud Storage over HTTPS only.
    facts.derive("encrypted_at_rest", lambda: True)
    facts.derive("https_only", lambda: True)
    facts.derive("encryption_cmk", lambda: bool(dig(values, "encryption", 0, "default_kms_key_name")))
    facts.derive("uniform_access", lambda: dig(values, "uniform_bucket_level_access", default=False) is True)

    def public() -> bool:
        if dig(values, "public_access_prevention", default="inherited") == "enforced":
            return False
        if _grants_everyone(related, "google_storage_bucket_iam"):
            return True
        # Uniform bucket-level access switches ACLs off; without it they grant access too.
        return (
            _acl_grants_everyone(related)
            and dig(values, "uniform_bucket_level_access", default=False) is not True
        )

    facts.derive("public", public)
    facts.derive("versioning", lambda: dig(values, "versioning", 0, "enabled", default=False) is True)
    facts.derive("access_logging", lambda: bool(blocks(values, "logging")))
    facts.derive(
        "retention_days",
        lambda: int(dig(values, "retention_policy", 0, "retention_period", default=0)) // 86400,
    )
    return facts.values


def sql_instance(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()

    def settings() -> Any:
        return dig(values, "settings", 0, default={})

    def ip() -> Any:
        return dig(settings(), "ip_configuration", 0, default={})

    def backup() -> Any:
        return dig(settings(), "backup_configuration", 0, default={})

    facts.derive("encrypted_at_rest", lambda: True)
    facts.derive("encryption_cmk", lambda: bool(dig(values, "encryption_key_name")))
    facts.derive("engine", lambda: str(dig(values, "database_version", default="")).split("_")[0].lower())

    def public() -> bool:
        # A public IPv4 address is reachable from the internet only through authorised networks.
        if dig(ip(), "ipv4_enabled", default=True) is not True:
            return False
        networks = [str(dig(n, "value", default="")) for n in blocks(ip(), "authorized_networks")]
        return any(is_internet(n) for n in networks)

    facts.derive("public", public)

    def tls_enforced() -> bool:
        mode = dig(ip(), "ssl_mode")
        if mode is not None:
            return mode in {"ENCRYPTED_ONLY", "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"}
        return dig(ip(), "require_ssl", default=False) is True

    facts.derive("tls_enforced", tls_enforced)

    def backup_days() -> int:
        if dig(backup(), "enabled", default=False) is not True:
            return 0
        # Cloud SQL keeps one automated backup a day; retained_backups counts them (default 7).
        return int(dig(backup(), "backup_retention_settings", 0, "retained_backups", default=7))

    facts.derive("backup_days", backup_days)
    facts.derive(
        "pitr",
        lambda: (
            dig(backup(), "point_in_time_recovery_enabled", default=False) is True
            or dig(backup(), "binary_log_enabled", default=False) is True
        ),
    )
    facts.derive(
        "zone_redundant", lambda: dig(settings(), "availability_type", default="ZONAL") == "REGIONAL"
    )
    # The top-level `deletion_protection` only stops Terraform; the instance is protected against
    # deletion through the console and the API by this setting, off unless set.
    facts.derive(
        "deletion_protection",
        lambda: dig(settings(), "deletion_protection_enabled", default=False) is True,
    )

    def audit_logging() -> bool:
        flags = {
            str(dig(f, "name")): str(dig(f, "value", default="")).lower()
            for f in blocks(settings(), "database_flags")
        }
        return flags.get("cloudsql.enable_pgaudit") == "on" or flags.get("log_connections") == "on"

    facts.derive("audit_logging", audit_logging)
    facts.derive(
        "restored_from",
        lambda: (
            dig(values, "clone", 0, "source_instance_name")
            or dig(values, "restore_backup_context", 0, "instance_id")
            # A read replica holds its primary's data.
            or dig(values, "master_instance_name")
        ),
    )
    return facts.values


def firewall(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()

    def direction() -> str:
        return str(dig(values, "direction", default="INGRESS")).lower()

    facts.derive("direction", direction)
    facts.derive("enabled", lambda: dig(values, "disabled", default=False) is not True)

    def open_ports() -> list[list[int]]:
        if direction() != "ingress" or dig(values, "disabled", default=False) is True:
            return []
        if not any(is_internet(s) for s in dig(values, "source_ranges", default=[])):
            return []
        spans: list[tuple[int, int]] = []
        for rule in blocks(values, "allow"):
            ports = dig(rule, "ports", default=[])
            if str(dig(rule, "protocol", default="all")).lower() == "all" or not ports:
                spans.append((0, 65535))
            else:
                spans.extend(parse_port_span(p) for p in ports)
        return port_ranges(spans)

    facts.derive("internet_ingress_ports", open_ports)
    return facts.values


def crypto_key(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    facts.derive("rotatable", lambda: dig(values, "purpose", default="ENCRYPT_DECRYPT") == "ENCRYPT_DECRYPT")
    facts.derive("rotation_enabled", lambda: bool(dig(values, "rotation_period")))
    facts.derive("rotation_period_days", lambda: days_from_duration(dig(values, "rotation_period")))
    # Cloud KMS never deletes a key, only versions, after the scheduled duration (default 30 days).

    def window() -> int | None:
        return days_from_duration(dig(values, "destroy_scheduled_duration", default="2592000s"))

    facts.derive("deletion_window_days", window)
    facts.derive("deletion_protected", lambda: (window() or 0) >= 30)

    def access_gaps() -> list[str]:
        own = _grants(related, "google_kms_crypto_key_iam")
        # IAM on the key ring (folded into the ring the key links to) holds on every key in it.
        inherited = [
            grant
            for ring in related.get("google_kms_key_ring", ())
            for grant in _grants(related_of(ring), "google_kms_key_ring_iam")
        ]
        return key_access_gaps(own, inherited)

    facts.derive("access_gaps", access_gaps)
    return facts.values


def audit_config(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()

    def types() -> set[str]:
        return {str(dig(c, "log_type")) for c in blocks(values, "audit_log_config")}

    facts.derive("enabled", lambda: bool(types()))
    facts.derive("covers_all_regions", lambda: dig(values, "service") == "allServices")
    facts.derive("data_access_logged", lambda: {"DATA_READ", "DATA_WRITE"} <= types())
    return facts.values


def logging_bucket(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    facts.derive("retention_days", lambda: int(dig(values, "retention_days", default=30)))
    return facts.values


def compute_instance(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    # Compute Engine encrypts every persistent disk and local SSD; no setting turns it off.
    facts.derive("disk_encrypted", lambda: True)
    facts.derive(
        "public_ip", lambda: any(blocks(n, "access_config") for n in blocks(values, "network_interface"))
    )
    facts.derive(
        "shielded_boot",
        lambda: dig(values, "shielded_instance_config", 0, "enable_secure_boot", default=False) is True,
    )

    def hardening_gaps() -> list[str]:
        gaps = []
        shielded = dig(values, "shielded_instance_config", 0, default={})
        if dig(shielded, "enable_secure_boot", default=False) is not True:
            gaps.append("secure boot off")
        if dig(shielded, "enable_vtpm", default=True) is not True:
            gaps.append("vTPM off")
        metadata = dig(values, "metadata", default={}) or {}
        if str(dig(metadata, "block-project-ssh-keys", default="false")).lower() != "true":
            gaps.append("project-wide SSH keys accepted")
        # Unset on the instance, the project's metadata decides, which may be set outside the plan
        # (and a project metadata block cannot be joined to every instance of the project).
        serial_port = dig(metadata, "serial-port-enable")
        if serial_port is None:
            raise Unknown
        if str(serial_port).lower() in {"true", "1"}:
            gaps.append("serial console enabled")
        if dig(values, "can_ip_forward", default=False) is True:
            gaps.append("IP forwarding on")
        return gaps

    facts.derive("hardening_gaps", hardening_gaps)
    return facts.values


def container_cluster(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    facts.derive(
        "secrets_encrypted",
        lambda: (
            dig(values, "database_encryption", 0, "state") == "ENCRYPTED"
            and bool(dig(values, "database_encryption", 0, "key_name"))
        ),
    )

    def control_plane_public() -> bool:
        if dig(values, "private_cluster_config", 0, "enable_private_endpoint", default=False) is True:
            return False
        configs = blocks(values, "master_authorized_networks_config")
        if not configs:
            return True
        networks = [dig(block, "cidr_block") for config in configs for block in blocks(config, "cidr_blocks")]
        if any(is_internet(cidr) for cidr in networks):
            return True
        # Computed when unset: GKE decides, and a public cluster admits every Compute Engine
        # public address (any customer's VM) by default.
        access = dig(configs[0], "gcp_public_cidrs_access_enabled")
        if access is None:
            raise Unknown
        return access is True

    facts.derive("control_plane_public", control_plane_public)
    return facts.values


def network(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    # The default network comes with firewall rules that admit SSH, RDP and ICMP from anywhere.
    facts.derive("default_allow", lambda: dig(values, "name") == "default")
    # An auto-mode network makes a subnetwork in every region, outside the plan and without flow
    # logs; a custom-mode one leaves them to its subnetworks.
    facts.derive(
        "flow_logs",
        lambda: False if dig(values, "auto_create_subnetworks", default=True) is True else None,
    )
    return facts.values


def subnetwork(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    facts.derive("default_allow", lambda: False)
    facts.derive("flow_logs", lambda: bool(blocks(values, "log_config")))
    return facts.values


def secret(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    facts.derive("rotates", lambda: bool(dig(values, "rotation", 0, "rotation_period")))
    return facts.values


def managed_certificate(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    facts.derive("managed_renewal", lambda: True)
    facts.derive("strong_key", lambda: True)
    facts.derive("in_certificate_register", lambda: True)
    return facts.values


def self_managed_certificate(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    facts.derive("managed_renewal", lambda: False)
    facts.derive("in_certificate_register", lambda: True)
    facts.derive("expires", lambda: dig(values, "expire_time"))
    return facts.values


def backup_vault(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    facts.derive("immutable", lambda: bool(dig(values, "backup_minimum_enforced_retention_duration")))
    facts.derive(
        "immutable_retention_days",
        lambda: days_from_duration(dig(values, "backup_minimum_enforced_retention_duration")) or 0,
    )
    return facts.values


def _project_service(values: Mapping[str, Any], related: Related) -> list[str]:
    return [f"api:{dig(values, 'service')}"]


def _alert_policy(values: Mapping[str, Any], related: Related) -> list[str]:
    """What an enabled policy with notification channels alerts on: `log_metric:<name>` for each
    log-based metric a threshold condition watches (its categories wait for it, `_log_metric`),
    and the categories a log-match condition's filter matches itself (normalize/alerting.py)."""
    if dig(values, "enabled", default=True) is not True:
        return []
    conditions = blocks(values, "conditions")
    if len(conditions) > 1 and dig(values, "combiner") != "OR":
        return []  # AND: no condition alerts by itself
    provided: list[str] = []
    for condition in conditions:
        for threshold in blocks(condition, "condition_threshold"):
            provided += gcp_watched_metrics(
                dig(threshold, "filter"), dig(threshold, "comparison"), dig(threshold, "threshold_value")
            )
        for matched in blocks(condition, "condition_matched_log"):
            provided += gcp_log_filter_categories(dig(matched, "filter"), GCP_ALERT_EVENTS)
    if not provided or not known_list(dig(values, "notification_channels")):
        return []
    return list(dict.fromkeys(provided))


def _essential_contact(values: Mapping[str, Any], related: Related) -> list[str]:
    categories = {str(known(c)) for c in dig(values, "notification_category_subscriptions", default=[])}
    return ["security_contact"] if categories & {"SECURITY", "ALL"} else []


def _log_metric(values: Mapping[str, Any], related: Related) -> list[str]:
    """The CIS GCP 2.4-2.11 categories a log-based metric's filter matches, each counted only when
    an alert policy with notification channels watches the metric (`_alert_policy`)."""
    if dig(values, "disabled", default=False) is True:
        return []
    categories = gcp_log_filter_categories(dig(values, "filter"), GCP_ALERT_EVENTS)
    if not categories:
        return []
    return [conditional(category, f"log_metric:{dig(values, 'name')}") for category in categories]


def _organization_sink(values: Mapping[str, Any], related: Related) -> list[str]:
    if dig(values, "disabled", default=False) is True:
        return []
    return ["aggregated_sink"] if dig(values, "include_children", default=False) is True else []


def compute_disk(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    facts = Facts()
    facts.derive("encrypted_at_rest", lambda: True)
    facts.derive("encryption_cmk", lambda: bool(dig(values, "disk_encryption_key", 0, "kms_key_self_link")))
    facts.derive("restored_from", lambda: dig(values, "snapshot") or dig(values, "source_disk"))
    return facts.values


PLANNED: dict[str, PlannedType] = {
    "google_storage_bucket": PlannedType("object_store", storage_bucket),
    "google_sql_database_instance": PlannedType("database", sql_instance),
    "google_compute_firewall": PlannedType("network_rule", firewall),
    "google_kms_crypto_key": PlannedType("key", crypto_key),
    "google_project_iam_audit_config": PlannedType("audit_trail", audit_config),
    **{native: PlannedType("access_policy", hierarchy_iam(level)) for native, level in HIERARCHY_IAM.items()},
    "google_project_iam_custom_role": PlannedType("access_policy", custom_role),
    "google_organization_iam_custom_role": PlannedType("access_policy", custom_role),
    "google_logging_project_bucket_config": PlannedType("log_store", logging_bucket),
    "google_compute_instance": PlannedType("compute", compute_instance),
    "google_compute_disk": PlannedType("disk", compute_disk),
    "google_container_cluster": PlannedType("cluster", container_cluster),
    "google_compute_network": PlannedType("network", network),
    "google_compute_subnetwork": PlannedType("network", subnetwork),
    "google_secret_manager_secret": PlannedType("secret", secret),
    "google_compute_managed_ssl_certificate": PlannedType("certificate", managed_certificate),
    "google_certificate_manager_certificate": PlannedType("certificate", managed_certificate),
    "google_compute_ssl_certificate": PlannedType("certificate", self_managed_certificate),
    "google_backup_dr_backup_vault": PlannedType("backup_vault", backup_vault),
    "google_project_service": security_service(_project_service),
    "google_monitoring_alert_policy": security_service(_alert_policy),
    "google_essential_contacts_contact": security_service(_essential_contact),
    "google_logging_metric": security_service(_log_metric),
    "google_logging_organization_sink": security_service(_organization_sink),
    "google_logging_folder_sink": security_service(_organization_sink),
    "google_os_config_patch_deployment": security_service(lambda values, related: ["patching"]),
}

ESTATE: dict[str, Capability] = {
    # Security Command Center's activation is an organisation setting outside Terraform; the
    # project's API is what a plan can show.
    "threat_detection": Capability(("api:securitycenter.googleapis.com",)),
    "config_recording": Capability(("api:cloudasset.googleapis.com",)),
    "vulnerability_scanning": Capability(
        ("api:containerscanning.googleapis.com", "api:osconfig.googleapis.com")
    ),
    "central_logging": Capability(("aggregated_sink",)),
    # One token per category of CIS GCP 2.4-2.11 (normalize/alerting.py).
    "security_alerting": Capability(tuple(GCP_SECURITY_EVENTS)),
    "security_contact": Capability(("security_contact",)),
    "tamper_alerting": Capability(tuple(GCP_TAMPER_EVENTS)),
    "patch_management": Capability(("patching",)),
}

JOINS: dict[str, Join] = {
    # A project's, folder's or organisation's grant sees the custom role of the plan it grants.
    **{
        native_type: Join("role", tuple(sorted(CUSTOM_ROLES)), absorb=False)
        for native_type in HIERARCHY_IAM
        if not native_type.endswith("_policy")
    },
    "google_storage_bucket_iam_member": Join("bucket", "google_storage_bucket"),
    "google_storage_bucket_iam_binding": Join("bucket", "google_storage_bucket"),
    "google_storage_bucket_iam_policy": Join("bucket", "google_storage_bucket"),
    "google_storage_bucket_acl": Join("bucket", "google_storage_bucket"),
    "google_storage_bucket_access_control": Join("bucket", "google_storage_bucket"),
    "google_storage_default_object_access_control": Join("bucket", "google_storage_bucket"),
    "google_storage_object_acl": Join("bucket", "google_storage_bucket"),
    "google_storage_object_access_control": Join("bucket", "google_storage_bucket"),
    "google_kms_crypto_key_iam_member": Join("crypto_key_id", "google_kms_crypto_key"),
    "google_kms_crypto_key_iam_binding": Join("crypto_key_id", "google_kms_crypto_key"),
    "google_kms_crypto_key_iam_policy": Join("crypto_key_id", "google_kms_crypto_key"),
    # A key ring's IAM grants on every key in it: it is folded into the ring, and each key
    # links to its ring and sees it there.
    "google_kms_key_ring_iam_member": Join("key_ring_id", "google_kms_key_ring"),
    "google_kms_key_ring_iam_binding": Join("key_ring_id", "google_kms_key_ring"),
    "google_kms_key_ring_iam_policy": Join("key_ring_id", "google_kms_key_ring"),
    "google_kms_crypto_key": Join("key_ring", "google_kms_key_ring", absorb=False),
}


GLOBAL_TYPES = (
    frozenset(HIERARCHY_IAM)
    | CUSTOM_ROLES
    | frozenset(
        {
            "google_project_iam_audit_config",
            "google_compute_firewall",
            "google_compute_network",
            "google_project_service",
            "google_monitoring_alert_policy",
            "google_essential_contacts_contact",
            "google_logging_metric",
            "google_logging_organization_sink",
            "google_logging_folder_sink",
            "google_os_config_patch_deployment",
            "google_compute_managed_ssl_certificate",
            "google_compute_ssl_certificate",
        }
    )
)


# Types the provider cannot tag or label: the tagging control does not apply to them. None of
# the global types regops reads takes labels, nor do these regional ones.
UNTAGGABLE = GLOBAL_TYPES | frozenset({"google_logging_project_bucket_config", "google_compute_subnetwork"})


def tags_of(native_type: str, values: Mapping[str, Any]) -> dict[str, str]:
    found = values.get("labels")
    if native_type == "google_container_cluster":
        found = values.get("resource_labels")
    if native_type == "google_sql_database_instance":
        settings = values.get("settings")
        found = settings[0].get("user_labels") if isinstance(settings, list) and settings else None
    # Provider 5+: `terraform_labels` adds the provider's `default_labels` to the resource's own,
    # as the AWS provider's `tags_all` adds `default_tags`.
    return merged_labels(values.get("terraform_labels"), found)


def region_of(native_type: str, values: Mapping[str, Any]) -> str | None:
    if native_type in GLOBAL_TYPES:
        return "global"
    if native_type == "google_secret_manager_secret":
        try:
            return _secret_region(values)
        except Unknown:
            return None
    for key in ("region", "location"):
        found = values.get(key)
        if isinstance(found, str):
            return found.lower()
    zone = values.get("zone")
    if isinstance(zone, str):
        return zone.rsplit("-", 1)[0]
    key_ring = values.get("key_ring")
    if isinstance(key_ring, str):
        match = re.search(r"/locations/([^/]+)/", key_ring)
        return match.group(1) if match else None
    return None


def _secret_region(values: Mapping[str, Any]) -> str | None:
    """Where a secret's payload lives: automatic replication keeps it anywhere Google chooses."""
    replication = dig(values, "replication", 0, default=None)
    if not isinstance(replication, Mapping):
        return None
    if dig(replication, "auto") or dig(replication, "automatic") is True:
        return "global"
    locations = {
        str(dig(replica, "location")).lower()
        for managed in blocks(replication, "user_managed")
        for replica in blocks(managed, "replicas")
    }
    # One region a resource can name; replicas in several leave the answer unknown.
    return locations.pop() if len(locations) == 1 else None

"""Production readiness: detection, alerting, patching, flow logs, certificates, backup vaults."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from regops import Parameters, Resource, not_applicable, require_capability


@pytest.mark.control(
    id="MON-001",
    layer="production",
    severity="high",
    stages=("acceptance", "production"),
    kinds=("estate",),
    facts=("threat_detection",),
    unverified=(
        "DORA Art. 10 paragraph (Prowler description only)",
        "GCP SCC service-settings API field names",
    ),
    frameworks={
        "pci-dss": ["11.5.1", "11.5.1.1", "10.4.1.1"],
        "dora": ["Art. 10"],
        "iso-27001": ["A.8.16", "A.8.7", "A.5.7"],
        "bsi-c5": ["OPS-13", "COS-01", "OPS-05"],
        "cis-azure": ["3.1.3.1", "3.1.5.1", "3.1.8.1", "3.1.9.1"],
    },
)
def test_threat_detection_everywhere(resource: Resource) -> None:
    """Managed threat detection enabled in every region the stage uses

    Intrusion and anomaly detection watches the whole estate (GuardDuty per region, the
    Defender plans for the workloads run, Security Command Center).
    """
    require_capability(resource, "threat_detection", "managed threat detection")


@pytest.mark.control(
    id="MON-003",
    layer="production",
    severity="high",
    stages=("production",),
    kinds=("estate",),
    facts=("security_alerting", "security_contact"),
    unverified=(
        "DORA Art. 10/17 and RTS Art. 23 mapping (articles not read)",
        "CIS Azure v3.0.0 6.2.2-6.2.10: the operation of each recommendation taken from the order of"
        " v2.x 5.2.1-5.2.10 (only 6.2.1's title was confirmed)",
    ),
    frameworks={
        "pci-dss": ["10.4.1", "10.4.1.1", "12.10.5"],
        "dora": ["Art. 10", "Art. 17"],
        "iso-27001": ["A.8.16", "A.6.8"],
        "bsi-c5": ["OPS-13", "IDM-06", "SIM-01"],
        "cis-aws": ["1.2", *(f"4.{n}" for n in (1, 2, 3, 4, 5, 7, 9, 10, 11, 12, 13, 14))],
        "cis-azure": ["3.1.13", "3.1.14", *(f"6.2.{n}" for n in range(1, 11))],
        "cis-gcp": ["1.17", *(f"2.{n}" for n in range(4, 12))],
    },
)
def test_security_alerts_reach_a_contact(resource: Resource) -> None:
    """Security alerts on critical control-plane events, routed to a monitored security contact

    Every category of critical control-plane event raises an alert that reaches someone, and the
    provider knows whom to call. AWS (CIS 4.1-4.5, 4.7, 4.9-4.14): unauthorised API calls,
    console sign-in without MFA, root use, IAM policy, CloudTrail, KMS key disabling or deletion,
    Config, security group, NACL, gateway, route table and VPC changes, each matched by an
    enabled EventBridge rule with a target on the default bus whose pattern matches every event
    of the category, or by a CloudTrail metric filter whose metric an alarm with actions watches
    and raises at the first event. Azure (CIS 6.2.1-6.2.10): an enabled subscription-wide
    activity-log alert with an action group per write and delete of policy assignments, NSGs,
    security solutions, SQL firewall rules and public IPs. GCP (CIS 2.4-2.11): a log-based metric
    for project ownership, audit configuration, custom role, firewall, route, network, bucket IAM
    and Cloud SQL changes, watched by an alert policy with notification channels. An alarm that
    watches anything else (CPU, latency) is not a security alert; the gaps name the categories
    nobody hears about.
    """
    require_capability(resource, "security_alerting", "routed security alert")
    require_capability(resource, "security_contact", "security contact")


@pytest.mark.control(
    id="VUL-002",
    layer="production",
    severity="high",
    stages=("production",),
    kinds=("estate",),
    facts=("patch_management",),
    unverified=("DORA Art. 9(4)(f) point letter",),
    frameworks={
        "pci-dss": ["6.3.3", "11.3.1.1"],
        "dora": ["Art. 9(4)(f)"],
        "rts-2024-1774": ["Art. 10(2)(f)", "Art. 10(2)(g)", "Art. 10(3)", "Art. 10(4)"],
        "iso-27001": ["A.8.8"],
        "bsi-c5": ["OPS-18", "OPS-22"],
    },
)
def test_patching_automated(resource: Resource) -> None:
    """Patch management automated: a baseline and a schedule that applies it

    Critical patches are installed within a month of release; that needs a patch baseline and
    a recurring run (SSM Patch Manager, Azure Update Manager, OS Config patch deployments).
    """
    require_capability(resource, "patch_management", "automated patching")


@pytest.mark.control(
    id="LOG-006",
    layer="production",
    severity="medium",
    stages=("acceptance", "production"),
    kinds=("network", "load_balancer"),
    unverified=("Azure NSG flow log retirement timeline (reason to prefer VNet flow logs) - from memory",),
    frameworks={
        "pci-dss": ["10.2.1", "11.5.1"],
        "rts-2024-1774": ["Art. 12(2)(c)"],
        "iso-27001": ["A.8.15", "A.8.16", "A.8.20"],
        "bsi-c5": ["COS-03"],
        "cis-aws": ["3.7"],
        "cis-azure": ["6.1.5", "6.1.6"],
        "cis-gcp": ["3.8"],
    },
)
def test_flow_and_edge_access_logs(resource: Resource) -> None:
    """Network flow logs and edge access logs enabled

    Traffic into and within the stage can be reconstructed: flow logs on every network, access
    logs on every load balancer.
    """
    if resource.kind == "load_balancer":
        if resource.provider != "aws":
            not_applicable("access logs of Azure and GCP load balancers are diagnostic settings")
        assert resource.fact("access_logs") is True, f"{resource.id}: access logs are off"
        return
    logged = resource.fact("flow_logs")
    if logged is None:
        not_applicable("flow logs are set on the enclosing network or its subnetworks")
    assert logged is True, f"{resource.id}: no flow log records its traffic"


@pytest.mark.control(
    id="KMS-005",
    layer="production",
    severity="medium",
    stages=("acceptance", "production"),
    kinds=("certificate",),
    facts=("in_certificate_register", "managed_renewal"),
    unverified=(
        "PCI 4.2.1 bullet on certificates being valid/not expired (only the requirement title was read)",
    ),
    frameworks={
        "pci-dss": ["4.2.1", "4.2.1.1"],
        "dora": ["Art. 9(4)(d)"],
        "rts-2024-1774": ["Art. 7(4)"],
        "iso-27001": ["A.8.24"],
        "bsi-c5": ["CRY-04"],
        "cis-aws": ["1.19"],
    },
)
def test_certificates_registered_and_valid(resource: Resource, parameters: Parameters) -> None:
    """TLS certificates in a managed register, renewed automatically or valid long enough

    An up-to-date register of certificates with renewal before expiry is required; an expired
    certificate breaks the protection of card data in transit.
    """
    assert resource.fact("in_certificate_register") is True, (
        f"{resource.id}: stored outside the certificate manager (no register, no renewal)"
    )
    if resource.fact("managed_renewal") is True:
        # The manager renews it before expiry; what it cannot fix is a weak key.
        assert resource.fact("strong_key") is True, f"{resource.id}: weak key algorithm or size"
        return
    expires = datetime.fromisoformat(str(resource.fact("expires")).replace("Z", "+00:00"))
    left = (expires - datetime.now(UTC)).days
    assert left >= parameters.certificate_min_days, (
        f"{resource.id}: expires in {left} days; at least {parameters.certificate_min_days} required"
    )


@pytest.mark.control(
    id="BCK-003",
    layer="production",
    severity="high",
    stages=("production",),
    kinds=("backup_vault",),
    facts=("immutable",),
    unverified=(
        "Azure Recovery Services vault property paths (securitySettings.*) and GCP Backup and DR"
        " field names - from memory",
    ),
    frameworks={
        "pci-dss": ["3.5.1"],
        "dora": ["Art. 12(2)", "Art. 12(3)"],
        "rts-2024-1774": ["Art. 6(2)(a)"],
        "iso-27001": ["A.8.13", "A.8.24"],
        "bsi-c5": ["OPS-06", "OPS-09"],
    },
)
def test_backup_vaults_immutable(resource: Resource, parameters: Parameters) -> None:
    """Backup vaults immutable and encrypted with a customer key

    Backups must survive ransomware and insider deletion: a locked vault that keeps recovery
    points at least as long as the backup policy requires.
    """
    assert resource.fact("immutable") is True, f"{resource.id}: the vault is not locked (immutable)"
    days = resource.fact("immutable_retention_days")
    if days is not None:
        assert days >= parameters.backup_retention_days, (
            f"{resource.id}: the lock keeps recovery points {days} days;"
            f" at least {parameters.backup_retention_days} required"
        )
    if resource.provider == "gcp":
        return  # Backup and DR vaults are encrypted by Google; no customer key option.
    assert resource.fact("encryption_cmk") is True, f"{resource.id}: not encrypted with a customer key"

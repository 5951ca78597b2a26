"""Regulatory layer: key custody, log pipelines, inventory, scanning and test data."""

from __future__ import annotations

import pytest

from regops import Parameters, Resource, not_applicable, require_capability


@pytest.mark.control(
    id="KMS-003",
    layer="regulatory",
    severity="high",
    kinds=("key", "secret_store", "access_policy", "identity"),
    facts=("access_gaps",),
    frameworks={
        "pci-dss": ["3.6.1", "3.6.1.2", "3.6.1.3"],
        "dora": ["Art. 9(4)(d)"],
        "rts-2024-1774": ["Art. 7(2)", "Art. 21(b)"],
        "iso-27001": ["A.8.24", "A.5.3", "A.8.2"],
        "bsi-c5": ["CRY-04", "IDM-01"],
        "cis-azure": ["3.3.6", "3.3.7"],
        "cis-gcp": ["1.9", "1.11"],
    },
)
def test_key_access_restricted(resource: Resource) -> None:
    """Key access restricted to named custodians

    Access to keys protecting stored account data is limited to the fewest custodians: no key
    policy or IAM binding for everyone, Key Vaults under Azure RBAC and off the open network,
    and nobody both administers a key and decrypts with it (an AWS key policy granting
    kms:PutKeyPolicy or kms:ScheduleKeyDeletion with kms:Decrypt; the Cloud KMS admin role with
    one that encrypts or decrypts; an Azure custom role with both). No IAM policy, and no user
    or role through the policies it holds, may decrypt with or administer every key at once.
    """
    gaps = resource.fact("access_gaps")
    assert not gaps, f"{resource.id}: {'; '.join(gaps)}"


@pytest.mark.control(
    id="LOG-004",
    layer="regulatory",
    severity="high",
    stages=("acceptance", "production"),
    kinds=("estate",),
    facts=("central_logging",),
    unverified=(
        "DORA Art. 10 (detection) paragraph not read; taken from Prowler description",
        "RTS Art. 23 (anomalous activity detection) likely applies; not read",
    ),
    frameworks={
        "pci-dss": ["10.3.3", "10.4.1", "10.4.1.1"],
        "dora": ["Art. 10"],
        "rts-2024-1774": ["Art. 12(2)(b)"],
        "iso-27001": ["A.8.15", "A.8.16"],
        "bsi-c5": ["OPS-13", "OPS-14"],
        "cis-gcp": ["2.2"],
    },
)
def test_central_log_aggregation(resource: Resource) -> None:
    """Central log aggregation for SIEM correlation

    Audit logs from every part of the stage reach one place where they are reviewed and
    correlated (CloudTrail to CloudWatch Logs or Security Lake, Sentinel, an aggregated sink).
    """
    require_capability(resource, "central_logging", "central log aggregation")


@pytest.mark.control(
    id="LOG-005",
    layer="regulatory",
    severity="high",
    stages=("acceptance", "production"),
    kinds=("database", "object_store"),
    frameworks={
        "pci-dss": ["10.2.1.1", "10.2.1.3", "10.2.1.4"],
        "rts-2024-1774": ["Art. 12(2)(c)"],
        "iso-27001": ["A.8.15"],
        "bsi-c5": ["OPS-15", "PSS-04"],
        "cis-aws": ["3.8", "3.9"],
        "cis-azure": ["5.1.1"],
        "cis-gcp": ["6.2.2", "6.2.8"],
    },
)
def test_cde_data_access_logged(resource: Resource, parameters: Parameters) -> None:
    """Data-access and database audit logging for cardholder data stores

    Every access to cardholder data is logged: database audit or connection logs, object-level
    access logs on buckets, and for DynamoDB tables a trail recording their data events.
    """
    if resource.tags.get(parameters.classification_tag) != parameters.cde_classification:
        not_applicable(
            f"not a cardholder data store ({parameters.classification_tag} is not "
            f"{parameters.cde_classification})"
        )
    fact = "audit_logging" if resource.kind == "database" else "access_logging"
    assert resource.fact(fact) is True, f"{resource.id}: access to its data is not logged"


@pytest.mark.control(
    id="MON-002",
    layer="regulatory",
    severity="high",
    kinds=("estate",),
    facts=("config_recording",),
    frameworks={
        "pci-dss": ["12.5.1"],
        "dora": ["Art. 8(1)", "Art. 8(4)", "Art. 8(6)"],
        "rts-2024-1774": ["Art. 4(2)(a)", "Art. 4(2)(b)"],
        "iso-27001": ["A.5.9", "A.8.9"],
        "bsi-c5": ["AM-01"],
        "cis-aws": ["3.3"],
        "cis-gcp": ["2.13"],
    },
)
def test_configuration_recording(resource: Resource) -> None:
    """Configuration recording and automated asset inventory enabled

    The ICT asset inventory is kept current by the platform itself (AWS Config in every region,
    Defender CSPM, Cloud Asset Inventory).
    """
    require_capability(resource, "config_recording", "configuration recording")


@pytest.mark.control(
    id="MON-004",
    layer="regulatory",
    severity="high",
    stages=("production",),
    kinds=("estate",),
    facts=("tamper_alerting",),
    unverified=("PCI 10.7.1/10.7.2 list of covered control types (only titles read)",),
    frameworks={
        "pci-dss": ["10.7.1", "10.7.2"],
        "rts-2024-1774": ["Art. 12(2)(e)"],
        "iso-27001": ["A.8.16"],
        "bsi-c5": ["OPS-17"],
        "cis-gcp": ["2.5"],
    },
)
def test_logging_failure_alerted(resource: Resource) -> None:
    """Failure or tampering of audit logging is detected and alerted

    Switching audit logging off or blinding it raises an alert that reaches someone: on AWS
    StopLogging, DeleteTrail, UpdateTrail and PutEventSelectors, and StopConfigurationRecorder and
    DeleteDeliveryChannel, each matched by an EventBridge rule or an alarmed metric filter as for
    MON-003; on Azure writing and deleting diagnostic settings (activity-log alerts with an action
    group); on GCP audit configuration changes (a log-based metric an alert policy with channels
    watches, CIS GCP 2.5). Patterns are evaluated, not searched for names.
    """
    require_capability(resource, "tamper_alerting", "alert on audit-logging changes")


@pytest.mark.control(
    id="VUL-001",
    layer="regulatory",
    severity="high",
    stages=("acceptance", "production"),
    kinds=("estate",),
    facts=("vulnerability_scanning",),
    unverified=("DORA Art. 9(4)(f) (patches and updates) - point letter from memory",),
    frameworks={
        "pci-dss": ["11.3.1", "11.3.1.3", "6.3.3"],
        "dora": ["Art. 9(4)(f)"],
        "rts-2024-1774": ["Art. 10(2)(b)"],
        "iso-27001": ["A.8.8"],
        "bsi-c5": ["OPS-22", "OPS-18"],
        "cis-azure": ["3.1.3.2"],
    },
)
def test_automated_vulnerability_scanning(resource: Resource) -> None:
    """Automated vulnerability scanning of hosts, images and functions

    DORA's RTS asks for automated scanning at least weekly for assets supporting critical or
    important functions; continuous scanning (Inspector, Defender, Artifact Analysis) meets it.
    """
    require_capability(resource, "vulnerability_scanning", "automated vulnerability scanning")


@pytest.mark.control(
    id="ENV-002",
    layer="regulatory",
    severity="critical",
    stages=("system", "acceptance"),
    kinds=("database", "disk"),
    unverified=(
        "exact paragraph of RTS Art. 16 on anonymised production data in non-production"
        " (content seen in a secondary summary only)",
    ),
    frameworks={
        "pci-dss": ["6.5.5", "6.5.6"],
        "dora": ["Art. 9(4)(e)"],
        "rts-2024-1774": ["Art. 16"],
        "iso-27001": ["A.8.33", "A.8.31"],
        "bsi-c5": ["DEV-10"],
    },
)
def test_no_copies_of_live_data_before_production(resource: Resource) -> None:
    """No production data copied into non-production stages

    Test and acceptance stages work with test data. A database or disk created from a snapshot,
    a backup or another server carries whatever that source held; it needs an approved waiver
    that names the source and how its data was anonymised.
    """
    if resource.origin != "planned":
        not_applicable("where a resource's data came from is declared in the plan that creates it")
    source = resource.fact("restored_from")
    assert source is None, f"{resource.id}: created from {source} in stage {resource.stage}"

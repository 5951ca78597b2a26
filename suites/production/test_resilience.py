"""Production layer: production readiness, backups, redundancy and deletion protection."""

from __future__ import annotations

import pytest

from regops import PLANNED_DELETION, STATEFUL_KINDS, Parameters, Resource, not_applicable


@pytest.mark.control(
    id="BCK-001",
    layer="production",
    severity="high",
    kinds=("database",),
    facts=("backup_days",),
    frameworks={
        "dora": ["Art. 12(1)(a)", "Art. 12(2)"],
        "rts-2024-1774": ["Art. 4(2)(b)(vi)"],
        "iso-27001": ["A.8.13"],
        "bsi-c5": ["OPS-06", "OPS-07"],
        "cis-gcp": ["6.7"],
    },
)
def test_database_backups(resource: Resource, parameters: Parameters) -> None:
    """Automated backups with the required retention

    DORA requires backup policies that allow restoring data after an incident.
    """
    days = resource.fact("backup_days")
    assert days >= parameters.backup_retention_days, (
        f"{resource.id}: backups kept {days} days; at least {parameters.backup_retention_days} required"
    )


@pytest.mark.control(
    id="BCK-002",
    layer="production",
    severity="high",
    kinds=("database",),
    facts=("pitr",),
    frameworks={
        "dora": ["Art. 12(1)"],
        "rts-2024-1774": ["Art. 4(2)(b)(vi)"],
        "iso-27001": ["A.8.13"],
        "bsi-c5": ["OPS-06"],
    },
)
def test_point_in_time_recovery(resource: Resource) -> None:
    """Point-in-time recovery for transactional data stores

    A ledger must be restorable to the moment before corruption, not to last night.
    """
    assert resource.fact("pitr") is True, f"{resource.id}: point-in-time recovery is off"


@pytest.mark.control(
    id="BCK-004",
    layer="production",
    severity="high",
    kinds=("database",),
    facts=("zone_redundant",),
    unverified=("DORA Art. 12(4)/(6) redundant-capacity paragraph number and Art. 11 text (not read)",),
    frameworks={
        "dora": ["Art. 12", "Art. 11"],
        "rts-2024-1774": ["Art. 4(2)(b)(vi)"],
        "iso-27001": ["A.8.14", "A.5.30"],
        "bsi-c5": ["PS-02"],
    },
)
def test_zone_redundancy(resource: Resource) -> None:
    """Zone-redundant production data stores

    The loss of one availability zone must not stop payments.
    """
    assert resource.fact("zone_redundant") is True, f"{resource.id}: runs in a single zone"


@pytest.mark.control(
    id="BCK-005",
    layer="production",
    severity="medium",
    stages=("acceptance", "production"),
    kinds=("object_store",),
    facts=("versioning",),
    frameworks={
        "dora": ["Art. 12(1)"],
        "iso-27001": ["A.8.13"],
        "bsi-c5": ["OPS-06"],
        "cis-aws": ["2.1.2"],
        "cis-azure": ["4.10"],
    },
)
def test_object_versioning(resource: Resource) -> None:
    """Versioning on object storage holding critical data

    Overwritten or deleted objects must be recoverable.
    """
    assert resource.fact("versioning") is True, f"{resource.id}: versioning is off"


@pytest.mark.control(
    id="DEL-001",
    layer="production",
    severity="high",
    kinds=("database",),
    facts=("deletion_protection",),
    frameworks={
        "dora": ["Art. 12(1)"],
        "iso-27001": ["A.8.13", "A.8.32"],
        "bsi-c5": ["OPS-06"],
        "cis-azure": ["10.1", "2.24"],
    },
)
def test_deletion_protection(resource: Resource) -> None:
    """Deletion protection on production stateful resources

    One mistaken apply must not destroy the ledger.
    """
    assert resource.fact("deletion_protection") is True, f"{resource.id}: can be deleted without a safeguard"


@pytest.mark.control(
    id="DEL-002",
    layer="production",
    severity="high",
    kinds=(*STATEFUL_KINDS, PLANNED_DELETION),
    frameworks={
        "pci-dss": ["6.5.1"],
        "dora": ["Art. 9(4)(e)"],
        "rts-2024-1774": ["Art. 17(1)(b)", "Art. 17(1)(e)", "Art. 17(1)(h)"],
        "iso-27001": ["A.8.32"],
        "bsi-c5": ["DEV-05", "DEV-09"],
    },
)
def test_no_replacement_of_protected_resources(resource: Resource) -> None:
    """The production plan does not delete or replace stateful resources without a second approval

    A deletion or replacement destroys the data of a database, bucket, disk, key, secret or backup
    vault; it needs an approved waiver.
    """
    if resource.origin != "planned":
        not_applicable("judged on the plan, before anything is applied")
    action = resource.fact("planned_action")
    assert action != "delete", f"{resource.id}: the plan deletes it and its data (approve with a waiver)"
    assert action != "replace", f"{resource.id}: the plan destroys and recreates it (approve with a waiver)"

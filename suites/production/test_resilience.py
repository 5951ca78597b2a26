"""Production layer: production readiness, backups, redundancy and deletion protection."""

from __future__ import annotations

import pytest

from regops import Parameters, Resource


@pytest.mark.control(
    id="BCK-001",
    layer="production",
    severity="high",
    kinds=("database",),
    facts=("backup_days",),
    frameworks={
        "pci-dss": ["12.10.1"],
        "dora": ["Art. 12(1)", "Art. 12(2)"],
        "rts-2024-1774": ["Art. 24(1)"],
        "iso-27001": ["A.8.13"],
        "bsi-c5": ["OPS-06", "OPS-07"],
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
        "rts-2024-1774": ["Art. 24(1)"],
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
    frameworks={
        "dora": ["Art. 11(1)", "Art. 12(6)"],
        "rts-2024-1774": ["Art. 24(2)"],
        "iso-27001": ["A.8.14"],
        "bsi-c5": ["BCM-03"],
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
    kinds=("database", "key", "secret_store"),
    frameworks={
        "dora": ["Art. 9(4)(c)", "Art. 12(1)"],
        "rts-2024-1774": ["Art. 7(3)"],
        "iso-27001": ["A.8.13"],
        "bsi-c5": ["OPS-06"],
        "cis-azure": ["3.3.5"],
    },
)
def test_deletion_protection(resource: Resource) -> None:
    """Deletion protection on production stateful resources and keys

    One mistaken apply must not destroy the ledger or the keys its backups depend on.
    """
    fact = "deletion_protection" if resource.kind == "database" else "deletion_protected"
    assert resource.fact(fact) is True, f"{resource.id}: can be deleted without a safeguard"

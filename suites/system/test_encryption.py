"""System layer: data at rest is encrypted as the platform defines it."""

from __future__ import annotations

import pytest

from regops import Parameters, Resource, not_applicable


def _classified(resource: Resource, parameters: Parameters) -> bool:
    return resource.tags.get(parameters.classification_tag, "") in parameters.cmk_required_for


@pytest.mark.control(
    id="ENC-001",
    layer="system",
    severity="high",
    kinds=("object_store",),
    facts=("encrypted_at_rest",),
    frameworks={
        "pci-dss": ["3.5.1"],
        "dora": ["Art. 9(4)(d)"],
        "rts-2024-1774": ["Art. 6(2)(a)"],
        "iso-27001": ["A.8.24"],
        "bsi-c5": ["CRY-03"],
        "cis-azure": ["4.11"],
    },
)
def test_object_store_encrypted_at_rest(resource: Resource, parameters: Parameters) -> None:
    """Object storage encrypted at rest (customer-managed key for confidential and CDE data)

    Stored PAN and customer data must be unreadable at rest, and keys for sensitive data must be
    under the operator's control.
    """
    assert resource.fact("encrypted_at_rest") is True, f"{resource.id}: not encrypted at rest"
    if _classified(resource, parameters):
        assert resource.fact("encryption_cmk") is True, (
            f"{resource.id}: data_classification={resource.tags[parameters.classification_tag]} "
            "requires a customer-managed key; the store uses a provider-managed key"
        )


@pytest.mark.control(
    id="ENC-003",
    layer="system",
    severity="high",
    kinds=("database",),
    facts=("encrypted_at_rest",),
    frameworks={
        "pci-dss": ["3.5.1"],
        "dora": ["Art. 9(4)(d)"],
        "rts-2024-1774": ["Art. 6(2)(a)"],
        "iso-27001": ["A.8.24"],
        "bsi-c5": ["CRY-03"],
        "cis-aws": ["2.3.1"],
        "cis-azure": ["5.1.3", "5.1.5"],
        "cis-gcp": ["7.3"],
    },
)
def test_database_encrypted_at_rest(resource: Resource, parameters: Parameters) -> None:
    """Managed databases encrypted at rest (customer-managed key for confidential and CDE data)

    Databases are the primary store of PAN and transaction data.
    """
    assert resource.fact("encrypted_at_rest") is True, f"{resource.id}: storage is not encrypted"
    if _classified(resource, parameters):
        assert resource.fact("encryption_cmk") is True, (
            f"{resource.id}: data_classification={resource.tags[parameters.classification_tag]} "
            "requires a customer-managed key"
        )


@pytest.mark.control(
    id="ENC-002",
    layer="system",
    severity="high",
    kinds=("disk", "compute", "account"),
    frameworks={
        "pci-dss": ["3.5.1", "3.5.1.3"],
        "dora": ["Art. 9(4)(d)"],
        "rts-2024-1774": ["Art. 6(2)(a)"],
        "iso-27001": ["A.8.24"],
        "bsi-c5": ["CRY-03"],
        "cis-aws": ["2.2.1"],
        "cis-azure": ["8.3", "8.4"],
    },
)
def test_block_storage_encrypted(resource: Resource) -> None:
    """Block storage and VM disks encrypted by default

    Disk snapshots and detached volumes are a common way out for stored data.
    """
    if resource.kind == "account":
        if resource.native_type != "aws_ebs_encryption_by_default":
            not_applicable(f"{resource.native_type} is no disk encryption setting")
        assert resource.fact("ebs_default_encryption") is True, (
            f"{resource.id}: new EBS volumes in this region are not encrypted by default"
        )
        return
    if resource.kind == "compute":
        assert resource.fact("disk_encrypted") is True, (
            f"{resource.id}: not every disk the instance writes to is encrypted (AWS: each block"
            " device sets encrypted = true; Azure: encryption at host covers the temporary disk and caches)"
        )
        return
    assert resource.fact("encrypted_at_rest") is True, f"{resource.id}: the disk is not encrypted"

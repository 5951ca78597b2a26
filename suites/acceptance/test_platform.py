"""Acceptance layer: clusters, the web edge and compute images as the platform runs them."""

from __future__ import annotations

import pytest

from regops import Resource, not_applicable


@pytest.mark.control(
    id="ENC-006",
    layer="acceptance",
    severity="medium",
    stages=("acceptance", "production"),
    kinds=("cluster",),
    facts=("secrets_encrypted",),
    frameworks={
        "pci-dss": ["8.3.2"],
        "dora": ["Art. 9(4)(d)"],
        "rts-2024-1774": ["Art. 6(2)(a)"],
        "iso-27001": ["A.8.24"],
        "bsi-c5": ["CRY-03"],
    },
)
def test_cluster_secrets_envelope_encrypted(resource: Resource) -> None:
    """Kubernetes secrets envelope-encrypted with a KMS key

    etcd holds service credentials; envelope encryption limits what a copy of it discloses.
    """
    assert resource.fact("secrets_encrypted") is True, (
        f"{resource.id}: Kubernetes secrets are not envelope-encrypted with a customer key"
    )


@pytest.mark.control(
    id="NET-008",
    layer="acceptance",
    severity="high",
    kinds=("cluster",),
    facts=("control_plane_public",),
    frameworks={
        "pci-dss": ["1.4.1", "1.4.2"],
        "dora": ["Art. 9(4)(c)"],
        "rts-2024-1774": ["Art. 13(c)", "Art. 13(d)"],
        "iso-27001": ["A.8.20", "A.8.2"],
        "bsi-c5": ["COS-05"],
    },
)
def test_cluster_control_plane_not_public(resource: Resource) -> None:
    """Kubernetes control plane not publicly exposed

    Cluster administration endpoints belong to an administration network, or at least behind an
    allow-list that is not the whole internet.
    """
    assert resource.fact("control_plane_public") is False, (
        f"{resource.id}: the Kubernetes API answers the whole internet"
    )


@pytest.mark.control(
    id="NET-009",
    layer="acceptance",
    severity="high",
    stages=("acceptance", "production"),
    kinds=("load_balancer",),
    facts=("internet_facing", "waf_attached"),
    frameworks={
        "pci-dss": ["6.4.1", "6.4.2"],
        "dora": ["Art. 9(1)"],
        "iso-27001": ["A.8.20", "A.8.26"],
        "bsi-c5": ["COS-01"],
    },
)
def test_web_application_firewall_in_front(resource: Resource) -> None:
    """Web application firewall in front of public web applications and APIs

    Public-facing web applications need an automated solution that detects and prevents attacks.
    """
    if resource.fact("internet_facing") is not True:
        not_applicable("internal load balancer")
    assert resource.fact("waf_attached") is True, f"{resource.id}: internet-facing without a WAF"


@pytest.mark.control(
    id="VUL-004",
    layer="acceptance",
    severity="medium",
    kinds=("compute",),
    facts=("hardening_gaps",),
    unverified=(
        "RTS 2024/1774 Art. 11 (data and system security / secure configuration baselines)"
        " probably applies; not read",
        "PCI 2.2.1 (configuration standards) probably applies; not read",
    ),
    frameworks={
        "pci-dss": ["2.2.5"],
        "dora": ["Art. 9(2)"],
        "iso-27001": ["A.8.9", "A.8.19"],
        "bsi-c5": ["OPS-23", "PSS-11"],
        "cis-aws": ["5.6"],
        "cis-azure": ["8.11"],
        "cis-gcp": ["4.3", "4.4", "4.5", "4.6", "4.8"],
    },
)
def test_hardened_compute_baseline(resource: Resource) -> None:
    """Hardened compute baseline (IMDSv2, secure boot and vTPM, no project-wide keys or serial console)

    Production system components are hardened according to accepted industry standards.
    """
    gaps = resource.fact("hardening_gaps")
    assert not gaps, f"{resource.id}: not hardened: {', '.join(gaps)}"

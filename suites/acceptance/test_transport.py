"""Acceptance layer: data in transit is protected as agreed with the customer."""

from __future__ import annotations

import pytest

from regops import Parameters, Resource, not_applicable


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


@pytest.mark.control(
    id="ENC-004",
    layer="acceptance",
    severity="high",
    kinds=("object_store", "load_balancer"),
    unverified=("RTS 2024/1774 Art. 14 (securing information in transit) probably also applies; not read",),
    frameworks={
        "pci-dss": ["4.2.1", "2.2.7"],
        "dora": ["Art. 9(4)(d)"],
        "rts-2024-1774": ["Art. 6(2)(a)", "Art. 13(e)"],
        "iso-27001": ["A.8.24", "A.5.14"],
        "bsi-c5": ["CRY-02"],
        "cis-aws": ["2.1.1"],
        "cis-azure": ["4.1", "4.15", "9.1", "9.4"],
        "cis-gcp": ["3.9"],
    },
)
def test_tls_1_2_on_endpoints(resource: Resource, parameters: Parameters) -> None:
    """TLS 1.2 or newer enforced on every service endpoint

    PAN and credentials in transit over open networks need strong cryptography; legacy TLS and
    plaintext must be refused or redirected.
    """
    if resource.kind == "load_balancer":
        assert resource.fact("plaintext_listener") is False, (
            f"{resource.id}: a plaintext listener serves traffic without redirecting to HTTPS"
        )
        minimum = resource.fact("tls_min_version")
        if minimum is None:
            not_applicable("no TLS listener")
    else:
        # Every object store establishes https_only (S3 from a bucket policy denying plain HTTP):
        # one that is missing was not read, and reading it here makes that an error.
        assert resource.fact("https_only") is True, f"{resource.id}: accepts plain HTTP"
        if not resource.has_fact("tls_min_version") and resource.provider != "azure":
            # S3 and GCS negotiate TLS 1.2+ on their endpoints; only Azure lets an account lower it.
            return
        minimum = resource.fact("tls_min_version")
    assert _version(minimum) >= _version(parameters.tls_min_version), (
        f"{resource.id}: accepts TLS {minimum}; at least {parameters.tls_min_version} is required"
    )


@pytest.mark.control(
    id="ENC-005",
    layer="acceptance",
    severity="high",
    kinds=("database",),
    facts=("tls_enforced",),
    frameworks={
        "pci-dss": ["8.3.2"],
        "dora": ["Art. 9(4)(d)"],
        "rts-2024-1774": ["Art. 6(2)(c)", "Art. 13(e)"],
        "iso-27001": ["A.8.24"],
        "bsi-c5": ["CRY-02"],
        "cis-azure": ["5.2.1", "5.3.1", "5.3.2"],
        "cis-gcp": ["6.4"],
    },
)
def test_database_requires_tls(resource: Resource) -> None:
    """Database connections require TLS

    Database credentials and card data cross the internal network encrypted as well.
    """
    assert resource.fact("tls_enforced") is True, f"{resource.id}: accepts unencrypted connections"

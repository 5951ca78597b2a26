"""System layer: credentials live in a secret store, rotate, and never sit in configuration."""

from __future__ import annotations

import pytest

from regops import Resource


@pytest.mark.control(
    id="KMS-004",
    layer="system",
    severity="critical",
    kinds=("secret", "function"),
    frameworks={
        "pci-dss": ["8.3.2", "8.6.3"],
        "dora": ["Art. 9(4)(d)"],
        "rts-2024-1774": ["Art. 7(1)"],
        "iso-27001": ["A.5.17", "A.8.24"],
        "bsi-c5": ["IDM-08", "CRY-04"],
        "cis-azure": ["3.3.3", "3.3.4"],
    },
)
def test_secrets_managed_and_never_in_configuration(resource: Resource) -> None:
    """Secrets held only in a managed secret store, with rotation or expiry; none in configuration

    Application and system account passwords must not be readable in code, state or environment
    variables, and a stored secret is changed on a schedule.
    """
    if resource.kind == "secret":
        assert resource.fact("rotates") is True, f"{resource.id}: neither rotates nor expires"
        return
    found = resource.fact("plaintext_secrets")
    assert not found, (
        f"{resource.id}: secret-like setting(s) {', '.join(found)} hold a value, not a secret-store reference"
    )

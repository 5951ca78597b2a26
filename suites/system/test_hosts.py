"""System layer, hosts: what the operating system of a server enforces, read through testinfra.

Hosts come from the stage's `hosts` configuration (SSH targets, an Ansible inventory) and from
live discovery (compute instances tagged for the stage); TLS endpoints are probed from where
regops runs. An unreachable host has no facts, so every control here is an error for it.
"""

from __future__ import annotations

import pytest

from regops import Parameters, Resource


@pytest.mark.control(
    id="HST-001",
    layer="system",
    severity="high",
    kinds=("host",),
    facts=("ssh_root_login_forbidden",),
    frameworks={
        "pci-dss": ["2.2.6", "8.2.2"],
        "dora": ["Art. 9(4)(c)"],
        "iso-27001": ["A.8.2", "A.8.5"],
    },
)
def test_ssh_forbids_root_login(resource: Resource) -> None:
    """SSH refuses root logins

    Administrators log in as themselves, so every action traces back to a person.
    """
    assert resource.fact("ssh_root_login_forbidden") is True, f"{resource.id}: sshd lets root log in"


@pytest.mark.control(
    id="HST-002",
    layer="system",
    severity="high",
    kinds=("host",),
    facts=("ssh_password_auth_disabled",),
    frameworks={"pci-dss": ["2.2.6"], "iso-27001": ["A.8.5"]},
)
def test_ssh_forbids_passwords(resource: Resource) -> None:
    """SSH accepts keys, not passwords

    Passwords over SSH invite guessing; keys (or certificates) do not.
    """
    assert resource.fact("ssh_password_auth_disabled") is True, (
        f"{resource.id}: sshd accepts password or keyboard-interactive logins"
    )


@pytest.mark.control(
    id="HST-003",
    layer="system",
    severity="high",
    kinds=("host",),
    facts=("ssh_ciphers", "ssh_macs", "ssh_kex"),
    frameworks={"pci-dss": ["2.2.7", "4.2.1"], "iso-27001": ["A.8.24"], "bsi-c5": ["CRY-02"]},
)
def test_ssh_uses_strong_cryptography(resource: Resource, parameters: Parameters) -> None:
    """SSH offers only strong ciphers, MACs and key exchanges

    Administrative access is encrypted with strong cryptography: no CBC, RC4, 3DES, MD5 or SHA-1.
    """
    offered = [*resource.fact("ssh_ciphers"), *resource.fact("ssh_macs"), *resource.fact("ssh_kex")]
    weak = sorted(a for a in offered if any(w in a.lower() for w in parameters.ssh_weak_algorithms))
    assert not weak, f"{resource.id}: sshd offers weak algorithms {weak}"


@pytest.mark.control(
    id="HST-004",
    layer="system",
    severity="medium",
    kinds=("host",),
    facts=("audit_persistent",),
    frameworks={"pci-dss": ["10.2.1", "10.5.1"], "iso-27001": ["A.8.15"]},
)
def test_host_audit_log_persistent(resource: Resource) -> None:
    """Host audit events survive a reboot

    auditd runs, or journald keeps its journal on disk.
    """
    assert resource.fact("audit_persistent") is True, (
        f"{resource.id}: neither auditd runs nor does journald store its journal persistently"
    )


@pytest.mark.control(
    id="HST-005",
    layer="system",
    severity="medium",
    kinds=("host",),
    facts=("time_synchronised",),
    frameworks={"pci-dss": ["10.6.1"], "iso-27001": ["A.8.17"]},
)
def test_host_time_synchronised(resource: Resource) -> None:
    """Host clocks are synchronised

    Audit trails from many systems can only be correlated on one time base.
    """
    assert resource.fact("time_synchronised") is True, f"{resource.id}: no time synchronisation is active"


@pytest.mark.control(
    id="HST-006",
    layer="system",
    severity="high",
    kinds=("host",),
    facts=("world_writable_in_etc",),
    frameworks={"pci-dss": ["2.2.6"], "iso-27001": ["A.8.9"]},
)
def test_no_world_writable_configuration(resource: Resource) -> None:
    """Nothing under /etc is world-writable

    Any local user who can write system configuration can become root.
    """
    found = resource.fact("world_writable_in_etc")
    assert not found, f"{resource.id}: world-writable under /etc: {', '.join(found[:10])}"


@pytest.mark.control(
    id="HST-007",
    layer="system",
    severity="high",
    kinds=("tls_endpoint",),
    facts=("tls_legacy_refused",),
    frameworks={
        "pci-dss": ["4.2.1"],
        "dora": ["Art. 9(4)(d)"],
        "iso-27001": ["A.8.24"],
        "bsi-c5": ["CRY-02"],
    },
)
def test_tls_endpoint_refuses_legacy_versions(resource: Resource) -> None:
    """TLS endpoints refuse TLS 1.0 and 1.1

    Probed from where regops runs: a handshake offering only TLS 1.0/1.1 must fail.
    """
    accepted = resource.facts.get("tls_versions_accepted") or []
    assert resource.fact("tls_legacy_refused") is True, f"{resource.id}: accepts {', '.join(accepted)}"

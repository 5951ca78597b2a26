"""System layer: the network exposure is what the platform defines."""

from __future__ import annotations

import pytest

from regops import Parameters, Resource


def _spans_hit(spans: list[list[int]], ports: list[int]) -> list[int]:
    return sorted(port for port in ports if any(low <= port <= high for low, high in spans))


@pytest.mark.control(
    id="NET-001",
    layer="system",
    severity="critical",
    kinds=("network_rule",),
    facts=("internet_ingress_ports",),
    frameworks={
        "pci-dss": ["1.3.1", "1.4.1", "1.4.2"],
        "dora": ["Art. 9(4)(c)"],
        "rts-2024-1774": ["Art. 13(a)", "Art. 13(c)", "Art. 13(d)"],
        "iso-27001": ["A.8.20", "A.8.22"],
        "bsi-c5": ["COS-04", "COS-05"],
        "cis-aws": ["5.1", "5.2", "5.3"],
        "cis-azure": ["7.1", "7.2"],
        "cis-gcp": ["3.6", "3.7"],
    },
)
def test_no_internet_ingress_to_admin_ports(resource: Resource, parameters: Parameters) -> None:
    """No internet ingress to administrative ports (SSH, RDP, WinRM)

    Administrative access from the internet is the most common entry point for attacks on cloud
    workloads; it goes through a bastion or a managed session service instead.
    """
    exposed = _spans_hit(resource.fact("internet_ingress_ports"), parameters.admin_ports)
    assert not exposed, f"{resource.id}: administrative port(s) {exposed} open to the internet"


@pytest.mark.control(
    id="NET-002",
    layer="system",
    severity="high",
    kinds=("network_rule",),
    facts=("internet_ingress_ports",),
    frameworks={
        "pci-dss": ["1.2.5", "1.3.1", "1.4.2", "2.2.5"],
        "dora": ["Art. 9(4)(c)"],
        "rts-2024-1774": ["Art. 13(a)", "Art. 13(d)"],
        "iso-27001": ["A.8.20", "A.8.21", "A.8.22"],
        "bsi-c5": ["COS-03", "COS-04"],
        "cis-azure": ["7.3", "7.4"],
    },
)
def test_internet_ingress_only_to_edge_ports(resource: Resource, parameters: Parameters) -> None:
    """No internet ingress except HTTP(S) on designated edge components

    Only the edge tier (load balancers, gateways) answers the internet, and only on 80/443.
    """
    spans = resource.fact("internet_ingress_ports")
    if not spans:
        return
    is_edge = resource.tags.get(parameters.edge_tag) == parameters.edge_tag_value
    assert is_edge, (
        f"{resource.id}: open to the internet on {spans} but not tagged "
        f"{parameters.edge_tag}={parameters.edge_tag_value}"
    )
    allowed = set(parameters.edge_ports)
    beyond = [span for span in spans if not (span[0] == span[1] and span[0] in allowed)]
    assert not beyond, (
        f"{resource.id}: edge component open to the internet beyond {sorted(allowed)}: {beyond}"
    )


@pytest.mark.control(
    id="NET-004",
    layer="system",
    severity="critical",
    kinds=("object_store",),
    facts=("public",),
    frameworks={
        "pci-dss": ["1.3.1", "1.4.4", "7.2.1"],
        "dora": ["Art. 9(4)(c)"],
        "rts-2024-1774": ["Art. 21(d)"],
        "iso-27001": ["A.8.3", "A.8.12"],
        "bsi-c5": ["COS-04", "IDM-01"],
        "cis-aws": ["2.1.4"],
        "cis-azure": ["4.6", "4.7"],
        "cis-gcp": ["5.1"],
    },
)
def test_object_store_not_public(resource: Resource) -> None:
    """Object storage not publicly accessible

    Publicly readable buckets are the most frequent cause of cloud data breaches.
    """
    assert resource.fact("public") is False, f"{resource.id}: can be read anonymously from the internet"


@pytest.mark.control(
    id="NET-005",
    layer="system",
    severity="critical",
    kinds=("database",),
    facts=("public",),
    frameworks={
        "pci-dss": ["1.3.1", "1.4.4"],
        "dora": ["Art. 9(4)(c)"],
        "rts-2024-1774": ["Art. 13(a)", "Art. 13(d)"],
        "iso-27001": ["A.8.20", "A.8.22", "A.8.3"],
        "bsi-c5": ["COS-04"],
        "cis-aws": ["2.3.3"],
        "cis-azure": ["5.1.2", "5.1.7"],
        "cis-gcp": ["6.5", "6.6"],
    },
)
def test_database_not_public(resource: Resource) -> None:
    """Databases not publicly accessible

    A database that holds card or ledger data is reached only from the application tier.
    """
    assert resource.fact("public") is False, f"{resource.id}: reachable from the internet"


@pytest.mark.control(
    id="NET-003",
    layer="system",
    severity="medium",
    kinds=("network",),
    facts=("default_allow",),
    frameworks={
        "pci-dss": ["1.3.1", "1.3.2"],
        "dora": ["Art. 9(4)(c)"],
        "rts-2024-1774": ["Art. 13(a)"],
        "iso-27001": ["A.8.20", "A.8.22"],
        "bsi-c5": ["COS-02"],
        "cis-aws": ["5.4"],
        "cis-gcp": ["3.1"],
    },
)
def test_default_networking_locked_down(resource: Resource) -> None:
    """Default networks and default security groups locked down

    Implicit default-allow networking bypasses the documented network design: every VPC's
    default group is managed without rules, every Azure workload subnet has an NSG, and GCP's
    default network does not exist.
    """
    assert resource.fact("default_allow") is False, f"{resource.id}: default-allow networking is in place"

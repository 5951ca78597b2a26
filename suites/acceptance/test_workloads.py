"""Acceptance layer: how workloads run - exposure, instance metadata, supported runtimes."""

from __future__ import annotations

import pytest

from regops import Parameters, Resource, not_applicable


@pytest.mark.control(
    id="NET-006",
    layer="acceptance",
    severity="high",
    kinds=("compute",),
    facts=("public_ip",),
    frameworks={
        "pci-dss": ["1.4.1", "1.4.4"],
        "dora": ["Art. 9(4)(c)"],
        "rts-2024-1774": ["Art. 13(a)"],
        "iso-27001": ["A.8.20", "A.8.22"],
        "bsi-c5": ["COS-03"],
        "cis-gcp": ["4.9"],
    },
)
def test_no_public_ip_outside_the_edge(resource: Resource, parameters: Parameters) -> None:
    """No public IP addresses on workloads outside the edge tier

    Only designated edge components are reachable from the internet.
    """
    if resource.tags.get(parameters.edge_tag) == parameters.edge_tag_value:
        not_applicable(f"tagged {parameters.edge_tag}={parameters.edge_tag_value}")
    assert resource.fact("public_ip") is False, f"{resource.id}: has a public IP address but is not edge"


@pytest.mark.control(
    id="IAM-007",
    layer="acceptance",
    severity="high",
    kinds=("compute",),
    frameworks={
        "pci-dss": ["7.2.5", "7.2.2"],
        "dora": ["Art. 9(4)(c)"],
        "rts-2024-1774": ["Art. 21(a)"],
        "iso-27001": ["A.5.15", "A.8.2"],
        "bsi-c5": ["IDM-01", "IDM-06"],
        # Azure's and GCP's workload identity items (CIS Azure 9.5, CIS GCP 4.1/4.2) are not
        # mapped: the control judges AWS instances only.
        "cis-aws": ["1.18", "5.6"],
    },
)
def test_instance_metadata_requires_tokens(resource: Resource) -> None:
    """Workload identities protected: the instance metadata service requires session tokens

    IMDSv2 stops server-side request forgery from lifting the instance role's credentials.
    """
    if resource.provider != "aws":
        not_applicable("instance metadata tokens are an AWS setting")
    assert resource.fact("imdsv2_required") is True, f"{resource.id}: IMDSv1 is allowed"


@pytest.mark.control(
    id="VUL-003",
    layer="acceptance",
    severity="medium",
    kinds=("function",),
    facts=("runtime",),
    frameworks={
        "pci-dss": ["6.3.3"],
        "dora": ["Art. 8(7)"],
        "rts-2024-1774": ["Art. 4(2)(b)(ix)", "Art. 4(2)(c)"],
        "iso-27001": ["A.8.8"],
        "bsi-c5": ["AM-02"],
        "cis-aws": ["2.3.2"],
        "cis-azure": ["9.8"],
    },
    unverified=("DORA Art. 8(7) text (legacy ICT systems) seen only in a secondary summary",),
)
def test_supported_runtime(resource: Resource, parameters: Parameters) -> None:
    """Only vendor-supported runtimes

    A runtime past its end of support gets no security fixes.
    """
    runtime = resource.fact("runtime")
    if runtime is None:
        not_applicable("container image function: the image carries its runtime")
    assert runtime not in parameters.deprecated_runtimes, (
        f"{resource.id}: runtime {runtime} is out of support"
    )

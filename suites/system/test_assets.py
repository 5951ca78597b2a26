"""System layer: every resource is inventoried and stays in the EU."""

from __future__ import annotations

import pytest

from regops import ASSET_KINDS, FactUnknown, Parameters, Resource, not_applicable


@pytest.mark.control(
    id="AST-001",
    layer="system",
    severity="high",
    kinds=ASSET_KINDS,
    frameworks={
        "pci-dss": ["12.5.1"],
        "dora": ["Art. 8(1)", "Art. 8(4)"],
        "rts-2024-1774": ["Art. 4(2)(b)(i)-(v)"],
        "iso-27001": ["A.5.9", "A.5.12", "A.5.13"],
        "bsi-c5": ["AM-01", "AM-06"],
    },
)
def test_mandatory_tags(resource: Resource, parameters: Parameters) -> None:
    """Mandatory asset tags (owner, stage, data classification, service, criticality)

    The asset register and the classification of information (and of critical or important
    functions under DORA) are read from the resources themselves.
    """
    if resource.facts.get("taggable") is False:
        not_applicable(f"{resource.native_type} cannot carry tags")
    missing = [tag for tag in parameters.required_tags if not resource.tags.get(tag)]
    assert not missing, f"{resource.id}: missing tag(s) {', '.join(missing)}"
    tagged = resource.tags.get(parameters.stage_tag)
    assert tagged == resource.stage, (
        f"{resource.id}: tagged {parameters.stage_tag}={tagged} but found in stage {resource.stage}"
    )


# Kinds that hold customer data or the keys to it.
DATA_KINDS = ("object_store", "database", "key", "secret_store", "log_store", "disk", "compute", "function")


@pytest.mark.control(
    id="AST-002",
    layer="system",
    severity="critical",
    kinds=ASSET_KINDS,
    unverified=(
        "GCP value group name in:eu-locations (only the in:<group>-locations pattern was read)",
        "Azure paired regions staying in the EU",
        "AWS provider >= 6 per-resource region argument",
    ),
    frameworks={
        "dora": ["Art. 30(2)(b)"],
        "rts-2024-1774": ["Art. 4(2)(b)(ii)"],
        "iso-27001": ["A.5.23", "A.5.34"],
        "bsi-c5": ["PSS-12"],
    },
)
def test_eu_data_residency(resource: Resource, parameters: Parameters) -> None:
    """EU-only data residency for every resource

    Data of EU payment customers stays in EU regions; the UK and Switzerland are outside.
    """
    if resource.region is None:
        raise FactUnknown(resource.id, "region")
    if resource.region == "global":
        # A global key, secret or log bucket may keep its data anywhere: not confined to the EU.
        assert resource.kind not in DATA_KINDS, f"{resource.id}: global, not confined to allowed EU regions"
        not_applicable("a global setting holds no data in any region")
    allowed = [r.lower() for r in parameters.allowed_regions.get(resource.provider, [])]
    assert resource.region.lower() in allowed, (
        f"{resource.id}: region {resource.region} is not an allowed EU region"
    )

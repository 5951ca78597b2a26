"""Estate-wide facts: what a stage holds as a whole, per provider.

Some controls ask whether something exists anywhere in the stage (a threat detector in every
region, a security contact, an alert on audit-log tampering) rather than how one resource is
configured. Resources that provide such a capability carry a `provides` fact: the capability
tokens they establish. Each cloud's normaliser declares, in `ESTATE`, the tokens a capability
needs; this module folds the inventory into one `estate` resource per provider whose facts say,
per capability, whether every token is present (in every region the provider is used in, for
regional capabilities) and, if not, which are missing. A token may be conditional
(`<token> when <link>`, common.conditional): it counts where a resource of the same region
provides the link, as a metric filter's category counts once an alarm watches its metric.

Absence counts against the estate: a stage without a detector fails the control. A security
service whose configuration the source could not establish leaves every unfilled capability
unknown, so the control errors instead of failing (or passing) on a guess.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from types import ModuleType
from typing import Any

from regops.model import Resource
from regops.normalize.common import WHEN, Capability

ESTATE_KIND = "estate"
ESTATE_NATIVE_TYPE = "regops_estate"


def estate_id(provider: str) -> str:
    return f"estate:{provider}"


def _clouds() -> Mapping[str, ModuleType]:
    from regops.normalize import aws, azure, gcp

    return {"aws": aws, "azure": azure, "gcp": gcp}


def estate_resources(resources: Sequence[Resource], stage: str) -> list[Resource]:
    """One estate resource per cloud provider that has resources in the inventory."""
    by_provider: dict[str, list[Resource]] = {}
    for resource in resources:
        if resource.kind != ESTATE_KIND:
            by_provider.setdefault(resource.provider, []).append(resource)
    estates = []
    for provider, module in _clouds().items():
        members = by_provider.get(provider)
        capabilities: Mapping[str, Capability] | None = getattr(module, "ESTATE", None)
        if members and capabilities:
            estates.append(_estate(provider, members, capabilities, stage))
    return estates


def _regions(members: Iterable[Resource]) -> list[str]:
    return sorted({r.region for r in members if r.region and r.region != "global"})


def _estate(
    provider: str, members: Sequence[Resource], capabilities: Mapping[str, Capability], stage: str
) -> Resource:
    regions = _regions(members)
    live = any(r.origin == "live" for r in members)
    provided: dict[tuple[str, str | None], list[str]] = {}
    undetermined: list[str] = []
    conditions: list[tuple[str, str, str | None, str]] = []
    for resource in members:
        if "provides" not in resource.facts:
            if resource.kind == "security_service":
                undetermined.append(resource.id)
            continue
        tokens = resource.facts["provides"]
        if not isinstance(tokens, list | tuple) or not all(isinstance(token, str) for token in tokens):
            # A saved inventory can hold anything here: what it provides is not established.
            undetermined.append(resource.id)
            continue
        for token in tokens:
            if WHEN in token:
                token, link = token.split(WHEN, 1)
                conditions.append((token, link, resource.region, resource.id))
            else:
                provided.setdefault((token, resource.region), []).append(resource.id)
    # A conditional token counts where a resource of the same region provides its link; the
    # holders are both (the metric filter and the alarms that watch it).
    for token, link, region, holder in conditions:
        linked = provided.get((link, region), [])
        if linked:
            holders = provided.setdefault((token, region), [])
            holders.extend(i for i in (holder, *linked) if i not in holders)
    facts: dict[str, Any] = {}
    evidence: dict[str, dict[str, list[str]]] = {}
    for name, capability in capabilities.items():
        gaps = []
        evidence[name] = {}
        for token in capability.tokens:
            if capability.regional and regions:
                for region in regions:
                    holders = provided.get((token, region), [])
                    evidence[name][f"{token}@{region}"] = holders
                    if not holders:
                        gaps.append(f"{token} in {region}")
            else:
                holders = [i for (t, _), ids in provided.items() if t == token for i in ids]
                evidence[name][token] = holders
                if not holders:
                    gaps.append(token)
        facts[f"{name}_gaps"] = gaps
        # A gap that a security service of unknown configuration might fill is not established.
        if gaps and undetermined:
            continue
        facts[name] = not gaps
    return Resource(
        id=estate_id(provider),
        provider=provider,
        native_type=ESTATE_NATIVE_TYPE,
        kind=ESTATE_KIND,
        region="global",
        stage=stage,
        origin="live" if live else "planned",
        attributes={
            "regions": regions,
            "provided_by": evidence,
            "undetermined": sorted(undetermined),
        },
        facts=facts,
        source="derived from the stage's inventory",
    )

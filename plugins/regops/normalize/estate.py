"""Estate-wide facts: what a stage holds as a whole, per provider.

Some controls ask whether something exists anywhere in the stage (a threat detector in every
region, a security contact, an alert on audit-log tampering) rather than how one resource is
configured. Resources that provide such a capability carry a `provides` fact: the capability
tokens they establish. Each cloud's normaliser declares, in `ESTATE`, the tokens a capability
needs; this module folds the inventory into one `estate` resource per provider whose facts say,
per capability, whether every token is present (in every region the provider is used in, for
regional capabilities) and, if not, which are missing. A token may be conditional
(`<token> when <link> and <link>...`, common.conditional): it counts where resources of the
same region (or account-wide ones) provide every link, as a metric filter's category counts once
an alarm watches its metric and a trail delivers to its log group. And a
token may be account-wide (`<token> everywhere`, common.everywhere): it counts in every region
of a regional capability, where other tokens count only in their holder's region.

Absence counts against the estate: a stage without a detector fails the control. A security
service whose configuration the source could not establish leaves every unfilled capability
unknown, so the control errors instead of failing (or passing) on a guess.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from types import ModuleType
from typing import Any

from regops.model import Resource
from regops.normalize.common import AND, EVERYWHERE, WHEN, Capability

ESTATE_KIND = "estate"
# Where an account-wide token (common.everywhere) is held: in every region at once.
ANY_REGION = "*"
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


def _provide(
    provided: dict[tuple[str, str | None], list[str]], token: str, region: str | None, holders: list[str]
) -> None:
    if token.endswith(EVERYWHERE):
        token, region = token.removesuffix(EVERYWHERE), ANY_REGION
    found = provided.setdefault((token, region), [])
    found.extend(i for i in holders if i not in found)


def _holders(provided: dict[tuple[str, str | None], list[str]], token: str, region: str | None) -> list[str]:
    """Who provides a token in a region: its holders there and the account-wide ones."""
    return [*provided.get((token, region), []), *provided.get((token, ANY_REGION), [])]


def _regions(members: Iterable[Resource]) -> list[str]:
    # Where the stage keeps its workload: a detector or an alert rule in a region of its own (IAM
    # events arrive in us-east-1) puts nothing there that needs watching.
    return sorted(
        {r.region for r in members if r.region and r.region != "global" and r.kind != "security_service"}
    )


def _estate(
    provider: str, members: Sequence[Resource], capabilities: Mapping[str, Capability], stage: str
) -> Resource:
    regions = _regions(members)
    live = any(r.origin == "live" for r in members)
    provided: dict[tuple[str, str | None], list[str]] = {}
    undetermined: list[str] = []
    conditions: list[tuple[str, list[str], str | None, str]] = []
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
                token, links = token.split(WHEN, 1)
                conditions.append((token, links.split(AND), resource.region, resource.id))
            else:
                _provide(provided, token, resource.region, [resource.id])
    # A conditional token counts where resources of the same region, or account-wide ones,
    # provide all its links; the holders are all of them (the metric filter, the alarms that
    # watch it, the trail that feeds its log group).
    for token, links, region, holder in conditions:
        linked = [_holders(provided, link, region) for link in links]
        if all(linked):
            _provide(provided, token, region, [holder, *(i for holders in linked for i in holders)])
    facts: dict[str, Any] = {}
    evidence: dict[str, dict[str, list[str]]] = {}
    for name, capability in capabilities.items():
        gaps = []
        evidence[name] = {}
        for token in capability.tokens:
            if capability.regional and regions:
                for region in regions:
                    holders = _holders(provided, token, region)
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

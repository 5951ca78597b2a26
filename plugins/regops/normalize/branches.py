"""The rules a code repository's branch holds changes to, whatever the Git host (CHG-001).

A host may lay several layers of rules over one branch (GitHub's branch protection and its
rulesets). A change must satisfy all of them, so the strictest of each requirement holds; anyone
any one of them lets past its rules is a way around review, so every bypass counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from regops.normalize.common import Facts, known


@dataclass(frozen=True)
class BranchRules:
    """What one layer (a branch protection or a ruleset) requires of changes to a branch."""

    approvals: int = 0
    code_owner_review: bool = False
    stale_reviews_dismissed: bool = False
    last_push_approval: bool = False
    force_push_blocked: bool = False
    deletion_blocked: bool = False
    checks: tuple[str, ...] = ()
    # Who may bypass this layer's rules; UNKNOWN when the source does not say (the REST API
    # shows a ruleset's bypass actors only to those who may edit it).
    bypass: tuple[str, ...] | Any = ()


def branch_facts(layers: Iterable[BranchRules]) -> dict[str, Any]:
    """The facts of a branch that all `layers` govern: the strictest requirement of any layer,
    and every actor any layer lets bypass its rules. No layer at all requires nothing."""
    found = list(layers)
    facts = Facts()
    facts.derive("required_approvals", lambda: max((layer.approvals for layer in found), default=0))
    facts.derive("code_owner_review", lambda: any(layer.code_owner_review for layer in found))
    facts.derive("stale_reviews_dismissed", lambda: any(layer.stale_reviews_dismissed for layer in found))
    facts.derive("last_push_approval", lambda: any(layer.last_push_approval for layer in found))
    facts.derive("force_push_blocked", lambda: any(layer.force_push_blocked for layer in found))
    facts.derive("deletion_blocked", lambda: any(layer.deletion_blocked for layer in found))
    facts.derive("required_checks", lambda: sorted({check for layer in found for check in layer.checks}))
    facts.derive("bypass_actors", lambda: _bypass(found))
    return facts.values


def _bypass(layers: Sequence[BranchRules]) -> list[str]:
    actors: set[str] = set()
    for layer in layers:
        actors.update(known(layer.bypass))
    return sorted(actors)

"""GitHub: the rules a repository's default branch holds changes to, planned and live.

GitHub layers two mechanisms over a branch: the classic branch protection and rulesets (of the
repository or of its organisation), each read into a `BranchRules` layer from a plan's
`github_branch_protection`, `github_branch_protection_v3` and `github_repository_ruleset`, or
from the REST API's branch protection and the rules GitHub says are active on the branch.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from regops.model import UNKNOWN
from regops.normalize.branches import BranchRules, branch_facts
from regops.normalize.common import (
    Join,
    LiveType,
    Normaliser,
    PlannedType,
    Related,
    Unknown,
    blocks,
    dig,
    known,
)

# How a branch protection that does not apply to administrators is shown among those who may
# bypass review.
ADMINS = "repository administrators (enforce_admins off)"


def _flag(value: Any) -> bool:
    """A Terraform bool: unset (null) is off."""
    return bool(known(value))


def _names(*groups: Any) -> tuple[str, ...]:
    return tuple(str(known(name)) for group in groups for name in known(group) or ())


# --- Terraform plan ---------------------------------------------------------------------------


def planned_protection(values: Mapping[str, Any]) -> BranchRules:
    """`github_branch_protection` (GraphQL): its pull request reviews, status checks, force
    pushes and deletions, and who may bypass them."""
    reviews = blocks(values, "required_pull_request_reviews")
    review = reviews[0] if reviews else None
    bypass: tuple[str, ...] = () if _flag(values.get("enforce_admins")) else (ADMINS,)
    bypass += _names(values.get("force_push_bypassers"))
    if review is not None:
        bypass += _names(review.get("pull_request_bypassers"))
    return BranchRules(
        **_reviews(review),
        force_push_blocked=not _flag(values.get("allows_force_pushes")),
        deletion_blocked=not _flag(values.get("allows_deletions")),
        checks=tuple(
            check
            for block in blocks(values, "required_status_checks")
            for check in _names(block.get("contexts"))
        ),
        bypass=bypass,
    )


def planned_protection_v3(values: Mapping[str, Any]) -> BranchRules:
    """`github_branch_protection_v3` (REST). It has no force-push or deletion settings, and a
    branch protection blocks both unless told otherwise."""
    reviews = blocks(values, "required_pull_request_reviews")
    review = reviews[0] if reviews else None
    bypass: tuple[str, ...] = () if _flag(values.get("enforce_admins")) else (ADMINS,)
    if review is not None:
        for allowances in blocks(review, "bypass_pull_request_allowances"):
            bypass += _names(allowances.get("users"), allowances.get("teams"), allowances.get("apps"))
    checks: tuple[str, ...] = ()
    for block in blocks(values, "required_status_checks"):
        # A check is written "context:app_id"; the context is the check's name.
        checks += _names(block.get("contexts"))
        checks += tuple(check.rsplit(":", 1)[0] for check in _names(block.get("checks")))
    return BranchRules(
        **_reviews(review),
        force_push_blocked=True,
        deletion_blocked=True,
        checks=checks,
        bypass=bypass,
    )


def _reviews(review: Mapping[str, Any] | None) -> dict[str, Any]:
    """What a branch protection's `required_pull_request_reviews` block requires; both
    protection resources spell it alike."""
    if review is None:
        return {}
    # The provider's default, which a plan shows as null until the value is set.
    count = known(review.get("required_approving_review_count"))
    return {
        "approvals": 1 if count is None else int(count),
        "code_owner_review": _flag(review.get("require_code_owner_reviews")),
        "stale_reviews_dismissed": _flag(review.get("dismiss_stale_reviews")),
        "last_push_approval": _flag(review.get("require_last_push_approval")),
    }


def planned_ruleset(values: Mapping[str, Any]) -> BranchRules:
    """`github_repository_ruleset`: its rules as one layer. Terraform writes each rule as a
    block or a flag of the ruleset's single `rules` block."""
    rules = blocks(values, "rules")
    rule: Mapping[str, Any] = rules[0] if rules else {}
    reviews = blocks(rule, "pull_request")
    review = reviews[0] if reviews else None
    checks = tuple(
        str(known(dig(check, "context")))
        for block in blocks(rule, "required_status_checks")
        for check in blocks(block, "required_check")
    )
    return BranchRules(
        approvals=int(known(review.get("required_approving_review_count")) or 0) if review else 0,
        code_owner_review=review is not None and _flag(review.get("require_code_owner_review")),
        stale_reviews_dismissed=review is not None and _flag(review.get("dismiss_stale_reviews_on_push")),
        last_push_approval=review is not None and _flag(review.get("require_last_push_approval")),
        force_push_blocked=_flag(rule.get("non_fast_forward")),
        deletion_blocked=_flag(rule.get("deletion")),
        checks=checks,
        bypass=tuple(_actor(actor) for actor in blocks(values, "bypass_actors")),
    )


def _actor(actor: Mapping[str, Any]) -> str:
    """A ruleset's bypass actor as evidence shows it: `Team 234 (always)`."""
    kind = str(known(actor.get("actor_type")))
    identity = known(actor.get("actor_id"))
    mode = known(actor.get("bypass_mode")) or "always"
    return f"{kind}{f' {identity}' if identity is not None else ''} ({mode})"


def _applies_to_ruleset(values: Mapping[str, Any], branch: str) -> bool:
    """Whether an active branch ruleset's conditions reach `branch`, the default branch."""
    if known(values.get("target")) != "branch" or known(values.get("enforcement")) != "active":
        return False
    conditions = blocks(values, "conditions")
    names = blocks(conditions[0], "ref_name") if conditions else []
    if not names:
        return False
    return ref_matches(_names(names[0].get("include")), _names(names[0].get("exclude")), branch, default=True)


def ref_matches(include: Sequence[str], exclude: Sequence[str], branch: str, *, default: bool) -> bool:
    """Whether ruleset ref conditions include `branch` (`default`: it is the default branch)."""

    def matches(pattern: str) -> bool:
        if pattern == "~ALL" or (pattern == "~DEFAULT_BRANCH" and default):
            return True
        return fnmatch.fnmatchcase(f"refs/heads/{branch}", pattern)

    return any(map(matches, include)) and not any(map(matches, exclude))


def default_branch(values: Mapping[str, Any], related: Related) -> str:
    """A planned repository's default branch: its `github_branch_default`, else the deprecated
    attribute, else `main`, which GitHub gives a new repository."""
    for setting in related.get("github_branch_default", []):
        return str(known(setting.get("branch")))
    return str(known(values.get("default_branch")) or "main")


def planned_repository(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    """A repository the plan manages, as its default branch: every protection and ruleset of
    the plan that reaches that branch is a layer. None at all leaves the branch unprotected."""
    layers: list[BranchRules] = []
    try:
        branch = default_branch(values, related)
        for protection in related.get("github_branch_protection", []):
            if fnmatch.fnmatchcase(branch, str(known(protection.get("pattern")))):
                layers.append(planned_protection(protection))
        for protection in related.get("github_branch_protection_v3", []):
            if known(protection.get("branch")) == branch:
                layers.append(planned_protection_v3(protection))
        for ruleset in related.get("github_repository_ruleset", []):
            if _applies_to_ruleset(ruleset, branch):
                layers.append(planned_ruleset(ruleset))
    except Unknown:
        # Which layers reach the branch is itself unknown: so is every fact.
        return {}
    return branch_facts(layers)


def _alone(read: Callable[[Mapping[str, Any]], BranchRules]) -> Normaliser:
    def normalise(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
        try:
            return branch_facts([read(values)])
        except Unknown:
            return {}

    return normalise


PLANNED: dict[str, PlannedType] = {
    "github_repository": PlannedType("repository_branch", planned_repository),
    # Of a repository the plan does not manage: judged as the protection of the branch it names.
    "github_branch_protection": PlannedType("repository_branch", _alone(planned_protection)),
    "github_branch_protection_v3": PlannedType("repository_branch", _alone(planned_protection_v3)),
}

JOINS: dict[str, Join] = {
    # `repository_id` takes the repository's node id or its name.
    "github_branch_protection": Join("repository_id", "github_repository"),
    "github_branch_protection_v3": Join("repository", "github_repository"),
    "github_repository_ruleset": Join("repository", "github_repository"),
    "github_branch_default": Join("repository", "github_repository"),
}


# --- REST API ---------------------------------------------------------------------------------


def _enabled(value: Any) -> bool:
    return bool(dig(value, "enabled", default=False))


def live_protection(protection: Mapping[str, Any]) -> BranchRules:
    """`GET /repos/{owner}/{repo}/branches/{branch}/protection`: a setting that is off is either
    absent or null (reviews, status checks) or `{"enabled": false}`."""
    review = dig(protection, "required_pull_request_reviews")
    bypass: tuple[str, ...] = () if _enabled(protection.get("enforce_admins")) else (ADMINS,)
    if review is not None:
        allowances = dig(review, "bypass_pull_request_allowances", default={})
        for group, label, name in (
            ("users", "User", "login"),
            ("teams", "Team", "slug"),
            ("apps", "App", "slug"),
        ):
            bypass += tuple(f"{label} {dig(actor, name)}" for actor in dig(allowances, group, default=[]))
    checks = dig(protection, "required_status_checks", default={})
    names = [
        *dig(checks, "contexts", default=[]),
        *(dig(c, "context") for c in dig(checks, "checks", default=[])),
    ]
    return BranchRules(
        approvals=int(dig(review, "required_approving_review_count", default=0)) if review else 0,
        code_owner_review=bool(review and review.get("require_code_owner_reviews")),
        stale_reviews_dismissed=bool(review and review.get("dismiss_stale_reviews")),
        last_push_approval=bool(review and review.get("require_last_push_approval")),
        force_push_blocked=not _enabled(protection.get("allow_force_pushes")),
        deletion_blocked=not _enabled(protection.get("allow_deletions")),
        checks=tuple(dict.fromkeys(map(str, names))),
        bypass=bypass,
    )


def live_ruleset(rules: Sequence[Mapping[str, Any]], ruleset: Mapping[str, Any] | None) -> BranchRules:
    """The active rules one ruleset applies to the branch (`GET .../rules/branches/{branch}`),
    with who may bypass them from the ruleset itself (`GET .../rulesets/{id}`)."""
    by_type = {rule.get("type"): rule.get("parameters") or {} for rule in rules}
    review = by_type.get("pull_request")
    checks = dig(by_type.get("required_status_checks", {}), "required_status_checks", default=[])
    actors = None if ruleset is None else ruleset.get("bypass_actors")
    return BranchRules(
        approvals=int(review.get("required_approving_review_count", 0)) if review else 0,
        code_owner_review=bool(review and review.get("require_code_owner_review")),
        stale_reviews_dismissed=bool(review and review.get("dismiss_stale_reviews_on_push")),
        last_push_approval=bool(review and review.get("require_last_push_approval")),
        force_push_blocked="non_fast_forward" in by_type,
        deletion_blocked="deletion" in by_type,
        checks=tuple(str(dig(check, "context")) for check in checks),
        bypass=UNKNOWN if actors is None else tuple(map(_actor, actors)),
    )


def live_branch(payload: Mapping[str, Any]) -> dict[str, Any]:
    """A branch as discovery read it: `protection` (None when unprotected), the active `rules`
    and the `rulesets` they come from, by id. A part discovery could not read is UNKNOWN."""
    layers: list[BranchRules] = []
    protection = known(payload["protection"])
    if protection is not None:
        layers.append(live_protection(protection))
    by_ruleset: dict[int, list[Mapping[str, Any]]] = {}
    for rule in known(payload["rules"]):
        by_ruleset.setdefault(int(rule["ruleset_id"]), []).append(rule)
    rulesets = known(payload["rulesets"])
    for ruleset_id, rules in sorted(by_ruleset.items()):
        # A ruleset discovery could not read still has its rules; only its bypass is unknown.
        ruleset = rulesets.get(str(ruleset_id))
        layers.append(live_ruleset(rules, None if ruleset is UNKNOWN else ruleset))
    return branch_facts(layers)


LIVE: dict[str, LiveType] = {"github/branch": LiveType("repository_branch", live_branch, taggable=False)}

# GitHub's objects carry no stage tag and live in no region.
UNTAGGABLE = frozenset(PLANNED) | frozenset(JOINS)


def region_of(native_type: str, values: Mapping[str, Any]) -> str | None:
    return None


def tags_of(native_type: str, values: Mapping[str, Any]) -> dict[str, str]:
    return {}

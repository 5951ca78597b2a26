"""GitLab: the rules a project's default branch holds changes to (CHG-001), from its REST API.

GitLab spreads them over the project: its protected branches (who may push or merge, force
pushes, code owners' approval), its merge request approval settings (approvals reset by a
push, no approval by the author or a committer) and its approval rules (how many approvals,
on which branches). A branch no protected branch covers takes direct pushes from anyone who may
push to the project. The facts are those GitHub's branches have (normalize/branches.py).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from regops.model import UNKNOWN
from regops.normalize.common import Facts, Join, LiveType, PlannedType, Related, Unknown, blocks, dig, known

# Who may push to a branch no protected branch covers: everyone the project lets push.
UNPROTECTED = "anyone who may push to the project (the branch is not protected)"


def _covers(pattern: str, branch: str) -> bool:
    """Whether a protected branch's name (`main`, or a wildcard such as `release/*`) covers `branch`."""
    return pattern == branch or fnmatch.fnmatchcase(branch, pattern)


def protecting(protected: Sequence[Mapping[str, Any]], branch: str) -> list[Mapping[str, Any]]:
    """The project's protected branches that cover `branch`."""
    return [p for p in protected if _covers(str(p.get("name", "")), branch)]


def _direct_pushers(protection: Mapping[str, Any]) -> list[str]:
    """Who may push to a protected branch without a merge request: a role (Maintainers), a user,
    a group or a deploy key."""
    found = []
    for level in dig(protection, "push_access_levels", default=[]):
        if dig(level, "user_id") is not None:
            found.append(f"user {level['user_id']}")
        elif dig(level, "group_id") is not None:
            found.append(f"group {level['group_id']}")
        elif dig(level, "deploy_key_id") is not None:
            found.append(f"deploy key {level['deploy_key_id']}")
        elif (dig(level, "access_level") or 0) > 0:
            found.append(
                str(dig(level, "access_level_description") or f"access level {level['access_level']}")
            )
    return [f"{who} (pushes without a merge request)" for who in found]


def _rule_applies(rule: Mapping[str, Any], branch: str, protected: bool) -> bool:
    """Whether a project approval rule governs merge requests into `branch`: a rule naming no
    protected branch governs every branch (or, with applies_to_all_protected_branches, every
    protected one); otherwise those it names."""
    named = dig(rule, "protected_branches", default=[])
    if not named:
        return protected if dig(rule, "applies_to_all_protected_branches") is True else True
    return any(_covers(str(dig(p, "name", default="")), branch) for p in named)


def live_branch(payload: Mapping[str, Any]) -> dict[str, Any]:
    """A project's branch as discovery read it: the `project`, its `protected_branches`, its
    approval `settings` and approval `rules`; a part it could not read is UNKNOWN, and so are
    the facts that need it."""
    facts = Facts()

    def branch() -> str:
        return str(known(payload["branch"]))

    def protections() -> list[Mapping[str, Any]]:
        return protecting(known(payload["protected_branches"]), branch())

    def setting(name: str) -> Any:
        return dig(known(payload["settings"]), name)

    def approvals() -> int:
        protected = bool(protections())
        governing = [rule for rule in known(payload["rules"]) if _rule_applies(rule, branch(), protected)]
        return max((int(dig(rule, "approvals_required", default=0)) for rule in governing), default=0)

    def code_owners() -> bool:
        return any(p.get("code_owner_approval_required") is True for p in protections())

    def last_push() -> bool:
        # Neither the author nor anyone who pushed a commit to the merge request may approve it.
        return (
            setting("merge_requests_disable_committers_approval") is True
            and setting("merge_requests_author_approval") is False
        )

    def force_push_blocked() -> bool:
        found = protections()
        return bool(found) and not any(p.get("allow_force_push") for p in found)

    def checks() -> list[str]:
        # GitLab asks for the pipeline as a whole, not for named checks.
        waits = dig(known(payload["project"]), "only_allow_merge_if_pipeline_succeeds") is True
        return ["pipeline"] if waits else []

    def bypass() -> list[str]:
        found = protections()
        if not found:
            return [UNPROTECTED]
        return sorted({who for protection in found for who in _direct_pushers(protection)})

    facts.derive("required_approvals", approvals)
    facts.derive("code_owner_review", code_owners)
    facts.derive("stale_reviews_dismissed", lambda: setting("reset_approvals_on_push") is True)
    facts.derive("last_push_approval", last_push)
    facts.derive("force_push_blocked", force_push_blocked)
    # A protected branch cannot be deleted by a push; an unprotected one can.
    facts.derive("deletion_blocked", lambda: bool(protections()))
    facts.derive("required_checks", checks)
    facts.derive("bypass_actors", bypass)
    return facts.values


LIVE: dict[str, LiveType] = {"gitlab/branch": LiveType("repository_branch", live_branch, taggable=False)}


# The Terraform provider's access levels, as the API numbers and describes them.
_ACCESS_LEVELS = {
    "no one": (0, "No one"),
    "developer": (30, "Developers + Maintainers"),
    "maintainer": (40, "Maintainers"),
    "admin": (60, "Instance admins"),
    # Older provider versions' name for maintainer.
    "master": (40, "Maintainers"),
}


def _planned_protection(values: Mapping[str, Any]) -> dict[str, Any]:
    """A `gitlab_branch_protection` as the API shows a protected branch."""
    level, described = _ACCESS_LEVELS[str(known(values.get("push_access_level")))]
    pushers = [{"access_level": level, "access_level_description": described}]
    pushers += [
        {key: dig(allowed, key) for key in ("user_id", "group_id", "deploy_key_id")}
        for allowed in blocks(values, "allowed_to_push")
    ]
    return {
        "name": known(values.get("branch")),
        "push_access_levels": pushers,
        "allow_force_push": known(values.get("allow_force_push")) is True,
        "code_owner_approval_required": known(values.get("code_owner_approval_required")) is True,
    }


def _planned_rule(values: Mapping[str, Any]) -> dict[str, Any]:
    """A `gitlab_project_approval_rule` as the API shows it. Which protected branches it names
    by id is not in a plan: such a rule's reach is unknown."""
    if dig(values, "protected_branch_ids", default=[]):
        raise Unknown
    return {
        "approvals_required": known(values.get("approvals_required")),
        "applies_to_all_protected_branches": known(values.get("applies_to_all_protected_branches")) is True,
        "protected_branches": [],
    }


def planned_project(values: Mapping[str, Any], related: Related) -> dict[str, Any]:
    """A `gitlab_project` the plan manages, as its default branch, read as the REST API's
    payload is: its `gitlab_branch_protection`, `gitlab_project_approval_rule` and
    `gitlab_project_level_mr_approvals` blocks folded in. Approval settings the plan does not
    manage are unknown (GitLab's defaults differ by tier and version)."""

    def part(read: Callable[[], Any]) -> Any:
        try:
            return read()
        except (Unknown, KeyError):
            return UNKNOWN

    settings = related.get("gitlab_project_level_mr_approvals", [])
    payload = {
        "project": values,
        "branch": part(lambda: known(values.get("default_branch")) or UNKNOWN),
        "protected_branches": part(
            lambda: [_planned_protection(p) for p in related.get("gitlab_branch_protection", [])]
        ),
        "settings": settings[0] if settings else UNKNOWN,
        "rules": part(lambda: [_planned_rule(r) for r in related.get("gitlab_project_approval_rule", [])]),
    }
    return live_branch(payload)


PLANNED: dict[str, PlannedType] = {"gitlab_project": PlannedType("repository_branch", planned_project)}

JOINS: dict[str, Join] = {
    native_type: Join("project", "gitlab_project")
    for native_type in (
        "gitlab_branch_protection",
        "gitlab_project_approval_rule",
        "gitlab_project_level_mr_approvals",
    )
}

# GitLab's objects carry no stage tag and live in no region.
UNTAGGABLE = frozenset(PLANNED) | frozenset(JOINS)


def region_of(native_type: str, values: Mapping[str, Any]) -> str | None:
    return None


def tags_of(native_type: str, values: Mapping[str, Any]) -> dict[str, str]:
    return {}

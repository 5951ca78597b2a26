"""Regulatory layer: the repositories that change the platform enforce four-eyes review."""

from __future__ import annotations

import pytest

from regops import Parameters, Resource


@pytest.mark.control(
    id="CHG-001",
    layer="regulatory",
    severity="critical",
    kinds=("repository_branch",),
    facts=(
        "required_approvals",
        "last_push_approval",
        "stale_reviews_dismissed",
        "code_owner_review",
        "bypass_actors",
        "force_push_blocked",
        "deletion_blocked",
        "required_checks",
    ),
    frameworks={
        "pci-dss": ["6.5.1", "6.5.4"],
        "dora": ["Art. 9(4)(e)"],
        "rts-2024-1774": ["Art. 17(1)(b)", "Art. 16(1)(c)"],
        "iso-27001": ["A.8.32", "A.8.4", "A.5.3"],
        "bsi-c5": ["DEV-03", "DEV-07", "DEV-08", "DEV-09"],
        "marisk": ["AT 7.2 Tz. 3"],
    },
)
def test_branch_enforces_four_eyes_review(resource: Resource, parameters: Parameters) -> None:
    """Protected branches enforce four-eyes review of every infrastructure change

    Every change must be approved by someone other than its author before it can reach a
    stage, and the repository must enforce it: enough approvals, none by whoever pushed last,
    approvals withdrawn by a new push, code owners asked, no one allowed around the rules, no
    history rewritten or branch deleted, and the pipeline's checks required.
    """
    approvals = resource.fact("required_approvals")
    assert approvals >= parameters.required_approvals, (
        f"{resource.id}: {approvals} approval(s) required, at least {parameters.required_approvals}"
    )
    assert resource.fact("last_push_approval") is True, (
        f"{resource.id}: whoever pushed last may approve their own change (require_last_push_approval)"
    )
    assert resource.fact("stale_reviews_dismissed") is True, (
        f"{resource.id}: an approval survives new commits (dismiss stale reviews)"
    )
    assert resource.fact("code_owner_review") is True, f"{resource.id}: code owners' review is not required"
    bypass = ", ".join(resource.fact("bypass_actors"))
    assert not bypass, f"{resource.id}: may bypass the review rules: {bypass}"
    assert resource.fact("force_push_blocked") is True, f"{resource.id}: force pushes may rewrite history"
    assert resource.fact("deletion_blocked") is True, f"{resource.id}: the branch may be deleted"
    missing = sorted(set(parameters.required_status_checks) - set(resource.fact("required_checks")))
    assert not missing, f"{resource.id}: status checks not required: {', '.join(missing)}"

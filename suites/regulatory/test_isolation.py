"""Regulatory layer: the stages kept apart (system test, acceptance and production)."""

from __future__ import annotations

import fnmatch

import pytest

from regops import Parameters, Resource


class StageAccountsUnset(LookupError):
    """The stage's own accounts are not configured, so a trust in an account cannot be judged."""


class StageSubjectsUnset(LookupError):
    """The stage's pipeline subjects are not configured, so a federated trust cannot be judged."""


@pytest.mark.control(
    id="ENV-001",
    layer="regulatory",
    severity="critical",
    kinds=("identity",),
    frameworks={
        "pci-dss": ["6.5.3", "6.5.4"],
        "dora": ["Art. 9(4)(e)"],
        "rts-2024-1774": ["Art. 16(1)(c)"],
        "iso-27001": ["A.8.31", "A.5.3"],
        "bsi-c5": ["DEV-10"],
        "marisk": ["AT 7.2 Tz. 3"],
    },
)
def test_stages_kept_apart(resource: Resource, parameters: Parameters) -> None:
    """Stages kept apart: no identity of another stage, no trust across stages

    Pre-production is separated from production and the separation is enforced by access
    control: a stage's roles may be assumed from its own accounts only (a test account trusted
    by a production role is a way into production), and through an identity provider only by
    the stage's own pipelines (a production environment's workflow, not a pull request's). An
    identity tagged for another stage does not belong (AST-001 asks the same of every asset).
    """
    tag = parameters.stage_tag
    tagged = resource.tags.get(tag, resource.stage)
    assert tagged == resource.stage, f"{resource.id}: tagged {tag}={tagged} in the {resource.stage} stage"
    federated = ", ".join(resource.fact("open_federation"))
    assert not federated, (
        f"{resource.id}: any subject of {federated} may assume it (no condition names which)"
    )
    subjects = resource.fact("federated_subjects")
    if subjects:
        if not parameters.stage_subjects:
            raise StageSubjectsUnset(
                f"{resource.id} may be assumed by {', '.join(subjects)}; set stage_subjects in"
                f" [tool.regops.stages.{resource.stage}.parameters] to judge it"
            )
        # A subject pattern of the trust lies within the stage's when one of the stage's patterns
        # matches it as written: its wildcards then stand where the stage's do.
        foreign = ", ".join(
            subject
            for subject in subjects
            if not any(fnmatch.fnmatchcase(subject, own) for own in parameters.stage_subjects)
        )
        assert not foreign, (
            f"{resource.id}: may be assumed by {foreign}, no pipeline of the {resource.stage} stage"
        )
    trusted = resource.fact("trusted_accounts")
    if not trusted:
        return
    own = parameters.stage_accounts.get(resource.provider)
    if own is None:
        raise StageAccountsUnset(
            f"{resource.id} may be assumed from {', '.join(trusted)}; set stage_accounts.{resource.provider}"
            f" in [tool.regops.stages.{resource.stage}.parameters] to judge it"
        )
    foreign = ", ".join(account for account in trusted if account not in own)
    assert not foreign, (
        f"{resource.id}: may be assumed from {foreign}, no account of the {resource.stage} stage"
    )

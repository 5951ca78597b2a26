"""Promotion lineage: production only takes what system and acceptance already passed.

An earlier stage counts when the archive holds a bundle of it whose manifest verifies, whose
gate passed, that was made from the same IaC commit, and whose plans have the same Terraform
configuration digest (the code, independent of the stage's variable values).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from regops.evidence.signing import verify_bundle
from regops.history import HistoryError, read_evidence
from regops.model import Control, Outcome, Result

PROMOTION_CONTROL = Control(
    id="CHG-004",
    title="Stage promotion gate: the same code and plan passed system and acceptance first",
    layer="regulatory",
    severity="high",
    stages=("production",),
    kinds=("promotion",),
    frameworks={
        "pci-dss": ("6.5.1", "6.5.2", "11.3.1.3"),
        "dora": ("Art. 9(4)(e)",),
        "rts-2024-1774": ("Art. 16(2)", "Art. 17(1)(c)"),
        "iso-27001": ("A.8.29", "A.8.31", "A.8.32"),
        "bsi-c5": ("DEV-06", "DEV-09"),
        "marisk": ("AT 7.2 Tz. 3",),
    },
    rationale="A change reaches production only after the same change passed the earlier stages' gates.",
)


# What the lineage reads of each bundle; the one that qualifies is then verified whole.
LINEAGE_MEMBERS = ("schema", "run", "gate", "sources")


def _configuration_digests(document: dict[str, Any]) -> set[str]:
    return {s["configuration_sha256"] for s in document["sources"] if s.get("configuration_sha256")}


def _judge_stage(
    archive: Path, stage: str, iac_commit: str, digests: set[str], trusted_key: Path | None
) -> tuple[Outcome, str]:
    folder = archive / stage
    candidates = sorted((p for p in folder.iterdir() if p.is_dir()), reverse=True) if folder.is_dir() else []
    rejected: list[str] = []
    unreadable: list[str] = []
    for bundle in candidates:
        try:
            document = read_evidence(bundle, LINEAGE_MEMBERS)
        except HistoryError as exc:
            unreadable.append(str(exc))
            continue
        if document["run"]["iac_commit"] != iac_commit:
            continue
        if document["run"]["stage"] != stage:
            rejected.append(f"{bundle.name}: a bundle of the {document['run']['stage']} stage")
            continue
        if document["gate"]["verdict"] != "pass":
            rejected.append(f"{bundle.name}: gate failed")
            continue
        if digests and _configuration_digests(document) != digests:
            rejected.append(f"{bundle.name}: planned a different Terraform configuration")
            continue
        verification = verify_bundle(bundle, trusted_key)
        if not verification.ok:
            rejected.append(f"{bundle.name}: invalid bundle ({verification.problems[0]})")
            continue
        return Outcome.PASSED, f"{stage} passed in {bundle}"
    if unreadable:
        # An unreadable bundle may be the pass looked for: the lineage is unknown, not failed.
        more = f" and {len(unreadable) - 1} more" if len(unreadable) > 1 else ""
        detail = f"; {'; '.join(rejected)}" if rejected else ""
        return (
            Outcome.ERROR,
            f"could not evaluate: {unreadable[0]}{more}; no other passed {stage} bundle for IaC commit "
            f"{iac_commit[:12]} in {folder}{detail}",
        )
    detail = f" ({'; '.join(rejected)})" if rejected else ""
    return Outcome.FAILED, f"no passed {stage} bundle for IaC commit {iac_commit[:12]} in {folder}{detail}"


def promotion_results(
    archive: Path,
    required_stages: Sequence[str],
    iac_commit: str | None,
    configuration_digests: set[str],
    trusted_key: Path | None = None,
) -> list[Result]:
    """One CHG-004 result per earlier stage the promotion requires."""
    results = []
    for stage in required_stages:
        if iac_commit is None:
            outcome, message = (
                Outcome.ERROR,
                "could not evaluate: the IaC commit is unknown (pass --iac-repo)",
            )
        else:
            outcome, message = _judge_stage(archive, stage, iac_commit, configuration_digests, trusted_key)
        results.append(
            Result(
                PROMOTION_CONTROL.id, f"promotion:{stage}", outcome, message, f"regops::promotion::{stage}"
            )
        )
    return results

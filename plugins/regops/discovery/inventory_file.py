"""A saved inventory as a source: replay a run, or judge a stage from an archived snapshot.

The file is regops's own inventory.json (a bundle's, or `regops snapshot`'s). Its resources come
back as they were discovered; its estate is derived again from them. A snapshot whose sources
were incomplete stays incomplete on replay: what was not seen then is not seen now.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from regops.discovery import Inventory, InventoryError
from regops.model import Discovery, SourceReport
from regops.normalize.estate import ESTATE_KIND


def discover_inventory(path: Path, stage: str) -> Discovery:
    """The resources of a saved inventory of `stage`, with a report naming its original sources."""
    saved = Inventory.read(path)
    if saved.stage != stage:
        raise InventoryError(f"{path}: an inventory of stage {saved.stage!r}, not of {stage!r}")
    resources = tuple(r for r in saved.resources if r.kind != ESTATE_KIND)
    errors = tuple(f"{s.kind} {s.location}: {e}" for s in saved.sources for e in s.errors)
    incomplete = [f"{s.kind} {s.location}" for s in saved.sources if not s.complete]
    if incomplete and not errors:
        errors = tuple(f"{source}: incomplete when the inventory was taken" for source in incomplete)
    # Promotion lineage follows the Terraform configuration the snapshot's plans came from.
    digests = {s.configuration_sha256 for s in saved.sources if s.configuration_sha256}
    report = SourceReport(
        kind="inventory",
        location=str(path),
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        resource_count=len(resources),
        complete=not incomplete,
        errors=errors,
        notes=tuple(
            f"taken from {s.kind} {s.location} ({s.resource_count} resources"
            + (f", sha256 {s.sha256[:12]})" if s.sha256 else ")")
            for s in saved.sources
        ),
        configuration_sha256=digests.pop() if len(digests) == 1 else None,
    )
    return Discovery(resources, report)

"""regops: compliance controls as pytest tests, with evidence an auditor accepts."""

from __future__ import annotations

from typing import NoReturn

import pytest

from regops.model import (
    ASSET_KINDS,
    PLANNED_DELETION,
    STATEFUL_KINDS,
    UNKNOWN,
    Control,
    FactUnknown,
    Outcome,
    Resource,
)
from regops.stages import Parameters

__version__ = "0.1.0"
__all__ = [
    "ASSET_KINDS",
    "PLANNED_DELETION",
    "STATEFUL_KINDS",
    "UNKNOWN",
    "Control",
    "FactUnknown",
    "Outcome",
    "Parameters",
    "Resource",
    "__version__",
    "not_applicable",
    "require_capability",
]


def not_applicable(reason: str) -> NoReturn:
    """End a control as not applicable to this resource (never `return` early: that is a pass)."""
    pytest.skip(f"not applicable: {reason}")


def require_capability(resource: Resource, capability: str, what: str) -> None:
    """Fail unless the stage's estate holds `capability` everywhere it must.

    `resource` is an `estate` resource (normalize/estate.py); its `<capability>_gaps` fact
    names what is missing, region by region.
    """
    present = resource.fact(capability)
    gaps = resource.facts.get(f"{capability}_gaps") or []
    assert present is True, f"{resource.id}: no {what}: missing {', '.join(gaps)}"

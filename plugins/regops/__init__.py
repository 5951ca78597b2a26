"""regops: compliance controls as pytest tests, with evidence an auditor accepts."""

from __future__ import annotations

from typing import NoReturn

import pytest

from regops.model import UNKNOWN, Control, FactUnknown, Outcome, Resource
from regops.stages import Parameters

__version__ = "0.1.0"
__all__ = [
    "UNKNOWN",
    "Control",
    "FactUnknown",
    "Outcome",
    "Parameters",
    "Resource",
    "__version__",
    "not_applicable",
]


def not_applicable(reason: str) -> NoReturn:
    """End a control as not applicable to this resource (never `return` early: that is a pass)."""
    pytest.skip(f"not applicable: {reason}")

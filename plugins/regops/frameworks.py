"""The frameworks a control may reference, by the key used in control markers."""

from __future__ import annotations

from typing import Final

FRAMEWORKS: Final[dict[str, str]] = {
    "pci-dss": "PCI DSS v4.0.1",
    "dora": "DORA, Regulation (EU) 2022/2554",
    "rts-2024-1774": "Commission Delegated Regulation (EU) 2024/1774 (RTS on ICT risk management)",
    "iso-27001": "ISO/IEC 27001:2022 Annex A",
    "bsi-c5": "BSI C5:2020",
    "cis-aws": "CIS Amazon Web Services Foundations Benchmark v3.0.0",
    "cis-azure": "CIS Microsoft Azure Foundations Benchmark v3.0.0",
    "cis-gcp": "CIS Google Cloud Platform Foundation Benchmark v3.0.0",
    # BaFin's BAIT and ZAIT were repealed in January 2025 in favour of DORA; MaRisk remains.
    "marisk": "BaFin MaRisk (Minimum Requirements for Risk Management), AT 7.2",
}

# `--framework cis` selects every CIS benchmark.
FRAMEWORK_GROUPS: Final[dict[str, tuple[str, ...]]] = {
    "cis": ("cis-aws", "cis-azure", "cis-gcp"),
}


def expand_framework(name: str) -> tuple[str, ...]:
    """The framework keys a `--framework` value selects; empty when the name is unknown."""
    name = name.strip().lower()
    if name in FRAMEWORKS:
        return (name,)
    return FRAMEWORK_GROUPS.get(name, ())

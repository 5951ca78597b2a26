"""checkov's checks on the stage's plans, in the same run as the native controls.

The plugin runs checkov once per session (`[tool.regops.checkov]` or `--checkov`) and
parametrises this test over its findings: one result per check and resource. A check regops
maps to one of its controls carries that control's severity and framework references.
"""

from __future__ import annotations

import pytest

from regops.scanners.checkov import Finding


@pytest.mark.checkov
def test_checkov(finding: Finding) -> None:
    """A checkov check on one planned resource"""
    if finding.outcome == "skipped":
        pytest.skip(f"{finding.resource}: skipped in the code (checkov:skip)")
    assert finding.outcome == "passed", f"{finding.resource}: {finding.check_name}"

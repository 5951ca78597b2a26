"""The README's generated tables (controls from the suites, facts from the normalisers) are never stale."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers import ROOT


@pytest.mark.parametrize("script", ["controls_table.py", "facts_table.py"])
def test_readme_table_is_current(script: str) -> None:
    completed = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / script), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr

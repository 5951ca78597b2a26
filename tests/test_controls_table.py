"""The README's controls table is generated from the suites and never stale."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers import ROOT


def test_readme_controls_table_is_current() -> None:
    completed = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "controls_table.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr

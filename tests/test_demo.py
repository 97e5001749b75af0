"""scripts/demo.py without the captured fixtures: it explains how to run against live SEC and exits cleanly.

(The demo proper writes into the project's data/ folder, so it is not run here; the same DAG runs
against the replay server are asserted in test_e2e_sec.py.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def test_demo_without_fixtures_says_how_to_run_against_live_sec(tmp_path: Path) -> None:
    missing = tmp_path / "no-fixtures-here"
    env = {**os.environ, "FILINGLAKE_FIXTURES": str(missing)}
    out = subprocess.run([sys.executable, str(PROJECT_ROOT / "scripts" / "demo.py")],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert f"No captured fixtures at {missing}" in out.stdout
    assert "FILINGLAKE_SEC_USER_AGENT" in out.stdout
    assert "filinglake ingest --source sec_edgar --date" in out.stdout

"""simplejwt's token_blacklist app: tests/blacklist runs with it installed,
in its own session (the app must be installed before simplejwt is imported)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_a_reset_and_a_change_blacklist_outstanding_refresh_tokens():
    """tests/blacklist runs with simplejwt's token_blacklist app installed,
    which must be installed before simplejwt is imported: its own session."""
    result = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"),
            *("tests/blacklist", "--ds=tests.settings_blacklist", "-W", "error"),
        ],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout

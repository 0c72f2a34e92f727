"""The linter configuration CI runs (pyproject.toml [tool.ruff]): no undefined name, unused import
or variable, no syntax error, anywhere in the repository's Python."""
import os
import shutil
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_ruff_passes():
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.importorskip("ruff")
        cmd = [sys.executable, "-m", "ruff"]
    else:
        cmd = [ruff]
    r = subprocess.run(cmd + ["check", "--no-cache", "."], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]

"""Shared helpers of the Python tests."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def go_test_output(test: str, package: str, env_var: str, out: Path) -> Path:
    """Runs one Go test that writes its results under the folder named by env_var (set
    to out), so that a Python test can read the same files the Go test checked."""
    if shutil.which("go") is None:
        pytest.fail("go is not on PATH (scripts/test.sh runs the Python tests after the Go ones)")
    env = dict(os.environ, **{env_var: str(out)})
    subprocess.run(["go", "test", "-count=1", "-run", f"^{test}$", package],
                   cwd=ROOT, env=env, check=True, capture_output=True)
    return out

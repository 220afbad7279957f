"""Shared fixtures. Each part's fixtures live in its own section below."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FUNCTION_DIR = ROOT / "function"


# ---------------------------------------------------------------- training
@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small model trained once per session on the bundled digits by the real CLI."""
    out = tmp_path_factory.mktemp("model") / "model"
    subprocess.run(
        [sys.executable, "-m", "training", "--dataset", "digits", "--out", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return out


# ---------------------------------------------------------------- function


# ---------------------------------------------------------------- component (Pulumi mocks)

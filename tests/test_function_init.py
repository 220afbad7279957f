"""Init faults: a bad model folder stops the function at import, with one clear log line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import FUNCTION_DIR


def _truncate(folder: Path) -> None:
    artifact = folder / "model.npz"
    artifact.write_bytes(artifact.read_bytes()[:1000])


def _tamper_metadata(folder: Path) -> None:
    meta = json.loads((folder / "metadata.json").read_text())
    meta["sha256"] = "0" * 64
    (folder / "metadata.json").write_text(json.dumps(meta))


def _swap_artifact(folder: Path) -> None:
    # A valid model file, but not the one metadata.json describes.
    (folder / "model.npz").write_bytes((folder / "model.npz").read_bytes() + b"\0")


FAULTS: dict[str, Callable[[Path], None]] = {
    "missing folder": lambda folder: shutil.rmtree(folder),
    "missing artifact": lambda folder: (folder / "model.npz").unlink(),
    "missing metadata": lambda folder: (folder / "metadata.json").unlink(),
    "truncated artifact": _truncate,
    "sha256 mismatch": _tamper_metadata,
    "different artifact": _swap_artifact,
}


@pytest.mark.parametrize("fault", FAULTS, ids=list(FAULTS))
def test_bad_model_fails_at_init_with_one_clear_line(fault: str, model_dir: Path, tmp_path: Path) -> None:
    # given a copy of a good model folder, then broken
    folder = tmp_path / "model"
    shutil.copytree(model_dir, folder)
    FAULTS[fault](folder)
    # when Lambda would import the handler module
    result = subprocess.run(
        [sys.executable, "-c", "import app"], cwd=FUNCTION_DIR, capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "MODEL_DIR": str(folder), "AWS_DEFAULT_REGION": "us-east-1"},
    )
    # then init fails with exactly one JSON log line naming the folder, and no traceback
    assert result.returncode == 1
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert len(lines) == 1, lines
    entry = json.loads(lines[0])
    assert entry["level"] == "CRITICAL" and "cannot start" in entry["message"] and str(folder) in entry["message"]


def test_good_model_imports_cleanly(model_dir: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import app; print(app.MODEL_INFO['dataset'])"], cwd=FUNCTION_DIR, capture_output=True,
        text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "MODEL_DIR": str(model_dir), "AWS_DEFAULT_REGION": "us-east-1"},
    )
    assert result.returncode == 0 and result.stdout.strip() == "digits", result.stderr

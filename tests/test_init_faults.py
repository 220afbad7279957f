"""Hostile model folders: whoever can swap the model still cannot run code, and init fails on one clear line.

tests/test_function_init.py covers the honest faults (missing, truncated, sha256 mismatch). These cases are
crafted so the sha256 check PASSES (metadata.json rewritten to match), leaving the loader as the last defence.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import hostile
from conftest import FUNCTION_DIR


def _reseal(folder: Path, artifact: bytes) -> None:
    """Write `artifact` as model.npz and make metadata.json's sha256 agree with it."""
    (folder / "model.npz").write_bytes(artifact)
    meta = json.loads((folder / "metadata.json").read_text())
    meta["sha256"] = hashlib.sha256(artifact).hexdigest()
    (folder / "metadata.json").write_text(json.dumps(meta))


def _object_array_model(folder: Path, marker: Path) -> None:
    # The real model's arrays, one of them replaced by an object array whose unpickling would touch the marker.
    with np.load(folder / "model.npz") as data:
        arrays = {name: data[name] for name in data.files}
    arrays[sorted(arrays)[0]] = np.array([hostile.Canary(marker)], dtype=object)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    _reseal(folder, buffer.getvalue())


def _edit_metadata(change: Callable[[dict], None]) -> Callable[[Path, Path], None]:
    def apply(folder: Path, marker: Path) -> None:
        meta = json.loads((folder / "metadata.json").read_text())
        change(meta)
        (folder / "metadata.json").write_text(json.dumps(meta))
    return apply


FAULTS: dict[str, Callable[[Path, Path], None]] = {
    "object array inside model.npz, sha256 resealed": _object_array_model,
    "joblib pickle as model.npz, sha256 resealed": lambda folder, marker: _reseal(folder, hostile.joblib_canary(marker)),
    "os.system pickle as model.npz, sha256 resealed": lambda folder, marker: _reseal(folder, hostile.shell_canary(marker)),
    "zero-byte model.npz, sha256 resealed": lambda folder, marker: _reseal(folder, b""),
    "2 GiB zip bomb as model.npz, sha256 resealed": lambda folder, marker: _reseal(folder, hostile.declared_zip_bomb()),
    "metadata.json not JSON": lambda folder, marker: (folder / "metadata.json").write_text("{not json"),
    "metadata.json without sha256": _edit_metadata(lambda meta: meta.pop("sha256")),
    "artifact path escaping the folder": _edit_metadata(lambda meta: meta.update(artifact="../../../../etc/hostname")),
    "model folder is a file": lambda folder, marker: (shutil.rmtree(folder), folder.write_text("model")),
}


@pytest.mark.parametrize("fault", FAULTS, ids=list(FAULTS))
def test_hostile_model_folder_fails_init_without_running_code(fault: str, model_dir: Path, tmp_path: Path) -> None:
    # given a copy of the good model folder, then tampered with
    folder, marker = tmp_path / "model", tmp_path / "pwned"
    shutil.copytree(model_dir, folder)
    FAULTS[fault](folder, marker)
    # when Lambda's init imports the handler module
    result = subprocess.run(
        [sys.executable, "-c", "import app"], cwd=FUNCTION_DIR, capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "MODEL_DIR": str(folder), "AWS_DEFAULT_REGION": "us-east-1"},
    )
    # then init fails on exactly one CRITICAL JSON line naming the folder, and no pickle ever ran
    assert not marker.exists()
    assert result.returncode == 1, result.stdout + result.stderr
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert len(lines) == 1, lines
    entry = json.loads(lines[0])
    assert entry["level"] == "CRITICAL" and "cannot start" in entry["message"] and str(folder) in entry["message"]
    assert "Traceback" not in lines[0] and len(entry["message"]) < 400

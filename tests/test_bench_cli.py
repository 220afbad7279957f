"""`python -m bench` options: bad counts, a file as --out and an unusable dataset get one line, before measuring."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the benchmark CLI as a user would (every case here stops before measuring anything)."""
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("option", ["--cold", "--warm", "--single"])
def test_counts_below_one_exit_2(option: str, tmp_path: Path) -> None:
    result = bench(option, "0", "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and f"{option} must be at least 1, got 0" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "out").exists()


def test_out_that_is_a_file_exits_2_and_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "results"
    target.write_text("keep me")
    result = bench("--quick", "--out", str(target))
    assert result.returncode == 2 and "not a folder" in result.stderr and target.read_text() == "keep me"


@pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="needs Linux sysfs, read-only even for root")
def test_unwritable_out_exits_2_before_measuring() -> None:
    result = bench("--quick", "--out", "/sys/bench-results")
    assert result.returncode == 2 and "cannot be written" in result.stderr and "Traceback" not in result.stderr
    assert "training" not in result.stderr


def test_unusable_dataset_is_one_line_without_a_traceback(tmp_path: Path) -> None:
    # given a dataset file that does not exist
    result = bench("--quick", "--dataset", str(tmp_path / "missing.npz"), "--out", str(tmp_path / "out"))
    # then training's reason and one closing line, never a CalledProcessError traceback
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "dataset file not found" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: training the project model failed")

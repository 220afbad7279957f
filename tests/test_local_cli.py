"""`python -m function.local`: bad options and model folders get one line before any work; Ctrl-C is one message."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

OFFLINE = {"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"}


def local(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the local API as a user would."""
    return subprocess.run([sys.executable, "-m", "function.local", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("args, message", [
    (["--port", "70000"], "a port is 0-65535, got 70000"),
    (["--port", "-1"], "a port is 0-65535, got -1"),
    (["--port", "http"], "not a port number"),
    (["--confusion", "matrix.txt"], "must end in .png"),
])
def test_bad_options_exit_2_before_any_work(args: list[str], message: str, tmp_path: Path) -> None:
    # given a folder with no model (any real work would start training there)
    result = local(*args, "--model-dir", str(tmp_path / "new"))
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("missing", ["test_features.npy", "test_labels.npy"])
def test_once_with_a_model_folder_missing_its_held_out_batch_is_one_line(missing: str, model_dir: Path,
                                                                       tmp_path: Path) -> None:
    # given a copy of a trained model without one of the held-out files
    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy)
    (copy / missing).unlink()
    # when the round trip is asked for
    result = local("--once", "--port", "0", "--model-dir", str(copy))
    # then one line names the file and the fix, and the folder is not retrained or changed
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == (f"error: --model-dir {copy} has no {missing} "
                                     "(--once predicts the held-out batch); "
                                     f"retrain it with python -m training --out {copy}")
    assert sorted(p.name for p in copy.iterdir()) == sorted(p.name for p in model_dir.iterdir() if p.name != missing)


def test_once_with_labels_that_do_not_match_the_batch_is_one_line(model_dir: Path, tmp_path: Path) -> None:
    import numpy as np

    # given a model folder whose held-out labels are one short of its features
    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy)
    np.save(copy / "test_labels.npy", np.load(model_dir / "test_labels.npy")[:-1])
    # when the round trip runs, then it says so on one line instead of a traceback
    result = local("--once", "--port", "0", "--model-dir", str(copy), timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == "error: 360 predictions but 359 labels"


def test_model_dir_holding_a_users_files_is_refused_and_kept(tmp_path: Path) -> None:
    # given a folder of the user's files that is not a model
    folder = tmp_path / "mine"
    (folder / "sub").mkdir(parents=True)
    (folder / "important.txt").write_text("keep me")
    folder.chmod(0o750)
    # when the local API is pointed at it
    result = local("--once", "--port", "0", "--model-dir", str(folder))
    # then it refuses on one line before training, and nothing changed
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "did not write" in result.stderr
    assert "training one" not in result.stderr
    assert (folder / "important.txt").read_text() == "keep me" and (folder / "sub").is_dir()
    assert (folder.stat().st_mode & 0o777) == 0o750 and [p.name for p in tmp_path.iterdir()] == ["mine"]


def test_unwritable_confusion_keeps_the_accuracy_line(model_dir: Path, tmp_path: Path) -> None:
    # given a --confusion path that cannot be written (its parent is a file)
    (tmp_path / "file").write_text("x")
    result = local("--once", "--port", "0", "--model-dir", str(model_dir), "--confusion",
                   str(tmp_path / "file" / "cm.png"), timeout=120)
    # then the accuracy still comes out, followed by one error line and a non-zero exit
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith("accuracy: ")
    assert result.stderr.strip().splitlines()[-1].startswith("error: cannot save --confusion")


def test_ctrl_c_while_training_prints_one_message_and_no_traceback(tmp_path: Path) -> None:
    # given the first `make local` (no model yet, OpenML unreachable so it trains on digits)
    env = {**os.environ, **OFFLINE, "SCIKIT_LEARN_DATA": str(tmp_path / "sk")}
    model = tmp_path / "model"
    run = subprocess.Popen([sys.executable, "-m", "function.local", "--once", "--port", "0", "--model-dir", str(model)],
                           cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           start_new_session=True)
    seen = []
    for line in run.stderr:
        seen.append(line)
        if "cross-validation" in line:
            break
    # when Ctrl-C reaches the terminal's whole process group during cross-validation
    os.killpg(run.pid, signal.SIGINT)
    out, rest = run.communicate(timeout=60)
    # then one message, no traceback from either process, exit 130, and no model folder or stray beside it
    after = rest.strip().splitlines()
    assert run.returncode == 130, seen + [rest]
    assert "Traceback" not in rest and "KeyboardInterrupt" not in rest
    assert len([line for line in after if "interrupt" in line.lower()]) == 1
    assert after[-1].startswith("error: interrupted")
    assert out == "" and not model.exists() and {p.name for p in tmp_path.iterdir()} <= {"sk"}


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_serving_mode_works_without_the_held_out_batch_and_stops_cleanly(stop: signal.Signals, model_dir: Path,
                                                                          tmp_path: Path) -> None:
    # given a model folder with only the model (no held-out batch)
    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy)
    for name in ("test_features.npy", "test_labels.npy"):
        (copy / name).unlink()
    # PYTHONFAULTHANDLER: a hang is reported with every thread's stack (SIGABRT below) instead of a bare timeout
    run = subprocess.Popen([sys.executable, "-m", "function.local", "--port", "0", "--model-dir", str(copy)],
                           cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env={**os.environ, "PYTHONFAULTHANDLER": "1"})
    try:
        # then it still serves: the ready line comes out
        ready = json.loads(run.stdout.readline())
        assert ready["url"].endswith("/predict")
    finally:
        # when stopped right after the ready line
        run.send_signal(stop)
        try:
            _, rest = run.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            run.send_signal(signal.SIGABRT)
            _, rest = run.communicate(timeout=30)
            pytest.fail(f"did not stop within 30 s; its threads:\n{rest}")
    # then it stops cleanly: exit 0, "stopping", no traceback
    assert run.returncode == 0 and rest.strip().splitlines()[-1] == "stopping" and "Traceback" not in rest

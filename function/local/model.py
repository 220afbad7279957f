"""The local API's model folder: use a trained one, or train into a folder that may be written, never a user's."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from training.output import OutputError, check_out, is_model_folder

ROOT = Path(__file__).resolve().parent.parent.parent
BATCH_FILES = ("test_features.npy", "test_labels.npy")


class LocalError(Exception):
    """A problem the user fixes (a bad option or model folder): one line on stderr and exit status 2."""


class TrainingStopped(Exception):
    """Training was interrupted (Ctrl-C or SIGTERM); it has said so itself."""


def ensure_model(model_dir: Path, *, need_batch: bool) -> None:
    """Use the model in `model_dir`, or train one there when the folder is new or empty; never touch a user's files."""
    if is_model_folder(model_dir):
        needed = ("model.npz", *BATCH_FILES) if need_batch else ("model.npz",)
        missing = [name for name in needed if not (model_dir / name).is_file()]
        if missing:
            why = " (--once predicts the held-out batch)" if set(missing) & set(BATCH_FILES) else ""
            raise LocalError(f"--model-dir {model_dir} has no {' or '.join(missing)}{why}; "
                             f"retrain it with python -m training --out {model_dir}")
        return
    try:
        check_out(model_dir, "--model-dir")  # the same refusal training would give, before the minutes it takes
    except OutputError as exc:
        raise LocalError(str(exc)) from None
    print(f"no model in {model_dir}: training one with `python -m training` (MNIST if reachable, else digits)...",
          file=sys.stderr, flush=True)
    train(model_dir)


def train(model_dir: Path) -> None:
    """Run `python -m training --out model_dir`; Ctrl-C is reported by the training process alone, on one line."""
    child = subprocess.Popen([sys.executable, "-m", "training", "--out", str(model_dir)], cwd=ROOT, stdout=sys.stderr)
    # Ctrl-C reaches the whole process group: the child stops cleanly and says so, so here it only ends the wait.
    # A Python handler (not SIG_IGN) is reset to the default in the child at exec, so the child still gets Ctrl-C.
    previous_int = signal.signal(signal.SIGINT, lambda *_: None)
    previous_term = signal.signal(signal.SIGTERM, lambda *_: child.terminate())
    try:
        status = child.wait()
    finally:
        signal.signal(signal.SIGINT, previous_int)
        signal.signal(signal.SIGTERM, previous_term)
    if status in (130, -signal.SIGINT, -signal.SIGTERM, 128 + signal.SIGTERM):
        raise TrainingStopped()
    if status != 0:
        raise LocalError(f"training failed (exit {status}); see the message above")

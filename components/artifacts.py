"""What the image is built from: the function folder and its trained model, checked and named portably."""

import json
import os
from pathlib import Path

MODEL_FILES = ("model/model.npz", "model/metadata.json")
DIGITS = "digits"


def check_model(function_dir: Path, allow_digits_model: bool) -> str:
    """Fail fast on a missing or unwanted model; returns a one-line summary of what the image will serve."""
    missing = [f for f in MODEL_FILES if not (function_dir / f).is_file()]
    if missing:
        raise FileNotFoundError(f"no trained model in {function_dir / 'model'} (missing {', '.join(missing)}); "
                                "run `python -m training` first")
    try:
        metadata = json.loads((function_dir / "model" / "metadata.json").read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{function_dir / 'model' / 'metadata.json'} is unreadable ({type(exc).__name__}); "
                         "run `python -m training` again") from None
    if not isinstance(metadata, dict):
        raise ValueError(f"{function_dir / 'model' / 'metadata.json'} is not a JSON object; "
                         "run `python -m training` again")
    dataset = str(metadata.get("dataset") or "unknown")
    # `make train` falls back to digits when OpenML is unreachable: serving it to MNIST callers fails them quietly.
    if dataset == DIGITS and not allow_digits_model:
        raise ValueError(
            "the baked model was trained on the 8x8 'digits' dataset (the offline fallback of `make train`), "
            "not MNIST: it takes 64-pixel rows and would refuse or misread 28x28 MNIST input. Retrain with "
            "`python -m training --dataset mnist`, or deploy it anyway with "
            "`pulumi config set mnist:allowDigitsModel true` (allow_digits_model=True)")
    accuracy = metadata.get("test_accuracy")
    scored = f", held-out accuracy {accuracy:.4f}" if isinstance(accuracy, (int, float)) else ""
    return (f"the image serves a model trained on the {dataset!r} dataset "
            f"({metadata.get('n_features', '?')} pixels a row, {metadata.get('n_train', '?')} training rows{scored})")


def portable(path: Path) -> str:
    """`path` relative to the program's working directory, in POSIX form, so stored inputs match on any checkout."""
    # Pulumi runs the program and its providers from the project folder, so a relative path resolves the same for both.
    try:
        relative = os.path.relpath(os.path.abspath(path), os.getcwd())
    except ValueError:  # another drive on Windows: no relative path exists
        return Path(os.path.abspath(path)).as_posix()
    return Path(relative).as_posix()

"""`python -m training`: train the reference and the served model, write the model folder atomically."""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import platform
import signal
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from training import data as datasets
from training.data import FOLDS
from training.output import OutputError, atomic_dir, check_out

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "function" / "model"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; see docs/training.md."""
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    parser.add_argument("--dataset", default="auto", help="auto (mnist, else digits), mnist, digits or PATH.npz")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"model folder (default {DEFAULT_OUT}); replaced only when new, empty or "
                        "a model folder an earlier run wrote, never holding other files")
    parser.add_argument("--samples", type=int, default=20000, help="rows sampled from the dataset (default 20000)")
    parser.add_argument("--test-size", type=float, default=0.2, help="held-out fraction (default 0.2)")
    parser.add_argument("--seed", type=int, default=42, help="random_state for sampling, split and PCA (default 42)")
    args = parser.parse_args(argv)
    if not 0 < args.test_size < 1:
        parser.error(f"--test-size must be between 0 and 1, got {args.test_size}")
    if not 0 <= args.seed < 2**32:
        parser.error(f"--seed must be between 0 and 2**32 - 1 (numpy's seeds), got {args.seed}")
    least = min_samples(args.test_size)
    if args.samples < least:
        parser.error(f"--samples must be at least {least} with --test-size {args.test_size}, got {args.samples}: "
                     f"{FOLDS}-fold cross-validation needs {FOLDS} training rows in each of at least 2 classes")
    return args


def min_samples(test_size: float) -> int:
    """The fewest rows whose training split (train_test_split rounds the test part up) can be cross-validated."""
    n = 2 * FOLDS
    while n - math.ceil(n * test_size) < 2 * FOLDS:
        n += 1
    return n


def sample_and_split(ds: datasets.Dataset, samples: int, test_size: float, seed: int) -> list[np.ndarray]:
    """The tutorial's rows: a seeded sample, then an unstratified train/test split (X_train, X_test, y_train, y_test)."""
    from sklearn.model_selection import train_test_split

    X, y = ds.X, ds.y
    if len(X) > samples:
        # As the tutorial: a random sample of rows, then an unstratified 80/20 split, both with random_state 42.
        rows = np.random.RandomState(seed).choice(len(X), size=samples, replace=False)
        X, y = X[rows], y[rows]
    return train_test_split(X, y, test_size=test_size, random_state=seed)


# Scales a feature can be on: normalised, the 8x8 digits' 0-16, and 8-bit pixels.
_SCALES = (1, 16, 255)


def value_range(X: np.ndarray) -> list[float]:
    """The feature range the served model checks rows against: 0 to the smallest usual scale that covers X."""
    # The observed maximum would refuse an honest 255 that the sample happened to lack; the scale does not.
    top = float(X.max(initial=0))
    return [0, next(scale for scale in _SCALES if top <= scale)]


def normalisation(dataset: str, n_features: int) -> dict[str, object]:
    """How an image must be normalised to look like this model's training rows (read by the function)."""
    if dataset == "digits":  # UCI optdigits: 4x4 blocks of a 32x32 bitmap, counted 0-16
        return {"kind": "digits-8", "size": 8, "max_value": 16}
    if n_features == 784:  # MNIST and MNIST-shaped data: 20x20 box centred by mass in 28x28, 0-255
        return {"kind": "mnist-28", "size": 28, "max_value": 255}
    return {"kind": "none"}


def run(args: argparse.Namespace) -> None:
    """Load, select by cross-validation, evaluate both configurations, and write the folder."""
    import sklearn

    from training import report, select

    started = time.perf_counter()
    args.out = check_out(args.out)  # refuse a folder we may not replace now, not after minutes of cross-validation
    ds = datasets.validate(datasets.load(args.dataset))
    X_train, X_test, y_train, y_test = sample_and_split(ds, args.samples, args.test_size, args.seed)
    datasets.check_folds(y_train, select.FOLDS)
    print(f"dataset {ds.name}: {len(X_train)} training and {len(X_test)} held-out rows of {ds.X.shape[1]} features",
          file=sys.stderr, flush=True)

    ref = select.reference(X_train, y_train, X_test, y_test)
    n_components, k, cv = select.choose(X_train, y_train, args.seed)
    model = select.fit_served(X_train, y_train, n_components, k, args.seed)
    served = select.served_scores(model, cv, X_test, y_test)
    predictions = model.predict(X_test)
    matrix = report.confusion(y_test, predictions)

    with atomic_dir(args.out) as staging:
        model.save(staging / "model.npz")
        artifact = (staging / "model.npz").read_bytes()
        # Pixels fit uint8 exactly on every supported dataset; float32 keeps any other numeric scale lossless enough.
        batch = X_test.astype(np.uint8) if np.array_equal(X_test, X_test.astype(np.uint8)) else X_test.astype(np.float32)
        np.save(staging / "test_features.npy", batch)
        np.save(staging / "test_labels.npy", y_test.astype(np.int64))
        report.save_confusion_png(matrix, staging / "confusion_matrix.png", f"{ds.name}: served model, held-out rows")
        report.save_confused_pairs_png(X_test, y_test, predictions, matrix, staging / "confused_pairs.png")
        metadata = {
            "dataset": ds.name, "n_samples": len(X_train) + len(X_test), "n_train": len(X_train), "n_test": len(X_test),
            "n_features": int(ds.X.shape[1]), "value_range": value_range(ds.X),
            "classes": [int(c) for c in model.classes], "normalisation": normalisation(ds.name, int(ds.X.shape[1])),
            "artifact": "model.npz", "sha256": hashlib.sha256(artifact).hexdigest(), "artifact_bytes": len(artifact),
            "model": {"type": "pca-knn", "n_components": n_components, "k": k, "weights": model.weights, "storage": "uint8"},
            "cv": {"folds": select.FOLDS, "mean": served.cv_mean, "std": served.cv_std},
            "test_accuracy": served.test_accuracy,
            "reference": {"model": "KNeighborsClassifier(n_neighbors=4, weights='distance') on raw float64 pixels",
                          "cv_mean": ref.cv_mean, "cv_std": ref.cv_std, "test_accuracy": ref.test_accuracy,
                          "artifact_bytes": ref.artifact_bytes},
            "most_confused": [{"true": t, "predicted": p, "count": c} for t, p, c in report.most_confused(matrix)],
            "versions": {"python": platform.python_version(), "numpy": np.__version__, "scikit-learn": sklearn.__version__},
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "seed": args.seed,
            "training_seconds": round(time.perf_counter() - started, 1),
        }
        (staging / "metadata.json").write_text(json.dumps(metadata, indent=2) + "\n")

    print(report.summary(ref, served, f"PCA {n_components} + uint8 KNN k={k}"))
    print(f"wrote {args.out} in {metadata['training_seconds']} s")


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Entry point: exit 0, or 2 with one clear line for bad input."""
    args = parse_args(argv)
    # `kill` and a stopping container end the run like Ctrl-C: the staging folder is removed, --out is untouched.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        run(args)
    except (datasets.DataError, OutputError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"error: interrupted; {args.out} was left as it was", file=sys.stderr)
        return 130
    except Exception as exc:  # one line rather than a traceback; --out is untouched by construction
        print(f"error: training failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

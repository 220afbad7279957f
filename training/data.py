"""Datasets for training: MNIST from OpenML, scikit-learn's bundled digits, or a user's .npz."""

from __future__ import annotations

import socket
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class DataError(Exception):
    """A dataset that cannot be used, with a message meant for the user."""


@dataclass(frozen=True)
class Dataset:
    """Feature rows (pixel values) and labels 0-9, with the name recorded in metadata.json."""

    name: str
    X: np.ndarray
    y: np.ndarray


FOLDS = 10  # cross-validation folds, here so option checks need not import scikit-learn

# OpenML can hang on a dead network; a bounded wait keeps `--dataset auto` quick to fall back.
_OPENML_TIMEOUT_S = 15.0


def load_mnist() -> Dataset:
    """MNIST (mnist_784) from OpenML, cached on disk by scikit-learn after the first download."""
    from sklearn.datasets import fetch_openml

    print("fetching mnist_784 from OpenML (cached after the first download)...", file=sys.stderr, flush=True)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(_OPENML_TIMEOUT_S)
    try:
        X, y = fetch_openml("mnist_784", version=1, as_frame=False, return_X_y=True, n_retries=1, delay=0.5)
    except Exception as exc:  # urllib, socket and HTTP errors all mean "not reachable" here
        raise DataError(
            f"cannot reach OpenML to fetch MNIST ({type(exc).__name__}); "
            "use --dataset digits (bundled, offline) or --dataset PATH.npz with arrays X and y"
        ) from None
    finally:
        socket.setdefaulttimeout(previous)
    return Dataset("mnist", X, y.astype(np.int64))


def load_digits() -> Dataset:
    """scikit-learn's bundled 8x8 digits (values 0-16), which need no network."""
    from sklearn.datasets import load_digits as sk_load_digits

    X, y = sk_load_digits(return_X_y=True)
    return Dataset("digits", X, y)


def load_npz(path: Path) -> Dataset:
    """A user's .npz with X (rows of 0-255 pixel values) and y (labels 0-9); never unpickles."""
    if not path.is_file():
        raise DataError(f"dataset file not found: {path}")
    with path.open("rb") as head:
        magic = head.read(4)
    # np.load picks its reader from the content: anything but a zip would reach the pickle branch and a misleading hint.
    if magic not in (b"PK\x03\x04", b"PK\x05\x06"):
        raise DataError(f"{path} is not a .npz archive; write one with numpy.savez({path.name!r}, X=rows, y=labels)")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [name for name in ("X", "y") if name not in data.files]
            if missing:
                raise DataError(f"{path} has no array {' or '.join(missing)}; it needs X (rows) and y (labels)")
            X, y = data["X"], data["y"]
    except DataError:
        raise
    except ValueError as exc:
        if "pickle" in str(exc):  # numpy's own hint (allow_pickle=True) would run code from the file: never give it
            raise DataError(f"{path} holds object arrays, which are refused; save X and y as numeric arrays") from None
        raise DataError(f"{path} is not a readable .npz: {exc}") from None
    except Exception as exc:
        raise DataError(f"{path} is not a readable .npz: {type(exc).__name__}: {exc}") from None
    # The file name, not the path: it is shown in pictures and API responses, where a local path means nothing.
    return Dataset(path.name, X, y)


def load(spec: str) -> Dataset:
    """Resolve --dataset: auto, mnist, digits or PATH.npz."""
    if spec == "mnist":
        return load_mnist()
    if spec == "digits":
        return load_digits()
    if spec == "auto":
        try:
            return load_mnist()
        except DataError as exc:
            print(f"WARNING: {exc}. Falling back to the bundled digits dataset.", file=sys.stderr, flush=True)
            return load_digits()
    if spec.endswith(".npz"):
        return load_npz(Path(spec))
    raise DataError(f"--dataset must be auto, mnist, digits or a path ending in .npz, got {spec!r}")


def validate(data: Dataset) -> Dataset:
    """Check shapes, values and labels; returns float64 features and int64 labels."""
    X, y = data.X, data.y
    if X.ndim == 3:  # images as (n, h, w) are fine: flatten them to rows
        X = X.reshape(len(X), -1)
    if X.ndim != 2 or y.ndim != 1:
        raise DataError(f"X must be 2-D rows and y 1-D labels, got shapes {X.shape} and {y.shape}")
    if len(X) != len(y):
        raise DataError(f"X has {len(X)} rows but y has {len(y)} labels")
    if not (np.issubdtype(X.dtype, np.number) and not np.issubdtype(X.dtype, np.complexfloating)):
        raise DataError(f"features must be numeric, got dtype {X.dtype}")
    X = X.astype(np.float64)
    if not np.isfinite(X).all():
        raise DataError("features contain NaN or infinite values")
    if X.min(initial=0) < 0 or X.max(initial=0) > 255:
        raise DataError("features must be pixel values between 0 and 255")
    if not np.issubdtype(y.dtype, np.number) or not np.isfinite(y.astype(np.float64)).all() or (y != np.round(y)).any():
        raise DataError("labels must be whole numbers 0-9")
    y = y.astype(np.int64)
    if y.min(initial=0) < 0 or y.max(initial=0) > 9:
        raise DataError(f"labels must be 0-9, found values {sorted(set(y[(y < 0) | (y > 9)].tolist()))[:5]}")
    return Dataset(data.name, X, y)


def check_folds(y_train: np.ndarray, folds: int) -> None:
    """Every class in the training split needs at least one row per cross-validation fold."""
    counts = np.bincount(y_train, minlength=10)
    present = counts[counts > 0]
    if len(present) == 1:
        raise DataError(f"the training rows hold a single class (label {int(np.argmax(counts))}); "
                        "a classifier needs labels of at least 2 classes")
    if len(present) < 2 or present.min() < folds:
        smallest = int(present.min()) if len(present) else 0
        raise DataError(
            f"too few rows per class for {folds}-fold cross-validation: the smallest class in the training split"
            f" has {smallest} rows (need at least {folds} in each of at least 2 classes)"
        )

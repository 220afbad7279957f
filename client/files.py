"""Batch and label files, read by the function's own parser so the client accepts exactly what the API accepts."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from client.api import ClientError

FUNCTION_DIR = Path(__file__).resolve().parent.parent / "function"
FORMATS = (".npy", ".npz", ".csv", ".json")
FIGURE_SUFFIXES = (".png", ".svg", ".pdf")
# Size limits are the API's to apply (they differ between a request and batch scoring); here only the format counts.
_NO_LIMIT = 1 << 40


def _parser():
    """The function's batch module, imported as Lambda does (function/ is its task root)."""
    if str(FUNCTION_DIR) not in sys.path:
        sys.path.append(str(FUNCTION_DIR))  # appended, so nothing of the function's shadows a name of ours
    import batch
    import errors

    return batch, errors


def _first_line_cells(data: bytes) -> int:
    for line in data.removeprefix(b"\xef\xbb\xbf").splitlines():
        if line.strip():
            return line.count(b",") + 1
    return 1


def _map_npy(path: Path) -> np.ndarray:
    # Mapped, not read: a batch for scoring may be far larger than memory, and the header is all there is to check.
    with path.open("rb") as file:
        magic = file.read(6)
    if magic != b"\x93NUMPY":
        raise ValueError("not a .npy file (no NUMPY header); write it with np.save")
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc):  # numpy would suggest allow_pickle=True, which runs code from the file
            raise ValueError("object arrays need pickle, which is never loaded; save numbers") from None
        raise


def _decode(path: Path) -> np.ndarray:
    """The array in a .npy, .npz (array X), .csv or .json file, or one line saying why the API would refuse it."""
    if not path.is_file():
        raise ClientError(f"file not found: {path}", 2)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ClientError(f"{path} must be a {', '.join(FORMATS[:-1])} or {FORMATS[-1]} file, as the API accepts", 2)
    batch, errors = _parser()
    try:
        if suffix == ".npy":
            array = _map_npy(path)
        else:
            data = path.read_bytes()
            limits = batch.Limits(max_bytes=_NO_LIMIT, max_csv_bytes=_NO_LIMIT, max_json_bytes=_NO_LIMIT,
                                  max_rows=_NO_LIMIT, n_features=_first_line_cells(data))
            array = batch.from_object(path.name, data, limits)
    except errors.RequestError as exc:
        raise ClientError(f"cannot use {path}: {exc}", 2) from None
    except (ValueError, OSError, EOFError) as exc:
        raise ClientError(f"cannot read {path}: {exc.strerror if isinstance(exc, OSError) else exc}", 2) from None
    if array.dtype.kind not in "iuf":
        raise ClientError(f"{path} must hold numbers, got dtype {array.dtype}", 2)
    if array.size == 0:
        raise ClientError(f"{path} holds no values", 2)
    return array


def load_rows(path: Path) -> np.ndarray:
    """Feature rows (2-D) from a batch file."""
    rows = _decode(path)
    if rows.ndim != 2:
        raise ClientError(f"{path} must hold a 2-D batch (rows x features), got shape {rows.shape}", 2)
    return rows


def load_labels(path: Path) -> np.ndarray:
    """Whole-number labels, one per row; a fractional label is refused rather than truncated."""
    labels = _decode(path)
    if labels.ndim == 2 and 1 in labels.shape:
        labels = labels.ravel()
    if labels.ndim != 1:
        raise ClientError(f"{path} must hold one label per row (1-D), got shape {labels.shape}", 2)
    if labels.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(labels) | (labels != np.round(labels)))
        if len(bad):
            raise ClientError(f"labels must be whole numbers, but {path} has {labels[bad[0]]!r} at row {bad[0]} "
                              f"({len(bad)} such values); accuracy would be wrong", 2)
    if labels.min() < 0:  # a class index: a negative one would land in another class's cell of the matrix
        raise ClientError(f"labels must be 0 or more, but {path} has {labels.min()!r}", 2)
    return np.asarray(labels, dtype=np.int64)

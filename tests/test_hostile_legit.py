"""The hostile-input defences refuse no honest batch: awkward but valid files still get the .npy predictions."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import hostile
from conftest import DATA_BUCKET, call


def _csv(rows: np.ndarray, fmt: str = "%.18e", header: str = "", newline: str = "\n", bom: bool = False) -> bytes:
    buffer = io.StringIO()
    np.savetxt(buffer, rows, fmt=fmt, delimiter=",", header=header, comments="", newline=newline)
    text = buffer.getvalue() + newline  # a trailing blank line, as many editors leave
    return ("\ufeff" if bom else "").encode() + text.encode()


HONEST: dict[str, tuple[str, Callable[[np.ndarray], bytes]]] = {
    "csv, full float64 precision (np.savetxt %.18e)": ("full.csv", _csv),
    "csv, header of pixel names, CRLF, BOM": (
        "excel.csv", lambda rows: _csv(rows, "%g", ",".join(f"pixel{i}" for i in range(rows.shape[1])), "\r\n", True)),
    "csv, integers": ("ints.csv", lambda rows: _csv(rows, "%d")),
    "json, floats in exponent form": (
        "exp.json", lambda rows: json.dumps([[float(f"{v:.17e}") for v in row] for row in rows.tolist()]).encode()),
    "json, pretty-printed": ("pretty.json", lambda rows: json.dumps(rows.tolist(), indent=4).encode()),
    "npz, uncompressed (np.savez)": ("plain.npz", lambda rows: _savez(rows)),
    "npz, compressed, float32": ("small.npz", lambda rows: hostile.npz(X=rows.astype(np.float32))),
    "npy, fortran order, big-endian float64": (
        "fortran.npy", lambda rows: hostile.npy(np.asfortranarray(rows.astype(">f8")))),
    # issue 15: each of these lost, added or refused rows before
    "csv, pandas header of column numbers 0,...,63": (
        "pandas.csv", lambda rows: _csv(rows, "%g", ",".join(map(str, range(rows.shape[1]))))),
    "csv, quoted numbers": ("quoted.csv", lambda rows: _csv(rows, '"%g"')),
    "csv, quoted names as header, blank lines between rows": (
        "names.csv", lambda rows: _csv(rows, "%g", ",".join(f'"p{i}"' for i in range(rows.shape[1])), "\n\n")),
    "json, UTF-8 with a byte-order mark": ("bom.json", lambda rows: b"\xef\xbb\xbf" + json.dumps(rows.tolist()).encode()),
    "npz, member named X without .npy (as np.load reads it)": (
        "bare.npz", lambda rows: hostile.zip_of([("X", hostile.npy(rows))])),
}


def _savez(rows: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, X=rows)
    return buffer.getvalue()


@pytest.mark.parametrize("case", HONEST, ids=list(HONEST))
def test_honest_awkward_batches_are_still_accepted(case: str, app: ModuleType, s3, model_dir: Path) -> None:
    # given the first 100 held-out rows, as .npy and in an awkward but valid form
    rows = np.load(model_dir / "test_features.npy")[:100].astype(np.float64)
    s3.put_object(Bucket=DATA_BUCKET, Key="legit/reference.npy", Body=hostile.npy(rows))
    key, make = HONEST[case]
    s3.put_object(Bucket=DATA_BUCKET, Key=f"legit/{key}", Body=make(rows))
    # when both are predicted
    expected = call(app, {"bucket": DATA_BUCKET, "key": "legit/reference.npy"})
    status, payload = call(app, {"bucket": DATA_BUCKET, "key": f"legit/{key}"})
    # then the awkward form is accepted and agrees with the .npy, row for row
    assert expected[0] == 200 and status == 200, payload
    assert payload["predictions"] == expected[1]["predictions"] and payload["count"] == len(rows)


def test_zip_signature_bytes_inside_an_honest_array_are_not_members(app: ModuleType, s3) -> None:
    # given an honest np.savez whose float32 data holds the central-directory signature PK\x01\x02 2,560 times
    rows = hostile.signature_rich_rows(40)
    data = hostile.stored_npz(X=rows)
    assert data.count(b"PK\x01\x02") > 2_000
    s3.put_object(Bucket=DATA_BUCKET, Key="legit/signatures.npz", Body=data)
    # when it is predicted
    status, payload = call(app, {"bucket": DATA_BUCKET, "key": "legit/signatures.npz"})
    # then it is one member, read as such: a prediction per row
    assert status == 200 and payload["count"] == 40, payload

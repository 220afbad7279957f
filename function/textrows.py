"""Rows from text: JSON lists (inline or in S3) and CSV objects, with their costs bounded before parsing."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

import numpy as np

from errors import InvalidRows, TooLarge


_MAX_CELL_BYTES = 32  # no pixel value, header name or spacing needs more characters per cell


@dataclass(frozen=True)
class Limits:
    """What one request may cost: object bytes per format, rows, and the row width the model expects."""

    max_bytes: int
    max_csv_bytes: int
    max_json_bytes: int
    max_rows: int
    n_features: int


def json_rows(value: object, raw: bytes | str) -> np.ndarray:
    """A JSON list of rows as a numeric array; strings, booleans, nulls and ragged rows are refused."""
    if not isinstance(value, list):
        raise InvalidRows("rows must be a JSON list of lists of numbers")
    try:
        array = np.array(value)
    except (ValueError, TypeError):
        raise InvalidRows("rows must all have the same length and hold only numbers") from None
    if array.size and array.dtype.kind not in "iuf":
        raise InvalidRows("rows must hold only numbers (no strings, booleans or nulls)")
    # numpy reads JSON true/false as 1/0; once the array is numeric, no strings remain, so any such token is a boolean.
    needle = (b"true", b"false") if isinstance(raw, bytes) else ("true", "false")
    if needle[0] in raw or needle[1] in raw:
        raise InvalidRows("rows must hold only numbers, not booleans")
    return array


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def load_csv(data: bytes, limits: Limits) -> np.ndarray:
    """Numeric rows from a .csv object (LF or CRLF line endings; an optional header of names is skipped)."""
    # Lines stay bytes, one at a time, until they are known to be few and short: text with a single non-Latin-1
    # character would otherwise cost 4 bytes a character in every copy.
    max_line = limits.n_features * _MAX_CELL_BYTES
    raw: list[bytes] = []
    for seen, line in enumerate(io.BytesIO(data.removeprefix(b"\xef\xbb\xbf"))):
        line = line.rstrip(b"\r\n")
        if len(line) > max_line:
            raise InvalidRows(f"line {seen + 1} of the .csv is longer than any row of {limits.n_features} values")
        if line.strip():
            raw.append(line)
        if len(raw) > limits.max_rows + 1 or seen > 2 * limits.max_rows + 2:
            raise TooLarge(f"the .csv has more than {limits.max_rows} rows; split the batch")
    try:
        lines = [line.decode("utf-8") for line in raw]
    except UnicodeDecodeError:
        raise InvalidRows("the .csv is not UTF-8 text") from None
    wrong = next((n for n, line in enumerate(lines) if line.count(",") + 1 != limits.n_features), None)
    if wrong is not None:
        raise InvalidRows(f"line {wrong + 1} of the .csv has {lines[wrong].count(',') + 1} cells; "
                          f"each row needs {limits.n_features}")
    if lines and not any(_is_number(cell) for cell in lines[0].split(",")):
        lines = lines[1:]  # a header row: names only, no numbers
    if not lines:
        raise InvalidRows("the .csv has no rows")
    try:
        return np.loadtxt(lines, delimiter=",", dtype=np.float64, ndmin=2)
    except ValueError:
        raise InvalidRows("every .csv row must hold the same number of comma-separated numbers") from None


def load_json(data: bytes, limits: Limits) -> np.ndarray:
    """Rows from a .json object holding a list of rows."""
    # Every JSON value becomes a Python object: count them on the raw text (one pass each) before parsing any.
    if data.count(b",") + 1 > limits.max_rows * limits.n_features or data.count(b"[") > limits.max_rows + 1:
        raise TooLarge(f"the .json holds more than {limits.max_rows} rows of {limits.n_features} values; split it")
    if b"{" in data:
        raise InvalidRows("the .json must be a list of rows of numbers, without objects")
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        raise InvalidRows("the .json object is not valid JSON; it must be a list of rows") from None
    return json_rows(value, data)

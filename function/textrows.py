"""Rows from text: JSON lists (inline or in S3) and CSV objects, with their costs bounded before parsing."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

import numpy as np

from errors import InvalidRows, TooLarge, UnsupportedFormat, clip

_MAX_CELL_BYTES = 32  # no pixel value, header name or spacing needs more characters per cell
DEFAULT_RANGE = (0.0, 255.0)  # the value range of a model whose metadata.json predates "value_range"
# Byte-order marks, longest first (the UTF-32 LE mark begins with the UTF-16 LE one), with the unit size.
_WIDE_BOMS = ((b"\x00\x00\xfe\xff", "UTF-32", 4), (b"\xff\xfe\x00\x00", "UTF-32", 4),
              (b"\xfe\xff", "UTF-16", 2), (b"\xff\xfe", "UTF-16", 2))


@dataclass(frozen=True)
class Limits:
    """What one request may cost: object bytes per format, rows, and the row width the model expects."""

    max_bytes: int
    max_csv_bytes: int
    max_json_bytes: int
    max_rows: int
    n_features: int
    value_range: tuple[float, float] = DEFAULT_RANGE


def wide_encoding(data: bytes) -> str | None:
    """'UTF-16' or 'UTF-32' when text starting with ASCII (as JSON and CSV do) is in one of them, else None."""
    for bom, name, unit in _WIDE_BOMS:
        if data.startswith(bom) and len(data) % unit == 0:
            return name
    # Without a mark, the zero bytes around the first ASCII character give the width away (RFC 4627, section 3).
    head = data[:4]
    if len(head) == 4 and (head[:3] == b"\0\0\0" or head[1:] == b"\0\0\0") and len(data) % 4 == 0:
        return "UTF-32"
    if len(head) >= 2 and b"\0" in head[:2] and len(data) % 2 == 0:
        return "UTF-16"
    return None


def utf8_only(data: bytes, what: str) -> bytes:
    """The bytes without a UTF-8 byte-order mark; UTF-16 and UTF-32 text is refused by name (415)."""
    # One rule for every text input: json.loads would quietly decode UTF-16/32 and bypass checks made on the bytes.
    name = wide_encoding(data)
    if name is not None:
        raise UnsupportedFormat(f"{what} is {name} text; only UTF-8 (with or without a byte-order mark) is "
                                f"accepted: save it as UTF-8")
    return data.removeprefix(b"\xef\xbb\xbf")


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
    # float() also takes "1_000", which numpy's reader does not: both must agree on what a number is.
    try:
        float(cell)
    except ValueError:
        return False
    return "_" not in cell


def _cells(line: str) -> list[str]:
    return [cell.strip().removeprefix('"').removesuffix('"') for cell in line.split(",")]


def _is_header(line: str, number: int, limits: Limits) -> bool:
    """Whether the first line names the columns; a line that could be either is refused, never guessed."""
    cells = _cells(line)
    if all(cell and not _is_number(cell) for cell in cells):
        return True  # names only, e.g. pixel0,...
    if cells != [str(index) for index in range(len(cells))]:
        return False  # a data row (checked by the reader below)
    # pandas writes the column indices 0,1,...,n-1 as the header of a frame without names. A row can only hold
    # them if n-1 is inside the value range; a model whose rows are wider than its range has no such row.
    if len(cells) - 1 > limits.value_range[1]:
        return True
    raise InvalidRows(f"line {number} of the .csv is 0,1,...,{len(cells) - 1}: a header of column numbers or a row "
                      "of values? Remove it, or name the columns (pixel0,pixel1,...)")


def _first_bad_cell(lines: list[tuple[int, str]]) -> str:
    """Why the reader refused the rows: the first empty or non-numeric cell, by line and column."""
    for number, line in lines:
        for column, cell in enumerate(_cells(line), 1):
            if not cell:
                return f"line {number}, column {column} of the .csv is empty; every cell must hold a number"
            if not _is_number(cell):
                return f"line {number}, column {column} of the .csv holds {clip(cell)}, not a number"
    return "every .csv row must hold the same number of comma-separated numbers"


def load_csv(data: bytes, limits: Limits) -> np.ndarray:
    """Numeric rows from a .csv object; the rules are in docs/api.md (Input rules)."""
    data = utf8_only(data, "the .csv")
    # Lines stay bytes, one at a time, until they are known to be few and short: text with a single non-Latin-1
    # character would otherwise cost 4 bytes a character in every copy.
    max_line = limits.n_features * _MAX_CELL_BYTES
    raw: list[tuple[int, bytes]] = []
    for seen, line in enumerate(io.BytesIO(data), 1):
        line = line.rstrip(b"\r\n")
        if len(line) > max_line:
            raise InvalidRows(f"line {seen} of the .csv is longer than any row of {limits.n_features} values")
        # numpy would read "#" as a comment, dropping a line or the end of one (1#5 as 1) without a word.
        if b"#" in line:
            raise InvalidRows(f"line {seen} of the .csv contains '#'; comments are not supported, remove them "
                              "(np.savetxt: pass comments='')")
        if line.strip():  # blank lines are no rows: skipped, as editors leave them
            raw.append((seen, line))
        if len(raw) > limits.max_rows + 1 or seen > 2 * limits.max_rows + 2:
            raise TooLarge(f"the .csv has more than {limits.max_rows} rows; split the batch")
    try:
        lines = [(number, line.decode("utf-8")) for number, line in raw]
    except UnicodeDecodeError:
        raise InvalidRows("the .csv is not UTF-8 text") from None
    wrong = next(((number, line) for number, line in lines if line.count(",") + 1 != limits.n_features), None)
    if wrong is not None:
        raise InvalidRows(f"line {wrong[0]} of the .csv has {wrong[1].count(',') + 1} cells; "
                          f"each row needs {limits.n_features}")
    if lines and _is_header(lines[0][1], lines[0][0], limits):
        lines = lines[1:]
    if not lines:
        raise InvalidRows("the .csv has no rows")
    try:
        return np.loadtxt([line for _, line in lines], delimiter=",", dtype=np.float64, ndmin=2, comments=None,
                          quotechar='"')
    except ValueError:
        raise InvalidRows(_first_bad_cell(lines)) from None


def load_json(data: bytes, limits: Limits) -> np.ndarray:
    """Rows from a .json object holding a list of rows (UTF-8 only)."""
    data = utf8_only(data, "the .json")
    # Every JSON value becomes a Python object: count them on the raw text (one pass each) before parsing any.
    if data.count(b",") + 1 > limits.max_rows * limits.n_features or data.count(b"[") > limits.max_rows + 1:
        raise TooLarge(f"the .json holds more than {limits.max_rows} rows of {limits.n_features} values; split it")
    if b"{" in data:
        raise InvalidRows("the .json must be a list of rows of numbers, without objects")
    try:
        value = json.loads(data)
    except json.JSONDecodeError as exc:
        raise InvalidRows(f"the .json object is not valid JSON ({exc.msg} at position {exc.pos}); it must be a "
                          "list of rows") from None
    except UnicodeDecodeError:
        raise InvalidRows("the .json object is not UTF-8 text") from None
    except (ValueError, RecursionError):  # an integer of over 4,300 digits, or nesting past the parser's depth
        raise InvalidRows("the .json object holds a number too long to read or is nested too deeply") from None
    return json_rows(value, data)

"""Turn request rows or S3 object bytes into a validated float32 batch, without ever unpickling."""

from __future__ import annotations

import json

import numpy as np

from arrays import npy_array, npz_array
from errors import BadRequest, InvalidRows, TooLarge, UnsupportedFormat, clip
from textrows import DEFAULT_RANGE, Limits, json_rows, load_csv, load_json, utf8_only

__all__ = ["DEFAULT_RANGE", "Limits", "PICKLE_HELP", "SAFE_FORMATS", "from_instances", "from_object", "parse_body",
           "utf8_only", "validate"]

SAFE_FORMATS = ".npy, .npz (array X), .csv or .json (a list of rows)"
PICKLE_HELP = (
    f"pickled data is never loaded; store the batch as {SAFE_FORMATS}. To convert the tutorial's joblib-pickled "
    "DataFrame, load it where you trust it and run np.save('batch.npy', df.to_numpy(dtype='float32'))"
)
_PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".sav")
_MAX_BODY_OBJECTS = 64


def from_instances(instances: object, raw: bytes | str) -> np.ndarray:
    """Rows sent inline as {"instances": [[...], ...]}."""
    return json_rows(instances, raw)


def from_object(key: str, data: bytes, limits: Limits) -> np.ndarray:
    """Decode an S3 object by its key's suffix; pickles are refused by name and by content."""
    suffix = "." + key.rsplit(".", 1)[-1].lower() if "." in key else ""
    if suffix in _PICKLE_SUFFIXES or data[:1] == b"\x80":
        raise UnsupportedFormat(PICKLE_HELP)
    if suffix == ".npy":
        return npy_array(data, limits.max_rows, PICKLE_HELP)
    if suffix == ".npz":
        return npz_array(data, limits.max_bytes, limits.max_rows, PICKLE_HELP)
    # Parsed text costs several times its size in memory; big batches belong in the binary formats.
    text_limit = {".csv": limits.max_csv_bytes, ".json": limits.max_json_bytes}.get(suffix)
    if text_limit is not None and len(data) > text_limit:
        raise TooLarge(f"{suffix} objects are limited to {text_limit} bytes; send large batches as .npy or .npz")
    if suffix == ".csv":
        return load_csv(data, limits)
    if suffix == ".json":
        return load_json(data, limits)
    raise UnsupportedFormat(f"unsupported object format {clip(suffix or '(no suffix)')}; use {SAFE_FORMATS}")


def validate(array: np.ndarray, n_features: int, max_rows: int,
             value_range: tuple[float, float] = DEFAULT_RANGE) -> np.ndarray:
    """Check a batch against the model, its value range and the limits; returns it unchanged (no copy)."""
    if array.dtype.kind not in "iuf":
        raise InvalidRows(f"rows must be numbers, got dtype {clip(str(array.dtype))}")
    if array.size == 0:
        raise InvalidRows("the batch is empty; send at least one row")
    if array.ndim != 2:
        raise InvalidRows(f"rows must form a 2-D batch (rows x {n_features}), got shape {clip(array.shape)}; "
                          "wrap a single row in a list")
    if array.shape[0] > max_rows:
        raise TooLarge(f"{array.shape[0]} rows is over the limit of {max_rows}; split the batch")
    if array.shape[1] != n_features:
        raise InvalidRows(f"each row must have {n_features} features, got {array.shape[1]}")
    low, high = value_range
    if array.dtype == np.uint8 and low <= 0 and high >= 255:
        return array  # every uint8 is in range: nothing to check
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise InvalidRows("rows contain NaN or infinite values")
    if array.min() < low or array.max() > high:
        # A model trained on 0-16 predicts garbage for 0-255 rows without a word: the range it learned is the rule.
        raise InvalidRows(f"values must be between {low:g} and {high:g}, the range the model was trained on "
                          f"(found {array.min():g} to {array.max():g})")
    return array


def parse_body(body: str, max_rows: int) -> dict:
    """The request body as a JSON object; container counts are checked on the raw text before parsing."""
    # A request is one object holding at most max_rows + 1 lists; a few more braces may sit inside an S3 key.
    if not body.lstrip().startswith("{"):
        raise BadRequest('the body must be a JSON object: {"bucket": ..., "key": ...} or {"instances": [[...]]}')
    if body.count("[") > max_rows + 2:
        raise TooLarge(f"the body holds more than {max_rows} rows; split the batch or put it in S3")
    if body.count("{") > _MAX_BODY_OBJECTS:
        raise BadRequest('the body must be one JSON object: {"bucket": ..., "key": ...} or {"instances": [[...]]}')
    try:
        value = json.loads(body)
    except RecursionError:
        raise BadRequest("the JSON body is nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise BadRequest(f"the body is not valid JSON ({exc.msg} at position {exc.pos})") from None
    except ValueError:  # not a JSONDecodeError: Python refuses to convert an integer of over 4,300 digits
        raise BadRequest("the body holds a number too long to read (over 4,300 digits)") from None
    if not isinstance(value, dict):
        raise BadRequest('the body must be a JSON object: {"bucket": ..., "key": ...} or {"instances": [[...]]}')
    return value


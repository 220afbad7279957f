"""Turn request rows or S3 object bytes into a validated float32 batch, without ever unpickling."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np

from errors import BadRequest, InvalidRows, TooLarge, UnsupportedFormat
from textrows import Limits, json_rows, load_csv, load_json

__all__ = ["Limits", "PICKLE_HELP", "SAFE_FORMATS", "from_instances", "from_object", "parse_body", "validate"]

SAFE_FORMATS = ".npy, .npz (array X), .csv or .json (a list of rows)"
PICKLE_HELP = (
    f"pickled data is never loaded; store the batch as {SAFE_FORMATS}. To convert the tutorial's joblib-pickled "
    "DataFrame, load it where you trust it and run np.save('batch.npy', df.to_numpy(dtype='float32'))"
)
_PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".sav")
# np.savez writes one member per array; a bigger central directory is itself a memory attack (one ZipInfo each).
_MAX_NPZ_MEMBERS = 16
_ZIP_ENTRY = b"PK\x01\x02"
_MAX_BODY_OBJECTS = 64
_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def from_instances(instances: object, raw: bytes | str) -> np.ndarray:
    """Rows sent inline as {"instances": [[...], ...]}."""
    return json_rows(instances, raw)


def _load_npy(data: bytes) -> np.ndarray:
    stream = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(stream)
        read_header = _HEADER_READERS[version]
        _, _, dtype = read_header(stream)  # the header alone: the data is not touched yet
    except Exception:
        raise InvalidRows("not a valid .npy file (empty, truncated or corrupt); write it with np.save") from None
    if dtype.hasobject or dtype.names is not None:
        raise UnsupportedFormat(f"object or structured .npy arrays need pickle to load; {PICKLE_HELP}")
    stream.seek(0)
    try:
        return np.load(stream, allow_pickle=False)
    except Exception:
        raise InvalidRows("not a valid .npy file (truncated or corrupt); write it with np.save") from None


def _check_zip_directory(data: bytes) -> None:
    # zipfile turns every central-directory entry into an object, whatever the end record claims. Each entry starts
    # with this signature, so counting it (one pass, no allocation) bounds them before zipfile sees the archive.
    entries = data.count(_ZIP_ENTRY)
    if entries > _MAX_NPZ_MEMBERS:
        raise TooLarge(f"the .npz has {entries} members; a batch needs one array X (at most {_MAX_NPZ_MEMBERS})")


def _load_npz(data: bytes, max_bytes: int) -> np.ndarray:
    _check_zip_directory(data)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = {info.filename: info for info in archive.infolist()}
    except (zipfile.BadZipFile, ValueError, OSError):
        raise InvalidRows("not a valid .npz file; write it with np.savez('batch.npz', X=rows)") from None
    info = members.get("X.npy")
    if info is None:
        raise InvalidRows("the .npz has no array X; write it with np.savez('batch.npz', X=rows)")
    # zipfile bounds the output of zlib only; bzip2 and LZMA members would inflate in full whatever they declare.
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise UnsupportedFormat("the .npz uses an unsupported compression; write it with np.savez or np.savez_compressed")
    # Decided from the declared size before decompressing anything: a zip bomb never inflates.
    if info.file_size > max_bytes:
        raise TooLarge(f"array X in the .npz is {info.file_size} bytes uncompressed; the limit is {max_bytes}")
    try:
        with archive.open(info) as member:
            # Reading at most the declared size (+1 to detect a lying header) bounds memory even then.
            inner = member.read(min(info.file_size, max_bytes) + 1)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError):
        raise InvalidRows("the .npz is corrupt or uses an unsupported compression") from None
    return _load_npy(inner)


def from_object(key: str, data: bytes, limits: Limits) -> np.ndarray:
    """Decode an S3 object by its key's suffix; pickles are refused by name and by content."""
    suffix = "." + key.rsplit(".", 1)[-1].lower() if "." in key else ""
    if suffix in _PICKLE_SUFFIXES or data[:1] == b"\x80":
        raise UnsupportedFormat(PICKLE_HELP)
    if suffix == ".npy":
        return _load_npy(data)
    if suffix == ".npz":
        return _load_npz(data, limits.max_bytes)
    # Parsed text costs several times its size in memory; big batches belong in the binary formats.
    text_limit = {".csv": limits.max_csv_bytes, ".json": limits.max_json_bytes}.get(suffix)
    if text_limit is not None and len(data) > text_limit:
        raise TooLarge(f"{suffix} objects are limited to {text_limit} bytes; send large batches as .npy or .npz")
    if suffix == ".csv":
        return load_csv(data, limits)
    if suffix == ".json":
        return load_json(data, limits)
    raise UnsupportedFormat(f"unsupported object format {suffix or '(no suffix)'!r}; use {SAFE_FORMATS}")


def validate(array: np.ndarray, n_features: int, max_rows: int) -> np.ndarray:
    """Check a batch against the model and the limits; returns it unchanged (the model converts to float32 once)."""
    if array.dtype.kind not in "iuf":
        raise InvalidRows(f"rows must be numbers, got dtype {array.dtype}")
    if array.size == 0:
        raise InvalidRows("the batch is empty; send at least one row")
    if array.ndim != 2:
        raise InvalidRows(f"rows must form a 2-D batch (rows x {n_features}), got shape {array.shape}; "
                          "wrap a single row in a list")
    if array.shape[0] > max_rows:
        raise TooLarge(f"{array.shape[0]} rows is over the limit of {max_rows}; split the batch")
    if array.shape[1] != n_features:
        raise InvalidRows(f"each row must have {n_features} features, got {array.shape[1]}")
    if array.dtype == np.uint8:
        return array  # every uint8 is a valid pixel: nothing to check or copy
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise InvalidRows("rows contain NaN or infinite values")
    if array.min() < 0 or array.max() > 255:
        raise InvalidRows("pixel values must be between 0 and 255")
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
    except ValueError as exc:
        raise BadRequest(f"the body is not valid JSON ({exc.msg} at position {exc.pos})") from None
    if not isinstance(value, dict):
        raise BadRequest('the body must be a JSON object: {"bucket": ..., "key": ...} or {"instances": [[...]]}')
    return value


"""Arrays from .npy and .npz bytes: no pickle, no needless copies, and the zip read from its real directory."""

from __future__ import annotations

import io
import math
import struct
import zipfile
import zlib

import numpy as np

from errors import InvalidRows, RequestError, TooLarge, UnsupportedFormat, clip

_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
_HEAD_BYTES = 12 + 10_000  # magic, length and numpy's own cap on a header (max_header_size)
# np.savez writes one member per array; a bigger central directory is itself a memory attack (one ZipInfo each).
MAX_NPZ_MEMBERS = 16
_NPZ_HELP = "write it with np.savez('batch.npz', X=rows)"
_END, _END64, _LOCATOR64, _ENTRY, _LOCAL = b"PK\x05\x06", b"PK\x06\x06", b"PK\x06\x07", b"PK\x01\x02", b"PK\x03\x04"


Layout = tuple[tuple[int, ...], bool, np.dtype, int]  # shape, Fortran order, dtype, data offset


def read_header(head: bytes, available: int, max_rows: int, pickle_help: str) -> Layout:
    """Shape, Fortran order, dtype and data offset from a .npy's first bytes, checked against `available` bytes."""
    stream = io.BytesIO(head)
    try:
        shape, fortran, dtype = _HEADER_READERS[np.lib.format.read_magic(stream)](stream)
    except Exception:  # numpy's header parser raises many types for garbage; all mean "not a .npy"
        raise InvalidRows("not a valid .npy file (empty, truncated or corrupt); write it with np.save") from None
    if dtype.hasobject or dtype.names is not None:
        raise UnsupportedFormat(f"object or structured .npy arrays need pickle to load; {pickle_help}")
    if dtype.kind not in "iuf" or dtype.subdtype is not None:
        raise InvalidRows(f"rows must be numbers, got dtype {clip(str(dtype))}")
    # numpy's header reader checks that the shape is a tuple of ints, not that they are counts.
    if len(shape) > 32 or any(type(size) is not int or size < 0 for size in shape):
        raise InvalidRows(f"not a valid .npy file (shape {clip(shape)}); write it with np.save")
    if available - stream.tell() < math.prod(shape) * dtype.itemsize:
        raise InvalidRows("not a valid .npy file (truncated or corrupt); write it with np.save")
    # Decided from the header: a batch over the row limit is refused before its data is touched.
    if len(shape) == 2 and shape[0] > max_rows:
        raise TooLarge(f"{shape[0]} rows is over the limit of {max_rows}; split the batch")
    return shape, fortran, dtype, stream.tell()


def npy_array(buffer: bytes | memoryview, max_rows: int, pickle_help: str) -> np.ndarray:
    """The array a .npy holds, as a read-only view of `buffer` (no copy); rows over `max_rows` are refused unread."""
    shape, fortran, dtype, offset = read_header(bytes(buffer[:_HEAD_BYTES]), len(buffer), max_rows, pickle_help)
    count = math.prod(shape)
    if count == 0:
        return np.zeros(shape, dtype)
    array = np.frombuffer(buffer, dtype=dtype, count=count, offset=offset)
    return array.reshape(shape, order="F" if fortran else "C")


def _directory(data: bytes) -> tuple[int, int]:
    """Start and end of the central directory, located as zipfile locates it (end record, then zip64 records)."""
    # As zipfile: an end record without a comment first, else the last signature in the final 64 KiB.
    plain = len(data) >= 22 and data[-22:-18] == _END and data[-2:] == b"\0\0"
    end = len(data) - 22 if plain else data.rfind(_END, max(0, len(data) - 65_535 - 22))
    if end < 0 or len(data) - end < 22:
        raise InvalidRows(f"not a valid .npz file; {_NPZ_HELP}")
    (size,) = struct.unpack_from("<I", data, end + 12)
    location = end
    if end >= 20 and data[end - 20:end - 16] == _LOCATOR64:
        start64 = end - 20 - 56
        if start64 < 0 or data[start64:start64 + 4] != _END64:
            raise InvalidRows(f"not a valid .npz file (broken zip64 record); {_NPZ_HELP}")
        (size,) = struct.unpack_from("<Q", data, start64 + 40)
        location = start64
    start = location - size
    if start < 0:
        raise InvalidRows(f"not a valid .npz file; {_NPZ_HELP}")
    return start, location


def count_members(data: bytes) -> int:
    """The entries of the zip's real central directory, walked entry by entry; over MAX_NPZ_MEMBERS is refused."""
    # Counting signatures over the whole file also counts an honest array's bytes, and trusting the end record's
    # count trusts the attacker: zipfile itself walks the directory by its byte size, so this walk does too.
    position, stop = _directory(data)
    members = 0
    while position < stop:
        if data[position:position + 4] != _ENTRY or position + 46 > len(data):
            raise InvalidRows(f"not a valid .npz file (broken central directory); {_NPZ_HELP}")
        name, extra, comment = struct.unpack_from("<HHH", data, position + 28)
        position += 46 + name + extra + comment
        members += 1
        if members > MAX_NPZ_MEMBERS:
            raise TooLarge(f"the .npz has more than {MAX_NPZ_MEMBERS} members; a batch needs one array X")
    return members


def _member_x(archive: zipfile.ZipFile) -> zipfile.ZipInfo:
    """Array X as np.load resolves it (a member named 'X' first, else 'X.npy'); two candidates are refused."""
    candidates = [info for info in archive.infolist() if info.filename in ("X", "X.npy")]
    if len(candidates) > 1:
        found = " and ".join(repr(info.filename) for info in candidates)
        raise InvalidRows(f"the .npz is ambiguous: it holds {found} for array X; {_NPZ_HELP}")
    if not candidates:
        raise InvalidRows(f"the .npz has no array X; {_NPZ_HELP}")
    return candidates[0]


def _stored_view(data: bytes, info: zipfile.ZipInfo) -> memoryview:
    """An uncompressed member's bytes as a view of the object (no copy), its CRC checked as zipfile would."""
    local = info.header_offset
    if not 0 <= local <= len(data) - 30 or data[local:local + 4] != _LOCAL or info.compress_size != info.file_size:
        raise InvalidRows(f"the .npz is corrupt (bad local header); {_NPZ_HELP}")
    name, extra = struct.unpack_from("<HH", data, local + 26)
    start = local + 30 + name + extra
    view = memoryview(data)[start:start + info.file_size]
    if len(view) != info.file_size or zlib.crc32(view) != info.CRC:
        raise InvalidRows(f"the .npz is corrupt (truncated, or its CRC does not match); {_NPZ_HELP}")
    return view


def npz_array(data: bytes, max_bytes: int, max_rows: int, pickle_help: str) -> np.ndarray:
    """Array X of an .npz, refused from its declared size before any inflation, and never copied when stored."""
    count_members(data)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except Exception:  # zipfile's parser raises many types for garbage; all mean "not a zip"
        raise InvalidRows(f"not a valid .npz file; {_NPZ_HELP}") from None
    info = _member_x(archive)
    if info.flag_bits & 0x1:
        raise UnsupportedFormat(f"the .npz is encrypted; the function cannot read it: {_NPZ_HELP}")
    # zipfile bounds the output of zlib only; bzip2 and LZMA members would inflate in full whatever they declare.
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise UnsupportedFormat("the .npz uses an unsupported compression; write it with np.savez or "
                                "np.savez_compressed")
    # Decided from the declared size before decompressing anything: a zip bomb never inflates.
    if info.file_size > max_bytes:
        raise TooLarge(f"array X in the .npz is {info.file_size} bytes uncompressed; the limit is {max_bytes}")
    if info.compress_type == zipfile.ZIP_STORED:
        return npy_array(_stored_view(data, info), max_rows, pickle_help)
    try:
        # The header first: a batch over the row limit is refused before the rest inflates (a 60 KB .npz may
        # hold 64 MB of rows). Inflating its first bytes again below costs nothing.
        with archive.open(info) as member:
            read_header(member.read(min(info.file_size, _HEAD_BYTES)), info.file_size, max_rows, pickle_help)
        with archive.open(info) as member:
            # Reading at most the declared size (+1 to detect a lying header) bounds memory even then.
            inner = member.read(info.file_size + 1)
    except RequestError:
        raise
    except Exception:  # zlib.error, BadZipFile (CRC), EOFError...: a damaged stream, whatever the type
        raise InvalidRows(f"the .npz is corrupt (its compressed data is damaged); {_NPZ_HELP}") from None
    if len(inner) != info.file_size:
        raise InvalidRows(f"the .npz is corrupt (array X is not the size its header declares); {_NPZ_HELP}")
    return npy_array(inner, max_rows, pickle_help)

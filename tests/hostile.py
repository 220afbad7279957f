"""Hostile payload builders shared by the catalogue and the fuzz tests."""

from __future__ import annotations

import bz2
import functools
import io
import os
import pickle
import shlex
import struct
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np


class Canary:
    """Unpickling this creates a marker file: proof that caller-supplied pickled data ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def npy(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    """An array as .npy bytes."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def npz(**arrays: np.ndarray) -> bytes:
    """Arrays as compressed .npz bytes."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def pickled_canary(marker: Path) -> bytes:
    """A pickle (as joblib writes them) that touches `marker` when loaded."""
    return pickle.dumps(Canary(marker))


def object_npy_canary(marker: Path) -> bytes:
    """An object-dtype .npy whose loading with allow_pickle=True would touch `marker`."""
    return npy(np.array([Canary(marker)], dtype=object), allow_pickle=True)


def _deflated_zeros(size: int, block: int = 16 * 1024 * 1024) -> bytes:
    """A raw deflate stream of `size` zero bytes, built in milliseconds: one fully flushed block, repeated."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    # After a full flush the stream holds no back-references, so the chunk may be repeated verbatim.
    chunk = compressor.compress(bytes(block)) + compressor.flush(zlib.Z_FULL_FLUSH)
    return chunk * (size // block) + zlib.compressobj(9, zlib.DEFLATED, -15).flush()


def _zip_one(name: str, compressed: bytes, declared_size: int, crc: int, method: int = 8) -> bytes:
    """A one-member zip (deflated unless `method` says otherwise) written by hand, so its headers can lie."""
    date = (0, 0x21)  # 1980-01-01 00:00
    big = declared_size >= 0xFFFFFFFF or len(compressed) >= 0xFFFFFFFF
    extra = struct.pack("<HHQQ", 1, 16, declared_size, len(compressed)) if big else b""
    sizes = (0xFFFFFFFF, 0xFFFFFFFF) if big else (len(compressed), declared_size)
    raw = name.encode()
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 46, 0, method, *date, crc, *sizes, len(raw), len(extra)) + raw + extra
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 46, 46, 0, method, *date, crc, *sizes, len(raw), len(extra),
                          0, 0, 0, 0, 0) + raw + extra
    offset = len(local) + len(compressed)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), offset, 0)
    return local + compressed + central + end


def zip_member(data: bytes, method: int, name: str = "X.npy") -> bytes:
    """A one-member zip whose member bytes are stored as given under compression `method` (e.g. 14, LZMA)."""
    return _zip_one(name, data, 4096, 0, method=method)


def _npy_header(shape: tuple[int, ...], descr: str = "|u1") -> bytes:
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": descr, "fortran_order": False, "shape": shape})
    return header.getvalue()


def declared_zip_bomb(uncompressed: int = 2 * 1024**3) -> bytes:
    """An .npz whose X.npy honestly declares (and inflates to) `uncompressed` bytes; about 2 MB compressed."""
    header = _npy_header((uncompressed // 64, 64))
    body = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = body.compress(header) + body.flush(zlib.Z_FULL_FLUSH)
    zeros = _deflated_zeros(uncompressed - uncompressed % (16 * 1024 * 1024))
    crc = zlib.crc32(header)
    block = bytes(16 * 1024 * 1024)
    block_crc_runs = uncompressed // len(block)
    for _ in range(block_crc_runs):  # the honest CRC-32 of 2 GB of zeros costs about a second; worth it
        crc = zlib.crc32(block, crc)
    return _zip_one("X.npy", head + zeros, len(header) + block_crc_runs * len(block), crc)


def lying_zip_bomb(inflates_to: int = 2 * 1024**3, declared: int = 4096) -> bytes:
    """An .npz whose headers declare `declared` bytes for X.npy while its stream inflates to `inflates_to`."""
    header = _npy_header((inflates_to // 64, 64))
    body = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = body.compress(header) + body.flush(zlib.Z_FULL_FLUSH)
    prefix = (header + bytes(declared))[:declared]  # a matching CRC: the lie is in the size alone
    return _zip_one("X.npy", head + _deflated_zeros(inflates_to), declared, zlib.crc32(prefix))


@functools.lru_cache(maxsize=2)
def bzip2_zip_bomb(inflates_to: int = 256 * 1024**2, declared: int = 4096) -> bytes:
    """An .npz whose bzip2 X.npy declares `declared` bytes; its few hundred bytes inflate to `inflates_to`.

    zipfile asks zlib for at most the bytes wanted, but hands bzip2 (and LZMA) members to a decompressor
    with no output bound: the size lie is only caught after everything has inflated.
    """
    header = _npy_header((inflates_to // 64, 64))
    stream = bz2.compress(header + bytes(inflates_to), 9)
    return _zip_one("X.npy", stream, declared, zlib.crc32((header + bytes(declared))[:declared]), method=12)


def many_member_zip(members: int = 600_000, claimed: int | None = None) -> bytes:
    """An .npz of `members` empty entries (and no X): its central directory alone is tens of MB.

    With `claimed`, the end record states that entry count instead (and no zip64 record follows): zipfile walks
    the central directory by its byte size, so the count is a lie a reader must not trust.
    """
    date = (0, 0x21)
    locals_, centrals, offset = [], [], 0
    for index in range(members):
        name = b"%d" % index
        local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, *date, 0, 0, 0, len(name), 0) + name
        centrals.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, *date, 0, 0, 0, len(name),
                                    0, 0, 0, 0, 0, offset) + name)
        locals_.append(local)
        offset += len(local)
    central = b"".join(centrals)
    if claimed is not None:
        end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, claimed, claimed, len(central), offset, 0)
        return b"".join(locals_) + central + end
    zip64_end = struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, members, members, len(central), offset)
    locator = struct.pack("<IIQI", 0x07064B50, 0, offset + len(central), 1)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, len(central), offset, 0)
    return b"".join(locals_) + central + zip64_end + locator + end


def huge_npy_header(elements: int = 2**60) -> bytes:
    """A .npy whose header declares `elements` bytes but carries none of them."""
    return _npy_header((elements,))


def joblib_canary(marker: Path) -> bytes:
    """A real joblib.dump file of the canary, as the tutorial stored its DataFrames."""
    import joblib

    buffer = io.BytesIO()
    joblib.dump(Canary(marker), buffer)
    return buffer.getvalue()


def protocol0_canary(marker: Path) -> bytes:
    """A text-protocol pickle: it does not start with the 0x80 opcode a content check might look for."""
    return pickle.dumps(Canary(marker), protocol=0)


class ShellCanary:
    """Unpickling this runs a shell command that creates a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))


def shell_canary(marker: Path) -> bytes:
    """A pickle whose loading would run `touch marker` through os.system."""
    return pickle.dumps(ShellCanary(marker))


def stored_npz(**arrays: np.ndarray) -> bytes:
    """Arrays as uncompressed .npz bytes (np.savez)."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def corrupt_deflate_npz() -> bytes:
    """A compressed .npz whose deflate stream is damaged mid-way (zlib.error when read), headers intact."""
    data = bytearray(npz(X=np.arange(64 * 40, dtype=np.uint16).reshape(40, 64) % 17))
    name, extra = struct.unpack_from("<HH", data, 26)
    start = 30 + name + extra  # the member's deflate stream
    data[start + 2:start + 10] = b"\xff" * 8
    return bytes(data)


def encrypted_npz() -> bytes:
    """A valid .npz with the 'encrypted' flag bit set on X.npy (in both headers), as zipfile then refuses it."""
    data = bytearray(npz(X=np.zeros((2, 64), np.uint8)))
    data[6] |= 1  # local header general-purpose flags
    central = data.rfind(b"PK\x01\x02")
    data[central + 8] |= 1
    return bytes(data)


def zip_of(members: list[tuple[str, bytes]]) -> bytes:
    """A zip of the given (name, bytes) members in order; duplicate names are written as given."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns on duplicate names: that is the point here
        with zipfile.ZipFile(buffer, "w") as archive:
            for name, data in members:
                archive.writestr(name, data)
    return buffer.getvalue()


def signature_rich_rows(rows: int = 40) -> np.ndarray:
    """Honest float32 rows (a tiny positive value, inside any range) whose bytes are PK\\x01\\x02, the zip
    central-directory signature, 64 times a row."""
    value = np.frombuffer(b"PK\x01\x02", "<f4")[0]
    return np.full((rows, 64), value, dtype="<f4")

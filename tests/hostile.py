"""Hostile payload builders shared by the catalogue and the fuzz tests."""

from __future__ import annotations

import io
import pickle
import zipfile
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


def zip_bomb(uncompressed: int = 512 * 1024**2) -> bytes:
    """An .npz whose X.npy declares `uncompressed` bytes of zeros but is a few MB compressed."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False,
                                                  "shape": (uncompressed // 64, 64)})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        info = zipfile.ZipInfo("X.npy")
        info.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(info, "w", force_zip64=True) as member:
            member.write(header.getvalue())
            block = bytes(16 * 1024 * 1024)
            for _ in range(uncompressed // len(block)):
                member.write(block)
    return buffer.getvalue()


def pickled_canary(marker: Path) -> bytes:
    """A pickle (as joblib writes them) that touches `marker` when loaded."""
    return pickle.dumps(Canary(marker))


def object_npy_canary(marker: Path) -> bytes:
    """An object-dtype .npy whose loading with allow_pickle=True would touch `marker`."""
    return npy(np.array([Canary(marker)], dtype=object), allow_pickle=True)

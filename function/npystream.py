""".npy objects of any size, read from S3 in chunks of rows: the header first, then ranged GETs of the data."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

import arrays
from batch import PICKLE_HELP
from errors import InvalidRows, UnsupportedFormat, clip

# numpy refuses headers over 10,000 bytes by default; 64 KiB covers any header it would read.
HEAD_BYTES = 64 * 1024
# Rows per chunk come from this many bytes of the object, capped so float32 copies of a chunk stay small too.
CHUNK_BYTES = 8 * 1024 * 1024
MAX_CHUNK_ROWS = 4096
# One GET per window of this many bytes, read chunk by chunk as it streams: few requests, bounded memory, and a
# dropped connection costs one window's retry, not the object's.
WINDOW_BYTES = int(os.environ.get("BATCH_WINDOW_BYTES", 64 * 1024 * 1024))

# (first byte, last byte inclusive) -> a reader returning exactly n more bytes of that range per call.
OpenRange = Callable[[int, int], Callable[[int], bytes]]


@dataclass(frozen=True)
class NpyLayout:
    """Where the rows of a .npy sit in the object: dtype, shape, memory order and the data offset."""

    dtype: np.dtype
    shape: tuple[int, ...]
    fortran_order: bool
    offset: int

    @property
    def row_bytes(self) -> int:
        """Bytes of one row (the product of every axis but the first)."""
        return int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize


def read_layout(head: bytes, size: int, n_features: int) -> NpyLayout:
    """Parse and check the header from the object's first bytes, with the same statuses as the API."""
    if head[:1] == b"\x80":
        raise UnsupportedFormat(PICKLE_HELP)
    # The API's own header checks (dtype, pickle, shape sanity, size); no row limit: streaming has none.
    shape, fortran_order, dtype, offset = arrays.read_header(head, size, sys.maxsize, PICKLE_HELP)
    layout = NpyLayout(dtype, tuple(shape), fortran_order, offset)
    if len(shape) != 2:
        raise InvalidRows(f"rows must form a 2-D batch (rows x {n_features}), got shape {clip(tuple(shape))}")
    if shape[0] == 0 or shape[1] == 0:
        raise InvalidRows("the batch is empty; send at least one row")
    if shape[1] != n_features:
        raise InvalidRows(f"each row must have {n_features} features, got {shape[1]}")
    if layout.offset + shape[0] * layout.row_bytes != size:
        raise InvalidRows("not a valid .npy file (truncated or corrupt): its size does not match its header")
    return layout


def chunk_rows(layout: NpyLayout) -> int:
    """Rows read per ranged GET."""
    return max(1, min(MAX_CHUNK_ROWS, CHUNK_BYTES // layout.row_bytes))


def iter_chunks(layout: NpyLayout, open_range: OpenRange, pool: ThreadPoolExecutor) -> Iterator[np.ndarray]:
    """Row chunks in order; the next chunk downloads while the caller scores this one (two chunks in memory)."""
    rows, step, size = layout.shape[0], chunk_rows(layout), layout.row_bytes
    window = max(1, WINDOW_BYTES // (step * size)) * step

    def raw() -> Iterator[bytes]:
        for first in range(0, rows, window):
            last = min(rows, first + window)
            read = open_range(layout.offset + first * size, layout.offset + last * size - 1)
            for start in range(first, last, step):
                yield read((min(last, start + step) - start) * size)

    chunks = raw()
    pending = pool.submit(next, chunks, None)
    while (data := pending.result()) is not None:
        pending = pool.submit(next, chunks, None)
        yield np.frombuffer(data, dtype=layout.dtype).reshape(-1, layout.shape[1])

"""Numpy-only k-nearest-neighbours over PCA codes: the prediction core shared by training and the function.

The artifact is a plain ``.npz`` (no pickle), so loading it can never run code, and the
function image needs numpy alone (and threadpoolctl only when more than one thread is allowed): importing
scikit-learn would cost about a second of cold start.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

ARTIFACT_NAME = "model.npz"
# Distances are built in chunks of rows: a large batch stays within a small Lambda, and 4 MB stays in cache.
_CHUNK_BYTES = 4 * 1024 * 1024
_GROUP = 32  # training points per group in the neighbour search (see kneighbors); 32 measured ~7% faster than 64
_FAR = np.float32(1e30)  # |t|^2 of padding points: never among the nearest
_ARRAYS = ("mean", "components", "codes", "scale", "offset", "labels", "classes", "k", "weights")
_POOLS: dict[int, Any] = {}  # ThreadPoolExecutor per size
_CONTROLLER: Any = None  # threadpoolctl's view of the loaded BLAS, found on first use


def allowed_threads() -> int:
    """Threads the prediction core may use: the BLAS setting, from OPENBLAS_NUM_THREADS, else OMP_NUM_THREADS, else
    what the loaded BLAS runs now (threadpoolctl), else 1.

    The image and local mode set both variables to 1 (docs/performance.md, "Threads"), so they never look further.
    One knob governs BLAS and our own threads: a deployment that allows two cores gets both parallelised, and never
    more threads than it allowed.
    """
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    controller = _controller()
    blas = controller.select(user_api="blas").info() if controller is not None else []
    return max([1, *(pool["num_threads"] for pool in blas)])


def _controller() -> Any:
    """threadpoolctl's ThreadpoolController for the loaded BLAS, or None without threadpoolctl (then one thread).

    Imported only when more than one thread may be allowed, so the shipped one-thread image never pays for it.
    """
    global _CONTROLLER
    if _CONTROLLER is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            return None
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER


def _pool(threads: int) -> Any:
    # One long-lived pool per size: a warm Lambda reuses it instead of starting threads on every request. Imported
    # here so the one-thread configuration's cold start never loads concurrent.futures.
    from concurrent.futures import ThreadPoolExecutor

    if threads not in _POOLS:
        _POOLS[threads] = ThreadPoolExecutor(threads, thread_name_prefix="knn")
    return _POOLS[threads]


def quantize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Quantize each column to uint8; returns (codes, scale, offset) with values ~= codes * scale + offset."""
    values = np.asarray(values, dtype=np.float32)
    low = values.min(axis=0)
    span = values.max(axis=0) - low
    scale = np.where(span > 0, span / 255.0, 1.0).astype(np.float32)
    codes = np.rint((values - low) / scale).clip(0, 255).astype(np.uint8)
    return codes, scale, low.astype(np.float32)


@dataclass(frozen=True)
class KnnModel:
    """PCA projection plus distance- or uniform-weighted k-NN vote over uint8-quantized training codes."""

    mean: np.ndarray
    components: np.ndarray
    codes: np.ndarray
    scale: np.ndarray
    offset: np.ndarray
    labels: np.ndarray
    classes: np.ndarray
    k: int
    weights: str = "distance"

    def __post_init__(self) -> None:
        if self.weights not in ("distance", "uniform"):
            raise ValueError(f"weights must be 'distance' or 'uniform', got {self.weights!r}")
        if not 1 <= self.k <= len(self.codes):
            raise ValueError(f"k must be between 1 and {len(self.codes)}, got {self.k}")
        # Derived once: one matrix M such that [q, 1] @ M = |t|^2 - 2 q.t for every training point t, so a single
        # GEMM yields squared distances up to the per-row constant |q|^2. Points are padded to whole groups with
        # a huge |t|^2, so padding is never a neighbour.
        train = self.codes.astype(np.float32) * self.scale + self.offset
        padded = -(-len(train) // _GROUP) * _GROUP
        augmented = np.zeros((train.shape[1] + 1, padded), dtype=np.float32)
        augmented[:-1, : len(train)] = -2.0 * train.T
        augmented[-1] = _FAR
        augmented[-1, : len(train)] = np.einsum("ij,ij->i", train, train)
        object.__setattr__(self, "_augmented", augmented)

    @classmethod
    def fit(
        cls, pca_mean: np.ndarray, pca_components: np.ndarray, X: np.ndarray, y: np.ndarray, k: int, weights: str = "distance"
    ) -> KnnModel:
        """Build a model from a fitted PCA (mean, components) and labelled training rows."""
        mean = np.asarray(pca_mean, dtype=np.float32)
        components = np.asarray(pca_components, dtype=np.float32)
        projected = (np.asarray(X, dtype=np.float32) - mean) @ components.T
        codes, scale, offset = quantize(projected)
        classes, labels = np.unique(np.asarray(y), return_inverse=True)
        return cls(mean, components, codes, scale, offset, labels.astype(np.uint8), classes, int(k), weights)

    @property
    def n_features(self) -> int:
        """Number of raw features (pixels) a row must have."""
        return int(self.mean.shape[0])

    def project(self, X: np.ndarray) -> np.ndarray:
        """Map raw rows into PCA space as float32."""
        return (np.asarray(X, dtype=np.float32) - self.mean) @ self.components.T

    def kneighbors(self, X: np.ndarray, k: int | None = None, threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Return (distances, indices) of the k nearest training points per row, nearest first; exact.

        Training points sit in fixed groups of _GROUP (strided, see _select). The k nearest points lie in at most k
        groups, and each of those groups has its minimum among the k smallest group minima, so only k groups per row
        are searched in full: one pass for the minima instead of a partial sort of every distance.
        """
        k = self.k if k is None else k
        threads = allowed_threads() if threads is None else max(1, threads)
        dist = np.empty((len(X), k), dtype=np.float32)
        idx = np.empty((len(X), k), dtype=np.intp)
        controller = _controller() if threads > 1 and len(X) > 1 else None
        if controller is None:
            self._search(self.project(X), k, dist, idx)
            return dist, idx
        # Rows split across our threads, each with a one-thread BLAS for its projection and distances: the selection
        # after each GEMM is numpy work BLAS cannot parallelise, and BLAS threads left spinning after a GEMM would
        # compete with ours for the cores.
        bounds = np.linspace(0, len(X), min(threads, len(X)) + 1).astype(int)
        with controller.limit(limits=1, user_api="blas"):
            list(_pool(threads).map(lambda a, b: self._search(self.project(X[a:b]), k, dist[a:b], idx[a:b]),
                                    bounds[:-1], bounds[1:]))
        return dist, idx

    def _search(self, query: np.ndarray, k: int, dist: np.ndarray, idx: np.ndarray) -> None:
        """kneighbors for projected rows, in chunks, written into dist and idx."""
        augmented = self._augmented  # type: ignore[attr-defined]
        chunk = max(1, _CHUNK_BYTES // (4 * augmented.shape[1]))
        for start in range(0, len(query), chunk):
            q = query[start : start + chunk]
            partial = np.hstack([q, np.ones((len(q), 1), np.float32)]) @ augmented
            self._select(partial, q, k, dist[start : start + chunk], idx[start : start + chunk])

    @staticmethod
    def _select(partial: np.ndarray, q: np.ndarray, k: int, dist_out: np.ndarray, idx_out: np.ndarray) -> None:
        """The k nearest of each row of `partial` (|t|^2 - 2 q.t per training point), written into the outputs."""
        rows = len(partial)
        n_groups = partial.shape[1] // _GROUP
        k_groups = min(k, n_groups)
        # Group g holds points g, g + n_groups, g + 2 n_groups, ...: the minima are then elementwise minimums
        # of contiguous slices, which vectorise far better than reducing many short rows.
        partial = partial.reshape(rows, _GROUP, n_groups)
        minima = partial.min(axis=1)
        groups = (np.argpartition(minima, k_groups - 1, axis=1)[:, :k_groups] if k_groups < n_groups
                  else np.broadcast_to(np.arange(n_groups), (rows, n_groups)))
        candidate_idx = (np.arange(_GROUP)[None, :, None] * n_groups + groups[:, None, :]).reshape(rows, -1)
        # One flat take from the contiguous GEMM output: twice as fast as take_along_axis on the 3-D view.
        flat = np.ascontiguousarray(partial).reshape(-1)
        candidates = flat.take(candidate_idx + (np.arange(rows) * (_GROUP * n_groups))[:, None])
        best = np.argpartition(candidates, k - 1, axis=1)[:, :k] if k < candidates.shape[1] else \
            np.broadcast_to(np.arange(candidates.shape[1]), candidates.shape)
        best_sq = np.take_along_axis(candidates, best, axis=1)
        order = np.argsort(best_sq, axis=1, kind="stable")
        idx_out[:] = np.take_along_axis(np.take_along_axis(candidate_idx, best, axis=1), order, axis=1)
        # Adding |q|^2 completes the squared distance; rounding can take it slightly below zero.
        best_sq = np.take_along_axis(best_sq, order, axis=1) + np.einsum("ij,ij->i", q, q)[:, None]
        dist_out[:] = np.sqrt(np.maximum(best_sq, 0.0))

    def _tally(self, dist: np.ndarray, idx: np.ndarray, k: int | None) -> np.ndarray:
        """Per row, the summed weight of each class among the first k neighbours (rows x classes)."""
        k = self.k if k is None else k
        dist, idx = dist[:, :k], idx[:, :k]
        if self.weights == "distance":
            with np.errstate(divide="ignore"):
                w = 1.0 / dist
            # As scikit-learn does: an exact match outvotes everything else.
            exact = np.isinf(w)
            w = np.where(exact.any(axis=1, keepdims=True), exact.astype(np.float32), w)
        else:
            w = np.ones_like(dist)
        tally = np.zeros((len(idx), len(self.classes)), dtype=np.float64)
        np.add.at(tally, (np.arange(len(idx))[:, None], self.labels[idx]), w)
        return tally

    def vote(self, dist: np.ndarray, idx: np.ndarray, k: int | None = None) -> np.ndarray:
        """Weighted vote over the first k neighbours of each row; returns class labels."""
        return self.classes[self._tally(dist, idx, k).argmax(axis=1)]

    def scores(self, dist: np.ndarray, idx: np.ndarray, k: int | None = None) -> np.ndarray:
        """Each row's vote share per class (in the order of `classes`), weighted as vote() weighs; rows sum to 1."""
        tally = self._tally(dist, idx, k)  # the same weights as vote(), so the largest share is the predicted class
        return tally / tally.sum(axis=1, keepdims=True)

    def predict(self, X: np.ndarray, threads: int | None = None) -> np.ndarray:
        """Predict a class label for each raw row (threads: default allowed_threads())."""
        if len(X) == 0:
            return self.classes[:0]
        return self.vote(*self.kneighbors(X, threads=threads))

    def save(self, file: str | Path | BinaryIO) -> None:
        """Write the model as an uncompressed, pickle-free .npz (uint8 codes are already small)."""
        arrays = {name: getattr(self, name) for name in _ARRAYS}
        arrays["k"] = np.int64(self.k)
        arrays["weights"] = np.str_(self.weights)
        np.savez(file, **arrays)

    @classmethod
    def load(cls, file: str | Path | BinaryIO) -> KnnModel:
        """Read a model written by save(); never unpickles."""
        with np.load(file, allow_pickle=False) as data:
            missing = [name for name in _ARRAYS if name not in data.files]
            if missing:
                raise ValueError(f"not a model artifact: arrays {missing} are missing")
            fields = {name: data[name] for name in _ARRAYS}
        fields["k"] = int(fields["k"])
        fields["weights"] = str(fields["weights"])
        return cls(**fields)

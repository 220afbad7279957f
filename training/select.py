"""Model selection: the tutorial's reference KNN, and our PCA + uint8 KNN chosen by cross-validation."""

from __future__ import annotations

import io
import sys
import time
from dataclasses import dataclass

import numpy as np
from sklearn.decomposition import PCA
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier

from function.knn import KnnModel
from training.data import FOLDS

# Small grids: PCA prefixes are shared across sizes, and one neighbour search at the largest k serves every k.
COMPONENTS = (16, 24, 32, 48, 64)
KS = (1, 3, 4, 5, 6, 8)


@dataclass(frozen=True)
class Scores:
    """Cross-validation and held-out results of one configuration."""

    cv_mean: float
    cv_std: float
    test_accuracy: float
    artifact_bytes: int
    predict_ms_per_row: float


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _fit_pca(X: np.ndarray, n_components: int, seed: int) -> PCA:
    # The covariance solver is exact and fast when rows outnumber features, as here.
    solver = "covariance_eigh" if X.shape[0] > X.shape[1] else "full"
    return PCA(n_components=n_components, svd_solver=solver, random_state=seed).fit(X)


def _timed_accuracy(predict, X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    start = time.perf_counter()
    predictions = predict(X)
    elapsed_ms = (time.perf_counter() - start) * 1000
    return float(np.mean(predictions == y)), elapsed_ms / max(len(X), 1)


def reference(X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, y_test: np.ndarray) -> Scores:
    """The tutorial's setup: raw float64 pixels, KNeighborsClassifier(4, distance), 10-fold CV, joblib size."""
    import joblib

    _progress(f"reference: {FOLDS}-fold cross-validation of KNeighborsClassifier(n_neighbors=4, weights='distance')...")
    model = KNeighborsClassifier(n_neighbors=4, weights="distance")
    cv = cross_val_score(model, X_train, y_train, cv=FOLDS, n_jobs=-1)
    model.fit(X_train, y_train)
    accuracy, ms_per_row = _timed_accuracy(model.predict, X_test, y_test)
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    return Scores(float(cv.mean()), float(cv.std()), accuracy, buffer.getbuffer().nbytes, ms_per_row)


def _grid(n_features: int, n_rows: int) -> tuple[list[int], list[int]]:
    limit = min(n_features, n_rows)
    components = sorted({min(c, limit) for c in COMPONENTS})
    ks = [k for k in KS if k < n_rows]
    return components, ks


def choose(X: np.ndarray, y: np.ndarray, seed: int) -> tuple[int, int, np.ndarray]:
    """Cross-validate PCA size x k with the served (quantized) code path; returns (n_components, k, cv scores)."""
    components, ks = _grid(X.shape[1], int(len(X) * (FOLDS - 1) / FOLDS))
    scores = np.zeros((FOLDS, len(components), len(ks)))
    # The same folds cross_val_score gives the reference, so the two CV figures compare like for like.
    folds = StratifiedKFold(n_splits=FOLDS).split(X, y)
    for fold, (train, val) in enumerate(folds):
        pca = _fit_pca(X[train], components[-1], seed)
        for i, n in enumerate(components):
            model = KnnModel.fit(pca.mean_, pca.components_[:n], X[train], y[train], k=max(ks))
            dist, idx = model.kneighbors(X[val], max(ks))
            for j, k in enumerate(ks):
                scores[fold, i, j] = np.mean(model.vote(dist, idx, k) == y[val])
        _progress(f"served: cross-validation fold {fold + 1}/{FOLDS} done")
    i, j = one_standard_error(scores)
    return components[i], ks[j], scores[:, i, j]


def one_standard_error(scores: np.ndarray) -> tuple[int, int]:
    """Pick (component index, k index) from per-fold scores shaped (folds, components, ks) by the one-SE rule.

    Differences smaller than the best configuration's standard error are noise (on digits, one row per fold),
    so among configurations within one SE of the best, take the fewest components (smallest, fastest artifact),
    then the largest k (the smoothest vote).
    """
    mean = scores.mean(axis=0)
    best = np.unravel_index(np.argmax(mean), mean.shape)
    folds = scores.shape[0]
    se = scores[(slice(None), *best)].std(ddof=1) / np.sqrt(folds) if folds > 1 else 0.0
    for i in range(mean.shape[0]):
        within = np.flatnonzero(mean[i] >= mean[best] - se)
        if len(within):
            return i, int(within[-1])
    return int(best[0]), int(best[1])


def fit_served(X_train: np.ndarray, y_train: np.ndarray, n_components: int, k: int, seed: int) -> KnnModel:
    """Fit PCA on the training split and build the served model."""
    pca = _fit_pca(X_train, n_components, seed)
    return KnnModel.fit(pca.mean_, pca.components_, X_train, y_train, k=k)


def served_scores(model: KnnModel, cv: np.ndarray, X_test: np.ndarray, y_test: np.ndarray) -> Scores:
    """Held-out accuracy, artifact size and prediction time of the served model."""
    accuracy, ms_per_row = _timed_accuracy(model.predict, X_test, y_test)
    buffer = io.BytesIO()
    model.save(buffer)
    return Scores(float(cv.mean()), float(cv.std()), accuracy, buffer.getbuffer().nbytes, ms_per_row)

"""The numpy-only prediction core: agrees with scikit-learn, round-trips without pickle, stays bounded."""

from __future__ import annotations

import io

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.neighbors import KNeighborsClassifier

from function import knn
from function.knn import KnnModel


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Digits split into 1,500 training rows and 297 query rows."""
    X, y = load_digits(return_X_y=True)
    return X[:1500], y[:1500], X[1500:], y[1500:]


@pytest.fixture(scope="module")
def model(digits) -> KnnModel:
    """A PCA-16, k=5, distance-weighted model on the training rows."""
    X, y, _, _ = digits
    pca = PCA(n_components=16, random_state=0).fit(X)
    return KnnModel.fit(pca.mean_, pca.components_, X, y, k=5)


def test_predictions_match_sklearn_on_the_same_quantized_points(digits, model: KnnModel) -> None:
    # given scikit-learn's KNN fitted on exactly the points our model stores
    _, y, Xq, _ = digits
    train = model.codes.astype(np.float32) * model.scale + model.offset
    reference = KNeighborsClassifier(n_neighbors=5, weights="distance", algorithm="brute").fit(train, y)
    # when both predict the same projected queries
    ours = model.predict(Xq)
    theirs = reference.predict(model.project(Xq))
    # then they agree on (nearly) every row; float32 ties may flip a rare vote
    assert np.mean(ours == theirs) >= 0.99


def test_accuracy_on_held_out_digits_is_high(digits, model: KnnModel) -> None:
    _, _, Xq, yq = digits
    assert np.mean(model.predict(Xq) == yq) >= 0.93


def test_artifact_round_trips_without_pickle(digits, model: KnnModel) -> None:
    # given a saved model
    buffer = io.BytesIO()
    model.save(buffer)
    buffer.seek(0)
    # when it is loaded back
    loaded = KnnModel.load(buffer)
    # then it predicts identically and stores uint8 codes
    _, _, Xq, _ = digits
    assert np.array_equal(loaded.predict(Xq), model.predict(Xq))
    assert loaded.codes.dtype == np.uint8 and loaded.k == model.k and loaded.weights == model.weights


def test_load_refuses_object_arrays() -> None:
    # given an .npz whose arrays need pickle to load
    buffer = io.BytesIO()
    np.savez(buffer, mean=np.array([{"x": 1}], dtype=object))
    buffer.seek(0)
    # then loading raises instead of unpickling
    with pytest.raises(ValueError):
        KnnModel.load(buffer)


def test_load_names_missing_arrays() -> None:
    buffer = io.BytesIO()
    np.savez(buffer, mean=np.zeros(3))
    buffer.seek(0)
    with pytest.raises(ValueError, match="missing"):
        KnnModel.load(buffer)


def test_chunked_distances_equal_one_shot(digits, model: KnnModel, monkeypatch: pytest.MonkeyPatch) -> None:
    # given the same queries, once in one chunk and once a few rows at a time
    _, _, Xq, _ = digits
    whole = model.kneighbors(Xq)
    monkeypatch.setattr(knn, "_CHUNK_BYTES", 4 * len(model.codes) * 7)
    chunked = model.kneighbors(Xq)
    # then neighbours and distances are the same
    assert np.array_equal(whole[1], chunked[1])
    assert np.allclose(whole[0], chunked[0])


def test_exact_match_outvotes_other_neighbours(model: KnnModel) -> None:
    # given a query identical to a stored training point, whose other four neighbours share another label
    dist = np.array([[0.0, 0.1, 0.1, 0.1, 0.1]], dtype=np.float32)
    first = int(np.flatnonzero(model.labels != model.labels[0])[0])
    idx = np.array([[0, first, first, first, first]])
    # then the exact match decides, as scikit-learn does
    assert model.vote(dist, idx)[0] == model.classes[model.labels[0]]


def test_empty_batch_gives_empty_predictions(model: KnnModel) -> None:
    assert model.predict(np.empty((0, model.n_features))).shape == (0,)


def test_invalid_hyperparameters_are_rejected(digits) -> None:
    X, y, _, _ = digits
    pca = PCA(n_components=4).fit(X)
    with pytest.raises(ValueError, match="weights"):
        KnnModel.fit(pca.mean_, pca.components_, X, y, k=3, weights="cosine")
    with pytest.raises(ValueError, match="k must be"):
        KnnModel.fit(pca.mean_, pca.components_, X[:10], y[:10], k=11)


@pytest.mark.parametrize("threads", [2, 3])
def test_threaded_search_gives_the_single_thread_answer(digits, model: KnnModel, threads: int,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # given small chunks, so each chunk's rows are split across the threads many times over
    _, _, Xq, _ = digits
    monkeypatch.setattr(knn, "_CHUNK_BYTES", 4 * len(model.codes) * 7)
    one = model.kneighbors(Xq, threads=1)
    # when the same queries are searched with more threads
    many = model.kneighbors(Xq, threads=threads)
    # then neighbours, distances and predictions are identical
    assert np.array_equal(one[1], many[1]) and np.array_equal(one[0], many[0])
    assert np.array_equal(model.predict(Xq, threads=1), model.predict(Xq, threads=threads))


@pytest.mark.parametrize(("env", "expected"), [({"OMP_NUM_THREADS": "2"}, 2),
                                               ({"OPENBLAS_NUM_THREADS": "3", "OMP_NUM_THREADS": "2"}, 3),
                                               ({"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "2"}, 1)])
def test_allowed_threads_follow_the_blas_setting(env: dict[str, str], expected: int,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert knn.allowed_threads() == expected


@pytest.mark.parametrize("env", [{}, {"OPENBLAS_NUM_THREADS": "x"}, {"OMP_NUM_THREADS": "0"}])
def test_without_a_valid_setting_the_core_follows_the_blas_pool(env: dict[str, str],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from threadpoolctl import threadpool_limits

    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # given BLAS limited in-process (as threadpoolctl users and benchmark harnesses do)
    for limit in (1, 2):
        with threadpool_limits(limit, user_api="blas"):
            assert knn.allowed_threads() == limit


def test_threaded_search_runs_blas_on_one_thread_per_worker(digits, model: KnnModel) -> None:
    from threadpoolctl import threadpool_info, threadpool_limits

    # given two threads allowed, and a spy on the BLAS thread count the search's workers see
    seen: list[int] = []
    search = KnnModel._search

    def spy(self, *args) -> None:
        seen.extend(pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas")
        search(self, *args)

    _, _, Xq, _ = digits
    with threadpool_limits(2, user_api="blas"):
        KnnModel._search = spy
        try:
            model.kneighbors(Xq, threads=2)
        finally:
            KnnModel._search = search
        after = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
    # then each worker ran BLAS single-threaded (no spinning BLAS threads beside ours), and the setting is restored
    assert seen and set(seen) == {1}
    assert set(after) == {2}

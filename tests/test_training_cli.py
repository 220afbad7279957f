"""`python -m training`: outputs, accuracy against the reference, and clean failures on bad input."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT
from function.knn import KnnModel


def train(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the training CLI as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "training", *args], cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, **(env or {})},
    )


def test_model_folder_has_every_output(model_dir: Path) -> None:
    names = {p.name for p in model_dir.iterdir()}
    assert {"model.npz", "metadata.json", "test_features.npy", "test_labels.npy",
            "confusion_matrix.png", "confused_pairs.png"} <= names
    assert not [n for n in names if "staging" in n]


def test_metadata_records_dataset_model_and_both_configurations(model_dir: Path) -> None:
    meta = json.loads((model_dir / "metadata.json").read_text())
    assert meta["dataset"] == "digits" and meta["n_features"] == 64 and meta["classes"] == list(range(10))
    assert meta["n_train"] + meta["n_test"] == meta["n_samples"] == 1797
    assert meta["n_test"] == 360
    assert meta["model"]["type"] == "pca-knn" and meta["model"]["storage"] == "uint8"
    assert meta["cv"]["folds"] == 10 and 0 < meta["cv"]["std"] < 0.05
    assert {"cv_mean", "cv_std", "test_accuracy", "artifact_bytes"} <= meta["reference"].keys()
    assert {"python", "numpy", "scikit-learn"} <= meta["versions"].keys()
    assert meta["created"].endswith("+00:00") and meta["seed"] == 42
    artifact = (model_dir / "model.npz").read_bytes()
    assert meta["sha256"] == hashlib.sha256(artifact).hexdigest() and meta["artifact_bytes"] == len(artifact)


def test_served_model_matches_reference_accuracy_at_a_fraction_of_the_size(model_dir: Path) -> None:
    meta = json.loads((model_dir / "metadata.json").read_text())
    assert meta["test_accuracy"] >= meta["reference"]["test_accuracy"] >= 0.97
    assert meta["cv"]["mean"] >= 0.97 and meta["reference"]["cv_mean"] >= 0.97
    assert meta["artifact_bytes"] <= 0.1 * meta["reference"]["artifact_bytes"]


def test_artifact_round_trip_predicts_the_recorded_accuracy(model_dir: Path) -> None:
    # given the saved artifact and held-out batch
    model = KnnModel.load(model_dir / "model.npz")
    X = np.load(model_dir / "test_features.npy", allow_pickle=False)
    y = np.load(model_dir / "test_labels.npy", allow_pickle=False)
    meta = json.loads((model_dir / "metadata.json").read_text())
    # when it predicts the batch
    accuracy = float(np.mean(model.predict(X) == y))
    # then it reproduces the accuracy measured in memory during training
    assert accuracy == pytest.approx(meta["test_accuracy"])
    assert X.shape == (360, 64) and model.n_features == 64


def test_npz_dataset_of_mnist_shaped_rows_trains(tmp_path: Path) -> None:
    # given a user's .npz of 28x28 images with pixel values 0-255
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(10), 30)
    X = np.zeros((300, 28, 28), dtype=np.uint8)
    for i, label in enumerate(y):
        X[i, 2 * label : 2 * label + 6, 4:24] = 200 + rng.integers(0, 50)
    np.savez(tmp_path / "tiny.npz", X=X, y=y)
    # when training on it
    result = train("--dataset", str(tmp_path / "tiny.npz"), "--out", str(tmp_path / "out"))
    # then the model records its source and 784 features
    assert result.returncode == 0, result.stderr
    meta = json.loads((tmp_path / "out" / "metadata.json").read_text())
    assert meta["dataset"].endswith("tiny.npz") and meta["n_features"] == 784 and meta["test_accuracy"] > 0.9
    assert "reference: raw KNN k=4" in result.stdout


def _npz(path: Path, **arrays: np.ndarray) -> str:
    np.savez(path, **arrays)
    return str(path)


BAD_INPUTS = {
    "missing file": lambda d: (str(d / "nope.npz"), "not found"),
    "no X": lambda d: (_npz(d / "a.npz", y=np.zeros(50)), "no array X"),
    "no y": lambda d: (_npz(d / "b.npz", X=np.zeros((50, 4))), "no array y"),
    "length mismatch": lambda d: (_npz(d / "c.npz", X=np.zeros((50, 4)), y=np.zeros(40)), "50 rows but y has 40"),
    "labels outside 0-9": lambda d: (_npz(d / "e.npz", X=np.zeros((60, 4)), y=np.arange(60) % 12), "labels must be 0-9"),
    "text features": lambda d: (_npz(d / "f.npz", X=np.full((50, 4), "a"), y=np.zeros(50)), "numeric"),
    "NaN features": lambda d: (_npz(d / "g.npz", X=np.full((50, 4), np.nan), y=np.zeros(50)), "NaN"),
    "pixels out of range": lambda d: (_npz(d / "h.npz", X=np.full((50, 4), 300.0), y=np.zeros(50)), "0 and 255"),
    "object arrays": lambda d: (_npz(d / "i.npz", X=np.array([{}] * 50, dtype=object), y=np.zeros(50)), "object"),
    "too few rows per class": lambda d: (
        _npz(d / "j.npz", X=np.arange(60.0).reshape(30, 2), y=np.arange(30) % 10), "too few rows per class"),
}


@pytest.mark.parametrize("case", BAD_INPUTS, ids=list(BAD_INPUTS))
def test_bad_input_exits_2_with_one_line_and_leaves_out_untouched(case: str, tmp_path: Path) -> None:
    # given an existing model folder and a bad dataset
    out = tmp_path / "out"
    out.mkdir()
    (out / "metadata.json").write_text("previous")
    dataset, expected = BAD_INPUTS[case](tmp_path)
    # when training on it
    result = train("--dataset", dataset, "--out", str(out))
    # then one clear line, status 2, and the folder exactly as it was
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and expected in lines[-1] and "Traceback" not in result.stderr
    assert [p.name for p in out.iterdir()] == ["metadata.json"] and (out / "metadata.json").read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_unwritable_out_exits_2(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = train("--dataset", "digits", "--out", str(blocker / "model"))
    assert result.returncode == 2 and "cannot write to --out" in result.stderr and "Traceback" not in result.stderr


def test_out_that_is_a_file_exits_2_and_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "model"
    target.write_text("keep me")
    result = train("--dataset", "digits", "--out", str(target))
    assert result.returncode == 2 and "not a folder" in result.stderr and target.read_text() == "keep me"


def test_mnist_is_strict_when_openml_is_unreachable(tmp_path: Path) -> None:
    # given OpenML pointed at a closed local port (no real network in tests)
    env = {"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9", "SCIKIT_LEARN_DATA": str(tmp_path)}
    # when mnist is asked for explicitly, it fails naming the alternatives
    result = train("--dataset", "mnist", "--out", str(tmp_path / "out"), env=env)
    assert result.returncode == 2 and "--dataset digits" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_auto_warns_and_falls_back_to_digits(tmp_path: Path) -> None:
    env = {"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9", "SCIKIT_LEARN_DATA": str(tmp_path)}
    result = train("--out", str(tmp_path / "out"), env=env)
    assert result.returncode == 0, result.stderr
    assert "WARNING" in result.stderr and "digits" in result.stderr
    assert json.loads((tmp_path / "out" / "metadata.json").read_text())["dataset"] == "digits"


def test_successful_run_replaces_a_previous_model(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    assert train("--dataset", "digits", "--out", str(out)).returncode == 0
    assert not (out / "stale.txt").exists() and (out / "model.npz").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


@pytest.mark.parametrize("args, message", [(["--samples", "5"], "--samples"), (["--test-size", "1.5"], "--test-size")])
def test_bad_options_exit_2(args: list[str], message: str, tmp_path: Path) -> None:
    result = train(*args, "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_metadata_records_the_image_normalisation_of_each_dataset_kind() -> None:
    from training.__main__ import normalisation

    assert normalisation("digits", 64) == {"kind": "digits-8", "size": 8, "max_value": 16}
    assert normalisation("mnist", 784)["kind"] == normalisation("data/mine.npz", 784)["kind"] == "mnist-28"
    assert normalisation("data/other.npz", 100) == {"kind": "none"}

"""`python -m training`: outputs, accuracy against the reference, and clean failures on bad input."""

from __future__ import annotations

import hashlib
import json
import os
import signal
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
    from training.output import MODEL_FILES, is_model_folder

    names = {p.name for p in model_dir.iterdir()}
    assert {"model.npz", "metadata.json", "test_features.npy", "test_labels.npy",
            "confusion_matrix.png", "confused_pairs.png"} <= names
    assert not [n for n in names if "staging" in n]
    # every output is one the next run recognises as ours: anything else would make it refuse to replace the folder
    assert names <= MODEL_FILES and is_model_folder(model_dir)


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
    assert meta["dataset"] == "tiny.npz" and meta["n_features"] == 784 and meta["test_accuracy"] > 0.9
    assert "reference: raw KNN k=4" in result.stdout


def test_confusion_title_names_the_file_and_fits_the_picture() -> None:
    from training.report import confusion_figure

    # given a user's dataset with a long file name (the title used to hold the absolute path, clipped at both sides)
    title = "handwritten_digits_collected_by_the_2024_evening_class_cleaned_v3_final.npz: served model, held-out rows"
    # when the confusion matrix is drawn
    fig = confusion_figure(np.eye(10, dtype=np.int64), title)
    fig.canvas.draw()
    text = fig.axes[0].title
    box = text.get_window_extent(fig.canvas.get_renderer())
    # then the whole title lies inside the picture, keeping the name's start and the caption's end
    assert 0 <= box.x0 and box.x1 <= fig.bbox.width
    assert text.get_text().startswith("handwritten_digits") and text.get_text().endswith("held-out rows")


def _previous_model(folder: Path) -> dict[str, bytes]:
    """A model folder as an earlier run leaves it (our metadata fields); returns its files' bytes."""
    folder.mkdir(parents=True)
    (folder / "metadata.json").write_text(json.dumps({"artifact": "model.npz", "sha256": "0" * 64,
                                                       "model": {"type": "pca-knn"}, "dataset": "previous"}))
    (folder / "model.npz").write_bytes(b"previous model")
    return _snapshot(folder)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else b"/") for p in sorted(folder.rglob("*"))}


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
    "a single class": lambda d: (_npz(d / "k.npz", X=np.zeros((60, 4)), y=np.full(60, 3)), "single class (label 3)"),
    "text named .npz": lambda d: (_text(d / "l.npz"), "is not a .npz archive"),
    "a .npy named .npz": lambda d: (_npy(d / "m.npz"), "is not a .npz archive"),
}


def _text(path: Path) -> str:
    path.write_text("X,y\n1,2\n")
    return str(path)


def _npy(path: Path) -> str:
    with path.open("wb") as file:
        np.save(file, np.zeros((50, 4)))
    return str(path)


@pytest.mark.parametrize("case", BAD_INPUTS, ids=list(BAD_INPUTS))
def test_bad_input_exits_2_with_one_line_and_leaves_out_untouched(case: str, tmp_path: Path) -> None:
    # given an existing model folder and a bad dataset
    out = tmp_path / "out"
    before = _previous_model(out)
    dataset, expected = BAD_INPUTS[case](tmp_path)
    # when training on it
    result = train("--dataset", dataset, "--out", str(out))
    # then one clear line, status 2, and the folder exactly as it was
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and expected in lines[-1] and "Traceback" not in result.stderr
    # never numpy's hint to load the file with allow_pickle=True: that would run code from it
    assert "allow_pickle" not in result.stderr and "pickled" not in result.stderr
    assert _snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_unwritable_out_exits_2(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = train("--dataset", "digits", "--out", str(blocker / "model"))
    assert result.returncode == 2 and "cannot write to --out" in result.stderr and "Traceback" not in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


@pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="needs Linux sysfs, read-only even for root")
def test_unwritable_out_is_reported_before_any_work() -> None:
    # given an --out whose parent no one may write (sysfs refuses even root)
    # when training is asked to write there
    result = train("--dataset", "digits", "--out", "/sys/mnist-model")
    # then it says so at once, before loading data or cross-validating
    assert result.returncode == 2 and "/sys is not writable" in result.stderr and "Traceback" not in result.stderr
    assert "dataset digits" not in result.stderr and "cross-validation" not in result.stderr


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


def test_successful_run_replaces_a_previous_model_and_keeps_its_mode(tmp_path: Path) -> None:
    # given a model folder an earlier run wrote, shared with the group (mode 0750)
    out = tmp_path / "out"
    _previous_model(out)
    out.chmod(0o750)
    # when training writes there again
    assert train("--dataset", "digits", "--out", str(out)).returncode == 0
    # then the new model replaced the old one in the same folder, with the same mode, and nothing is left beside it
    assert json.loads((out / "metadata.json").read_text())["dataset"] == "digits"
    assert (out.stat().st_mode & 0o777) == 0o750
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_empty_folder_is_filled_and_keeps_its_mode(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir(mode=0o755)
    out.chmod(0o755)
    assert train("--dataset", "digits", "--out", str(out)).returncode == 0
    assert (out / "model.npz").is_file() and (out.stat().st_mode & 0o777) == 0o755
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


@pytest.mark.parametrize("extra", ["important.txt", "sub/notes.txt", "model.npz/inner"])
def test_folder_with_a_users_files_is_refused_before_any_work_and_kept(extra: str, tmp_path: Path) -> None:
    # given a model folder that also holds the user's own files (even under one of our names, as a folder)
    out = tmp_path / "out"
    out.mkdir()
    (out / extra).parent.mkdir(parents=True, exist_ok=True)
    (out / extra).write_text("the user's")
    out.chmod(0o751)
    before = _snapshot(out)
    # when training is pointed at it
    result = train("--dataset", "digits", "--out", str(out))
    # then one line refuses it, before any work, and every file, the mode and the parent are as they were
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and "did not write" in result.stderr and extra.split("/")[0] in result.stderr
    assert "dataset digits" not in result.stderr
    assert _snapshot(out) == before and (out.stat().st_mode & 0o777) == 0o751
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_folder_with_someone_elses_metadata_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "metadata.json").write_text('{"name": "my project"}')
    result = train("--dataset", "digits", "--out", str(out))
    assert result.returncode == 2 and "not a model folder" in result.stderr
    assert (out / "metadata.json").read_text() == '{"name": "my project"}'


def test_out_dot_is_refused_cleanly_leaving_nothing_stray(tmp_path: Path) -> None:
    # given an empty folder that is the current folder
    here = tmp_path / "here"
    here.mkdir()
    # when training writes to "."
    result = subprocess.run([sys.executable, "-m", "training", "--dataset", "digits", "--out", "."], cwd=here,
                            capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    # then it refuses before any work, naming the way that works, and leaves no stray folder anywhere
    assert result.returncode == 2 and "current folder" in result.stderr and "--out here" in result.stderr
    assert "dataset digits" not in result.stderr
    assert list(here.iterdir()) == [] and [p.name for p in tmp_path.iterdir()] == ["here"]


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupted_run_leaves_the_previous_model_exactly_as_it_was(stop: signal.Signals, tmp_path: Path) -> None:
    # given a previous model and a run that is cross-validating
    out = tmp_path / "out"
    before = _previous_model(out)
    run = subprocess.Popen([sys.executable, "-m", "training", "--dataset", "digits", "--out", str(out)], cwd=ROOT,
                           stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    lines = []
    for line in run.stderr:
        lines.append(line)
        if "cross-validation" in line:
            break
    # when it is interrupted
    run.send_signal(stop)
    _, rest = run.communicate(timeout=60)
    # then it says so on one line, with no traceback, and the folder and its parent are exactly as they were
    assert run.returncode == 130, lines + [rest]
    assert "Traceback" not in rest and rest.strip().splitlines()[-1].startswith("error: interrupted")
    assert _snapshot(out) == before and [p.name for p in tmp_path.iterdir()] == ["out"]


@pytest.mark.parametrize("args, message", [
    (["--samples", "5"], "--samples"), (["--test-size", "1.5"], "--test-size"),
    (["--samples", "20"], "--samples must be at least 25"), (["--samples", "100", "--test-size", "0.9"], "--samples"),
    (["--seed", "-1"], "--seed"), (["--seed", str(2**32)], "--seed"),
])
def test_bad_options_exit_2(args: list[str], message: str, tmp_path: Path) -> None:
    result = train(*args, "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr



def test_interrupted_write_removes_staging_and_the_parents_it_created(tmp_path: Path) -> None:
    from training.output import atomic_dir

    # given an --out whose parents do not exist yet, and a run interrupted while writing
    with pytest.raises(KeyboardInterrupt):
        with atomic_dir(tmp_path / "a" / "b" / "out") as staging:
            (staging / "model.npz").write_bytes(b"half")
            raise KeyboardInterrupt
    # then nothing at all is left behind
    assert list(tmp_path.iterdir()) == []


def test_failed_swap_puts_the_previous_model_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from training import output

    # given a previous model, and a file system that refuses the second rename of the swap
    out = tmp_path / "out"
    before = _previous_model(out)
    real_rename, calls = os.rename, []

    def flaky(src, dst) -> None:
        calls.append(src)
        if len(calls) == 2:
            raise OSError(16, "Device or resource busy")
        real_rename(src, dst)

    monkeypatch.setattr(output.os, "rename", flaky)
    # when the new model is swapped in
    with pytest.raises(output.OutputError, match="Device or resource busy"):
        with output.atomic_dir(out) as staging:
            (staging / "model.npz").write_bytes(b"new")
    # then the previous model is back, exactly, and no staging or old folder is left beside it
    assert _snapshot(out) == before and [p.name for p in tmp_path.iterdir()] == ["out"]


def test_metadata_records_the_image_normalisation_of_each_dataset_kind() -> None:
    from training.__main__ import normalisation

    assert normalisation("digits", 64) == {"kind": "digits-8", "size": 8, "max_value": 16}
    assert normalisation("mnist", 784)["kind"] == normalisation("data/mine.npz", 784)["kind"] == "mnist-28"
    assert normalisation("data/other.npz", 100) == {"kind": "none"}

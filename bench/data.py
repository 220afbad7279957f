"""Benchmark data: an MNIST-shaped dataset, both models trained on the same rows, and their S3 batches."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / ".cache"


@dataclass(frozen=True)
class Prepared:
    """Everything both sides need: model folders, the held-out batch and its labels."""

    name: str
    project_model: Path
    reference_model: Path
    X_test: np.ndarray
    y_test: np.ndarray


def mnist_shaped(rows: int = 20_000, seed: int = 0) -> Path:
    """28x28 uint8 digits made from scikit-learn's 8x8 digits: upscaled, distorted, then normalised as MNIST was.

    MNIST itself lives on OpenML, which is unreachable here; the bundled digits are too small (1,797 rows of 64
    pixels) for a 4,000-row batch of 784 features like the tutorial's. Each row is one of those digits, upscaled and
    written anew: an elastic distortion (Simard et al., 2003, the classic MNIST augmentation), a pen a little finer
    or broader, and a slant. Then it goes through MNIST's own recipe (function/normalise.py, the one the function
    applies to images): ink cropped, the longer side scaled to 20 px, centred by centre of mass in 28x28, white on
    black, 0-255. Centring undoes shifts, so shifts alone would leave near-copies of 1,797 digits (accuracy 0.9998);
    with these distortions the tutorial's KNN scores about what it scores on real MNIST (0.957).
    """
    path = CACHE / f"mnist-shaped-v3-{rows}-{seed}.npz"
    if path.exists():
        return path
    from scipy import ndimage
    from sklearn.datasets import load_digits

    sys.path.insert(0, str(ROOT / "function"))
    from normalise import MNIST, normalise

    X, y = load_digits(return_X_y=True)
    rng = np.random.RandomState(seed)
    picks = rng.randint(0, len(X), rows)
    images = np.zeros((rows, 784), dtype=np.uint8)
    grid = np.meshgrid(np.arange(44), np.arange(44), indexing="ij")
    for row, pick in enumerate(picks):
        digit = np.pad(ndimage.zoom(X[pick].reshape(8, 8) / 16, 4, order=1), 6)
        shift = [ndimage.gaussian_filter(rng.uniform(-1, 1, digit.shape), 4.0) * 30.0 for _ in range(2)]
        digit = ndimage.map_coordinates(digit, [grid[0] + shift[0], grid[1] + shift[1]], order=1)
        pen = rng.randint(-1, 3)
        if pen > 0:
            digit = ndimage.grey_dilation(digit, size=(pen + 1, pen + 1))
        elif pen < 0:
            digit = ndimage.grey_erosion(digit, size=(2, 2))
        digit = ndimage.rotate(digit, rng.uniform(-15, 15), reshape=False, order=1)
        images[row] = np.clip(normalise(np.clip(digit, 0, 1).astype(np.float32), MNIST), 0, 255)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, X=images, y=y[picks])
    return path


def _digest(spec: str) -> str:
    source = Path(spec)
    content = source.read_bytes() if source.is_file() else spec.encode()
    return hashlib.sha256(content).hexdigest()[:12]


def prepare(spec: str, log) -> Prepared:
    """Train the project (`python -m training`) and the reference on the same sample and split, cached by data hash."""
    import joblib
    import pandas as pd
    from sklearn.neighbors import KNeighborsClassifier

    from training import data as datasets
    from training.__main__ import sample_and_split

    folder = CACHE / f"models-{_digest(spec)}"
    project, reference = folder / "project", folder / "reference"
    if not (project / "metadata.json").exists():
        log(f"training the project model on {spec} with python -m training ...")
        done = subprocess.run([sys.executable, "-m", "training", "--dataset", spec, "--out", str(project)], cwd=ROOT,
                              stdout=subprocess.DEVNULL)
        if done.returncode != 0:  # training has printed its one-line reason; a CalledProcessError traceback adds none
            raise SystemExit(f"error: training the project model failed (exit {done.returncode}); see the line above")
    meta = json.loads((project / "metadata.json").read_text())
    if not (reference / "model.joblib").exists():
        log("training the reference: KNeighborsClassifier(n_neighbors=4, weights='distance') on raw float64 pixels")
        ds = datasets.validate(datasets.load(spec))
        X_train, _, y_train, _ = sample_and_split(ds, 20_000, 0.2, meta["seed"])
        # As the tutorial: fitted on the DataFrame fetch_openml returns, with its pixel column names.
        frame = pd.DataFrame(X_train, columns=[f"pixel{i + 1}" for i in range(X_train.shape[1])])
        reference.mkdir(parents=True, exist_ok=True)
        joblib.dump(KNeighborsClassifier(n_neighbors=4, weights="distance").fit(frame, y_train),
                    reference / "model.joblib")
    name = "MNIST-shaped synthetic (digits upscaled to 28x28)" if "mnist-shaped" in spec else meta["dataset"]
    return Prepared(name, project, reference, np.load(project / "test_features.npy"),
                    np.load(project / "test_labels.npy"))


def reference_batch(X: np.ndarray) -> bytes:
    """The tutorial's batch format: a joblib-pickled pandas DataFrame of float64 pixels."""
    import joblib
    import pandas as pd

    buffer = io.BytesIO()
    joblib.dump(pd.DataFrame(X.astype(np.float64), columns=[f"pixel{i + 1}" for i in range(X.shape[1])]), buffer)
    return buffer.getvalue()


def project_batch(X: np.ndarray) -> bytes:
    """Our batch format: a plain .npy of the rows as stored (uint8 pixels)."""
    buffer = io.BytesIO()
    np.save(buffer, X, allow_pickle=False)
    return buffer.getvalue()

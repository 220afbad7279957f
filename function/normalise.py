"""The recipes that made the training images, applied to any ink map: MNIST's 28x28 and scikit-learn's 8x8 digits.

Shared by the function (images in requests) and by the benchmark's MNIST-shaped data, so both follow one recipe.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from errors import InvalidRows

_MIN_CONTRAST = 0.12  # ink this faint against the paper is shading or sensor noise, not a digit
_NOISE = 0.15  # below this share of the darkest stroke a pixel is paper texture or JPEG ringing
_EDGE = 0.1  # the ink's bounding box is taken where it is at least this strong


@dataclass(frozen=True)
class Normalisation:
    """What one training image looked like: kind, side in pixels and the value of full ink."""

    kind: str
    size: int
    max_value: int

    def as_dict(self) -> dict[str, Any]:
        """The form recorded in metadata.json and returned with images."""
        return {"kind": self.kind, "size": self.size, "max_value": self.max_value}


MNIST = Normalisation("mnist-28", 28, 255)
DIGITS = Normalisation("digits-8", 8, 16)
KINDS = {MNIST.kind: MNIST, DIGITS.kind: DIGITS}


def for_model(metadata: dict[str, Any]) -> Normalisation | None:
    """The recipe a model folder's images need: recorded by `python -m training`, else inferred; None if unknown."""
    recorded = metadata.get("normalisation")
    if isinstance(recorded, dict):
        return KINDS.get(recorded.get("kind"))
    n_features = metadata.get("n_features")
    if n_features == 784:
        return MNIST
    if n_features == 64 and metadata.get("dataset") == "digits":
        return DIGITS
    return None


def _resize(array: np.ndarray, width: int, height: int) -> np.ndarray:
    from PIL import Image

    image = Image.fromarray(np.ascontiguousarray(array, dtype=np.float32), "F")
    # Box averaging when shrinking is the anti-aliasing MNIST's 20x20 boxes show; bilinear when enlarging.
    shrinking = width <= array.shape[1] and height <= array.shape[0]
    method = Image.Resampling.BOX if shrinking else Image.Resampling.BILINEAR
    return np.asarray(image.resize((max(1, width), max(1, height)), method), dtype=np.float32)


def crop(ink: np.ndarray) -> np.ndarray:
    """The ink scaled to a peak of 1 and cropped to its bounding box; refuses a page with no digit."""
    peak = float(ink.max()) if ink.size else 0.0
    if peak < _MIN_CONTRAST:
        raise InvalidRows("no digit found: the image has no ink that stands out from the paper")
    ink = ink / peak
    ink = np.where(ink < _NOISE, 0.0, ink).astype(np.float32)
    strong = ink >= _EDGE
    rows, cols = np.flatnonzero(strong.any(axis=1)), np.flatnonzero(strong.any(axis=0))
    return ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _mnist(ink: np.ndarray, norm: Normalisation) -> np.ndarray:
    # LeCun et al.: the longer side to 20 px keeping the aspect ratio, then centred by centre of mass in 28x28.
    box = round(norm.size * 20 / 28)
    height, width = ink.shape
    scale = box / max(height, width)
    digit = np.clip(_resize(ink, round(width * scale), round(height * scale)), 0, None)
    digit /= max(float(digit.max()), 1e-6)
    total = float(digit.sum())
    ys, xs = np.indices(digit.shape)
    cy, cx = float((ys * digit).sum()) / total, float((xs * digit).sum()) / total
    top = int(np.clip(round(norm.size / 2 - 0.5 - cy), 0, norm.size - digit.shape[0]))
    left = int(np.clip(round(norm.size / 2 - 0.5 - cx), 0, norm.size - digit.shape[1]))
    field = np.zeros((norm.size, norm.size), np.float32)
    field[top : top + digit.shape[0], left : left + digit.shape[1]] = digit
    return field * norm.max_value


def _digits(ink: np.ndarray, norm: Normalisation) -> np.ndarray:
    # UCI optdigits (scikit-learn's digits): a 32x32 bitmap with the digit at full height, centred across,
    # then the "on" pixels of each 4x4 block counted, 0-16. Ink coverage stands in for "on": measured on the held-out
    # rows, it keeps 2 points more accuracy than thresholding (docs/images.md).
    side, block = norm.size * 4, 4
    height, width = ink.shape
    scale = side / height
    new_width = min(side, max(1, round(width * scale)))
    digit = np.clip(_resize(ink, new_width, side), 0, 1)
    bitmap = np.zeros((side, side), np.float32)
    left = (side - new_width) // 2
    bitmap[:, left : left + new_width] = digit
    return bitmap.reshape(norm.size, block, norm.size, block).sum(axis=(1, 3))


def normalise(ink: np.ndarray, norm: Normalisation) -> np.ndarray:
    """An ink map (any size, 0 = paper) as one flat row shaped like the model's training images."""
    digit = crop(ink)
    image = _mnist(digit, norm) if norm.kind == MNIST.kind else _digits(digit, norm)
    return np.rint(image).astype(np.float32).ravel()

"""The normalisation recipes: the same digit drawn differently must come out nearly the same."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

import image
from errors import InvalidRows
from normalise import DIGITS, MNIST, Normalisation, for_model, normalise

# A 2 as a pen would trace it, on a 0-1 square.
STROKE = [(0.2, 0.3), (0.35, 0.12), (0.62, 0.12), (0.75, 0.3), (0.6, 0.55), (0.2, 0.88), (0.8, 0.88)]


def drawn(canvas: int = 200, scale: float = 0.5, offset: tuple[float, float] = (0.25, 0.25), width: float = 0.08,
          light_on_dark: bool = False, transparent: bool = False) -> np.ndarray:
    """The 2 drawn on a canvas: its size a share of the canvas, placed at an offset, with a pen of some width."""
    side = canvas * scale
    points = [(canvas * offset[0] + x * side, canvas * offset[1] + y * side) for x, y in STROKE]
    paper, pen = (0, 255) if light_on_dark else (255, 0)
    picture = Image.new("L", (canvas, canvas), paper)
    ImageDraw.Draw(picture).line(points, fill=pen, width=max(1, round(width * side)), joint="curve")
    if transparent:
        rgba = Image.new("RGBA", picture.size, (0, 0, 0, 0))
        rgba.putalpha(Image.eval(picture, lambda v: 255 - v))
        return image.ink(*_planes(rgba))
    return image.ink(*_planes(picture))


def _planes(picture: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    alpha = np.asarray(picture.getchannel("A"), np.float32) / 255 if picture.mode == "RGBA" else None
    return np.asarray(picture.convert("L"), np.float32) / 255, alpha


VARIANTS = {
    "small, top left": {"scale": 0.3, "offset": (0.05, 0.05)},
    "large, bottom right": {"scale": 0.7, "offset": (0.28, 0.28)},
    "big canvas": {"canvas": 900},
    "tiny canvas": {"canvas": 60, "scale": 0.8, "offset": (0.1, 0.1)},
    "thin pen": {"width": 0.05},
    "thick pen": {"width": 0.13},
    "light on dark": {"light_on_dark": True},
    "transparent canvas": {"transparent": True},
}


@pytest.mark.parametrize("norm", [MNIST, DIGITS], ids=["mnist-28", "digits-8"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_same_digit_drawn_differently_normalises_nearly_the_same(norm: Normalisation, variant: str) -> None:
    # given the reference drawing and a variant (size, position, pen, polarity, transparency)
    reference = normalise(drawn(), norm)
    other = normalise(drawn(**VARIANTS[variant]), norm)
    # then both fill the training image's frame the same way: nearly the same pixels
    assert reference.shape == other.shape == (norm.size ** 2,)
    assert np.corrcoef(reference, other)[0, 1] > 0.8
    assert np.abs(reference - other).mean() < 0.12 * norm.max_value


@pytest.mark.parametrize("norm", [MNIST, DIGITS], ids=["mnist-28", "digits-8"])
def test_a_different_digit_does_not_look_the_same(norm: Normalisation) -> None:
    # the control for the test above: a 7 is far from the 2 by the same measure
    seven = Image.new("L", (200, 200), 255)
    ImageDraw.Draw(seven).line([(50, 40), (150, 40), (90, 170)], fill=0, width=8)
    other = normalise(image.ink(np.asarray(seven, np.float32) / 255, None), norm)
    assert np.corrcoef(normalise(drawn(), norm), other)[0, 1] < 0.6


def test_mnist_recipe_fits_20_pixels_and_centres_the_mass() -> None:
    row = normalise(drawn(scale=0.4, offset=(0.5, 0.1)), MNIST).reshape(28, 28)
    ink_rows, ink_cols = np.flatnonzero(row.max(axis=1)), np.flatnonzero(row.max(axis=0))
    assert max(ink_rows[-1] - ink_rows[0], ink_cols[-1] - ink_cols[0]) + 1 in (20, 21)
    ys, xs = np.indices(row.shape)
    centre = ((ys * row).sum() / row.sum(), (xs * row).sum() / row.sum())
    assert abs(centre[0] - 13.5) <= 1 and abs(centre[1] - 13.5) <= 1
    assert row.max() == 255 and row.min() == 0


def test_digits_recipe_spans_the_full_height_with_counts_0_to_16() -> None:
    row = normalise(drawn(), DIGITS).reshape(8, 8)
    assert row.max(axis=1).min() > 0 and 0 <= row.min() and row.max() <= 16


def test_blank_page_has_no_digit() -> None:
    paper = np.random.RandomState(1).normal(0.9, 0.01, (100, 100)).astype(np.float32)
    with pytest.raises(InvalidRows, match="no digit found"):
        normalise(image.ink(paper, None), MNIST)


def test_the_model_folder_says_which_recipe() -> None:
    assert for_model({"normalisation": {"kind": "digits-8"}}) is DIGITS
    assert for_model({"normalisation": {"kind": "none"}, "n_features": 784}) is None
    assert for_model({"n_features": 784, "dataset": "mnist"}) is MNIST  # a folder trained before images

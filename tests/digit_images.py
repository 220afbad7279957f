"""Image files made from held-out rows, as people would send them: for the accuracy test and the docs' table."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageFilter


def picture(row: np.ndarray, max_value: float, side: int = 160) -> Image.Image:
    """The row's digit enlarged to `side` pixels, white ink on black (as stored), mode L."""
    size = int(round(len(row) ** 0.5))
    grid = (np.asarray(row, np.float32).reshape(size, size) / max_value * 255).clip(0, 255).astype(np.uint8)
    return Image.fromarray(grid, "L").resize((side, side), Image.Resampling.BILINEAR)


def png(image: Image.Image) -> bytes:
    """PNG bytes."""
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def jpeg(image: Image.Image, quality: int = 70) -> bytes:
    """JPEG bytes."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def inverted(image: Image.Image) -> Image.Image:
    """Dark ink on white paper."""
    return Image.eval(image, lambda v: 255 - v)


def on_transparent_canvas(image: Image.Image, seed: int) -> Image.Image:
    """Dark ink on a transparent canvas twice the size, at a random off-centre position (what a canvas exports)."""
    rng = np.random.RandomState(seed)
    canvas = Image.new("RGBA", (image.width * 2, image.height * 2), (0, 0, 0, 0))
    ink = Image.new("RGBA", image.size, (20, 20, 30, 255))
    ink.putalpha(image)
    canvas.alpha_composite(ink, (int(rng.randint(0, image.width)), int(rng.randint(0, image.height))))
    return canvas


def thick(image: Image.Image) -> Image.Image:
    """Strokes made thicker, as with a felt pen: 4 px more on each side, 5% of the picture's 160 px."""
    return image.filter(ImageFilter.MaxFilter(9))


# kind -> (row, max value, seed) -> file bytes
VARIANTS: dict[str, Callable[[np.ndarray, float, int], bytes]] = {
    "upscaled and inverted (PNG)": lambda row, top, seed: png(inverted(picture(row, top))),
    "off-centre on a transparent canvas (RGBA PNG)": lambda row, top, seed: png(
        on_transparent_canvas(picture(row, top), seed)),
    "JPEG quality 70, inverted": lambda row, top, seed: jpeg(inverted(picture(row, top))),
    "thick strokes (PNG)": lambda row, top, seed: png(inverted(thick(picture(row, top)))),
    "all of these at once (JPEG 70)": lambda row, top, seed: jpeg(
        Image.alpha_composite(Image.new("RGBA", (320, 320), "white"),
                              on_transparent_canvas(thick(picture(row, top)), seed))),
}

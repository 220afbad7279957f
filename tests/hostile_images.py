"""Image files for the hostile tests: bombs, truncations, other formats, and the largest images accepted."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image, ImageDraw


def saved(image: Image.Image, fmt: str, **options: object) -> bytes:
    """An image encoded in a format Pillow writes."""
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def digit(size: int = 200, mode: str = "L") -> Image.Image:
    """A dark 7 on light paper, in any mode."""
    image = Image.new("L", (size, size), 255)
    ImageDraw.Draw(image).line([(size * 0.25, size * 0.15), (size * 0.75, size * 0.15), (size * 0.45, size * 0.88)],
                               fill=0, width=max(1, size // 12))
    return image.convert(mode)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(side: int = 12_000) -> bytes:
    """A real PNG of side x side grey pixels, all zero: 144 MB of pixels in about 140 KB of file."""
    compressor = zlib.compressobj(9)
    row = bytes(side + 1)  # filter byte + pixels
    body = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", body) + _chunk(b"IEND", b"")


def animated_png() -> bytes:
    """An APNG of two frames."""
    return saved(digit(), "PNG", save_all=True, append_images=[digit().rotate(20)])


def blank_page() -> bytes:
    """White paper with a little sensor noise and no ink."""
    noise = np.random.RandomState(0).normal(235, 3, (300, 300)).clip(0, 255).astype(np.uint8)
    return saved(Image.fromarray(noise, "L"), "PNG")


SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="28" height="28"><text>7</text></svg>'


def largest(mode: str, fmt: str = "PNG", side: int = 4096) -> bytes:
    """The largest image accepted (4096 x 4096 pixels), a 7 drawn on it, in the given mode."""
    image = digit(side, "L")
    if mode == "I;16":
        image = Image.fromarray(np.asarray(image).astype(np.uint16) * 257)
    elif mode == "P":
        image = image.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
        image.info["transparency"] = 0
    else:
        image = image.convert(mode)
    return saved(image, fmt, **({"quality": 90} if fmt == "JPEG" else {}))

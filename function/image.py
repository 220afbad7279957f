"""PNG/JPEG digits as people send them -> rows shaped like the model's training images.

Pillow is imported inside functions only (here and in normalise.py), and app.py imports this module only when an
image arrives, so row requests keep their cold start.
Decoding is bounded before any pixel is touched: the format from the magic bytes, the size from the header.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
from typing import Any

import numpy as np

from errors import BadRequest, InvalidRows, TooLarge, UnsupportedFormat
from normalise import Normalisation, normalise

ACCEPTED = "PNG or JPEG"
# A 12 MP phone photo fits; 4096 x 4096 RGBA decodes to 64 MB, which the default 256 MB function holds.
MAX_PIXELS = int(os.environ.get("MAX_IMAGE_PIXELS", 4096 * 4096))
MAX_IMAGES = int(os.environ.get("MAX_IMAGES", 64))
# Ink is found on a reduced copy: a digit needs far fewer pixels than a photo has, and this bounds the float work.
_WORK_SIDE = 512
_PNG, _JPEG = b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff"
_OTHER_FORMATS = {b"GIF8": "GIF", b"II*\x00": "TIFF", b"MM\x00*": "TIFF", b"BM": "BMP", b"RIFF": "WebP",
                  b"<svg": "SVG", b"<?xm": "SVG/XML", b"\x00\x00\x01\x00": "ICO"}
IMAGE_TYPES = ("image/png", "image/jpeg")
_TRANSPOSE = {2: "FLIP_LEFT_RIGHT", 3: "ROTATE_180", 4: "FLIP_TOP_BOTTOM", 5: "TRANSPOSE", 6: "ROTATE_270",
              7: "TRANSVERSE", 8: "ROTATE_90"}


def from_base64(items: object) -> list[bytes]:
    """The "images" field: a non-empty list of base64 strings, each optionally a data: URL."""
    if not isinstance(items, list):
        raise BadRequest('"images" must be a list of base64-encoded PNG or JPEG images')
    if not items:
        raise InvalidRows('"images" is empty; send at least one image')
    if len(items) > MAX_IMAGES:
        raise TooLarge(f"{len(items)} images is over the limit of {MAX_IMAGES} per request; split them")
    decoded = []
    for n, item in enumerate(items):
        if not isinstance(item, str):
            raise BadRequest(f"image {n} must be a base64 string, got {type(item).__name__}")
        if item.startswith("data:"):
            header, _, item = item.partition(",")
            if not header.endswith(";base64"):
                raise BadRequest(f"image {n} is a data: URL without ;base64")
        try:
            decoded.append(base64.b64decode(item, validate=True))
        except (binascii.Error, ValueError):
            raise BadRequest(f"image {n} is not valid base64") from None
    return decoded


def from_body(event: dict[str, Any], content_type: str, max_bytes: int) -> bytes:
    """A request body that is one image file (curl --data-binary @seven.png -H 'content-type: image/png')."""
    if content_type not in IMAGE_TYPES:
        raise UnsupportedFormat(f"content type {content_type[:80]!r} is not supported; send image/png, "
                                "image/jpeg or application/json")
    body = event.get("body") or ""
    if len(body) > max_bytes * 4 // 3 + 4:
        raise TooLarge(f"the image is over {max_bytes} bytes; send a smaller one")
    try:
        data = base64.b64decode(body, validate=True) if event.get("isBase64Encoded") else body.encode("latin-1")
    except (binascii.Error, UnicodeEncodeError):
        raise BadRequest("the image body is not valid base64") from None
    if len(data) > max_bytes:
        raise TooLarge(f"the image is over {max_bytes} bytes; send a smaller one")
    if not data:
        raise BadRequest("the body is empty; send one PNG or JPEG image")
    return data


def _sniff(data: bytes) -> None:
    if data.startswith(_PNG) or data.startswith(_JPEG):
        return
    head = data[:256].lstrip()[:64].lower()
    name = next((fmt for magic, fmt in _OTHER_FORMATS.items() if data.startswith(magic) or head.startswith(magic)),
                None)
    if name is None and b"<svg" in head:
        name = "SVG"
    what = f"a {name} image" if name else "not an image this function reads"
    raise UnsupportedFormat(f"the upload is {what}; send {ACCEPTED}")


def _open(data: bytes) -> Any:
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # Pillow's own guard as a second line; ours below decides first
    try:
        image = Image.open(io.BytesIO(data), formats=["PNG", "JPEG"])
    except Image.DecompressionBombError:
        raise TooLarge(f"the image declares more than {MAX_PIXELS} pixels; send a smaller one") from None
    except Exception:
        raise InvalidRows(f"the image is truncated or corrupt; send a complete {ACCEPTED} file") from None
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise TooLarge(f"the image is {width}x{height} pixels; the limit is {MAX_PIXELS} pixels")
    if getattr(image, "is_animated", False):
        raise UnsupportedFormat(f"animated PNGs are not accepted; send one still {ACCEPTED} image")
    return image


def _alpha_of_palette(image: Any) -> Any:
    from PIL import Image

    # The alpha of each palette entry, looked up per pixel: converting to RGBA would cost 4 bytes a pixel.
    lut = np.full(256, 255, np.uint8)
    transparency = image.info.get("transparency")
    if isinstance(transparency, int):
        lut[transparency] = 0
    elif isinstance(transparency, bytes):
        lut[: len(transparency)] = np.frombuffer(transparency[:256], np.uint8)
    return Image.fromarray(lut[np.asarray(image)], "L")


def _planes(image: Any) -> tuple[Any, Any | None]:
    """Grey and alpha (or None) as 1-byte-a-pixel images: Pillow keeps RGB, RGBA and LA at 4 bytes a pixel."""
    from PIL import Image

    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit grey to 8 bits by shifting out the unused range: integer work only, no float copy of a large image
        array = np.asarray(image)
        shift = max(0, int(array.max()).bit_length() - 8)
        return Image.fromarray((array >> shift).astype(np.uint8), "L"), None
    if image.mode == "P":
        alpha = _alpha_of_palette(image) if "transparency" in image.info else None
        return image.convert("L"), alpha
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        return image.convert("L"), image.getchannel("A")
    return image.convert("L"), None


def _pixels(image: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """Grey levels and alpha (or None) in 0..1, on copies at most _WORK_SIDE pixels on their longer side."""
    from PIL import Image

    if image.format == "JPEG":
        image.draft("L", (_WORK_SIDE, _WORK_SIDE))  # the decoder itself scales down by up to 8: far less memory
    orientation = image.getexif().get(0x0112) if image.format == "JPEG" else None
    try:
        image.load()
    except Exception:
        raise InvalidRows(f"the image is truncated or corrupt; send a complete {ACCEPTED} file") from None
    planes = _planes(image)
    image.close()  # the full-size decode is no longer needed: free it before anything else is allocated
    factor = max(1, -(-max(planes[0].size) // _WORK_SIDE))
    arrays: list[np.ndarray | None] = []
    for plane in planes:
        if plane is not None:
            plane = plane.reduce(factor) if factor > 1 else plane
            if orientation in _TRANSPOSE:
                plane = plane.transpose(getattr(Image.Transpose, _TRANSPOSE[orientation]))
            plane = np.asarray(plane, dtype=np.float32) / 255
        arrays.append(plane)
    return arrays[0], arrays[1]


def ink(grey: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """Ink intensity 0..1 whatever the polarity: dark on light, light on dark, or strokes on a transparent canvas."""
    if alpha is not None and alpha.min() < 0.9:
        # A transparent canvas: the strokes are what is opaque; they may be dark or light themselves.
        opaque = alpha > 0.5
        dark = not opaque.any() or float(np.median(grey[opaque])) < 0.5
        return alpha * ((1 - grey) if dark else grey)
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    light_paper = float(np.median(border)) >= 0.5
    strength = (1 - grey) if light_paper else grey
    background = float(np.median(strength))  # the paper: a digit covers a minority of the pixels
    return np.clip(strength - background, 0, None)


def to_row(data: bytes, norm: Normalisation) -> np.ndarray:
    """One PNG or JPEG file as one row the model reads."""
    _sniff(data)
    image = _open(data)
    return normalise(ink(*_pixels(image)), norm)


def to_rows(images: list[bytes], norm: Normalisation) -> np.ndarray:
    """Several image files as a batch of rows, failing on the first bad one (its index in the message)."""
    rows = []
    for n, data in enumerate(images):
        try:
            rows.append(to_row(data, norm))
        except (InvalidRows, UnsupportedFormat, TooLarge, BadRequest) as exc:
            raise type(exc)(f"image {n}: {exc}" if len(images) > 1 else str(exc)) from None
    return np.stack(rows)

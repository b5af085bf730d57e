"""Decoding and input limits: the only place that touches image bytes."""

from __future__ import annotations

import hashlib
import io
import os
import struct
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import ImageTooLargeException, InvalidImageFormatException, InvalidParameterException
from .limits import ImageLimits

# Our own pixel guard runs first with a clear error; Pillow's stays as a backstop.
Image.MAX_IMAGE_PIXELS = None

_JPEG_MAGIC = b"\xff\xd8\xff"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_OTHER_FORMATS = {
    b"GIF87a": "GIF",
    b"GIF89a": "GIF",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
    b"BM": "BMP",
}


@dataclass(frozen=True)
class DecodedImage:
    """An upright RGB picture and what we know of its source."""

    rgb: np.ndarray  # (height, width, 3) uint8, EXIF orientation applied
    format: str  # "JPEG" or "PNG"
    exif_orientation: int  # 1 when none was applied
    sha256: str  # of the bytes as received
    data: bytes = field(default=b"", repr=False)  # the bytes themselves, for collections that keep images

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])


def sniff_format(data: bytes) -> str:
    """Name the container from its magic bytes; refuse what Rekognition refuses."""
    if not data:
        raise InvalidImageFormatException("The image is empty.")
    if data.startswith(_JPEG_MAGIC):
        return "JPEG"
    if data.startswith(_PNG_MAGIC):
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        raise InvalidImageFormatException("WEBP images are not supported: send JPEG or PNG.")
    for magic, name in _OTHER_FORMATS.items():
        if data.startswith(magic):
            raise InvalidImageFormatException(f"{name} images are not supported: send JPEG or PNG.")
    raise InvalidImageFormatException("The bytes are not a JPEG or PNG image.")


def read_image_file(path: str | os.PathLike, limits: ImageLimits | None = None) -> bytes:
    """Read a local file under the stored-object limit (Rekognition's S3 limit)."""
    limits = limits or ImageLimits.from_env()
    p = Path(path)
    try:
        size = p.stat().st_size
    except FileNotFoundError:
        raise InvalidParameterException(f"No such image file: {p}") from None
    except OSError as e:
        raise InvalidParameterException(f"Cannot read image file {p}: {e.strerror}") from None
    if not p.is_file():
        raise InvalidParameterException(f"Not a file: {p}")
    if size > limits.max_file_bytes:
        raise ImageTooLargeException(
            f"The image file is {size} bytes; the limit for files is {limits.max_file_bytes} bytes."
        )
    return p.read_bytes()


def decode_image(
    data: bytes, limits: ImageLimits | None = None, *, max_bytes: int | None = None
) -> DecodedImage:
    """Decode JPEG or PNG bytes to an upright RGB array, or raise a typed error.

    `max_bytes` defaults to the Image.Bytes limit; file and object readers pass their own.
    """
    limits = limits or ImageLimits.from_env()
    max_bytes = limits.max_bytes if max_bytes is None else max_bytes
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidParameterException("Image bytes must be bytes.")
    data = bytes(data)
    if len(data) > max_bytes:
        raise ImageTooLargeException(f"The image is {len(data)} bytes; the limit is {max_bytes} bytes.")
    fmt = sniff_format(data)
    if fmt == "PNG" and _PNG_IEND not in data:
        # Pillow decodes a PNG cut just before its end chunk without complaint.
        raise InvalidImageFormatException("The PNG image is truncated (no IEND chunk).")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            im = Image.open(io.BytesIO(data), formats=[fmt])
            width, height = im.size
            if width * height > limits.max_pixels:
                raise ImageTooLargeException(
                    f"The image is {width}x{height} = {width * height} pixels; "
                    f"the limit is {limits.max_pixels} pixels."
                )
            orientation = int(im.getexif().get(0x0112, 1) or 1)
            if fmt == "JPEG":
                rgb = _decode_jpeg(data, im)
            else:
                # chunk CRCs: catches corruption Pillow would otherwise decode
                Image.open(io.BytesIO(data), formats=[fmt]).verify()
                im.load()
                rgb = _to_rgb(im)
            rgb = upright(rgb, orientation)
    except (ImageTooLargeException, InvalidImageFormatException):
        raise
    except Image.DecompressionBombError:
        raise ImageTooLargeException(f"The image is over the limit of {limits.max_pixels} pixels.") from None
    except (OSError, SyntaxError, ValueError, EOFError, Image.UnidentifiedImageError, struct.error):
        # Pillow's own messages name its internals (file objects, offsets): say what is wrong instead.
        raise InvalidImageFormatException(
            f"The {fmt} image is damaged or truncated and cannot be decoded."
        ) from None
    h, w = rgb.shape[:2]
    if min(h, w) < limits.min_side:
        raise InvalidParameterException(
            f"The image is {w}x{h} pixels; each side must be at least {limits.min_side} pixels."
        )
    return DecodedImage(
        rgb=rgb,
        format=fmt,
        exif_orientation=orientation if orientation in _ORIENTATIONS else 1,
        sha256=hashlib.sha256(data).hexdigest(),
        data=data,
    )


# libjpeg warnings about metadata, not pixels: seen in real cameras' files, decoded anyway.
_HARMLESS_JPEG_WARNINGS = (
    "extraneous bytes before marker",
    "Adobe color transform",
    "JFIF",
    "ICC profile",
    "Invalid SOS parameters for sequential JPEG",
)


def _decode_jpeg(data: bytes, im: Image.Image) -> np.ndarray:
    """libjpeg-turbo with its warnings made errors where they mean missing data: a JPEG cut short
    and given its end marker back would otherwise decode, padded with grey, as if it were whole."""
    import simplejpeg

    plain = im.mode in ("RGB", "L")
    try:
        rgb = simplejpeg.decode_jpeg(
            data, colorspace="RGB" if plain else "CMYK", strict=True, min_factor=1 if plain else 8
        )
    except ValueError as e:
        reason = str(e)
        if plain and any(w in reason for w in _HARMLESS_JPEG_WARNINGS):  # decode as viewers do
            return simplejpeg.decode_jpeg(data, colorspace="RGB", strict=False)
        # A marker where data should be, a premature end, a bad Huffman code: pixels are missing.
        raise InvalidImageFormatException(
            f"The JPEG image is truncated or damaged: {reason[:120]}."
        ) from None
    if plain:
        return rgb
    im.load()  # CMYK and YCCK: Pillow knows Adobe's inverted CMYK
    return _to_rgb(im)


# EXIF orientation -> how to turn the stored pixels upright (as ImageOps.exif_transpose does).
_ORIENTATIONS = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),
    8: lambda a: np.rot90(a, 1),
}


def upright(rgb: np.ndarray, orientation: int) -> np.ndarray:
    return np.ascontiguousarray(_ORIENTATIONS.get(orientation, _ORIENTATIONS[1])(rgb))


def _to_rgb(im: Image.Image) -> np.ndarray:
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale PNG: scale to 8 bits rather than clip.
        arr = np.asarray(im, dtype=np.float64)
        if arr.max() > 255:
            arr = arr / 257.0
        im = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        # Transparent pixels onto white, as a viewer shows them.
        im = im.convert("RGBA")
        background = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(background, im)
    return np.ascontiguousarray(np.asarray(im.convert("RGB"), dtype=np.uint8))


def encode_jpeg(rgb: np.ndarray, max_side: int | None = None, quality: int = 85) -> bytes:
    """An RGB picture as JPEG bytes, scaled down to at most `max_side` pixels on its longer side."""
    im = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8))
    if max_side and max(im.size) > max_side:
        im.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return buf.getvalue()

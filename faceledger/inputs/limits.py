"""Input limits, Rekognition's by default, each overridable by an environment variable."""

from __future__ import annotations

import os
from dataclasses import dataclass

MB = 1024 * 1024


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int = 5 * MB  # Image.Bytes, as Rekognition
    max_file_bytes: int = 15 * MB  # files and stored objects, as Rekognition's S3 limit
    min_side: int = 80  # Rekognition's minimum image dimension
    # Decompression-bomb guard: checked from the header, before any pixel is decoded.
    max_pixels: int = 50_000_000

    @classmethod
    def from_env(cls) -> ImageLimits:
        d = cls()
        return cls(
            max_bytes=_env_int("FACELEDGER_MAX_IMAGE_BYTES", d.max_bytes),
            max_file_bytes=_env_int("FACELEDGER_MAX_FILE_BYTES", d.max_file_bytes),
            min_side=_env_int("FACELEDGER_MIN_IMAGE_SIDE", d.min_side),
            max_pixels=_env_int("FACELEDGER_MAX_IMAGE_PIXELS", d.max_pixels),
        )

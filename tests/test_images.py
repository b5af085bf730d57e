"""Image input: formats, orientation, limits, and a typed error for every bad input."""

from __future__ import annotations

import io

import numpy as np
import pytest
from conftest import COLLINS, OBAMA_PORTRAIT, exif_rotated_jpeg, jpeg_bytes, png_bytes, png_with_header_only
from PIL import Image

from faceledger.errors import ImageTooLargeException, InvalidImageFormatException, InvalidParameterException
from faceledger.inputs.images import decode_image, read_image_file
from faceledger.inputs.limits import ImageLimits


def _encoded(fmt: str, size=(200, 200), mode="RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, 128).save(buf, fmt)
    return buf.getvalue()


def test_jpeg_and_png_decode_to_rgb():
    jpeg = decode_image(OBAMA_PORTRAIT.read_bytes())
    assert (jpeg.format, jpeg.rgb.shape, jpeg.rgb.dtype) == ("JPEG", (1137, 910, 3), np.uint8)
    png = decode_image(read_image_file(COLLINS))
    assert (png.format, png.rgb.shape) == ("PNG", (512, 512, 3))


@pytest.mark.parametrize("mode", ["L", "P", "LA", "RGBA", "I;16"])
def test_greyscale_palette_and_alpha_become_rgb(mode):
    im = Image.new(mode, (120, 100))
    decoded = decode_image(png_bytes(im))
    assert decoded.rgb.shape == (100, 120, 3)


def test_exif_orientation_is_applied():
    decoded = decode_image(exif_rotated_jpeg(OBAMA_PORTRAIT))
    assert decoded.exif_orientation == 6
    assert decoded.rgb.shape[:2] == (1137, 910)  # upright again, not 910x1137


@pytest.mark.parametrize(
    "data, words",
    [
        (b"", "empty"),
        (b"hello, this is not a picture at all", "not a JPEG or PNG"),
        (_encoded("GIF"), "GIF"),
        (_encoded("TIFF"), "TIFF"),
        (_encoded("BMP"), "BMP"),
        (_encoded("WEBP"), "WEBP"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 100, "cannot be decoded"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "truncated"),
    ],
)
def test_bad_formats_are_invalid_image_format(data, words):
    with pytest.raises(InvalidImageFormatException, match=words):
        decode_image(data)


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9, 0.999])
def test_truncated_jpeg_is_refused_not_padded(fraction):
    data = OBAMA_PORTRAIT.read_bytes()
    with pytest.raises(InvalidImageFormatException):
        decode_image(data[: int(len(data) * fraction)])


@pytest.mark.parametrize("fraction", [0.2, 0.5, 0.9, 0.999])
def test_truncated_jpeg_with_its_end_marker_put_back_is_refused(fraction):
    # The decoder pads what is missing with grey; only its premature-end warning tells.
    data = OBAMA_PORTRAIT.read_bytes()
    with pytest.raises(InvalidImageFormatException, match="truncated"):
        decode_image(data[: int(len(data) * fraction)] + b"\xff\xd9")


def test_jpeg_frame_header_claiming_more_pixels_than_its_data_is_refused():
    data = bytearray(OBAMA_PORTRAIT.read_bytes())
    # The main frame's header (the first is the EXIF thumbnail's): length(2) precision(1) height(2) width(2)
    sof = data.rindex(b"\xff\xc0")
    data[sof + 5 : sof + 9] = (7000).to_bytes(2, "big") + (7000).to_bytes(2, "big")
    with pytest.raises(InvalidImageFormatException, match="truncated"):
        decode_image(bytes(data))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_turns_upright_as_pillow_does(orientation):
    from PIL import ImageOps

    stored = Image.open(COLLINS).convert("RGB").resize((160, 120))
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = jpeg_bytes(stored, exif=exif.tobytes())
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))
    decoded = decode_image(data)
    assert decoded.exif_orientation == orientation and decoded.rgb.shape == expected.shape
    assert np.abs(decoded.rgb.astype(int) - expected).mean() < 2  # two JPEG decoders, same picture


def test_damaged_png_message_says_what_is_wrong_not_how_it_was_read():
    data = bytearray(COLLINS.read_bytes())
    data[data.index(b"IDAT") + 100] ^= 0xFF
    with pytest.raises(InvalidImageFormatException) as e:
        decode_image(bytes(data))
    assert (
        "damaged" in e.value.message
        and "object at 0x" not in e.value.message
        and "_io" not in e.value.message
    )


@pytest.mark.parametrize("cut", [0.5, "before-iend"])
def test_truncated_png_is_refused(cut):
    data = COLLINS.read_bytes()
    end = len(data) - 12 if cut == "before-iend" else int(len(data) * cut)
    with pytest.raises(InvalidImageFormatException):
        decode_image(data[:end], max_bytes=len(data))


def test_corrupted_png_chunk_is_refused():
    data = bytearray(png_bytes(Image.new("RGB", (100, 100), (10, 20, 30))))
    data[40] ^= 0xFF  # inside the image data: its CRC no longer matches
    with pytest.raises(InvalidImageFormatException):
        decode_image(bytes(data))


def test_decompression_bomb_is_refused_before_decoding():
    bomb = png_with_header_only(100_000, 100_000)
    assert len(bomb) < 200
    with pytest.raises(ImageTooLargeException, match="pixels"):
        decode_image(bomb)


def test_bytes_over_five_megabytes_are_too_large():
    noise = np.random.default_rng(0).integers(0, 256, (1400, 1400, 3), dtype=np.uint8)
    data = png_bytes(Image.fromarray(noise))
    assert len(data) > 5 * 1024 * 1024
    with pytest.raises(ImageTooLargeException, match="limit"):
        decode_image(data)


def test_file_limit_is_separate_and_configurable(tmp_path):
    path = tmp_path / "big.jpg"
    path.write_bytes(OBAMA_PORTRAIT.read_bytes())
    with pytest.raises(ImageTooLargeException):
        read_image_file(path, ImageLimits(max_file_bytes=100_000))
    assert read_image_file(path) == OBAMA_PORTRAIT.read_bytes()


def test_limits_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("FACELEDGER_MAX_IMAGE_PIXELS", "1000")
    with pytest.raises(ImageTooLargeException):
        decode_image(jpeg_bytes(Image.new("RGB", (100, 100))))


def test_too_small_image_is_an_invalid_parameter():
    with pytest.raises(InvalidParameterException, match="at least 80"):
        decode_image(jpeg_bytes(Image.new("RGB", (79, 200))))
    assert decode_image(jpeg_bytes(Image.new("RGB", (80, 80)))).width == 80


def test_missing_file_and_folder_are_invalid_parameters(tmp_path):
    with pytest.raises(InvalidParameterException, match="No such"):
        read_image_file(tmp_path / "nope.jpg")
    with pytest.raises(InvalidParameterException, match="Not a file"):
        read_image_file(tmp_path)


def test_random_garbage_never_crashes():
    rng = np.random.default_rng(7)
    base = OBAMA_PORTRAIT.read_bytes()
    for _ in range(40):
        data = bytearray(base[:20000])
        for i in rng.integers(2, len(data), 30):
            data[i] = int(rng.integers(0, 256))
        try:
            decode_image(bytes(data))
        except (InvalidImageFormatException, InvalidParameterException, ImageTooLargeException):
            pass

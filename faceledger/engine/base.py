"""What every operation shares: inputs, detectors, the catalog and the vector indexes, and the
check that a collection exists."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import InvalidParameterException, ResourceNotFoundException, ResourceNotReadyException
from ..inputs import images
from ..inputs.limits import ImageLimits
from ..vision.detection import Detector
from ..vision.detectors import DEFAULT_DETECTOR, make_detector
from ..vision.model_store import ModelsUnavailable

MAX_VIDEO_BYTES = 10 * 1024**3  # Rekognition's limit for stored video

ImageInput = dict | bytes | str | os.PathLike


@contextmanager
def models_needed(what: str):
    """Inside: a model that is not installed is Rekognition's ResourceNotReadyException, saying
    what cannot be done and why."""
    try:
        yield
    except ModelsUnavailable as e:
        raise ResourceNotReadyException(f"{what}: {e}.") from None


def default_home() -> Path:
    return Path(os.environ.get("FACELEDGER_HOME") or Path.home() / ".faceledger")


class EngineBase:
    def __init__(
        self,
        *,
        home: str | os.PathLike | None = None,
        database_url: str | None = None,
        vector_url: str | None = None,
        detector: str | None = None,
        limits: ImageLimits | None = None,
    ):
        """`home` is the data directory (FACELEDGER_HOME, default ~/.faceledger): the SQLite
        catalog and the index files. `database_url` (FACELEDGER_DATABASE_URL) puts the catalog
        in PostgreSQL instead. `vector_url` (FACELEDGER_VECTOR_URL, milvus://HOST:PORT[/NAME])
        puts the vector indexes in Milvus, shared by every node, instead of each process's memory.
        Nothing is opened until a collection is used."""
        self.home = Path(home) if home is not None else default_home()
        self.database_url = database_url or os.environ.get("FACELEDGER_DATABASE_URL")
        self.vector_url = vector_url or os.environ.get("FACELEDGER_VECTOR_URL") or None
        if self.vector_url:
            from ..store.milvus import MilvusAddress

            try:
                MilvusAddress.parse(self.vector_url)
            except ValueError as exc:
                raise InvalidParameterException(str(exc)) from None
        self.limits = limits or ImageLimits.from_env()
        self.default_detector = detector or DEFAULT_DETECTOR
        self._detectors: dict[str, Detector] = {}
        self._store_lock = threading.Lock()
        self._catalog = None
        self._indexes = None
        self._objects = None

    @property
    def _object_store(self):
        """The store S3Object inputs are read from (configured by the environment)."""
        if self._objects is None:
            from ..inputs.objects import ObjectStore

            self._objects = ObjectStore()
        return self._objects

    # -- storage, opened on first use -------------------------------------------------------

    def _open_store(self) -> None:
        from ..store.catalog import Catalog, sqlite_url
        from ..store.live_index import LiveIndexes

        with self._store_lock:
            if self._catalog is None:
                # Owner only: the catalog holds face embeddings, biometric data.
                self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
                catalog = Catalog(self.database_url or sqlite_url(self.home))
                if self.vector_url:
                    from ..store.milvus import MilvusVectors
                    from ..store.shared_index import SharedIndexes

                    self._indexes = SharedIndexes(
                        catalog, MilvusVectors(self.vector_url), self.home / "vectors"
                    )
                else:
                    self._indexes = LiveIndexes(catalog, self.home / "vectors")
                self._catalog = catalog

    @property
    def catalog(self):
        if self._catalog is None:
            self._open_store()
        return self._catalog

    @property
    def indexes(self):
        if self._indexes is None:
            self._open_store()
        return self._indexes

    def _require(self, conn, cid: str):
        """The collection's catalog row; ResourceNotFoundException if there is none."""
        row = self.catalog.collection(conn, cid)
        if row is None:
            raise ResourceNotFoundException(f"The collection {cid!r} does not exist.")
        return row

    def close(self) -> None:
        """Write the indexes back to disk and release the catalog."""
        if self._indexes is not None:
            self._indexes.save_all()
            self._indexes.close()
        if self._catalog is not None:
            self._catalog.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- inputs -----------------------------------------------------------------------------

    def _load_image(self, image: ImageInput) -> images.DecodedImage:
        """An Image member ({"Bytes": ...} or {"S3Object": ...}), raw bytes, or a local path."""
        if isinstance(image, (str, os.PathLike)):
            data = images.read_image_file(Path(image), self.limits)
            return images.decode_image(data, self.limits, max_bytes=self.limits.max_file_bytes)
        if isinstance(image, (bytes, bytearray, memoryview)):
            return images.decode_image(bytes(image), self.limits)
        if not isinstance(image, dict):
            raise InvalidParameterException(
                "Image must be {'Bytes': ...}, {'S3Object': ...}, bytes or a path."
            )
        given = [k for k in ("Bytes", "S3Object") if image.get(k) is not None]
        unknown = set(image) - {"Bytes", "S3Object"}
        if unknown:
            raise InvalidParameterException(f"Unknown Image members: {', '.join(sorted(unknown))}.")
        if len(given) != 1:
            raise InvalidParameterException("Image needs exactly one of Bytes or S3Object.")
        if given[0] == "S3Object":
            data = self._object_store.read(image["S3Object"], self.limits.max_file_bytes)
            return images.decode_image(data, self.limits, max_bytes=self.limits.max_file_bytes)
        return images.decode_image(image["Bytes"], self.limits)

    def _detector(self, name: str | None = None) -> Detector:
        name = (name or self.default_detector).lower()
        if name not in self._detectors:
            self._detectors[name] = make_detector(name)
        return self._detectors[name]

    @contextmanager
    def _video_file(self, video: dict) -> Iterator[Path]:
        """A local path for a video member ({"S3Object": ...} or {"Path": ...}): a bucket folder's
        file as it is, an S3 object downloaded for the time of the block."""
        if "S3Object" not in video:
            yield Path(video["Path"])
            return
        path, is_temp = self._object_store.local_file(
            video["S3Object"], self.home / "scratch", MAX_VIDEO_BYTES
        )
        try:
            yield path
        finally:
            if is_temp:
                path.unlink(missing_ok=True)

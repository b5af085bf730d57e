"""IndexFaces over a folder of images on every core: each file detected and embedded in a worker
process, then stored (durable) in this one before it is reported, under an ExternalImageId made
from its path below the folder (inputs/folders.py). A file that is not an image, or has no face,
is reported with the rest; it does not end the run."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import FaceLedgerError, InvalidParameterException
from ..inputs.folders import external_id_for, image_files
from ..processes.pool import default_workers, run_over_files
from . import validate
from .collections import CollectionOperations


@functools.cache
def _vision_only(home: str, detector: str) -> CollectionOperations:
    """The operations a worker process needs: detection and embedding, no catalog (it is never opened)."""
    return CollectionOperations(home=home, detector=detector)


@dataclass(frozen=True)
class _Prepare:
    """The expensive half of IndexFaces for one file (picklable: it runs in worker processes)."""

    home: str
    detector: str
    attributes: tuple[str, ...] | None
    max_faces: int | None
    quality_filter: str | None
    liveness_threshold: float | None

    def __call__(self, path: Path) -> dict:
        engine = _vision_only(self.home, self.detector)
        prepared = engine._prepare_index_faces(
            Image=path,
            DetectionAttributes=list(self.attributes) if self.attributes else None,
            MaxFaces=self.max_faces,
            QualityFilter=self.quality_filter,
            liveness_threshold=self.liveness_threshold,
        )
        return {"Prepared": prepared}


class FolderOperations(CollectionOperations):
    def index_folder(
        self,
        CollectionId: str,
        Folder: str | os.PathLike,
        DetectionAttributes: Sequence[str] | None = None,
        MaxFaces: int | None = None,
        QualityFilter: str | None = None,
        *,
        liveness_threshold: float | None = None,
        workers: int | None = None,
        detector: str | None = None,
    ) -> Iterator[tuple[Path, dict]]:
        """IndexFaces for every image file below `Folder`, in order of path: (path, the IndexFaces
        response as a dict, or {"Error": {"Code", "Message"}}), each stored before it is yielded.
        The collection's policy (KeepImages, MinLiveness) holds as for one image."""
        cid = validate.collection_id(CollectionId)
        root = Path(Folder)
        if not root.is_dir():
            raise InvalidParameterException(f"Not a folder: {root}")
        policy, floor = self._index_policy(cid, liveness_threshold)  # refused now, before any work
        attributes = tuple(DetectionAttributes) if DetectionAttributes is not None else None
        name = self._detector(detector).name  # an unknown name is refused before any work
        task = _Prepare(str(self.home), name, attributes, MaxFaces, QualityFilter, floor)
        paths = image_files(root)
        for path, result in run_over_files(task, paths, workers or default_workers()):
            if "Error" not in result:
                prepared = result["Prepared"]
                if (
                    policy.keep_images and prepared
                ):  # the collection keeps source images: the file's bytes go too
                    data = path.read_bytes()
                    for p in prepared:
                        p.image = data
                try:
                    result = self._store_indexed_faces(cid, prepared, external_id_for(path, root)).to_dict()
                except FaceLedgerError as e:
                    result = {"Error": {"Code": e.code, "Message": e.message}}
            yield path, result

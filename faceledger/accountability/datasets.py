"""Labelled face sets for calibration and evaluation: folders of `Identity/photo.jpg` (several
folders merge by identity), embedded with the service's own pipeline on every core."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..inputs.folders import image_files
from ..processes.pool import default_workers, run_over_files, with_progress


@dataclass
class LabelledFaces:
    paths: list[str]
    identities: list[str]
    embeddings: np.ndarray  # (n, 128)
    skipped: dict[str, str]  # path -> why it has no embedding

    def save(self, path: Path) -> None:
        np.savez(
            path, paths=np.array(self.paths), identities=np.array(self.identities), embeddings=self.embeddings
        )

    @classmethod
    def load(cls, path: Path) -> LabelledFaces:
        d = np.load(path)
        return cls(list(map(str, d["paths"])), list(map(str, d["identities"])), d["embeddings"], {})


def labelled_photos(folders: list[Path]) -> list[tuple[Path, str]]:
    """(photo, identity) for every image one level below each folder's identity folders."""
    out = []
    for folder in folders:
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder} is not a folder of Identity/photo.jpg")
        for path in image_files(folder):
            rel = path.relative_to(folder)
            if len(rel.parts) == 2:
                out.append((path, rel.parts[0]))
    return out


class EmbedLargestFace:
    """The embedding of a photo's largest face (picklable for worker processes)."""

    def __call__(self, path: Path) -> dict:
        from ..inputs.images import decode_image, read_image_file
        from ..vision.analyze import analyze_faces, embed_faces
        from ..vision.detect import HogDetector

        rgb = decode_image(read_image_file(path), max_bytes=15 << 20).rgb
        faces = analyze_faces(rgb, HogDetector())
        if not faces:
            return {"Error": {"Code": "NoFace", "Message": "no face found"}}
        embed_faces(rgb, faces[:1])
        return {"Embedding": faces[0].embedding}


def embed_labelled(
    folders: list[Path], workers: int | None = None, label: str = "embedding"
) -> LabelledFaces:
    photos = labelled_photos(folders)
    paths, identities, vectors, skipped = [], [], [], {}
    results = run_over_files(EmbedLargestFace(), [p for p, _ in photos], workers or default_workers())
    for (path, result), (_, identity) in zip(with_progress(results, len(photos), label), photos):
        if "Error" in result:
            skipped[str(path)] = result["Error"]["Message"]
            continue
        paths.append(str(path))
        identities.append(identity)
        vectors.append(result["Embedding"])
    embeddings = np.stack(vectors) if vectors else np.zeros((0, 128), dtype=np.float32)
    return LabelledFaces(paths, identities, embeddings, skipped)


@dataclass
class ScoredPairs:
    genuine: np.ndarray  # similarities of same-person pairs
    impostor: np.ndarray
    faces: int
    skipped_pairs: int  # a photo of the pair had no face


def read_pairs(path: Path) -> list[tuple[Path, Path, bool]]:
    """A pairs file: CSV with columns path1, path2, same (1/0, true/false), paths relative to the
    file's folder; other columns (LFW's fold) are ignored."""
    import csv

    rows = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            try:
                same = str(row["same"]).strip().lower() in ("1", "true", "yes")
                rows.append((path.parent / row["path1"].strip(), path.parent / row["path2"].strip(), same))
            except (KeyError, AttributeError):
                raise ValueError(f"{path}: a pairs file needs the columns path1, path2, same") from None
    if not rows:
        raise ValueError(f"{path} lists no pair")
    return rows


def score_pairs(path: Path, workers: int | None = None) -> ScoredPairs:
    from ..vision.similarity import similarities

    pairs = read_pairs(path)
    photos = sorted({p for a, b, _ in pairs for p in (a, b)})
    vectors: dict[Path, np.ndarray] = {}
    results = run_over_files(EmbedLargestFace(), photos, workers or default_workers())
    for photo, result in with_progress(results, len(photos), "calibrate"):
        if "Error" not in result:
            vectors[photo] = result["Embedding"]
    genuine, impostor, skipped = [], [], 0
    for a, b, same in pairs:
        if a not in vectors or b not in vectors:
            skipped += 1
            continue
        (genuine if same else impostor).append(float(similarities(vectors[a], vectors[b][None])[0]))
    return ScoredPairs(np.asarray(genuine), np.asarray(impostor), len(vectors), skipped)

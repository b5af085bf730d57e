"""Folders of images: which files are read, and the ExternalImageId each is indexed under (the
web UI's folder drop names files by the same rule, in pages/indexing.js)."""

from __future__ import annotations

import re
from pathlib import Path

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp"}


def image_files(folder: Path) -> list[Path]:
    """Image-like files below `folder`, sorted; other formats are included so they get reported."""
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and p.suffix.lower() in IMAGE_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def external_id_for(path: Path, root: Path | None) -> str:
    """A file's ExternalImageId: its path below the folder, with anything Rekognition refuses as _."""
    rel = path.relative_to(root).as_posix() if root else path.name
    return re.sub(r"[^a-zA-Z0-9_.\-:]", "_", rel.replace("/", ":"))[-255:]

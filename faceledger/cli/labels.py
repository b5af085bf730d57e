"""detect-labels: the objects, scenes and image properties of a picture or of every picture of a
folder (DetectLabels)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .common import engine_for, over_folder, show, split


@dataclass(frozen=True)
class LabelTask:
    """Label one file; picklable so that worker processes can run it."""

    features: tuple[str, ...]
    min_confidence: float | None
    max_labels: int | None
    home: str | None = None
    draw_dir: str | None = None
    root: str | None = None
    purpose: str | None = None  # for the ledger: a worker process does not inherit the caller's
    case_id: str | None = None

    def __call__(self, path: Path) -> dict:
        from ..accountability.ledger import acting

        with acting(None, purpose=self.purpose, case_id=self.case_id):
            result = (
                engine_for(None, self.home)
                .detect_labels(
                    Image=path,
                    Features=list(self.features),
                    MinConfidence=self.min_confidence,
                    MaxLabels=self.max_labels,
                )
                .to_dict()
            )
        if self.draw_dir:
            rel = path.relative_to(self.root) if self.root else Path(path.name)
            draw(path, result, Path(self.draw_dir) / rel.with_suffix(".png"))
        return result


def draw(path: Path, result: dict, out: Path) -> Path:
    """The picture with every instance's box and label, and a strip of its dominant colours."""
    import numpy as np

    from .draw import GREEN, draw_box, picture, save

    canvas = picture(path).copy()
    for label in result.get("Labels", []):
        for inst in label.get("Instances", []):
            draw_box(canvas, inst["BoundingBox"], GREEN, f"{label['Name']} {inst['Confidence']:.0f}%")
    colours = result.get("ImageProperties", {}).get("DominantColors", [])
    if colours:
        h, w = canvas.shape[:2]
        strip = np.zeros((max(12, h // 20), w, 3), np.uint8)
        x = 0
        for c in colours:
            width = round(w * c["PixelPercent"] / 100)
            strip[:, x : x + width] = (c["Red"], c["Green"], c["Blue"])
            x += width
        canvas = np.vstack([canvas, strip])
    return save(canvas, out)


def detect_labels(args) -> int:
    target = Path(args.image)
    features = tuple(split(args.features) or ["GENERAL_LABELS"])
    context = {"purpose": args.purpose, "case_id": args.case_id}
    task = LabelTask(features, args.min_confidence, args.max_labels, args.home, **context)
    if not target.is_dir():
        result = task(target)
        if args.draw:
            draw(target, result, Path(args.draw))
        return show(result)
    task = LabelTask(
        features, args.min_confidence, args.max_labels, args.home, args.draw, str(target), **context
    )
    return over_folder(
        task, target, args.workers, "detect-labels", "with labels", lambda r: 1 if r.get("Labels") else 0
    )


def register(sub) -> None:
    p = sub.add_parser(
        "detect-labels", help="objects, scenes and image properties of an image or a folder (DetectLabels)"
    )
    p.add_argument(
        "image", metavar="IMAGE|DIR", help="a JPEG or PNG file, or a folder (JSON lines, one per image)"
    )
    p.add_argument(
        "--features",
        metavar="LIST",
        help="GENERAL_LABELS (default), IMAGE_PROPERTIES, or both comma-separated",
    )
    p.add_argument("--min-confidence", type=float, metavar="N", help="MinConfidence 0-100 (default 55)")
    p.add_argument("--max-labels", type=int, metavar="N", help="MaxLabels: at most N labels")
    p.add_argument(
        "--draw", metavar="OUT", help="write the image with boxes (a folder when IMAGE is a folder)"
    )
    p.add_argument("--workers", type=int, metavar="N", help="processes for a folder (default: one per core)")
    p.add_argument("--purpose", help="why the pictures are looked at (recorded in the ledger)")
    p.add_argument("--case-id", help="the case it belongs to (recorded in the ledger)")
    p.set_defaults(func=detect_labels)

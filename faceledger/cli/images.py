"""Commands on pictures alone: detect-faces, compare-faces, detect-liveness."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .common import (
    add_detector,
    add_quality_filter,
    add_search_context,
    engine,
    engine_for,
    over_folder,
    show,
)


@dataclass(frozen=True)
class DetectTask:
    """Detect faces in one file; picklable so that worker processes can run it."""

    attributes: tuple[str, ...]
    detector: str
    home: str | None = None
    draw_dir: str | None = None
    root: str | None = None

    def __call__(self, path: Path) -> dict:
        result = (
            engine_for(self.detector, self.home)
            .detect_faces(Image=path, Attributes=list(self.attributes))
            .to_dict()
        )
        if self.draw_dir:
            from .draw import draw_face_details, picture, save

            rel = path.relative_to(self.root) if self.root else Path(path.name)
            save(
                draw_face_details(picture(path), result["FaceDetails"]),
                Path(self.draw_dir) / rel.with_suffix(".png"),
            )
        return result


def detect_faces(args) -> int:
    target = Path(args.image)
    attributes = tuple(args.attributes or ["DEFAULT"])
    if not target.is_dir():
        result = DetectTask(attributes, args.detector, args.home)(target)
        if args.draw:
            from .draw import draw_face_details, picture, save

            save(draw_face_details(picture(target), result["FaceDetails"]), Path(args.draw))
        return show(result)
    task = DetectTask(attributes, args.detector, args.home, args.draw, str(target))
    return over_folder(task, target, args.workers, "detect-faces", "faces", lambda r: len(r["FaceDetails"]))


def compare_faces(args) -> int:
    result = (
        engine(args, args.detector)
        .compare_faces(
            SourceImage=Path(args.source),
            TargetImage=Path(args.target),
            SimilarityThreshold=args.threshold,
            QualityFilter=args.quality_filter,
        )
        .to_dict()
    )
    if args.draw:
        from .draw import BLUE, GREEN, RED, draw_box, picture, save, side_by_side

        left = picture(Path(args.source)).copy()
        draw_box(left, result["SourceImageFace"]["BoundingBox"], BLUE, "source")
        right = picture(Path(args.target)).copy()
        for m in result["FaceMatches"]:
            draw_box(right, m["Face"]["BoundingBox"], GREEN, f"match {m['Similarity']:.1f}")
        for f in result["UnmatchedFaces"]:
            draw_box(right, f["BoundingBox"], RED, "no match")
        save(side_by_side(left, right), Path(args.draw))
    return show(result)


def detect_liveness(args) -> int:
    fl = engine(args, args.detector)
    return show(
        fl.detect_liveness(Image=args.image, LivenessThreshold=args.threshold, detector=args.detector)
    )


def register(sub) -> None:
    p = sub.add_parser("detect-faces", help="find faces in an image or a folder of images (DetectFaces)")
    p.add_argument(
        "image", metavar="IMAGE|DIR", help="a JPEG or PNG file, or a folder (JSON lines, one per image)"
    )
    p.add_argument(
        "--attributes",
        nargs="+",
        metavar="ATTR",
        help="DEFAULT (default) or ALL, as Rekognition's Attributes",
    )
    add_detector(p)
    p.add_argument(
        "--draw",
        metavar="OUT",
        help="write the image with boxes and landmarks (a folder when IMAGE is a folder)",
    )
    p.add_argument("--workers", type=int, metavar="N", help="processes for a folder (default: one per core)")
    p.set_defaults(func=detect_faces)

    p = sub.add_parser(
        "compare-faces", help="compare the largest face of SOURCE with the faces of TARGET (CompareFaces)"
    )
    p.add_argument("source", metavar="SOURCE")
    p.add_argument("target", metavar="TARGET")
    p.add_argument(
        "--threshold", type=float, metavar="N", help="SimilarityThreshold 0-100 (default: the measured one)"
    )
    add_quality_filter(p, "NONE")
    add_detector(p)
    p.add_argument("--draw", metavar="OUT.png", help="write both images side by side with matches drawn")
    add_search_context(p)
    p.set_defaults(func=compare_faces)

    p = sub.add_parser(
        "detect-liveness", help="passive liveness of each face of a still image (faceledger's own)"
    )
    p.add_argument("image", metavar="IMAGE")
    p.add_argument(
        "--threshold", type=float, metavar="N", help="LivenessThreshold 0-100 (default: the measured one)"
    )
    add_detector(p)
    p.set_defaults(func=detect_liveness)

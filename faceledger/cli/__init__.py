"""The command line: JSON on stdout in Rekognition's shapes, progress and errors on stderr.

One module per command group (images, labels, collections, users, accountability, video, streams,
service), each with its own small parser; every command is a thin adapter over an engine method,
and an error any of them meets is reported here, once."""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from ..errors import FaceLedgerError
from . import accountability, collections, images, labels, service, streams, users, video

GROUPS = (images, labels, collections, users, accountability, video, streams, service)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="faceledger",
        description="Self-hosted face analysis with Amazon Rekognition's API. Output is JSON in "
        "Rekognition's shapes.",
    )
    parser.add_argument("--version", action="version", version=f"faceledger {__version__}")
    parser.add_argument(
        "--home", metavar="DIR", help="data directory (default: $FACELEDGER_HOME or ~/.faceledger)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ..accountability.ledger import acting  # here: --help needs no database driver

    reviewer = getattr(args, "reviewer", None)
    actor = f"local:{reviewer}" if reviewer else None  # None: the local user
    try:
        with acting(
            actor,
            purpose=getattr(args, "purpose", None),
            case_id=getattr(args, "case_id", None),
            max_fmr=getattr(args, "fmr", None),
        ):
            return args.func(args)
    except FaceLedgerError as e:
        print(f"faceledger: {e.code}: {e.message}", file=sys.stderr)
        return 1

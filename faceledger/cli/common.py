"""What the command groups share: one engine per command, JSON out, paging, and the flags that
several commands take. Choices come from the engine's own constants, never written out here."""

from __future__ import annotations

import argparse
import json
import sys
from functools import cache

from ..engine.policy import CollectionPolicy
from ..engine.quality_filter import LEVELS as QUALITY_FILTERS
from ..vision.detectors import DEFAULT_DETECTOR, DETECTORS


def engine(args, detector: str | None = None):
    """The engine for this command's data directory (--home), made once."""
    return engine_for(detector, getattr(args, "home", None))


@cache
def engine_for(detector: str | None, home: str | None):
    import atexit

    from ..engine import FaceLedger

    fl = FaceLedger(detector=detector, home=home)
    atexit.register(fl.close)  # indexes written back once, at the end of the command
    return fl


def print_json(obj, *, lines: bool = False) -> None:
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) if lines else json.dumps(obj, indent=2))
    sys.stdout.write("\n")
    sys.stdout.flush()


def say(message: str) -> None:
    print(f"faceledger: {message}", file=sys.stderr)


def show(result) -> int:
    """Print an operation's response (a record or a dict); 0 for the exit code."""
    print_json(result.to_dict() if hasattr(result, "to_dict") else result)
    return 0


def all_pages(operation, *members: str, **kwargs) -> dict:
    """Follow NextToken to the end and join the pages' lists."""
    from ..engine.records import Plain

    out = Plain({m: [] for m in members})
    token = None
    while True:
        page = operation(NextToken=token, **kwargs)
        for m in members:
            out[m].extend(page[m])
        token = page.get("NextToken")
        if not token:
            return out


def over_folder(task, folder, workers: int | None, command: str, counted: str, count) -> int:
    """`task` on every image of `folder` on every core, with progress: a JSON line per image, a
    summary on stderr (`count(result)` of `counted` per image), 1 if any image failed."""
    from ..inputs.folders import image_files
    from ..processes.pool import default_workers, run_over_files, with_progress

    paths = image_files(folder)
    failed, total = 0, 0
    for path, result in with_progress(
        run_over_files(task, paths, workers or default_workers()), len(paths), command
    ):
        print_json({"Image": str(path), **result}, lines=True)
        if "Error" in result:
            failed += 1
            say(f"{path}: {result['Error']['Code']}: {result['Error']['Message']}")
        else:
            total += count(result)
    say(f"{len(paths)} images, {total} {counted}, {failed} failed")
    return 1 if failed else 0


def split(value: str | None) -> list[str] | None:
    """A comma-separated flag as a list (None when not given)."""
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def add_detector(p: argparse.ArgumentParser) -> None:
    names = "; ".join(f"{n}: {e.what}" for n, e in DETECTORS.items())
    p.add_argument(
        "--detector",
        choices=tuple(DETECTORS),
        metavar="NAME",
        help=f"the face detector (default: {DEFAULT_DETECTOR}); one of: {names}",
    )


def add_quality_filter(p: argparse.ArgumentParser, default: str) -> None:
    p.add_argument(
        "--quality-filter",
        choices=QUALITY_FILTERS,
        default=default,
        help=f"QualityFilter (default {default})",
    )


def add_search_context(p: argparse.ArgumentParser) -> None:
    """--purpose, --case-id and --fmr for every command that compares faces."""
    p.add_argument(
        "--purpose", help="why this search is made (recorded in the ledger; some collections require it)"
    )
    p.add_argument("--case-id", help="the case it belongs to (recorded; some collections require it)")
    p.add_argument(
        "--fmr", type=float, metavar="RATE", help="threshold as a target false match rate, e.g. 1e-5"
    )


POLICY_FLAGS = {  # CollectionPolicy's fields: flag, help
    "min_threshold": ("--min-threshold", "no search below this similarity"),
    "max_fmr": ("--max-fmr", "no search above this false match rate"),
    "require_purpose": ("--require-purpose", "every search states a purpose"),
    "require_case": ("--require-case", "every search names a case"),
    "require_review": ("--require-review", "two reviewers confirm matches"),
    "retention_days": ("--retention-days", "faces are deleted N days after indexing"),
    "keep_images": ("--keep-images", "store source images"),
    "min_liveness": ("--min-liveness", "IndexFaces leaves out faces scoring below N (0-100) for liveness"),
    "independent_review": ("--independent-review", "whoever ran a search may not review its matches"),
}


def add_policy_flags(p: argparse.ArgumentParser) -> None:
    """A flag for each member of a collection's policy, of the member's type."""
    kinds = CollectionPolicy.__annotations__
    for field, (flag, text) in POLICY_FLAGS.items():
        kind = kinds[field]
        if kind == "bool":
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=f"policy: {text}")
        elif kind.startswith("int"):
            p.add_argument(flag, type=int, metavar="N", help=f"policy: {text}")
        else:
            p.add_argument(flag, type=float, metavar="N", help=f"policy: {text}")


def policy_from_args(args) -> dict | None:
    given = {
        member: getattr(args, attr)
        for attr, member in CollectionPolicy.NAMES.items()
        if getattr(args, attr, None) is not None
    }
    return given or None

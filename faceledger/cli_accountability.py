"""The command line of accountability: collection policies, the ledger, human review,
retention and erasure, calibration and fairness reports."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path


def add_search_context(p: argparse.ArgumentParser) -> None:
    """--purpose, --case-id and --fmr for every command that compares faces."""
    p.add_argument("--purpose", help="why this search is made (recorded in the ledger; some collections require it)")
    p.add_argument("--case-id", help="the case it belongs to (recorded; some collections require it)")
    p.add_argument("--fmr", type=float, metavar="RATE", help="threshold as a target false match rate, e.g. 1e-5")


def add_policy_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--min-threshold", type=float, metavar="N", help="policy: no search below this similarity")
    p.add_argument("--max-fmr", type=float, metavar="RATE", help="policy: no search above this false match rate")
    p.add_argument("--require-purpose", action=argparse.BooleanOptionalAction, default=None, help="policy: every search states a purpose")
    p.add_argument("--require-case", action=argparse.BooleanOptionalAction, default=None, help="policy: every search names a case")
    p.add_argument("--require-review", action=argparse.BooleanOptionalAction, default=None, help="policy: two reviewers confirm matches")
    p.add_argument("--retention-days", type=int, metavar="N", help="policy: faces are deleted N days after indexing")
    p.add_argument("--keep-images", action=argparse.BooleanOptionalAction, default=None, help="policy: store source images")
    p.add_argument("--independent-review", action=argparse.BooleanOptionalAction, default=None,
                   help="policy: whoever ran a search may not review its matches")
    p.add_argument("--min-liveness", type=float, metavar="N", help="policy: IndexFaces leaves out faces scoring below N (0-100) for liveness")


def policy_from_args(args) -> dict | None:
    from .engine.accountability import CollectionPolicy

    given = {member: getattr(args, attr) for attr, member in CollectionPolicy.NAMES.items() if getattr(args, attr, None) is not None}
    return given or None


# -- commands ------------------------------------------------------------------------------


def cmd_policy(args, call) -> int:
    policy = policy_from_args(args)
    if policy is None:
        return call(lambda e: e.get_collection_policy(CollectionId=args.collection))
    return call(lambda e: e.put_collection_policy(CollectionId=args.collection, Policy=policy))


def _filters(args) -> dict:
    return {
        "CollectionId": args.collection, "CaseId": args.case_id, "Actor": args.actor,
        "Operation": args.operation, "Since": args.since, "Until": args.until,
    }  # fmt: skip


def _all_entries(engine, filters: dict):
    token = None
    while True:
        page = engine.list_ledger(**filters, NextToken=token, MaxResults=10_000)
        yield from page["Entries"]
        token = page.get("NextToken")
        if not token:
            return


def cmd_ledger(args, engine, fail) -> int:
    from .errors import FaceLedgerError

    try:
        if args.action == "head":
            head = engine.ledger.head()
            print(json.dumps({"HeadSeq": head[0], "HeadHash": head[1]} if head else {"HeadSeq": None}))
            return 0
        if args.action == "verify":
            seq, _, digest = (args.head or "").partition(":")
            if seq and not seq.isdigit():
                return fail("InvalidParameterException", "--head takes SEQ:HASH, as `faceledger ledger head` prints them")
            result = engine.verify_ledger(HeadSeq=int(seq) if seq else None, HeadHash=digest or None)
            print(json.dumps(result, indent=2))
            if result["Intact"]:
                print(f"faceledger: the ledger is intact: {result['Entries']} entries, head {result['HeadSeq']}:{result['HeadHash']}",
                      file=sys.stderr)  # fmt: skip
                return 0
            print(f"faceledger: the ledger is NOT intact: entry {result['FirstBadSeq']}: {result['Reason']}", file=sys.stderr)
            return 3
        entries = _all_entries(engine, _filters(args))
        out = open(args.output, "w", newline="") if getattr(args, "output", None) else sys.stdout
        try:
            if args.action == "export" and args.format == "csv":
                columns = ["Seq", "At", "Actor", "Operation", "CollectionId", "Threshold", "FalseMatchRate", "Purpose",
                           "CaseId", "ProbeSha256", "Detail", "PrevHash", "Hash"]  # fmt: skip
                writer = csv.DictWriter(out, fieldnames=columns)
                writer.writeheader()
                for e in entries:
                    writer.writerow({**e, "Detail": json.dumps(e["Detail"], sort_keys=True)})
            elif args.action == "export":
                for e in entries:
                    out.write(json.dumps(e) + "\n")
            else:
                show_table(list(entries))
        finally:
            if out is not sys.stdout:
                out.close()
    except FaceLedgerError as e:
        return fail(e.code, e.message)
    return 0


def _summary(e: dict) -> str:
    d = e["Detail"]
    if "Matches" in d:
        return f"{len(d['Matches'])} match(es) of {d.get('CollectionSize', '?')}, expect {d.get('ExpectedFalseCandidates', 0):.2g} false"
    for key in ("FaceIds", "MatchSimilarities"):
        if key in d:
            return f"{len(d[key])} {'face(s)' if key == 'FaceIds' else 'match(es)'}"
    return ", ".join(f"{k}={v}" for k, v in d.items() if not isinstance(v, (list, dict)))[:60]


def show_table(entries: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"ledger: {len(entries)} entries")
    for column in ("Seq", "At (UTC)", "Actor", "Operation", "Collection", "Threshold", "FMR", "Purpose / case", "Result"):
        table.add_column(column)
    for e in entries:
        table.add_row(
            str(e["Seq"]), e["At"][:19].replace("T", " "), e["Actor"], e["Operation"], e["CollectionId"] or "",
            f"{e['Threshold']:.1f}" if e["Threshold"] is not None else "",
            f"{e['FalseMatchRate']:.1e}" if e["FalseMatchRate"] is not None else "",
            " / ".join(x for x in (e["Purpose"], e["CaseId"]) if x), _summary(e),
        )  # fmt: skip
    console = Console()
    if not console.is_terminal:  # piped: do not squeeze the table into 80 columns
        console = Console(width=240)
    console.print(table)


def cmd_review(args, call) -> int:
    if args.action == "list":
        status = None if args.status == "ALL" else args.status
        return call(lambda e: e.list_review_candidates(CollectionId=args.collection, Status=status, MaxResults=1000))
    if args.action == "identifications":
        return call(lambda e: e.list_identifications(CollectionId=args.collection, MaxResults=1000))
    decision = "CONFIRM" if args.action == "confirm" else "REJECT"
    return call(lambda e: e.review_candidate(CandidateId=args.candidate_id, Decision=decision, Note=args.note))


def cmd_calibrate(args, fail) -> int:
    from . import calibration, datasets, reports

    given = [Path(d) for d in args.dataset]
    if len(given) == 1 and given[0].is_file():  # a pairs file
        try:
            scored = datasets.score_pairs(given[0], args.workers)
        except (OSError, ValueError) as e:
            return fail("InvalidParameterException", str(e))
        cal = calibration.from_scores(
            scored.genuine, scored.impostor, name=args.name, people=0, faces=scored.faces,
            description=f"{given[0]}: {len(scored.genuine)} genuine and {len(scored.impostor)} impostor pairs "
                        f"({scored.skipped_pairs} pairs skipped: no face found)",
        )  # fmt: skip
        found = f"{scored.faces} faces, {scored.skipped_pairs} pairs without a face"
    else:
        try:
            faces = datasets.embed_labelled(given, args.workers, "calibrate")
        except FileNotFoundError as e:
            return fail("InvalidParameterException", str(e))
        cal = calibration.measure(faces.embeddings, faces.identities, name=args.name,
                                  description=f"{', '.join(args.dataset)}: {len(faces.paths)} faces of {len(set(faces.identities))} people")  # fmt: skip
        found = f"{len(faces.paths)} faces ({len(faces.skipped)} photos without a face) of {cal.people} people"
    try:
        cal.check_usable()
    except calibration.CalibrationError as e:
        return fail("InvalidParameterException", str(e))
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    cal.save(out / "calibration.json")
    reports.calibration_report(cal, out)
    print(f"faceledger: {found}: {cal.genuine_pairs:,} genuine, {cal.impostor_pairs:,} impostor pairs; "
          f"report in {out / 'report.html'}", file=sys.stderr)  # fmt: skip
    if args.install:
        from .engine.base import default_home

        home = Path(args.home) if args.home else default_home()
        home.mkdir(parents=True, exist_ok=True)
        cal.save(home / "calibration.json")
        print(f"faceledger: installed as {home / 'calibration.json'}: restart the service to use it", file=sys.stderr)
    print(json.dumps({"Calibration": str(out / "calibration.json"), "Report": str(out / "report.html"),
                      "GenuinePairs": cal.genuine_pairs, "ImpostorPairs": cal.impostor_pairs}, indent=2))  # fmt: skip
    return 0


def cmd_evaluate(args, fail) -> int:
    from . import calibration, datasets, fairness, reports

    try:
        groups = fairness.read_groups(Path(args.groups))
        faces = datasets.embed_labelled([Path(d) for d in args.dataset], args.workers, "evaluate")
    except (OSError, ValueError) as e:
        return fail("InvalidParameterException", str(e))
    threshold = args.threshold if args.threshold is not None else calibration.DEFAULT_SIMILARITY_THRESHOLD
    try:
        report = fairness.evaluate(faces.embeddings, faces.identities, groups, threshold)
    except ValueError as e:
        return fail("InvalidParameterException", str(e))
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    reports.fairness_report(report, out)
    print(json.dumps(report.to_dict(), indent=2))
    print(f"faceledger: report in {out / 'report.html'}", file=sys.stderr)
    return 0


def register(sub, *, call, engine, fail) -> None:
    """Add the accountability commands; `call(op)` runs an engine operation and prints it."""
    p = sub.add_parser("policy", help="show or change a collection's policy")
    p.add_argument("collection", metavar="COLLECTION")
    add_policy_flags(p)
    p.set_defaults(func=lambda a: cmd_policy(a, call))

    p = sub.add_parser("ledger", help="the tamper-evident record of every comparison and change")
    p.add_argument("action", choices=["show", "export", "verify", "head"])
    p.add_argument("--collection", help="only this collection's entries")
    p.add_argument("--case-id", help="only this case's entries")
    p.add_argument("--actor", help="only this access key's (or local:USER's) entries")
    p.add_argument("--operation", help="only this operation's entries")
    p.add_argument("--since", help="from this ISO time or date (UTC)")
    p.add_argument("--until", help="before this ISO time or date (UTC)")
    p.add_argument("--format", choices=["jsonl", "csv"], default="jsonl", help="for export")
    p.add_argument("-o", "--output", help="for export: a file instead of stdout")
    p.add_argument("--head", metavar="SEQ:HASH", help="for verify: a head recorded earlier, to catch rewrites")
    p.set_defaults(func=lambda a: cmd_ledger(a, engine(), fail))

    p = sub.add_parser("review", help="human review of matches in collections that require it")
    p.add_argument("action", choices=["list", "confirm", "reject", "identifications"])
    p.add_argument("candidate_id", nargs="?", type=int, metavar="CANDIDATE_ID")
    p.add_argument("--collection")
    p.add_argument("--status", choices=["PENDING", "CONFIRMED", "REJECTED", "ALL"], default="PENDING")
    p.add_argument("--reviewer", help="for confirm/reject: who decides (recorded as local:NAME)")
    p.add_argument("--note")
    p.set_defaults(func=lambda a: cmd_review(a, call))

    p = sub.add_parser("retention", help="delete faces older than their collection's retention")
    p.add_argument("action", choices=["run"])
    p.set_defaults(func=lambda a: call(lambda e: e.run_retention()))

    p = sub.add_parser("erase", help="erase everything a collection holds about a person")
    p.add_argument("collection", metavar="COLLECTION")
    p.add_argument("--external-image-id")
    p.add_argument("--user-id")
    p.set_defaults(func=lambda a: call(lambda e: e.erase(CollectionId=a.collection, ExternalImageId=a.external_image_id, UserId=a.user_id)))

    p = sub.add_parser("calibrate", help="measure what thresholds mean on labelled photos (DATASET/Identity/photo.jpg)")
    p.add_argument("dataset", nargs="+", metavar="DATASET", help="folders of Identity/photo.jpg, or one pairs file (path1,path2,same)")
    p.add_argument("-o", "--output", default="calibration", help="folder for calibration.json and the report")
    p.add_argument("--name", default="custom", help="the calibration's name, shown in every response")
    p.add_argument("--install", action="store_true", help="use it from now on in this data directory")
    p.add_argument("--workers", type=int, metavar="N")
    p.set_defaults(func=lambda a: cmd_calibrate(a, fail))

    p = sub.add_parser("evaluate", help="error rates by demographic group (a fairness report, NISTIR 8280 style)")
    p.add_argument("dataset", nargs="+", metavar="DATASET")
    p.add_argument("--groups", required=True, metavar="CSV", help="identity,group per line")
    p.add_argument("--threshold", type=float, help="default: the deployed one")
    p.add_argument("-o", "--output", default="fairness", help="folder for the report")
    p.add_argument("--workers", type=int, metavar="N")
    p.set_defaults(func=lambda a: cmd_evaluate(a, fail))


# -- stored video ----------------------------------------------------------------------------


def cmd_video(args, engine, fail) -> int:
    """Run a video job in this process with a progress bar, then print what Get* returns."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from .batch import default_workers
    from .errors import FaceLedgerError
    from .video.jobs import JobRunner

    video = Path(args.video)
    runner = JobRunner(engine, workers=args.workers or default_workers())
    try:
        if args.action == "detect-faces":
            job = engine.start_face_detection(Video=str(video.resolve()), FaceAttributes=args.attributes, sample_rate=args.sample_rate,
                                              run_by=runner.name)  # fmt: skip
        else:
            if not args.collection:
                return fail("InvalidParameterException", "video search-faces needs --collection")
            job = engine.start_face_search(Video=str(video.resolve()), CollectionId=args.collection,
                                           FaceMatchThreshold=args.threshold, sample_rate=args.sample_rate,
                                           run_by=runner.name)  # fmt: skip
    except FaceLedgerError as e:
        return fail(e.code, e.message)
    job_id = job["JobId"]  # started as this runner's: no service takes it too while its heartbeat goes on
    with Progress(TextColumn(f"[bold]{args.action}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                  TimeRemainingColumn(), transient=True) as bar:  # fmt: skip
        task = bar.add_task(args.action, total=1.0)
        status = runner.run(job_id, progress=lambda f: bar.update(task, completed=f))
    if status is None:
        return fail("InternalServerError", f"The video job {job_id} broke; the log above says why.")
    getter = engine.get_face_detection if args.action == "detect-faces" else engine.get_face_search
    result, items, token = None, [], None
    member = "Faces" if args.action == "detect-faces" else "Persons"
    while True:
        page = getter(JobId=job_id, NextToken=token)
        result = result or dict(page)
        items += page.get(member, [])
        token = page.get("NextToken")
        if not token:
            break
    result[member] = items
    result.pop("NextToken", None)
    print(json.dumps(result, indent=2))
    if status != "SUCCEEDED":
        print(f"faceledger: {result.get('StatusMessage')}", file=sys.stderr)
        return 1
    from .video import draw

    if args.draw:
        draw.draw_video(video, items, Path(args.draw), search=member == "Persons", sample_ms=1000 / (args.sample_rate or 5.0))
    if args.timeline:
        if member != "Persons":
            return fail("InvalidParameterException", "--timeline goes with video search-faces")
        draw.timeline(items, result["VideoMetadata"]["DurationMillis"], Path(args.timeline))
    return 0


def register_video(sub, *, engine, fail) -> None:
    p = sub.add_parser("video", help="faces in a stored video, and who of a collection appears when")
    p.add_argument("action", choices=["detect-faces", "search-faces"])
    p.add_argument("video", metavar="VIDEO", help="a video file (MP4/H.264 and whatever FFmpeg reads)")
    p.add_argument("--collection", help="for search-faces")
    p.add_argument("--threshold", type=float, help="FaceMatchThreshold for search-faces")
    p.add_argument("--attributes", choices=["DEFAULT", "ALL"], help="FaceAttributes for detect-faces")
    p.add_argument("--sample-rate", type=float, metavar="FPS", help="frames analysed a second (default 5)")
    p.add_argument("--workers", type=int, metavar="N", help="processes (default: one per core)")
    p.add_argument("--draw", metavar="OUT.mp4", help="write the video with boxes (and names)")
    p.add_argument("--timeline", metavar="OUT.png", help="for search-faces: a picture of who appears when")
    add_search_context(p)
    p.set_defaults(func=lambda a: cmd_video(a, engine(), fail))

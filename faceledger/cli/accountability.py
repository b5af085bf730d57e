"""The command line of accountability: collection policies, the ledger, human review,
retention and erasure, calibration and fairness reports."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from ..errors import InvalidParameterException
from .common import add_policy_flags, engine, policy_from_args, say, show

# -- commands ------------------------------------------------------------------------------


def policy(args) -> int:
    given = policy_from_args(args)
    if given is None:
        return show(engine(args).get_collection_policy(CollectionId=args.collection))
    return show(engine(args).put_collection_policy(CollectionId=args.collection, Policy=given))


def _filters(args) -> dict:
    return {
        "CollectionId": args.collection,
        "CaseId": args.case_id,
        "Actor": args.actor,
        "Operation": args.operation,
        "Since": args.since,
        "Until": args.until,
    }


def _all_entries(fl, filters: dict):
    token = None
    while True:
        page = fl.list_ledger(**filters, NextToken=token, MaxResults=10_000)
        yield from page["Entries"]
        token = page.get("NextToken")
        if not token:
            return


def ledger(args) -> int:
    fl = engine(args)
    if args.action == "head":
        head = fl.ledger.head()
        print(json.dumps({"HeadSeq": head[0], "HeadHash": head[1]} if head else {"HeadSeq": None}))
        return 0
    if args.action == "verify":
        return _verify(fl, args.head)
    entries = _all_entries(fl, _filters(args))
    out = open(args.output, "w", newline="") if getattr(args, "output", None) else sys.stdout
    try:
        if args.action == "export" and args.format == "csv":
            columns = [
                "Seq",
                "At",
                "Actor",
                "Operation",
                "CollectionId",
                "Threshold",
                "FalseMatchRate",
                "Purpose",
                "CaseId",
                "ProbeSha256",
                "Detail",
                "PrevHash",
                "Hash",
            ]
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
    return 0


def _verify(fl, head: str | None) -> int:
    seq, _, digest = (head or "").partition(":")
    if seq and not seq.isdigit():
        raise InvalidParameterException("--head takes SEQ:HASH, as `faceledger ledger head` prints them")
    result = fl.verify_ledger(HeadSeq=int(seq) if seq else None, HeadHash=digest or None)
    print(json.dumps(result, indent=2))
    if result["Intact"]:
        say(
            f"the ledger is intact: {result['Entries']} entries, head "
            f"{result['HeadSeq']}:{result['HeadHash']}"
        )
        return 0
    say(f"the ledger is NOT intact: entry {result['FirstBadSeq']}: {result['Reason']}")
    return 3


def _summary(e: dict) -> str:
    d = e["Detail"]
    if "Matches" in d:
        expected = d.get("ExpectedFalseCandidates", 0)
        return f"{len(d['Matches'])} match(es) of {d.get('CollectionSize', '?')}, expect {expected:.2g} false"
    for key in ("FaceIds", "MatchSimilarities"):
        if key in d:
            return f"{len(d[key])} {'face(s)' if key == 'FaceIds' else 'match(es)'}"
    return ", ".join(f"{k}={v}" for k, v in d.items() if not isinstance(v, (list, dict)))[:60]


def show_table(entries: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"ledger: {len(entries)} entries")
    for column in (
        "Seq",
        "At (UTC)",
        "Actor",
        "Operation",
        "Collection",
        "Threshold",
        "FMR",
        "Purpose / case",
        "Result",
    ):
        table.add_column(column)
    for e in entries:
        table.add_row(
            str(e["Seq"]),
            e["At"][:19].replace("T", " "),
            e["Actor"],
            e["Operation"],
            e["CollectionId"] or "",
            f"{e['Threshold']:.1f}" if e["Threshold"] is not None else "",
            f"{e['FalseMatchRate']:.1e}" if e["FalseMatchRate"] is not None else "",
            " / ".join(x for x in (e["Purpose"], e["CaseId"]) if x),
            _summary(e),
        )
    console = Console()
    if not console.is_terminal:  # piped: do not squeeze the table into 80 columns
        console = Console(width=240)
    console.print(table)


def review(args) -> int:
    fl = engine(args)
    if args.action == "list":
        status = None if args.status == "ALL" else args.status
        return show(fl.list_review_candidates(CollectionId=args.collection, Status=status, MaxResults=1000))
    if args.action == "identifications":
        return show(fl.list_identifications(CollectionId=args.collection, MaxResults=1000))
    decision = "CONFIRM" if args.action == "confirm" else "REJECT"
    return show(fl.review_candidate(CandidateId=args.candidate_id, Decision=decision, Note=args.note))


def _invalid(error: Exception) -> InvalidParameterException:
    return InvalidParameterException(str(error))


def calibrate(args) -> int:
    from ..accountability import calibration, datasets, reports

    given = [Path(d) for d in args.dataset]
    if len(given) == 1 and given[0].is_file():  # a pairs file
        try:
            scored = datasets.score_pairs(given[0], args.workers)
        except (OSError, ValueError) as e:
            raise _invalid(e) from None
        cal = calibration.from_scores(
            scored.genuine,
            scored.impostor,
            name=args.name,
            people=0,
            faces=scored.faces,
            description=f"{given[0]}: {len(scored.genuine)} genuine and {len(scored.impostor)} impostor "
            "pairs "
            f"({scored.skipped_pairs} pairs skipped: no face found)",
        )
        found = f"{scored.faces} faces, {scored.skipped_pairs} pairs without a face"
    else:
        try:
            faces = datasets.embed_labelled(given, args.workers, "calibrate")
        except FileNotFoundError as e:
            raise _invalid(e) from None
        cal = calibration.measure(
            faces.embeddings,
            faces.identities,
            name=args.name,
            description=f"{', '.join(args.dataset)}: {len(faces.paths)} faces of "
            f"{len(set(faces.identities))} people",
        )
        found = (
            f"{len(faces.paths)} faces ({len(faces.skipped)} photos without a face) of {cal.people} people"
        )
    try:
        cal.check_usable()
    except calibration.CalibrationError as e:
        raise _invalid(e) from None
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    cal.save(out / "calibration.json")
    reports.calibration_report(cal, out)
    say(
        f"{found}: {cal.genuine_pairs:,} genuine, {cal.impostor_pairs:,} impostor pairs; report in "
        f"{out / 'report.html'}"
    )
    if args.install:
        from ..engine.base import default_home

        home = Path(args.home) if args.home else default_home()
        home.mkdir(parents=True, exist_ok=True)
        cal.save(home / "calibration.json")
        say(f"installed as {home / 'calibration.json'}: restart the service to use it")
    print(
        json.dumps(
            {
                "Calibration": str(out / "calibration.json"),
                "Report": str(out / "report.html"),
                "GenuinePairs": cal.genuine_pairs,
                "ImpostorPairs": cal.impostor_pairs,
            },
            indent=2,
        )
    )
    return 0


def evaluate(args) -> int:
    from ..accountability import calibration, datasets, fairness, reports

    try:
        groups = fairness.read_groups(Path(args.groups))
        faces = datasets.embed_labelled([Path(d) for d in args.dataset], args.workers, "evaluate")
    except (OSError, ValueError) as e:
        raise _invalid(e) from None
    threshold = args.threshold if args.threshold is not None else calibration.DEFAULT_SIMILARITY_THRESHOLD
    try:
        report = fairness.evaluate(faces.embeddings, faces.identities, groups, threshold)
    except ValueError as e:
        raise _invalid(e) from None
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    reports.fairness_report(report, out)
    print(json.dumps(report.to_dict(), indent=2))
    say(f"report in {out / 'report.html'}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("policy", help="show or change a collection's policy")
    p.add_argument("collection", metavar="COLLECTION")
    add_policy_flags(p)
    p.set_defaults(func=policy)

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
    p.add_argument(
        "--head", metavar="SEQ:HASH", help="for verify: a head recorded earlier, to catch rewrites"
    )
    p.set_defaults(func=ledger)

    p = sub.add_parser("review", help="human review of matches in collections that require it")
    p.add_argument("action", choices=["list", "confirm", "reject", "identifications"])
    p.add_argument("candidate_id", nargs="?", type=int, metavar="CANDIDATE_ID")
    p.add_argument("--collection")
    p.add_argument("--status", choices=["PENDING", "CONFIRMED", "REJECTED", "ALL"], default="PENDING")
    p.add_argument("--reviewer", help="for confirm/reject: who decides (recorded as local:NAME)")
    p.add_argument("--note")
    p.set_defaults(func=review)

    p = sub.add_parser("retention", help="delete faces older than their collection's retention")
    p.add_argument("action", choices=["run"])
    p.set_defaults(func=lambda a: show(engine(a).run_retention()))

    p = sub.add_parser("erase", help="erase everything a collection holds about a person")
    p.add_argument("collection", metavar="COLLECTION")
    p.add_argument("--external-image-id")
    p.add_argument("--user-id")
    p.set_defaults(
        func=lambda a: show(
            engine(a).erase(CollectionId=a.collection, ExternalImageId=a.external_image_id, UserId=a.user_id)
        )
    )

    p = sub.add_parser(
        "calibrate", help="measure what thresholds mean on labelled photos (DATASET/Identity/photo.jpg)"
    )
    p.add_argument(
        "dataset",
        nargs="+",
        metavar="DATASET",
        help="folders of Identity/photo.jpg, or one pairs file (path1,path2,same)",
    )
    p.add_argument("-o", "--output", default="calibration", help="folder for calibration.json and the report")
    p.add_argument("--name", default="custom", help="the calibration's name, shown in every response")
    p.add_argument("--install", action="store_true", help="use it from now on in this data directory")
    p.add_argument("--workers", type=int, metavar="N")
    p.set_defaults(func=calibrate)

    p = sub.add_parser(
        "evaluate", help="error rates by demographic group (a fairness report, NISTIR 8280 style)"
    )
    p.add_argument("dataset", nargs="+", metavar="DATASET")
    p.add_argument("--groups", required=True, metavar="CSV", help="identity,group per line")
    p.add_argument("--threshold", type=float, help="default: the deployed one")
    p.add_argument("-o", "--output", default="fairness", help="folder for the report")
    p.add_argument("--workers", type=int, metavar="N")
    p.set_defaults(func=evaluate)

"""The video command: a stored-video job run in this process with a progress bar, then what
GetFaceDetection, GetFaceSearch or GetLabelDetection returns, and on request the video drawn and a
timeline."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import InternalServerError, InvalidParameterException
from .common import add_detector, add_search_context, all_pages, engine, say


def video(args) -> int:
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from ..engine.video_jobs import JobRunner
    from ..processes.pool import default_workers

    fl = engine(args)
    path = Path(args.video)
    runner = JobRunner(fl.video_jobs, workers=args.workers or default_workers())
    # Started as this runner's: no service takes the job too while its heartbeat goes on.
    if args.action == "detect-labels":
        job = fl.start_label_detection(
            Video=str(path.resolve()),
            MinConfidence=args.min_confidence,
            sample_rate=args.sample_rate,
            run_by=runner.name,
        )
    elif args.action == "detect-faces":
        job = fl.start_face_detection(
            Video=str(path.resolve()),
            FaceAttributes=args.attributes,
            sample_rate=args.sample_rate,
            run_by=runner.name,
            detector=args.detector,
        )
    else:
        if not args.collection:
            raise InvalidParameterException("video search-faces needs --collection")
        job = fl.start_face_search(
            Video=str(path.resolve()),
            CollectionId=args.collection,
            FaceMatchThreshold=args.threshold,
            sample_rate=args.sample_rate,
            run_by=runner.name,
            detector=args.detector,
        )
    job_id = job["JobId"]
    with Progress(
        TextColumn(f"[bold]{args.action}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeRemainingColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task(args.action, total=1.0)
        status = runner.run(job_id, progress=lambda f: bar.update(task, completed=f))
    if status is None:
        raise InternalServerError(f"The video job {job_id} broke; the log above says why.")
    search = args.action == "search-faces"
    member, getter = {
        "search-faces": ("Persons", fl.get_face_search),
        "detect-faces": ("Faces", fl.get_face_detection),
        "detect-labels": ("Labels", fl.get_label_detection),
    }[args.action]
    extra = {"AggregateBy": args.aggregate_by} if args.action == "detect-labels" and args.aggregate_by else {}
    first = getter(JobId=job_id, **extra)
    items = all_pages(getter, member, JobId=job_id, **extra)[member] if status == "SUCCEEDED" else []
    result = {**first, member: items}
    result.pop("NextToken", None)
    print(json.dumps(result, indent=2))
    if status != "SUCCEEDED":
        say(str(result.get("StatusMessage")))
        return 1
    if args.timeline and not search:
        raise InvalidParameterException("--timeline goes with video search-faces")
    if args.draw and args.action == "detect-labels":
        raise InvalidParameterException("--draw goes with video detect-faces and search-faces")
    from . import draw_video

    if args.draw:
        draw_video.draw_video(
            path, items, Path(args.draw), search=search, sample_ms=1000 / (args.sample_rate or 5.0)
        )
    if args.timeline:
        draw_video.timeline(items, result["VideoMetadata"]["DurationMillis"], Path(args.timeline))
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "video", help="faces or labels in a stored video, and who of a collection appears when"
    )
    p.add_argument("action", choices=["detect-faces", "search-faces", "detect-labels"])
    p.add_argument("video", metavar="VIDEO", help="a video file (MP4/H.264 and whatever FFmpeg reads)")
    p.add_argument("--collection", help="for search-faces")
    p.add_argument("--threshold", type=float, help="FaceMatchThreshold for search-faces")
    p.add_argument("--attributes", choices=["DEFAULT", "ALL"], help="FaceAttributes for detect-faces")
    p.add_argument("--min-confidence", type=float, metavar="N", help="MinConfidence for detect-labels (50)")
    p.add_argument("--aggregate-by", choices=["TIMESTAMPS", "SEGMENTS"], help="AggregateBy for detect-labels")
    p.add_argument("--sample-rate", type=float, metavar="FPS", help="frames analysed a second (default 5)")
    p.add_argument("--workers", type=int, metavar="N", help="processes (default: one per core)")
    p.add_argument("--draw", metavar="OUT.mp4", help="write the video with boxes (and names)")
    p.add_argument("--timeline", metavar="OUT.png", help="for search-faces: a picture of who appears when")
    add_search_context(p)
    add_detector(p)
    p.set_defaults(func=video)

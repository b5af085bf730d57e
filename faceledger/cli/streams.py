"""The streams command: Rekognition's stream processors (a camera's stream searched live against a
collection, events to a webhook or a file), and the registry of the Kinesis ARNs that stand for
cameras (sources) and event sinks. `faceledger serve` runs the processors; `streams run` runs
them in this process instead, until Ctrl-C."""

from __future__ import annotations

import signal
import time

from .common import add_search_context, all_pages, engine, print_json, say, show

ROLE = "arn:aws:iam::000000000000:role/faceledger"  # Rekognition requires one; faceledger ignores it


def streams(args) -> int:
    fl = engine(args)
    action = args.action
    if action in ("sources", "sinks"):
        return _endpoints(fl, args)
    if action == "list":
        return show(all_pages(fl.list_stream_processors, "StreamProcessors"))
    if action == "run":
        return _run(fl, args)
    if not args.name:
        say(f"streams {action} needs a NAME")
        return 2
    if action == "create":
        if not (args.input and args.output and args.collection):
            say("streams create needs --input, --output and --collection")
            return 2
        return show(
            fl.create_stream_processor(
                Input={"KinesisVideoStream": {"Arn": args.input}},
                Output={"KinesisDataStream": {"Arn": args.output}},
                Name=args.name,
                Settings={
                    "FaceSearch": {"CollectionId": args.collection, "FaceMatchThreshold": args.threshold}
                },
                RoleArn=ROLE,
                sample_rate=args.sample_rate,
            )
        )
    operation = {
        "describe": fl.describe_stream_processor,
        "start": fl.start_stream_processor,
        "stop": fl.stop_stream_processor,
        "delete": fl.delete_stream_processor,
    }[action]
    return show(operation(Name=args.name))


def _endpoints(fl, args) -> int:
    kind = args.action[:-1]
    if args.name in (None, "list"):
        endpoints = fl.list_stream_endpoints()["Endpoints"]
        print_json({"Endpoints": [e for e in endpoints if e["Kind"] == kind]})
        return 0
    if args.name == "add" and args.arn and args.url:
        return show(fl.put_stream_endpoint(Arn=args.arn, Url=args.url))
    if args.name == "remove" and args.arn:
        return show(fl.delete_stream_endpoint(Arn=args.arn))
    say(f"streams {args.action} [list | add ARN URL | remove ARN]")
    return 2


def _run(fl, args) -> int:
    from ..engine.stream_runner import StreamRunner, capacity

    def interrupted(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)  # a terminated runner hands its processors back
    runner = StreamRunner(fl, slots=args.slots or capacity()).start()
    say(f"running stream processors here ({runner.slots} slots); Ctrl-C stops")
    try:
        while True:
            time.sleep(5)
            for name, proc in list(runner.running.items()):
                f = proc.figures()
                say(
                    f"{name}: {f['FramesSampled']} samples, {f['FramesDropped']} dropped, "
                    f"lag p50 {f['LagMillisP50']} ms, {f['Matches']} matches, {f['Events']} events"
                )
    except KeyboardInterrupt:
        runner.stop()
    return 0


def register(sub) -> None:
    p = sub.add_parser("streams", help="stream processors: live face search on camera streams (RTSP)")
    p.add_argument(
        "action",
        choices=["create", "list", "describe", "start", "stop", "delete", "run", "sources", "sinks"],
    )
    p.add_argument("name", nargs="?", metavar="NAME", help="the processor (sources/sinks: list, add, remove)")
    p.add_argument("arn", nargs="?", metavar="ARN", help="sources/sinks add|remove: the Kinesis ARN")
    p.add_argument("url", nargs="?", metavar="URL", help="sources/sinks add: where it leads")
    p.add_argument("--input", help="create: rtsp:// or http(s):// URL, or a source's ARN")
    p.add_argument("--output", help="create: webhook URL, file:///path.jsonl, or a sink's ARN")
    p.add_argument("--collection", help="create: the collection searched")
    p.add_argument("--threshold", type=float, help="create: FaceMatchThreshold")
    p.add_argument(
        "--sample-rate", type=float, metavar="FPS", help="create: frames analysed a second (default 5)"
    )
    p.add_argument("--slots", type=int, help="run: processors at once (default: one a core)")
    add_search_context(p)
    p.set_defaults(func=streams)

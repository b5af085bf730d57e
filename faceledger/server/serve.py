"""`faceledger serve`: checks the settings, makes a first key if there is none, and runs the
app on uvicorn with one worker process per core (dlib holds Python's GIL while it computes,
so processes, not threads, use the cores)."""

from __future__ import annotations

import ipaddress
import os
import socket
import sys

GRACEFUL_SHUTDOWN = 30  # seconds a stopping worker gives the requests in flight
SUPERVISOR_PID = "FACELEDGER_SUPERVISOR_PID"  # tells a worker which process to die with (see app_from_env)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _first_key(home: str | None) -> tuple[str, str] | None:
    """An 'admin' key when the service has no active key at all, so that it is usable at once."""
    from ..engine import FaceLedger

    engine = FaceLedger(home=home)
    try:
        if any(k.revoked_at is None for k in engine.keys.list()):
            return None
        key, secret = engine.keys.create("admin")
        return key.access_key_id, secret
    finally:
        engine.close()


def _refusal(host: str, allow_anonymous: bool, tls_cert: str | None, tls_key: str | None) -> str | None:
    """Why these settings may not be served (None: they may); a warning for plain HTTP off loopback."""
    if allow_anonymous and not is_loopback(host):
        return f"--allow-anonymous is refused on {host}: only a loopback address may serve without keys."
    if bool(tls_cert) != bool(tls_key):
        return "--tls-cert and --tls-key go together."
    if not tls_cert and not is_loopback(host):
        print(
            f"faceledger: warning: serving plain HTTP on {host}. Signatures keep secrets off the wire, but "
            "images and results travel unencrypted: use --tls-cert/--tls-key or a TLS proxy.",
            file=sys.stderr,
        )
    return None


def _settings_for_workers(home, workers: int, allow_anonymous: bool, region, rate_limit) -> None:
    """The worker processes build their app from the environment (see app.Settings.from_env)."""
    if home:
        os.environ["FACELEDGER_HOME"] = str(home)
    os.environ["FACELEDGER_WORKERS"] = str(workers)
    os.environ["FACELEDGER_ALLOW_ANONYMOUS"] = "1" if allow_anonymous else "0"
    if region:
        os.environ["FACELEDGER_REGION"] = region
    if rate_limit:
        os.environ["FACELEDGER_RATE_LIMIT"] = str(rate_limit)


def _greeting(url: str, workers: int, created: tuple[str, str] | None) -> str:
    lines = [f"faceledger: serving on {url} with {workers} worker process(es)"]
    if created:
        key_id, secret = created
        lines += [
            "faceledger: no access key existed, so one was made (the secret is shown this once):",
            f"  AWS_ACCESS_KEY_ID={key_id}",
            f"  AWS_SECRET_ACCESS_KEY={secret}",
        ]
    lines += [
        "faceledger: call it with",
        f"  boto3.client('rekognition', endpoint_url='{url}', region_name='us-east-1', "
        "aws_access_key_id=..., aws_secret_access_key=...)",
        f"  aws rekognition list-collections --endpoint-url {url}",
        f"  curl -H 'Authorization: Bearer KEY_ID:SECRET' {url}/v1/collections     (API docs: {url}/docs)",
        "faceledger: more keys with `faceledger keys create --name NAME`",
    ]
    if os.environ.get("FACELEDGER_STREAMS", "1") != "0":
        from ..engine.stream_runner import capacity

        lines.append(
            f"faceledger: runs up to {capacity()} stream processor(s) at once on this machine "
            "(FACELEDGER_STREAM_SLOTS); more wait in STARTING for a free slot"
        )
    return "\n".join(lines)


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    workers: int | None = None,
    home: str | None = None,
    allow_anonymous: bool = False,
    region: str | None = None,
    rate_limit: float | None = None,
    tls_cert: str | None = None,
    tls_key: str | None = None,
) -> int:
    import uvicorn

    refused = _refusal(host, allow_anonymous, tls_cert, tls_key)
    if refused:
        print(f"faceledger: {refused}", file=sys.stderr)
        return 2
    workers = workers or os.cpu_count() or 1
    _settings_for_workers(home, workers, allow_anonymous, region, rate_limit)
    url = f"{'https' if tls_cert else 'http'}://{host}:{port}"
    print(_greeting(url, workers, _first_key(home)), file=sys.stderr, flush=True)
    config = uvicorn.Config(
        "faceledger.server.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,  # faceledger writes its own structured line per request
        log_level="warning",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN,
        ssl_certfile=tls_cert,
        ssl_keyfile=tls_key,
    )
    if workers == 1:
        os.environ.pop(SUPERVISOR_PID, None)
        uvicorn.Server(config).run()
        return 0
    os.environ[SUPERVISOR_PID] = str(os.getpid())  # the spawned workers inherit the environment
    from uvicorn.supervisors import Multiprocess

    sock = config.bind_socket()
    # uvicorn makes this socket with protocol 0, so asyncio skips TCP_NODELAY on the accepted
    # connections and Nagle's algorithm meets delayed ACKs: 40 ms lost per request. Linux
    # copies the option from the listening socket to every connection it accepts.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    Multiprocess(config, sockets=[sock]).run()
    return 0

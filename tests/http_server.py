"""The HTTP service run in a thread of the test process or as a real `faceledger serve`
process on 127.0.0.1, and signing helpers."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import boto3
import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_app(settings):
    """Serve `create_app(settings)` with uvicorn until the block ends; yields (url, app)."""
    import uvicorn

    from faceledger.server.app import create_app

    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        thread.join(30)


def start_serve(
    home: Path,
    *args: str,
    env: dict | None = None,
    scheme: str = "http",
    verify=True,
    new_session: bool = False,
) -> tuple[subprocess.Popen, str, Path]:
    """`faceledger serve` on a free loopback port with `home` as its data directory, once
    /health answers; returns (process, url, log file). `new_session`: in a process group of
    its own, so that a signal can reach every worker (os.killpg)."""
    port = free_port()
    log = home / f"serve-{port}.log"
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "faceledger"),
            "--home",
            str(home),
            "serve",
            "--port",
            str(port),
            *args,
        ],
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
        env={**os.environ, "FACELEDGER_HOME": str(home), **(env or {})},
        start_new_session=new_session,
    )
    url = f"{scheme}://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"faceledger serve exited with {proc.returncode}: {log.read_text()}")
        try:
            if httpx.get(f"{url}/health", timeout=2, verify=verify).status_code == 200:
                return proc, url, log
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"faceledger serve did not become healthy: {log.read_text()}")


def client(
    url: str,
    key_id: str,
    secret: str,
    *,
    retries: int = 0,
    service: str = "rekognition",
    region: str = "us-east-1",
):
    """An unmodified boto3 client pointed at the service (no retries: the tests count errors)."""
    return boto3.session.Session().client(
        service,
        endpoint_url=url,
        region_name=region,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": retries + 1, "mode": "standard"}, read_timeout=120),
    )


def rest_client(url: str, key_id: str, secret: str, timeout: float = 120) -> httpx.Client:
    """httpx on the REST API (`/v1`), signed in with an access key as a bearer."""
    return httpx.Client(
        base_url=f"{url}/v1", headers={"Authorization": f"Bearer {key_id}:{secret}"}, timeout=timeout
    )


def admin_clients(url: str, app) -> SimpleNamespace:
    """An admin key of an app served by running_app, and boto3 and REST clients signed with it."""
    key, secret = app.state.faceledger.auth.keys.create("admin")
    return SimpleNamespace(
        rek=client(url, key.access_key_id, secret),
        rest=rest_client(url, key.access_key_id, secret),
        engine=app.state.faceledger.engine,
    )


def signed_request(
    url: str,
    key_id: str,
    secret: str,
    target: str | None,
    body: bytes,
    *,
    region: str = "us-east-1",
    service: str = "rekognition",
    path: str = "/",
) -> AWSRequest:
    """A JSON 1.1 request signed by botocore's own SigV4 signer, for sending raw bodies."""
    headers = {"Content-Type": "application/x-amz-json-1.1"}
    if target:
        headers["X-Amz-Target"] = target
    req = AWSRequest(method="POST", url=url.rstrip("/") + path, data=body, headers=headers)
    SigV4Auth(Credentials(key_id, secret), service, region).add_auth(req)
    return req


class Webhook:
    """A receiver on loopback for the service's webhooks: each body parsed, with the time it
    arrived; with `secret`, bodies whose X-FaceLedger-Signature does not hold are counted."""

    def __init__(self, secret: str | None = None):
        self.received: list[tuple[float, dict]] = []
        self.bad_signatures = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if secret is not None:
                    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
                    if self.headers.get("X-FaceLedger-Signature") != expected:
                        outer.bad_signatures += 1
                outer.received.append((time.time(), json.loads(body)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()

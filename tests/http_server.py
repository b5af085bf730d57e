"""The HTTP service run in a thread of the test process on 127.0.0.1, and signing helpers."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager

import boto3
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
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
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


def client(url: str, key_id: str, secret: str, *, retries: int = 0, service: str = "rekognition", region: str = "us-east-1"):
    """An unmodified boto3 client pointed at the service (no retries: the tests count errors)."""
    return boto3.session.Session().client(
        service,
        endpoint_url=url,
        region_name=region,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": retries + 1, "mode": "standard"}, read_timeout=120),
    )


def signed_request(url: str, key_id: str, secret: str, target: str | None, body: bytes, *,
                   region: str = "us-east-1", service: str = "rekognition", path: str = "/") -> AWSRequest:
    """A JSON 1.1 request signed by botocore's own SigV4 signer, for sending raw bodies."""
    headers = {"Content-Type": "application/x-amz-json-1.1"}
    if target:
        headers["X-Amz-Target"] = target
    req = AWSRequest(method="POST", url=url.rstrip("/") + path, data=body, headers=headers)
    SigV4Auth(Credentials(key_id, secret), service, region).add_auth(req)
    return req

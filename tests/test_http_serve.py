"""`faceledger serve` as a user runs it: a real process with two workers, its first key, the AWS
CLI against it, anonymous access rules, and a graceful stop on SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import OBAMA_PORTRAIT, OBAMA_SPEECH
from http_server import start_serve

pytestmark = pytest.mark.slow  # real `faceledger serve` processes

BIN = Path(sys.executable).parent


def _start(home: Path, *args: str, scheme: str = "http", verify=True) -> tuple[subprocess.Popen, str, Path]:
    return start_serve(home, *args, scheme=scheme, verify=verify)


def _stop(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    home = tmp_path_factory.mktemp("served")
    proc, url, log = _start(home, "--workers", "2")
    key_id = re.search(r"AWS_ACCESS_KEY_ID=(\S+)", log.read_text())[1]
    secret = re.search(r"AWS_SECRET_ACCESS_KEY=(\S+)", log.read_text())[1]
    yield proc, url, log, key_id, secret, home
    if proc.poll() is None:
        _stop(proc)


def _aws(url: str, key_id: str, secret: str, home: Path, *args: str) -> dict:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": key_id,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(home / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-aws-credentials"),
    }
    done = subprocess.run(
        [str(BIN / "aws"), "rekognition", *args, "--endpoint-url", url, "--output", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else {}


def test_first_start_makes_a_key_and_says_how_to_call(served):
    _, url, log, key_id, _, home = served
    text = log.read_text()
    assert f"serving on {url} with 2 worker" in text and "boto3.client('rekognition'" in text
    assert (home / "master.key").stat().st_mode & 0o777 == 0o600
    catalog = (home / "catalog.db").read_bytes()
    secret = re.search(r"AWS_SECRET_ACCESS_KEY=(\S+)", text)[1]
    assert key_id.encode() in catalog and secret.encode() not in catalog  # encrypted at rest


def test_aws_cli_detect_faces_and_a_collection_round_trip(served):
    _, url, _, key_id, secret, home = served
    found = _aws(url, key_id, secret, home, "detect-faces", "--image-bytes", f"fileb://{OBAMA_PORTRAIT}")
    assert len(found["FaceDetails"]) == 1
    _aws(url, key_id, secret, home, "create-collection", "--collection-id", "cli")
    indexed = _aws(
        url,
        key_id,
        secret,
        home,
        "index-faces",
        "--collection-id",
        "cli",
        "--image-bytes",
        f"fileb://{OBAMA_PORTRAIT}",
        "--external-image-id",
        "obama",
    )
    face_id = indexed["FaceRecords"][0]["Face"]["FaceId"]
    hits = _aws(
        url,
        key_id,
        secret,
        home,
        "search-faces-by-image",
        "--collection-id",
        "cli",
        "--image-bytes",
        f"fileb://{OBAMA_SPEECH}",
    )
    assert hits["FaceMatches"][0]["Face"]["FaceId"] == face_id
    listed = _aws(url, key_id, secret, home, "list-faces", "--collection-id", "cli")
    assert [f["FaceId"] for f in listed["Faces"]] == [face_id]
    assert "cli" in _aws(url, key_id, secret, home, "list-collections")["CollectionIds"]
    _aws(url, key_id, secret, home, "delete-collection", "--collection-id", "cli")


def test_request_log_is_one_json_line_per_request(served):
    from http_server import client

    _, url, log, key_id, secret, _ = served
    httpx.get(f"{url}/health")
    client(url, key_id, secret).detect_faces(Image={"Bytes": OBAMA_PORTRAIT.read_bytes()})
    deadline = time.monotonic() + 10
    while True:  # the line is written once the answer has gone out
        entries = [
            json.loads(line) for line in log.read_text().splitlines() if line.startswith('{"request_id"')
        ]
        if any(e.get("operation") == "DetectFaces" and e.get("access_key") == key_id for e in entries):
            break
        assert time.monotonic() < deadline, entries
        time.sleep(0.05)
    assert {"method", "path", "status", "ms"} <= set(entries[-1])


def test_sigterm_stops_gracefully(tmp_path):
    import threading

    from conftest import OBAMA_BLUE_ROOM
    from http_server import client

    for workers in ("1", "2"):
        proc, url, log = _start(tmp_path, "--workers", workers)
        if workers == "1":  # a request in flight when the signal comes is still answered
            key_id = re.search(r"AWS_ACCESS_KEY_ID=(\S+)", log.read_text())[1]
            secret = re.search(r"AWS_SECRET_ACCESS_KEY=(\S+)", log.read_text())[1]
            answer, sent = {}, threading.Event()
            big = {"Bytes": OBAMA_BLUE_ROOM.read_bytes()}
            rek = client(url, key_id, secret)
            rek.meta.events.register("before-send.rekognition", lambda sent=sent, **kw: sent.set())

            def compare(rek=rek, big=big, answer=answer):
                answer.update(rek.compare_faces(SourceImage=big, TargetImage=big))

            slow = threading.Thread(target=compare)
            slow.start()
            assert sent.wait(30)  # the request is on its way (a loaded machine may take a while to sign it)
            time.sleep(0.3)
        # uvicorn re-raises the signal once it has shut down, so the exit reads as SIGTERM's
        assert _stop(proc) in (0, -signal.SIGTERM)
        assert log.read_text().count('"event": "stopped"') == int(workers)
        if workers == "1":
            slow.join(30)
            assert answer["FaceMatches"], answer
            lines = log.read_text().splitlines()
            answered = [
                i for i, line in enumerate(lines) if '"CompareFaces"' in line and '"status": 200' in line
            ]
            stopped = [i for i, line in enumerate(lines) if '"event": "stopped"' in line]
            assert answered and answered[0] < stopped[0]  # answered before the worker stopped
        log.unlink()


def test_anonymous_access_only_on_loopback(tmp_path):
    refused = subprocess.run(
        [str(BIN / "faceledger"), "--home", str(tmp_path), "serve", "--host", "0.0.0.0", "--allow-anonymous"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2 and "loopback" in refused.stderr
    proc, url, _ = _start(tmp_path, "--workers", "1", "--allow-anonymous")
    try:
        r = httpx.post(
            url,
            content=b"{}",
            headers={
                "X-Amz-Target": "RekognitionService.ListCollections",
                "Content-Type": "application/x-amz-json-1.1",
            },
        )
        assert r.status_code == 200 and r.json()["CollectionIds"] == []
        assert httpx.get(f"{url}/v1/collections").status_code == 200
    finally:
        _stop(proc)


def test_keys_command_creates_lists_and_revokes(tmp_path):
    def run(*args):
        done = subprocess.run(
            [str(BIN / "faceledger"), "--home", str(tmp_path), "keys", *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        return done.returncode, done.stdout, done.stderr

    code, out, err = run(
        "create", "--name", "door-camera", "--allow", "SearchFacesByImage", "--collections", "staff"
    )
    assert code == 0 and "shown this once" in err
    made = json.loads(out)
    assert made["Operations"] == ["SearchFacesByImage"] and made["Collections"] == ["staff"]
    assert len(made["SecretAccessKey"]) == 40
    listed = json.loads(run("list")[1])["AccessKeys"]
    assert [k["AccessKeyId"] for k in listed] == [made["AccessKeyId"]]
    assert all("SecretAccessKey" not in k for k in listed)
    assert json.loads(run("revoke", made["AccessKeyId"])[1])["Status"] == "Revoked"
    code, _, err = run("create", "--name", "x", "--allow", "DetectText")
    assert code == 1 and "InvalidParameterException" in err and "DetectText" in err
    code, _, err = run("revoke", "FLNOSUCHKEY")
    assert code == 1 and "ResourceNotFoundException" in err


def test_32_concurrent_clients_index_and_search_one_collection(served, tmp_path):
    """Two worker processes, 32 clients at once: every IndexFaces acknowledged is listed, every
    search is answered, and each finds its own person first."""
    from concurrent.futures import ThreadPoolExecutor

    from conftest import BIDEN, crop_around_face, jpeg_bytes
    from http_server import client

    _, url, _, key_id, secret, _ = served
    people = {
        "obama": jpeg_bytes(crop_around_face(OBAMA_PORTRAIT, (250, 40, 720, 510), 220)),
        "biden": jpeg_bytes(crop_around_face(BIDEN, (330, 130, 830, 630), 220)),
    }
    probes = {"obama": OBAMA_SPEECH.read_bytes(), "biden": people["biden"]}
    admin = client(url, key_id, secret)
    admin.create_collection(CollectionId="crowd")

    def one_client(i: int):
        c = client(url, key_id, secret)
        name = "obama" if i % 2 else "biden"
        indexed = c.index_faces(
            CollectionId="crowd", Image={"Bytes": people[name]}, ExternalImageId=f"{name}-{i}", MaxFaces=1
        )
        hits = c.search_faces_by_image(CollectionId="crowd", Image={"Bytes": probes[name]}, MaxFaces=1)
        return name, indexed["FaceRecords"][0]["Face"]["FaceId"], hits["FaceMatches"]

    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(one_client, range(32)))
    acknowledged = {face_id for _, face_id, _ in results}
    assert len(acknowledged) == 32
    listed = set()
    token = None
    while True:
        page = admin.list_faces(
            CollectionId="crowd", MaxResults=10, **({"NextToken": token} if token else {})
        )
        listed |= {f["FaceId"] for f in page["Faces"]}
        token = page.get("NextToken")
        if not token:
            break
    assert listed == acknowledged
    for name, _, matches in results:
        assert matches and matches[0]["Face"]["ExternalImageId"].startswith(name)
    final = admin.search_faces_by_image(CollectionId="crowd", Image={"Bytes": probes["obama"]})
    assert len(final["FaceMatches"]) == 16


def _self_signed(folder: Path) -> tuple[Path, Path]:
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def test_https_with_a_certificate(tmp_path):
    import boto3

    cert, key = _self_signed(tmp_path)
    import ssl

    proc, url, log = start_serve(
        tmp_path,
        "--workers",
        "1",
        "--tls-cert",
        str(cert),
        "--tls-key",
        str(key),
        scheme="https",
        verify=ssl.create_default_context(cafile=str(cert)),
        env={"FACELEDGER_WARM_UP": "0"},  # TLS is the point here, not the models
    )
    try:
        key_id = re.search(r"AWS_ACCESS_KEY_ID=(\S+)", log.read_text())[1]
        secret = re.search(r"AWS_SECRET_ACCESS_KEY=(\S+)", log.read_text())[1]
        assert f"serving on {url}" in log.read_text()
        secure = boto3.session.Session().client(
            "rekognition",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
            verify=str(cert),
        )
        assert secure.list_collections()["CollectionIds"] == []
        # An idle TLS connection left open holds a stopping worker for asyncio's 30-second wait
        # for the client's close_notify: a client that is done says so.
        secure.close()
    finally:
        _stop(proc)

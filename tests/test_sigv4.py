"""faceledger's SigV4 check against botocore's own signer, on requests boto3 never makes."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from faceledger.errors import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
)
from faceledger.server import sigv4

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def _signed(url: str, body: bytes, headers: dict | None = None) -> tuple[AWSRequest, dict[str, str]]:
    req = AWSRequest(
        method="POST",
        url=url,
        data=body,
        headers={"X-Amz-Target": "RekognitionService.ListFaces", **(headers or {})},
    )
    SigV4Auth(Credentials("FLEXAMPLE", SECRET), "rekognition", "eu-central-1").add_auth(req)
    req.headers["host"] = urlsplit(url).netloc
    return req, {k.lower(): v for k, v in req.headers.items()}


def _check(req: AWSRequest, headers: dict[str, str], secret: str = SECRET) -> None:
    claim = sigv4.parse_authorization(headers)
    parts = urlsplit(req.url)
    now = dt.datetime.strptime(claim.amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    sigv4.check_scope(claim, service="rekognition", region=None, now=now)
    canonical = sigv4.canonical_request(
        "POST", parts.path, parts.query, headers, claim.signed_headers, req.body or b""
    )
    sigv4.verify(claim, secret, canonical)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/",
        "http://localhost/a%20b/c~d",
        "http://h/?b=2&a=1&a=0&empty=",
        "http://h/x?q=a%2Fb%20c",
    ],
)
def test_botocore_signatures_verify(url):
    req, headers = _signed(url, b'{"CollectionId": "x"}', {"X-Custom": "  spaced   out  "})
    _check(req, headers)


def test_wrong_secret_and_changed_parts_fail():
    req, headers = _signed("http://h/", b"{}")
    with pytest.raises(InvalidSignatureException):
        _check(req, headers, secret="x" * 40)
    changed = dict(headers, **{"x-amz-target": "RekognitionService.DeleteCollection"})
    with pytest.raises(InvalidSignatureException):
        _check(req, changed)
    req.data = b'{"MaxResults": 1}'
    with pytest.raises(InvalidSignatureException):
        _check(req, headers)


def test_malformed_authorization():
    with pytest.raises(MissingAuthenticationTokenException):
        sigv4.parse_authorization({})
    for bad in (
        "Basic dXNlcjpwYXNz",
        "AWS4-HMAC-SHA256 Credential=a/b, SignedHeaders=host, Signature=" + "0" * 64,
    ):
        with pytest.raises(IncompleteSignatureException):
            sigv4.parse_authorization({"authorization": bad, "x-amz-date": "20260101T000000Z"})
    unsigned_host = (
        "AWS4-HMAC-SHA256 Credential=K/20260101/r/rekognition/aws4_request, SignedHeaders=x-amz-date, "
        "Signature=" + "0" * 64
    )
    with pytest.raises(InvalidSignatureException):
        sigv4.parse_authorization({"authorization": unsigned_host, "x-amz-date": "20260101T000000Z"})

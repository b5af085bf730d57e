"""AWS Signature Version 4, checked on the server side: the same canonical request and the
same HMAC chain that botocore signs with, so any SDK's signature verifies here unchanged."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote

from ..errors import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
)

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_CLOCK_SKEW = dt.timedelta(minutes=15)
MAX_SIGNED_HEADERS_CHARS = 2048  # every SDK signs a dozen headers or so
_AUTH = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+)\s*,\s*"
    r"SignedHeaders=(?P<signed>[^,\s]+)\s*,\s*Signature=(?P<signature>[0-9a-f]{64})\s*$"
)


@dataclass(frozen=True)
class SignedRequest:
    """What the Authorization header claims, before the signature is checked."""

    access_key_id: str
    date: str  # YYYYMMDD of the credential scope
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    amz_date: str


def parse_authorization(headers: dict[str, str]) -> SignedRequest:
    """Read the Authorization header; `headers` has lower-case names."""
    value = headers.get("authorization")
    if not value:
        raise MissingAuthenticationTokenException("Missing Authentication Token")
    m = _AUTH.match(value.strip())
    if not m:
        raise IncompleteSignatureException(
            "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' with algorithm "
            "AWS4-HMAC-SHA256."
        )
    parts = m["credential"].split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        raise IncompleteSignatureException(
            "Credential must have the form KeyId/YYYYMMDD/region/service/aws4_request."
        )
    amz_date = headers.get("x-amz-date", "")
    if not re.fullmatch(r"\d{8}T\d{6}Z", amz_date):
        raise IncompleteSignatureException(
            "The request needs an X-Amz-Date header of the form YYYYMMDDTHHMMSSZ."
        )
    if len(m["credential"]) > 512:
        raise IncompleteSignatureException("Credential is over 512 characters.")
    if len(m["signed"]) > MAX_SIGNED_HEADERS_CHARS:
        raise IncompleteSignatureException(f"SignedHeaders is over {MAX_SIGNED_HEADERS_CHARS} characters.")
    signed = tuple(m["signed"].split(";"))
    # What says which operation runs, and when, must be covered, or a captured signature could
    # be replayed against another operation.
    if "host" not in signed:
        raise InvalidSignatureException("The host header must be signed.")
    unsigned = [
        h
        for h in headers
        if (
            h in ("host", "x-amz-date", "x-amz-target", "content-type")
            or h.startswith(("x-amz-", "x-faceledger-"))
        )
        and h not in signed
    ]
    if unsigned:
        raise InvalidSignatureException(f"These headers must be signed: {_listed(sorted(unsigned))}.")
    return SignedRequest(parts[0], parts[1], parts[2], parts[3], signed, m["signature"], amz_date)


def _listed(names: list[str], most: int = 5) -> str:
    """Header names for a message: a few, each cut short, so a hostile request is not echoed whole."""
    shown = ", ".join(n[:64] for n in names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def check_scope(req: SignedRequest, *, service: str, region: str | None, now: dt.datetime) -> None:
    """Date, clock skew, region and service of the credential scope."""
    try:
        when = dt.datetime.strptime(req.amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        raise IncompleteSignatureException(f"X-Amz-Date {req.amz_date!r} is not a date.") from None
    if abs(now - when) > MAX_CLOCK_SKEW:
        raise InvalidSignatureException(
            f"Signature expired: {req.amz_date} is more than 15 minutes from the server's time "
            f"{now.strftime('%Y%m%dT%H%M%SZ')}."
        )
    if req.date != req.amz_date[:8]:
        raise InvalidSignatureException(f"Credential should be scoped to a valid date, not '{req.date}'.")
    if req.service != service:
        raise InvalidSignatureException(f"Credential should be scoped to correct service: '{service}'.")
    if region is not None and req.region != region:
        raise InvalidSignatureException(f"Credential should be scoped to a valid region, not '{req.region}'.")


def _canonical_query(query: str) -> str:
    pairs = parse_qsl(query, keep_blank_values=True)
    return "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(pairs))


def _canonical_header_value(value: str) -> str:
    return " ".join(value.strip().split())


def canonical_request(
    method: str, path: str, query: str, headers: dict[str, str], signed: tuple[str, ...], body: bytes
) -> str:
    """`path` as it came on the wire (still percent-encoded); encoded once more, as for every
    service but S3."""
    missing = [h for h in signed if h not in headers]
    if missing:
        raise InvalidSignatureException(f"Signed header(s) missing from the request: {_listed(missing)}.")
    payload = hashlib.sha256(body).hexdigest()
    claimed = headers.get("x-amz-content-sha256")
    if claimed == "UNSIGNED-PAYLOAD":
        payload = claimed  # the client signed without the body, and says so
    elif claimed and claimed != payload:
        raise InvalidSignatureException(
            "The provided x-amz-content-sha256 header does not match what was computed."
        )
    return "\n".join(
        [
            method.upper(),
            quote(path or "/", safe="/~"),
            _canonical_query(query),
            "".join(f"{h}:{_canonical_header_value(headers[h])}\n" for h in signed),
            ";".join(signed),
            payload,
        ]
    )


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def expected_signature(req: SignedRequest, secret: str, canonical: str) -> str:
    scope = f"{req.date}/{req.region}/{req.service}/aws4_request"
    to_sign = "\n".join([ALGORITHM, req.amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = signing_key(secret, req.date, req.region, req.service)
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def verify(req: SignedRequest, secret: str, canonical: str) -> None:
    if not hmac.compare_digest(expected_signature(req, secret, canonical), req.signature):
        raise InvalidSignatureException(
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method."
        )

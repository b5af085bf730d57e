"""Short-lived session tokens for the web UI: a browser signs in once with an access key and
then holds only a signed token naming the key and its expiry, never the secret.

A token is `fls1.<payload>.<signature>`: the payload is base64url JSON {"k": key id, "e":
expiry, "i": issued, "n": nonce} and the signature HMAC-SHA256 over it. The HMAC key is derived from the
master key (master.key, mode 0600), so every worker and every machine that shares the master
key accepts the same tokens and nothing new must be copied. A token carries no rights of its
own: each request looks the key up again, so a revoked key's tokens stop working at once."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from pathlib import Path

from ..errors import ExpiredTokenException, UnrecognizedClientException
from ..store.master_key import load_master_key, master_key_path

PREFIX = "fls1."
DEFAULT_SECONDS = 8 * 3600


def session_seconds() -> int:
    """FACELEDGER_SESSION_SECONDS, default 8 hours."""
    value = os.environ.get("FACELEDGER_SESSION_SECONDS")
    if not value:
        return DEFAULT_SECONDS
    seconds = int(value)
    if seconds < 1:
        raise ValueError("FACELEDGER_SESSION_SECONDS must be a positive number of seconds")
    return seconds


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionTokens:
    def __init__(self, secret: bytes, lifetime: int = DEFAULT_SECONDS, clock=time.time):
        self._secret = secret
        self.lifetime = lifetime
        self.clock = clock

    @classmethod
    def for_home(cls, home: Path) -> SessionTokens:
        master = load_master_key(master_key_path(home))
        # A key of its own, so a session signature can never be mistaken for anything the
        # master key protects.
        secret = hmac.new(master, b"faceledger web UI session tokens v1", hashlib.sha256).digest()
        return cls(secret, session_seconds())

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, payload.encode(), hashlib.sha256).digest())

    def issue(self, access_key_id: str) -> tuple[str, int]:
        """A token for the key and its expiry (epoch seconds)."""
        issued = int(self.clock())
        expires = issued + self.lifetime
        # "n": a nonce, so that two sign-ins in one second are two sessions (one can sign out alone)
        claims = {"k": access_key_id, "e": expires, "i": issued, "n": secrets.token_urlsafe(9)}
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        return f"{PREFIX}{payload}.{self._sign(payload)}", expires

    def expiry(self, token: str) -> int:
        """The expiry (epoch seconds) of a token `verify` accepted."""
        return int(json.loads(_unb64(token[len(PREFIX) :].partition(".")[0]))["e"])

    def verify(self, token: str) -> str:
        """The access key id the token was issued to; UnrecognizedClientException for a token
        this service did not sign (or one that was changed), ExpiredTokenException past expiry."""
        payload, _, signature = (
            token[len(PREFIX) :].partition(".") if token.startswith(PREFIX) else ("", "", "")
        )
        if not payload or not hmac.compare_digest(self._sign(payload).encode(), signature.encode()):
            raise UnrecognizedClientException(
                "The session token is not valid (altered, or from another service): sign in again."
            )
        try:
            claims = json.loads(_unb64(payload))
            key_id, expires = str(claims["k"]), int(claims["e"])
        except (ValueError, KeyError, TypeError):
            raise UnrecognizedClientException("The session token is not valid: sign in again.") from None
        if self.clock() >= expires:
            raise ExpiredTokenException("The session has expired: sign in again.")
        return key_id

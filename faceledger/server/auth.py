"""Who is calling and what they may do: SigV4 for Rekognition's protocol, bearer tokens for the
native API, both over the same access keys; per-key rights and rate limits."""

from __future__ import annotations

import datetime as dt
import hmac
import threading
import time
from dataclasses import dataclass

from ..errors import (
    AccessDeniedException,
    ExpiredTokenException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    ProvisionedThroughputExceededException,
    UnrecognizedClientException,
)
from ..store.keys import AccessKey, KeyStore  # KeyStore for typing: the engine's keys (engine.keys) are one
from . import sigv4
from .sessions import PREFIX as SESSION_PREFIX
from .sessions import SessionTokens

SERVICE = "rekognition"


@dataclass(frozen=True)
class Principal:
    """The caller of one request; `key` is None for anonymous access (loopback only)."""

    key: AccessKey | None

    @property
    def name(self) -> str:
        return self.key.access_key_id if self.key else "anonymous"

    def may_use_collection(self, collection_id: str) -> bool:
        return self.key is None or self.key.collections is None or collection_id in self.key.collections

    def authorize(self, operation: str, collection_id: str | None) -> None:
        if self.key is None:
            return
        if self.key.operations is not None and operation not in self.key.operations:
            raise AccessDeniedException(f"The access key {self.name} may not call {operation}.")
        if collection_id is not None and not self.may_use_collection(collection_id):
            raise AccessDeniedException(
                f"The access key {self.name} may not use the collection {collection_id!r}."
            )

    def authorize_buckets(self, buckets) -> None:
        """The key may read S3Objects from each of `buckets` (a key without the limit reads any)."""
        if self.key is None or self.key.buckets is None:
            return
        for bucket in buckets:
            if bucket not in self.key.buckets:
                raise AccessDeniedException(
                    f"The access key {self.name} may not read from the bucket {str(bucket)[:255]!r}."
                )


class RateLimiter:
    """A token bucket per access key: `rate` requests a second, bursts up to `burst`."""

    def __init__(self, rate: float | None, burst: float | None = None, clock=time.monotonic):
        self.clock = clock
        self.rate = rate
        self.burst = burst or (max(1.0, rate) if rate else 0.0)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, who: str) -> None:
        if not self.rate:
            return
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(who, (self.burst, now))
            # A reading earlier than the last (another clock swapped in, a clock stepped back) counts
            # as no time passed, and time is counted on from there: refills never run backwards.
            tokens = min(self.burst, tokens + max(0.0, now - last) * self.rate)
            if tokens < 1.0:
                self._buckets[who] = (tokens, now)
                raise ProvisionedThroughputExceededException(
                    f"Rate limit of {self.rate:g} requests a second for {who} exceeded; retry later."
                )
            self._buckets[who] = (tokens - 1.0, now)


class SharedRateLimiter:
    """The same token bucket per access key, kept in the catalog so that every worker process of
    every node on one PostgreSQL counts against it (store/rate_buckets.py). The clock is wall time,
    which nodes share."""

    def __init__(self, catalog, rate: float, burst: float | None = None, clock=time.time):
        self.catalog = catalog
        self.clock = clock
        self.rate = rate
        self.burst = burst or max(1.0, rate)

    def take(self, who: str) -> None:
        from ..store import rate_buckets

        if not rate_buckets.take(self.catalog, who, self.rate, self.burst, self.clock()):
            raise ProvisionedThroughputExceededException(
                f"Rate limit of {self.rate:g} requests a second for {who} exceeded; retry later."
            )


class Authenticator:
    def __init__(
        self,
        keys: KeyStore,
        *,
        region: str | None = None,
        allow_anonymous: bool = False,
        clock=lambda: dt.datetime.now(dt.UTC),
        sessions: SessionTokens | None = None,
        limiter: RateLimiter | SharedRateLimiter | None = None,
    ):
        """`region`: the only region a signature may be scoped to (None: any, since the region
        adds no secret). `allow_anonymous`: requests without credentials get every right."""
        self.keys = keys
        self.region = region
        self.allow_anonymous = allow_anonymous
        self.limiter = limiter or RateLimiter(None)  # None: no limit
        self.clock = clock
        self.sessions = sessions  # None: web UI session tokens are not accepted

    def _anonymous_or_raise(self, error: Exception) -> Principal:
        if self.allow_anonymous:
            return Principal(None)
        raise error

    def _active(self, access_key_id: str) -> tuple[AccessKey, str]:
        found = self.keys.active_secret(access_key_id)
        if found is None:
            raise UnrecognizedClientException("The security token included in the request is invalid.")
        return found

    def sigv4_claim(self, headers: dict[str, str]) -> tuple[sigv4.SignedRequest, AccessKey, str] | Principal:
        """What can be checked before the body is read: the Authorization header's form, the
        date and scope, and that the key exists and is active. Returns the claim with the key and
        its secret (for sigv4_verify), or the anonymous Principal when anonymous access is on."""
        if "authorization" not in headers:
            return self._anonymous_or_raise(
                MissingAuthenticationTokenException("Missing Authentication Token")
            )
        if "x-amz-security-token" in headers:
            # Temporary credentials (STS) do not exist here: refuse them as AWS refuses a bad one.
            raise UnrecognizedClientException("The security token included in the request is invalid.")
        claim = sigv4.parse_authorization(headers)
        sigv4.check_scope(claim, service=SERVICE, region=self.region, now=self.clock())
        key, secret = self._active(claim.access_key_id)
        return claim, key, secret

    def sigv4_verify(
        self, claimed, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> Principal:
        """The signature over the whole request, once its body is in."""
        if isinstance(claimed, Principal):
            return claimed
        claim, key, secret = claimed
        sigv4.verify(
            claim, secret, sigv4.canonical_request(method, path, query, headers, claim.signed_headers, body)
        )
        self.limiter.take(key.access_key_id)
        return Principal(key)

    def sigv4(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> Principal:
        """Verify a SigV4-signed request; `headers` with lower-case names."""
        return self.sigv4_verify(self.sigv4_claim(headers), method, path, query, headers, body)

    def bearer(self, headers: dict[str, str]) -> Principal:
        """`Authorization: Bearer ACCESS_KEY_ID:SECRET` for the native API."""
        value = headers.get("authorization", "")
        if not value:
            return self._anonymous_or_raise(
                MissingAuthenticationTokenException("Missing Authentication Token")
            )
        scheme, _, token = value.partition(" ")
        token = token.strip()
        if scheme.lower() == "bearer" and self.sessions is not None and token.startswith(SESSION_PREFIX):
            return self.session(token)
        key_id, sep, given = token.partition(":")
        if scheme.lower() != "bearer" or not sep:
            raise UnrecognizedClientException("Use 'Authorization: Bearer ACCESS_KEY_ID:SECRET_ACCESS_KEY'.")
        return self.key_secret(key_id, given)

    def key_secret(self, key_id: str, given: str) -> Principal:
        """An access key id and its secret, as given in a bearer header or at sign-in."""
        key, secret = self._active(key_id)
        if not hmac.compare_digest(secret.encode(), given.encode()):
            raise InvalidSignatureException("The secret access key does not match the access key id.")
        self.limiter.take(key.access_key_id)
        return Principal(key)

    def session(self, token: str) -> Principal:
        """A web UI session token: the key it names, with that key's rights, if still active."""
        key_id = self.sessions.verify(token)
        if self.keys.session_ended(token):
            raise ExpiredTokenException("This session was signed out: sign in again.")
        key, _ = self._active(key_id)  # revoked since sign-in: refused now
        self.limiter.take(key.access_key_id)
        return Principal(key)

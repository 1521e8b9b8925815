"""Per-client token buckets and the Genesys rate-limit headers.

Each OAuth client owns a bucket of `requests` tokens that refills continuously at
`requests / per_seconds` tokens a second on the bus's clock. A request that finds a
whole token takes it; one that does not is refused with 429. The headers every answer
carries describe the client's bucket *after* the request:

- `inin-ratelimit-allowed`: the bucket size (`requests`);
- `inin-ratelimit-count`: tokens in use (requests not yet refilled), rounded up;
- `inin-ratelimit-reset`: whole seconds until the bucket is full again.

A refusal's `Retry-After` is the whole seconds until one token is back (at least 1).
"""

from __future__ import annotations

import math
from typing import NamedTuple

from chainsim.fakebus.faults import RateLimit


class Quota(NamedTuple):
    """One client's bucket as one answer reports it."""

    allowed: int
    used: int
    reset: int
    granted: bool
    retry_after: int = 0

    def headers(self) -> dict[str, str]:
        """The `inin-ratelimit-*` headers (plus `Retry-After` on a refusal)."""
        out = {
            "inin-ratelimit-allowed": str(self.allowed),
            "inin-ratelimit-count": str(self.used),
            "inin-ratelimit-reset": str(self.reset),
        }
        if not self.granted:
            out["Retry-After"] = str(self.retry_after)
        return out


class _Bucket:
    __slots__ = ("stamp", "tokens")

    def __init__(self, tokens: float, stamp: float) -> None:
        self.tokens = tokens
        self.stamp = stamp


class RateLimiter:
    """Token buckets keyed by client id, on times the caller passes in."""

    def __init__(self, limit: RateLimit) -> None:
        self.capacity = float(limit.requests)
        self.rate = limit.requests / limit.per_seconds
        self._buckets: dict[str, _Bucket] = {}

    def _refilled(self, client: str, now: float) -> _Bucket:
        bucket = self._buckets.get(client)
        if bucket is None:
            bucket = self._buckets[client] = _Bucket(self.capacity, now)
        elif now > bucket.stamp:
            bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.stamp) * self.rate)
            bucket.stamp = now
        return bucket

    def take(self, client: str, now: float) -> Quota:
        """Take one token for `client` at `now`, or refuse; the quota either way."""
        bucket = self._refilled(client, now)
        if bucket.tokens >= 1.0 - 1e-9:
            bucket.tokens = max(0.0, bucket.tokens - 1.0)
            return self._quota(bucket, granted=True)
        wait = (1.0 - bucket.tokens) / self.rate
        return self._quota(bucket, granted=False, retry_after=max(1, math.ceil(wait - 1e-9)))

    def peek(self, client: str, now: float) -> Quota:
        """The quota of `client` at `now` without taking a token."""
        return self._quota(self._refilled(client, now), granted=True)

    def _quota(self, bucket: _Bucket, *, granted: bool, retry_after: int = 0) -> Quota:
        used = self.capacity - bucket.tokens
        return Quota(
            allowed=int(self.capacity),
            used=max(0, math.ceil(used - 1e-9)),
            reset=max(0, math.ceil(used / self.rate - 1e-9)),
            granted=granted,
            retry_after=retry_after,
        )

    def reset(self) -> None:
        """Forget every bucket (all clients start full again)."""
        self._buckets.clear()

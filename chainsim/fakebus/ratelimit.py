"""Per-client rate limits and the Genesys rate-limit headers: a window or a token bucket.

Every answer carries the client's quota *after* the request:
`inin-ratelimit-allowed` (the limit), `inin-ratelimit-count` and `inin-ratelimit-reset`
(whole seconds). A refusal's `Retry-After` is whole seconds (at least 1).

- `WindowLimiter` (the default, as Genesys reports it): a client's window opens with
  its first request and lasts `per_seconds`; `count` is the requests since the window
  began, `reset` the seconds left to its end. Genesys's SDK logging sample shows
  `count=1, reset=61` after one request (issue 11): the count restarts per window and
  the reset counts down to the window's end. A request over the limit waits for the
  next window (`Retry-After` = `reset`).
- `RateLimiter` (`rate_limit.model: bucket`): a bucket of `requests` tokens refilling
  continuously at `requests / per_seconds`; `count` = tokens in use, `reset` = seconds
  until full. The refill is capped at the bucket size, so an idle client never bursts
  more than `requests` (issue 13).
"""

from __future__ import annotations

import math
from typing import NamedTuple, Protocol

from chainsim.fakebus.faults import RateLimit

_EPS = 1e-9


class Quota(NamedTuple):
    """One client's quota as one answer reports it."""

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


class Limiter(Protocol):
    """What the handler needs of a rate limiter (times are the caller's clock)."""

    def take(self, client: str, now: float) -> Quota:
        """Count one request of `client` at `now`, or refuse it."""
        ...

    def peek(self, client: str, now: float) -> Quota:
        """The quota of `client` at `now` without counting a request."""
        ...

    def fresh(self) -> Quota:
        """The quota of a client that has sent nothing."""
        ...

    def reset(self) -> None:
        """Forget every client."""
        ...


def make_limiter(limit: RateLimit) -> Limiter:
    """The limiter `limit.model` names."""
    return RateLimiter(limit) if limit.model == "bucket" else WindowLimiter(limit)


# --------------------------------------------------------------------------- window


class _Window:
    __slots__ = ("count", "start")

    def __init__(self, start: float) -> None:
        self.start = start
        self.count = 0


class WindowLimiter:
    """Fixed windows per client: at most `requests` in `per_seconds` from the first one."""

    def __init__(self, limit: RateLimit) -> None:
        self.allowed = limit.requests
        self.length = limit.per_seconds
        self._windows: dict[str, _Window] = {}

    def _current(self, client: str, now: float) -> _Window:
        window = self._windows.get(client)
        if window is None or now >= window.start + self.length - _EPS:
            window = self._windows[client] = _Window(now)
        return window

    def _left(self, window: _Window, now: float) -> int:
        return max(0, math.ceil(window.start + self.length - now - _EPS))

    def take(self, client: str, now: float) -> Quota:
        """Count one request in the client's window, or refuse until the window ends."""
        window = self._current(client, now)
        left = self._left(window, now)
        if window.count >= self.allowed:
            return Quota(self.allowed, window.count, left, granted=False, retry_after=max(1, left))
        window.count += 1
        return Quota(self.allowed, window.count, left, granted=True)

    def peek(self, client: str, now: float) -> Quota:
        """The client's window at `now` (a client without one reports a fresh quota)."""
        window = self._windows.get(client)
        if window is None or now >= window.start + self.length - _EPS:
            return self.fresh()
        return Quota(self.allowed, window.count, self._left(window, now), granted=True)

    def fresh(self) -> Quota:
        """Nothing counted, nothing to wait for."""
        return Quota(self.allowed, 0, 0, granted=True)

    def reset(self) -> None:
        """Forget every window."""
        self._windows.clear()


# --------------------------------------------------------------------------- bucket


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
            # capped: an idle client's bucket holds at most `capacity` tokens
            bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.stamp) * self.rate)
            bucket.stamp = now
        return bucket

    def take(self, client: str, now: float) -> Quota:
        """Take one token for `client` at `now`, or refuse; the quota either way."""
        bucket = self._refilled(client, now)
        if bucket.tokens >= 1.0 - _EPS:
            bucket.tokens = max(0.0, bucket.tokens - 1.0)
            return self._quota(bucket, granted=True)
        wait = (1.0 - bucket.tokens) / self.rate
        return self._quota(bucket, granted=False, retry_after=max(1, math.ceil(wait - _EPS)))

    def peek(self, client: str, now: float) -> Quota:
        """The quota of `client` at `now` without taking a token."""
        return self._quota(self._refilled(client, now), granted=True)

    def fresh(self) -> Quota:
        """A full bucket."""
        return Quota(int(self.capacity), 0, 0, granted=True)

    def _quota(self, bucket: _Bucket, *, granted: bool, retry_after: int = 0) -> Quota:
        used = self.capacity - bucket.tokens
        return Quota(
            allowed=int(self.capacity),
            used=max(0, math.ceil(used - _EPS)),
            reset=max(0, math.ceil(used / self.rate - _EPS)),
            granted=granted,
            retry_after=retry_after,
        )

    def reset(self) -> None:
        """Forget every bucket (all clients start full again)."""
        self._buckets.clear()

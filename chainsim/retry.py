"""Retries (tenacity, every wait on the injected clock) and a client-side pacer.

`RetryPolicy` says how often and how long: a 429 waits its `Retry-After` (capped), any
other retryable error (5xx, transport, a 429 without a hint) waits an exponential
backoff with full jitter from a seeded RNG. `Pacer` mirrors the server's token bucket
from the `inin-ratelimit-*` headers so a run stays under the limit instead of
bouncing off it; all workers of a run share one pacer.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import tenacity
from tenacity.wait import wait_base

from chainsim.bus.base import BusError, Exchange, RateLimited, parse_retry_after
from chainsim.clock import Clock

T = TypeVar("T")

ALLOWED = "inin-ratelimit-allowed"
COUNT = "inin-ratelimit-count"
RESET = "inin-ratelimit-reset"


@dataclass(frozen=True)
class RetryPolicy:
    """How retries behave: attempts, backoff bounds, the Retry-After cap, 409 re-merges."""

    max_attempts: int = 8
    base_delay: float = 0.5
    max_delay: float = 30.0
    retry_after_cap: float = 60.0
    max_conflicts: int = 8
    seed: int = 0
    pacing: bool = True

    def rng(self, key: str = "") -> random.Random:
        """A deterministic RNG for one unit of work (so thread scheduling cannot change it)."""
        return random.Random(f"{self.seed}:{key}")


def is_retryable(exc: BaseException) -> bool:
    """True for bus errors that a repeat may fix: 429, 5xx, transport errors."""
    return isinstance(exc, BusError) and exc.retryable


class FullJitterWait(wait_base):
    """tenacity wait: Retry-After (capped) for a 429 that has one, else full-jitter backoff."""

    def __init__(self, policy: RetryPolicy, rng: random.Random) -> None:
        self.policy = policy
        self.rng = rng

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        """Seconds to wait before the next attempt."""
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            return min(exc.retry_after, self.policy.retry_after_cap)
        ceiling = min(
            self.policy.max_delay, self.policy.base_delay * 2 ** (retry_state.attempt_number - 1)
        )
        return self.rng.uniform(0.0, ceiling)


def call_with_retry(
    fn: Callable[[], T],
    *,
    policy: RetryPolicy,
    clock: Clock,
    rng: random.Random,
    pacer: Pacer | None = None,
    on_attempt: Callable[[], None] | None = None,
    on_wait: Callable[[BaseException, float], None] | None = None,
) -> T:
    """Call `fn` (each attempt admitted by the pacer) until success or a permanent error."""

    def attempt() -> T:
        if pacer is not None:
            pacer.acquire()
        if on_attempt is not None:
            on_attempt()
        return fn()

    def before_sleep(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        if pacer is not None and isinstance(exc, RateLimited):
            pacer.hold(wait)
        if on_wait is not None and exc is not None:
            on_wait(exc, wait)

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(policy.max_attempts),
        wait=FullJitterWait(policy, rng),
        retry=tenacity.retry_if_exception(is_retryable),
        sleep=clock.sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    return retrying(attempt)


def _header(headers: Mapping[str, str], name: str) -> float | None:
    for key, value in headers.items():
        if key.lower() == name:
            try:
                return float(value)
            except (TypeError, ValueError):
                return None
    return None


class Pacer:
    """A client-side mirror of the server's token bucket, learned from its headers.

    Each `acquire()` takes one token, waiting (on the clock, outside any lock) until the
    bucket would hold one more than `margin`. The server's answers correct the mirror:
    level = allowed - count, minus requests admitted but not yet answered; refill rate
    = count / reset (the bucket refills `count` tokens in `reset` seconds; the fake and
    Genesys round both up, so the observation with the longest reset is used). A 429
    holds every worker until its `Retry-After` has passed.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        margin: float = 1.0,
        enabled: bool = True,
        retry_after_cap: float = RetryPolicy.retry_after_cap,
    ) -> None:
        self.clock = clock
        self.margin = margin
        self.enabled = enabled
        self.retry_after_cap = retry_after_cap
        self._lock = threading.Lock()
        self._capacity: float | None = None
        self._rate: float | None = None
        self._rate_basis = 1.0
        self._level = 0.0
        self._t = clock.now()
        self._blocked_until = float("-inf")
        self._pending = 0
        self.waited = 0.0

    def acquire(self) -> float:
        """Wait for a token; returns the seconds waited."""
        with self._lock:
            now = self.clock.now()
            start = max(now, self._blocked_until)
            self._pending += 1
            if self.enabled and self._rate and self._capacity is not None:
                start = max(start, self._t)
                level = min(self._capacity, self._level + self._rate * (start - self._t))
                floor = 1.0 + self.margin
                if level < floor:
                    start += (floor - level) / self._rate
                    level = floor
                self._level, self._t = level - 1.0, start
            wait = max(0.0, start - now)
            self.waited += wait
        if wait > 0:
            self.clock.sleep(wait)
        return wait

    def hold(self, seconds: float) -> None:
        """Admit nobody for `seconds` from now (after a 429)."""
        with self._lock:
            self._blocked_until = max(self._blocked_until, self.clock.now() + max(0.0, seconds))

    def observe(self, exchange: Exchange) -> None:
        """Learn from one answer's rate-limit headers (an `ExchangeObserver`)."""
        if exchange.path.startswith("/oauth/"):
            return
        headers = exchange.headers or {}
        allowed, count, reset = (
            _header(headers, ALLOWED),
            _header(headers, COUNT),
            _header(headers, RESET),
        )
        with self._lock:
            self._pending = max(0, self._pending - 1)
            at = exchange.started + exchange.elapsed
            if exchange.status == 429:
                hint = parse_retry_after(headers)
                if hint is not None:  # capped as the retry policy caps it
                    hint = min(hint, self.retry_after_cap)
                    self._blocked_until = max(self._blocked_until, at + hint)
            if allowed is None or count is None:
                return
            self._capacity = allowed
            # Headers round count and reset up to whole units: the estimate with the
            # longest reset has the smallest relative error, so it wins.
            if reset is not None and reset >= self._rate_basis and count > 0:
                self._rate, self._rate_basis = count / reset, reset
            self._level = max(0.0, allowed - count) - self._pending
            self._t = at

    def snapshot(self) -> dict[str, Any]:
        """The pacer's current estimate (for tests and the report)."""
        with self._lock:
            return {
                "capacity": self._capacity,
                "rate": self._rate,
                "level": self._level,
                "waited": self.waited,
            }

"""One clock for the whole run: real time in production, virtual time in tests.

Every wait in chainsim (retry backoff, pacing, the fake bus's latency) goes through a
`Clock`, so a `VirtualClock` shared by the fake bus and the orchestrator makes a run
deterministic and instant while still measuring how long it *would* have taken.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """Monotonic seconds and a way to wait."""

    def now(self) -> float:
        """Seconds on this clock (monotonic; the origin is arbitrary)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait `seconds` on this clock."""
        ...


class SystemClock:
    """The machine's monotonic clock; `sleep` really sleeps."""

    def now(self) -> float:
        """Seconds from `time.monotonic()`."""
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        """Block the calling thread for `seconds` of real time."""
        if seconds > 0:
            time.sleep(seconds)

    def __repr__(self) -> str:
        return "SystemClock()"


class VirtualClock:
    """Simulated time: `sleep` advances the clock instantly instead of waiting.

    A thread that is not an *actor* advances time directly when it sleeps. Threads
    that run concurrently in one simulated timeline register with `actor()`: an actor's
    sleep blocks until every registered actor is asleep, then the earliest sleeper
    wakes and time jumps to its wake-up time. So eight workers that each sleep 100 ms
    take 100 ms of virtual time together, as they would on a real clock. A pool that
    starts workers calls `reserve(n)` first, so no worker's sleep runs ahead before
    its siblings have registered; each reserved slot must then be claimed by `actor()`.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)
        self._lock = threading.Condition()
        self._actors = 0
        self._sleepers: list[tuple[float, int, threading.Event]] = []
        self._seq = itertools.count()
        self._actor_ids: set[int] = set()
        self._reserved = 0

    def now(self) -> float:
        """Current virtual time in seconds."""
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward by `seconds` without anyone sleeping."""
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        with self._lock:
            self._now += seconds

    def sleep(self, seconds: float) -> None:
        """Advance virtual time by `seconds` (in step with the other actors, if any)."""
        seconds = max(0.0, float(seconds))
        me = threading.get_ident()
        with self._lock:
            if me not in self._actor_ids:
                self._now += seconds
                return
            woken = threading.Event()
            heapq.heappush(self._sleepers, (self._now + seconds, next(self._seq), woken))
            self._wake_earliest_if_all_asleep()
        woken.wait()

    def reserve(self, count: int) -> None:
        """Hold `count` actor slots for threads about to start (each claims one in `actor`)."""
        with self._lock:
            self._actors += count
            self._reserved += count

    @contextmanager
    def actor(self) -> Iterator[None]:
        """Register the calling thread as one concurrent actor for the duration."""
        me = threading.get_ident()
        with self._lock:
            self._actor_ids.add(me)
            if self._reserved:
                self._reserved -= 1
            else:
                self._actors += 1
        try:
            yield
        finally:
            with self._lock:
                self._actor_ids.discard(me)
                self._actors -= 1
                self._wake_earliest_if_all_asleep()

    def _wake_earliest_if_all_asleep(self) -> None:
        """With the lock held: if every actor sleeps, wake the earliest one."""
        if self._sleepers and len(self._sleepers) >= self._actors:
            wake_at, _, event = heapq.heappop(self._sleepers)
            self._now = max(self._now, wake_at)
            event.set()

    def __repr__(self) -> str:
        return f"VirtualClock(now={self._now:.3f})"

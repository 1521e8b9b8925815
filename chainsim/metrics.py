"""Request metrics of one run: latencies (virtual and wall), percentiles, status counts.

`Metrics.observe` is an `ExchangeObserver`: give it to a bus client and it records every
HTTP exchange, tagged with the orchestrator step under way (`begin_step`). `summary()` is
the `metrics` object of the apply report (DESIGN §9), with a `steps` breakdown.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Sequence
from typing import Any

from chainsim.bus.base import Exchange
from chainsim.clock import Clock


def percentile(values: Sequence[float], q: float) -> float:
    """The `q`-th percentile (0..100) with linear interpolation; 0.0 for no values."""
    if not values:
        return 0.0
    if len(values) == 1:
        return float(values[0])
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    if q <= 0:
        return float(min(values))
    if q >= 100:
        return float(max(values))
    index = int(q) - 1
    low = cuts[index]
    if q == int(q) or index + 1 >= len(cuts):
        return float(low)
    return float(low + (cuts[index + 1] - low) * (q - int(q)))


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """`{p50, p95, p99}` in milliseconds (3 decimals) of latencies given in seconds."""
    ms = [s * 1000.0 for s in seconds]
    return {f"p{q}": round(percentile(ms, q), 3) for q in (50, 95, 99)}


class Metrics:
    """Collects every exchange of a run and the run's virtual and wall duration."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self.exchanges: list[Exchange] = []
        self._tags: list[str] = []
        self._step = "run"
        self._step_started: float | None = None
        self._step_seconds: dict[str, float] = {}
        self._started: tuple[float, float] | None = None
        self._stopped: tuple[float, float] | None = None

    def observe(self, exchange: Exchange) -> None:
        """Record one exchange (an `ExchangeObserver`) under the current step."""
        with self._lock:
            self.exchanges.append(exchange)
            self._tags.append(self._step)

    def begin_step(self, name: str) -> None:
        """Start an orchestrator step (inventory, apply, rollback, ...): later exchanges count
        toward it, and the time until the next step (or `stop`) is its duration."""
        with self._lock:
            self._close_step()
            self._step, self._step_started = name, self.clock.now()
            self._step_seconds.setdefault(name, 0.0)

    def _close_step(self) -> None:
        """With the lock held: add the running step's time to its total."""
        if self._step_started is not None:
            spent = self.clock.now() - self._step_started
            self._step_seconds[self._step] = self._step_seconds.get(self._step, 0.0) + spent
            self._step_started = None

    def reset(self) -> None:
        """Forget every exchange, step and the start and stop marks (a new run begins)."""
        with self._lock:
            self.exchanges, self._tags = [], []
            self._step, self._step_started, self._step_seconds = "run", None, {}
        self._started = self._stopped = None

    def start(self) -> None:
        """Mark the start of the run (virtual and wall), unless already started."""
        if self._started is None:
            self._started = (self.clock.now(), time.perf_counter())

    def stop(self) -> None:
        """Mark the end of the run (and of its last step)."""
        with self._lock:
            self._close_step()
        self._stopped = (self.clock.now(), time.perf_counter())

    def count(self, status: int | None = None, *, family: int | None = None) -> int:
        """Exchanges with this exact status, or in this status family (5 for 5xx)."""
        with self._lock:
            items = list(self.exchanges)
        if family is not None:
            return sum(1 for e in items if e.status is not None and e.status // 100 == family)
        return sum(1 for e in items if e.status == status)

    def durations(self) -> tuple[float, float]:
        """(virtual seconds, wall seconds) from start to stop (or to now)."""
        if self._started is None:
            return 0.0, 0.0
        end = self._stopped or (self.clock.now(), time.perf_counter())
        return end[0] - self._started[0], end[1] - self._started[1]

    def summary(self) -> dict[str, Any]:
        """The report's `metrics`: requests, 409/429/5xx, durations, latency, success rate."""
        with self._lock:
            items = list(self.exchanges)
            tags = list(self._tags)
            step_seconds = dict(self._step_seconds)
        virtual, wall = self.durations()
        ok = sum(1 for e in items if e.status is not None and 200 <= e.status < 300)
        return {
            "requests": len(items),
            "status_409": sum(1 for e in items if e.status == 409),
            "status_429": sum(1 for e in items if e.status == 429),
            "status_5xx": sum(1 for e in items if e.status is not None and e.status >= 500),
            "transport_errors": sum(1 for e in items if e.status is None),
            "virtual_seconds": round(virtual, 6),
            "wall_seconds": round(wall, 6),
            "latency_ms": latency_summary([e.elapsed for e in items]),
            "wall_latency_ms": latency_summary([e.wall_elapsed for e in items]),
            "success_rate": round(ok / len(items), 6) if items else 1.0,
            "steps": _steps(items, tags, step_seconds),
        }


def _steps(
    items: Sequence[Exchange], tags: Sequence[str], seconds: dict[str, float]
) -> dict[str, dict[str, Any]]:
    """Per step, in the order the steps began: requests, virtual duration, latencies."""
    names = list(dict.fromkeys([*seconds, *tags]))
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        mine = [e for e, tag in zip(items, tags, strict=True) if tag == name]
        out[name] = {
            "requests": len(mine),
            "virtual_seconds": round(seconds.get(name, 0.0), 6),
            "latency_ms": latency_summary([e.elapsed for e in mine]),
        }
    return out

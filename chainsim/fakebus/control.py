"""Control endpoints of `fake serve`, on the API's own port (like moto's `/moto-api/`).

- `GET  /_chainsim/health`: 200 `{"status": "ok"}`;
- `GET  /_chainsim/state`: the stored rules, triggers, scheduled triggers, registered
  workflows and request counters;
- `POST /_chainsim/reset`: back to the state the server started with (seeded files);
- `GET  /_chainsim/requests`: the request log (method, path, query, status, client, time).

They bypass the fake's handler, so they are never authenticated, rate-limited, faulted
or counted in `FakeBus.requests`. Genesys has no such endpoints: they are chainsim's.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

import httpx

from chainsim.fakebus.asgi import CONTROL_PREFIX, Served, error_response, new_context_id

if TYPE_CHECKING:
    from chainsim.fakebus.bus import FakeBus

LOG_SIZE = 10_000  # entries kept by the request log (oldest dropped first)


def _utc(at: float) -> str:
    """`at` (Unix seconds) as ISO 8601 UTC with milliseconds, `Z` suffix."""
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


class RequestLog:
    """The server's request log: the last `size` API requests; `out` gets one line each.

    Every answer (control endpoints and protocol errors included) is printed to `out`;
    control requests are not kept, so `/_chainsim/requests` shows the API traffic only.
    """

    def __init__(
        self,
        out: TextIO | None = None,
        *,
        size: int = LOG_SIZE,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.out = out
        self.wall = wall
        self._entries: deque[tuple[Served, float]] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, served: Served) -> None:
        """Keep one answer with the wall-clock time (unless a control request); print it."""
        at = self.wall()
        if not served.control:
            with self._lock:
                self._entries.append((served, at))
        if self.out is not None:
            target = served.path + (f"?{served.query}" if served.query else "")
            line = f"{_utc(at)} {served.client} {served.method} {target} {served.status}"
            self.out.write(line.encode("ascii", "backslashreplace").decode("ascii") + "\n")
            self.out.flush()

    def entries(self) -> list[dict[str, Any]]:
        """The kept entries, oldest first: method, path, query, status, client, time (UTC)."""
        with self._lock:
            kept = list(self._entries)
        return [
            {
                "method": s.method,
                "path": s.path,
                "query": s.query,
                "status": s.status,
                "client": s.client,
                "time": _utc(at),
            }
            for s, at in kept
        ]

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()


def _seedable(entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Wire entities as seeds: without the `selfUri` the listing adds."""
    return [{k: v for k, v in e.items() if k != "selfUri"} for e in entities]


class Control:
    """The control endpoints of one served `FakeBus`; `control(request) -> response`."""

    def __init__(self, bus: FakeBus, log: RequestLog) -> None:
        self.bus = bus
        self.log = log
        # the seeded state, restored by POST /_chainsim/reset
        self._rules = bus.rules()
        self._triggers = _seedable(bus.triggers())
        self._scheduled = _seedable(bus.scheduled())
        self._routes: dict[tuple[str, str], Callable[[], Any]] = {
            ("GET", "health"): self.health,
            ("GET", "state"): self.state,
            ("POST", "reset"): self.reset,
            ("GET", "requests"): self.requests,
        }

    def __call__(self, request: httpx.Request) -> httpx.Response:
        """Answer one `/_chainsim/...` request (404 / 405 for anything else)."""
        name = request.url.path[len(CONTROL_PREFIX) :]
        action = self._routes.get((request.method, name))
        if action is None:
            allowed = any(n == name for _, n in self._routes)
            status = 405 if allowed else 404
            message = (
                f"{request.method} is not allowed on {request.url.path}"
                if allowed
                else f"No control endpoint at {request.url.path}"
            )
            return error_response(status, message, new_context_id())
        return httpx.Response(200, json=action())

    def health(self) -> dict[str, Any]:
        """The server answers."""
        return {"status": "ok"}

    def state(self) -> dict[str, Any]:
        """Rules, triggers, scheduled triggers, workflows and request counters."""
        bus = self.bus
        records = list(bus.requests)
        out: dict[str, Any] = {
            "rules": [rule.to_wire() for rule in bus.rules()],
            "triggers": bus.triggers(),
            "scheduledTriggers": bus.scheduled(),
            "workflows": bus.workflows(),
        }
        out["requests"] = {
            "total": len(records),
            "byStatus": {str(k): v for k, v in sorted(Counter(r.status for r in records).items())},
            "byMethod": dict(sorted(Counter(r.method for r in records).items())),
        }
        return out

    def reset(self) -> dict[str, Any]:
        """Back to the seeded state: rules, triggers, limiter, fault windows, both logs."""
        bus = self.bus
        with bus.state.lock:
            bus.reset()
            bus.seed_rules(self._rules)
            bus.seed_triggers(self._triggers)
            bus.seed_scheduled(self._scheduled)
        self.log.clear()
        return {
            "status": "reset",
            "rules": len(self._rules),
            "triggers": len(self._triggers),
            "scheduledTriggers": len(self._scheduled),
        }

    def requests(self) -> dict[str, Any]:
        """The request log, oldest first."""
        return {"entities": self.log.entries()}

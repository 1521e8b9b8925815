"""FaultPlan: the faults file of DESIGN §9, and the seeded dice that apply it.

A `FaultPlan` is plain configuration (pydantic, all keys optional, loadable from YAML
or JSON). `FaultDice` turns it into decisions for one bus: each kind of fault draws
from its own `random.Random` derived from the plan's seed, so adding latency never
changes which requests a storm refuses, and the same seed with the same requests
gives the same answers. Times are seconds since the bus started (creation or reset).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from chainsim.model import load_mapping

# Upper bounds keep every figure the fake derives (waits, headers, the report's
# latencies) finite: an absurd faults file is bad input, not an overflow mid-run.
MAX_SECONDS = 366 * 86_400  # any time or duration: at most a year
MAX_LATENCY_MS = 3_600_000  # an hour per request
MAX_REQUESTS = 1_000_000_000
MAX_DEPTH = 10_000  # as the plan's max_depth


class _Plan(BaseModel):
    # strict: a mistyped value (`fraction: true`, `seed: "7"`) is refused, not coerced;
    # no inf/nan: `.inf` is not a usable time, latency or rate.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class RateLimit(_Plan):
    """`requests` per `per_seconds` per OAuth client, counted in a window or a token bucket.

    `window` (default) is what Genesys reports: a count since the client's window began
    and the seconds to its end (DESIGN §5); `bucket` refills continuously.
    """

    requests: int = Field(default=300, ge=1, le=MAX_REQUESTS)
    per_seconds: float = Field(default=60.0, gt=0, le=MAX_SECONDS)
    model: Literal["window", "bucket"] = "window"


class Window(_Plan):
    """A time window `[start, start + duration)` in which a fraction of requests fail."""

    start: float = Field(default=0.0, ge=0, le=MAX_SECONDS)
    duration: float = Field(ge=0, le=MAX_SECONDS)
    fraction: float = Field(default=1.0, ge=0, le=1)

    def covers(self, t: float) -> bool:
        """True when `t` (seconds since the bus started) lies in this window."""
        return self.start <= t < self.start + self.duration


class Storm(Window):
    """A 429 storm: refused requests carry `Retry-After: retry_after`."""

    retry_after: int = Field(default=5, ge=0, le=MAX_SECONDS)


class ServerErrors(Window):
    """A burst of 5xx answers with `status`."""

    status: int = Field(default=503, ge=500, le=599)


class Conflicts(_Plan):
    """A concurrent writer edits a rule's description just before a PUT lands."""

    fraction: float = Field(default=0.0, ge=0, le=1)


class Latency(_Plan):
    """Per-request latency: `mean_ms` plus uniform jitter in `[-jitter_ms, +jitter_ms]`."""

    mean_ms: float = Field(default=0.0, ge=0, le=MAX_LATENCY_MS)
    jitter_ms: float = Field(default=0.0, ge=0, le=MAX_LATENCY_MS)

    @model_validator(mode="after")
    def _jitter_fits(self) -> Latency:
        if self.jitter_ms > self.mean_ms:
            raise ValueError("jitter_ms must not exceed mean_ms")
        return self


class FaultPlan(_Plan):
    """Everything that can go wrong on the fake bus (DESIGN §9 faults file)."""

    seed: int = 0
    rate_limit: RateLimit = Field(default_factory=RateLimit)
    storms: list[Storm] = Field(default_factory=list)
    conflicts: Conflicts = Field(default_factory=Conflicts)
    server_errors: list[ServerErrors] = Field(default_factory=list)
    latency: Latency = Field(default_factory=Latency)
    token_ttl_seconds: int = Field(default=86400, ge=1, le=MAX_SECONDS)
    max_depth: int = Field(default=5, ge=1, le=MAX_DEPTH)

    @classmethod
    def load(cls, path: str | Path) -> FaultPlan:
        """Read a faults file (YAML or JSON); bad content raises `InputError`."""
        return load_mapping(path, cls, "expected a mapping of fault settings")


def _first_covering(windows: Sequence[Window], t: float) -> Any:
    for window in windows:
        if window.covers(t):
            return window
    return None


class FaultDice:
    """Seeded decisions for one bus: which request a storm, a burst or a writer hits.

    Ids of created rules and tokens depend on the seed only, so two doors fed the same
    requests agree. `contextId`s and correlation ids also depend on `run_id`: a new run
    id gives fresh ones (Genesys never repeats them), the same seed and run id replay
    them byte for byte.
    """

    def __init__(self, plan: FaultPlan, run_id: str = "") -> None:
        self.plan = plan
        self.run_id = run_id
        seed = plan.seed
        self._storm = random.Random(f"{seed}:storm")
        self._server = random.Random(f"{seed}:server")
        self._conflict = random.Random(f"{seed}:conflict")
        self._latency = random.Random(f"{seed}:latency")
        self._ids = random.Random(f"{seed}:ids")
        self._tokens = random.Random(f"{seed}:tokens")
        self._contexts = random.Random(f"{seed}:{run_id}:contexts")
        self._correlations = random.Random(f"{seed}:{run_id}:correlations")

    def latency_seconds(self) -> float:
        """This request's latency in seconds (0 without a latency plan)."""
        lat = self.plan.latency
        if not lat.mean_ms:
            return 0.0
        jitter = self._latency.uniform(-lat.jitter_ms, lat.jitter_ms) if lat.jitter_ms else 0.0
        return max(0.0, lat.mean_ms + jitter) / 1000.0

    def storm(self, t: float) -> Storm | None:
        """The storm refusing a request at `t`, or None (draws only inside a window)."""
        storm: Storm | None = _first_covering(self.plan.storms, t)
        if storm is None or self._storm.random() >= storm.fraction:
            return None
        return storm

    def server_error(self, t: float) -> int | None:
        """The 5xx status for a request at `t`, or None."""
        burst: ServerErrors | None = _first_covering(self.plan.server_errors, t)
        if burst is None or self._server.random() >= burst.fraction:
            return None
        return burst.status

    def concurrent_write(self) -> bool:
        """True when a concurrent writer edits the target of this PUT first."""
        fraction = self.plan.conflicts.fraction
        return bool(fraction) and self._conflict.random() < fraction

    def new_id(self) -> str:
        """A deterministic UUID-shaped id for a created rule or trigger."""
        return _uuid(self._ids)

    def new_context_id(self) -> str:
        """A deterministic UUID-shaped `contextId` for one answer."""
        return _uuid(self._contexts)

    def new_correlation_id(self) -> str:
        """A UUID-shaped `ININ-Correlation-Id` for a request that brought none."""
        return _uuid(self._correlations)

    def new_token(self) -> str:
        """A deterministic opaque bearer token."""
        return f"{self._tokens.getrandbits(192):048x}"


def _uuid(rng: random.Random) -> str:
    """A version-4-shaped UUID string drawn from `rng`."""
    bits = rng.getrandbits(128)
    bits = (bits & ~(0xF000 << 64)) | (0x4000 << 64)
    bits = (bits & ~(0xC000 << 48)) | (0x8000 << 48)
    text = f"{bits:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"

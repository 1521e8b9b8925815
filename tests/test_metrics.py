"""Tests for request metrics and percentiles."""

from __future__ import annotations

from chainsim.bus.base import Exchange
from chainsim.clock import VirtualClock
from chainsim.metrics import Metrics, latency_summary, percentile


def _ex(status: int | None, elapsed: float) -> Exchange:
    return Exchange("GET", "/x", status, 0.0, elapsed, elapsed / 10)


def test_percentile_interpolates_and_handles_tiny_inputs() -> None:
    """p50 of 1..100 is 50.5; one value is its own percentile; none gives 0."""
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.5
    assert percentile(values, 99) == 99.01
    assert percentile([7.0], 95) == 7.0
    assert percentile([], 50) == 0.0


def test_summary_counts_statuses_and_latency() -> None:
    """summary() counts 409/429/5xx, the success rate, and latencies in milliseconds."""
    clock = VirtualClock()
    metrics = Metrics(clock)
    metrics.start()
    for status in (200, 200, 409, 429, 503, None):
        metrics.observe(_ex(status, 0.1))
    clock.advance(2.5)
    metrics.stop()
    out = metrics.summary()
    assert out["requests"] == 6
    assert (out["status_409"], out["status_429"], out["status_5xx"]) == (1, 1, 1)
    assert out["transport_errors"] == 1
    assert out["virtual_seconds"] == 2.5
    assert out["success_rate"] == round(2 / 6, 6)
    assert out["latency_ms"] == {"p50": 100.0, "p95": 100.0, "p99": 100.0}


def test_latency_summary_keys() -> None:
    """latency_summary gives exactly p50, p95, p99."""
    assert set(latency_summary([0.01, 0.02])) == {"p50", "p95", "p99"}


def test_summary_breaks_requests_down_by_step() -> None:
    """Exchanges count toward the step under way; each step reports its requests and time."""
    clock = VirtualClock()
    metrics = Metrics(clock)
    metrics.start()
    metrics.begin_step("inventory")
    metrics.observe(_ex(200, 0.1))
    clock.advance(1.0)
    metrics.begin_step("apply")
    metrics.observe(_ex(409, 0.2))
    metrics.observe(_ex(200, 0.4))
    clock.advance(2.0)
    metrics.stop()
    steps = metrics.summary()["steps"]
    assert list(steps) == ["inventory", "apply"]
    assert steps["inventory"]["requests"] == 1
    assert steps["inventory"]["virtual_seconds"] == 1.0
    assert steps["apply"]["requests"] == 2
    assert steps["apply"]["virtual_seconds"] == 2.0
    assert steps["apply"]["latency_ms"]["p99"] > steps["apply"]["latency_ms"]["p50"] >= 200

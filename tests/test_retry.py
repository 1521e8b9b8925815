"""Tests for retry policy (tenacity on the injected clock) and the client-side pacer."""

from __future__ import annotations

import pytest
import tenacity

from chainsim.bus.base import BadRequest, Exchange, RateLimited, ServerError
from chainsim.clock import VirtualClock
from chainsim.retry import FullJitterWait, Pacer, RetryPolicy, call_with_retry


def _state(exc: BaseException, attempt: int) -> tenacity.RetryCallState:
    state = tenacity.RetryCallState(tenacity.Retrying(), None, (), {})
    state.attempt_number = attempt
    state.set_exception((type(exc), exc, None))
    return state


def test_retry_after_is_honoured_and_capped() -> None:
    """A 429 waits its Retry-After, never more than the cap."""
    policy = RetryPolicy(retry_after_cap=10)
    wait = FullJitterWait(policy, policy.rng())
    assert wait(_state(RateLimited("slow", retry_after=4), 1)) == 4
    assert wait(_state(RateLimited("slow", retry_after=400), 1)) == 10


def test_backoff_is_full_jitter_within_the_exponential_ceiling() -> None:
    """Other errors wait uniformly in [0, min(max_delay, base * 2**(n-1))], seeded."""
    policy = RetryPolicy(base_delay=1.0, max_delay=5.0, seed=3)
    waits = [
        FullJitterWait(policy, policy.rng("r"))(_state(ServerError("x"), n)) for n in range(1, 8)
    ]
    again = [
        FullJitterWait(policy, policy.rng("r"))(_state(ServerError("x"), n)) for n in range(1, 8)
    ]
    assert waits == again
    for n, wait in enumerate(waits, start=1):
        assert 0 <= wait <= min(5.0, 2 ** (n - 1))


def test_transient_errors_are_retried_on_the_virtual_clock() -> None:
    """Two 503s then success: three calls, waits spent on the injected clock only."""
    clock = VirtualClock()
    policy = RetryPolicy(base_delay=1.0)
    answers = [ServerError("a", status=503), RateLimited("b", retry_after=3), "ok"]

    def call() -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert call_with_retry(call, policy=policy, clock=clock, rng=policy.rng()) == "ok"
    assert 3 <= clock.now() <= 4


def test_permanent_errors_and_exhaustion_raise() -> None:
    """A 400 is not retried; a 5xx stops after max_attempts with the last error."""
    clock = VirtualClock()
    policy = RetryPolicy(max_attempts=3)
    calls = []

    def bad() -> None:
        calls.append(1)
        raise BadRequest("no")

    with pytest.raises(BadRequest):
        call_with_retry(bad, policy=policy, clock=clock, rng=policy.rng())
    assert len(calls) == 1

    def down() -> None:
        calls.append(1)
        raise ServerError("down", status=503)

    with pytest.raises(ServerError):
        call_with_retry(down, policy=policy, clock=clock, rng=policy.rng())
    assert len(calls) == 4


def _answer(
    clock: VirtualClock, count: int, reset: int, status: int = 200, **extra: str
) -> Exchange:
    headers = {
        "inin-ratelimit-allowed": "300",
        "inin-ratelimit-count": str(count),
        "inin-ratelimit-reset": str(reset),
        **extra,
    }
    return Exchange("PUT", "/api/v2/eventbridge/rules/x", status, clock.now(), 0.0, 0.0, headers)


def test_pacer_spends_the_burst_then_spaces_requests_at_the_refill_rate() -> None:
    """With tokens left the pacer admits at once; on an empty bucket it waits 1/rate each."""
    clock = VirtualClock()
    pacer = Pacer(clock, margin=1.0)
    assert pacer.acquire() == 0
    pacer.observe(_answer(clock, count=100, reset=20))
    assert pacer.acquire() == 0
    pacer.observe(_answer(clock, count=300, reset=60))  # empty bucket, 5 tokens/s
    waits = []
    for _ in range(5):
        waits.append(pacer.acquire())
    assert waits[0] == pytest.approx(0.4)  # two tokens: one for the request, one margin
    assert waits[1:] == [pytest.approx(0.2)] * 4


def test_pacer_holds_everyone_after_a_429() -> None:
    """A 429's Retry-After blocks the next admission until it has passed."""
    clock = VirtualClock()
    pacer = Pacer(clock)
    pacer.acquire()
    pacer.observe(Exchange("GET", "/x", 429, 0.0, 0.0, 0.0, {"Retry-After": "5"}))
    assert pacer.acquire() == pytest.approx(5.0)


def test_pacer_caps_a_huge_retry_after() -> None:
    """A 429 asking for days holds the workers only for the policy's Retry-After cap."""
    clock = VirtualClock()
    pacer = Pacer(clock, retry_after_cap=60)
    pacer.acquire()
    pacer.observe(Exchange("GET", "/x", 429, 0.0, 0.0, 0.0, {"Retry-After": "999999999"}))
    assert pacer.acquire() == pytest.approx(60.0)

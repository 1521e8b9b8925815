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


# ------------------------------------------------- mutation testing (issue 13)


def test_backoff_draws_uniformly_up_to_the_doubling_ceiling() -> None:
    """Attempt n waits `rng.uniform(0, min(max_delay, base_delay * 2**(n-1)))` exactly."""
    import random

    policy = RetryPolicy(base_delay=0.5, max_delay=3.0)
    wait = FullJitterWait(policy, random.Random(7))
    expected = random.Random(7)
    for n in range(1, 8):
        ceiling = min(3.0, 0.5 * 2 ** (n - 1))
        assert wait(_state(ServerError("x"), n)) == expected.uniform(0.0, ceiling)


def test_a_state_without_an_outcome_waits_the_backoff() -> None:
    """Before any outcome is known the wait is the jittered backoff, not an error."""
    import random

    policy = RetryPolicy(base_delay=2.0)
    state = tenacity.RetryCallState(tenacity.Retrying(), None, (), {})
    state.attempt_number = 1
    assert FullJitterWait(policy, random.Random(1))(state) == random.Random(1).uniform(0.0, 2.0)


@pytest.mark.parametrize(("seconds", "waited"), [(2.5, 2.5), (0.5, 0.5), (-3.0, 0.0)])
def test_hold_admits_nobody_for_exactly_that_long(seconds: float, waited: float) -> None:
    """`hold(s)` delays the next admission by s seconds from now (never into the past)."""
    clock = VirtualClock()
    clock.sleep(10.0)
    pacer = Pacer(clock)
    pacer.hold(seconds)
    assert pacer.acquire() == pytest.approx(waited)


def test_token_answers_teach_the_pacer_nothing() -> None:
    """Rate-limit headers on `/oauth/...` answers (a separate limit) are ignored."""
    clock = VirtualClock()
    pacer = Pacer(clock)
    headers = {"inin-ratelimit-allowed": "300", "inin-ratelimit-count": "300"}
    pacer.observe(Exchange("POST", "/oauth/token", 200, 0.0, 0.0, 0.0, headers))
    assert pacer.snapshot()["capacity"] is None
    pacer.observe(Exchange("GET", "/api/v2/x", 200, 0.0, 0.0, 0.0, headers))
    assert pacer.snapshot()["capacity"] == 300


def test_half_the_rate_headers_teach_the_pacer_nothing() -> None:
    """Without both `allowed` and `count` the bucket estimate is left alone."""
    clock = VirtualClock()
    pacer = Pacer(clock)
    for headers in ({"inin-ratelimit-allowed": "300"}, {"inin-ratelimit-count": "3"}):
        pacer.observe(Exchange("GET", "/x", 200, 0.0, 0.0, 0.0, headers))
    assert pacer.snapshot() == {"capacity": None, "rate": None, "level": 0.0, "waited": 0.0}


def test_a_429_holds_from_the_end_of_its_answer() -> None:
    """The Retry-After of a 429 counts from when the answer arrived (started + elapsed)."""
    clock = VirtualClock()
    pacer = Pacer(clock)
    pacer.observe(Exchange("GET", "/x", 429, 0.0, 2.0, 0.0, {"Retry-After": "5"}))
    assert pacer.acquire() == pytest.approx(7.0)


def test_the_refill_rate_comes_from_the_longest_reset_seen() -> None:
    """A later answer with a shorter reset (a coarser estimate) does not replace the rate."""
    clock = VirtualClock()
    pacer = Pacer(clock)
    pacer.observe(_answer(clock, count=300, reset=60))
    assert pacer.snapshot()["rate"] == pytest.approx(5.0)
    pacer.observe(_answer(clock, count=100, reset=10))
    assert pacer.snapshot()["rate"] == pytest.approx(5.0)
    pacer.observe(_answer(clock, count=0, reset=120))  # no count: no rate to learn
    assert pacer.snapshot()["rate"] == pytest.approx(5.0)


def test_each_wait_is_reported_and_a_429_holds_every_worker() -> None:
    """`on_wait` gets (error, seconds) per retry; a 429 holds the shared pacer meanwhile."""
    import random

    clock = VirtualClock()
    pacer = Pacer(clock)
    errors: list[Exception] = [RateLimited("slow", retry_after=3), ServerError("a", status=503)]
    waits: list[tuple[str, float]] = []
    held: list[float] = []
    attempts: list[float] = []

    def call() -> str:
        if errors:
            raise errors.pop(0)
        return "ok"

    def on_wait(exc: BaseException, seconds: float) -> None:
        waits.append((type(exc).__name__, seconds))
        if not held:
            held.append(pacer.acquire())  # another worker asks while the 429 holds

    policy = RetryPolicy(base_delay=1.0)
    result = call_with_retry(
        call,
        policy=policy,
        clock=clock,
        rng=random.Random(0),
        pacer=pacer,
        on_attempt=lambda: attempts.append(clock.now()),
        on_wait=on_wait,
    )
    assert result == "ok"
    assert waits == [("RateLimited", 3.0), ("ServerError", random.Random(0).uniform(0.0, 2.0))]
    assert held == [pytest.approx(3.0)]
    assert len(attempts) == 3


def test_a_disabled_pacer_never_waits() -> None:
    """With pacing off, an empty bucket does not delay anyone (only a 429 hold would)."""
    clock = VirtualClock()
    pacer = Pacer(clock, enabled=False)
    pacer.observe(_answer(clock, count=300, reset=60))
    assert [pacer.acquire() for _ in range(3)] == [0.0, 0.0, 0.0]


def test_a_known_capacity_without_a_rate_does_not_pace() -> None:
    """Until a refill rate is learned (count 0), the pacer admits at once."""
    clock = VirtualClock()
    pacer = Pacer(clock)
    pacer.observe(_answer(clock, count=0, reset=60))
    assert pacer.snapshot()["capacity"] == 300 and pacer.snapshot()["rate"] is None
    assert pacer.acquire() == 0.0


def test_the_bucket_refills_with_time_and_waits_add_up() -> None:
    """Idle time refills the bucket at the learned rate; `waited` sums every wait."""
    clock = VirtualClock()
    pacer = Pacer(clock)
    pacer.observe(_answer(clock, count=300, reset=60))  # empty, 5 tokens/s
    first = pacer.acquire()
    second = pacer.acquire()
    assert (first, second) == (pytest.approx(0.4), pytest.approx(0.2))
    assert pacer.snapshot()["waited"] == pytest.approx(0.6)
    clock.sleep(10.0)  # 50 tokens back
    assert pacer.acquire() == 0.0


@pytest.mark.parametrize(("count", "reset", "rate"), [(5, 1, 5.0), (1, 1, 1.0), (1, 2, 0.5)])
def test_a_rate_is_learned_from_a_one_second_reset_and_a_count_of_one(
    count: int, reset: int, rate: float
) -> None:
    """`count / reset` is learned for any count > 0 and reset >= 1 second."""
    clock = VirtualClock()
    pacer = Pacer(clock)
    pacer.observe(_answer(clock, count=count, reset=reset))
    assert pacer.snapshot()["rate"] == pytest.approx(rate)


def test_the_default_rng_key_is_the_empty_key() -> None:
    """`policy.rng()` draws the same stream as `policy.rng("")`, and other keys differ."""
    policy = RetryPolicy(seed=5)
    assert policy.rng().random() == policy.rng("").random() != policy.rng("k").random()

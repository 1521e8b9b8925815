"""The clocks: real time for production, virtual time shared by concurrent actors."""

from __future__ import annotations

import threading

import pytest

from chainsim.clock import Clock, SystemClock, VirtualClock


def test_both_clocks_satisfy_the_protocol() -> None:
    """SystemClock and VirtualClock are `Clock`s."""
    assert isinstance(SystemClock(), Clock)
    assert isinstance(VirtualClock(), Clock)


def test_system_clock_is_monotonic_and_zero_sleep_returns() -> None:
    """SystemClock.now never goes back; sleeping 0 or less returns at once."""
    clock = SystemClock()
    first = clock.now()
    clock.sleep(0)
    clock.sleep(-1)
    assert clock.now() >= first
    assert repr(clock) == "SystemClock()"


def test_virtual_sleep_advances_time_instantly() -> None:
    """A non-actor's sleep moves virtual time forward by exactly the amount asked."""
    clock = VirtualClock(start=10.0)
    clock.sleep(2.5)
    clock.sleep(-3)
    assert clock.now() == 12.5
    clock.advance(0.5)
    assert clock.now() == 13.0
    assert "13.000" in repr(clock)


def test_virtual_clock_cannot_go_backwards() -> None:
    """advance() refuses a negative step."""
    with pytest.raises(ValueError):
        VirtualClock().advance(-1)


def _run_actors(clock: VirtualClock, sleeps: list[list[float]], reserve: bool) -> list[list[float]]:
    """Start one actor thread per sleep list; each records the time after every sleep."""
    woke: list[list[float]] = [[] for _ in sleeps]

    def work(index: int) -> None:
        with clock.actor():
            for seconds in sleeps[index]:
                clock.sleep(seconds)
                woke[index].append(clock.now())

    if reserve:
        clock.reserve(len(sleeps))
    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(sleeps))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
        assert not thread.is_alive(), "an actor never woke"
    return woke


def test_concurrent_actors_share_one_timeline() -> None:
    """Eight actors that each sleep 0.1 s take 0.1 s of virtual time together."""
    clock = VirtualClock()
    woke = _run_actors(clock, [[0.1]] * 8, reserve=True)
    assert clock.now() == pytest.approx(0.1)
    assert all(w == [pytest.approx(0.1)] for w in woke)


def test_actors_wake_in_order_of_their_wake_up_times() -> None:
    """With reserved slots, each actor wakes at the sum of its own sleeps."""
    clock = VirtualClock()
    woke = _run_actors(clock, [[1.0, 1.0], [0.5, 3.0], [2.0]], reserve=True)
    assert woke[0] == [pytest.approx(1.0), pytest.approx(2.0)]
    assert woke[1] == [pytest.approx(0.5), pytest.approx(3.5)]
    assert woke[2] == [pytest.approx(2.0)]
    assert clock.now() == pytest.approx(3.5)


def test_finishing_actor_releases_the_others() -> None:
    """When an actor leaves, the remaining sleeper wakes without waiting for it."""
    clock = VirtualClock()
    woke = _run_actors(clock, [[], [5.0]], reserve=True)
    assert woke == [[], [pytest.approx(5.0)]]


def test_non_actor_sleep_does_not_block_beside_actors() -> None:
    """A thread that is not an actor advances time directly even while actors exist."""
    clock = VirtualClock()
    entered = threading.Event()
    leave = threading.Event()

    def actor() -> None:
        with clock.actor():
            entered.set()
            leave.wait(5)

    thread = threading.Thread(target=actor)
    thread.start()
    assert entered.wait(5)
    clock.sleep(3)
    assert clock.now() == 3
    leave.set()
    thread.join(5)


def test_reserved_slot_holds_an_early_sleeper_until_its_sibling_registers() -> None:
    """With reserve(2), an actor asleep before its sibling starts does not run ahead."""
    clock = VirtualClock()
    clock.reserve(2)
    woke: dict[str, float] = {}

    def work(name: str, seconds: float) -> None:
        with clock.actor():
            clock.sleep(seconds)
            woke[name] = clock.now()

    first = threading.Thread(target=work, args=("first", 1.0))
    first.start()
    asleep = threading.Event()
    for _ in range(5000):  # wait until the first actor is really asleep
        if clock._sleepers:
            break
        asleep.wait(0.001)
    assert clock.now() == 0.0, "the early sleeper ran ahead of its reserved sibling"
    second = threading.Thread(target=work, args=("second", 0.5))
    second.start()
    first.join(5)
    second.join(5)
    assert woke == {"first": pytest.approx(1.0), "second": pytest.approx(0.5)}

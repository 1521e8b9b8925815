"""The apply worker pool: concurrent in virtual time, deterministic, stops and re-raises."""

from __future__ import annotations

import threading

import pytest

from chainsim.clock import VirtualClock
from chainsim.workers import run_workers


def test_workers_overlap_their_sleeps_on_the_virtual_clock() -> None:
    """8 workers, 16 items of 100 ms each: 200 ms of virtual time, every item once."""
    clock = VirtualClock()
    done: list[int] = []
    lock = threading.Lock()

    def work(item: int) -> None:
        clock.sleep(0.1)
        with lock:
            done.append(item)

    run_workers(list(range(16)), work, workers=8, clock=clock, stop=threading.Event())
    assert sorted(done) == list(range(16))
    assert clock.now() == pytest.approx(0.2)


def test_one_worker_runs_items_in_order_on_the_calling_thread() -> None:
    """With one worker the items run in plan order, on the caller's thread."""
    clock = VirtualClock()
    seen: list[tuple[int, str]] = []
    run_workers(
        [3, 1, 2],
        lambda i: seen.append((i, threading.current_thread().name)),
        workers=1,
        clock=clock,
        stop=threading.Event(),
    )
    assert seen == [(i, threading.current_thread().name) for i in (3, 1, 2)]


def test_stop_ends_the_run_before_the_remaining_items() -> None:
    """Setting `stop` (an atomic failure) leaves the later items untouched."""
    stop = threading.Event()
    seen: list[int] = []

    def work(item: int) -> None:
        seen.append(item)
        if item == 2:
            stop.set()

    run_workers(list(range(10)), work, workers=1, clock=VirtualClock(), stop=stop)
    assert seen == [0, 1, 2]


def test_a_crash_in_a_worker_is_re_raised_and_stops_its_siblings() -> None:
    """An exception (even a BaseException, like a kill) ends the pool and reaches the caller."""
    clock = VirtualClock()
    seen: list[int] = []
    lock = threading.Lock()

    class Killed(BaseException):
        pass

    def work(item: int) -> None:
        clock.sleep(0.1 * (item + 1))
        with lock:
            seen.append(item)
        if item == 0:
            raise Killed()

    with pytest.raises(Killed):
        run_workers(list(range(40)), work, workers=4, clock=clock, stop=threading.Event())
    assert len(seen) < 40


def test_the_same_run_gives_the_same_virtual_timeline() -> None:
    """Two runs with jittered sleeps end at the same virtual time and order of completions."""

    def timeline() -> tuple[float, list[int]]:
        clock = VirtualClock()
        order: list[int] = []
        lock = threading.Lock()

        def work(item: int) -> None:
            clock.sleep(0.01 * ((item * 7) % 5 + 1))
            with lock:
                order.append(item)

        run_workers(list(range(30)), work, workers=4, clock=clock, stop=threading.Event())
        return clock.now(), order

    first = timeline()
    assert timeline()[0] == first[0]


def test_two_workers_already_run_concurrently() -> None:
    """Two workers, two items of 100 ms each: 100 ms of virtual time, on two pool threads."""
    clock = VirtualClock()
    names: list[str] = []

    def work(item: int) -> None:
        clock.sleep(0.1)
        names.append(threading.current_thread().name)

    run_workers([0, 1], work, workers=2, clock=clock, stop=threading.Event())
    assert clock.now() == pytest.approx(0.1)
    assert len(names) == 2 and all(n.startswith("chainsim-apply") for n in names)


def test_a_clock_without_actors_runs_the_pool_directly() -> None:
    """A clock that has no actor slots (the system clock) still runs every item on the pool."""
    from chainsim.clock import SystemClock

    done: list[int] = []
    lock = threading.Lock()

    def work(item: int) -> None:
        with lock:
            done.append(item)

    run_workers(list(range(6)), work, workers=3, clock=SystemClock(), stop=threading.Event())
    assert sorted(done) == list(range(6))

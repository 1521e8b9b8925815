"""The apply workers: a `ThreadPoolExecutor` whose threads pull changes in plan order.

Each of the `workers` pool threads runs one loop that takes the next item from a shared
iterator until none is left, the `stop` event is set (an atomic run failed) or a sibling
crashed. One loop per thread rather than one task per item, because of the
`VirtualClock`: a thread that sleeps in virtual time must be a registered actor for as
long as it may sleep, and the clock only advances once every actor sleeps. A pool thread
that sat idle between tasks, or waited on the executor's queue while registered, would
either let time jump ahead of its siblings or stall them forever. So the pool reserves
`workers` actor slots before starting (no sleep runs ahead before every sibling has
registered) and each loop is one actor from its first item to its last: the run stays
deterministic on the virtual clock and concurrent on a real one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from typing import Protocol, TypeVar, runtime_checkable

from chainsim.clock import Clock

T = TypeVar("T")


@runtime_checkable
class ActorClock(Protocol):
    """A clock on which concurrent threads must register (the `VirtualClock`)."""

    def reserve(self, count: int) -> None:
        """Hold `count` actor slots for threads about to start."""
        ...

    def actor(self) -> AbstractContextManager[None]:
        """Register the calling thread as one concurrent actor for the block."""
        ...


def run_workers(
    items: Sequence[T],
    work: Callable[[T], None],
    *,
    workers: int,
    clock: Clock,
    stop: threading.Event,
) -> None:
    """`work(item)` for each item, in order, on up to `workers` threads; re-raises a crash."""
    feed: Iterator[T] = iter(items)
    feed_lock = threading.Lock()
    crash: list[BaseException] = []

    def loop() -> None:
        while not stop.is_set() and not crash:
            with feed_lock:
                try:
                    item = next(feed)
                except StopIteration:
                    return
            try:
                work(item)
            except BaseException as exc:  # a crash (or a kill) ends the run as it stands
                crash.append(exc)
                return

    workers = min(workers, len(items))
    if workers <= 1:
        loop()
    else:
        actors = clock if isinstance(clock, ActorClock) else None
        if actors is not None:
            actors.reserve(workers)

        def run() -> None:
            with actors.actor() if actors is not None else nullcontext():
                loop()

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="chainsim-apply") as pool:
            for _ in range(workers):
                pool.submit(run)
    if crash:
        raise crash[0]

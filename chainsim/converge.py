"""Convergence: write a rule's target with a versioned PUT; on 409 re-read and re-merge.

A 409 means another writer changed the rule since it was read. The rule is read again
and the target is merged again onto the fresh copy (`make_target(fresh)`), so the
other writer's edits survive and chainsim only changes the fields it owns. 429, 5xx
and transport errors are retried by `call_with_retry` under the shared pacer (a
versioned PUT is safe to repeat).

Two policies bound the 409 loop:
- an update (`deadline=None`) gets `RetryPolicy.max_conflicts` re-merges, then fails
  with `ConflictsExhausted`;
- a restore during rollback (`deadline` given) keeps re-reading and re-merging, with
  a short full-jitter backoff on the clock between rounds (capped at
  `base_delay * 2**RESTORE_DOUBLINGS`), until it lands or the deadline
  passes: it only puts back fields chainsim owns, so contention alone never leaves a
  chain half-applied. It fails at once only when the rule is gone or refuses the write
  (404, 400, 401, 403, 422: someone else deleted it or made it unwritable).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from chainsim.bus.base import Bus, BusError, Conflict, NotFound
from chainsim.clock import Clock
from chainsim.journal import Applied, Journal
from chainsim.model import Rule
from chainsim.plan import changed_fields, same_content
from chainsim.results import RuleOutcome
from chainsim.retry import Pacer, RetryPolicy, call_with_retry

# A restore's backoff between 409 rounds doubles at most this often (0.5 s -> 4 s with
# the default policy): more, shorter rounds before the deadline beat long waits, since
# each round re-reads the rule and only needs one quiet moment to land.
RESTORE_DOUBLINGS = 3


class Failed(Exception):
    """An update or restore that failed for good (wraps the last bus error)."""

    def __init__(self, error: BusError, target: Rule, fields: list[str]) -> None:
        super().__init__(str(error))
        self.error = error
        self.target = target
        self.fields = fields


class ConflictsExhausted(Conflict):
    """409 after every re-read and re-merge the policy allows."""


class RestoreRefused(BusError):
    """A restore the bus will not take: the rule was deleted or made unwritable by someone else."""


def refused(exc: BusError) -> RestoreRefused:
    """`exc` re-worded for a dead letter and report: why the chain stays half-applied."""
    why = (
        "deleted by someone else"
        if isinstance(exc, NotFound)
        else "made unwritable by someone else"
    )
    return RestoreRefused(
        f"restore impossible, the rule was {why}; the chain stays half-applied ({exc.message})",
        status=exc.status,
        code=exc.code,
        context_id=exc.context_id,
        details=exc.details,
    )


@dataclass
class Converger:
    """Versioned writes on one bus, journaled before each PUT, retried under one pacer."""

    bus: Bus
    clock: Clock
    retry: RetryPolicy
    pacer: Pacer
    journal: Journal

    def call(
        self,
        fn: Callable[[], Any],
        rng: random.Random,
        on_attempt: Callable[[], None] | None = None,
    ) -> Any:
        """`fn()` with the retry policy (429/5xx/transport retried) under the shared pacer."""
        return call_with_retry(
            fn,
            policy=self.retry,
            clock=self.clock,
            rng=rng,
            pacer=self.pacer if self.retry.pacing else None,
            on_attempt=on_attempt,
        )

    def read(self, rule_id: str, rng: random.Random, deadline: float | None = None) -> Rule:
        """GET one rule; with a deadline, transient failures are retried until it passes."""
        while True:
            try:
                rule: Rule = self.call(partial(self.bus.get_rule, rule_id), rng)
                return rule
            except BusError as exc:
                if deadline is None or not transient(exc) or not self._wait(rng, 0, deadline):
                    raise

    def converge(
        self,
        current: Rule,
        make_target: Callable[[Rule], Rule],
        row: RuleOutcome,
        *,
        on_applied: Callable[[Applied], None] | None = None,
        deadline: float | None = None,
        planned: tuple[Rule, list[str]] | None = None,
    ) -> tuple[Rule, Rule | None]:
        """Write `make_target(current)` with a versioned PUT; on 409 re-read and re-merge.

        `planned` is the first round's (target, changed fields) when the caller has
        already merged and diffed `current` (a ChangeSet's update: it differs).
        Returns (stored rule, the base it was merged onto), or (current, None) when the
        rule already holds its target. Raises `Failed` when the write fails for good.
        """
        rng = self.retry.rng(current.id)
        conflict: Conflict | None = None
        sent = False
        last_base: Rule | None = None
        target, fields = planned if planned is not None else (make_target(current), [])
        rounds = 0
        last_error: BusError | None = None
        while True:
            if rounds:
                target = make_target(current)
            if rounds == 0 and planned is not None:
                pass  # planned: merged and diffed already, and not yet the rule's content
            elif same_content(current, target):
                if sent and last_base is not None:  # our earlier PUT landed but its answer was lost
                    if on_applied is not None:
                        on_applied(Applied(current.id, last_base, fields))
                    return current, last_base
                return current, None
            else:
                fields = changed_fields(current, target)
            self.journal.writing(current.id, current, fields, target)
            sent, last_base = True, current

            def count() -> None:
                row.attempts += 1

            try:
                stored = self.call(partial(self.bus.put_rule, target), rng, on_attempt=count)
            except BusError as exc:
                if isinstance(exc, Conflict):
                    conflict = exc
                elif deadline is None:
                    raise Failed(exc, target, fields) from None
                elif not transient(exc):
                    raise Failed(refused(exc), target, fields) from None
                last_error = exc
            else:
                if on_applied is not None:
                    on_applied(Applied(current.id, current, fields))
                return stored, current
            rounds += 1
            if deadline is None:
                if rounds > self.retry.max_conflicts:
                    break
            elif not self._wait(rng, rounds, deadline):
                assert last_error is not None
                raise Failed(_late(last_error), target, fields)
            try:
                current = self.read(current.id, rng, deadline)
            except BusError as exc:
                error = exc if deadline is None or transient(exc) else refused(exc)
                raise Failed(error, target, fields) from None
        exhausted = ConflictsExhausted(
            "409 on every attempt to merge",
            status=409,
            code=conflict.code if conflict else None,
            context_id=conflict.context_id if conflict else None,
        )
        raise Failed(exhausted, target, fields)

    def _wait(self, rng: random.Random, rounds: int, deadline: float) -> bool:
        """Sleep a full-jitter backoff before round `rounds + 1`; False once the deadline passed."""
        now = self.clock.now()
        if now >= deadline:
            return False
        ceiling = min(
            self.retry.max_delay, self.retry.base_delay * 2 ** min(rounds, RESTORE_DOUBLINGS)
        )
        self.clock.sleep(min(rng.uniform(0.0, ceiling), deadline - now))
        return self.clock.now() < deadline


def transient(exc: BusError) -> bool:
    """A failure that time may cure: 409, or retryable (429, 5xx, transport)."""
    return isinstance(exc, Conflict) or exc.retryable


def _late(exc: BusError) -> BusError:
    """`exc` re-worded: the restore's deadline passed while the bus kept refusing."""
    return type(exc)(
        f"restore deadline passed; the chain stays half-applied ({exc.message})",
        status=exc.status,
        code=exc.code,
        context_id=exc.context_id,
    )

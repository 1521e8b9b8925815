"""Dead-lettering: every update or restore that failed for good becomes a dead letter.

Letters are collected while the run applies and rolls back, and sent only at the end,
after rollback: a slow dead-letter endpoint can never hold a half-applied chain live.
Sending has one total deadline (`deadline` seconds on the run's clock, for all the
letters together); each POST's timeout is the time left, and once the deadline has
passed the remaining letters go straight to the durable spool. Nothing is dropped.

Every letter names its run (`run_id`) and whether the run was `atomic`; when the run
has letters, its whole plan is written (after rollback, before the letters are sent) to
`<spool dir>/runs/<run_id>.plan.json`
and each letter carries that path and the file's digest, so `chainsim dlq redrive`
re-applies the whole plan of an atomic run (all or nothing), never one rule of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from chainsim.clock import Clock
from chainsim.converge import Failed
from chainsim.deadletter import (
    DeadLetter,
    DeadLetterSink,
    bytes_digest,
    run_plan_path,
    write_run_plan,
)
from chainsim.model import ChainPlan

DEFAULT_LETTERS_DEADLINE = 30.0  # seconds for every dead-letter POST of one run together

AuditHook = Callable[..., None]


@dataclass
class LetterBox:
    """The dead letters of one run: collected as failures happen, sent after rollback."""

    run_id: str
    sink: DeadLetterSink
    clock: Clock
    audit: AuditHook
    deadline: float = DEFAULT_LETTERS_DEADLINE
    letters: list[DeadLetter] = field(default_factory=list)
    atomic: bool | None = None
    plan: ChainPlan | None = None
    _plan_text: str | None = field(default=None, init=False, repr=False)

    def plan_file(self) -> tuple[str | None, str | None]:
        """`(path, digest)` of the run's plan file (None without a plan); written by
        `send_all`, after rollback, so no file I/O happens while a chain is half-applied."""
        if self.plan is None:
            return None, None
        if self._plan_text is None:
            self._plan_text = self.plan.model_dump_json(exclude_none=True)
        path = run_plan_path(self.sink.spool, self.run_id)
        return str(path), bytes_digest(self._plan_text.encode("utf-8"))

    def add(self, rule_id: str, failure: Failed, operation: str) -> DeadLetter:
        """Keep a letter for `rule_id`'s failed `operation` (`apply` or `restore`)."""
        error = failure.error
        plan_file, plan_digest = self.plan_file()
        letter = DeadLetter(
            rule_id=rule_id,
            payload=failure.target.to_wire(),
            status=error.status,
            code=error.code,
            message=error.message,
            trace_id=f"{self.run_id}:{rule_id}",
            fields=list(failure.fields),
            operation=operation,
            run_id=self.run_id,
            atomic=self.atomic,
            plan_file=plan_file,
            plan_digest=plan_digest,
        )
        self.letters.append(letter)
        return letter

    def send_all(self) -> None:
        """Send every letter kept (POST within the total deadline, else spool), in order."""
        if self.letters and self._plan_text is not None:  # the run's plan, for redrive
            path = run_plan_path(self.sink.spool, self.run_id)
            try:
                write_run_plan(path, self._plan_text)
            except OSError as exc:  # the letters still go out; a redrive will refuse the run
                self.audit("run_plan", path=str(path), error=type(exc).__name__)
        until = self.clock.now() + self.deadline
        for letter in self.letters:
            delivery = self.sink.send(letter, timeout=until - self.clock.now())
            self.audit(
                "dead_letter",
                rule=letter.rule_id,
                where=delivery.where,
                error=delivery.error,
                operation=letter.operation,
            )

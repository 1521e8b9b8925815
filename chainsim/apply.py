"""The orchestrator: inventory, validate, plan, apply with locking, roll back, journal.

One run (DESIGN §6): read every rule (all pages, retried), validate the plan against
them (errors stop the run before anything is written), compute the ChangeSet, then
write each changed rule with a versioned PUT (`chainsim.converge`: a 409 re-reads the
rule and re-merges the plan onto the fresh copy, so a concurrent writer's edits
survive; 429/5xx/transport errors are retried under one shared pacer), on a pool of
workers (`chainsim.workers`). If an update fails for good, every update already
applied is restored, newest first (`chainsim.rollback`), unless the run is not atomic.
Failed updates and restores become dead letters, sent after rollback
(`chainsim.dispatch`); the run is audited, measured and reported to a callback.
The audit log is committed (fsync + head sidecar, `AuditLog.commit`) before anything
leaves the process (dead letters, the callback, the result with its `audit_head`) and
at the end of every run.

An append-only journal (`chainsim.journal`) records, before each PUT, what each rule
held, so `resume()` can finish or roll back a run that was killed.
"""

from __future__ import annotations

import gc
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from chainsim.audit import AuditLog
from chainsim.bus.base import Bus, BusError, follow_pages
from chainsim.callbacks import CallbackNotifier
from chainsim.clock import Clock
from chainsim.converge import ConflictsExhausted, Converger, Failed
from chainsim.deadletter import DEFAULT_SPOOL, DeadLetter, DeadLetterSink
from chainsim.dialects import dialect_of
from chainsim.dispatch import DEFAULT_LETTERS_DEADLINE, LetterBox
from chainsim.journal import Applied, Journal, applied_from_journal
from chainsim.metrics import Metrics
from chainsim.model import ChainPlan, InputError, Rule
from chainsim.plan import (
    Change,
    ChangeSet,
    Merger,
    PlanIndex,
    changed_fields,
    compute_changes,
    overlay,
    plan_merger,
)
from chainsim.results import ApplyResult, RuleOutcome, Status, failure_reason
from chainsim.resume import reconcile
from chainsim.retry import Pacer, RetryPolicy
from chainsim.rollback import DEFAULT_RESTORE_DEADLINE, Rollback, half_applied
from chainsim.workers import run_workers

__all__ = [
    "DEFAULT_JOURNAL",
    "ApplyResult",
    "ConflictsExhausted",
    "Journal",
    "Orchestrator",
    "RuleOutcome",
    "Sinks",
    "Status",
    "fewer_collections",
]

DEFAULT_JOURNAL = ".chainsim/journal.json"
GC_YOUNG_THRESHOLD = 10_000  # allocations between young collections during a run (CPython: 700)
ProgressHook = Callable[[int, int], None]
Sinks = Callable[[ChainPlan], "tuple[DeadLetterSink | None, CallbackNotifier | None]"]


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Raise the cyclic GC's young-generation threshold for the block, then restore it.

    A run allocates many short-lived containers per update (requests, answers, rules,
    audit and journal records); at CPython's default (700) many of them are still alive
    at a young collection, are promoted, and trigger full collections over every object
    of the run (the inventory, the plan, the fake's state): superlinear CPU at 8,000
    updates. Only how often the collector runs changes, never what it frees.
    """
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], GC_YOUNG_THRESHOLD), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


class Orchestrator:
    """Applies chain plans to a bus: fetch, validate, plan, apply, roll back, journal."""

    def __init__(
        self,
        bus: Bus,
        *,
        clock: Clock,
        retry: RetryPolicy | None = None,
        dead_letter: DeadLetterSink | None = None,
        callback: CallbackNotifier | None = None,
        audit: AuditLog | None = None,
        metrics: Metrics | None = None,
        atomic: bool = True,
        concurrency: int = 1,
        journal_path: str | Path | None = None,
        pacer: Pacer | None = None,
        merger: Merger | None = None,
        progress: ProgressHook | None = None,
        sinks: Sinks | None = None,
        restore_deadline: float = DEFAULT_RESTORE_DEADLINE,
        letters_deadline: float = DEFAULT_LETTERS_DEADLINE,
    ) -> None:
        """`dead_letter`/`callback` win over what `sinks(plan)` builds for each run.

        Without either, letters go to a spool-only sink at the default spool path and
        no callback is sent. `restore_deadline` bounds each restore of a rollback and
        `letters_deadline` all dead-letter POSTs of a run (seconds on `clock`).
        """
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.bus = bus
        self.clock = clock
        self.retry = retry or RetryPolicy()
        self.dead_letter = dead_letter
        self.callback = callback
        self.sinks = sinks
        self.audit = audit
        self.metrics = metrics or Metrics(clock)
        self.atomic = atomic
        self.concurrency = concurrency
        self.journal = Journal(journal_path)
        self.pacer = pacer or Pacer(
            clock, enabled=self.retry.pacing, retry_after_cap=self.retry.retry_after_cap
        )
        self.merger = merger or plan_merger(dialect_of(bus).merger)  # honours `remove:`
        self.progress = progress
        self.restore_deadline = restore_deadline
        self.letters_deadline = letters_deadline
        self.converger = Converger(bus, clock, self.retry, self.pacer, self.journal)
        self._lock = threading.Lock()
        self._trail_from = 0
        bus.add_observer(self._observe)

    def _observe(self, exchange: Any) -> None:
        self.metrics.observe(exchange)
        self.pacer.observe(exchange)

    # ------------------------------------------------------------------ public API

    def inventory(self) -> list[Rule]:
        """Every rule on the bus, page by page (`Bus.list_page`); each page retried."""
        rng = self.retry.rng("inventory")

        def fetch_page(token: str | None) -> tuple[list[Rule], str | None]:
            page: tuple[list[Rule], str | None] = self._call(
                partial(self.bus.list_page, token), rng
            )
            return page

        return list(follow_pages(fetch_page, "listing rules"))

    def plan(self, plan: ChainPlan) -> ChangeSet:
        """The ChangeSet of `plan` against the bus as it is now (writes nothing)."""
        return compute_changes(self.inventory(), PlanIndex.of(plan), self.merger)

    def validate(self, plan: ChainPlan, rules: list[Rule]) -> Any:
        """`validate_plan` for this bus's dialect on `rules` plus the plan's links."""
        from chainsim.validate import validate_plan

        dialect: Any = getattr(self.bus, "dialect", "eventbridge")
        # A dialect that proves attributes its own way (triggers) says what it trusts.
        declared = self.merger.declared_attributes(plan, rules)
        return validate_plan(plan, rules, dialect=dialect, declared_attributes=declared)

    def apply(self, plan: ChainPlan) -> ApplyResult:
        """Run the whole algorithm of DESIGN §6 for `plan`; never raises for a bus failure."""
        unfinished = self.journal.load()
        if unfinished is not None and unfinished.get("status") in ("applying", "rolling_back"):
            raise InputError(
                str(self.journal.path),
                "",
                f"run {unfinished.get('run_id')} did not finish; "
                "finish it with `chainsim apply --resume`",
            )
        return self._run(plan, uuid.uuid4().hex, prior=[], resume_status=None)

    def resume(self) -> ApplyResult:
        """Finish (or finish rolling back) the unfinished run recorded in the journal."""
        data = self.journal.load()
        if data is None or data.get("status") not in ("applying", "rolling_back"):
            where = str(self.journal.path) if self.journal.path else "journal"
            raise InputError(where, "", "no unfinished run to resume")
        try:
            plan = ChainPlan.model_validate(data["plan"])
            prior = applied_from_journal(data)
        except (KeyError, TypeError, ValueError):
            raise InputError(str(self.journal.path), "", "the journal is damaged") from None
        self.atomic = bool(data.get("atomic", self.atomic))
        return self._run(plan, str(data.get("run_id")), prior=prior, resume_status=data["status"])

    def redrive(self, letters: Iterable[DeadLetter]) -> list[tuple[DeadLetter, RuleOutcome]]:
        """Re-attempt dead letters through the same write path; one outcome per letter."""
        self.metrics.reset()
        self.metrics.start()
        results = []
        for letter in letters:
            outcome = RuleOutcome(letter.rule_id)
            try:
                source = Rule.model_validate(letter.payload)
                rng = self.retry.rng(letter.rule_id)
                current = self._call(partial(self.bus.get_rule, letter.rule_id), rng)
                outcome.version_before = current.version
                fields = letter.fields or changed_fields(current, source)
                target = partial(overlay, source=source, fields=fields)
                stored, _ = self.converger.converge(current, target, outcome)
                outcome.outcome, outcome.version_after = "applied", stored.version
            except Failed as exc:
                outcome.outcome, outcome.error = "failed", str(exc)
                error = exc.error
                outcome.reason = failure_reason(error.status, error.code, error.message)
            except (BusError, ValueError) as exc:
                outcome.outcome, outcome.error = "failed", str(exc)
            self._audit(
                "redrive", rule=letter.rule_id, outcome=outcome.outcome, trace_id=letter.trace_id
            )
            results.append((letter, outcome))
        self.metrics.stop()
        self._commit()
        return results

    # ------------------------------------------------------------------ the run

    def _sinks_for(self, plan: ChainPlan) -> tuple[DeadLetterSink, CallbackNotifier | None]:
        """The run's sinks: explicit ones first, then `sinks(plan)`, then the default spool."""
        sink, notifier = self.sinks(plan) if self.sinks is not None else (None, None)
        sink = self.dead_letter or sink or DeadLetterSink(url=None, spool=DEFAULT_SPOOL)
        return sink, self.callback or notifier

    def _run(
        self, plan: ChainPlan, run_id: str, *, prior: list[Applied], resume_status: str | None
    ) -> ApplyResult:
        try:
            with fewer_collections():
                return self._steps(plan, run_id, prior=prior, resume_status=resume_status)
        except BaseException:
            self._commit()  # a run ended by an exception still leaves its audit lines on disk
            raise
        finally:
            self.journal.close()

    def _steps(
        self, plan: ChainPlan, run_id: str, *, prior: list[Applied], resume_status: str | None
    ) -> ApplyResult:
        self.metrics.reset()
        self.metrics.start()
        self._trail_from = len(self.audit.run_lines) if self.audit else 0
        self._audit("start", run_id=run_id, links=len(plan.links), resume=resume_status is not None)
        sink, notifier = self._sinks_for(plan)
        letters = LetterBox(
            run_id,
            sink,
            self.clock,
            self._audit_committed,  # each letter's line is on disk before the next leaves
            self.letters_deadline,
            atomic=self.atomic,
            plan=plan,  # kept beside the spool per run id when the run has letters
        )
        index = PlanIndex.of(plan)
        outcomes: dict[str, RuleOutcome] = {}
        finish = partial(
            self._finish, run_id, plan, outcomes=outcomes, letters=letters, notifier=notifier
        )

        if resume_status is not None:
            self.metrics.begin_step("resume")
            self.journal.adopt(self.journal.load() or {})
            prior = reconcile(self.journal, prior, outcomes, self.inventory)
        if resume_status == "rolling_back":
            return finish(self._rollback(prior, outcomes, letters))

        self.metrics.begin_step("inventory")
        try:
            rules = self.inventory()
        except BusError as exc:
            self._audit("inventory", ok=False, error=str(exc))
            return finish("failed", error=f"inventory: {exc}")
        self._audit("inventory", ok=True, rules=len(rules))

        report = self.validate(plan, rules)
        changes = compute_changes(rules, index, self.merger)
        findings = [f.to_json() for f in report.findings]
        finish = partial(finish, findings=findings, changes=changes)
        errors = [f for f in findings if f["severity"] == "error"]
        self._audit(
            "validate", ok=not errors, errors=len(errors), codes=sorted({f["code"] for f in errors})
        )
        if errors:  # nothing is written: every planned rule is reported as skipped
            for change in changes.changes:
                version = change.before.version if change.before else None
                outcomes[change.rule_id] = RuleOutcome(
                    change.rule_id, "skipped", 0, version, version
                )
            return finish("failed")
        self._audit("plan", **changes.counts())

        prior_by_id = {item.rule_id: item for item in prior}
        for change in changes.changes:
            before = (
                prior_by_id[change.rule_id].base if change.rule_id in prior_by_id else change.before
            )
            outcomes[change.rule_id] = RuleOutcome(
                change.rule_id,
                outcome="unchanged" if change.kind == "no-op" else "pending",
                version_before=before.version if before else None,
                version_after=change.before.version if change.before else None,
            )
        for change in changes.changes:  # names shown beside ids in tables
            outcomes[change.rule_id].name = change.after.name or change.before.name
        for item in prior:  # applied by the killed run: already in the desired state
            row = outcomes.setdefault(
                item.rule_id, RuleOutcome(item.rule_id, version_before=item.base.version)
            )
            row.outcome = "applied"

        if not changes.has_changes and not prior:
            return finish("unchanged")

        if resume_status is None:
            self.journal.begin(run_id, plan, self.atomic)
        self.metrics.begin_step("apply")
        applied, failures = self._apply_all(changes, index, outcomes)
        applied = prior + applied
        for rule_id, failure in failures:
            letters.add(rule_id, failure, "apply")

        if not failures:
            status: Status = "applied"
        elif self.atomic:
            self.journal.status("rolling_back")
            status = self._rollback(applied, outcomes, letters)
        else:
            status = "partial" if applied else "failed"
        for row in outcomes.values():
            if row.outcome == "pending":
                row.outcome = "skipped"
        return finish(status)

    def _apply_all(
        self, changes: ChangeSet, index: PlanIndex, outcomes: dict[str, RuleOutcome]
    ) -> tuple[list[Applied], list[tuple[str, Failed]]]:
        """Converge every update on the worker pool; stop early when an atomic run fails."""
        todo = list(changes.updates)
        applied: list[Applied] = []
        failures: list[tuple[str, Failed]] = []
        stop = threading.Event()
        total = len(todo)
        done = 0

        def record(item: Applied) -> None:
            self.journal.applied(item)
            with self._lock:
                applied.append(item)

        def one(planned: tuple[Change, list[str]]) -> None:
            nonlocal done
            change, fields = planned
            row = outcomes[change.rule_id]
            assert change.before is not None  # an update has a rule before it
            try:
                stored, base = self.converger.converge(
                    change.before,
                    lambda fresh: self.merger.desired(fresh, index),
                    row,
                    on_applied=record,
                    planned=(change.after, fields),
                )
            except Failed as failure:
                row.outcome, row.error = "failed", str(failure.error)
                error = failure.error
                row.reason = failure_reason(error.status, error.code, error.message)
                self.journal.failed(change.rule_id)
                self._audit(
                    "failed",
                    rule=change.rule_id,
                    status=failure.error.status,
                    code=failure.error.code,
                )
                with self._lock:
                    failures.append((change.rule_id, failure))
                if self.atomic:
                    stop.set()
            else:
                row.outcome, row.version_after = (
                    "unchanged" if base is None else "applied",
                    stored.version,
                )
                if base is not None:
                    self._audit(
                        "put",
                        rule=change.rule_id,
                        version_before=row.version_before,
                        version_after=stored.version,
                        attempts=row.attempts,
                    )
            with self._lock:
                done += 1
                if self.progress is not None:
                    self.progress(done, total)

        work = [(change, change.fields) for change in todo]
        self.journal.intend((c.before, f, c.after) for c, f in work if c.before is not None)
        run_workers(work, one, workers=self.concurrency, clock=self.clock, stop=stop)
        return applied, failures

    def _rollback(
        self, applied: list[Applied], outcomes: dict[str, RuleOutcome], letters: LetterBox
    ) -> Status:
        """Restore every applied rule, newest first; each failed restore is a dead letter."""
        self.metrics.begin_step("rollback")
        step = Rollback(self.converger, self._audit, self.restore_deadline)
        status, failures = step.run(applied, outcomes)
        for rule_id, failure in failures:
            letters.add(rule_id, failure, "restore")
        return status

    def _finish(
        self,
        run_id: str,
        plan: ChainPlan,
        status: Status,
        *,
        outcomes: dict[str, RuleOutcome],
        letters: LetterBox,
        notifier: CallbackNotifier | None,
        findings: list[dict[str, Any]] | None = None,
        changes: ChangeSet | None = None,
        error: str | None = None,
    ) -> ApplyResult:
        """After rollback: send the dead letters, record the status, audit, call back."""
        if letters.letters:
            self._commit()  # the run's lines are on disk before a letter leaves
        letters.send_all()
        self.metrics.stop()
        if self.journal.active:
            self.journal.status(status)
        if error is None and status == "failed":
            error = half_applied(outcomes)
        result = ApplyResult(
            run_id=run_id,
            status=status,
            rules=list(outcomes.values()),
            metrics=self.metrics.summary(),
            dead_letters=len(letters.letters),
            findings=findings or [],
            changes=changes,
            error=error,
        )
        self._audit(
            "finish", status=status, dead_letters=len(letters.letters), metrics=result.metrics
        )
        if notifier is not None:
            result.audit_head = self._commit()  # the callback carries a committed head
            trail = self.audit.run_lines[self._trail_from :] if self.audit else []
            outcome = notifier.notify(
                {"run_id": run_id, "status": status, "report": result.to_report(), "audit": trail}
            )
            result.callback = outcome.to_json()
            self._audit("callback", **outcome.to_json())
        elif plan.callback is not None:
            result.callback = {
                "delivered": False,
                "status": None,
                "error": f"${plan.callback.secret_env} is not set",
            }
            self._audit("callback", **result.callback)
        result.audit_head = self._commit()
        return result

    # ------------------------------------------------------------------ helpers

    def _call(
        self, fn: Callable[[], Any], rng: Any, on_attempt: Callable[[], None] | None = None
    ) -> Any:
        return self.converger.call(fn, rng, on_attempt)

    def _audit(self, step: str, **data: Any) -> None:
        if self.audit is not None:
            self.audit.append(step, **data)

    def _audit_committed(self, step: str, **data: Any) -> None:
        """Audit `step` and commit it at once (a line about something that left the process)."""
        if self.audit is not None:
            self.audit.append(step, **data)
            self.audit.commit()

    def _commit(self) -> str | None:
        """Commit the audit log (fsync + head sidecar); the committed head's digest."""
        return self.audit.commit().digest if self.audit is not None else None

    def __repr__(self) -> str:
        return (
            f"Orchestrator(bus={self.bus!r}, atomic={self.atomic}, concurrency={self.concurrency})"
        )

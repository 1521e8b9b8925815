"""The orchestrator: inventory, validate, plan, apply with locking, roll back, journal.

One run (DESIGN §6): read every rule (all pages, retried), validate the plan against
them (errors stop the run before anything is written), compute the ChangeSet, then
write each changed rule with a versioned PUT. A 409 re-reads the rule and re-merges the
plan onto the fresh copy, so a concurrent writer's edits survive; 429/5xx/transport
errors are retried under a shared pacer. If an update fails for good, every update
already applied is restored (newest first) unless the run is not atomic. Failed
updates become dead letters; the run is audited, measured and reported to a callback.

A journal (JSON, replaced atomically before each PUT) records what was applied and what
each rule held before, so `resume()` can finish or roll back a run that was killed.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal

from chainsim.audit import AuditLog
from chainsim.bus.base import Bus, BusError, Conflict, follow_pages
from chainsim.callbacks import CallbackNotifier
from chainsim.clock import Clock
from chainsim.deadletter import DEFAULT_SPOOL, DeadLetter, DeadLetterSink
from chainsim.dialects import dialect_of
from chainsim.durable import atomic_write_text
from chainsim.metrics import Metrics
from chainsim.model import ChainPlan, InputError, Rule
from chainsim.plan import (
    ChangeSet,
    Merger,
    PlanIndex,
    changed_fields,
    compute_changes,
    overlay,
    same_content,
)
from chainsim.retry import Pacer, RetryPolicy, call_with_retry

Status = Literal["applied", "unchanged", "rolled_back", "partial", "failed"]
DEFAULT_JOURNAL = ".chainsim/journal.json"
ProgressHook = Callable[[int, int], None]


# --------------------------------------------------------------------------- results


@dataclass
class RuleOutcome:
    """What happened to one rule in a run (one row of the report's `rules`)."""

    id: str
    outcome: str = "pending"
    attempts: int = 0
    version_before: int | None = None
    version_after: int | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """`{"id", "outcome", "attempts", "version_before", "version_after"[, "error"]}`."""
        out: dict[str, Any] = {
            "id": self.id,
            "outcome": self.outcome,
            "attempts": self.attempts,
            "version_before": self.version_before,
            "version_after": self.version_after,
        }
        if self.error:
            out["error"] = self.error
        return out


@dataclass
class ApplyResult:
    """The result of one run; `to_report()` is the apply report of DESIGN §9."""

    run_id: str
    status: Status
    rules: list[RuleOutcome]
    metrics: dict[str, Any]
    dead_letters: int = 0
    findings: list[dict[str, Any]] = field(default_factory=list)
    changes: ChangeSet | None = None
    callback: dict[str, Any] | None = None
    audit_head: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True for `applied` and `unchanged`."""
        return self.status in ("applied", "unchanged")

    def to_report(self) -> dict[str, Any]:
        """The DESIGN §9 report: status, rules, metrics, dead_letters (+ run id, findings...)."""
        report: dict[str, Any] = {
            "run_id": self.run_id,
            "status": self.status,
            "rules": [r.to_json() for r in self.rules],
            "metrics": self.metrics,
            "dead_letters": self.dead_letters,
        }
        if self.findings:
            report["findings"] = self.findings
        if self.error:
            report["error"] = self.error
        if self.callback is not None:
            report["callback"] = self.callback
        if self.audit_head is not None:
            report["audit_head"] = self.audit_head
        return report


# --------------------------------------------------------------------------- journal


@dataclass
class _Applied:
    """One update that reached the bus: what the rule held before, and which fields changed."""

    rule_id: str
    base: Rule
    fields: list[str]


def _compact(rule: Rule, fields: Iterable[str]) -> dict[str, Any]:
    """The identity of `rule` plus only `fields`: all a journal entry needs to undo or check."""
    wire = rule.to_wire()
    out: dict[str, Any] = {k: wire[k] for k in ("id", "eventType", "version") if k in wire}
    out.update({key: wire[key] for key in fields if key in wire})
    return out


class Journal:
    """The on-disk record of an unfinished run, replaced atomically before each PUT.

    `journal.json` holds the run's status and one compact entry per rule written (its
    state, the changed fields' values before and after); the plan itself is written
    once beside it (`journal.plan.json`). A success is recorded in memory and reaches
    the disk with the next write: a PUT whose entry still says `writing` is checked
    against the bus on resume, which is exactly what a crash mid-PUT needs anyway.
    Entries are serialised once each, so a write costs O(entries) string joins.
    """

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path else None
        self._lock = threading.Lock()
        self._header: dict[str, Any] = {}
        self._order: list[str] = []
        self._entries: dict[str, dict[str, Any]] = {}
        self._cache: dict[str, str] = {}

    @property
    def plan_path(self) -> Path | None:
        """Where the run's plan is kept (`journal.plan.json` beside `journal.json`)."""
        return self.path.with_suffix(".plan.json") if self.path else None

    @property
    def active(self) -> bool:
        """True while a run is recorded in this journal object."""
        return bool(self._header)

    @property
    def entries(self) -> dict[str, dict[str, Any]]:
        """The per-rule entries (a copy)."""
        with self._lock:
            return {k: dict(v) for k, v in self._entries.items()}

    def load(self) -> dict[str, Any] | None:
        """The journal's content with its plan, or None when there is no journal file."""
        if self.path is None or not self.path.exists():
            return None
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and self.plan_path and self.plan_path.exists():
                data["plan"] = json.loads(self.plan_path.read_text(encoding="utf-8"))
        except ValueError:
            raise InputError(str(self.path), "", "the journal is not valid JSON") from None
        if not isinstance(data, dict) or "status" not in data:
            raise InputError(str(self.path), "", "not a chainsim journal")
        return data

    def adopt(self, data: Mapping[str, Any]) -> None:
        """Continue the run recorded in `data` (as `load` returned it)."""
        with self._lock:
            self._header = {
                k: data[k] for k in ("version", "run_id", "status", "atomic") if k in data
            }
            self._order = list(data.get("order", []))
            self._entries = {k: dict(v) for k, v in data.get("rules", {}).items()}
            self._cache = {}

    def begin(self, run_id: str, plan: ChainPlan, atomic: bool) -> None:
        """Start a run: write the plan, then an empty journal in status `applying`."""
        if self.path is None or self.plan_path is None:
            return
        atomic_write_text(self.plan_path, plan.model_dump_json(exclude_none=True))
        with self._lock:
            self._header = {"version": 2, "run_id": run_id, "status": "applying", "atomic": atomic}
            self._order, self._entries, self._cache = [], {}, {}
            self._write()

    def writing(self, rule_id: str, base: Rule, fields: list[str], target: Rule) -> None:
        """Record, before a PUT, what the rule holds and what is about to be written."""
        with self._lock:
            if not self._header:
                return
            entry = self._entries.get(rule_id)
            if entry is not None and entry.get("state") in ("applied", "restoring", "restored"):
                entry["state"] = "restoring"  # a rollback PUT: the entry keeps its snapshot
            else:
                self._entries[rule_id] = {
                    "state": "writing",
                    "base": _compact(base, fields),
                    "fields": list(fields),
                    "target": _compact(target, fields),
                }
            self._cache.pop(rule_id, None)
            self._write()

    def applied(self, item: _Applied) -> None:
        """Record a successful PUT (on disk with the next write)."""
        self._mark(
            item.rule_id, "applied", base=_compact(item.base, item.fields), fields=item.fields
        )
        with self._lock:
            if item.rule_id not in self._order:
                self._order.append(item.rule_id)

    def failed(self, rule_id: str) -> None:
        """Record that a rule's update failed for good (it was not written)."""
        self._mark(rule_id, "failed")

    def restored(self, rule_id: str) -> None:
        """Record that an applied rule was restored to its snapshot."""
        self._mark(rule_id, "restored")

    def status(self, status: str) -> None:
        """Set the run's status (`applying`, `rolling_back`, or a final report status)."""
        with self._lock:
            if not self._header:
                return
            self._header["status"] = status
            self._write()

    def _mark(self, rule_id: str, state: str, **update: Any) -> None:
        with self._lock:
            if not self._header:
                return
            entry = self._entries.setdefault(rule_id, {})
            entry.update(state=state, **update)
            self._cache.pop(rule_id, None)

    def _write(self) -> None:
        if self.path is None:
            return
        parts = []
        for rule_id, entry in self._entries.items():
            text = self._cache.get(rule_id)
            if text is None:
                text = self._cache[rule_id] = json.dumps(entry, separators=(",", ":"))
            parts.append(f"{json.dumps(rule_id)}:{text}")
        head = json.dumps({**self._header, "order": self._order}, separators=(",", ":"))
        atomic_write_text(self.path, head[:-1] + ',"rules":{' + ",".join(parts) + "}}")


def _applied_from_journal(data: Mapping[str, Any]) -> list[_Applied]:
    """Updates the journal records as applied (or mid-restore), oldest first."""
    items = []
    rules = data.get("rules", {})
    for rule_id in data.get("order", []):
        entry = rules.get(rule_id, {})
        if entry.get("state") in ("applied", "restoring"):
            items.append(
                _Applied(rule_id, Rule.model_validate(entry["base"]), list(entry["fields"]))
            )
    return items


# --------------------------------------------------------------------------- errors


class _Failed(Exception):
    """An update that failed for good (wraps the last bus error)."""

    def __init__(self, error: BusError, target: Rule, fields: list[str]) -> None:
        super().__init__(str(error))
        self.error = error
        self.target = target
        self.fields = fields


class ConflictsExhausted(Conflict):
    """409 after every re-read and re-merge the policy allows."""


# --------------------------------------------------------------------------- orchestrator


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
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.bus = bus
        self.clock = clock
        self.retry = retry or RetryPolicy()
        self.dead_letter = dead_letter
        self.callback = callback
        self.audit = audit
        self.metrics = metrics or Metrics(clock)
        self.atomic = atomic
        self.concurrency = concurrency
        self.journal = Journal(journal_path)
        self.pacer = pacer or Pacer(
            clock, enabled=self.retry.pacing, retry_after_cap=self.retry.retry_after_cap
        )
        self.merger = merger or dialect_of(bus).merger
        self.progress = progress
        self._lock = threading.Lock()
        self._plan_sink = DeadLetterSink(url=None, spool=DEFAULT_SPOOL)
        self._trail_from = 0
        add_observer = getattr(bus, "add_observer", None)
        if callable(add_observer):
            add_observer(self._observe)

    def _observe(self, exchange: Any) -> None:
        self.metrics.observe(exchange)
        self.pacer.observe(exchange)

    # ------------------------------------------------------------------ public API

    def inventory(self) -> list[Rule]:
        """Every rule on the bus, page by page when it offers `list_page`; each page retried."""
        rng = self.retry.rng("inventory")
        list_page = getattr(self.bus, "list_page", None)
        if not callable(list_page):
            return self._call(lambda: list(self.bus.list_rules()), rng)

        def fetch_page(token: str | None) -> tuple[list[Rule], str | None]:
            return self._call(partial(list_page, token), rng)

        return list(follow_pages(fetch_page, "listing rules"))

    def plan(self, plan: ChainPlan) -> ChangeSet:
        """The ChangeSet of `plan` against the bus as it is now (writes nothing)."""
        return compute_changes(self.inventory(), PlanIndex.of(plan), self.merger)

    def validate(self, plan: ChainPlan, rules: list[Rule]) -> Any:
        """`validate_plan` for this bus's dialect on `rules` plus the plan's links."""
        from chainsim.validate import validate_plan

        dialect: Any = getattr(self.bus, "dialect", "eventbridge")
        hook = getattr(self.merger, "declared_attributes", None)
        # A dialect that proves attributes its own way (triggers) says what it trusts.
        declared = hook(plan, rules) if callable(hook) else None
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
            prior = _applied_from_journal(data)
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
                stored, _ = self._converge(current, target, outcome)
                outcome.outcome, outcome.version_after = "applied", stored.version
            except (_Failed, BusError, ValueError) as exc:
                outcome.outcome, outcome.error = "failed", _error_text(exc)
            self._audit(
                "redrive", rule=letter.rule_id, outcome=outcome.outcome, trace_id=letter.trace_id
            )
            results.append((letter, outcome))
        self.metrics.stop()
        return results

    # ------------------------------------------------------------------ the run

    def _run(
        self, plan: ChainPlan, run_id: str, *, prior: list[_Applied], resume_status: str | None
    ) -> ApplyResult:
        self.metrics.reset()
        self.metrics.start()
        self._trail_from = len(self.audit.run_lines) if self.audit else 0
        self._audit("start", run_id=run_id, links=len(plan.links), resume=resume_status is not None)
        self._plan_sink = self._sink_from(plan)
        index = PlanIndex.of(plan)
        outcomes: dict[str, RuleOutcome] = {}
        letters: list[DeadLetter] = []

        if resume_status is not None:
            self.metrics.begin_step("resume")
            self.journal.adopt(self.journal.load() or {})
            prior = self._reconcile_writing(prior, outcomes)
        if resume_status == "rolling_back":
            final = self._rollback(prior, outcomes, run_id, letters)
            return self._finish(run_id, plan, final, outcomes, letters)

        self.metrics.begin_step("inventory")
        try:
            rules = self.inventory()
        except BusError as exc:
            self._audit("inventory", ok=False, error=_error_text(exc))
            return self._finish(
                run_id, plan, "failed", outcomes, letters, error=f"inventory: {_error_text(exc)}"
            )
        self._audit("inventory", ok=True, rules=len(rules))

        report = self.validate(plan, rules)
        changes = compute_changes(rules, index, self.merger)
        findings = [f.to_json() for f in report.findings]
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
            return self._finish(
                run_id, plan, "failed", outcomes, letters, findings=findings, changes=changes
            )
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
        for item in prior:  # applied by the killed run: already in the desired state
            row = outcomes.setdefault(
                item.rule_id, RuleOutcome(item.rule_id, version_before=item.base.version)
            )
            row.outcome = "applied"

        if not changes.has_changes and not prior:
            return self._finish(
                run_id, plan, "unchanged", outcomes, letters, findings=findings, changes=changes
            )

        if resume_status is None:
            self.journal.begin(run_id, plan, self.atomic)
        self.metrics.begin_step("apply")
        applied, failures = self._apply_all(changes, index, outcomes)
        applied = prior + applied

        for rule_id, failure in failures:
            letters.append(self._dead_letter(run_id, rule_id, failure, "apply"))

        if not failures:
            status: Status = "applied"
        elif self.atomic:
            self.journal.status("rolling_back")
            status = self._rollback(applied, outcomes, run_id, letters)
        else:
            status = "partial" if applied else "failed"
        for row in outcomes.values():
            if row.outcome == "pending":
                row.outcome = "skipped"
        return self._finish(
            run_id, plan, status, outcomes, letters, findings=findings, changes=changes
        )

    def _reconcile_writing(
        self, prior: list[_Applied], outcomes: dict[str, RuleOutcome]
    ) -> list[_Applied]:
        """On resume: a PUT in flight when the run died may have landed; record it if so."""
        known = {item.rule_id for item in prior}
        for rule_id, entry in self.journal.entries.items():
            if entry.get("state") != "writing" or rule_id in known:
                continue
            base, target = Rule.model_validate(entry["base"]), Rule.model_validate(entry["target"])
            fields = list(entry["fields"])
            current = self._call(partial(self.bus.get_rule, rule_id), self.retry.rng(rule_id))
            if same_content(overlay(current, target, fields), current):
                item = _Applied(rule_id, base, fields)
                prior.append(item)
                self.journal.applied(item)
                row = outcomes.setdefault(rule_id, RuleOutcome(rule_id))
                row.outcome, row.version_before, row.version_after = (
                    "applied",
                    base.version,
                    current.version,
                )
        return prior

    def _apply_all(
        self, changes: ChangeSet, index: PlanIndex, outcomes: dict[str, RuleOutcome]
    ) -> tuple[list[_Applied], list[tuple[str, _Failed]]]:
        todo = list(changes.updates)
        applied: list[_Applied] = []
        failures: list[tuple[str, _Failed]] = []
        stop = threading.Event()
        total = len(todo)
        done = [0]
        position = [0]
        crash: list[BaseException] = []

        def record(item: _Applied) -> None:
            self.journal.applied(item)
            with self._lock:
                applied.append(item)

        def one(change: Any) -> None:
            row = outcomes[change.rule_id]
            try:
                stored, base = self._converge(
                    change.before,
                    lambda fresh: self.merger.desired(fresh, index),
                    row,
                    on_applied=record,
                )
            except _Failed as failure:
                row.outcome, row.error = "failed", _error_text(failure.error)
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
                if base is None:  # already in the desired state when re-read
                    row.outcome, row.version_after = "unchanged", stored.version
                else:
                    row.outcome, row.version_after = "applied", stored.version
                    self._audit(
                        "put",
                        rule=change.rule_id,
                        version_before=row.version_before,
                        version_after=stored.version,
                        attempts=row.attempts,
                    )
            with self._lock:
                done[0] += 1
                if self.progress is not None:
                    self.progress(done[0], total)

        def worker() -> None:
            while not stop.is_set() and not crash:
                with self._lock:
                    if position[0] >= len(todo):
                        return
                    change = todo[position[0]]
                    position[0] += 1
                try:
                    one(change)
                except BaseException as exc:  # a crash (or a kill) ends the run as it stands
                    crash.append(exc)
                    return

        workers = min(self.concurrency, len(todo))
        if workers <= 1:
            worker()
        else:
            reserve = getattr(self.clock, "reserve", None)
            actor = getattr(self.clock, "actor", None)
            if callable(reserve) and callable(actor):
                reserve(workers)

            def run() -> None:
                if callable(actor):
                    with actor():
                        worker()
                else:
                    worker()

            threads = [
                threading.Thread(target=run, name=f"chainsim-apply-{i}") for i in range(workers)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        if crash:
            raise crash[0]
        return applied, failures

    def _converge(
        self,
        current: Rule,
        make_target: Callable[[Rule], Rule],
        row: RuleOutcome,
        *,
        on_applied: Callable[[_Applied], None] | None = None,
    ) -> tuple[Rule, Rule | None]:
        """Write `make_target(current)` with a versioned PUT; on 409 re-read and re-merge.

        Returns (stored rule, the base it was merged onto), or (current, None) when the rule
        already holds its target. Raises `_Failed` when the update fails for good.
        """
        rng = self.retry.rng(current.id)
        conflict: Conflict | None = None
        sent = False
        last_base: Rule | None = None
        target = make_target(current)
        fields = changed_fields(current, target)
        for _ in range(self.retry.max_conflicts + 1):
            target = make_target(current)
            if same_content(current, target):
                if sent and last_base is not None:  # our earlier PUT landed but its answer was lost
                    if on_applied is not None:
                        on_applied(_Applied(current.id, last_base, fields))
                    return current, last_base
                return current, None
            fields = changed_fields(current, target)
            self.journal.writing(current.id, current, fields, target)
            sent, last_base = True, current

            def count() -> None:
                row.attempts += 1

            try:
                stored = self._call(partial(self.bus.put_rule, target), rng, on_attempt=count)
            except Conflict as exc:
                conflict = exc
                try:
                    current = self._call(partial(self.bus.get_rule, current.id), rng)
                except BusError as exc:
                    raise _Failed(exc, target, fields) from None
                continue
            except BusError as exc:
                raise _Failed(exc, target, fields) from None
            if on_applied is not None:
                on_applied(_Applied(current.id, current, fields))
            return stored, current
        exhausted = ConflictsExhausted(
            "409 on every attempt to merge",
            status=409,
            code=conflict.code if conflict else None,
            context_id=conflict.context_id if conflict else None,
        )
        raise _Failed(exhausted, target, fields)

    def _rollback(
        self,
        applied: list[_Applied],
        outcomes: dict[str, RuleOutcome],
        run_id: str,
        letters: list[DeadLetter],
    ) -> Status:
        """Restore every applied rule to its snapshot, newest first; `rolled_back` or `failed`."""
        self.metrics.begin_step("rollback")
        self._audit("rollback", rules=len(applied))
        ok = True
        restored_any = False
        for item in reversed(applied):
            row = outcomes.setdefault(
                item.rule_id, RuleOutcome(item.rule_id, version_before=item.base.version)
            )
            try:
                current = self._call(
                    partial(self.bus.get_rule, item.rule_id), self.retry.rng(item.rule_id)
                )
                stored, _ = self._converge(
                    current, partial(overlay, source=item.base, fields=item.fields), row
                )
            except (_Failed, BusError) as exc:
                ok = False
                row.outcome, row.error = "rollback_failed", _error_text(exc)
                failure = exc if isinstance(exc, _Failed) else _Failed(exc, item.base, item.fields)
                letters.append(self._dead_letter(run_id, item.rule_id, failure, "restore"))
                self._audit("restore", rule=item.rule_id, ok=False)
                continue
            restored_any = True
            row.outcome, row.version_after = "rolled_back", stored.version
            self.journal.restored(item.rule_id)
            self._audit("restore", rule=item.rule_id, ok=True, version_after=stored.version)
        if not ok:
            return "failed"
        return "rolled_back" if restored_any or applied else "failed"

    def _dead_letter(
        self, run_id: str, rule_id: str, failure: _Failed, operation: str
    ) -> DeadLetter:
        error = failure.error
        letter = DeadLetter(
            rule_id=rule_id,
            payload=failure.target.to_wire(),
            status=error.status,
            code=error.code,
            message=error.message,
            trace_id=f"{run_id}:{rule_id}",
            fields=list(failure.fields),
            operation=operation,
        )
        sink = self.dead_letter or self._plan_sink
        delivery = sink.send(letter)
        self._audit(
            "dead_letter",
            rule=rule_id,
            where=delivery.where,
            error=delivery.error,
            operation=operation,
        )
        return letter

    def _finish(
        self,
        run_id: str,
        plan: ChainPlan,
        status: Status,
        outcomes: dict[str, RuleOutcome],
        letters: list[DeadLetter],
        *,
        findings: list[dict[str, Any]] | None = None,
        changes: ChangeSet | None = None,
        error: str | None = None,
    ) -> ApplyResult:
        self.metrics.stop()
        if self.journal.active:
            self.journal.status(status)
        result = ApplyResult(
            run_id=run_id,
            status=status,
            rules=list(outcomes.values()),
            metrics=self.metrics.summary(),
            dead_letters=len(letters),
            findings=findings or [],
            changes=changes,
            error=error,
        )
        self._audit("finish", status=status, dead_letters=len(letters), metrics=result.metrics)
        notifier = self.callback or self._callback_from(plan)
        if notifier is not None:
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
        if self.audit is not None:
            result.audit_head = self.audit.head().digest
        return result

    @staticmethod
    def _sink_from(plan: ChainPlan) -> DeadLetterSink:
        """The plan's dead-letter URL and spool (default spool when the plan names none)."""
        config = plan.dead_letter
        url = config.url if config else None
        return DeadLetterSink(url=url, spool=(config.spool if config else None) or DEFAULT_SPOOL)

    def _callback_from(self, plan: ChainPlan) -> CallbackNotifier | None:
        if plan.callback is None:
            return None
        secret = os.environ.get(plan.callback.secret_env)
        return CallbackNotifier(plan.callback.url, secret) if secret else None

    # ------------------------------------------------------------------ helpers

    def _call(
        self, fn: Callable[[], Any], rng: Any, on_attempt: Callable[[], None] | None = None
    ) -> Any:
        return call_with_retry(
            fn,
            policy=self.retry,
            clock=self.clock,
            rng=rng,
            pacer=self.pacer if self.retry.pacing else None,
            on_attempt=on_attempt,
        )

    def _audit(self, step: str, **data: Any) -> None:
        if self.audit is not None:
            self.audit.append(step, **data)

    def __repr__(self) -> str:
        return (
            f"Orchestrator(bus={self.bus!r}, atomic={self.atomic}, concurrency={self.concurrency})"
        )


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, _Failed):
        exc = exc.error
    return str(exc)

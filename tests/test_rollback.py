"""Convergence and rollback: exact 409 budgets, newest-first restores, rollback that holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from chainsim.bus.base import Conflict, Unprocessable
from chainsim.deadletter import read_spool
from chainsim.fakebus.faults import FaultPlan
from chainsim.model import Rule
from chainsim.retry import RetryPolicy
from tests.orchestrator_rig import DLQ_URL, applied_links, make_rule, plan_of, rig

RULES = [make_rule(x) for x in "abcde"]
# a -> b, c -> d, then b -> c: with max_depth 2 the bus refuses the third update (422).
FAILING_LAST = plan_of(("a", "b"), ("c", "d"), ("b", "c"), dead_letter={"url": DLQ_URL})


class Wrapper:
    """A bus passing everything through to `bus` (subclasses intercept some calls)."""

    def __init__(self, bus: Any) -> None:
        self.bus = bus

    def __getattr__(self, name: str) -> Any:
        return getattr(self.bus, name)


class ConflictFirst(Wrapper):
    """Answers the first `n` PUTs with 409 (without sending them)."""

    def __init__(self, bus: Any, n: int) -> None:
        super().__init__(bus)
        self.n, self.puts = n, 0

    def put_rule(self, rule: Rule) -> Rule:
        self.puts += 1
        if self.puts <= self.n:
            raise Conflict("changed by someone else", code="conflict")
        return self.bus.put_rule(rule)  # type: ignore[no-any-return]


class DeleteOnFailure(Wrapper):
    """When a PUT is refused with 422, someone else deletes `victim` before the rollback."""

    def __init__(self, bus: Any, victim: str) -> None:
        super().__init__(bus)
        self.victim = victim

    def put_rule(self, rule: Rule) -> Rule:
        try:
            return self.bus.put_rule(rule)  # type: ignore[no-any-return]
        except Unprocessable:
            self.bus.delete_rule(self.victim)
            raise


class AlwaysConflictOnRestore(Wrapper):
    """Once a PUT has been refused with 422, every later PUT (the restores) answers 409."""

    def __init__(self, bus: Any) -> None:
        super().__init__(bus)
        self.failed = False
        self.restore_puts = 0

    def put_rule(self, rule: Rule) -> Rule:
        if self.failed:
            self.restore_puts += 1
            raise Conflict("changed by someone else", code="conflict")
        try:
            return self.bus.put_rule(rule)  # type: ignore[no-any-return]
        except Unprocessable:
            self.failed = True
            raise


@pytest.mark.parametrize("budget", [0, 1, 3])
def test_an_update_gets_exactly_the_409_re_merges_the_policy_allows(
    tmp_path: Path, budget: int
) -> None:
    """With max_conflicts=k, k 409s still apply (k+1 PUTs); k+1 409s fail after k+1 PUTs."""
    policy = RetryPolicy(max_conflicts=budget)
    with rig(tmp_path / "ok", RULES) as r:
        bus = ConflictFirst(r.bus(), budget)
        ok = r.orchestrator(bus, retry=policy).apply(plan_of(("a", "b")))
        assert applied_links(next(x for x in r.fake.rules() if x.id == "a")) == {"b"}
    assert ok.status == "applied" and bus.puts == budget + 1
    assert ok.rules[0].attempts == budget + 1
    with rig(tmp_path / "ko", RULES) as r:
        bus = ConflictFirst(r.bus(), budget + 1)
        ko = r.orchestrator(bus, retry=policy).apply(plan_of(("a", "b")))
    assert ko.status == "failed" and bus.puts == budget + 1
    assert ko.rules[0].error is not None and "409" in ko.rules[0].error


def test_rollback_restores_newest_first(tmp_path: Path) -> None:
    """The restore PUTs run in the reverse order of the updates they undo."""
    with rig(tmp_path, RULES, max_depth=2) as r:
        result = r.orchestrator().apply(FAILING_LAST)
        puts = [x.path.rsplit("/", 1)[-1] for x in r.fake.requests if x.method == "PUT"]
    assert result.status == "rolled_back"
    applied, refused, restores = puts[:2], puts[2], puts[3:]
    assert refused == "b" and len(set(applied)) == 2
    assert restores == list(reversed(applied))


def test_a_rule_deleted_before_its_restore_is_dead_lettered_and_reported(tmp_path: Path) -> None:
    """A restore of a rule someone else deleted: `failed`, a `restore` letter saying so."""
    with rig(tmp_path, RULES, max_depth=2) as r:
        result = r.orchestrator(DeleteOnFailure(r.bus(), "a")).apply(FAILING_LAST)
        rules = {x.id: x for x in r.fake.rules()}
    assert result.status == "failed"
    assert "a" not in rules and applied_links(rules["c"]) == set()  # c restored all the same
    rows = {row.id: row for row in result.rules}
    assert rows["a"].outcome == "rollback_failed" and rows["c"].outcome == "rolled_back"
    assert "deleted by someone else" in (rows["a"].error or "")
    assert "half-applied" in (result.error or "") and "a:" in (result.error or "")
    letters = {(x.rule_id, x.operation): x for x in read_spool(tmp_path / "spool.jsonl")}
    assert set(letters) == {("b", "apply"), ("a", "restore")}
    assert letters[("a", "restore")].status == 404
    assert "deleted by someone else" in letters[("a", "restore")].message
    assert result.dead_letters == 2


def test_a_restore_that_never_lands_stops_at_its_deadline(tmp_path: Path) -> None:
    """409 on every restore: re-merged with backoff until the deadline, then a letter."""
    with rig(tmp_path, RULES, max_depth=2) as r:
        bus = AlwaysConflictOnRestore(r.bus())
        start = r.clock.now()
        result = r.orchestrator(bus, restore_deadline=60.0).apply(FAILING_LAST)
        elapsed = r.clock.now() - start
    assert result.status == "failed"
    assert bus.restore_puts > RetryPolicy().max_conflicts + 1  # not a fixed attempt count
    assert 120.0 <= elapsed < 130.0  # two restores, 60 s each (plus a little latency)
    letters = [x for x in read_spool(tmp_path / "spool.jsonl") if x.operation == "restore"]
    assert len(letters) == 2 and all("deadline passed" in x.message for x in letters)


@pytest.mark.parametrize(("seed", "concurrency"), [(s, 1) for s in range(16)] + [(16, 3)])
def test_heavy_409_contention_never_ends_half_applied(
    tmp_path: Path, seed: int, concurrency: int
) -> None:
    """Concurrent writers on 90% of PUTs: the chain ends whole or rolled back, never half."""
    faults = FaultPlan.model_validate({"seed": seed, "conflicts": {"fraction": 0.9}})
    with rig(tmp_path, RULES, faults, max_depth=2) as r:
        before = {k: _owned(v) for k, v in r.contents().items()}
        result = r.orchestrator(concurrency=concurrency).apply(FAILING_LAST)
        after = {k: _owned(v) for k, v in r.contents().items()}
    assert result.status in ("rolled_back", "failed")
    assert after == before  # the description a concurrent writer set is theirs to keep
    assert all(row.outcome != "rollback_failed" for row in result.rules)


def test_a_transient_failure_during_restore_is_retried_until_it_lands(tmp_path: Path) -> None:
    """5xx answers to a restore beyond the retry budget do not give up before the deadline."""
    with rig(tmp_path, RULES, max_depth=2) as r:
        bus = _FlakyRestores(r.bus(), failures=12)
        result = r.orchestrator(bus).apply(FAILING_LAST)
        after = r.contents()
    assert result.status == "rolled_back"
    assert all(applied_links(Rule.model_validate(v)) == set() for v in after.values())


class _FlakyRestores(Wrapper):
    """After the 422, the next `failures` PUTs answer 503 (more than one retry budget)."""

    def __init__(self, bus: Any, failures: int) -> None:
        super().__init__(bus)
        self.failures, self.failed = failures, False

    def put_rule(self, rule: Rule) -> Rule:
        from chainsim.bus.base import ServerError

        if self.failed and self.failures:
            self.failures -= 1
            raise ServerError("unavailable", status=503)
        try:
            return self.bus.put_rule(rule)  # type: ignore[no-any-return]
        except Unprocessable:
            self.failed = True
            raise


def _owned(wire: dict[str, Any]) -> dict[str, Any]:
    """A rule's content without the description (what a concurrent writer edits)."""
    return {k: v for k, v in wire.items() if k != "description"}


def test_dead_letters_are_posted_only_after_every_restore(tmp_path: Path) -> None:
    """A slow dead-letter endpoint: every restore PUT is answered before the first POST."""
    with rig(tmp_path, RULES, max_depth=2) as r:
        seen: list[tuple[int, float]] = []

        def slow(request: httpx.Request) -> httpx.Response:
            seen.append((sum(1 for x in r.fake.requests if x.method == "PUT"), r.clock.now()))
            r.clock.sleep(40.0)  # answers after 40 s on the bus clock
            return httpx.Response(202)

        r.router.post(DLQ_URL).mock(side_effect=slow)
        result = r.orchestrator(letters_deadline=300.0).apply(FAILING_LAST)
        puts = [x for x in r.fake.requests if x.method == "PUT"]
    assert result.status == "rolled_back"
    assert len(puts) == 5 and seen == [(5, pytest.approx(puts[-1].at, abs=1.0))]
    assert max(x.at for x in puts) < seen[0][1] + 1e-9


def test_dead_letter_posts_share_one_total_deadline(tmp_path: Path) -> None:
    """Once the letters' deadline has passed, the remaining letters are spooled unsent."""
    with rig(tmp_path, RULES, max_depth=2) as r:
        posted: list[str] = []

        def slow(request: httpx.Request) -> httpx.Response:
            posted.append(request.content.decode())
            r.clock.sleep(40.0)
            return httpx.Response(202)

        r.router.post(DLQ_URL).mock(side_effect=slow)
        bus = DeleteOnFailure(r.bus(), "a")  # two letters: b (apply) and a (restore)
        result = r.orchestrator(bus, letters_deadline=30.0).apply(FAILING_LAST)
    assert result.dead_letters == 2 and len(posted) == 1
    (spooled,) = read_spool(tmp_path / "spool.jsonl")
    assert spooled.operation == "restore" and spooled.rule_id == "a"


class ForbiddenOnRestore(Wrapper):
    """Once a PUT has been refused with 422, every later PUT (the restores) answers 403."""

    def __init__(self, bus: Any) -> None:
        super().__init__(bus)
        self.failed = False

    def put_rule(self, rule: Rule) -> Rule:
        from chainsim.bus.base import Forbidden

        if self.failed:
            raise Forbidden("missing permission", code="missing.permissions")
        try:
            return self.bus.put_rule(rule)  # type: ignore[no-any-return]
        except Unprocessable:
            self.failed = True
            raise


def test_a_rule_made_unwritable_fails_its_restore_at_once_and_says_so(tmp_path: Path) -> None:
    """A 403 on a restore is not retried; the letter says the rule was made unwritable."""
    with rig(tmp_path, RULES, max_depth=2) as r:
        start = r.clock.now()
        result = r.orchestrator(ForbiddenOnRestore(r.bus())).apply(FAILING_LAST)
        elapsed = r.clock.now() - start
    assert result.status == "failed" and elapsed < 1.0
    letters = [x for x in read_spool(tmp_path / "spool.jsonl") if x.operation == "restore"]
    assert len(letters) == 2
    assert all(x.status == 403 and "made unwritable" in x.message for x in letters)


def _audit_steps(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """(step, data) of every line of an audit log."""
    import json

    return [(x["step"], x["data"]) for x in map(json.loads, path.read_text().splitlines())]


def test_a_rollback_is_audited_with_the_number_of_rules_it_restores(tmp_path: Path) -> None:
    """The audit log has one `rollback` step naming how many applied rules it restores."""
    with rig(tmp_path, RULES, max_depth=2) as r:
        assert r.orchestrator().apply(FAILING_LAST).status == "rolled_back"
    steps = _audit_steps(tmp_path / "audit.jsonl")
    assert [data for step, data in steps if step == "rollback"] == [{"rules": 2}]


def test_a_resumed_rollback_reports_each_restored_rule_with_its_snapshot_version(
    tmp_path: Path,
) -> None:
    """Resuming a killed rollback: one row per restored rule, its id and version before."""
    from tests.test_apply import KillAfter, Killed

    with rig(tmp_path, RULES, max_depth=2) as r:
        with pytest.raises(Killed):
            r.orchestrator(KillAfter(r.bus(), 3)).apply(FAILING_LAST)
        result = r.orchestrator().resume()
    assert result.status == "rolled_back"
    rows = sorted((row.id, row.outcome, row.version_before) for row in result.rules)
    assert rows == [("a", "rolled_back", 1), ("c", "rolled_back", 1)]


class _FlakyRestoreReads(Wrapper):
    """After the 422, the next `failures` GETs of one rule answer 503."""

    def __init__(self, bus: Any, failures: int) -> None:
        super().__init__(bus)
        self.failures, self.failed = failures, False

    def get_rule(self, rule_id: str) -> Rule:
        from chainsim.bus.base import ServerError

        if self.failed and self.failures:
            self.failures -= 1
            raise ServerError("unavailable", status=503)
        return self.bus.get_rule(rule_id)  # type: ignore[no-any-return]

    def put_rule(self, rule: Rule) -> Rule:
        try:
            return self.bus.put_rule(rule)  # type: ignore[no-any-return]
        except Unprocessable:
            self.failed = True
            raise


def test_a_restore_read_failing_past_the_retry_budget_is_retried_until_it_lands(
    tmp_path: Path,
) -> None:
    """5xx on a restore's first GET, beyond one retry budget: read again until it lands."""
    with rig(tmp_path, RULES, max_depth=2) as r:
        bus = _FlakyRestoreReads(r.bus(), failures=12)
        result = r.orchestrator(bus).apply(FAILING_LAST)
        after = r.contents()
    assert result.status == "rolled_back" and bus.failures == 0
    assert all(applied_links(Rule.model_validate(v)) == set() for v in after.values())


def test_a_restore_read_failing_until_the_deadline_keeps_the_bus_error(tmp_path: Path) -> None:
    """A restore whose GET answers 503 until its deadline: the letter keeps the 503."""
    with rig(tmp_path, RULES, max_depth=2) as r:
        bus = _FlakyRestoreReads(r.bus(), failures=10**6)
        result = r.orchestrator(bus, restore_deadline=30.0).apply(FAILING_LAST)
    assert result.status == "failed"
    letters = [x for x in read_spool(tmp_path / "spool.jsonl") if x.operation == "restore"]
    assert len(letters) == 2
    assert all(x.status == 503 and "restore impossible" not in x.message for x in letters)


def test_the_half_applied_error_lists_every_stuck_rule(tmp_path: Path) -> None:
    """Two restores refused: the report's error names both, separated by `; `."""
    with rig(tmp_path, RULES, max_depth=2) as r:
        result = r.orchestrator(ForbiddenOnRestore(r.bus())).apply(FAILING_LAST)
    rows = {row.id: row for row in result.rules}
    assert result.error == (
        "half-applied: 2 rule(s) could not be restored "
        f"(a: {rows['a'].error}; c: {rows['c'].error})"
    )


def test_each_restore_is_audited_with_its_rule_and_outcome(tmp_path: Path) -> None:
    """One `restore` step per rule, newest first: ok with the version, or the error."""
    with rig(tmp_path / "ok", RULES, max_depth=2) as r:
        r.tmp.mkdir()
        assert r.orchestrator().apply(FAILING_LAST).status == "rolled_back"
    with rig(tmp_path / "ko", RULES, max_depth=2) as r:
        r.tmp.mkdir()
        result = r.orchestrator(ForbiddenOnRestore(r.bus())).apply(FAILING_LAST)
    ok = [d for s, d in _audit_steps(tmp_path / "ok" / "audit.jsonl") if s == "restore"]
    assert ok == [
        {"rule": "c", "ok": True, "version_after": 3},
        {"rule": "a", "ok": True, "version_after": 3},
    ]
    rows = {row.id: row for row in result.rules}
    ko = [d for s, d in _audit_steps(tmp_path / "ko" / "audit.jsonl") if s == "restore"]
    assert ko == [
        {"rule": "c", "ok": False, "error": rows["c"].error},
        {"rule": "a", "ok": False, "error": rows["a"].error},
    ]
    assert "made unwritable" in (rows["a"].error or "")


def test_the_journal_marks_each_restored_rule(tmp_path: Path) -> None:
    """After a rollback the journal records every applied rule as `restored`, by its id."""
    from chainsim.journal import Journal

    with rig(tmp_path, RULES, max_depth=2) as r:
        assert r.orchestrator().apply(FAILING_LAST).status == "rolled_back"
    data = Journal(tmp_path / "journal.json").load() or {}
    assert data["status"] == "rolled_back"
    assert {k: v["state"] for k, v in data["rules"].items()} == {
        "a": "restored",
        "c": "restored",
        "b": "failed",
    }


def test_refused_rewords_the_error_and_keeps_every_bus_detail() -> None:
    """`refused`: the exact why (deleted / unwritable) and the bus's status, code, ids, details."""
    from chainsim.bus.base import Forbidden, NotFound
    from chainsim.converge import RestoreRefused, refused

    gone = refused(NotFound("no rule", code="not.found", context_id="ctx-1", details={"n": 1}))
    assert isinstance(gone, RestoreRefused)
    assert gone.message == (
        "restore impossible, the rule was deleted by someone else; "
        "the chain stays half-applied (no rule)"
    )
    assert (gone.status, gone.code, gone.context_id, gone.details) == (
        404,
        "not.found",
        "ctx-1",
        {"n": 1},
    )
    locked = refused(Forbidden("no permission", code="missing.permissions", context_id="ctx-2"))
    assert locked.message == (
        "restore impossible, the rule was made unwritable by someone else; "
        "the chain stays half-applied (no permission)"
    )
    assert (locked.status, locked.code, locked.context_id) == (403, "missing.permissions", "ctx-2")


class _ConflictWithContext(AlwaysConflictOnRestore):
    """Like AlwaysConflictOnRestore, with the bus's code and context id on each 409."""

    def put_rule(self, rule: Rule) -> Rule:
        if self.failed:
            self.restore_puts += 1
            raise Conflict("changed by someone else", code="conflict", context_id="ctx-9")
        return super().put_rule(rule)


def test_a_late_restore_keeps_the_buss_status_code_and_context_id(tmp_path: Path) -> None:
    """A restore past its deadline: the error is reworded but keeps 409, code and context id."""
    with rig(tmp_path, RULES, max_depth=2) as r:
        result = r.orchestrator(_ConflictWithContext(r.bus()), restore_deadline=5.0).apply(
            FAILING_LAST
        )
    rows = {row.id: row for row in result.rules}
    expected = (
        "409 restore deadline passed; the chain stays half-applied (changed by someone else)"
        " [conflict] (contextId ctx-9)"
    )
    assert rows["a"].error == expected and rows["c"].error == expected


def test_failed_reads_as_the_bus_error_it_wraps() -> None:
    """`str(Failed(...))` is the wrapped bus error's text (what redrive reports)."""
    from chainsim.converge import Failed

    error = Conflict("changed by someone else", code="conflict")
    assert str(Failed(error, Rule.model_validate(make_rule("a")), ["actions"])) == str(error)


class _RecordingClock:
    """A VirtualClock that records every sleep."""

    def __init__(self) -> None:
        from chainsim.clock import VirtualClock

        self.inner, self.sleeps = VirtualClock(), []  # type: ignore[var-annotated]

    def now(self) -> float:
        return self.inner.now()

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.inner.sleep(seconds)


class _AlwaysConflict:
    """A bus whose rule `a` is always there and whose every PUT answers 409 (no latency)."""

    def __init__(self, clock: _RecordingClock) -> None:
        self.clock, self.put_times = clock, []  # type: ignore[var-annotated]

    def get_rule(self, rule_id: str) -> Rule:
        return Rule.model_validate(make_rule(rule_id))

    def put_rule(self, rule: Rule) -> Rule:
        self.put_times.append(self.clock.now())
        raise Conflict("changed by someone else", code="conflict")


def test_a_restores_backoff_is_full_jitter_capped_and_stops_at_the_deadline() -> None:
    """Between 409 rounds: sleeps from 0 up to base*2**3, no PUT at or past the deadline."""
    from chainsim.converge import Converger, Failed
    from chainsim.journal import Journal
    from chainsim.results import RuleOutcome
    from chainsim.retry import Pacer

    clock = _RecordingClock()
    bus = _AlwaysConflict(clock)
    policy = RetryPolicy()
    conv = Converger(bus, clock, policy, Pacer(clock), Journal(None))  # type: ignore[arg-type]
    current = Rule.model_validate(make_rule("a"))
    deadline = 500.0
    with pytest.raises(Failed) as caught:
        conv.converge(
            current,
            lambda fresh: fresh.model_copy(update={"description": "restored"}),
            RuleOutcome("a"),
            deadline=deadline,
        )
    assert "deadline passed" in caught.value.error.message
    assert clock.now() == pytest.approx(deadline)  # the last sleep is cut at the deadline
    assert all(at < deadline for at in bus.put_times)
    ceiling = policy.base_delay * 2**3
    assert max(clock.sleeps) <= ceiling and max(clock.sleeps[:-1]) > 0.75 * ceiling
    assert min(clock.sleeps[:-1]) < 0.1 * ceiling
    assert clock.sleeps[0] <= policy.base_delay * 2


class _ConflictThenUnreadable(_AlwaysConflict):
    """Every PUT answers 409 and every GET 503: a re-read after the 409 never succeeds."""

    def get_rule(self, rule_id: str) -> Rule:
        from chainsim.bus.base import ServerError

        raise ServerError("unavailable", status=503)


def test_an_updates_failed_re_read_after_a_409_fails_with_the_read_error() -> None:
    """An update (no deadline) whose re-read fails past its retries: Failed with the 503."""
    from chainsim.converge import Converger, Failed
    from chainsim.journal import Journal
    from chainsim.results import RuleOutcome
    from chainsim.retry import Pacer

    clock = _RecordingClock()
    conv = Converger(
        _ConflictThenUnreadable(clock),  # type: ignore[arg-type]
        clock,
        RetryPolicy(),
        Pacer(clock),
        Journal(None),
    )
    with pytest.raises(Failed) as caught:
        conv.converge(
            Rule.model_validate(make_rule("a")),
            lambda fresh: fresh.model_copy(update={"description": "new"}),
            RuleOutcome("a"),
        )
    assert caught.value.error.status == 503
    assert len(clock.sleeps) == RetryPolicy().max_attempts - 1  # the read's retries only


def test_every_letter_names_its_run_and_the_run_plan_file(tmp_path: Path) -> None:
    """Letters carry run id, atomic, trace id, fields and the plan file with its digest."""
    from chainsim.deadletter import bytes_digest

    with rig(tmp_path, RULES, max_depth=2) as r:
        result = r.orchestrator(DeleteOnFailure(r.bus(), "a")).apply(FAILING_LAST)
    plan_file = tmp_path / "runs" / f"{result.run_id}.plan.json"
    digest = bytes_digest(plan_file.read_bytes())
    letters = read_spool(tmp_path / "spool.jsonl")
    assert [
        (x.rule_id, x.operation, x.run_id, x.atomic, x.trace_id, x.fields, x.plan_file)
        for x in letters
    ] == [
        ("b", "apply", result.run_id, True, f"{result.run_id}:b", ["actions"], str(plan_file)),
        ("a", "restore", result.run_id, True, f"{result.run_id}:a", ["actions"], str(plan_file)),
    ]
    assert all(x.plan_digest == digest for x in letters)
    assert letters[0].status == 422 and letters[0].payload["id"] == "b"
    steps = [d for s, d in _audit_steps(tmp_path / "audit.jsonl") if s == "dead_letter"]
    assert steps == [
        {"rule": "b", "where": "spooled", "error": "ConnectError", "operation": "apply"},
        {"rule": "a", "where": "spooled", "error": "ConnectError", "operation": "restore"},
    ]


def test_a_run_plan_that_cannot_be_written_is_audited_and_letters_still_go(
    tmp_path: Path,
) -> None:
    """When `runs/` cannot be created, the `run_plan` step names the error; letters spool."""
    (tmp_path / "runs").write_text("not a directory")
    with rig(tmp_path, RULES, max_depth=2) as r:
        result = r.orchestrator().apply(FAILING_LAST)
    steps = [d for s, d in _audit_steps(tmp_path / "audit.jsonl") if s == "run_plan"]
    path = tmp_path / "runs" / f"{result.run_id}.plan.json"
    assert len(steps) == 1 and steps[0]["path"] == str(path)
    assert steps[0]["error"] in ("NotADirectoryError", "FileExistsError")
    assert [x.rule_id for x in read_spool(tmp_path / "spool.jsonl")] == ["b"]


class _UnreadableFor(_AlwaysConflict):
    """Each rule's first `failures` GETs answer 503; PUTs land (and are counted)."""

    def __init__(self, clock: _RecordingClock, failures: int) -> None:
        super().__init__(clock)
        self.failures: dict[str, int] = {}
        self.limit = failures

    def get_rule(self, rule_id: str) -> Rule:
        from chainsim.bus.base import ServerError

        seen = self.failures.get(rule_id, 0)
        if seen < self.limit:
            self.failures[rule_id] = seen + 1
            raise ServerError("unavailable", status=503)
        return Rule.model_validate(make_rule(rule_id, description="changed"))

    def put_rule(self, rule: Rule) -> Rule:
        self.put_times.append(self.clock.now())
        return rule.model_copy(update={"version": rule.version + 1})


def _converger(bus: Any, clock: _RecordingClock) -> Any:
    """A Converger on `bus` and `clock` with the default policy and no journal file."""
    from chainsim.converge import Converger
    from chainsim.journal import Journal
    from chainsim.retry import Pacer

    return Converger(bus, clock, RetryPolicy(), Pacer(clock), Journal(None))  # type: ignore[arg-type]


def test_a_reads_wait_between_retry_rounds_starts_at_the_base_delay() -> None:
    """A read with a deadline: after each exhausted retry budget it waits at most base_delay."""
    clock = _RecordingClock()
    conv = _converger(_UnreadableFor(clock, failures=10**6), clock)
    policy = RetryPolicy()
    with pytest.raises(Exception, match="unavailable"):
        conv.read("a", policy.rng("a"), deadline=600.0)
    rounds = clock.sleeps[policy.max_attempts - 1 :: policy.max_attempts][:-1]
    assert len(rounds) > 10 and max(rounds) <= policy.base_delay


def test_each_restore_has_its_own_jitter() -> None:
    """Two rules restored alike draw different backoffs (one seeded RNG per rule)."""
    from chainsim.journal import Applied
    from chainsim.results import RuleOutcome
    from chainsim.rollback import Rollback

    sleeps = []
    for rule_id in ("a", "c"):
        clock = _RecordingClock()
        step = Rollback(_converger(_UnreadableFor(clock, failures=20), clock), lambda *a, **k: None)
        base = Rule.model_validate(make_rule(rule_id))
        step.restore(Applied(rule_id, base, ["description"]), RuleOutcome(rule_id))
        sleeps.append(clock.sleeps)
    assert len(sleeps[0]) == len(sleeps[1]) > 8 and sleeps[0] != sleeps[1]


def test_each_update_has_its_own_jitter() -> None:
    """Two rules converging to a deadline on 409s draw different backoffs between rounds."""
    from chainsim.converge import Failed
    from chainsim.results import RuleOutcome

    sleeps = []
    for rule_id in ("a", "c"):
        clock = _RecordingClock()
        conv = _converger(_AlwaysConflict(clock), clock)
        with pytest.raises(Failed):
            conv.converge(
                Rule.model_validate(make_rule(rule_id)),
                lambda fresh: fresh.model_copy(update={"description": "restored"}),
                RuleOutcome(rule_id),
                deadline=30.0,
            )
        sleeps.append(clock.sleeps[:5])
    assert sleeps[0] != sleeps[1]


def test_the_run_plan_file_is_the_plan_without_null_fields(tmp_path: Path) -> None:
    """The plan kept beside the spool is the run's plan, compact: no `null` fields."""
    from chainsim.model import ChainPlan

    with rig(tmp_path, RULES, max_depth=2) as r:
        result = r.orchestrator().apply(FAILING_LAST)
    text = (tmp_path / "runs" / f"{result.run_id}.plan.json").read_text()
    assert "null" not in text
    assert ChainPlan.model_validate_json(text) == FAILING_LAST


def test_a_late_restore_keeps_a_5xx_status_as_the_bus_sent_it(tmp_path: Path) -> None:
    """Restores answered 503 until their deadline: the letters say 503, not a generic 500."""
    with rig(tmp_path, RULES, max_depth=2) as r:
        bus = _FlakyRestores(r.bus(), failures=10**6)
        result = r.orchestrator(bus, restore_deadline=30.0).apply(FAILING_LAST)
    assert result.status == "failed"
    letters = [x for x in read_spool(tmp_path / "spool.jsonl") if x.operation == "restore"]
    assert len(letters) == 2
    assert all(x.status == 503 and "deadline passed" in x.message for x in letters)


class _LostAnswer(_AlwaysConflict):
    """Rule `a` at version 1; the first PUT lands but its answer is lost (503)."""

    def __init__(self, clock: _RecordingClock) -> None:
        super().__init__(clock)
        self.stored = Rule.model_validate(make_rule("a"))

    def get_rule(self, rule_id: str) -> Rule:
        return self.stored

    def put_rule(self, rule: Rule) -> Rule:
        from chainsim.bus.base import ServerError

        if rule.version != self.stored.version:
            raise Conflict("version mismatch", code="conflict")
        self.stored = rule.model_copy(update={"version": rule.version + 1})
        raise ServerError("answer lost", status=503)


def test_a_put_that_landed_with_its_answer_lost_counts_as_applied() -> None:
    """PUT lands, answer lost, retry gets 409, re-read shows the target: applied, base kept."""
    from chainsim.journal import Applied
    from chainsim.results import RuleOutcome

    clock = _RecordingClock()
    bus = _LostAnswer(clock)
    base = bus.stored
    seen: list[Applied] = []
    stored, before = _converger(bus, clock).converge(
        base,
        lambda fresh: fresh.model_copy(update={"description": "new"}),
        RuleOutcome("a"),
        on_applied=seen.append,
    )
    assert stored.description == "new" and stored.version == 2 and before is base
    assert [(x.rule_id, x.base, x.fields) for x in seen] == [("a", base, ["description"])]

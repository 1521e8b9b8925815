"""Tests of chainsim.converge: one rule PUT converging under 409s, late answers and deadlines."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from chainsim.bus.base import BusError, Conflict, NotFound, ServerError
from chainsim.clock import VirtualClock
from chainsim.converge import ConflictsExhausted, Converger, Failed, RestoreRefused
from chainsim.journal import Applied, Journal
from chainsim.model import Rule
from chainsim.results import RuleOutcome
from chainsim.retry import Pacer, RetryPolicy
from tests.orchestrator_rig import make_rule


class _Bus:
    """Rule `a` in memory; PUTs are versioned; `writer` edits the rule before each PUT lands."""

    def __init__(self, writer: dict[str, object] | None = None) -> None:
        self.stored = Rule.model_validate(make_rule("a"))
        self.writer = writer
        self.puts: list[Rule] = []

    def get_rule(self, rule_id: str) -> Rule:
        return self.stored

    def put_rule(self, rule: Rule) -> Rule:
        self.puts.append(rule)
        if self.writer is not None:  # another writer gets there first, once
            update = {**self.writer, "version": self.stored.version + 1}
            self.stored = self.stored.model_copy(update=update)
            self.writer = None
        if rule.version != self.stored.version:
            raise Conflict("version mismatch", code="conflict")
        self.stored = rule.model_copy(update={"version": rule.version + 1})
        return self.stored


def _converger(bus: _Bus) -> Converger:
    """A Converger on `bus` with a virtual clock, the default policy and no journal file."""
    clock = VirtualClock()
    return Converger(bus, clock, RetryPolicy(), Pacer(clock), Journal(None))  # type: ignore[arg-type]


def _describe(text: str) -> Callable[[Rule], Rule]:
    """A merge that sets the description."""
    return lambda fresh: fresh.model_copy(update={"description": text})


def test_a_rule_already_holding_its_target_is_not_written() -> None:
    """No PUT when the rule already holds what would be written; no base is reported."""
    bus = _Bus()
    seen: list[Applied] = []
    current = bus.stored
    stored, base = _converger(bus).converge(
        current, _describe(current.description or ""), RuleOutcome("a"), on_applied=seen.append
    )
    assert bus.puts == [] and seen == []
    assert stored is current and base is None


def test_a_planned_update_is_sent_once_as_planned() -> None:
    """A planned (target, fields) is PUT as given on the first round, with no re-diff needed."""
    bus = _Bus()
    current = bus.stored
    target = _describe("new")(current)
    seen: list[Applied] = []
    stored, base = _converger(bus).converge(
        current,
        _describe("new"),
        RuleOutcome("a"),
        on_applied=seen.append,
        planned=(target, ["description"]),
    )
    assert bus.puts == [target]
    assert stored.description == "new" and stored.version == 2 and base is current
    assert [(x.rule_id, x.base, x.fields) for x in seen] == [("a", current, ["description"])]


def test_a_planned_update_another_writer_already_made_is_not_sent_again() -> None:
    """409 because a peer wrote the same target: the re-read shows it, so no second PUT."""
    bus = _Bus(writer={"description": "new"})
    current = bus.stored
    row = RuleOutcome("a")
    stored, _ = _converger(bus).converge(
        current,
        _describe("new"),
        row,
        planned=(_describe("new")(current), ["description"]),
    )
    assert len(bus.puts) == 1 and row.attempts == 1
    assert stored.description == "new" and stored.version == 2


def test_a_re_merge_after_a_409_writes_only_the_fields_still_different() -> None:
    """After a 409 the target is merged onto the fresh copy and re-diffed, the peer's edit kept."""
    bus = _Bus(writer={"name": "renamed by a peer"})
    current = bus.stored
    seen: list[Applied] = []
    stored, base = _converger(bus).converge(
        current,
        _describe("new"),
        RuleOutcome("a"),
        on_applied=seen.append,
        planned=(_describe("new")(current), ["description"]),
    )
    assert len(bus.puts) == 2 and bus.puts[1].name == "renamed by a peer"
    assert stored.description == "new" and stored.name == "renamed by a peer"
    assert base is not None and base.version == 2
    assert [(x.base.version, x.fields) for x in seen] == [(2, ["description"])]


class _UnreadableAfterConflict(_Bus):
    """The first PUT answers 409; the next `failures` GETs answer 503; then all goes through."""

    def __init__(self, failures: int) -> None:
        super().__init__(writer={"name": "renamed by a peer"})
        self.failures = failures

    def get_rule(self, rule_id: str) -> Rule:
        if self.failures:
            self.failures -= 1
            raise ServerError("unavailable", status=503)
        return self.stored


def test_a_restores_re_read_after_a_409_is_retried_until_its_deadline() -> None:
    """A restore's re-read after a 409 outlasting one retry budget is retried; the PUT lands."""
    bus = _UnreadableAfterConflict(failures=3 * RetryPolicy().max_attempts)
    current = bus.stored
    stored, base = _converger(bus).converge(
        current, _describe("restored"), RuleOutcome("a"), deadline=600.0
    )
    assert bus.failures == 0 and len(bus.puts) == 2
    assert stored.description == "restored" and stored.name == "renamed by a peer"
    assert base is not None and base.version == 2


class _GoneAfterConflict(_Bus):
    """The first PUT answers 409; every later GET fails with `error`."""

    def __init__(self, error: BusError) -> None:
        super().__init__(writer={"name": "renamed by a peer"})
        self.error = error

    def get_rule(self, rule_id: str) -> Rule:
        raise self.error


def _fail(bus: _Bus, deadline: float | None) -> BusError:
    """The bus error a converge on `bus` fails with (which also names its target and fields)."""
    with pytest.raises(Failed) as caught:
        _converger(bus).converge(bus.stored, _describe("new"), RuleOutcome("a"), deadline=deadline)
    assert caught.value.target.description == "new" and caught.value.target.id == "a"
    assert caught.value.fields == ["description"]
    return caught.value.error


def test_a_re_read_failure_after_a_409_is_reported_as_what_happened() -> None:
    """Update: the bus's own error; restore: a rule gone is 'deleted by someone else'."""
    gone = NotFound("no such rule", status=404)
    error = _fail(_GoneAfterConflict(gone), deadline=None)
    assert error is gone
    error = _fail(_GoneAfterConflict(NotFound("no such rule", status=404)), deadline=600.0)
    assert isinstance(error, RestoreRefused) and error.status == 404
    assert "deleted by someone else" in error.message
    down = ServerError("unavailable", status=503)
    error = _fail(_GoneAfterConflict(down), deadline=None)
    assert error is down


class _Contended(_Bus):
    """Every PUT answers 409 with the bus's code and context id."""

    def put_rule(self, rule: Rule) -> Rule:
        self.puts.append(rule)
        raise Conflict("version mismatch", code="conflict", context_id="ctx-7")


def test_an_update_out_of_re_merges_keeps_the_last_409s_details() -> None:
    """ConflictsExhausted carries status 409 and the last 409's code and context id."""
    bus = _Contended()
    error = _fail(bus, deadline=None)
    assert isinstance(error, ConflictsExhausted)
    assert (error.status, error.code, error.context_id) == (409, "conflict", "ctx-7")
    assert error.message == "409 on every attempt to merge"
    assert len(bus.puts) == RetryPolicy().max_conflicts + 1


def test_a_policy_without_pacing_never_waits_for_the_shared_pacer() -> None:
    """`pacing=False`: calls go out at once even while the shared pacer holds for a 429."""
    clock = VirtualClock()
    pacer = Pacer(clock)
    pacer.hold(100.0)
    rng = RetryPolicy().rng("a")
    plain = Converger(_Bus(), clock, RetryPolicy(pacing=False), pacer, Journal(None))  # type: ignore[arg-type]
    assert plain.call(lambda: "done", rng) == "done"
    assert clock.now() == 0.0
    paced = Converger(_Bus(), clock, RetryPolicy(), pacer, Journal(None))  # type: ignore[arg-type]
    assert paced.call(lambda: "done", rng) == "done"
    assert clock.now() == 100.0

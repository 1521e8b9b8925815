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

"""Edge cases of chainsim.apply found by mutation testing (main tests: tests/test_apply.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from chainsim.apply import Journal, Orchestrator
from chainsim.audit import AuditLog, read_head
from chainsim.bus.base import Conflict, ServerError
from chainsim.callbacks import CallbackNotifier
from chainsim.clock import VirtualClock
from chainsim.deadletter import DeadLetter
from chainsim.fakebus.faults import FaultPlan, RateLimit
from chainsim.model import ChainPlan, InputError, Rule
from chainsim.retry import RetryPolicy
from chainsim.validate import validate_plan
from tests.orchestrator_rig import (
    CALLBACK_URL,
    DLQ_URL,
    Rig,
    applied_links,
    make_link,
    make_rule,
    plan_of,
    rig,
)
from tests.test_apply import KillAfter, Killed


def _letter(rule_id: str, payload: dict[str, object], fields: list[str]) -> DeadLetter:
    """A dead letter for `rule_id` carrying `payload`."""
    return DeadLetter(rule_id, dict(payload), 422, "x", "failed", "t-1", fields=fields)


def test_redrive_without_fields_applies_the_changed_fields(tmp_path: Path) -> None:
    """A letter naming no fields redrives what differs from the bus, keeping other fields."""
    payload = make_rule("a", actions=[{"type": "invokeRule", "ruleId": "b"}])
    with rig(tmp_path, [make_rule("a"), make_rule("b")]) as r:
        ((letter, outcome),) = r.orchestrator().redrive([_letter("a", payload, [])])
        stored = {rule.id: rule for rule in r.fake.rules()}
    assert letter.rule_id == "a" and outcome.outcome == "applied", outcome
    assert applied_links(stored["a"]) == {"b"} and applied_links(stored["b"]) == set()
    assert outcome.version_after == stored["a"].version
    assert outcome.version_before is not None and outcome.version_after > outcome.version_before


def test_redrive_with_fields_writes_only_those(tmp_path: Path) -> None:
    """A letter naming `actions` redrives only the actions, not the payload's other fields."""
    payload = make_rule("a", actions=[{"type": "invokeRule", "ruleId": "b"}], name="Other")
    with rig(tmp_path, [make_rule("a"), make_rule("b")]) as r:
        ((_, outcome),) = r.orchestrator().redrive([_letter("a", payload, ["actions"])])
        stored = {rule.id: rule for rule in r.fake.rules()}
    assert outcome.outcome == "applied"
    assert applied_links(stored["a"]) == {"b"} and stored["a"].name == "Rule a"


def test_redrive_of_a_rule_gone_from_the_bus_fails(tmp_path: Path) -> None:
    """A letter for a rule the bus no longer has fails with the bus's error; others go on."""
    letters = [_letter("gone", make_rule("gone"), []), _letter("a", make_rule("a", name="N"), [])]
    with rig(tmp_path, [make_rule("a")]) as r:
        results = r.orchestrator().redrive(letters)
        stored = {rule.id: rule for rule in r.fake.rules()}
    (_, gone), (_, a) = results
    assert gone.outcome == "failed" and gone.error and "gone" in gone.error
    assert a.outcome == "applied" and stored["a"].name == "N"


def _killed_run(tmp_path: Path, *, atomic: bool) -> dict[str, object]:
    """Kill a run of a -> b, c -> d after one PUT; return the journal's first record."""
    with rig(tmp_path, [make_rule(x) for x in "abcd"]) as r, pytest.raises(Killed):
        r.orchestrator(KillAfter(r.bus(), 1), atomic=atomic).apply(plan_of(("a", "b"), ("c", "d")))
    head: dict[str, object] = json.loads((tmp_path / "journal.json").read_text().splitlines()[0])
    return head


def test_resume_without_an_unfinished_run_is_one_clear_error(tmp_path: Path) -> None:
    """Resuming with no journal, or a finished one, names the journal file."""
    expected = f"{tmp_path / 'journal.json'}: no unfinished run to resume"
    with rig(tmp_path, [make_rule("a"), make_rule("b")]) as r:
        with pytest.raises(InputError) as caught:
            r.orchestrator().resume()
        assert str(caught.value) == expected
        assert r.orchestrator().apply(plan_of(("a", "b"))).status == "applied"
        with pytest.raises(InputError) as caught:
            r.orchestrator().resume()
    assert str(caught.value) == expected


def test_resume_of_a_damaged_journal_is_one_clear_error(tmp_path: Path) -> None:
    """A journal whose recorded plan does not load is reported as damaged, by file."""
    _killed_run(tmp_path, atomic=False)
    path = tmp_path / "journal.json"
    lines = path.read_text().splitlines(keepends=True)
    head = json.loads(lines[0])
    head["plan"] = {"max_depth": "deep"}
    path.write_text(json.dumps(head, separators=(",", ":")) + "\n" + "".join(lines[1:]))
    with rig(tmp_path / "again", [make_rule("a")]) as r, pytest.raises(InputError) as caught:
        r.orchestrator(journal_path=path).resume()
    assert str(caught.value) == f"{path}: the journal is damaged"


def test_resume_keeps_the_killed_runs_id_and_atomic_setting(tmp_path: Path) -> None:
    """A resumed run reports the killed run's id and runs atomic as that run did."""
    head = _killed_run(tmp_path, atomic=True)
    with rig(tmp_path / "again", [make_rule(x) for x in "abcd"]) as r:
        orchestrator = r.orchestrator(journal_path=tmp_path / "journal.json", atomic=False)
        result = orchestrator.resume()
    assert result.run_id == head["run_id"] and orchestrator.atomic is True


# --------------------------------------------------------------------------- the audit trail


def _trail(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """(step, data) of every line of the audit log at `path`."""
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return [(line["step"], line["data"]) for line in lines]


def _plain(value: Any) -> Any:
    """`value` as it reads back from a JSON line."""
    return json.loads(json.dumps(value))


def test_an_applied_run_audits_every_step_with_its_fields(tmp_path: Path) -> None:
    """start, inventory, validate, plan, one put per update and finish, each with its fields."""
    seen: list[tuple[int, int]] = []
    with rig(tmp_path, [make_rule(x) for x in "abcde"]) as r:
        result = r.orchestrator(progress=lambda done, total: seen.append((done, total))).apply(
            plan_of(("a", "b"), ("c", "d"))
        )
    assert re.fullmatch(r"[0-9a-f]{32}", result.run_id)
    put = {"version_before": 1, "version_after": 2, "attempts": 1}
    assert _trail(tmp_path / "audit.jsonl") == [
        ("start", {"run_id": result.run_id, "links": 2, "resume": False}),
        ("inventory", {"ok": True, "rules": 5}),
        ("validate", {"ok": True, "errors": 0, "codes": []}),
        ("plan", {"update": 2, "no-op": 0}),
        ("put", {"rule": "a", **put}),
        ("put", {"rule": "c", **put}),
        ("finish", {"status": "applied", "dead_letters": 0, "metrics": _plain(result.metrics)}),
    ]
    head = read_head(tmp_path / "audit.jsonl")
    assert head is not None and head.lines == 7 and result.audit_head == head.digest
    assert result.changes is not None and result.changes.counts() == {"update": 2, "no-op": 0}
    assert [row.name for row in result.rules] == ["Rule a", "Rule c"]
    assert list(result.metrics["steps"]) == ["inventory", "apply"]
    assert seen == [(1, 2), (2, 2)]


def test_a_run_failing_validation_skips_every_planned_rule(tmp_path: Path) -> None:
    """Validation errors: audited with their codes, no plan line, each rule skipped untouched."""
    with rig(tmp_path, [make_rule("a", version=3), make_rule("b")]) as r:
        result = r.orchestrator().apply(plan_of(("a", "b"), ("b", "a")))
        assert r.puts() == 0
    assert _trail(tmp_path / "audit.jsonl") == [
        ("start", {"run_id": result.run_id, "links": 2, "resume": False}),
        ("inventory", {"ok": True, "rules": 2}),
        ("validate", {"ok": False, "errors": 1, "codes": ["cycle"]}),
        ("finish", {"status": "failed", "dead_letters": 0, "metrics": _plain(result.metrics)}),
    ]
    assert [row.to_json() for row in result.rules] == [
        {"id": "a", "outcome": "skipped", "attempts": 0, "version_before": 3, "version_after": 3},
        {"id": "b", "outcome": "skipped", "attempts": 0, "version_before": 1, "version_after": 1},
    ]
    assert result.changes is not None and result.changes.counts() == {"update": 2, "no-op": 0}
    assert list(result.metrics["steps"]) == ["inventory"]


CHAIN_TOO_DEEP = (
    "breaks a chain constraint: a path of 3 hops runs through this rule, at most 2 allowed"
)


def test_an_atomic_failure_audits_the_failure_the_rollback_and_the_letter(tmp_path: Path) -> None:
    """A 422 is audited with its status and code, then the restores and the letter's delivery."""
    with rig(tmp_path, [make_rule(x) for x in "abcde"], max_depth=2) as r:
        result = r.orchestrator().apply(plan_of(("a", "b"), ("c", "d"), ("b", "c")))
    steps = _trail(tmp_path / "audit.jsonl")
    assert [step for step, _ in steps] == [
        *("start", "inventory", "validate", "plan", "put", "put", "failed", "rollback"),
        *("restore", "restore", "dead_letter", "finish"),
    ]
    assert steps[6] == ("failed", {"rule": "b", "status": 422, "code": "unprocessable.entity"})
    assert steps[10] == (
        "dead_letter",
        {"rule": "b", "where": "spooled", "error": "ConnectError", "operation": "apply"},
    )
    assert steps[11] == (
        "finish",
        {"status": "rolled_back", "dead_letters": 1, "metrics": _plain(result.metrics)},
    )
    failed = {row.id: row for row in result.rules}["b"]
    assert failed.reason == f"422 unprocessable.entity: Rule b {CHAIN_TOO_DEEP}"
    assert failed.error is not None and failed.error.startswith(f"422 Rule b {CHAIN_TOO_DEEP} [")
    assert list(result.metrics["steps"]) == ["inventory", "apply", "rollback"]


def test_an_atomic_failure_skips_the_updates_it_never_attempted(tmp_path: Path) -> None:
    """After the first update fails for good, the later ones are skipped with their versions."""
    rules = [
        make_rule("b", actions=[{"type": "invokeRule", "ruleId": "c"}]),
        make_rule("c", actions=[{"type": "invokeRule", "ruleId": "d"}]),
        *[make_rule(x) for x in "ade"],
    ]
    with rig(tmp_path, rules, max_depth=2) as r:
        result = r.orchestrator().apply(plan_of(("a", "b"), ("d", "e")))
    rows = {row.id: row.to_json() for row in result.rules}
    assert result.status == "failed" and rows["a"]["outcome"] == "failed"
    assert rows["d"] == {
        "id": "d",
        "outcome": "skipped",
        "attempts": 0,
        "version_before": 1,
        "version_after": 1,
        "name": "Rule d",
    }


def test_a_run_that_is_not_atomic_fails_when_no_update_lands(tmp_path: Path) -> None:
    """Not atomic, every update refused: `failed` (not `partial`), nothing rolled back."""
    rules = [
        make_rule("b", actions=[{"type": "invokeRule", "ruleId": "c"}]),
        make_rule("c", actions=[{"type": "invokeRule", "ruleId": "d"}]),
        *[make_rule(x) for x in "ad"],
    ]
    with rig(tmp_path, rules, max_depth=2) as r:
        result = r.orchestrator(atomic=False).apply(plan_of(("a", "b")))
    assert (result.status, result.dead_letters, result.error) == ("failed", 1, None)
    assert [(row.id, row.outcome) for row in result.rules] == [("a", "failed")]


def _bus(stub: object) -> Any:
    """A stub standing in for a `Bus` (only what the test needs)."""
    return stub


class _Endless:
    """A bus that hands out a new page token forever (and observes nothing)."""

    dialect = "eventbridge"

    def list_page(self, token: str | None) -> tuple[list[Rule], str]:
        """An empty page and a fresh token."""
        return [], f"t{token}"

    def add_observer(self, observer: Any) -> None:
        """No HTTP, nothing to observe."""


def test_a_failed_inventory_is_audited_with_its_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A listing that never ends: the inventory line says why, the run fails and is committed."""
    import chainsim.bus.base

    monkeypatch.setattr(chainsim.bus.base, "MAX_PAGES", 3)
    clock = VirtualClock()
    audit = AuditLog(tmp_path / "audit.jsonl", clock=clock)
    orchestrator = Orchestrator(_bus(_Endless()), clock=clock, audit=audit, journal_path=None)
    result = orchestrator.apply(plan_of(("a", "b")))
    error = "listing rules: more than 3 pages"
    assert result.status == "failed" and result.error == f"inventory: {error}"
    assert _trail(tmp_path / "audit.jsonl") == [
        ("start", {"run_id": result.run_id, "links": 1, "resume": False}),
        ("inventory", {"ok": False, "error": error}),
        ("finish", {"status": "failed", "dead_letters": 0, "metrics": _plain(result.metrics)}),
    ]
    head = read_head(tmp_path / "audit.jsonl")
    assert head is not None and result.audit_head == head.digest


def test_the_callback_carries_this_runs_lines_and_is_audited(tmp_path: Path) -> None:
    """Two runs on one log: the second callback holds only its own lines; its answer is audited."""
    with rig(tmp_path, [make_rule(x) for x in "abcd"]) as r:
        hook = r.router.post(CALLBACK_URL).mock(return_value=httpx.Response(200))
        notifier = CallbackNotifier(CALLBACK_URL, "cb-secret", http=r.http)
        orchestrator = r.orchestrator(callback=notifier)
        orchestrator.apply(plan_of(("a", "b")))
        result = orchestrator.apply(plan_of(("c", "d")))
    body = json.loads(hook.calls[1].request.content)
    assert set(body) == {"run_id", "status", "report", "audit"}
    assert (body["run_id"], body["status"]) == (result.run_id, "applied")
    lines = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert body["audit"] == lines[7:-1] and body["audit"][0]["data"]["run_id"] == result.run_id
    assert (lines[-1]["step"], lines[-1]["data"]) == (
        "callback",
        {"delivered": True, "status": 200, "error": None},
    )


def test_a_run_without_an_audit_log_has_no_head_and_an_empty_callback_trail(
    tmp_path: Path,
) -> None:
    """No audit log: the result has no head and the callback carries no audit lines."""
    with rig(tmp_path, [make_rule("a"), make_rule("b")]) as r:
        hook = r.router.post(CALLBACK_URL).mock(return_value=httpx.Response(200))
        notifier = CallbackNotifier(CALLBACK_URL, "cb-secret", http=r.http)
        result = r.orchestrator(audit=None, callback=notifier).apply(plan_of(("a", "b")))
    assert result.status == "applied" and result.audit_head is None
    assert json.loads(hook.calls[0].request.content)["audit"] == []


def test_a_plan_callback_without_its_secret_is_recorded_undelivered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plan names a callback but no notifier was built: result and audit say why."""
    monkeypatch.delenv("CB_SECRET", raising=False)
    plan = plan_of(("a", "b"), callback={"url": CALLBACK_URL, "secret_env": "CB_SECRET"})
    with rig(tmp_path, [make_rule("a"), make_rule("b")]) as r:
        result = r.orchestrator().apply(plan)
    expected = {"delivered": False, "status": None, "error": "$CB_SECRET is not set"}
    assert result.callback == expected
    assert _trail(tmp_path / "audit.jsonl")[-1] == ("callback", expected)


# --------------------------------------------------------------------------- redrive


def test_a_redrive_is_audited_letter_by_letter_and_committed(tmp_path: Path) -> None:
    """Each letter gets a `redrive` line (rule, outcome, trace id); the log is committed."""
    letters = [
        DeadLetter("gone", make_rule("gone"), 422, "x", "failed", "t-gone"),
        DeadLetter("a", make_rule("a", name="N"), 422, "x", "failed", "t-a"),
    ]
    with rig(tmp_path, [make_rule("a")]) as r:
        results = r.orchestrator().redrive(letters)
    assert [outcome.id for _, outcome in results] == ["gone", "a"]
    assert _trail(tmp_path / "audit.jsonl") == [
        ("redrive", {"rule": "gone", "outcome": "failed", "trace_id": "t-gone"}),
        ("redrive", {"rule": "a", "outcome": "applied", "trace_id": "t-a"}),
    ]
    head = read_head(tmp_path / "audit.jsonl")
    assert head is not None and head.lines == 2


def test_a_redrive_the_bus_refuses_reports_the_error_and_reason(tmp_path: Path) -> None:
    """A redriven update refused with 422 fails with the bus's error, reason and versions."""
    rules = [
        make_rule("b", actions=[{"type": "invokeRule", "ruleId": "c"}]),
        make_rule("c", actions=[{"type": "invokeRule", "ruleId": "d"}]),
        *[make_rule(x) for x in "ad"],
    ]
    payload = make_rule("a", actions=[{"type": "invokeRule", "ruleId": "b"}])
    with rig(tmp_path, rules, max_depth=2) as r:
        ((_, outcome),) = r.orchestrator().redrive([_letter("a", payload, ["actions"])])
    assert outcome.outcome == "failed" and outcome.version_before == 1
    assert outcome.reason == f"422 unprocessable.entity: Rule a {CHAIN_TOO_DEEP}"
    assert outcome.error is not None and outcome.error.startswith(f"422 Rule a {CHAIN_TOO_DEEP} [")


def test_a_redrive_of_a_payload_that_is_no_rule_fails_without_a_request(tmp_path: Path) -> None:
    """A letter whose payload is not a rule fails with the validation error; nothing is sent."""
    payload: dict[str, object] = {"id": "a", "version": "not a number"}
    try:
        Rule.model_validate(payload)
    except ValueError as exc:
        expected = str(exc)
    with rig(tmp_path, [make_rule("a")]) as r:
        ((_, outcome),) = r.orchestrator().redrive([_letter("a", payload, [])])
        sent = [x for x in r.fake.requests if x.path.startswith("/api/")]
    assert (outcome.outcome, outcome.error, sent) == ("failed", expected, [])


class _FlakyReads:
    """A bus wrapper whose first listing and first read each fail with a retryable 503."""

    def __init__(self, bus: Any) -> None:
        self.bus, self.failed = bus, set[str]()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.bus, name)

    def _once(self, what: str) -> None:
        if what not in self.failed:
            self.failed.add(what)
            raise ServerError("try again", status=503)

    def list_page(self, token: str | None) -> Any:
        """Fail once, then list."""
        self._once("list")
        return self.bus.list_page(token)

    def get_rule(self, rule_id: str) -> Rule:
        """Fail once, then read."""
        self._once("get")
        rule: Rule = self.bus.get_rule(rule_id)
        return rule


def _first_backoff(key: str) -> float:
    """The first full-jitter wait of the default policy's RNG for `key`."""
    policy = RetryPolicy()
    return policy.rng(key).uniform(0.0, policy.base_delay)


def test_retried_reads_wait_the_backoff_of_their_own_rng_stream(tmp_path: Path) -> None:
    """The inventory retries on the policy's `inventory` stream, a redrive's read on its rule's."""
    with rig(tmp_path, [make_rule("a"), make_rule("b")]) as r:
        orchestrator = r.orchestrator(_FlakyReads(r.bus()))
        start = r.clock.now()
        assert [rule.id for rule in orchestrator.inventory()] == ["a", "b"]
        listed = r.clock.now()
        ((_, outcome),) = orchestrator.redrive([_letter("a", make_rule("a", name="N"), [])])
    assert outcome.outcome == "applied"
    assert listed - start == pytest.approx(_first_backoff("inventory"), abs=1e-9)
    assert r.clock.now() - listed == pytest.approx(_first_backoff("a"), abs=1e-9)


# --------------------------------------------------------------------------- plan, validate


def test_plan_returns_the_changes_honouring_remove_and_writes_nothing(tmp_path: Path) -> None:
    """`Orchestrator.plan` lists each change (a removal too) without a PUT; apply then writes it."""
    rules = [make_rule("a", actions=[{"type": "invokeRule", "ruleId": "b"}])]
    rules += [make_rule(x) for x in "bcd"]
    plan = plan_of(("c", "d"), remove=[make_link("a", "b")])
    with rig(tmp_path, rules) as r:
        changes = r.orchestrator().plan(plan)
        assert r.puts() == 0
        assert r.orchestrator().apply(plan).status == "applied"
        final = {rule.id: rule for rule in r.fake.rules()}
    assert [(c.rule_id, c.kind, c.fields) for c in changes.changes] == [
        ("c", "update", ["actions"]),
        ("a", "update", ["actions"]),
    ]
    assert applied_links(changes.changes[1].after) == set()
    assert applied_links(final["a"]) == set() and applied_links(final["c"]) == {"d"}


class _Named:
    """A bus naming its dialect (validation needs no requests)."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect

    def add_observer(self, observer: Any) -> None:
        """No HTTP, nothing to observe."""


def test_validate_follows_the_buss_dialect_and_what_it_declares(tmp_path: Path) -> None:
    """Triggers: criteria and `rules.<id>.attributes` prove attributes; others: filters."""
    criteria = [{"jsonPath": "queueId", "operator": "Equal", "value": "q"}]
    rules = [
        Rule.model_validate(make_rule("a", filters={"attributes": []}, matchCriteria=criteria)),
        Rule.model_validate(make_rule("b", filters={"attributes": []})),
    ]
    plan = plan_of(("a", "b"), rules={"a": {"attributes": ["callerId"]}})
    triggers = Orchestrator(_bus(_Named("triggers")), clock=VirtualClock(), journal_path=None)
    assert triggers.validate(plan, rules).findings == ()
    undeclared = validate_plan(plan, rules, dialect="triggers").findings
    assert [f.code for f in undeclared] == ["unverified_attribute"]
    eventbridge = Orchestrator(_bus(_Named("eventbridge")), clock=VirtualClock(), journal_path=None)
    findings = eventbridge.validate(plan, rules).findings
    assert [(f.code, f.severity) for f in findings] == [
        ("attribute", "error"),
        ("transform", "error"),
    ]
    unnamed = Orchestrator(_bus(_Unnamed()), clock=VirtualClock(), journal_path=None)
    assert unnamed.validate(plan, rules).findings == findings


class _Unnamed:
    """A bus naming no dialect: EventBridge, as `dialect_of` documents."""

    def add_observer(self, observer: Any) -> None:
        """No HTTP, nothing to observe."""


# --------------------------------------------------------------------------- settings


def test_the_retry_policys_pacing_switch_reaches_the_pacer(tmp_path: Path) -> None:
    """Pacing on (the default) keeps under a tight bucket; `pacing=False` runs into 429s."""
    rules = [make_rule(f"r{i}") for i in range(12)]
    plan = plan_of(*[(f"r{i}", f"r{i + 1}") for i in range(0, 11, 2)])
    bucket = FaultPlan(rate_limit=RateLimit(requests=4, per_seconds=10, model="bucket"))
    limited = {}
    for pacing in (True, False):
        with rig(tmp_path / str(pacing), rules, bucket) as r:
            result = r.orchestrator(retry=RetryPolicy(pacing=pacing)).apply(plan)
        assert result.status == "applied"
        limited[pacing] = result.metrics["status_429"]
    assert limited[True] == 0 and limited[False] > 0


def test_the_pacer_caps_retry_after_as_the_policy_does(tmp_path: Path) -> None:
    """A 429 asking for 10 s under a 2 s cap: the next request goes 2 s later."""
    storm = FaultPlan.model_validate(
        {"storms": [{"start": 0, "duration": 1, "fraction": 1.0, "retry_after": 10}]}
    )
    with rig(tmp_path, [make_rule("a"), make_rule("b")], storm) as r:
        result = r.orchestrator(retry=RetryPolicy(retry_after_cap=2)).apply(plan_of(("a", "b")))
        api = [(x.status, x.at) for x in r.fake.requests if x.path.startswith("/api/")]
    assert result.status == "applied"
    assert [status for status, _ in api] == [429, 200, 200]
    assert api[1][1] - api[0][1] == pytest.approx(2.0)


def test_workers_share_the_virtual_clock_and_the_default_is_one(tmp_path: Path) -> None:
    """With 1 s per request, two updates take 2 s one at a time (default) and 1 s on two workers."""
    slow = FaultPlan.model_validate({"latency": {"mean_ms": 1000}})
    took = {}
    for kw in ({}, {"concurrency": 2}):
        with rig(tmp_path, [make_rule(x) for x in "abcd"], slow) as r:
            start = r.clock.now()
            assert r.orchestrator(**kw).apply(plan_of(("a", "b"), ("c", "d"))).status == "applied"
            took[len(kw)] = r.clock.now() - start
    assert took == {0: pytest.approx(4.0), 1: pytest.approx(3.0)}


def test_the_letters_deadline_bounds_the_dead_letter_posts(tmp_path: Path) -> None:
    """A letters deadline of 0 spools the letter without a POST; the default lets it go out."""
    where = {}
    for deadline in (0.0, None):
        tmp = tmp_path / str(deadline)
        with rig(tmp, [make_rule(x) for x in "abcde"], max_depth=2) as r:
            route = r.router.post(DLQ_URL).mock(return_value=httpx.Response(202))
            kw = {} if deadline is None else {"letters_deadline": deadline}
            result = r.orchestrator(**kw).apply(plan_of(("a", "b"), ("c", "d"), ("b", "c")))
        assert result.dead_letters == 1
        letter = [data for step, data in _trail(tmp / "audit.jsonl") if step == "dead_letter"]
        where[deadline] = (letter[0]["where"], route.call_count)
    assert where == {0.0: ("spooled", 0), None: ("posted", 1)}


class _ConflictOnRestore:
    """A bus wrapper answering 409 to the second PUT of `rule_id` (its restore), once."""

    def __init__(self, bus: Any, rule_id: str) -> None:
        self.bus, self.rule_id, self.puts = bus, rule_id, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.bus, name)

    def put_rule(self, rule: Rule) -> Rule:
        """409 once on the restore, else the bus's answer."""
        if rule.id == self.rule_id:
            self.puts += 1
            if self.puts == 2:
                raise Conflict("edited meanwhile", code="conflict")
        stored: Rule = self.bus.put_rule(rule)
        return stored


def test_a_restore_outlasts_the_conflict_limit_until_its_deadline(tmp_path: Path) -> None:
    """With no 409 re-merges allowed for updates, a restore still re-merges until it lands."""
    with rig(tmp_path, [make_rule(x) for x in "abcde"], max_depth=2) as r:
        before = r.contents()
        orchestrator = r.orchestrator(
            _ConflictOnRestore(r.bus(), "a"), retry=RetryPolicy(max_conflicts=0)
        )
        result = orchestrator.apply(plan_of(("a", "b"), ("c", "d"), ("b", "c")))
        assert r.contents() == before
    assert result.status == "rolled_back" and result.dead_letters == 1


# --------------------------------------------------------------------------- journal, resume


def _rollback_plan() -> ChainPlan:
    """a -> b and c -> d land, then b -> c is refused (max_depth 2): a rollback follows."""
    return plan_of(("a", "b"), ("c", "d"), ("b", "c"))


def _kill_in_rollback(r: Rig, tmp_path: Path) -> str:
    """Kill a run of `_rollback_plan()` on `r` at its first restore; the run's id."""
    with pytest.raises(Killed):
        r.orchestrator(KillAfter(r.bus(), 3)).apply(_rollback_plan())
    run_id: str = json.loads((tmp_path / "journal.json").read_text().splitlines()[0])["run_id"]
    return run_id


def test_an_unfinished_rollback_blocks_a_new_apply(tmp_path: Path) -> None:
    """A run killed while rolling back: a new apply refuses, naming the journal and the run."""
    plan = _rollback_plan()
    with rig(tmp_path, [make_rule(x) for x in "abcde"], max_depth=2) as r:
        run_id = _kill_in_rollback(r, tmp_path)
        with pytest.raises(InputError) as caught:
            r.orchestrator().apply(plan)
    assert str(caught.value) == (
        f"{tmp_path / 'journal.json'}: run {run_id} did not finish; "
        "finish it with `chainsim apply --resume`"
    )


def test_a_resumed_rollback_dead_letters_a_restore_that_fails(tmp_path: Path) -> None:
    """Resuming a killed rollback: a rule deleted meanwhile is not restored; its letter is kept."""
    with rig(tmp_path, [make_rule(x) for x in "abcde"], max_depth=2) as r:
        run_id = _kill_in_rollback(r, tmp_path)
        r.fake.state.delete_rule("c")
        result = r.orchestrator().resume()
    assert result.run_id == run_id and result.status == "failed" and result.dead_letters == 1
    assert (result.error or "").startswith("half-applied: 1 rule(s) could not be restored (c: ")
    assert list(result.metrics["steps"]) == ["resume", "rollback"]
    resumed = _trail(tmp_path / "audit.jsonl")
    starts = [data for step, data in resumed if step == "start"]
    assert starts[-1] == {"run_id": run_id, "links": 3, "resume": True}
    letters = [data for step, data in resumed if step == "dead_letter"]
    assert letters[-1]["rule"] == "c" and letters[-1]["operation"] == "restore"


def test_a_resumed_run_reports_its_resume_step(tmp_path: Path) -> None:
    """A resumed apply measures the resume step before the inventory and the apply."""
    with rig(tmp_path, [make_rule(x) for x in "abcd"]) as r:
        with pytest.raises(Killed):
            r.orchestrator(KillAfter(r.bus(), 1)).apply(plan_of(("a", "b"), ("c", "d")))
        result = r.orchestrator().resume()
    assert result.status == "applied"
    assert list(result.metrics["steps"]) == ["resume", "inventory", "apply"]


def test_resume_without_a_journal_file_names_the_journal() -> None:
    """An orchestrator with no journal file has nothing to resume, and says so."""
    orchestrator = Orchestrator(
        _bus(_Named("eventbridge")), clock=VirtualClock(), journal_path=None
    )
    with pytest.raises(InputError) as caught:
        orchestrator.resume()
    assert str(caught.value) == "journal: no unfinished run to resume"


def test_every_planned_write_is_journaled_before_the_first_put(tmp_path: Path) -> None:
    """Killed at its first PUT, the run's journal already holds every update it intended."""
    with rig(tmp_path, [make_rule(x) for x in "abcd"]) as r, pytest.raises(Killed):
        r.orchestrator(KillAfter(r.bus(), 0)).apply(plan_of(("a", "b"), ("c", "d")))
    entries = (Journal(tmp_path / "journal.json").load() or {})["rules"]
    assert {rule_id: entry["state"] for rule_id, entry in entries.items()} == {
        "a": "writing",
        "c": "writing",
    }


def test_zero_workers_is_refused_with_a_clear_message() -> None:
    """concurrency below 1 is a ValueError saying so."""
    with pytest.raises(ValueError, match=r"^concurrency must be at least 1$"):
        Orchestrator(_bus(_Named("eventbridge")), clock=VirtualClock(), concurrency=0)

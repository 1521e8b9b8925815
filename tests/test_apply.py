"""Orchestrator tests against the FakeBus (respx door, shared VirtualClock)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from chainsim.apply import Journal, Orchestrator
from chainsim.audit import verify
from chainsim.callbacks import SIGNATURE_HEADER, CallbackNotifier, verify_signature
from chainsim.deadletter import read_spool
from chainsim.fakebus.faults import FaultPlan, RateLimit
from chainsim.model import InputError, Rule, RuleSettings
from tests.orchestrator_rig import CALLBACK_URL, DLQ_URL, applied_links, make_rule, plan_of, rig

RULES = [make_rule(x) for x in "abcde"]


def test_clean_apply_writes_every_link_with_versioned_puts(tmp_path: Path) -> None:
    """A valid plan is applied: one PUT per source rule, links merged, report per rule."""
    with rig(tmp_path, RULES) as r:
        result = r.orchestrator().apply(plan_of(("a", "b"), ("b", "c"), ("a", "d")))
        assert result.status == "applied"
        assert r.puts() == 2
        rules = {rule.id: rule for rule in r.fake.rules()}
    assert applied_links(rules["a"]) == {"b", "d"} and applied_links(rules["b"]) == {"c"}
    action = rules["a"].links()[0]
    assert action.payload_transformation == {"caller": "$.metadata.callerId"}
    assert action.preserved_attributes == ["queueId"]
    report = result.to_report()
    assert [
        (x["id"], x["outcome"], x["version_before"], x["version_after"]) for x in report["rules"]
    ] == [
        ("a", "applied", 1, 2),
        ("b", "applied", 1, 2),
    ]
    assert report["metrics"]["requests"] >= 4 and report["metrics"]["success_rate"] == 1.0
    assert verify(tmp_path / "audit.jsonl").ok


def test_reapply_is_a_noop_with_zero_puts(tmp_path: Path) -> None:
    """Applying the same plan twice: the second run is `unchanged` and sends no PUT."""
    plan = plan_of(("a", "b"), ("b", "c"))
    with rig(tmp_path, RULES) as r:
        assert r.orchestrator().apply(plan).status == "applied"
        before = r.puts()
        orch = r.orchestrator()
        assert orch.apply(plan).status == "unchanged"
        again = orch.apply(plan)  # one orchestrator, two runs: each report is its own
        assert again.status == "unchanged"
        assert r.puts() == before
    assert {row.outcome for row in again.rules} == {"unchanged"}
    assert again.metrics["requests"] == 1  # one list page; the token is still cached


def test_429_storm_completes_and_honours_retry_after(tmp_path: Path) -> None:
    """Under a storm everything is applied; after a 429 nothing is sent before Retry-After."""
    faults = FaultPlan.model_validate(
        {"seed": 3, "storms": [{"start": 0, "duration": 30, "fraction": 0.8, "retry_after": 5}]}
    )
    rules = [make_rule(f"r{i:02d}") for i in range(12)]
    pairs = [(f"r{i:02d}", f"r{i + 1:02d}") for i in range(0, 11, 2)]
    with rig(tmp_path, rules, faults) as r:
        result = r.orchestrator().apply(plan_of(*pairs))
        log = [rec for rec in r.fake.requests if rec.path.startswith("/api/")]
        final = {rule.id: rule for rule in r.fake.rules()}
    assert result.status == "applied"
    assert result.metrics["status_429"] > 0
    for src, dst in pairs:
        assert applied_links(final[src]) == {dst}
    for first, second in itertools.pairwise(log):
        if first.status == 429:
            assert second.at >= first.at + 5 - 1e-9


def test_injected_409s_keep_the_concurrent_writers_description(tmp_path: Path) -> None:
    """Concurrent writers cause 409s; re-read and re-merge keeps their edit, applies every link."""
    faults = FaultPlan.model_validate({"seed": 1, "conflicts": {"fraction": 0.5}})
    rules = [make_rule(f"r{i:02d}") for i in range(10)]
    pairs = [(f"r{i:02d}", f"r{i + 1:02d}") for i in range(0, 9, 2)]
    with rig(tmp_path, rules, faults) as r:
        result = r.orchestrator().apply(plan_of(*pairs))
        final = {rule.id: rule for rule in r.fake.rules()}
    assert result.status == "applied"
    assert result.metrics["status_409"] > 0
    edited = [src for src, _ in pairs if final[src].description == "edited by concurrent writer"]
    assert edited, "the fault plan should have edited some rule"
    for src, dst in pairs:
        assert applied_links(final[src]) == {dst}
    assert any(row.attempts > 1 for row in result.rules)


def _failing_last(tmp_path: Path, **orch: Any) -> tuple[Any, dict, dict, list]:
    """Three updates where the bus (max_depth 2) refuses the last with 422."""
    plan = plan_of(("a", "b"), ("c", "d"), ("b", "c"), dead_letter={"url": DLQ_URL})
    with rig(tmp_path, RULES, max_depth=2) as r:
        before = r.contents()
        result = r.orchestrator(**orch).apply(plan)
        after = r.contents()
    return result, before, after, read_spool(tmp_path / "spool.jsonl")


def test_422_on_the_last_rule_rolls_back_to_exact_snapshots_and_spools(tmp_path: Path) -> None:
    """Atomic: a 422 on the last update restores the others exactly and spools one letter."""
    result, before, after, spool = _failing_last(tmp_path)
    assert result.status == "rolled_back"
    assert after == before
    outcomes = {row.id: row.outcome for row in result.rules}
    assert outcomes == {"a": "rolled_back", "c": "rolled_back", "b": "failed"}
    assert result.dead_letters == 1
    assert [(x.rule_id, x.status, x.operation) for x in spool] == [("b", 422, "apply")]
    assert spool[0].payload["actions"][0]["ruleId"] == "c"
    assert verify(tmp_path / "audit.jsonl").ok


def test_no_atomic_leaves_a_partial_result_described_rule_by_rule(tmp_path: Path) -> None:
    """--no-atomic keeps what succeeded; the report says `partial` and lists each rule."""
    result, before, after, spool = _failing_last(tmp_path, atomic=False)
    assert result.status == "partial"
    rows = {x["id"]: x for x in result.to_report()["rules"]}
    assert rows["a"]["outcome"] == "applied" and rows["a"]["version_after"] == 2
    assert rows["c"]["outcome"] == "applied"
    assert rows["b"]["outcome"] == "failed" and rows["b"]["version_after"] == 1
    assert "422" in rows["b"]["error"]
    assert after["b"] == before["b"] and after["a"] != before["a"]
    assert len(spool) == 1


def _journal(tmp: Path) -> dict[str, Any]:
    """The rig's journal as `Journal.load` replays it."""
    return Journal(tmp / "journal.json").load() or {}


class Killed(BaseException):
    """Stands for the process being killed."""


class KillAfter:
    """A bus wrapper that dies on PUT call k+1 (before sending it, or after it landed)."""

    def __init__(self, bus: Any, k: int, *, after_landing: bool = False) -> None:
        self.bus, self.k, self.after_landing = bus, k, after_landing

    def __getattr__(self, name: str) -> Any:
        return getattr(self.bus, name)

    def put_rule(self, rule: Rule) -> Rule:
        if self.k == 0:
            if self.after_landing:
                self.bus.put_rule(rule)
            raise Killed()
        self.k -= 1
        return self.bus.put_rule(rule)


def test_kill_mid_apply_then_resume_finishes_consistently(tmp_path: Path) -> None:
    """A run killed after 2 PUTs leaves a journal; resume applies the rest exactly once."""
    rules = [make_rule(f"r{i}") for i in range(8)]
    plan = plan_of(*[(f"r{i}", f"r{i + 1}") for i in range(0, 7, 2)])
    with rig(tmp_path, rules) as r:
        with pytest.raises(Killed):
            r.orchestrator(KillAfter(r.bus(), 2)).apply(plan)
        journal = _journal(tmp_path)
        assert journal["status"] == "applying" and journal["order"] == ["r0", "r2"]
        with pytest.raises(InputError, match="resume"):
            r.orchestrator().apply(plan)
        puts = r.puts()
        result = r.orchestrator().resume()
        assert r.puts() - puts == 2
        final = {rule.id: rule for rule in r.fake.rules()}
    assert result.status == "applied"
    assert [(row.id, row.outcome) for row in result.rules] == [
        ("r0", "applied"),
        ("r2", "applied"),
        ("r4", "applied"),
        ("r6", "applied"),
    ]
    for i in range(0, 7, 2):
        assert applied_links(final[f"r{i}"]) == {f"r{i + 1}"}
    assert _journal(tmp_path)["status"] == "applied"
    assert verify(tmp_path / "audit.jsonl").ok


def test_resume_rolls_back_work_of_the_killed_run_when_the_rest_fails(tmp_path: Path) -> None:
    """After a kill, a resumed run that fails for good restores the killed run's updates too."""
    plan = plan_of(("a", "b"), ("c", "d"), ("b", "c"))
    with rig(tmp_path, RULES, max_depth=2) as r:
        before = r.contents()
        with pytest.raises(Killed):
            r.orchestrator(KillAfter(r.bus(), 1)).apply(plan)
        result = r.orchestrator().resume()
        assert result.status == "rolled_back"
        assert r.contents() == before


def test_resume_counts_a_put_that_landed_before_the_kill(tmp_path: Path) -> None:
    """A PUT that landed just before the kill is found on resume and not sent again."""
    rules = [make_rule(f"r{i}") for i in range(6)]
    plan = plan_of(*[(f"r{i}", f"r{i + 1}") for i in range(0, 5, 2)])
    with rig(tmp_path, rules) as r:
        with pytest.raises(Killed):
            r.orchestrator(KillAfter(r.bus(), 1, after_landing=True)).apply(plan)
        assert r.puts() == 2
        result = r.orchestrator().resume()
        assert r.puts() == 3
    assert result.status == "applied"
    assert {row.id: row.outcome for row in result.rules} == {
        "r0": "applied",
        "r2": "applied",
        "r4": "applied",
    }


def test_kill_during_rollback_then_resume_finishes_the_rollback(tmp_path: Path) -> None:
    """A run killed while rolling back resumes in rollback and ends at the snapshots."""
    plan = plan_of(("a", "b"), ("c", "d"), ("b", "c"))
    with rig(tmp_path, RULES, max_depth=2) as r:
        before = r.contents()
        with pytest.raises(Killed):
            r.orchestrator(KillAfter(r.bus(), 3)).apply(plan)
        assert _journal(tmp_path)["status"] == "rolling_back"
        result = r.orchestrator().resume()
        assert r.contents() == before
    assert result.status == "rolled_back"


def test_validation_errors_stop_before_any_write(tmp_path: Path) -> None:
    """A plan with a cycle fails validation: status failed, findings listed, zero PUTs."""
    with rig(tmp_path, RULES) as r:
        result = r.orchestrator().apply(plan_of(("a", "b"), ("b", "a")))
        assert result.status == "failed" and r.puts() == 0
    assert "cycle" in {f["code"] for f in result.findings}
    assert [(row.id, row.outcome) for row in result.rules] == [("a", "skipped"), ("b", "skipped")]


def test_rules_settings_for_an_unknown_rule_fail_validation(tmp_path: Path) -> None:
    """A `rules:` entry naming a rule the bus lacks is an unknown_rule error; nothing written."""
    with rig(tmp_path, RULES) as r:
        plan = plan_of(("a", "b"), rules={"zz": RuleSettings(enabled=False)})
        result = r.orchestrator().apply(plan)
        assert result.status == "failed" and r.puts() == 0
    assert result.findings[-1]["rule_ids"] == ["zz"]


def test_redrive_reapplies_spooled_letters_and_keeps_only_failures(tmp_path: Path) -> None:
    """A letter spooled by a failed run applies once the cause is gone (bus depth raised)."""
    plan = plan_of(("a", "b"), ("c", "d"), ("b", "c"))
    with rig(tmp_path, RULES, max_depth=2) as r:
        assert r.orchestrator(atomic=False).apply(plan).status == "partial"
        letters = read_spool(tmp_path / "spool.jsonl")
        r.fake.state.max_depth = 5
        results = r.orchestrator().redrive(letters)
        final = {rule.id: rule for rule in r.fake.rules()}
    assert [(letter.rule_id, outcome.outcome) for letter, outcome in results] == [("b", "applied")]
    assert applied_links(final["b"]) == {"c"}


def test_concurrent_workers_share_one_pacer_and_apply_everything(tmp_path: Path) -> None:
    """With 4 workers, 409s and a storm, every link lands and the audit log verifies."""
    faults = FaultPlan.model_validate(
        {
            "seed": 5,
            "conflicts": {"fraction": 0.3},
            "storms": [{"start": 0, "duration": 2, "fraction": 0.5, "retry_after": 1}],
            "latency": {"mean_ms": 50, "jitter_ms": 10},
        }
    )
    rules = [make_rule(f"r{i:02d}") for i in range(20)]
    pairs = [(f"r{i:02d}", f"r{i + 1:02d}") for i in range(0, 19, 2)]
    with rig(tmp_path, rules, faults) as r:
        result = r.orchestrator(concurrency=4).apply(plan_of(*pairs))
        final = {rule.id: rule for rule in r.fake.rules()}
    assert result.status == "applied"
    for src, dst in pairs:
        assert applied_links(final[src]) == {dst}
    assert verify(tmp_path / "audit.jsonl").ok


def test_callback_is_signed_and_a_failing_callback_changes_nothing(tmp_path: Path) -> None:
    """The callback body verifies with the secret; a 500 from the hook is only recorded."""
    with rig(tmp_path, RULES) as r:
        route = r.router.post(CALLBACK_URL).mock(
            side_effect=[httpx.Response(200), httpx.Response(500)]
        )
        notifier = CallbackNotifier(CALLBACK_URL, "cb-secret", http=r.http)
        first = r.orchestrator(callback=notifier).apply(plan_of(("a", "b")))
        second = r.orchestrator(callback=notifier).apply(plan_of(("c", "d")))
    request = route.calls[0].request
    assert verify_signature(request.content, request.headers[SIGNATURE_HEADER], "cb-secret")
    assert not verify_signature(request.content, request.headers[SIGNATURE_HEADER], "other")
    body = json.loads(request.content)
    assert body["status"] == "applied" and body["report"]["metrics"]["requests"] > 0
    assert [line["step"] for line in body["audit"]][:2] == ["start", "inventory"]
    assert first.callback == {"delivered": True, "status": 200, "error": None}
    assert second.status == "applied" and second.callback["status"] == 500


def test_no_secret_or_token_appears_in_any_artefact(tmp_path: Path) -> None:
    """Client secret, bearer tokens, callback secret never reach audit, spool, journal, report."""
    plan = plan_of(("a", "b"), ("c", "d"), ("b", "c"), dead_letter={"url": DLQ_URL})
    with rig(tmp_path, RULES, max_depth=2) as r:
        r.router.post(CALLBACK_URL).mock(return_value=httpx.Response(401))
        orch = r.orchestrator(
            callback=CallbackNotifier(CALLBACK_URL, "cb-super-secret", http=r.http)
        )
        result = orch.apply(plan)
        tokens = {
            call.request.headers["authorization"].split()[1]
            for call in r.router.calls
            if call.request.headers.get("authorization", "").startswith("Bearer ")
        }
    assert tokens
    (tmp_path / "report.json").write_text(json.dumps(result.to_report()))
    texts = [p.read_text() for p in tmp_path.iterdir() if p.is_file()]
    texts += [
        repr(orch),
        repr(orch.bus),
        repr(orch.callback),
        repr(result),
        str(result.to_report()),
    ]
    for secret in ["chainsim-secret", "cb-super-secret", *tokens]:
        assert not any(secret in text for text in texts), secret


def test_orchestrator_rejects_zero_workers() -> None:
    """concurrency must be at least 1."""
    with pytest.raises(ValueError):
        Orchestrator(object(), clock=None, concurrency=0)  # type: ignore[arg-type]


@pytest.mark.parametrize("concurrency", [1, 4])
def test_pacer_keeps_a_rate_limited_run_under_the_limit(tmp_path: Path, concurrency: int) -> None:
    """360 updates at 300 requests / 60 s (token bucket): no 429, makespan within 5% of ideal."""
    rules = [make_rule(f"s{i:03d}") for i in range(360)] + [make_rule("sink")]
    plan = plan_of(*[(f"s{i:03d}", "sink") for i in range(360)])
    bucket = FaultPlan(rate_limit=RateLimit(model="bucket"))  # the ideal below is a bucket's
    with rig(tmp_path, rules, bucket) as r:
        result = r.orchestrator(concurrency=concurrency, journal_path=None, audit=None).apply(plan)
        api = [rec for rec in r.fake.requests if rec.path.startswith("/api/")]
    ideal = (len(api) - 300) / 5.0
    assert result.status == "applied"
    assert result.metrics["status_429"] == 0
    assert ideal <= r.clock.now() <= 1.05 * ideal


def test_an_endless_listing_fails_the_run_instead_of_hanging(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bus that hands out a new page token forever ends the inventory after MAX_PAGES."""
    import chainsim.bus.base

    class Endless:
        dialect = "eventbridge"

        def __init__(self) -> None:
            self.pages = 0

        def list_page(self, token: str | None) -> tuple[list[Rule], str]:
            self.pages += 1
            return [], f"t{self.pages}"

        def add_observer(self, observer: Any) -> None:
            """No HTTP, nothing to observe."""

    monkeypatch.setattr(chainsim.bus.base, "MAX_PAGES", 50)
    from chainsim.clock import VirtualClock

    bus = Endless()
    result = Orchestrator(bus, clock=VirtualClock(), journal_path=tmp_path / "j.json").apply(
        plan_of()
    )
    assert result.status == "failed" and "more than 50 pages" in (result.error or "")
    assert bus.pages == 50


def test_conflicts_on_every_attempt_dead_letter_with_the_buss_code(tmp_path: Path) -> None:
    """409 on every re-merge fails the update; its dead letter keeps the bus's 409 code."""
    faults = FaultPlan.model_validate({"conflicts": {"fraction": 1.0}})
    with rig(tmp_path, [make_rule("a"), make_rule("b")], faults) as r:
        result = r.orchestrator().apply(plan_of(("a", "b")))
    assert result.status == "failed" and result.dead_letters == 1
    letter = read_spool(tmp_path / "spool.jsonl")[0]
    assert (letter.status, letter.code) == (409, "conflict")


def test_sinks_are_built_per_plan_by_the_injected_factory(tmp_path: Path) -> None:
    """`sinks(plan)` gives the run's dead-letter sink and callback; explicit ones win."""
    from chainsim.deadletter import DeadLetterSink

    plan = plan_of(("a", "b"), ("c", "d"), ("b", "c"))
    with rig(tmp_path, RULES, max_depth=2) as r:
        hook = r.router.post(CALLBACK_URL).mock(return_value=httpx.Response(200))
        built: list[Any] = []

        def sinks(given: Any) -> tuple[Any, Any]:
            built.append(given)
            sink = DeadLetterSink(url=None, spool=tmp_path / "from-factory.jsonl")
            return sink, CallbackNotifier(CALLBACK_URL, "s3cret", http=r.http)

        result = r.orchestrator(dead_letter=None, sinks=sinks).apply(plan)
        assert built == [plan] and hook.call_count == 1
        assert result.callback is not None and result.callback["delivered"] is True
        assert [x.rule_id for x in read_spool(tmp_path / "from-factory.jsonl")] == ["b"]
        explicit = DeadLetterSink(url=None, spool=tmp_path / "explicit.jsonl")
        r.orchestrator(dead_letter=explicit, sinks=sinks, journal_path=None).apply(plan)
    assert [x.rule_id for x in read_spool(tmp_path / "explicit.jsonl")] == ["b"]
    assert len(read_spool(tmp_path / "from-factory.jsonl")) == 1


def test_without_sinks_letters_go_to_the_default_spool_and_no_callback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No sinks: a spool-only sink at the default spool path; the plan's URLs are not used."""
    from chainsim.deadletter import DEFAULT_SPOOL

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CB_SECRET", "s3cret")
    plan = plan_of(
        ("a", "b"),
        ("c", "d"),
        ("b", "c"),
        dead_letter={"url": DLQ_URL},
        callback={"url": CALLBACK_URL, "secret_env": "CB_SECRET"},
    )
    with rig(tmp_path, RULES, max_depth=2) as r:
        dlq = r.router.post(DLQ_URL).mock(return_value=httpx.Response(202))
        result = r.orchestrator(dead_letter=None).apply(plan)
    assert dlq.call_count == 0
    assert [x.rule_id for x in read_spool(tmp_path / DEFAULT_SPOOL)] == ["b"]
    assert result.callback is not None and result.callback["delivered"] is False

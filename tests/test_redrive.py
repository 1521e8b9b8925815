"""Redrive never breaks atomicity: a rolled-back atomic run comes back whole or not at all."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from chainsim.apply import Orchestrator
from chainsim.bus.base import Forbidden, Unprocessable
from chainsim.callbacks import SIGNATURE_HEADER, verify_signature
from chainsim.deadletter import (
    DeadLetter,
    DeadLetterSink,
    bytes_digest,
    read_spool,
    remove_letters,
    run_plan_path,
)
from chainsim.fakebus.faults import FaultPlan
from chainsim.model import Rule
from chainsim.redrive import forward, group_by_run, load_run_plan, redrive
from tests.orchestrator_rig import DLQ_URL, Rig, applied_links, make_rule, plan_of, rig

CHAIN = plan_of(("a", "b"), ("b", "c"))  # a -> b -> c: two hops, depth 2


def _orchestrator(r: Rig, spool: Path) -> Orchestrator:
    """An atomic orchestrator on the rig whose dead letters go to `spool` only."""
    return r.orchestrator(dead_letter=DeadLetterSink(url=None, spool=spool), atomic=True)


def _links(r: Rig) -> dict[str, set[str]]:
    """Each rule's invoked destinations on the fake, by id."""
    return {rule.id: applied_links(rule) for rule in r.fake.rules()}


NONE_OF_IT: dict[str, set[str]] = {"a": set(), "b": set(), "c": set()}
WHOLE_CHAIN: dict[str, set[str]] = {"a": {"b"}, "b": {"c"}, "c": set()}


def _rolled_back_run(r: Rig, spool: Path) -> list[DeadLetter]:
    """Apply the chain on a bus allowing one hop: the second hop fails, all is rolled back."""
    result = _orchestrator(r, spool).apply(CHAIN)
    assert result.status == "rolled_back"
    assert _links(r) == NONE_OF_IT
    letters = read_spool(spool)
    assert [x.rule_id for x in letters] == ["b"]
    assert letters[0].run_id == result.run_id and letters[0].atomic is True
    return letters


def test_letters_carry_the_run_and_its_whole_plan(tmp_path: Path) -> None:
    """A rolled-back atomic run's letter names the run, says atomic, and points at its plan."""
    spool = tmp_path / "spool.jsonl"
    with rig(tmp_path, [make_rule(x) for x in "abc"], FaultPlan(max_depth=1)) as r:
        (letter,) = _rolled_back_run(r, spool)
    assert letter.run_id is not None
    path = run_plan_path(spool, letter.run_id)
    assert letter.plan_file == str(path)
    assert letter.plan_digest == bytes_digest(path.read_bytes())
    plan = load_run_plan(spool, letter.run_id, [letter])
    assert not isinstance(plan, str)
    assert [(link.source, link.destination) for link in plan.links] == [("a", "b"), ("b", "c")]


def test_redrive_with_the_constraint_lifted_applies_the_whole_chain(tmp_path: Path) -> None:
    """After an atomic rollback, a redrive on a bus that allows depth 2 applies both hops."""
    spool = tmp_path / "spool.jsonl"
    with rig(tmp_path, [make_rule(x) for x in "abc"], FaultPlan(max_depth=1)) as r:
        letters = _rolled_back_run(r, spool)
        r.fake.faults = FaultPlan(max_depth=5)  # the constraint is lifted
        report = redrive(_orchestrator(r, spool), spool, letters)
        assert _links(r) == WHOLE_CHAIN
    assert [(line.subject, line.outcome) for line in report.lines] == [("run", "applied")]
    assert report.ok and report.cleared == letters
    assert remove_letters(spool, report.cleared) == []


def test_redrive_with_the_constraint_present_leaves_none_of_the_chain(tmp_path: Path) -> None:
    """A redrive that fails again rolls the whole plan back: never the second hop alone."""
    spool = tmp_path / "spool.jsonl"
    with rig(tmp_path, [make_rule(x) for x in "abc"], FaultPlan(max_depth=1)) as r:
        letters = _rolled_back_run(r, spool)
        report = redrive(_orchestrator(r, spool), spool, letters)
        assert _links(r) == NONE_OF_IT  # b -> c alone would be live with per-letter redrive
    assert [line.outcome for line in report.lines] == ["rolled_back"]
    assert not report.ok and report.replaced == 1
    left = remove_letters(spool, report.cleared)
    assert [x.rule_id for x in left] == ["b"] and left[0].run_id != letters[0].run_id


def test_redrive_refuses_an_atomic_run_whose_plan_is_gone(tmp_path: Path) -> None:
    """Without the run's plan the letters are refused and kept, and nothing is written."""
    spool = tmp_path / "spool.jsonl"
    with rig(tmp_path, [make_rule(x) for x in "abc"], FaultPlan(max_depth=1)) as r:
        letters = _rolled_back_run(r, spool)
        assert letters[0].run_id is not None
        run_plan_path(spool, letters[0].run_id).unlink()
        r.fake.faults = FaultPlan(max_depth=5)
        puts = r.puts()
        report = redrive(_orchestrator(r, spool), spool, letters)
        assert r.puts() == puts and _links(r) == NONE_OF_IT
    (line,) = report.lines
    assert line.outcome == "refused" and "missing" in line.detail
    assert report.cleared == [] and not report.ok


def test_redrive_refuses_a_run_plan_that_changed(tmp_path: Path) -> None:
    """A plan file edited since the run (digest differs) is refused, not applied."""
    spool = tmp_path / "spool.jsonl"
    with rig(tmp_path, [make_rule(x) for x in "abc"], FaultPlan(max_depth=1)) as r:
        letters = _rolled_back_run(r, spool)
        assert letters[0].plan_file is not None
        path = Path(letters[0].plan_file)
        path.write_text(path.read_text().replace('"b"', '"c"'))
        r.fake.faults = FaultPlan(max_depth=5)
        report = redrive(_orchestrator(r, spool), spool, letters)
        assert _links(r) == NONE_OF_IT
    assert report.lines[0].outcome == "refused" and "changed" in report.lines[0].detail


def test_non_atomic_letters_are_redriven_alone(tmp_path: Path) -> None:
    """A `--no-atomic` run's letter stands alone: redrive re-attempts just that rule."""
    spool = tmp_path / "spool.jsonl"
    with rig(tmp_path, [make_rule(x) for x in "abc"], FaultPlan(max_depth=1)) as r:
        orch = r.orchestrator(dead_letter=DeadLetterSink(url=None, spool=spool), atomic=False)
        assert orch.apply(CHAIN).status == "partial"
        letters = read_spool(spool)
        assert [x.atomic for x in letters] == [False]
        alone, runs = group_by_run(letters)
        assert alone == letters and runs == {}
        r.fake.faults = FaultPlan(max_depth=5)
        report = redrive(_orchestrator(r, spool), spool, letters)
        assert _links(r) == WHOLE_CHAIN
    assert [(line.subject, line.outcome) for line in report.lines] == [("rule", "applied")]


URL = "https://dlq.example.com/letters"


def _letter(rule_id: str) -> DeadLetter:
    return DeadLetter(rule_id, {"id": rule_id}, 422, "bad.request", "no", f"t:{rule_id}")


@pytest.mark.parametrize("answers", [[202, 500], [500, 202]])
def test_forward_removes_only_the_delivered_letters(tmp_path: Path, answers: list[int]) -> None:
    """Forward POSTs each letter; only those the endpoint accepted leave the spool."""
    spool = tmp_path / "spool.jsonl"
    sink = DeadLetterSink(url=None, spool=spool)
    for rule_id in ("x", "y"):
        sink.send(_letter(rule_id))
    letters = read_spool(spool)
    with respx.mock() as router, httpx.Client() as http:
        route = router.post(URL).mock(side_effect=[httpx.Response(code) for code in answers])
        report = forward(letters, spool, url=URL, http=http)
    assert route.call_count == 2
    assert [json.loads(call.request.content)["rule_id"] for call in route.calls] == ["x", "y"]
    left = remove_letters(spool, report.cleared)
    assert [x.rule_id for x in left] == ["y" if answers[0] == 202 else "x"]
    assert not report.ok


class RefuseRestores:
    """A bus answering 403 to every PUT after a 422 while `refusing` (restores fail for good)."""

    def __init__(self, bus: Any) -> None:
        self.bus = bus
        self.refusing = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.bus, name)

    def put_rule(self, rule: Rule) -> Rule:
        if self.refusing:
            raise Forbidden("made unwritable", code="forbidden")
        try:
            return self.bus.put_rule(rule)
        except Unprocessable:
            self.refusing = True
            raise


def _half_applied_run(r: Rig, spool: Path) -> list[DeadLetter]:
    """The second hop fails and the first hop's restore is refused: a -> b is left live."""
    orch = r.orchestrator(
        RefuseRestores(r.bus()), dead_letter=DeadLetterSink(url=None, spool=spool), atomic=True
    )
    assert orch.apply(CHAIN).status == "failed"
    assert _links(r) == {"a": {"b"}, "b": set(), "c": set()}
    letters = read_spool(spool)
    assert {(x.rule_id, x.operation) for x in letters} == {("b", "apply"), ("a", "restore")}
    return letters


@pytest.mark.parametrize(("depth", "expected"), [(5, WHOLE_CHAIN), (1, NONE_OF_IT)])
def test_redrive_finishes_the_rollback_then_applies_the_whole_plan(
    tmp_path: Path, depth: int, expected: dict[str, set[str]]
) -> None:
    """A failed restore is redriven first; then the whole plan: all of the chain or none."""
    spool = tmp_path / "spool.jsonl"
    with rig(tmp_path, [make_rule(x) for x in "abc"], FaultPlan(max_depth=1)) as r:
        letters = _half_applied_run(r, spool)
        r.fake.faults = FaultPlan(max_depth=depth)
        report = redrive(_orchestrator(r, spool), spool, letters)
        assert _links(r) == expected
    assert report.lines[0].outcome == ("applied" if depth == 5 else "rolled_back")
    assert len(report.cleared) == 2


def test_redrive_does_not_reapply_when_the_restore_fails_again(tmp_path: Path) -> None:
    """If the restore is refused again, the plan is not re-applied and every letter stays."""
    spool = tmp_path / "spool.jsonl"
    with rig(tmp_path, [make_rule(x) for x in "abc"], FaultPlan(max_depth=1)) as r:
        letters = _half_applied_run(r, spool)
        r.fake.faults = FaultPlan(max_depth=5)
        bus = RefuseRestores(r.bus())
        bus.refusing = True
        orch = r.orchestrator(bus, dead_letter=DeadLetterSink(url=None, spool=spool))
        puts = r.puts()
        report = redrive(orch, spool, letters)
        assert r.puts() == puts and _links(r) == {"a": {"b"}, "b": set(), "c": set()}
    (line,) = report.lines
    assert line.outcome == "failed" and "not re-applied" in line.detail
    assert report.cleared == []


def test_forward_defaults_to_the_run_plans_dead_letter_url(tmp_path: Path) -> None:
    """Without `url`, a letter goes to its run plan's `dead_letter.url` once it answers."""
    spool = tmp_path / "spool.jsonl"
    plan = plan_of(("a", "b"), ("b", "c"), dead_letter={"url": DLQ_URL})
    with rig(tmp_path, [make_rule(x) for x in "abc"], FaultPlan(max_depth=1)) as r:
        orch = r.orchestrator(dead_letter=DeadLetterSink(url=DLQ_URL, spool=spool, http=r.http))
        assert orch.apply(plan).status == "rolled_back"  # the endpoint is down: spooled
        letters = read_spool(spool)
        route = r.router.post(DLQ_URL).mock(return_value=httpx.Response(202))
        report = forward(letters, spool, url=None, http=r.http)
    assert route.call_count == 2 and report.ok  # the failed POST of the run, then forward
    assert remove_letters(spool, report.cleared) == []


def test_forward_signs_with_the_run_plans_secret(tmp_path: Path) -> None:
    """A run plan naming `dead_letter.secret_env` gets its forwarded letters signed."""
    spool = tmp_path / "spool.jsonl"
    dead = {"url": DLQ_URL, "secret_env": "DLQ_SECRET"}
    plan = plan_of(("a", "b"), ("b", "c"), dead_letter=dead)
    with rig(tmp_path, [make_rule(x) for x in "abc"], FaultPlan(max_depth=1)) as r:
        orch = r.orchestrator(dead_letter=DeadLetterSink(url=DLQ_URL, spool=spool, http=r.http))
        assert orch.apply(plan).status == "rolled_back"
        route = r.router.post(DLQ_URL).mock(return_value=httpx.Response(202))
        secrets = {"DLQ_SECRET": "s3cret"}
        report = forward(read_spool(spool), spool, url=None, http=r.http, secret_of=secrets.get)
    request = route.calls.last.request
    header = request.headers[SIGNATURE_HEADER]
    assert report.ok and verify_signature(request.content, header, "s3cret", tolerance=10**10)


def test_the_run_plan_is_written_only_when_the_letters_are_sent(tmp_path: Path) -> None:
    """Adding a letter writes nothing (no I/O while half-applied); sending writes the plan."""
    from chainsim.clock import VirtualClock
    from chainsim.converge import Failed
    from chainsim.dispatch import LetterBox

    spool = tmp_path / "spool.jsonl"
    audited: list[str] = []
    sink = DeadLetterSink(url=None, spool=spool)
    box = LetterBox("run1", sink, VirtualClock(), lambda step, **_: audited.append(step))
    box.atomic, box.plan = True, CHAIN
    target = Rule.model_validate(make_rule("b"))
    letter = box.add("b", Failed(Unprocessable("too deep", status=422), target, []), "apply")
    path = run_plan_path(spool, "run1")
    assert letter.plan_file == str(path) and not path.exists()
    box.send_all()
    assert letter.plan_digest == bytes_digest(path.read_bytes())
    assert read_spool(spool) == [letter] and audited == ["dead_letter"]

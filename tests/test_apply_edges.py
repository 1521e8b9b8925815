"""Edge cases of chainsim.apply found by mutation testing (main tests: tests/test_apply.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chainsim.deadletter import DeadLetter
from chainsim.model import InputError
from tests.orchestrator_rig import applied_links, make_rule, plan_of, rig
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

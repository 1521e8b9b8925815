"""Edge cases of chainsim.apply found by mutation testing (main tests: tests/test_apply.py)."""

from __future__ import annotations

from pathlib import Path

from chainsim.deadletter import DeadLetter
from tests.orchestrator_rig import applied_links, make_rule, rig


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

"""Unit tests of saved plans: format, digests, drift and the saved merger."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chainsim.dialects import get_dialect
from chainsim.errors import InputError
from chainsim.model import ChainPlan, Rule
from chainsim.plan import PlanIndex, compute_changes, plan_merger
from chainsim.saved_plan import (
    FORMAT_KEY,
    BusTarget,
    SavedPlan,
    canonical_json,
    load_saved_plan,
    plan_digest,
    rule_digest,
)
from tests.orchestrator_rig import make_rule

EB = get_dialect("eventbridge")
PLAN = ChainPlan.model_validate(
    {"links": [{"source": "a", "destination": "b", "event_type": "type.a"}]}
)
TARGET = BusTarget(bus="fake", dialect="eventbridge", api_host="https://api.mypurecloud.com")


def _rules() -> list[Rule]:
    return [Rule.model_validate(make_rule(x)) for x in "abc"]


def _saved(rules: list[Rule] | None = None) -> SavedPlan:
    rules = rules if rules is not None else _rules()
    changes = compute_changes(rules, PlanIndex.of(PLAN), plan_merger(EB.merger))
    return SavedPlan.capture(PLAN, changes, EB, TARGET, source="plan.yaml")


def test_canonical_json_and_digests_ignore_key_order() -> None:
    """Canonical JSON sorts keys and drops spaces, so digests do not depend on key order."""
    assert canonical_json({"b": 1, "a": [1, "é"]}) == '{"a":[1,"é"],"b":1}'.encode()
    rule = _rules()[0]
    same = Rule.model_validate(dict(reversed(list(rule.to_wire().items()))))
    assert rule_digest(rule, EB) == rule_digest(same, EB)
    edited = rule.model_copy(update={"description": "other"})
    assert rule_digest(rule, EB) != rule_digest(edited, EB)
    assert plan_digest(PLAN).startswith("sha256:") and len(plan_digest(PLAN)) == 71


def test_capture_records_version_digest_desired_and_target() -> None:
    """Each planned rule carries its change, the version and digest read, and the desired body."""
    saved = _saved()
    data = saved.to_json()
    assert next(iter(data)) == FORMAT_KEY and data[FORMAT_KEY] == 1
    assert data["plan_digest"] == plan_digest(PLAN) and data["target"]["bus"] == "fake"
    (row,) = data["rules"]
    assert (row["id"], row["change"], row["version"], row["fields"]) == (
        "a",
        "update",
        1,
        ["actions"],
    )
    assert row["digest"] == rule_digest(_rules()[0], EB)
    assert [x["ruleId"] for x in row["desired"]["actions"]] == ["b"]
    assert saved.has_changes


def test_round_trip_through_a_file(tmp_path: Path) -> None:
    """A written saved plan loads back equal; a plain chain plan file is not a saved plan."""
    saved = _saved()
    saved.write(tmp_path / "s.json")
    assert load_saved_plan(tmp_path / "s.json") == saved
    (tmp_path / "p.json").write_text(json.dumps(PLAN.model_dump()))
    assert load_saved_plan(tmp_path / "p.json") is None


@pytest.mark.parametrize(
    ("change", "place"),
    [
        ({FORMAT_KEY: 2}, FORMAT_KEY),
        ({"rules": [{"id": "a"}]}, "rules[0]"),
        ({"extra": 1}, "extra"),
    ],
)
def test_a_damaged_saved_plan_is_bad_input(tmp_path: Path, change: dict, place: str) -> None:
    """A file in the saved format with bad content raises InputError naming the place."""
    (tmp_path / "s.json").write_text(json.dumps({**_saved().to_json(), **change}))
    with pytest.raises(InputError) as info:
        load_saved_plan(tmp_path / "s.json")
    assert info.value.place.startswith(place)


def test_drift_names_each_changed_rule() -> None:
    """Drift: a new version, changed content at the same version, a rule gone; none when equal."""
    saved = _saved()
    assert saved.drift(_rules(), EB) == []
    a = _rules()[0]
    assert saved.drift([a.model_copy(update={"version": 5})], EB) == ["a: version 1 -> 5"]
    edited = a.model_copy(update={"description": "x"})
    assert saved.drift([edited], EB) == ["a: content changed (version 1)"]
    assert saved.drift([], EB) == ["a: no longer on the bus"]


def test_a_no_op_rule_is_checked_for_drift_too() -> None:
    """A rule planned as a no-op that changed since is drift as well."""
    done = [Rule.model_validate(make_rule("a", actions=[{"type": "invokeRule", "ruleId": "b"}]))]
    saved = _saved(done)
    assert [r.change for r in saved.rules] == ["no-op"] and not saved.has_changes
    assert saved.drift([done[0].model_copy(update={"version": 2})], EB) == ["a: version 1 -> 2"]


def test_saved_merger_writes_the_saved_fields_and_keeps_other_edits() -> None:
    """After a concurrent edit of another field, the saved merger overlays only its fields."""
    saved = _saved()
    merger = saved.merger(EB)
    index = PlanIndex.of(PLAN)
    assert merger.targets(index) == ["a"]
    fresh = _rules()[0].model_copy(
        update={"description": "edited by concurrent writer", "version": 2}
    )
    out = merger.desired(fresh, index)
    assert out.description == "edited by concurrent writer" and out.version == 2
    assert [x.rule_id for x in out.links()] == ["b"]
    other = _rules()[1]
    assert merger.desired(other, index) is other

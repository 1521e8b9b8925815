"""Chains through workflows: the plan's `workflows:` block, derived links, their findings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chainsim.bus.genesys import trigger_to_rule
from chainsim.errors import InputError
from chainsim.model import ChainLink, ChainPlan, Rule, load_plan
from chainsim.probe import load_triggers
from chainsim.simulate import simulate_plan
from chainsim.validate import validate_plan
from chainsim.workflows import (
    chain_text,
    derive_links,
    derived_index,
    explain,
    firing_triggers,
    plan_links,
    target_id,
)

PLANS = Path(__file__).resolve().parents[1] / "scenarios" / "plans"
END = "v2.detail.events.conversation.{id}.customer.end"
ATTRS = "v2.detail.events.conversation.{id}.attributes"
ACW = "v2.detail.events.conversation.{id}.acw"
ACD = "v2.detail.events.conversation.{id}.acd.start"


def trigger(tid: str, topic: str, workflow: str | None, **extra: Any) -> Rule:
    """A trigger in SDK wire form, as chainsim reads it (`trigger_to_rule`)."""
    wire: dict[str, Any] = {"id": tid, "name": tid.upper(), "topicName": topic, "enabled": True}
    if workflow is not None:
        wire["target"] = {"type": "Workflow", "id": workflow}
    wire.update(extra)
    return trigger_to_rule(wire)


def plan(workflows: dict[str, Any], **rest: Any) -> ChainPlan:
    """A plan from its parts (plan-file form)."""
    return ChainPlan.model_validate({"workflows": workflows, **rest})


def emits(*topics: str, name: str | None = None, sets: list[str] | None = None) -> dict[str, Any]:
    """A `workflows:` entry emitting one event on each of `topics`."""
    return {"name": name, "emits": [{"topic": t, "sets": sets or []} for t in topics]}


# ------------------------------------------------------------------ the plan model


def test_plan_reads_workflows_and_remove() -> None:
    """`workflows:` entries and `remove:` links load into their models; both default empty."""
    p = plan(
        {"wf": emits(ATTRS, name="Set-Attrs", sets=["attributes.x"])},
        remove=[{"source": "a", "destination": "b", "event_type": END}],
    )
    assert p.workflows["wf"].name == "Set-Attrs"
    assert p.workflows["wf"].emits[0].topic == ATTRS
    assert p.workflows["wf"].emits[0].sets == ["attributes.x"]
    assert p.remove == [ChainLink(source="a", destination="b", event_type=END)]
    assert ChainPlan().workflows == {} and ChainPlan().remove == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("workflows: [a]", "p.yaml: workflows: expected a mapping"),
        ("workflows: {w: {emit: []}}", "p.yaml: workflows.w.emit: unknown field"),
        ("workflows: {w: {emits: {topic: v2.x}}}", "p.yaml: workflows.w.emits: expected a list"),
        ("workflows: {w: {emits: [{sets: [a]}]}}", "workflows.w.emits[0].topic: required"),
        ("workflows: {w: {emits: [{topic: v2.x, sets: [1]}]}}", "emits[0].sets[0]: expected a"),
        ("workflows: {w: {emits: [{topic: v2.x, sets: ['']}]}}", "sets[0]: must not be empty"),
        ("workflows: {w: {emits: [{topic: conversation.end}]}}", "topic name starting 'v2.'"),
        ("workflows: {w: {name: 3}}", "p.yaml: workflows.w.name: expected a string"),
        ("workflows: {w: {emits: [{topic: v2.x, extra: 1}]}}", "emits[0].extra: unknown field"),
        ("remove: [{source: a}]", "p.yaml: remove[0].destination: required field is missing"),
    ],
)
def test_malformed_workflows_block_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, message: str
) -> None:
    """A malformed `workflows:` (or `remove:`) is one InputError line naming file and place."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_plan("p.yaml")
    assert message in str(caught.value) and "\n" not in str(caught.value)


# ------------------------------------------------------------------ derivation


def test_target_id_reads_the_workflow_target() -> None:
    """A trigger's workflow is its wire `target.id` when the target type is Workflow."""
    assert target_id(trigger("t", END, "wf-1")) == "wf-1"
    assert target_id(trigger("t", END, None)) is None
    other = trigger("t", END, None, target={"type": "Other", "id": "x"})
    assert target_id(other) is None
    assert target_id(trigger("t", END, None, target={"type": "Workflow"})) is None
    assert target_id(Rule(id="r", event_type="e")) is None


def test_links_follow_trigger_workflow_topic_trigger() -> None:
    """X's workflow emits on T, so X links to every trigger on T (event_type: X's topic)."""
    rules = [trigger("x", END, "wf"), trigger("y", ATTRS, None), trigger("z", ATTRS, None)]
    rules.append(trigger("w", ACW, None))
    links = plan_links(plan({"wf": emits(ATTRS)}), rules)
    assert [(lk.source, lk.destination, lk.event_type) for lk in links] == [
        ("x", "y", END),
        ("x", "z", END),
    ]
    assert all(lk.preserve == [] and lk.transform == {} for lk in links)


def test_explicit_links_come_first_and_win() -> None:
    """`links:` are kept in order; a derived link repeating one of them is dropped."""
    rules = [trigger("x", END, "wf"), trigger("y", ATTRS, None), trigger("z", ATTRS, None)]
    explicit = {"source": "x", "destination": "z", "event_type": END, "preserve": ["q"]}
    p = plan({"wf": emits(ATTRS)}, links=[explicit])
    links = plan_links(p, rules)
    assert [(lk.source, lk.destination) for lk in links] == [("x", "z"), ("x", "y")]
    assert links[0].preserve == ["q"]
    assert list(derived_index(p, rules)) == [("x", "y")]


def test_repeated_emit_is_one_link_but_counts_twice_in_derivation() -> None:
    """Two emits of one topic give one plan link and two derivation steps."""
    rules = [trigger("x", END, "wf"), trigger("y", ATTRS, None)]
    p = plan({"wf": emits(ATTRS, ATTRS)})
    assert len(derive_links(p, rules)) == 2
    assert [(lk.source, lk.destination) for lk in plan_links(p, rules)] == [("x", "y")]


def test_disabled_triggers_and_unknown_workflows_derive_nothing() -> None:
    """Disabled triggers neither invoke nor fire; a workflow not in the plan emits nothing."""
    rules = [
        trigger("x", END, "wf"),
        trigger("off", ATTRS, None, enabled=False),
        trigger("dark", END, "unknown-wf"),
        trigger("quiet", END, "wf", enabled=False),
    ]
    assert plan_links(plan({"wf": emits(ATTRS)}), rules) == []
    assert plan_links(ChainPlan(), [trigger("x", END, "wf"), trigger("y", END, None)]) == []


def test_plan_rule_settings_apply_before_derivation() -> None:
    """`rules.<id>.enabled` and `rules.<id>.workflow` are applied as apply will write them."""
    rules = [trigger("x", END, "old"), trigger("y", ATTRS, None, enabled=False)]
    p = plan(
        {"new": emits(ATTRS), "old": emits(ACW)},
        rules={"x": {"workflow": "new"}, "y": {"enabled": True}},
    )
    assert [(lk.source, lk.destination) for lk in plan_links(p, rules)] == [("x", "y")]
    assert [wf for _, wf in firing_triggers(p, rules)] == ["new", None]
    off = plan({"old": emits(ATTRS)}, rules={"x": {"enabled": False}})
    assert plan_links(off, [trigger("x", END, "old"), trigger("y", ATTRS, None)]) == []


def test_chain_text_names_workflows_between_triggers() -> None:
    """A path of ids reads trigger -> workflow -> topic -> trigger, by name when known."""
    rules = [trigger("x", END, "wf"), trigger("y", ATTRS, None)]
    p = plan({"wf": emits(ATTRS, name="Set-Attrs")})
    text = chain_text(["x", "y"], derived_index(p, rules), {"x": "X-Name"})
    assert text == f"trigger 'X-Name' -> workflow 'Set-Attrs' -> topic {ATTRS} -> trigger 'y'"
    assert chain_text(["a", "b"], {}, {}) == "trigger 'a' -> trigger 'b'"


def test_chain_text_elides_the_middle_of_a_long_chain() -> None:
    """Past `limit` hops the middle is one `... N more hop(s) ...`; both ends stay."""
    ids = [str(i) for i in range(12)]
    assert chain_text(ids, {}, {}, limit=4) == (
        "trigger '0' -> trigger '1' -> trigger '2' -> ... 7 more hop(s) ... -> "
        "trigger '9' -> trigger '10' -> trigger '11'"
    )
    assert chain_text(ids[:5], {}, {}, limit=4).count("trigger") == 5


# ------------------------------------------------------------------ validation


def test_attributes_loop_is_a_cycle_naming_the_workflow() -> None:
    """A trigger on the attributes topic whose workflow sets attributes is a `cycle`."""
    rules = [trigger("entry", END, "wf"), trigger("sync", ATTRS, "wf")]
    p = plan({"wf": emits(ATTRS, name="Set-Callback-Attributes", sets=["attributes.cb"])})
    report = validate_plan(p, rules, dialect="triggers")
    assert report.codes() == ["cycle"] and not report.ok
    finding = report.findings[0]
    assert finding.rule_ids == ("sync", "sync")
    assert (
        f"trigger 'SYNC' -> workflow 'Set-Callback-Attributes' -> topic {ATTRS} -> "
        "trigger 'SYNC'" in finding.message
    )
    assert "attributes.cb" in finding.message


def test_two_workflow_loop_is_a_cycle_with_the_chain() -> None:
    """X's workflow fires Y, Y's fires X: one `cycle`, its message naming both workflows."""
    rules = [trigger("x", END, "wf-a"), trigger("y", ATTRS, "wf-b")]
    p = plan({"wf-a": emits(ATTRS, name="A"), "wf-b": emits(END, name="B")})
    report = validate_plan(p, rules)
    assert report.codes() == ["cycle"]
    message = report.findings[0].message
    assert "through workflows: trigger 'X' -> workflow 'A' -> topic" in message
    assert "workflow 'B'" in message


def test_explicit_self_link_stays_a_self_link() -> None:
    """A self link written under `links:` is still `self_link`, not a workflow cycle."""
    rules = [trigger("x", END, "wf"), trigger("y", ATTRS, None)]
    p = plan({"wf": emits(ATTRS)}, links=[{"source": "x", "destination": "x", "event_type": END}])
    report = validate_plan(p, rules)
    assert report.codes() == ["self_link"]
    assert "workflow" not in report.findings[0].message


def test_derived_depth_is_checked_against_max_depth() -> None:
    """A chain of workflows longer than max_depth is a `depth` finding naming them."""
    topics = [f"v2.detail.events.conversation.{{id}}.t{i}" for i in range(4)]
    rules = [trigger(f"t{i}", topics[i], f"wf{i}") for i in range(4)]
    workflows = {f"wf{i}": emits(topics[i + 1]) for i in range(3)}
    assert validate_plan(plan(workflows, max_depth=3), rules).ok
    report = validate_plan(plan(workflows, max_depth=2), rules)
    assert report.codes() == ["depth"]
    assert report.findings[0].rule_ids == ("t0", "t1", "t2", "t3")
    assert "workflow 'wf0'" in report.findings[0].message


def test_derived_fanout_names_the_workflow() -> None:
    """A workflow whose topic has more than max_fanout triggers: `fanout`, each chain named."""
    rules = [trigger("x", END, "wf")]
    rules += [trigger(f"y{i}", ATTRS, None) for i in range(6)]
    report = validate_plan(plan({"wf": emits(ATTRS, name="Busy")}), rules)
    assert report.codes() == ["fanout"]
    message = report.findings[0].message
    assert message.count("trigger 'X' -> workflow 'Busy' -> topic") == 6
    assert all(f"trigger 'Y{i}'" in message for i in range(6))


def test_explain_leaves_findings_without_derived_links_alone() -> None:
    """Findings on `links:` only keep their message; no workflows, no change at all."""
    rules = [trigger("x", END, None), trigger("y", ATTRS, None)]
    loop = [
        {"source": "x", "destination": "y", "event_type": END},
        {"source": "y", "destination": "x", "event_type": ATTRS},
    ]
    p = plan({}, links=loop)
    report = validate_plan(p, rules)
    assert report.codes() == ["cycle"] and "workflow" not in report.findings[0].message
    assert explain(report, p, rules) is report


def test_example_plans_validate_clean_and_the_loop_fails() -> None:
    """The trigger example plans validate clean; invalid/attributes_loop.yaml is a cycle."""
    for stem in ("customer_end_callback", "acw_survey"):
        rules = load_triggers(PLANS / f"{stem}.inventory.json")
        p = load_plan(PLANS / f"{stem}.yaml")
        assert len(plan_links(p, rules)) >= 1
        assert validate_plan(p, rules, dialect="triggers").findings == ()
    loop = PLANS / "invalid" / "attributes_loop"
    report = validate_plan(load_plan(f"{loop}.yaml"), load_triggers(f"{loop}.inventory.json"))
    assert report.codes() == ["cycle"]
    assert "workflow 'Set-Callback-Attributes'" in report.findings[0].message


# ------------------------------------------------------------------ simulation


def test_simulate_walks_derived_links() -> None:
    """An event on X's topic crosses X -> Y through the workflow, with Y's topic."""
    rules = [trigger("x", END, "wf"), trigger("y", ATTRS, "wf2"), trigger("z", ACD, None)]
    p = plan({"wf": emits(ATTRS), "wf2": emits(ACD)})
    trace = simulate_plan(p, rules, {"eventType": END, "metadata": {"mediaType": "VOICE"}})
    assert [(h.source, h.destination, h.depth) for h in trace.hops] == [
        ("x", "y", 1),
        ("y", "z", 2),
    ]
    assert trace.hops[0].event == {"eventType": ATTRS, "metadata": {}}


def test_simulate_stops_a_workflow_loop_at_max_depth() -> None:
    """The attributes loop is walked max_depth times, then stops."""
    rules = [trigger("sync", ATTRS, "wf")]
    trace = simulate_plan(plan({"wf": emits(ATTRS)}, max_depth=3), rules, {"eventType": ATTRS})
    assert [h.depth for h in trace.hops] == [1, 2, 3]

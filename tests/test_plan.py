"""Tests for plan/merge and the ChangeSet."""

from __future__ import annotations

from chainsim.dialects.eventbridge import desired_rule
from chainsim.model import ChainLink, ChainPlan, Rule, RuleSettings
from chainsim.plan import (
    PlanIndex,
    changed_fields,
    compute_changes,
    overlay,
    same_content,
)


def _rule(rule_id: str, **kw: object) -> Rule:
    base = {"id": rule_id, "name": rule_id.upper(), "eventType": f"t.{rule_id}", "version": 2}
    base["filters"] = {"attributes": ["callerId", "queueId"]}
    base.update(kw)
    return Rule.model_validate(base)


def _link(src: str, dst: str, **kw: object) -> ChainLink:
    data = {"source": src, "destination": dst, "event_type": f"t.{src}"}
    data.update(kw)
    return ChainLink.model_validate(data)


def test_merge_appends_new_links_and_keeps_other_actions_and_fields() -> None:
    """A new destination appends an invokeRule action; other actions, fields and extras stay."""
    current = _rule(
        "a",
        description="mine",
        customField={"x": 1},
        actions=[{"type": "notify", "target": "ops"}, {"type": "invokeRule", "ruleId": "b"}],
    )
    out = desired_rule(
        current,
        [_link("a", "c", transform={"caller": "$.metadata.callerId"}, preserve=["queueId"])],
    )
    wire = out.to_wire()
    assert wire["actions"][0]["target"] == "ops"
    assert [a.get("ruleId") for a in wire["actions"]] == [None, "b", "c"]
    assert wire["actions"][2]["payloadTransformation"] == {"caller": "$.metadata.callerId"}
    assert wire["actions"][2]["preservedAttributes"] == ["queueId"]
    assert (
        wire["description"] == "mine" and wire["customField"] == {"x": 1} and wire["version"] == 2
    )


def test_merge_replaces_the_action_to_the_same_destination() -> None:
    """A link to a destination already invoked replaces that action's transform and preserve."""
    current = _rule(
        "a",
        actions=[
            {
                "type": "invokeRule",
                "ruleId": "b",
                "payloadTransformation": {"old": "$.metadata.queueId"},
                "tag": 1,
            }
        ],
    )
    out = desired_rule(current, [_link("a", "b", preserve=["callerId"])])
    (action,) = out.to_wire()["actions"]
    assert action["payloadTransformation"] == {} and action["preservedAttributes"] == ["callerId"]
    assert action["tag"] == 1


def test_settings_enabled_applies_and_merge_is_idempotent() -> None:
    """`rules: {id: {enabled}}` sets enabled; merging twice equals merging once."""
    current = _rule("a", enabled=True)
    links = [_link("a", "b")]
    once = desired_rule(current, links, RuleSettings(enabled=False))
    assert once.enabled is False
    assert same_content(desired_rule(once, links, RuleSettings(enabled=False)), once)


def test_changeset_lists_update_noop_and_missing() -> None:
    """Rules needing a write are updates, rules already there are no-ops, unknown ids missing."""
    a = _rule("a")
    b = _rule("b", actions=[{"type": "invokeRule", "ruleId": "c"}])
    plan = ChainPlan(
        links=[_link("a", "b"), _link("b", "c")], rules={"zz": RuleSettings(enabled=True)}
    )
    changes = compute_changes([a, b, _rule("c")], plan)
    assert [(c.rule_id, c.kind) for c in changes.changes] == [("a", "update"), ("b", "no-op")]
    assert changes.missing == ("zz",)
    assert changes.counts() == {"update": 1, "no-op": 1}
    (update,) = changes.updates
    assert update.fields == ["actions"]
    assert update.summary() == ["+ link -> b"]
    assert '"ruleId": "b"' in update.diff() and update.diff().startswith("--- bus")


def test_overlay_restores_only_the_named_fields() -> None:
    """overlay takes named fields from the snapshot and keeps the fresh rule's others."""
    snapshot = _rule("a", description="old")
    applied = desired_rule(snapshot, [_link("a", "b")])
    fresh = applied.model_copy(update={"description": "edited by concurrent writer", "version": 9})
    fields = changed_fields(snapshot, applied)
    restored = overlay(fresh, snapshot, fields)
    assert restored.actions == [] and restored.description == "edited by concurrent writer"
    assert restored.version == 9


def test_plan_index_groups_links_by_source_in_order() -> None:
    """PlanIndex groups links per source, keeping plan order."""
    index = PlanIndex.of(ChainPlan(links=[_link("a", "b"), _link("c", "d"), _link("a", "d")]))
    assert [link.destination for link in index.links_by_source["a"]] == ["b", "d"]

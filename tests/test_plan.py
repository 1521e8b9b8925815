"""Tests for plan/merge and the ChangeSet."""

from __future__ import annotations

from chainsim.dialects.eventbridge import EVENTBRIDGE, desired_rule
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


# --------------------------------------------------------------------------- removal


def _plan(**data: object) -> ChainPlan:
    return ChainPlan.model_validate(data)


def test_eventbridge_unmerge_drops_only_the_removed_links_action() -> None:
    """Removing a -> b drops a's invokeRule to b; other actions and fields stay."""
    from chainsim.dialects.eventbridge import EVENTBRIDGE

    current = _rule(
        "a",
        description="mine",
        actions=[
            {"type": "invokeRule", "ruleId": "b"},
            {"type": "notify", "target": "ops"},
            {"type": "invokeRule", "ruleId": "c"},
        ],
    )
    index = PlanIndex.of(_plan())
    out = EVENTBRIDGE.unmerge(current, [_link("a", "b")], index)
    assert [(x.type, x.rule_id) for x in out.actions] == [("notify", None), ("invokeRule", "c")]
    assert out.description == "mine" and out.version == 2
    assert EVENTBRIDGE.unmerge(current, [_link("x", "b")], index) is current
    assert EVENTBRIDGE.removal_targets([_link("a", "b"), _link("a", "c"), _link("d", "b")]) == [
        "a",
        "d",
    ]


def _trigger(criteria: list[dict[str, object]]) -> Rule:
    from chainsim.dialects.triggers import trigger_to_rule

    return trigger_to_rule(
        {"id": "t", "topicName": "topic.t", "version": 3, "matchCriteria": criteria}
    )


def test_triggers_unmerge_drops_the_links_exists_criteria() -> None:
    """Removing x -> t (preserve queueId) drops t's `Exists queueId`; other criteria stay."""
    from chainsim.dialects.triggers import TriggersMerger, rule_to_trigger

    current = _trigger(
        [
            {"jsonPath": "$.mediaType", "operator": "Equal", "value": "voice"},
            {"jsonPath": "queueId", "operator": "Exists"},
            {"jsonPath": "agentId", "operator": "Exists"},
        ]
    )
    merger = TriggersMerger()
    out = merger.unmerge(current, [_link("x", "t", preserve=["queueId"])], PlanIndex.of(_plan()))
    assert rule_to_trigger(out)["matchCriteria"] == [
        {"jsonPath": "$.mediaType", "operator": "Equal", "value": "voice"},
        {"jsonPath": "agentId", "operator": "Exists"},
    ]
    assert merger.removal_targets([_link("x", "t"), _link("y", "t"), _link("x", "u")]) == ["t", "u"]


def test_triggers_unmerge_keeps_what_a_remaining_link_needs() -> None:
    """An attribute another link of the plan still preserves into t keeps its criterion."""
    from chainsim.dialects.triggers import TriggersMerger

    current = _trigger([{"jsonPath": "queueId", "operator": "Exists"}])
    stay = {"source": "y", "destination": "t", "event_type": "t.y", "preserve": ["queueId"]}
    go = {"source": "x", "destination": "t", "event_type": "t.x", "preserve": ["queueId"]}
    plan = _plan(links=[stay], remove=[go])
    out = TriggersMerger().unmerge(current, plan.remove, PlanIndex.of(plan))
    assert out is current
    alone = _plan(remove=[go])
    assert TriggersMerger().unmerge(current, alone.remove, PlanIndex.of(alone)).attributes == []


def test_plan_merger_merges_links_then_removes_the_remove_links() -> None:
    """PlanMerger targets link sources and removal sources; desired = merged minus removed."""
    from chainsim.dialects.eventbridge import EVENTBRIDGE
    from chainsim.plan import plan_merger

    rules = [
        _rule("a", actions=[{"type": "invokeRule", "ruleId": "b"}]),
        _rule("b"),
        _rule("c"),
    ]
    plan = _plan(
        links=[{"source": "b", "destination": "c", "event_type": "t.b"}],
        remove=[{"source": "a", "destination": "b", "event_type": "t.a"}],
    )
    merger = plan_merger(EVENTBRIDGE)
    assert plan_merger(merger) is merger
    assert merger.targets(PlanIndex.of(plan)) == ["b", "a"]
    changes = compute_changes(rules, plan, merger)
    after = {c.rule_id: c.after for c in changes.changes}
    assert after["a"].links() == [] and [x.rule_id for x in after["b"].links()] == ["c"]
    assert changes.changes[1].summary() == ["- link -> b"]


def test_destroy_plan_turns_links_into_removals_and_drops_settings() -> None:
    """destroy_plan: no links, the plan's links under `remove:`, no `rules:` settings."""
    from chainsim.plan import destroy_plan

    plan = _plan(
        links=[{"source": "a", "destination": "b", "event_type": "t.a"}],
        rules={"b": {"enabled": True}},
        max_depth=3,
    )
    inverse = destroy_plan(plan)
    assert inverse.links == [] and inverse.remove == plan.links and inverse.rules == {}
    assert inverse.max_depth == 3


def test_removal_findings_warn_for_links_the_bus_lacks() -> None:
    """A `remove:` link not realised on the bus (or naming an unknown rule) is a warning."""
    from chainsim.dialects import get_dialect
    from chainsim.plan import removal_findings

    rules = [_rule("a", actions=[{"type": "invokeRule", "ruleId": "b"}]), _rule("b"), _rule("c")]
    plan = _plan(
        remove=[
            {"source": "a", "destination": "b", "event_type": "t.a"},
            {"source": "a", "destination": "c", "event_type": "t.a"},
            {"source": "z", "destination": "b", "event_type": "t.z"},
        ]
    )
    found = removal_findings(plan, rules, get_dialect("eventbridge").link_realised)
    assert [(f["code"], f["severity"], f["rule_ids"]) for f in found] == [
        ("remove_absent", "warning", ["a", "c"]),
        ("remove_absent", "warning", ["z", "b"]),
    ]


def test_check_removals_refuses_a_link_added_and_removed() -> None:
    """The same (source, destination) under `links:` and `remove:` is bad input."""
    import pytest

    from chainsim.errors import InputError
    from chainsim.plan import check_removals

    link = {"source": "a", "destination": "b", "event_type": "t.a"}
    with pytest.raises(InputError, match=r"remove\[0\]"):
        check_removals("p.yaml", _plan(links=[link], remove=[link]))
    check_removals("p.yaml", _plan(links=[link], remove=[{**link, "destination": "c"}]))


# ------------------------------------------------- mutation testing (issue 13)


def test_changed_fields_include_fields_on_one_side_only() -> None:
    """A field present before or after only is changed; the version never is."""
    before = _rule("a", description="d")
    after = _rule("a", enabled=False, version=7)
    assert changed_fields(before, after) == ["description", "enabled"]
    assert changed_fields(before, before.model_copy(update={"version": 9})) == []
    assert same_content(before, before.model_copy(update={"version": 9}))
    assert not same_content(before, after)


def test_overlay_removes_a_named_field_absent_from_the_source() -> None:
    """A named field the snapshot lacks is removed from the result; the base's version stays."""
    snapshot = _rule("a")
    fresh = _rule("a", description="added by someone", enabled=False, version=5)
    restored = overlay(fresh, snapshot, ["description"])
    wire = restored.to_wire()
    assert "description" not in wire and wire["enabled"] is False and wire["version"] == 5
    assert overlay(fresh, snapshot, ["customField"]) == fresh  # absent on both sides: no-op


def test_a_change_summary_names_new_and_changed_links_and_settings() -> None:
    """`+ link` for a new destination, `~ link` with transform/preserve, `~ field: a -> b`."""
    from chainsim.plan import Change

    before = _rule("a", enabled=True, actions=[{"type": "invokeRule", "ruleId": "b"}])
    after = _rule(
        "a",
        enabled=False,
        actions=[
            {
                "type": "invokeRule",
                "ruleId": "b",
                "payloadTransformation": {"k": "$.metadata.callerId", "q": "$.metadata.queueId"},
                "preservedAttributes": ["callerId", "queueId"],
            },
            {"type": "invokeRule", "ruleId": "c"},
        ],
    )
    change = Change("a", "update", before, after)
    assert change.summary() == [
        "~ link -> b transform k=$.metadata.callerId, q=$.metadata.queueId preserve callerId, "
        "queueId",
        "+ link -> c",
        "~ enabled: true -> false",
    ]
    assert change.to_json()["fields"] == ["actions", "enabled"]


def test_an_action_change_outside_links_is_summarized_as_actions() -> None:
    """A change to a non-link action (no link or setting line) reads `~ actions`."""
    from chainsim.plan import Change

    before = _rule("a", actions=[{"type": "notify", "target": "ops"}])
    after = _rule("a", actions=[{"type": "notify", "target": "dev"}])
    assert Change("a", "update", before, after).summary() == ["~ actions"]


def test_the_diff_is_unified_bus_to_plan_with_one_line_of_context() -> None:
    """`diff()` is a unified diff `--- bus` / `+++ plan` of sorted wire JSON, 1 context line."""
    from chainsim.plan import Change

    before = _rule("a", description="old")
    after = _rule("a", description="new", version=3)
    assert Change("a", "update", before, after).diff() == "\n".join(
        [
            "--- bus",
            "+++ plan",
            "@@ -2,3 +2,3 @@",
            '   "actions": [],',
            '-  "description": "old",',
            '+  "description": "new",',
            '   "enabled": true,',
        ]
    )


def test_a_no_op_writes_nothing_and_says_nothing() -> None:
    """A no-op's JSON has no fields, summary or diff, even if its rules differ."""
    from chainsim.plan import Change

    before, after = _rule("a"), _rule("a", description="x")
    assert Change("a", "no-op", before, after).to_json() == {
        "id": "a",
        "change": "no-op",
        "fields": [],
        "summary": [],
        "diff": "",
    }


def test_changeset_json_and_has_changes() -> None:
    """`ChangeSet.to_json` lists changes, counts and missing ids; `has_changes` means updates."""
    a, b = _rule("a"), _rule("b", actions=[{"type": "invokeRule", "ruleId": "c"}])
    noop_only = compute_changes([b], ChainPlan(links=[_link("b", "c")]))
    assert not noop_only.has_changes and noop_only.updates == []
    plan = ChainPlan(links=[_link("a", "b"), _link("b", "c"), _link("x", "b")])
    changes = compute_changes([a, b], plan)
    assert changes.has_changes
    data = changes.to_json()
    assert [(c["id"], c["change"]) for c in data["changes"]] == [("a", "update"), ("b", "no-op")]
    assert data["counts"] == {"update": 1, "no-op": 1} and data["missing"] == ["x"]
    assert compute_changes([a, b], PlanIndex.of(plan)).to_json() == data


def test_a_missing_rule_does_not_hide_the_rules_after_it() -> None:
    """An id the bus lacks is listed as missing and the plan's later rules are still compared."""
    a, b = _rule("a"), _rule("b")
    plan = ChainPlan(links=[_link("x", "a"), _link("a", "b"), _link("b", "a")])
    changes = compute_changes([a, b], plan)
    assert changes.missing == ("x",)
    assert [c.rule_id for c in changes.changes] == ["a", "b"]
    assert changes.counts() == {"update": 2, "no-op": 0}
    same = compute_changes(
        [desired_rule(a, [_link("a", "b")]), desired_rule(b, [_link("b", "a")])], plan
    )
    assert same.counts() == {"update": 0, "no-op": 2}


def test_plan_settings_are_looked_up_by_rule_id() -> None:
    """`PlanIndex.settings(id)` is that rule's `rules:` entry, None for a rule without one."""
    index = PlanIndex.of(ChainPlan(rules={"a": RuleSettings(enabled=False)}))
    assert index.settings("a") == RuleSettings(enabled=False)
    assert index.settings("b") is None


def test_content_of_a_rule_without_a_version() -> None:
    """A rule built without a version (the model defaults it) has no version in its content."""
    from chainsim.plan import content

    bare = Rule.model_validate({"id": "a", "eventType": "t.a"})
    assert "version" not in content(bare) and content(bare)["id"] == "a"


# ------------------------------------------ mutation testing: wire bodies (issue 13)


def test_a_wire_diff_shows_the_whole_sorted_body_without_version() -> None:
    """`wire_diff` is `--- current` / `+++ PUT` over sorted, 2-indented JSON, all as context."""
    from chainsim.plan import wire_diff

    before = {
        "version": 3,
        "target": {"type": "Workflow", "id": "wf"},
        "name": "T",
        "enabled": True,
        "topicName": "x",
    }
    after = {**before, "version": 4, "enabled": False}
    assert wire_diff(before, after) == "\n".join(
        [
            "--- current",
            "+++ PUT",
            "@@ -1,9 +1,9 @@",
            " {",
            '-  "enabled": true,',
            '+  "enabled": false,',
            '   "name": "T",',
            '   "target": {',
            '     "id": "wf",',
            '     "type": "Workflow"',
            "   },",
            '   "topicName": "x"',
            " }",
        ]
    )


def test_a_wire_summary_lists_items_added_and_removed_and_fields_changed() -> None:
    """List items read `+`/`-` (sorted JSON), other fields `~ k: was -> now`; version never."""
    from chainsim.plan import wire_summary

    def exists(name: str) -> dict[str, object]:
        return {"value": True, "operator": "Exists", "jsonPath": name}

    before = {
        "version": 3,
        "description": "gone",
        "enabled": True,
        "matchCriteria": [exists("keep"), exists("drop")],
        "name": "T",
    }
    after = {
        "version": 4,
        "enabled": False,
        "matchCriteria": [exists("keep"), exists("add")],
        "name": "T",
        "tags": ["a"],
        "topicName": "x",
    }
    assert wire_summary(before, after) == [
        '~ description: "gone" -> null',
        "~ enabled: true -> false",
        '+ matchCriteria {"jsonPath": "add", "operator": "Exists", "value": true}',
        '- matchCriteria {"jsonPath": "drop", "operator": "Exists", "value": true}',
        '+ tags "a"',
        '~ topicName: null -> "x"',
    ]
    assert wire_summary(before, {**before, "version": 9}) == []


def _wire(rule: Rule) -> dict[str, object]:
    """A dialect's wire form for these tests: id, enabled and version."""
    return {"version": rule.version, "id": rule.id, "enabled": rule.enabled}


def test_a_change_with_a_wire_form_shows_and_puts_the_wire_body() -> None:
    """With a wire form, an update's summary, diff and body are in the dialect's terms."""
    from chainsim.plan import Change

    before = _rule("a", enabled=True)
    after = _rule("a", enabled=False, version=3)
    change = Change("a", "update", before, after, _wire)
    assert change.body() == {"version": 3, "id": "a", "enabled": False}
    assert change.summary() == ["~ enabled: true -> false"]
    assert change.diff().splitlines()[:4] == ["--- current", "+++ PUT", "@@ -1,4 +1,4 @@", " {"]
    assert change.diff().splitlines()[4:6] == ['-  "enabled": true,', '+  "enabled": false,']
    data = change.to_json()
    assert data["body"] == {"version": 3, "id": "a", "enabled": False}
    assert data["summary"] == change.summary() and data["diff"] == change.diff()
    assert data["fields"] == ["enabled"]
    assert Change("a", "update", before, after).body() is None
    assert "body" not in Change("a", "update", before, after).to_json()


def test_a_no_op_with_a_wire_form_has_no_body() -> None:
    """A no-op puts nothing: no body (and no `body` key), even with a wire form."""
    from chainsim.plan import Change

    change = Change("a", "no-op", _rule("a"), _rule("a"), _wire)
    assert change.body() is None
    assert "body" not in change.to_json()
    assert change.summary() == [] and change.diff() == ""


def _topic_trigger(rule_id: str, **extra: object) -> Rule:
    from chainsim.dialects.triggers import trigger_to_rule

    criteria = [{"jsonPath": "$.mediaType", "operator": "Equal", "value": "voice"}]
    data = {"id": rule_id, "name": rule_id.upper(), "topicName": "nope.topic", "version": 3}
    return trigger_to_rule({**data, "matchCriteria": criteria, **extra})


def test_compute_changes_carries_the_mergers_wire_form_also_through_plan_merger() -> None:
    """The triggers merger's PUT body reaches each change, direct or wrapped by `plan_merger`."""
    from chainsim.dialects.triggers import TriggersMerger, request_body
    from chainsim.plan import plan_merger, wire_form

    plan = _plan(
        links=[{"source": "s", "destination": "t", "event_type": "x", "preserve": ["queueId"]}]
    )
    for merger in (TriggersMerger(), plan_merger(TriggersMerger())):
        (change,) = compute_changes([_topic_trigger("t")], plan, merger).changes
        assert change.kind == "update"
        assert change.body() == request_body(change.after)
        assert change.summary() == [
            '+ matchCriteria {"jsonPath": "queueId", "operator": "Exists", "value": true}'
        ]
        assert change.diff().startswith("--- current\n+++ PUT\n")
    assert wire_form(plan_merger(TriggersMerger())) is not None
    assert wire_form(EVENTBRIDGE) is None

    class NotCallable:
        wire = "not a function"

    assert wire_form(NotCallable()) is None


def test_plan_merger_forwards_declared_attributes_and_unmerges_with_the_index() -> None:
    """A wrapped triggers merger: the base's `declared_attributes`; removal honours the plan."""
    from chainsim.dialects.triggers import TriggersMerger
    from chainsim.plan import plan_merger

    plan = _plan(rules={"t": {"attributes": ["agentId"]}})
    merger = plan_merger(TriggersMerger())
    assert merger.declared_attributes(plan, [_topic_trigger("u")]) == {
        "u": ["mediaType"],
        "t": ["agentId"],
    }
    current = _topic_trigger(
        "t",
        matchCriteria=[
            {"jsonPath": "queueId", "operator": "Exists"},
            {"jsonPath": "agentId", "operator": "Exists"},
        ],
    )
    gone = {"source": "x", "destination": "t", "event_type": "t.x", "preserve": ["queueId"]}
    stays = {"source": "y", "destination": "t", "event_type": "t.y", "preserve": ["agentId"]}
    removal = _plan(links=[stays], remove=[gone])
    out = merger.desired(current, PlanIndex.of(removal))
    assert out.attributes == ["agentId"]


def test_a_removal_naming_a_rule_the_bus_lacks_is_absent_with_its_message() -> None:
    """`remove_absent` when the destination is unknown, even if the source still invokes it."""
    from chainsim.dialects import get_dialect
    from chainsim.plan import removal_findings

    rules = [_rule("a", actions=[{"type": "invokeRule", "ruleId": "z"}])]
    plan = _plan(remove=[{"source": "a", "destination": "z", "event_type": "t.a"}])
    assert removal_findings(plan, rules, get_dialect("eventbridge").link_realised) == [
        {
            "code": "remove_absent",
            "severity": "warning",
            "rule_ids": ["a", "z"],
            "message": "link a -> z is not on the bus: nothing to remove",
        }
    ]


def test_a_link_added_and_removed_names_file_place_and_link() -> None:
    """The refusal is one line: file, `remove[i]`, the link and what to do."""
    import pytest

    from chainsim.errors import InputError
    from chainsim.plan import check_removals

    link = {"source": "a", "destination": "b", "event_type": "t.a"}
    other = {**link, "destination": "c"}
    with pytest.raises(InputError) as caught:
        check_removals("p.yaml", _plan(links=[link], remove=[other, link]))
    assert str(caught.value) == (
        "p.yaml: remove[1]: link a -> b is also under links: (add or remove it)"
    )

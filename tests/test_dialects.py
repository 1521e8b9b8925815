"""Tests for chainsim.dialects: lookup, detection, codecs, hooks and the criteria matcher."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainsim.dialects import DIALECTS, detect_dialect, dialect_of, get_dialect
from chainsim.dialects.base import Dialect
from chainsim.dialects.criteria import OPERATORS, CriteriaMatcher, absolute_path, json_equal
from chainsim.dialects.eventbridge import EVENTBRIDGE, EventBridgeDialect
from chainsim.dialects.triggers import TriggersDialect, TriggersMerger
from chainsim.errors import InputError
from chainsim.model import ChainLink, ChainPlan, Rule

TRIGGER = {
    "id": "t1",
    "name": "T1",
    "topicName": "v2.detail.events.conversation.{id}.acd.start",
    "enabled": True,
    "version": 1,
    "target": {"type": "Workflow", "id": "wf"},
    "matchCriteria": [{"jsonPath": "queueId", "operator": "Exists", "value": True}],
}
RULE = {"id": "r1", "name": "R1", "eventType": "t.a", "filters": {"attributes": ["queueId"]}}


# --------------------------------------------------------------------------- lookup, detection


def test_get_dialect_returns_a_fresh_object_per_name() -> None:
    """Each known name gives its own dialect class; two lookups never share state."""
    assert isinstance(get_dialect("eventbridge"), EventBridgeDialect)
    assert isinstance(get_dialect("triggers"), TriggersDialect)
    assert get_dialect("triggers") is not get_dialect("triggers")
    assert [get_dialect(n).name for n in DIALECTS] == list(DIALECTS)


def test_get_dialect_refuses_an_unknown_name() -> None:
    """An unknown dialect name is a ValueError naming the known ones."""
    with pytest.raises(ValueError, match="eventbridge, triggers"):
        get_dialect("sqs")


def test_both_dialects_satisfy_the_protocol() -> None:
    """Every dialect object offers what `Dialect` declares (checked attribute by attribute)."""
    wanted = [n for n in dir(Dialect) if not n.startswith("_")]
    wanted += list(Dialect.__annotations__)
    for name in DIALECTS:
        dialect = get_dialect(name)
        assert all(hasattr(dialect, attr) for attr in wanted), name


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ([TRIGGER], "triggers"),
        ({"entities": [TRIGGER]}, "triggers"),
        ([RULE], "eventbridge"),
        ({"entities": [RULE]}, "eventbridge"),
        ([], None),
        ([RULE, TRIGGER], None),
        ({"rules": [RULE]}, None),
        (["x"], None),
    ],
)
def test_detect_dialect(data: Any, expected: str | None) -> None:
    """`topicName` -> triggers, `eventType` -> eventbridge, for a list or `entities`."""
    assert detect_dialect(data) == expected


def test_dialect_of_a_bus_follows_its_dialect_name() -> None:
    """A bus naming `triggers` gets the triggers dialect; one naming none, EventBridge."""

    class Named:
        dialect = "triggers"

    assert isinstance(dialect_of(Named()), TriggersDialect)
    assert isinstance(dialect_of(object()), EventBridgeDialect)


def test_importing_dialects_never_imports_the_sdk() -> None:
    """`chainsim.dialects` (and its modules, catalogue hook aside) load without the SDK."""
    code = (
        "import sys, chainsim.dialects, chainsim.dialects.triggers, "
        "chainsim.dialects.eventbridge, chainsim.dialects.criteria, chainsim.session; "
        "sys.exit('PureCloudPlatformClientV2' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# --------------------------------------------------------------------------- codecs


def test_triggers_codec_round_trips_and_writes_entities(tmp_path: Path) -> None:
    """A triggers file reads as Rules and writes back as the same `{"entities": [...]}`."""
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"entities": [TRIGGER]}))
    dialect = get_dialect("triggers")
    rules = dialect.read(path)
    assert rules[0].event_type == TRIGGER["topicName"]
    assert rules[0].attributes == ["queueId"]
    assert dialect.write(rules) == {"entities": [TRIGGER]}


def test_eventbridge_codec_round_trips(tmp_path: Path) -> None:
    """A rules file reads as Rules and writes back as `{"entities": [...]}` of wire rules."""
    path = tmp_path / "r.json"
    path.write_text(json.dumps([RULE]))
    dialect = get_dialect("eventbridge")
    rules = dialect.read(path)
    assert dialect.write(rules) == {"entities": [rules[0].to_wire()]}
    assert rules[0].to_wire()["eventType"] == "t.a"


def test_triggers_codec_names_the_bad_item(tmp_path: Path) -> None:
    """A trigger without topicName, or a repeated id, is bad input naming its place."""
    dialect = get_dialect("triggers")
    bad = {k: v for k, v in TRIGGER.items() if k != "topicName"}
    with pytest.raises(InputError, match=r"t.json: entities\[1\]"):
        dialect.parse("t.json", {"entities": [TRIGGER, bad]})
    with pytest.raises(InputError, match=r"\[1\]\.id: duplicate trigger id 't1'"):
        dialect.parse("t.json", [TRIGGER, TRIGGER])
    with pytest.raises(InputError, match="expected a list of triggers"):
        dialect.parse("t.json", {"x": 1})


# --------------------------------------------------------------------------- hooks


def test_mergers_come_from_the_dialect() -> None:
    """EventBridge's merger is the shared EVENTBRIDGE; triggers get a TriggersMerger each."""
    assert get_dialect("eventbridge").merger is EVENTBRIDGE
    assert isinstance(get_dialect("triggers").merger, TriggersMerger)


def test_constraints_hook_trusts_criteria_only_for_triggers() -> None:
    """Triggers declare every path their criteria read plus plan attributes; EventBridge none."""
    rule = get_dialect("triggers").parse(
        "t",
        [
            {
                **TRIGGER,
                "matchCriteria": [{"jsonPath": "$.mediaType", "operator": "Equal", "value": "x"}],
            }
        ],
    )
    plan = ChainPlan.model_validate({"links": [], "rules": {"t1": {"attributes": ["callerId"]}}})
    declared = get_dialect("triggers").declared_attributes(plan, rule)
    assert declared is not None and declared["t1"][:2] == ["mediaType", "callerId"]
    assert get_dialect("eventbridge").declared_attributes(plan, rule) is None


def test_link_realised_per_dialect() -> None:
    """EventBridge: an invokeRule on the source; triggers: Exists criteria on the destination."""
    link = ChainLink(source="a", destination="b", event_type="t.a", preserve=["queueId"])
    source = Rule.model_validate(
        {
            "id": "a",
            "name": "a",
            "eventType": "t.a",
            "actions": [{"type": "invokeRule", "ruleId": "b", "preservedAttributes": ["queueId"]}],
        }
    )
    dest = Rule.model_validate({"id": "b", "name": "b", "eventType": "t.b"})
    eb, tr = get_dialect("eventbridge"), get_dialect("triggers")
    assert eb.link_realised(link, {"a": source, "b": dest})
    assert not eb.link_realised(link, {"b": dest})
    assert not tr.link_realised(link, {"a": source, "b": dest})
    carried = Rule.model_validate({**dest.to_wire(), "filters": {"attributes": ["queueId"]}})
    assert tr.link_realised(link, {"b": carried})


def test_test_chain_hooks() -> None:
    """Triggers need a workflow target and plan settings; EventBridge rules need neither."""
    eb, tr = get_dialect("eventbridge"), get_dialect("triggers")
    assert eb.rule_extra("wf") == {} and eb.plan_settings(["x"], ["q"], "wf") == {}
    assert tr.rule_extra("wf")["target"]["id"] == "wf"
    assert tr.plan_settings(["x"], ["q"], "wf") == {"x": {"workflow": "wf", "attributes": ["q"]}}
    assert tr.needs_workflow() and not eb.needs_workflow()
    assert tr.test_mode and not eb.test_mode
    assert tr.links_on_rules is False and eb.links_on_rules is True


def test_eventbridge_has_no_catalogue() -> None:
    """The EventBridge contract publishes no event-type catalogue."""
    assert get_dialect("eventbridge").catalogue() is None


def test_triggers_catalogue_is_the_topic_catalogue() -> None:
    """The triggers dialect's catalogue hook returns `dialects.catalogue.load_catalogue()`."""
    catalogue = pytest.importorskip("chainsim.dialects.catalogue")
    assert get_dialect("triggers").catalogue() == catalogue.load_catalogue()


def test_each_dialect_seeds_and_reads_the_fake(tmp_path: Path) -> None:
    """`seed` loads the dialect's wire file into a FakeBus; `stored` gives it back in wire form."""
    from chainsim.fakebus import FakeBus

    triggers, rules = tmp_path / "t.json", tmp_path / "r.json"
    triggers.write_text(json.dumps([TRIGGER]))
    rules.write_text(json.dumps([RULE]))
    fake = FakeBus()
    get_dialect("triggers").seed(fake, triggers)
    get_dialect("eventbridge").seed(fake, rules)
    assert [t["id"] for t in get_dialect("triggers").stored(fake)] == ["t1"]
    assert [r["id"] for r in get_dialect("eventbridge").stored(fake)] == ["r1"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{**TRIGGER, "topicName": ""}]))
    with pytest.raises(InputError, match=r"bad.json: \[0\]"):
        get_dialect("triggers").seed(FakeBus(), bad)


# --------------------------------------------------------------------------- criteria


def _c(path: str, op: str, **extra: Any) -> dict[str, Any]:
    return {"jsonPath": path, "operator": op, **extra}


BODY = {"queueId": "q1", "n": 3, "flag": True, "tags": ["a", "b"], "s": "hello", "o": {"k": 1}}
CASES = [
    (_c("queueId", "Exists"), True),
    (_c("$.queueId", "Exists", value=True), True),
    (_c("missing", "Exists"), False),
    (_c("missing", "Exists", value=False), True),
    (_c("queueId", "Exists", value=False), False),
    (_c("queueId", "Equal", value="q1"), True),
    (_c("queueId", "Equal", value="q2"), False),
    (_c("flag", "Equal", value=1), False),  # true never equals 1
    (_c("n", "Equal", value=3.0), True),  # 1 equals 1.0
    (_c("missing", "NotEqual", value="x"), False),  # selects nothing: never matches
    (_c("queueId", "NotEqual", value="q2"), True),
    (_c("queueId", "NotEqual", value="q1"), False),
    (_c("queueId", "In", values=["q0", "q1"]), True),
    (_c("queueId", "In", values=["q0"]), False),
    (_c("queueId", "NotIn", values=["q0"]), True),
    (_c("queueId", "NotIn", values=["q1"]), False),
    (_c("s", "Contains", value="ell"), True),
    (_c("tags", "Contains", value="b"), True),
    (_c("tags", "Contains", value="c"), False),
    (_c("n", "Contains", value=3), False),
    (_c("tags", "All", values=["a", "b"]), True),
    (_c("tags", "All", values=["a", "c"]), False),
    (_c("tags", "Size", value=2), True),
    (_c("s", "Size", value=5), True),
    (_c("o", "Size", value=1), True),
    (_c("n", "Size", value=1), False),
    (_c("n", "GreaterThan", value=2), True),
    (_c("n", "GreaterThan", value=3), False),
    (_c("n", "GreaterThanOrEqual", value=3), True),
    (_c("n", "LessThan", value=4), True),
    (_c("n", "LessThanOrEqual", value=2), False),
    (_c("s", "LessThan", value="z"), True),  # strings with strings
    (_c("s", "GreaterThan", value=1), False),  # a string never compares with a number
    (_c("tags[*]", "Equal", value="b"), True),  # any selected value
    (_c("tags[*]", "NotEqual", value="b"), False),  # none may equal
    (_c("queueId", "Unknown", value="q1"), False),
    (_c("$[", "Exists"), False),  # a broken path selects nothing
]


@pytest.mark.parametrize(("criterion", "expected"), CASES)
def test_criteria_semantics(criterion: dict[str, Any], expected: bool) -> None:
    """Each operator follows the README's "Match-criteria semantics"."""
    assert CriteriaMatcher().matches(criterion, BODY) is expected


def test_every_sdk_operator_has_a_case() -> None:
    """The matcher knows every operator of the SDK's MatchCriteria enum, each with a case."""
    from chainsim.fakebus.triggers import OPERATORS as SDK_OPERATORS

    assert set(OPERATORS) == set(SDK_OPERATORS)
    assert {c["operator"] for c, _ in CASES} >= set(OPERATORS)


def test_failing_describes_each_failing_criterion() -> None:
    """`failing` lists `path operator value` for criteria that do not hold."""
    criteria = [_c("queueId", "Exists"), _c("callerId", "Exists", value=True)]
    assert CriteriaMatcher().failing(criteria, BODY) == ["callerId Exists true"]
    assert CriteriaMatcher().failing([_c("x", "In", values=[1])], BODY) == ["x In [1]"]


def test_absolute_path_and_json_equal() -> None:
    """Paths gain `$.` only when relative; JSON equality is deep and type-aware."""
    assert absolute_path("a.b") == "$.a.b" and absolute_path("$.a") == "$.a"
    assert absolute_path("[0]") == "$[0]"
    assert json_equal({"a": [1, True]}, {"a": [1.0, True]})
    assert not json_equal([1], [True]) and not json_equal("1", 1)


_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from(["a", "b"]))
_JSON = st.recursive(_VALUES, lambda inner: st.lists(inner, max_size=3), max_leaves=6)


@settings(max_examples=200, deadline=None)
@given(
    op=st.sampled_from(OPERATORS),
    value=_JSON,
    values=st.lists(_VALUES, min_size=1, max_size=3),
    field=_JSON,
    present=st.booleans(),
)
def test_matcher_agrees_with_the_fake_org(
    op: str, value: Any, values: list[Any], field: Any, present: bool
) -> None:
    """Property: chainsim's matcher and the fake org's test mode agree on every criterion."""
    from chainsim.fakebus.triggers import evaluate

    criterion = {"jsonPath": "x", "operator": op, "value": value, "values": values}
    if op == "Exists" and not isinstance(value, bool):
        criterion["value"] = True
    body = {"x": field} if present else {"y": 1}
    assert CriteriaMatcher().matches(criterion, body) == evaluate(criterion, body)["match"]

"""Triggers on the fake: the real API's write constraints and the match-criteria semantics."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chainsim.fakebus.errors import FakeError
from chainsim.fakebus.state import FakeState
from chainsim.fakebus.triggers import (
    OPERATORS,
    evaluate,
    event_body,
    topic_test_results,
    trigger_test_results,
)

TOPIC = "v2.detail.events.conversation.{id}.customer.start"


def body(**changes: Any) -> dict[str, Any]:
    """A valid create body, with `changes` (a None value removes the key)."""
    out: dict[str, Any] = {
        "name": "Inbound",
        "topicName": TOPIC,
        "enabled": True,
        "target": {
            "type": "Workflow",
            "id": "wf-1",
            "workflowTargetSettings": {"dataFormat": "Json"},
        },
        "matchCriteria": [{"jsonPath": "mediaType", "operator": "Exists"}],
    }
    out.update(changes)
    return {k: v for k, v in out.items() if v is not None}


@pytest.fixture
def fake() -> FakeState:
    """A state holding one trigger `t1` at version 1."""
    state = FakeState(max_depth=5, new_id=lambda: "new")
    state.seed_triggers([{**body(), "id": "t1"}])
    return state


def status_of(call: Any) -> int:
    """The status a call ends in (200 on success)."""
    try:
        call()
    except FakeError as err:
        return err.status
    return 200


def test_create_stores_version_one_without_http_fields(fake: FakeState) -> None:
    """Create stores the trigger at version 1 with an id; `selfUri` is the HTTP layer's."""
    created = fake.create_trigger(body(description="d", eventTTLSeconds=10))
    assert created["version"] == 1 and created["id"] == "new"
    assert "selfUri" not in created
    assert created["eventTTLSeconds"] == 10


@pytest.mark.parametrize("missing", ["version", "enabled", "target", "name", "topicName"])
def test_put_requires_its_fields(fake: FakeState, missing: str) -> None:
    """PUT without version, enabled, target, name or topicName is 400."""
    update = {**body(version=1), missing: None}
    assert (
        status_of(
            lambda: fake.put_trigger("t1", {k: v for k, v in update.items() if v is not None})
        )
        == 400
    )


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        ({"name": ""}, 400),
        ({"name": "n" * 256}, 200),
        ({"name": "n" * 257}, 400),
        ({"description": "d" * 512}, 200),
        ({"description": "d" * 513}, 400),
        ({"eventTTLSeconds": 9}, 400),
        ({"eventTTLSeconds": 10}, 200),
        ({"delayBySeconds": 59}, 400),
        ({"delayBySeconds": 60}, 200),
        ({"delayBySeconds": 900}, 200),
        ({"delayBySeconds": 901}, 400),
        ({"delayBySeconds": 60, "eventTTLSeconds": 60}, 400),
        ({"target": {"type": "Queue", "id": "q"}}, 400),
        (
            {
                "target": {
                    "type": "Workflow",
                    "id": "w",
                    "workflowTargetSettings": {"dataFormat": "Xml"},
                }
            },
            400,
        ),
        ({"matchCriteria": [{"jsonPath": "x", "operator": "Like", "value": 1}]}, 400),
        ({"matchCriteria": [{"jsonPath": "x", "operator": "Equal"}]}, 400),
        ({"matchCriteria": [{"jsonPath": "x", "operator": "In", "values": []}]}, 400),
        ({"matchCriteria": [{"jsonPath": "x", "operator": "Size", "value": -1}]}, 400),
        ({"matchCriteria": [{"jsonPath": "x", "operator": "Exists", "value": "yes"}]}, 400),
        ({"matchCriteria": [{"jsonPath": "$.[[", "operator": "Exists"}]}, 400),
        ({"topicName": "v2.other"}, 400),
        (
            {"matchCriteria": [{"jsonPath": "x", "operator": "Equal", "value": 1, "values": [1]}]},
            400,
        ),
        (
            {
                "matchCriteria": [
                    {"jsonPath": "x", "operator": "In", "value": ["a"], "values": ["a"]}
                ]
            },
            400,
        ),
        ({"matchCriteria": [{"jsonPath": "x", "operator": "In", "value": []}]}, 400),
        ({"matchCriteria": [{"jsonPath": "x", "operator": "In", "value": "a"}]}, 400),
        ({"matchCriteria": [{"jsonPath": "x", "operator": "All", "value": ["a"]}]}, 400),
        ({"matchCriteria": [{"jsonPath": "x", "operator": "In", "value": ["a", "b"]}]}, 200),
        ({"matchCriteria": [{"jsonPath": "x", "operator": "NotIn", "value": ["a"]}]}, 200),
        ({"eventTTLSeconds": "120"}, 200),
        ({"eventTTLSeconds": " 15 "}, 200),
        ({"eventTTLSeconds": "9"}, 400),
        ({"eventTTLSeconds": "1e2"}, 400),
        ({"eventTTLSeconds": True}, 400),
        ({"delayBySeconds": "60"}, 200),
        ({"delayBySeconds": "59"}, 400),
    ],
)
def test_put_constraints(fake: FakeState, changes: dict[str, Any], status: int) -> None:
    """Name 1..256, description <= 512, TTL >= 10, delay 60..900 (not both), immutable topic."""
    assert status_of(lambda: fake.put_trigger("t1", body(version=1, **changes))) == status


def test_numeric_strings_are_stored_as_integers(fake: FakeState) -> None:
    """`"eventTTLSeconds": "120"` (Genesys's blog example) is stored as 120, as is `version`."""
    stored = fake.put_trigger("t1", body(version="1", eventTTLSeconds="120"))
    assert (stored["version"], stored["eventTTLSeconds"]) == (2, 120)


@pytest.mark.parametrize(
    ("operator", "listed", "event", "expected"),
    [
        ("In", ["ERROR", "TRANSFER"], {"disconnectType": "ERROR"}, True),
        ("In", ["ERROR", "TRANSFER"], {"disconnectType": "PEER"}, False),
        ("NotIn", ["ERROR"], {"disconnectType": "PEER"}, True),
        ("NotIn", ["ERROR"], {"disconnectType": "ERROR"}, False),
    ],
)
def test_a_list_in_value_works_like_values(
    operator: str, listed: list[str], event: dict[str, Any], expected: bool
) -> None:
    """In/NotIn with the list in `value` (Genesys's blueprint form) match like `values`."""
    with_value = evaluate(
        {"jsonPath": "disconnectType", "operator": operator, "value": listed}, event
    )
    with_values = evaluate(
        {"jsonPath": "disconnectType", "operator": operator, "values": listed}, event
    )
    assert with_value["match"] is with_values["match"] is expected


def test_test_results_fail_on_schema_or_target_problems() -> None:
    """schemaValidation / targetValidation carry their details and sink triggerMatches."""
    trigger = {**body(), "matchCriteria": []}
    ok = trigger_test_results(trigger, EVENT, [], [])
    assert ok["triggerMatches"] is True and ok["schemaValidation"]["details"] == []
    bad_schema = trigger_test_results(trigger, EVENT, ["$.x: wrong"], [])
    assert bad_schema["schemaValidation"] == {
        "name": "Schema validation",
        "step": 1,
        "matches": False,
        "details": ["$.x: wrong"],
    }
    assert bad_schema["triggerMatches"] is False
    bad_target = trigger_test_results(trigger, EVENT, [], ["Workflow w is not published"])
    assert bad_target["targetValidation"]["matches"] is False
    assert bad_target["targetValidation"]["details"] == ["Workflow w is not published"]
    assert bad_target["triggerMatches"] is False


def test_topic_test_skips_disabled_and_matches_nothing_on_a_bad_body() -> None:
    """Disabled triggers are left out; a schema failure puts every trigger in unmatched."""
    on = {**body(matchCriteria=[]), "id": "on"}
    off = {**body(matchCriteria=[], enabled=False), "id": "off"}
    good = topic_test_results([on, off], EVENT, [])
    assert [t["id"] for t in good["triggerMatchValidation"]["matchedTriggers"]] == ["on"]
    assert good["triggerMatchValidation"]["unmatchedTriggers"] == []
    bad = topic_test_results([on, off], EVENT, ["$: wrong"])
    assert bad["schemaValidation"]["matches"] is False
    assert bad["triggerMatchValidation"]["matchedTriggers"] == []
    assert [t["id"] for t in bad["triggerMatchValidation"]["unmatchedTriggers"]] == ["on"]


def test_stale_put_is_409_and_good_put_bumps_version(fake: FakeState) -> None:
    """The current version gets version+1; a stale one 409 "does not match the current version"."""
    assert fake.put_trigger("t1", body(version=1, enabled=False))["version"] == 2
    with pytest.raises(FakeError) as err:
        fake.put_trigger("t1", body(version=1))
    assert err.value.status == 409
    assert "does not match the current version" in err.value.message


def test_put_replaces_the_whole_trigger(fake: FakeState) -> None:
    """Fields left out of a PUT are cleared (it is a replacement, not a patch)."""
    updated = fake.put_trigger("t1", body(version=1, matchCriteria=None))
    assert updated["matchCriteria"] == []


def test_concurrent_edit_of_a_trigger(fake: FakeState) -> None:
    """The concurrent writer edits description and bumps the trigger's version."""
    assert fake.concurrent_edit_trigger("t1")
    assert fake.get_trigger("t1")["description"] == "edited by concurrent writer"
    assert status_of(lambda: fake.put_trigger("t1", body(version=1))) == 409


# --------------------------------------------------------------------------- operators

EVENT = {
    "mediaType": "VOICE",
    "count": 3,
    "ratio": 0.5,
    "flag": True,
    "tags": ["vip", "gold"],
    "name": "alpha",
    "nested": {"queue": {"id": "q1"}},
    "participants": [{"purpose": "agent"}, {"purpose": "customer"}],
}

SEMANTICS = [
    ("Exists", "mediaType", {}, True),
    ("Exists", "$.mediaType", {}, True),
    ("Exists", "missing", {}, False),
    ("Exists", "missing", {"value": False}, True),
    ("Exists", "nested.queue.id", {}, True),
    ("Equal", "mediaType", {"value": "VOICE"}, True),
    ("Equal", "mediaType", {"value": "voice"}, False),
    ("Equal", "count", {"value": 3.0}, True),
    ("Equal", "flag", {"value": 1}, False),
    ("Equal", "missing", {"value": None}, False),
    ("NotEqual", "mediaType", {"value": "CHAT"}, True),
    ("NotEqual", "mediaType", {"value": "VOICE"}, False),
    ("NotEqual", "missing", {"value": "x"}, False),
    ("GreaterThan", "count", {"value": 2}, True),
    ("GreaterThan", "count", {"value": 3}, False),
    ("GreaterThanOrEqual", "count", {"value": 3}, True),
    ("LessThan", "ratio", {"value": 1}, True),
    ("LessThanOrEqual", "name", {"value": "alpha"}, True),
    ("LessThan", "name", {"value": 5}, False),
    ("GreaterThan", "flag", {"value": 0}, False),
    ("In", "mediaType", {"values": ["CHAT", "VOICE"]}, True),
    ("In", "mediaType", {"values": ["CHAT"]}, False),
    ("NotIn", "mediaType", {"values": ["CHAT"]}, True),
    ("NotIn", "mediaType", {"values": ["VOICE"]}, False),
    ("NotIn", "missing", {"values": ["x"]}, False),
    ("Contains", "name", {"value": "lph"}, True),
    ("Contains", "tags", {"value": "vip"}, True),
    ("Contains", "tags", {"value": "silver"}, False),
    ("All", "tags", {"values": ["vip", "gold"]}, True),
    ("All", "tags", {"values": ["vip", "silver"]}, False),
    ("All", "name", {"values": ["alpha"]}, False),
    ("Size", "tags", {"value": 2}, True),
    ("Size", "name", {"value": 5}, True),
    ("Size", "nested", {"value": 1}, True),
    ("Size", "count", {"value": 1}, False),
    ("Equal", "participants[*].purpose", {"value": "customer"}, True),
    ("NotEqual", "participants[*].purpose", {"value": "customer"}, False),
]


def test_every_sdk_operator_has_a_semantics_case() -> None:
    """The semantics table covers every operator of the SDK's MatchCriteria enum."""
    assert {case[0] for case in SEMANTICS} == set(OPERATORS)
    assert len(OPERATORS) == 12


@pytest.mark.parametrize(("operator", "path", "extra", "expected"), SEMANTICS)
def test_operator_semantics(
    operator: str, path: str, extra: dict[str, Any], expected: bool
) -> None:
    """Each operator matches as documented in chainsim.fakebus.triggers."""
    result = evaluate({"jsonPath": path, "operator": operator, **extra}, EVENT)
    assert result["match"] is expected
    assert result["operator"] == operator and result["jsonPath"] == path


def test_trigger_test_results_have_the_sdk_shape() -> None:
    """TestModeResults: three steps, per-criterion details, triggerMatches = all match."""
    trigger = {
        **body(),
        "matchCriteria": [
            {"jsonPath": "mediaType", "operator": "Equal", "value": "VOICE"},
            {"jsonPath": "count", "operator": "GreaterThan", "value": 5},
        ],
    }
    results = trigger_test_results(trigger, EVENT, [], [])
    assert set(results) == {
        "schemaValidation",
        "targetValidation",
        "jsonPathValidation",
        "triggerMatches",
    }
    details = results["jsonPathValidation"]["details"]
    assert [d["match"] for d in details] == [True, False]
    assert details[0]["jsonPathExtraction"] == [{"path": "$['mediaType']", "value": "VOICE"}]
    assert results["triggerMatches"] is False


def test_topic_test_splits_matched_and_unmatched() -> None:
    """TestModeEventResults lists matching and non-matching triggers of the topic."""
    yes = {**body(), "id": "a", "selfUri": "/a"}
    no = {**body(matchCriteria=[{"jsonPath": "absent", "operator": "Exists"}]), "id": "b"}
    out = topic_test_results([yes, no], EVENT, [])["triggerMatchValidation"]
    assert [t["id"] for t in out["matchedTriggers"]] == ["a"]
    assert [t["id"] for t in out["unmatchedTriggers"]] == ["b"]


def test_event_body_accepts_the_sdk_string_or_an_object() -> None:
    """The SDK posts the event as a JSON string; a JSON object works too; else 400."""
    assert event_body(json.dumps(EVENT)) == EVENT
    assert event_body(EVENT) == EVENT
    for bad in ("{nope", "[1]", 3):
        assert status_of(lambda bad=bad: event_body(bad)) == 400

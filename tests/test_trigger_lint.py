"""Trigger lint: each finding code on a trigger Genesys accepts but that can never fire."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainsim.dialects.catalogue import load_catalogue
from chainsim.dialects.trigger_lint import OPERATORS, lint_triggers, trigger_errors
from chainsim.validate import Finding

CUSTOMER_END = "v2.detail.events.conversation.{id}.customer.end"
ATTRIBUTES = "v2.detail.events.conversation.{id}.attributes"
PUBLIC = Path(__file__).parent / "data" / "public_triggers"


def trigger(*criteria: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A valid customer.end trigger carrying the given criteria, fields overridden."""
    body: dict[str, Any] = {
        "id": "t-1",
        "name": "Callback after drop",
        "topicName": CUSTOMER_END,
        "enabled": True,
        "target": {"id": "wf-1", "type": "Workflow"},
        "matchCriteria": list(criteria),
        "eventTTLSeconds": 60,
    }
    body.update(fields)
    return body


def lint(*triggers: dict[str, Any]) -> list[Finding]:
    """Lint against the offline catalogue."""
    return lint_triggers(list(triggers), load_catalogue())


def codes(findings: list[Finding]) -> list[tuple[str, str]]:
    """(code, severity) pairs."""
    return [(f.code, f.severity) for f in findings]


def only(findings: list[Finding], code: str) -> Finding:
    """The single finding, checked to carry `code`."""
    assert len(findings) == 1, findings
    assert findings[0].code == code
    return findings[0]


def test_a_sound_trigger_is_clean() -> None:
    """A trigger matching real values on real fields has no finding."""
    assert lint(trigger({"jsonPath": "mediaType", "operator": "Equal", "value": "VOICE"})) == []


def test_unknown_topic_suggests_the_nearest() -> None:
    """A misspelt topic is an error naming the nearest catalogue topic."""
    f = only(
        lint(trigger(topicName="v2.detail.events.conversation.{id}.customer.ended")),
        "unknown_topic",
    )
    assert f.severity == "error" and f.rule_ids == ("t-1",)
    assert "'Callback after drop' (t-1)" in f.message and repr(CUSTOMER_END) in f.message


def test_topic_id_asks_for_the_placeholder() -> None:
    """A concrete conversation id in the topic is `topic_id`, naming the templated topic."""
    concrete = "v2.detail.events.conversation.3f1c2b1e-0000-4000-8000-000000000000.customer.end"
    f = only(lint(trigger(topicName=concrete)), "topic_id")
    assert f.severity == "error" and repr(CUSTOMER_END) in f.message


def test_unknown_path_suggests_the_field() -> None:
    """`mediaTyp` names no field of customer.end; the message suggests `mediaType`."""
    f = only(
        lint(trigger({"jsonPath": "mediaTyp", "operator": "Equal", "value": "VOICE"})),
        "unknown_path",
    )
    assert f.severity == "error"
    assert "matchCriteria[0] (mediaTyp Equal)" in f.message and "'mediaType'" in f.message


def test_dollar_prefixed_paths_are_accepted() -> None:
    """`$.mediaType` is the same field as `mediaType`."""
    assert lint(trigger({"jsonPath": "$.mediaType", "operator": "Equal", "value": "VOICE"})) == []


def test_value_type_for_a_number_field_given_text() -> None:
    """eventTime is an integer: a string value can never match."""
    f = only(
        lint(trigger({"jsonPath": "eventTime", "operator": "Equal", "value": "5"})), "value_type"
    )
    assert f.severity == "error" and "integer" in f.message


@pytest.mark.parametrize(
    ("criterion", "word"),
    [
        ({"jsonPath": "ani", "operator": "Exists", "value": "yes"}, "true or false"),
        ({"jsonPath": "callbackNumbers", "operator": "Size", "value": -1}, "non-negative"),
        ({"jsonPath": "eventTime", "operator": "Size", "value": 1}, "list or text"),
        ({"jsonPath": "mediaType", "operator": "GreaterThan", "value": 3}, "compares numbers"),
    ],
)
def test_value_type_for_operators(criterion: dict[str, Any], word: str) -> None:
    """Exists wants a boolean, Size a non-negative integer on a list, order operators numbers."""
    f = only(lint(trigger(criterion)), "value_type")
    assert word in f.message


def test_enum_value_case_is_an_error() -> None:
    """`voice` vs `VOICE` can never match: error, with the fix."""
    f = only(
        lint(trigger({"jsonPath": "mediaType", "operator": "Equal", "value": "voice"})),
        "enum_value",
    )
    assert f.severity == "error" and '"voice" -> "VOICE"' in f.message


def test_enum_value_all_case_variants_in_in_is_an_error() -> None:
    """An In whose every value is a mis-cased enum value never matches."""
    criterion = {"jsonPath": "mediaType", "operator": "In", "values": ["voice", "chat"]}
    assert codes(lint(trigger(criterion))) == [("enum_value", "error")]


@pytest.mark.parametrize(
    "criterion",
    [
        {"jsonPath": "mediaType", "operator": "In", "values": ["VOICE", "voice"]},
        {"jsonPath": "mediaType", "operator": "Equal", "value": "HOLOGRAM"},
        {"jsonPath": "mediaType", "operator": "NotEqual", "value": "voice"},
    ],
)
def test_enum_value_warnings(criterion: dict[str, Any]) -> None:
    """Still-matching In, values unknown to the SDK and NotEqual are warnings."""
    assert codes(lint(trigger(criterion))) == [("enum_value", "warning")]


def test_enum_value_inside_arrays_for_contains() -> None:
    """Contains on a list of enums checks the list's item values."""
    f = only(
        lint(
            trigger(
                {"jsonPath": "communications[*].mediaType", "operator": "Equal", "value": "chat"},
                topicName=ATTRIBUTES,
            )
        ),
        "enum_value",
    )
    assert f.severity == "error"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("VOI", []), ("voi", [("enum_value", "error")]), ("FAX", [("enum_value", "warning")])],
)
def test_contains_on_an_enum_text_field_is_a_substring_check(
    value: str, expected: list[tuple[str, str]]
) -> None:
    """Contains on mediaType matches a part of an allowed value, case-sensitively."""
    criterion = {"jsonPath": "mediaType", "operator": "Contains", "value": value}
    assert codes(lint(trigger(criterion))) == expected


def test_value_type_checks_each_value_of_in() -> None:
    """A number among In's values for a text field is a value_type error."""
    criterion = {"jsonPath": "ani", "operator": "In", "values": ["tel:+1", 5]}
    f = only(lint(trigger(criterion)), "value_type")
    assert "5 is not a string" in f.message


def test_criteria_shape_value_and_values_together() -> None:
    """`value` with `values` is an error."""
    criterion = {
        "jsonPath": "mediaType",
        "operator": "Equal",
        "value": "VOICE",
        "values": ["VOICE"],
    }
    f = only(lint(trigger(criterion)), "criteria_shape")
    assert f.severity == "error" and "keep only value" in f.message


@pytest.mark.parametrize(
    "criterion",
    [
        {"jsonPath": "mediaType", "operator": "In", "value": "VOICE"},
        {"jsonPath": "mediaType", "operator": "Equal", "values": ["VOICE"]},
        {"jsonPath": "mediaType", "operator": "Equal"},
        {"jsonPath": "mediaType", "operator": "Like", "value": "VOICE"},
        {"operator": "Equal", "value": "VOICE"},
        "mediaType",
    ],
)
def test_criteria_shape_errors(criterion: Any) -> None:
    """The wrong operand for the operator, none, an unknown operator, no jsonPath: errors."""
    assert codes(lint(trigger(criterion))) == [("criteria_shape", "error")]


def test_criteria_shape_list_in_value_for_in_is_a_warning() -> None:
    """A list in `value` for In is accepted (blueprints deploy it) with a warning: use values."""
    criterion = {"jsonPath": "mediaType", "operator": "In", "value": ["VOICE", "CHAT"]}
    f = only(lint(trigger(criterion)), "criteria_shape")
    assert f.severity == "warning" and '"values": ["VOICE","CHAT"]' in f.message


@pytest.mark.parametrize(
    "criteria",
    [
        [("Equal", "VOICE"), ("Equal", "CHAT")],
        [("Equal", "VOICE"), ("NotEqual", "VOICE")],
        [("Equal", "VOICE"), ("In", ["CHAT", "EMAIL"])],
        [("In", ["VOICE"]), ("In", ["CHAT"])],
        [("In", ["VOICE"]), ("NotIn", ["VOICE", "CHAT"])],
        [("Exists", False), ("Equal", "VOICE")],
        [("Exists", False), ("Exists", True)],
    ],
)
def test_unsatisfiable_on_one_path(criteria: list[tuple[str, Any]]) -> None:
    """Criteria on mediaType that no single value can satisfy are one `unsatisfiable` error."""
    body = [
        {"jsonPath": "mediaType", "operator": op, ("values" if isinstance(v, list) else "value"): v}
        for op, v in criteria
    ]
    f = only(lint(trigger(*body)), "unsatisfiable")
    assert f.severity == "error" and "matchCriteria[0], matchCriteria[1]" in f.message


@pytest.mark.parametrize(
    "criteria",
    [
        [("GreaterThan", 10), ("LessThan", 5)],
        [("GreaterThan", 5), ("LessThanOrEqual", 5)],
        [("Equal", 3), ("GreaterThanOrEqual", 4)],
    ],
)
def test_unsatisfiable_numeric_ranges(criteria: list[tuple[str, Any]]) -> None:
    """An empty numeric range on interactingDurationMs is unsatisfiable."""
    body = [{"jsonPath": "interactingDurationMs", "operator": op, "value": v} for op, v in criteria]
    assert codes(lint(trigger(*body))) == [("unsatisfiable", "error")]


def test_satisfiable_combinations_are_clean() -> None:
    """A closed range, Equal inside In, and Exists true with Equal raise nothing."""
    body: list[dict[str, Any]] = [
        {"jsonPath": "interactingDurationMs", "operator": "GreaterThanOrEqual", "value": 5},
        {"jsonPath": "interactingDurationMs", "operator": "LessThanOrEqual", "value": 5},
        {"jsonPath": "mediaType", "operator": "Equal", "value": "VOICE"},
        {"jsonPath": "mediaType", "operator": "In", "values": ["VOICE", "CHAT"]},
        {"jsonPath": "mediaType", "operator": "Exists", "value": True},
    ]
    assert lint(trigger(*body)) == []


def test_duplicate_criteria() -> None:
    """The same criterion twice (with or without `$.`) is a warning naming both indexes."""
    body = [
        {"jsonPath": "mediaType", "operator": "Equal", "value": "VOICE"},
        {"jsonPath": "$.mediaType", "operator": "Equal", "value": "VOICE"},
    ]
    f = only(lint(trigger(*body)), "duplicate_criteria")
    assert f.severity == "warning" and "matchCriteria[1] repeats matchCriteria[0]" in f.message


@pytest.mark.parametrize(
    ("fields", "word"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 257}, "name"),
        ({"description": "d" * 513}, "description"),
        ({"eventTTLSeconds": 9}, "eventTTLSeconds is 9"),
        ({"eventTTLSeconds": "5"}, "eventTTLSeconds is 5"),
        ({"eventTTLSeconds": "soon"}, "must be an integer"),
        ({"eventTTLSeconds": "\u00b2"}, "must be an integer"),
        ({"eventTTLSeconds": True}, "must be an integer"),
        ({"eventTTLSeconds": None, "delayBySeconds": 59}, "delayBySeconds is 59"),
        ({"eventTTLSeconds": None, "delayBySeconds": 901}, "delayBySeconds is 901"),
        ({"delayBySeconds": 120}, "only one"),
    ],
)
def test_field_limit(fields: dict[str, Any], word: str) -> None:
    """Name, description, TTL and delay outside Genesys's limits are `field_limit` errors."""
    f = only(lint(trigger(**fields)), "field_limit")
    assert f.severity == "error" and word in f.message


def test_field_limit_accepts_numeric_strings_and_bounds() -> None:
    """ "120" is an integer as the platform binds it; 10, 60, 900, 256 and 512 are allowed."""
    assert lint(trigger(eventTTLSeconds="120")) == []
    assert lint(trigger(eventTTLSeconds=10, name="n" * 256, description="d" * 512)) == []
    assert lint(trigger(eventTTLSeconds=None, delayBySeconds=60)) == []
    assert lint(trigger(eventTTLSeconds=None, delayBySeconds="900")) == []


def test_unverified_attribute_under_a_map() -> None:
    """A participant attribute key cannot be proved: a warning, not an error."""
    f = only(
        lint(
            trigger(
                {"jsonPath": "attributes.callbackReason", "operator": "Exists", "value": True},
                topicName=ATTRIBUTES,
            )
        ),
        "unverified_attribute",
    )
    assert f.severity == "warning" and "'attributes.callbackReason'" in f.message


def test_value_type_checked_under_a_map_too() -> None:
    """attributes values are strings: a number there is still a value_type error."""
    found = lint(
        trigger(
            {"jsonPath": "attributes.tries", "operator": "Equal", "value": 3}, topicName=ATTRIBUTES
        )
    )
    assert codes(found) == [("unverified_attribute", "warning"), ("value_type", "error")]


def test_order_is_deterministic_and_per_trigger() -> None:
    """Findings follow the input triggers, then field limits, topic, criteria in order."""
    a = trigger({"jsonPath": "mediaTyp", "operator": "Equal", "value": "VOICE"}, name="")
    b = trigger(
        {"jsonPath": "mediaType", "operator": "Equal", "value": "voice"}, id="t-2", name="B"
    )
    found = lint(a, b)
    assert codes(found) == [
        ("field_limit", "error"),
        ("unknown_path", "error"),
        ("enum_value", "error"),
    ]
    assert found[2].rule_ids == ("t-2",) and "trigger 'B' (t-2)" in found[2].message
    assert lint(a, b) == found


def test_trigger_without_id_or_name_is_labelled_by_index() -> None:
    """A trigger with neither name nor id is named by its position."""
    found = lint(trigger(id=None, name=None))
    assert found[0].rule_ids == () and found[0].message.startswith("trigger [0]:")


def test_trigger_errors_keeps_errors_only() -> None:
    """trigger_errors drops warnings."""
    body = trigger(
        {"jsonPath": "direction", "operator": "In", "value": ["INBOUND"]},
        {"jsonPath": "mediaType", "operator": "Equal", "value": "voice"},
    )
    assert codes(lint(body)) == [("criteria_shape", "warning"), ("enum_value", "error")]
    assert codes(trigger_errors(body, load_catalogue())) == [("enum_value", "error")]


PUBLIC_EXPECTED = {
    "developer_blog_sms.json": [],
    "disconnected_call_callback.json": [("criteria_shape", "warning")] * 2,
    "sms_followup_missed_callback.json": [],
    "teams_presence.json": [],
    "terraform_example.json": [],
}


@pytest.mark.parametrize("name", sorted(PUBLIC_EXPECTED))
def test_public_triggers_lint_clean_or_with_true_findings(name: str) -> None:
    """Genesys's published triggers lint clean, or only with the list-in-value warning."""
    triggers = json.loads((PUBLIC / name).read_text())
    assert codes(lint(*triggers)) == PUBLIC_EXPECTED[name]


def test_every_public_trigger_file_is_covered() -> None:
    """Each JSON file in tests/data/public_triggers has an expectation."""
    assert sorted(p.name for p in PUBLIC.glob("*.json")) == sorted(PUBLIC_EXPECTED)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=8)
    | st.sampled_from(["VOICE", "voice", "CHAT", "120", "mediaType"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
CRITERIA = st.one_of(
    JSON_VALUES,
    st.fixed_dictionaries(
        {},
        optional={
            "jsonPath": st.sampled_from(
                ["mediaType", "$.mediaType", "eventTime", "attributes.x", "callbackNumbers", "nope"]
            )
            | st.text(max_size=6),
            "operator": st.sampled_from(OPERATORS) | st.text(max_size=4),
            "value": JSON_VALUES,
            "values": JSON_VALUES,
        },
    ),
)
TRIGGERS = st.fixed_dictionaries(
    {},
    optional={
        "id": JSON_VALUES,
        "name": JSON_VALUES,
        "description": JSON_VALUES,
        "topicName": st.sampled_from(
            [CUSTOMER_END, ATTRIBUTES, "v2.detail.events.conversation.x.acw"]
        )
        | JSON_VALUES,
        "eventTTLSeconds": JSON_VALUES,
        "delayBySeconds": JSON_VALUES,
        "matchCriteria": st.lists(CRITERIA, max_size=5) | JSON_VALUES,
    },
)


@settings(max_examples=300, deadline=None)
@given(st.lists(TRIGGERS, max_size=3))
def test_lint_never_crashes_and_is_deterministic(triggers: list[dict[str, Any]]) -> None:
    """Property: any JSON-shaped trigger lints without an exception, the same way twice."""
    first = lint(*triggers)
    assert lint(*triggers) == first
    assert all(f.severity in ("error", "warning") for f in first)
    for one in triggers:
        assert trigger_errors(one, load_catalogue()) == [
            f for f in lint(one) if f.severity == "error"
        ]

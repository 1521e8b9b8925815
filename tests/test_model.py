"""model.py: loading plans, inventories and events; every bad input is one clear InputError."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chainsim.model import (
    ChainLink,
    InputError,
    Rule,
    load_event,
    load_inventory,
    load_plan,
)

RULE = {
    "id": "a1b2",
    "name": "Inbound-Call-Router",
    "eventType": "routing.queue.member.added",
    "enabled": True,
    "version": 2,
    "filters": {"attributes": ["callerId", "queueId"]},
    "actions": [
        {
            "type": "invokeRule",
            "ruleId": "b2c3",
            "payloadTransformation": {"caller": "$.metadata.callerId"},
            "preservedAttributes": ["queueId"],
        }
    ],
    "someFutureField": {"kept": True},
}


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_rule_round_trips_wire_form_with_unknown_fields() -> None:
    """A rule read in wire form is written back unchanged, unknown fields included."""
    rule = Rule.model_validate(RULE)
    assert rule.event_type == "routing.queue.member.added"
    assert rule.links()[0].rule_id == "b2c3"
    assert rule.to_wire() == RULE


def test_chain_link_plan_form_and_action() -> None:
    """A plan link becomes the invokeRule action of its source."""
    link = ChainLink.model_validate(
        {
            "source": "a",
            "destination": "b",
            "event_type": "t",
            "transform": {"k": "$.metadata.k"},
            "preserve": ["q"],
        }
    )
    assert link.to_action().to_wire() == {
        "type": "invokeRule",
        "ruleId": "b",
        "payloadTransformation": {"k": "$.metadata.k"},
        "preservedAttributes": ["q"],
    }


def test_plan_loads_from_yaml_and_json(tmp_path: Path) -> None:
    """The same plan loads from YAML and JSON."""
    data = {"max_depth": 3, "links": [{"source": "a", "destination": "b", "event_type": "t"}]}
    yaml_plan = load_plan(
        write(
            tmp_path,
            "p.yaml",
            "max_depth: 3\nlinks:\n  - {source: a, destination: b, event_type: t}\n",
        )
    )
    json_plan = load_plan(write(tmp_path, "p.json", json.dumps(data)))
    assert yaml_plan == json_plan and yaml_plan.max_depth == 3


def test_inventory_list_or_entities(tmp_path: Path) -> None:
    """An inventory is a list of rules or a saved list response with `entities`."""
    as_list = load_inventory(write(tmp_path, "a.json", json.dumps([RULE])))
    as_page = load_inventory(
        write(tmp_path, "b.json", json.dumps({"entities": [RULE], "nextPageToken": None}))
    )
    assert as_list == as_page and as_list[0].id == "a1b2"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (
            "links:\n  - {source: a, destination: b, event_type: t, colour: red}\n",
            "p.yaml: links[0].colour: unknown field",
        ),
        ("linkz: []\n", "p.yaml: linkz: unknown field"),
        (
            "links:\n  - {source: a, destination: b, event_type: t, preserve: q}\n",
            "p.yaml: links[0].preserve: expected a list of strings",
        ),
        (
            "links:\n  - {source: '', destination: b, event_type: t}\n",
            "p.yaml: links[0].source: must not be empty",
        ),
        (
            "links:\n  - {source: a, destination: b, event_type: t, transform: {k: 3}}\n",
            "p.yaml: links[0].transform.k: expected a string",
        ),
        (
            "links:\n  - {source: a, event_type: t}\n",
            "p.yaml: links[0].destination: required field is missing",
        ),
        ("max_depth: deep\n", "p.yaml: max_depth: expected an integer"),
        ("links: [\n", "p.yaml: line"),
        ("- just a list\n", "p.yaml: expected a mapping"),
        (
            "callback: {url: 'not a url'}\n",
            "p.yaml: callback.url: expected an http:// or https:// URL",
        ),
        (
            "dead_letter: {url: 'ftp://dlq.example.com/x'}\n",
            "p.yaml: dead_letter.url: expected an http:// or https:// URL",
        ),
        ("dead_letter: {url: 'http://'}\n", "p.yaml: dead_letter.url: expected an http"),
    ],
)
def test_bad_plans_name_file_and_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, where: str
) -> None:
    """Each bad plan is one InputError line naming the file and the place."""
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "p.yaml", text)
    with pytest.raises(InputError) as info:
        load_plan("p.yaml")
    message = str(info.value)
    assert message.startswith(where), message
    assert "\n" not in message


def test_missing_file_and_bad_json(tmp_path: Path) -> None:
    """A missing file and malformed JSON are InputErrors with file and line."""
    with pytest.raises(InputError, match="no such file"):
        load_plan(tmp_path / "nope.yaml")
    with pytest.raises(InputError, match=r"i.json: line 1, column \d+: invalid JSON"):
        load_inventory(write(tmp_path, "i.json", "[{"))


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ([{**RULE, "id": ""}], "[0].id: must not be empty"),
        ([RULE, RULE], "[1].id: duplicate rule id"),
        ({"entities": [{**RULE, "enabled": "yes"}]}, "entities[0].enabled: expected true or false"),
        ({"rules": []}, "expected a list of rules"),
    ],
)
def test_bad_inventories(tmp_path: Path, data: object, where: str) -> None:
    """Bad inventories name the entry and the field."""
    with pytest.raises(InputError, match=None) as info:
        load_inventory(write(tmp_path, "i.json", json.dumps(data)))
    assert where in str(info.value)


def test_event_loading(tmp_path: Path) -> None:
    """An event file has eventType and metadata; anything else is refused."""
    event = load_event(write(tmp_path, "e.json", '{"eventType": "t", "metadata": {"a": 1}}'))
    assert event.to_wire() == {"eventType": "t", "metadata": {"a": 1}}
    with pytest.raises(InputError, match="eventType: required field is missing"):
        load_event(write(tmp_path, "f.json", '{"metadata": {}}'))


def test_deeply_nested_json_is_bad_input_not_recursion_error(tmp_path: Path) -> None:
    """JSON nested past the interpreter's recursion limit is one InputError line."""
    path = write(tmp_path, "deep.json", "[" * 100_000 + "]" * 100_000)
    with pytest.raises(InputError, match=r"deep.json: invalid JSON: nested too deeply"):
        load_inventory(path)


def _bomb(levels: int) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def test_yaml_bomb_is_refused_before_anything_expands_it(tmp_path: Path) -> None:
    """A YAML document whose aliases expand to billions of values is refused."""
    body = "".join(f"  {line}\n" for line in _bomb(10).splitlines())
    path = write(tmp_path, "e.yaml", f"eventType: t\nmetadata:\n{body}")
    with pytest.raises(InputError, match=r"e.yaml: invalid YAML: aliases expand to more than"):
        load_event(path)


def test_self_referencing_yaml_alias_is_refused(tmp_path: Path) -> None:
    """An alias inside its own anchor (a recursive document) is one InputError line."""
    path = write(tmp_path, "e.yaml", "eventType: t\nmetadata: &m {a: *m}\n")
    with pytest.raises(InputError, match=r"e.yaml: invalid YAML: an alias refers to its own"):
        load_event(path)


def test_yaml_anchors_that_stay_small_still_load(tmp_path: Path) -> None:
    """Ordinary anchors and aliases (a shared preserve list) load as before."""
    text = (
        "links:\n"
        "  - {source: a, destination: b, event_type: t, preserve: &keep [q, c]}\n"
        "  - {source: b, destination: c, event_type: u, preserve: *keep}\n"
    )
    plan = load_plan(write(tmp_path, "p.yaml", text))
    assert [link.preserve for link in plan.links] == [["q", "c"], ["q", "c"]]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (
            "links: [{source: a, destination: b, event_type: t, transform: {'': $.metadata.a}}]",
            "p.yaml: links[0].transform: key '': must not be empty",
        ),
        (
            "links: [{source: a, destination: b, event_type: t, preserve: [q, '']}]",
            "p.yaml: links[0].preserve[1]: must not be empty",
        ),
        ("rules: {'': {enabled: true}}", "p.yaml: rules: key '': must not be empty"),
        ("rules: {a: {attributes: ['']}}", "p.yaml: rules.a.attributes[0]: must not be empty"),
    ],
)
def test_empty_names_in_a_plan_are_refused(tmp_path: Path, text: str, where: str) -> None:
    """An empty attribute, transform key or rule id in a plan is one InputError line."""
    with pytest.raises(InputError) as info:
        load_plan(write(tmp_path, "p.yaml", text + "\n"))
    assert str(info.value).endswith(where)


@pytest.mark.parametrize(
    ("name", "text", "where"),
    [
        (
            "p.yaml",
            "links: []\nlinks: []\n",
            "p.yaml: line 2, column 1: invalid YAML: duplicate key 'links'",
        ),
        (
            "p.yaml",
            "links:\n- {source: a, destination: b, event_type: t, transform: {k: x, k: y}}\n",
            "p.yaml: line 2, column 64: invalid YAML: duplicate key 'k'",
        ),
        ("p.json", '{"links": [], "links": []}', "p.json: invalid JSON: duplicate key 'links'"),
    ],
)
def test_a_key_given_twice_is_refused(tmp_path: Path, name: str, text: str, where: str) -> None:
    """A mapping that names a key twice is bad input (the parsers would keep the last)."""
    with pytest.raises(InputError) as info:
        load_plan(write(tmp_path, name, text))
    assert str(info.value).endswith(where)


def test_yaml_merge_keys_may_be_overridden(tmp_path: Path) -> None:
    """A key that overrides one merged in with `<<` is not a duplicate."""
    text = "links:\n- <<: {source: a, destination: b, event_type: t}\n  source: c\n"
    assert load_plan(write(tmp_path, "p.yaml", text)).links[0].source == "c"


def test_a_non_string_key_is_named_as_a_key(tmp_path: Path) -> None:
    """A plan key that is not a string is reported as that key, not as a list index."""
    with pytest.raises(InputError) as info:
        load_plan(write(tmp_path, "p.yaml", "links: []\n1: x\n"))
    assert str(info.value).endswith("p.yaml: key 1: expected a string")
    with pytest.raises(InputError) as info:
        load_plan(write(tmp_path, "q.yaml", "callback: {url: 'https://x.example', 2: y}\n"))
    assert str(info.value).endswith("q.yaml: callback: key 2: expected a string")


def test_a_utf8_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    """JSON and YAML files saved with a UTF-8 BOM (as Windows editors do) load normally."""
    path = tmp_path / "i.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps([RULE]).encode())
    assert [rule.id for rule in load_inventory(path)] == ["a1b2"]
    path = tmp_path / "p.yaml"
    path.write_bytes(b"\xef\xbb\xbfmax_depth: 3\n")
    assert load_plan(path).max_depth == 3


@pytest.mark.parametrize("name", ["p.json", "p.yaml"])
def test_an_empty_plan_file_is_an_empty_plan_in_json_and_yaml(tmp_path: Path, name: str) -> None:
    """An empty .json plan reads like an empty .yaml plan: no links, defaults."""
    plan = load_plan(write(tmp_path, name, ""))
    assert plan.links == [] and plan.max_depth == 5


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("inv.json", '[{"id": "a", "eventType": "t", "version": ' + "9" * 5000 + "}]"),
        ("inv.yaml", "- {id: a, eventType: t, version: " + "9" * 5000 + "}"),
    ],
)
def test_a_huge_integer_in_an_inventory_is_an_input_error(
    tmp_path: Path, name: str, text: str
) -> None:
    """A 5,000-digit version is one InputError (it was a ValueError traceback)."""
    with pytest.raises(InputError, match="an integer of more than 100 digits"):
        load_inventory(write(tmp_path, name, text))


def test_an_event_file_that_is_a_fifo_is_refused(tmp_path: Path) -> None:
    """An event path that is a FIFO is refused at once instead of blocking."""
    import os

    os.mkfifo(tmp_path / "event.json")
    with pytest.raises(InputError, match="is a FIFO"):
        load_event(tmp_path / "event.json")

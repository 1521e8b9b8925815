"""Oracle: the fake org refuses a trigger exactly when `validate` calls it an error.

Triggers are generated over the catalogue's topics (and near misses: a concrete id, a
misspelling), criteria with the topic's field paths and near misses, every operator,
values of every JSON type (enum values in and out of case), and the name/description/
TTL/delay limits, then created on the fake through its REST door (`POST
/api/v2/processautomation/triggers`, no SDK). Accepted iff `trigger_errors` is empty.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

from chainsim.clock import VirtualClock
from chainsim.dialects.catalogue import load_catalogue
from chainsim.dialects.trigger_lint import OPERATORS, trigger_errors
from chainsim.fakebus import DEFAULT_API_HOST, DEFAULT_CLIENT, DEFAULT_LOGIN_HOST, FakeBus
from chainsim.session import strict_triggers

TRIGGERS = "/api/v2/processautomation/triggers"
CATALOGUE = load_catalogue()
TOPICS = sorted(CATALOGUE.names())


@pytest.fixture(scope="module")
def clock() -> VirtualClock:
    """The fake org's clock (moved on between examples so the rate limit never bites)."""
    return VirtualClock()


@pytest.fixture(scope="module")
def door(clock: VirtualClock) -> httpx.Client:
    """An httpx client on one in-process fake org, with a bearer token."""
    fake = FakeBus(clock=clock)
    strict_triggers(fake)  # as the CLI's fakes are
    client = httpx.Client(transport=httpx.MockTransport(fake.handler))
    token = client.post(
        f"{DEFAULT_LOGIN_HOST}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=DEFAULT_CLIENT,
    ).json()["access_token"]
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def _enum_values(topic: str, path: str) -> list[Any]:
    schema = CATALOGUE.field_schema(topic, path) or {}
    return list(schema.get("enum", []))


@st.composite
def values(draw: st.DrawFn, topic: str, path: str) -> Any:
    """A criterion value: an allowed value, its case twin, or any small JSON value."""
    enum = _enum_values(topic, path)
    options: list[st.SearchStrategy[Any]] = [
        st.none(),
        st.booleans(),
        st.integers(-5, 5),
        st.text(max_size=4),
    ]
    if enum:
        options += [st.sampled_from(enum), st.sampled_from(enum).map(str.lower)]
    return draw(st.one_of(*options))


@st.composite
def criteria(draw: st.DrawFn, topic: str) -> dict[str, Any]:
    """One match criterion on `topic`: known or near-miss path, any operator, value/values."""
    paths = sorted(CATALOGUE.field_paths(topic)) or ["mediaType"]
    path = draw(st.sampled_from(paths))
    path = draw(st.sampled_from([path, f"$.{path}", path[:-1] or "x", "attributes.reason"]))
    out: dict[str, Any] = {"jsonPath": path, "operator": draw(st.sampled_from(OPERATORS))}
    shape = draw(st.sampled_from(["value", "values", "both", "list-in-value", "none"]))
    if shape in ("value", "both"):
        out["value"] = draw(values(topic, path))
    if shape in ("values", "both"):
        out["values"] = draw(st.lists(values(topic, path), max_size=3))
    if shape == "list-in-value":
        out["value"] = draw(st.lists(values(topic, path), min_size=0, max_size=3))
    return out


@st.composite
def triggers(draw: st.DrawFn) -> dict[str, Any]:
    """A trigger body as a client might POST it."""
    topic = draw(st.sampled_from(TOPICS))
    written = draw(st.sampled_from([topic, topic, topic.replace("{id}", "1234"), topic + "x"]))
    body: dict[str, Any] = {
        "name": draw(st.sampled_from(["Trigger", "", "n" * 257, "n" * 256])),
        "topicName": written,
        "enabled": draw(st.booleans()),
        "target": {"id": "wf-1", "type": "Workflow"},
        "matchCriteria": draw(st.lists(criteria(topic), max_size=3)),
    }
    if draw(st.booleans()):
        body["description"] = draw(st.sampled_from(["d", "d" * 512, "d" * 513]))
    timing = draw(st.sampled_from(["none", "ttl", "delay", "both"]))
    seconds = st.sampled_from([9, 10, 59, 60, 900, 901, "120", "5"])
    if timing in ("ttl", "both"):
        body["eventTTLSeconds"] = draw(seconds)
    if timing in ("delay", "both"):
        body["delayBySeconds"] = draw(seconds)
    return body


def test_a_lenient_fake_takes_what_lint_refuses(clock: VirtualClock) -> None:
    """The harness's fake (not strict) creates a trigger on a field its topic lacks."""
    from chainsim.fakebus.state import FakeState

    body = {
        "name": "n",
        "topicName": TOPICS[0],
        "enabled": True,
        "target": {"id": "wf-1", "type": "Workflow"},
        "matchCriteria": [{"jsonPath": "noSuchField", "operator": "Exists", "value": True}],
    }
    assert trigger_errors(body, CATALOGUE)
    lenient = FakeBus(clock=clock)
    assert lenient.state.topics.strict is False
    assert isinstance(lenient.state, FakeState)
    assert lenient.state.create_trigger(body)["version"] == 1


@settings(max_examples=300, deadline=None)
@given(trigger=triggers())
def test_the_fake_refuses_exactly_the_lint_errors(
    door: httpx.Client, clock: VirtualClock, trigger: dict
) -> None:
    """Created on the fake iff `trigger_errors` is empty (400 otherwise)."""
    clock.advance(1.0)
    errors = trigger_errors(trigger, CATALOGUE)
    response = door.post(f"{DEFAULT_API_HOST}{TRIGGERS}", json=trigger)
    note(f"lint: {[f.code + ': ' + f.message for f in errors]}")
    note(f"fake: {response.status_code} {response.text[:300]}")
    assert response.status_code in (200, 201, 400)
    assert (response.status_code != 400) == (not errors)
    if errors:  # the fake names the same finding (or its own shape/topic code for it)
        shape = {"invalid.value", "missing.value", "unknown.topic", "topic.id"}
        code = response.json()["details"][0]["errorCode"]
        assert code in {f.code for f in errors} | shape


def test_the_cli_fake_is_strict() -> None:
    """`--bus fake` sessions refuse what validate calls an error (the harness's fake does not)."""
    from chainsim.session import Target, open_session

    with open_session(Target(bus="fake", dialect="triggers")) as session:
        assert session.fake is not None and session.fake.state.topics.strict is True

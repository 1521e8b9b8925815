"""The fake org's registries in plain Python: topic catalogue adapter, workflows, schedules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chainsim.fakebus import FakeBus
from chainsim.fakebus.bus import load_bus, parse_grants
from chainsim.fakebus.errors import FakeError
from chainsim.fakebus.scheduled import check_schedule, parse_scheduled
from chainsim.fakebus.state import FakeState
from chainsim.fakebus.topics import BUILTIN_TOPICS, StubCatalogue, Topics, default_catalogue
from chainsim.fakebus.workflows import Workflows, load_workflows
from chainsim.model import InputError

TOPIC = "v2.detail.events.conversation.{id}.customer.start"
SCHEDULE = {
    "minutes": "5",
    "hours": "1,13",
    "daysOfMonth": "*",
    "months": "1,12",
    "daysOfWeek": "?",
    "timezone": "UTC",
}


def status_of(call: Any) -> int:
    """The status a call ends in (200 on success)."""
    try:
        call()
    except FakeError as err:
        return err.status
    return 200


# --------------------------------------------------------------------------- topics


def test_default_catalogue_is_chainsims_or_the_builtin_stub() -> None:
    """Without chainsim.dialects.catalogue the fake falls back to its builtin topics."""
    catalogue = default_catalogue()
    try:
        import chainsim.dialects.catalogue  # type: ignore[import-not-found,unused-ignore]  # noqa: F401
    except ModuleNotFoundError:
        assert catalogue.names() == sorted(BUILTIN_TOPICS)
    assert TOPIC in catalogue.names()


def test_topics_load_lazily_and_once() -> None:
    """The catalogue is loaded on first use only, then kept."""
    loads: list[int] = []

    def load() -> StubCatalogue:
        loads.append(1)
        return StubCatalogue({TOPIC: {"type": "object"}})

    topics = Topics(load)
    assert loads == []
    assert topics.is_known(TOPIC) and topics.names() == [TOPIC]
    assert loads == [1]


def test_topic_check_tells_unknown_from_concrete_ids() -> None:
    """Unknown names get unknown.topic (with a hint); `{id}` filled in gets topic.id."""
    topics = Topics(lambda: StubCatalogue({TOPIC: {"type": "object"}}))
    topics.check(TOPIC)
    with pytest.raises(FakeError) as concrete:
        topics.check(TOPIC.replace("{id}", "abc"))
    assert concrete.value.violations[0].code == "topic.id"
    with pytest.raises(FakeError) as unknown:
        topics.check("v2.detail.events.conversation.{id}.customer.star")
    assert unknown.value.violations[0].code == "unknown.topic"
    assert f"did you mean {TOPIC}?" in unknown.value.message
    with pytest.raises(FakeError) as far:
        topics.check("zzz")
    assert "did you mean" not in far.value.message
    with pytest.raises(FakeError):
        topics.check(TOPIC + ".extra")


def test_stub_catalogue_validates_with_jsonschema() -> None:
    """Schema errors name the place and the problem; a valid body has none."""
    catalogue = StubCatalogue(
        {
            TOPIC: {
                "type": "object",
                "properties": {
                    "n": {"type": "integer"},
                    "l": {"type": "array", "items": {"enum": ["a"]}},
                },
            }
        }
    )
    assert catalogue.validate_event(TOPIC, {"n": 1, "l": ["a"]}) == []
    errors = catalogue.validate_event(TOPIC, {"n": "x", "l": ["b"]})
    assert any(e.startswith("$.n: ") for e in errors) and any(
        e.startswith("$.l[0]: ") for e in errors
    )
    assert catalogue.validate_event("v2.none", {}) == ["unknown topic v2.none"]


def test_state_refuses_unknown_topics_on_write_but_seeds_as_given() -> None:
    """Create with an unknown topic is 400; seeding keeps what the org already has."""
    state = FakeState(max_depth=5, new_id=lambda: "new")
    body = {
        "name": "n",
        "topicName": "v2.seeded",
        "enabled": True,
        "target": {"type": "Workflow", "id": "wf"},
    }
    state.seed_triggers([{**body, "id": "old"}])
    assert status_of(lambda: state.create_trigger(body)) == 400
    assert "v2.seeded" not in list(state.topic_names())
    assert status_of(lambda: state.create_trigger({**body, "topicName": TOPIC})) == 200


# --------------------------------------------------------------------------- workflows


def test_workflows_file_is_read_and_checked(tmp_path: Path) -> None:
    """A list of {id, name, published}; published defaults to true; mistakes are InputError."""
    good = tmp_path / "wf.json"
    good.write_text(json.dumps([{"id": "a", "name": "A"}, {"id": "b", "published": False}]))
    loaded = load_workflows(good)
    assert [(w.id, w.name, w.published) for w in loaded] == [("a", "A", True), ("b", "", False)]
    for bad in ([{"id": ""}], [{"id": "a", "extra": 1}], {"id": "a"}, [{"id": "a"}, {"id": "a"}]):
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(bad))
        with pytest.raises(InputError):
            load_workflows(path)


def test_closed_and_open_registries() -> None:
    """A closed registry refuses unknown targets and fails unpublished ones; open accepts all."""
    closed = Workflows([{"id": "a"}, {"id": "b", "published": False}])
    assert status_of(lambda: closed.check_target({"id": "zz"})) == 400
    assert status_of(lambda: closed.check_target({"id": "b"})) == 200
    assert closed.target_problems({"type": "Workflow", "id": "a"}) == []
    assert closed.target_problems({"type": "Workflow", "id": "b"}) == [
        "Workflow b is not published"
    ]
    assert closed.target_problems({"type": "Workflow", "id": "zz"}) == [
        "Workflow zz does not exist"
    ]
    assert closed.flow("zz", targeted=True) is None
    opened = Workflows()
    assert status_of(lambda: opened.check_target({"id": "zz"})) == 200
    assert opened.target_problems({"type": "Workflow", "id": "zz"}) == []
    assert opened.target_problems({"type": "Other", "id": "zz"}) != []
    assert opened.flow("zz", targeted=False) is None
    assert opened.flow("zz", targeted=True) == {
        "id": "zz",
        "name": "zz",
        "type": "WORKFLOW",
        "active": True,
        "system": False,
        "deleted": False,
        "selfUri": "/api/v2/flows/zz",
        "publishedVersion": {"id": "1.0", "name": "1.0"},
    }


def test_grants_parse_and_add_up() -> None:
    """`ID=PERM[,PERM]` specs, repeatable; anything else is InputError."""
    assert parse_grants(["a=x:y:z, p:q:r", "a=s:t:u", "b=*"]) == {
        "a": ["x:y:z", "p:q:r", "s:t:u"],
        "b": ["*"],
    }
    for bad in ("a", "=x", "a=", "a= , "):
        with pytest.raises(InputError):
            parse_grants([bad])


def test_load_bus_passes_grants_and_workflows(tmp_path: Path) -> None:
    """load_bus (fake serve's builder) limits granted clients and closes the registry."""
    registry = tmp_path / "wf.json"
    registry.write_text(json.dumps([{"id": "wf-1"}]))
    bus = load_bus(grants=["chainsim=processautomation:trigger:view"], workflows=registry)
    assert bus.workflows() == [{"id": "wf-1", "name": "", "published": True}]
    assert bus.oauth.grants() == {"chainsim": ["processautomation:trigger:view"]}
    assert FakeBus().workflows() == []


# --------------------------------------------------------------------------- schedules


@pytest.mark.parametrize(
    ("field", "value", "ok"),
    [
        ("minutes", "0", True),
        ("minutes", "0,59", True),
        ("minutes", "60", False),
        ("minutes", "*", False),
        ("minutes", "1,2,3", False),
        ("hours", "*", True),
        ("hours", "23", True),
        ("hours", "24", False),
        ("daysOfMonth", "?", True),
        ("daysOfMonth", "31", True),
        ("daysOfMonth", "32", False),
        ("months", "12", True),
        ("months", "?", False),
        ("daysOfWeek", "7", True),
        ("daysOfWeek", "0", False),
        ("daysOfWeek", "x", False),
        ("timezone", "America/New_York", True),
        ("timezone", "Nowhere/Land", False),
        ("timezone", "../etc", False),
    ],
)
def test_schedule_fields_follow_the_sdk_docs(field: str, value: str, ok: bool) -> None:
    """Each TriggerSchedule field accepts its documented range and nothing else."""
    expected = 200 if ok else 400
    assert status_of(lambda: check_schedule({**SCHEDULE, field: value})) == expected


def test_scheduled_bodies_need_their_fields() -> None:
    """A schedule, name, target and enabled are required; update needs a version too."""
    body = {
        "name": "n",
        "enabled": True,
        "target": {"type": "Workflow", "id": "wf"},
        "schedule": SCHEDULE,
    }
    assert parse_scheduled(body, require_version=False)["schedule"] == SCHEDULE
    for missing in ("name", "enabled", "target", "schedule"):
        trimmed = {k: v for k, v in body.items() if k != missing}
        assert status_of(lambda t=trimmed: parse_scheduled(t, require_version=False)) == 400
    assert status_of(lambda: parse_scheduled(body, require_version=True)) == 400
    assert parse_scheduled({**body, "version": "3"}, require_version=True)["version"] == 3
    no_tz = {**body, "schedule": {k: v for k, v in SCHEDULE.items() if k != "timezone"}}
    assert status_of(lambda: parse_scheduled(no_tz, require_version=False)) == 400
    assert status_of(lambda: parse_scheduled([], require_version=False)) == 400

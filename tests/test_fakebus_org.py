"""The fake org as the unmodified SDK sees it: permissions, topics, workflows, criteria,
test mode, scheduled triggers, available topics and flows (issue 11, DESIGN §5).

Every test runs through both doors: the stock SDK (its own urllib3 client) against the
bus on loopback, and the same SDK through chainsim's httpx client on respx.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from chainsim.fakebus import DEFAULT_API_HOST, FakeBus
from chainsim.fakebus.topics import StubCatalogue

TOPIC = "v2.detail.events.conversation.{id}.customer.start"
OTHER = "v2.detail.events.conversation.{id}.acd.start"
SCHEMA = {
    "type": "object",
    "properties": {
        "mediaType": {"type": "string", "enum": ["VOICE", "CHAT", "EMAIL"]},
        "queueId": {"type": "string"},
        "disconnectType": {"type": "string"},
        "count": {"type": "integer"},
    },
}
CATALOGUE = StubCatalogue({TOPIC: SCHEMA, OTHER: {"type": "object"}})
WORKFLOWS = [
    {"id": "wf-1", "name": "Main"},
    {"id": "wf-2"},
    {"id": "wf-draft", "name": "Draft", "published": False},
]
PA = "processautomation:trigger"
GRANTS = {
    "viewer": [f"{PA}:view"],
    "editor": [f"{PA}:edit"],
    "adder": [f"{PA}:add"],
    "deleter": [f"{PA}:delete"],
    "tester": [f"{PA}:test"],
    "wild": [f"{PA}:*"],
    "flows": ["architect:flow:view"],
}
CLIENTS = {"chainsim": "chainsim-secret", **{client: "s" for client in GRANTS}}
GENESYS_KEYS = {"message", "code", "status", "contextId", "details", "errors"}
SCHEDULE = {
    "minutes": "0,30",
    "hours": "*",
    "daysOfMonth": "?",
    "months": "*",
    "daysOfWeek": "1",
    "timezone": "Europe/Paris",
}


def trigger(trigger_id: str, media: str | None, **extra: Any) -> dict[str, Any]:
    """A seeded trigger on TOPIC matching `mediaType == media` (no criteria for None)."""
    criteria = (
        [] if media is None else [{"jsonPath": "mediaType", "operator": "Equal", "value": media}]
    )
    return {
        "id": trigger_id,
        "name": trigger_id,
        "topicName": TOPIC,
        "enabled": True,
        "target": {"type": "Workflow", "id": "wf-1"},
        "matchCriteria": criteria,
        **extra,
    }


SEEDED = [
    trigger("t-voice", "VOICE"),
    trigger("t-chat", "CHAT"),
    trigger("t-off", None, enabled=False),
    trigger("t-draft", None, target={"type": "Workflow", "id": "wf-draft"}),
]
SCHEDULED = [
    {
        "id": f"s-{i}",
        "name": f"Every half hour {i}",
        "enabled": i != 2,
        "target": {"type": "Workflow", "id": "wf-1"},
        "schedule": SCHEDULE,
    }
    for i in range(3)
]


def make_bus(**overrides: Any) -> FakeBus:
    """A fake org with the test catalogue, workflow registry, clients and grants."""
    options: dict[str, Any] = {
        "clients": CLIENTS,
        "grants": GRANTS,
        "catalogue": CATALOGUE,
        "workflows": WORKFLOWS,
        "run_id": "org",
    }
    options.update(overrides)
    bus = FakeBus(**options)
    bus.seed_triggers(SEEDED)
    bus.seed_scheduled(SCHEDULED)
    return bus


@dataclass
class Org:
    """A served fake org and a way to log an SDK `ApiClient` in as one of its clients."""

    bus: FakeBus
    login: Callable[[str], Any]
    sdk: ModuleType

    def pa(self, client: str = "chainsim") -> Any:
        """`ProcessAutomationApi` logged in as `client`."""
        return self.sdk.ProcessAutomationApi(self.login(client))


@pytest.fixture(scope="module")
def sdk() -> ModuleType:
    """The Genesys SDK, imported once for this module."""
    import PureCloudPlatformClientV2

    return PureCloudPlatformClientV2


@contextmanager
def serve_org(sdk: ModuleType, door: str, bus: FakeBus) -> Iterator[Org]:
    """`bus` behind one door, with a login function for the SDK."""
    if door == "loopback":
        with bus.serve() as base:

            def login(client: str) -> Any:
                api_client = sdk.api_client.ApiClient(host=base)
                assert type(api_client.get_http_client()).__name__ == "DefaultHttpClient"
                return api_client.get_client_credentials_token(client, CLIENTS[client])

            yield Org(bus, login, sdk)
        return
    from chainsim.bus.sdk_http import HttpxClient

    with bus.mock(), httpx.Client() as http:

        def login_respx(client: str) -> Any:
            api_client = sdk.api_client.ApiClient(host=DEFAULT_API_HOST)
            api_client.set_http_client(HttpxClient(http))
            return api_client.get_client_credentials_token(client, CLIENTS[client])

        yield Org(bus, login_respx, sdk)


@pytest.fixture(params=["loopback", "respx"])
def org(request: pytest.FixtureRequest, sdk: ModuleType) -> Iterator[Org]:
    """The test org behind the door named by the parameter."""
    with serve_org(sdk, request.param, make_bus()) as served:
        yield served


def refusal(call: Callable[[], Any]) -> tuple[int, dict[str, Any]]:
    """The status and Genesys body of a call the SDK raises `ApiException` for."""
    from PureCloudPlatformClientV2.rest import ApiException

    with pytest.raises(ApiException) as err:
        call()
    body = json.loads(err.value.body)
    assert set(body) >= GENESYS_KEYS, body
    assert body["status"] == err.value.status
    return int(err.value.status), body


def model(sdk: ModuleType, kind: str, /, **fields: Any) -> Any:
    """An SDK model with its attributes set (through the SDK's own setters)."""
    out = getattr(sdk, kind)()
    for key, value in fields.items():
        setattr(out, key, value)
    return out


def target(sdk: ModuleType, workflow: str = "wf-2") -> Any:
    """A `TriggerTarget` to `workflow`."""
    return model(sdk, "TriggerTarget", type="Workflow", id=workflow)


def create_request(sdk: ModuleType, **fields: Any) -> Any:
    """A valid `CreateTriggerRequest` on TOPIC, with `fields` overriding."""
    base = {"name": "Created", "topic_name": TOPIC, "enabled": True, "target": target(sdk)}
    return model(sdk, "CreateTriggerRequest", **{**base, **fields})


def schedule(sdk: ModuleType, **fields: Any) -> Any:
    """A valid `TriggerSchedule`, with `fields` overriding."""
    base = {
        "minutes": "0,30",
        "hours": "*",
        "days_of_month": "?",
        "months": "*",
        "days_of_week": "1",
        "timezone": "Europe/Paris",
    }
    return model(sdk, "TriggerSchedule", **{**base, **fields})


def scheduled_request(sdk: ModuleType, **fields: Any) -> Any:
    """A valid `CreateScheduledTriggerRequest`, with `fields` overriding."""
    base = {"name": "Nightly", "enabled": True, "target": target(sdk), "schedule": schedule(sdk)}
    return model(sdk, "CreateScheduledTriggerRequest", **{**base, **fields})


# --------------------------------------------------------------------------- all methods


def test_every_method_answers_valid_input_with_its_model(org: Org) -> None:
    """All 13 ProcessAutomationApi methods, available topics and get_flow deserialise."""
    sdk, api = org.sdk, org.pa()
    listing = api.get_processautomation_triggers(page_size="2")
    assert isinstance(listing, sdk.TriggerEntityListing) and len(listing.entities) == 2
    assert isinstance(api.get_processautomation_trigger("t-voice"), sdk.Trigger)
    created = api.post_processautomation_triggers(create_request(sdk))
    assert isinstance(created, sdk.Trigger) and created.version == 1
    update = model(
        sdk,
        "UpdateTriggerRequest",
        version=1,
        name="Renamed",
        topic_name=TOPIC,
        enabled=True,
        target=target(sdk),
    )
    assert api.put_processautomation_trigger(created.id, update).version == 2
    tested = api.post_processautomation_trigger_test(
        "t-voice", body=json.dumps({"mediaType": "VOICE"})
    )
    assert isinstance(tested, sdk.TestModeResults) and tested.trigger_matches is True
    by_topic = api.post_processautomation_triggers_topic_test(
        TOPIC, body=json.dumps({"mediaType": "CHAT"})
    )
    assert isinstance(by_topic, sdk.TestModeEventResults)
    topics = api.get_processautomation_triggers_topics()
    assert isinstance(topics, sdk.TopicCursorEntityListing) and topics.entities == sorted(
        [TOPIC, OTHER]
    )
    assert api.delete_processautomation_trigger(created.id) is None

    made = api.post_processautomation_scheduledtriggers(scheduled_request(sdk))
    assert isinstance(made, sdk.ScheduledTrigger) and made.version == 1
    assert isinstance(made.schedule, sdk.TriggerSchedule) and made.schedule.days_of_week == "1"
    assert made.self_uri == f"/api/v2/processautomation/scheduledtriggers/{made.id}"
    page = api.get_processautomation_scheduledtriggers(page_size="10")
    assert isinstance(page, sdk.ScheduledTriggerEntityListing) and made.id in [
        s.id for s in page.entities
    ]
    assert api.get_processautomation_scheduledtrigger(made.id).name == "Nightly"
    change = model(
        sdk,
        "UpdateScheduledTriggerRequest",
        version=1,
        name="Nightly 2",
        enabled=False,
        target=target(sdk),
        schedule=schedule(sdk, hours="3"),
    )
    updated = api.put_processautomation_scheduledtrigger(made.id, change)
    assert (updated.version, updated.enabled, updated.schedule.hours) == (2, False, "3")
    assert api.delete_processautomation_scheduledtrigger(made.id) is None

    available = sdk.NotificationsApi(org.login("chainsim")).get_notifications_availabletopics(
        expand=["schema"]
    )
    assert isinstance(available, sdk.AvailableTopicEntityListing)
    by_id = {t.id: t for t in available.entities}
    assert set(by_id) == {TOPIC, OTHER} and by_id[TOPIC].schema == SCHEMA
    assert by_id[TOPIC].topic_parameters == ["id"]
    flow = sdk.ArchitectApi(org.login("chainsim")).get_flow("wf-1")
    assert isinstance(flow, sdk.Flow) and (flow.name, flow.type) == ("Main", "WORKFLOW")
    assert flow.published_version is not None


def test_every_method_refuses_invalid_input_with_a_genesys_body(org: Org) -> None:
    """Invalid input to each method is an ApiException whose body is Genesys-shaped."""
    sdk, api = org.sdk, org.pa()
    stale = model(
        sdk,
        "UpdateTriggerRequest",
        version=7,
        name="n",
        topic_name=TOPIC,
        enabled=True,
        target=target(sdk, "wf-1"),
    )
    stale_scheduled = model(
        sdk,
        "UpdateScheduledTriggerRequest",
        version=9,
        name="n",
        enabled=True,
        target=target(sdk, "wf-1"),
        schedule=schedule(sdk),
    )
    cases: list[tuple[Callable[[], Any], int]] = [
        (lambda: api.get_processautomation_triggers(page_size="0"), 400),
        (lambda: api.get_processautomation_trigger("nope"), 404),
        (
            lambda: api.post_processautomation_triggers(
                create_request(sdk, topic_name="v2.not.a.topic")
            ),
            400,
        ),
        (lambda: api.put_processautomation_trigger("t-voice", stale), 409),
        (lambda: api.delete_processautomation_trigger("nope"), 404),
        (lambda: api.post_processautomation_trigger_test("nope", body="{}"), 404),
        (lambda: api.post_processautomation_triggers_topic_test("v2.not.a.topic", body="{}"), 400),
        (lambda: api.get_processautomation_triggers_topics(after="%%%"), 400),
        (lambda: api.get_processautomation_scheduledtriggers(after="not-a-cursor!"), 400),
        (lambda: api.get_processautomation_scheduledtrigger("nope"), 404),
        (
            lambda: api.post_processautomation_scheduledtriggers(
                scheduled_request(sdk, schedule=schedule(sdk, minutes="61"))
            ),
            400,
        ),
        (lambda: api.put_processautomation_scheduledtrigger("s-0", stale_scheduled), 409),
        (lambda: api.delete_processautomation_scheduledtrigger("nope"), 404),
        (lambda: sdk.ArchitectApi(org.login("chainsim")).get_flow("wf-nope"), 404),
    ]
    for call, expected in cases:
        status, body = refusal(call)
        assert status == expected, body
    bogus = sdk.api_client.ApiClient(host=org.login("chainsim").host)
    bogus.set_http_client(org.login("chainsim").get_http_client())
    bogus.access_token = "bogus"
    status, body = refusal(lambda: sdk.NotificationsApi(bogus).get_notifications_availabletopics())
    assert status == 401 and body["code"] == "bad.credentials"


# --------------------------------------------------------------------------- permissions

VIEW = (f"{PA}:view", f"{PA}:edit")  # "Requires ANY permissions" in the SDK docs


def _update(s: ModuleType) -> Any:
    return model(
        s,
        "UpdateTriggerRequest",
        version=1,
        name="n",
        topic_name=TOPIC,
        enabled=True,
        target=target(s),
    )


def _update_scheduled(s: ModuleType) -> Any:
    return model(
        s,
        "UpdateScheduledTriggerRequest",
        version=1,
        name="n",
        enabled=True,
        target=target(s),
        schedule=schedule(s),
    )


# (the SDK call, the permissions its docs list: any one admits)
PERMISSION_TABLE: list[tuple[Callable[[Any, ModuleType], Any], tuple[str, ...]]] = [
    (lambda a, s: a.get_processautomation_triggers(), VIEW),
    (lambda a, s: a.get_processautomation_trigger("t-voice"), VIEW),
    (lambda a, s: a.get_processautomation_triggers_topics(), VIEW),
    (lambda a, s: a.post_processautomation_triggers(create_request(s)), (f"{PA}:add",)),
    (lambda a, s: a.put_processautomation_trigger("nope", _update(s)), (f"{PA}:edit",)),
    (lambda a, s: a.delete_processautomation_trigger("nope"), (f"{PA}:delete",)),
    (lambda a, s: a.post_processautomation_trigger_test("t-voice", body="{}"), (f"{PA}:test",)),
    (
        lambda a, s: a.post_processautomation_triggers_topic_test(TOPIC, body="{}"),
        (f"{PA}:test",),
    ),
    (lambda a, s: a.get_processautomation_scheduledtriggers(), VIEW),
    (lambda a, s: a.get_processautomation_scheduledtrigger("s-0"), VIEW),
    (
        lambda a, s: a.post_processautomation_scheduledtriggers(scheduled_request(s)),
        (f"{PA}:add",),
    ),
    (
        lambda a, s: a.put_processautomation_scheduledtrigger("nope", _update_scheduled(s)),
        (f"{PA}:edit",),
    ),
    (lambda a, s: a.delete_processautomation_scheduledtrigger("nope"), (f"{PA}:delete",)),
]


def test_permissions_follow_the_sdk_docs_per_endpoint(org: Org) -> None:
    """Each of the 13 methods admits exactly the clients holding a documented permission."""
    from PureCloudPlatformClientV2.rest import ApiException

    apis = {client: org.pa(client) for client in CLIENTS}
    assert len(PERMISSION_TABLE) == 13
    for index, (call, required) in enumerate(PERMISSION_TABLE):
        admitted = {c for c, granted in GRANTS.items() if set(granted) & set(required)}
        admitted |= {"chainsim", "wild"}  # no grant: every permission; wildcard grant
        for client, api in apis.items():
            body: dict[str, Any] = {}
            try:
                call(api, org.sdk)
                status = 200
            except ApiException as exc:
                status, body = int(exc.status), json.loads(exc.body)
            assert (status != 403) is (client in admitted), (index, client, status, body)
            if status == 403:
                assert set(body) >= GENESYS_KEYS
                assert "[" + ", ".join(required) + "]" in body["message"], (index, body)


def test_403_bodies_name_the_missing_permissions_as_genesys_does(org: Org) -> None:
    """One permission: missing.permissions; several (ANY): missing.any.permissions."""
    viewer = org.pa("viewer")
    status, body = refusal(lambda: viewer.delete_processautomation_trigger("t-voice"))
    assert (status, body["code"]) == (403, "missing.permissions")
    assert body["message"] == (
        "Unable to perform the requested action. You are missing the following"
        f" permission(s): [{PA}:delete]"
    )
    tester = org.pa("tester")
    status, body = refusal(lambda: tester.get_processautomation_trigger("t-voice"))
    assert (status, body["code"]) == (403, "missing.any.permissions")
    assert body["message"] == (
        "Unable to perform the requested action. You must have at least one of the"
        f" following permissions assigned: [{PA}:view, {PA}:edit]"
    )
    assert [t["id"] for t in org.bus.triggers()] == ["t-chat", "t-draft", "t-off", "t-voice"]


def test_flows_and_available_topics_permissions(org: Org) -> None:
    """get_flow needs architect:flow:view; available topics need no permission at all."""
    sdk = org.sdk
    status, body = refusal(lambda: sdk.ArchitectApi(org.login("viewer")).get_flow("wf-1"))
    assert (status, body["code"]) == (403, "missing.permissions")
    assert sdk.ArchitectApi(org.login("flows")).get_flow("wf-1").id == "wf-1"
    listing = sdk.NotificationsApi(org.login("tester")).get_notifications_availabletopics()
    assert all(t.schema is None for t in listing.entities), "schemas only with expand=schema"


# --------------------------------------------------------------------------- topics


def test_unknown_topics_and_concrete_ids_are_refused(org: Org) -> None:
    """Create with a topic outside the catalogue, or with an id in place of {id}, is 400."""
    sdk, api = org.sdk, org.pa()
    status, body = refusal(
        lambda: api.post_processautomation_triggers(
            create_request(sdk, topic_name="v2.not.a.topic")
        )
    )
    assert status == 400 and body["details"][0]["errorCode"] == "unknown.topic"
    near = TOPIC.replace("start", "strat")
    _, body = refusal(
        lambda: api.post_processautomation_triggers(create_request(sdk, topic_name=near))
    )
    assert f"did you mean {TOPIC}" in body["message"]
    concrete = TOPIC.replace("{id}", "5b1f0b5e-6c4a-4a51-a4b3-3c1c1c1c1c1c")
    status, body = refusal(
        lambda: api.post_processautomation_triggers(create_request(sdk, topic_name=concrete))
    )
    assert status == 400 and body["details"][0]["errorCode"] == "topic.id"
    assert TOPIC in body["message"]
    assert TOPIC in [t["topicName"] for t in org.bus.triggers()]
    assert len(org.bus.triggers()) == len(SEEDED), "nothing was stored"


def test_topics_page_through_the_catalogue_only(sdk: ModuleType) -> None:
    """GET /triggers/topics lists catalogue topics in pages; a topic in use is not added."""
    bus = make_bus()
    bus.seed_triggers([{**trigger("t-odd", None), "topicName": "v2.seeded.elsewhere"}])
    with serve_org(sdk, "respx", bus) as org:
        api = org.pa()
        first = api.get_processautomation_triggers_topics(page_size="1")
        assert first.entities == [OTHER] and first.next_uri
        after = httpx.URL(first.next_uri).params["after"]
        second = api.get_processautomation_triggers_topics(page_size="1", after=after)
        assert second.entities == [TOPIC] and not second.next_uri


# --------------------------------------------------------------------------- workflows


def test_workflow_registry_checks_writes_and_test_mode(org: Org) -> None:
    """Unknown workflows are 400 on write; unpublished or unknown fail targetValidation."""
    sdk, api = org.sdk, org.pa()
    status, body = refusal(
        lambda: api.post_processautomation_triggers(
            create_request(sdk, target=target(sdk, "wf-nope"))
        )
    )
    assert status == 400 and "wf-nope" in body["message"]
    status, _ = refusal(
        lambda: api.post_processautomation_scheduledtriggers(
            scheduled_request(sdk, target=target(sdk, "wf-nope"))
        )
    )
    assert status == 400
    draft = api.post_processautomation_trigger_test("t-draft", body="{}")
    assert draft.target_validation.matches is False and draft.trigger_matches is False
    assert draft.target_validation.details == ["Workflow wf-draft is not published"]
    voice = api.post_processautomation_trigger_test(
        "t-voice", body=json.dumps({"mediaType": "VOICE"})
    )
    assert voice.target_validation.matches is True
    flow = sdk.ArchitectApi(org.login("chainsim")).get_flow("wf-draft")
    assert flow.published_version is None


def test_without_a_registry_every_targeted_workflow_exists(sdk: ModuleType) -> None:
    """No registry: any target is accepted and passes; targeted workflows answer get_flow."""
    bus = make_bus(workflows=None)
    with serve_org(sdk, "respx", bus) as org:
        api = org.pa()
        created = api.post_processautomation_triggers(
            create_request(sdk, target=target(sdk, "wf-any"))
        )
        tested = api.post_processautomation_trigger_test(created.id, body="{}")
        assert tested.target_validation.matches is True
        architect = sdk.ArchitectApi(org.login("chainsim"))
        assert architect.get_flow("wf-draft").published_version is not None
        assert architect.get_flow("wf-any").id == "wf-any"
        status, _ = refusal(lambda: architect.get_flow("wf-untargeted"))
        assert status == 404


# --------------------------------------------------------------------------- criteria


def test_match_criteria_rules_follow_the_sdk_docs(org: Org) -> None:
    """value xor values (400 on both); In with its list in value; numeric strings as ints."""
    sdk, api = org.sdk, org.pa()
    both = model(
        sdk, "MatchCriteria", json_path="mediaType", operator="In", value="VOICE", values=["VOICE"]
    )
    status, body = refusal(
        lambda: api.post_processautomation_triggers(create_request(sdk, match_criteria=[both]))
    )
    assert status == 400 and "only one of value and values" in body["message"]
    listed = model(
        sdk, "MatchCriteria", json_path="disconnectType", operator="In", value=["ERROR", "TRANSFER"]
    )
    created = api.post_processautomation_triggers(create_request(sdk, match_criteria=[listed]))
    assert created.match_criteria[0].value == ["ERROR", "TRANSFER"]
    hit = api.post_processautomation_trigger_test(
        created.id, body=json.dumps({"disconnectType": "ERROR"})
    )
    miss = api.post_processautomation_trigger_test(
        created.id, body=json.dumps({"disconnectType": "PEER"})
    )
    assert (hit.trigger_matches, miss.trigger_matches) == (True, False)
    not_in = model(
        sdk, "MatchCriteria", json_path="disconnectType", operator="NotIn", value=["ERROR"]
    )
    other = api.post_processautomation_triggers(create_request(sdk, match_criteria=[not_in]))
    peer = api.post_processautomation_trigger_test(
        other.id, body=json.dumps({"disconnectType": "PEER"})
    )
    assert peer.trigger_matches is True
    ttl = api.post_processautomation_triggers(create_request(sdk, event_ttl_seconds="120"))
    assert ttl.event_ttl_seconds == 120
    status, _ = refusal(
        lambda: api.post_processautomation_triggers(create_request(sdk, event_ttl_seconds="12x"))
    )
    assert status == 400


# --------------------------------------------------------------------------- test mode


def test_schema_validation_fails_a_body_that_breaks_the_topic_schema(org: Org) -> None:
    """A body breaking the topic's schema fails schemaValidation with details; nothing matches."""
    api = org.pa()
    bad = json.dumps({"mediaType": "FAX", "count": "three"})
    tested = api.post_processautomation_trigger_test("t-voice", body=bad)
    assert tested.schema_validation.matches is False and tested.trigger_matches is False
    details = " | ".join(tested.schema_validation.details)
    assert "$.mediaType" in details and "'FAX' is not one of" in details and "$.count" in details
    by_topic = api.post_processautomation_triggers_topic_test(TOPIC, body=bad)
    assert by_topic.schema_validation.matches is False
    assert by_topic.trigger_match_validation.matched_triggers == []


def test_topic_test_skips_disabled_triggers(org: Org) -> None:
    """The topic test lists enabled triggers only, matched or not."""
    api = org.pa()
    result = api.post_processautomation_triggers_topic_test(
        TOPIC, body=json.dumps({"mediaType": "CHAT"})
    )
    validation = result.trigger_match_validation
    assert sorted(t.id for t in validation.matched_triggers) == ["t-chat", "t-draft"]
    assert [t.id for t in validation.unmatched_triggers] == ["t-voice"]
    assert result.schema_validation.matches is True


# --------------------------------------------------------------------------- scheduled


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("minutes", "61"),
        ("minutes", "1,2,3"),
        ("hours", "24"),
        ("hours", "?"),
        ("days_of_month", "0"),
        ("months", "13"),
        ("days_of_week", "8"),
        ("timezone", "Mars/Olympus_Mons"),
    ],
)
def test_malformed_schedules_are_400(org: Org, field: str, value: str) -> None:
    """Each schedule field outside its documented range is refused, naming the field."""
    sdk, api = org.sdk, org.pa()
    bad = scheduled_request(sdk, schedule=schedule(sdk, **{field: value}))
    status, body = refusal(lambda: api.post_processautomation_scheduledtriggers(bad))
    assert status == 400 and body["details"][0]["fieldName"].startswith("schedule.")


def test_scheduled_triggers_page_filter_and_version(org: Org) -> None:
    """Cursor pages walk every scheduled trigger; enabled filters; a stale PUT is 409."""
    sdk, api = org.sdk, org.pa()
    first = api.get_processautomation_scheduledtriggers(page_size="2")
    assert [s.id for s in first.entities] == ["s-0", "s-1"] and first.next_uri
    after = httpx.URL(first.next_uri).params["after"]
    second = api.get_processautomation_scheduledtriggers(page_size="2", after=after)
    assert [s.id for s in second.entities] == ["s-2"] and not second.next_uri
    assert second.previous_uri
    stored = org.bus.scheduled()
    assert [s["id"] for s in stored] == ["s-0", "s-1", "s-2"]
    assert stored[0]["selfUri"] == "/api/v2/processautomation/scheduledtriggers/s-0"
    off = api.get_processautomation_scheduledtriggers(enabled=False)
    assert [s.id for s in off.entities] == ["s-2"]
    change = model(
        sdk,
        "UpdateScheduledTriggerRequest",
        version=1,
        name="Renamed",
        enabled=True,
        target=target(sdk, "wf-1"),
        schedule=schedule(sdk),
    )
    assert api.put_processautomation_scheduledtrigger("s-0", change).version == 2
    status, body = refusal(lambda: api.put_processautomation_scheduledtrigger("s-0", change))
    assert status == 409 and "does not match the current version" in body["message"]
    missing = model(
        sdk,
        "UpdateScheduledTriggerRequest",
        name="n",
        enabled=True,
        target=target(sdk),
        schedule=schedule(sdk),
    )
    status, _ = refusal(lambda: api.put_processautomation_scheduledtrigger("s-0", missing))
    assert status == 400


# --------------------------------------------------------------------------- fake serve


def test_fake_serve_takes_grants_and_a_workflow_registry(tmp_path: Path) -> None:
    """`fake serve --grant --workflows` limits a client and checks targets on write."""
    from tests.test_fakebus_sdk import free_port

    registry = tmp_path / "workflows.json"
    registry.write_text(json.dumps([{"id": "wf-1"}]))
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chainsim.cli",
            "fake",
            "serve",
            "--port",
            str(port),
            "--client",
            "chainsim:chainsim-secret",
            "--client",
            "viewer:s",
            "--grant",
            "viewer=processautomation:trigger:view",
            "--workflows",
            str(registry),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        line = proc.stdout.readline().strip() if proc.stdout else ""
        assert line == f"listening on http://127.0.0.1:{port}"
        base = f"http://127.0.0.1:{port}"

        def bearer(client: str, secret: str) -> dict[str, str]:
            token = httpx.post(
                f"{base}/oauth/token",
                auth=(client, secret),
                data={"grant_type": "client_credentials"},
            ).json()["access_token"]
            return {"Authorization": f"Bearer {token}"}

        body = {
            "name": "n",
            "topicName": TOPIC,
            "enabled": True,
            "target": {"type": "Workflow", "id": "wf-9"},
        }
        url = f"{base}/api/v2/processautomation/triggers"
        refused = httpx.post(url, json=body, headers=bearer("viewer", "s"))
        assert refused.status_code == 403 and refused.json()["code"] == "missing.permissions"
        assert httpx.get(url, headers=bearer("viewer", "s")).status_code == 200
        unknown = httpx.post(url, json=body, headers=bearer("chainsim", "chainsim-secret"))
        assert unknown.status_code == 400 and "wf-9" in unknown.json()["message"]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--grant", "viewer"], "--grant"),
        (["--workflows", "WF"], "WF"),
    ],
)
def test_fake_serve_refuses_bad_grants_and_registries(
    tmp_path: Path, args: list[str], needle: str
) -> None:
    """A malformed --grant or workflows file exits 2 with one line naming it."""
    registry = tmp_path / "wf.json"
    registry.write_text(json.dumps([{"id": "wf-1", "published": "yes"}]))
    args = [str(registry) if a == "WF" else a for a in args]
    needle = str(registry) if needle == "WF" else needle
    result = subprocess.run(
        [sys.executable, "-m", "chainsim.cli", "fake", "serve", "--port", "0", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and needle in result.stderr

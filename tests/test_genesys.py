"""The triggers dialect: trigger <-> Rule mapping, desired state, hosts, TriggersBus on respx."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx
from hypothesis import given
from hypothesis import strategies as st

from chainsim.bus.auth import live_hosts
from chainsim.bus.base import (
    BadRequest,
    Conflict,
    RateLimited,
    ServerError,
    TransportError,
    Unauthorized,
)
from chainsim.bus.genesys import SdkCredentials, TriggersBus, next_cursor
from chainsim.clock import VirtualClock
from chainsim.dialects.triggers import (
    TriggersMerger,
    desired_trigger,
    exists_attributes,
    merge_exists,
    request_body,
    rule_to_trigger,
    trigger_to_rule,
    validation_attributes,
)
from chainsim.fakebus import DEFAULT_CLIENT as FAKE_CLIENT
from chainsim.fakebus.triggers import OPERATORS
from chainsim.model import ChainPlan, InputError, Rule
from chainsim.plan import compute_changes

sdk = pytest.importorskip("PureCloudPlatformClientV2")

API = "https://api.mypurecloud.com"
LOGIN = "https://login.mypurecloud.com"
TRIGGERS = f"{API}/api/v2/processautomation/triggers"


def trigger(tid: str = "t1", **over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": tid,
        "name": f"name-{tid}",
        "topicName": "v2.detail.events.conversation.{id}.acd.start",
        "version": 1,
        "enabled": True,
        "target": {
            "type": "Workflow",
            "id": "wf-1",
            "workflowTargetSettings": {"dataFormat": "Json"},
        },
        "matchCriteria": [
            {"jsonPath": "$.queueId", "operator": "Exists", "value": True},
            {"jsonPath": "mediaType", "operator": "Equal", "value": "VOICE"},
        ],
        "eventTTLSeconds": 60,
        "description": "kept",
    }
    base.update(over)
    return base


# --------------------------------------------------------------------------- strategies

json_scalars = st.one_of(
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.text(max_size=8),
    st.floats(allow_nan=False, allow_infinity=False),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
paths = st.one_of(
    st.from_regex(r"[a-zA-Z][a-zA-Z0-9_]{0,10}", fullmatch=True),
    st.from_regex(r"\$\.[a-zA-Z][a-zA-Z0-9_.]{0,10}", fullmatch=True),
)


@st.composite
def criteria(draw: st.DrawFn) -> dict[str, Any]:
    out: dict[str, Any] = {"jsonPath": draw(paths), "operator": draw(st.sampled_from(OPERATORS))}
    if draw(st.booleans()):
        out["value"] = draw(json_values)
    if draw(st.booleans()):
        out["values"] = draw(st.lists(json_values, max_size=3))
    return out


@st.composite
def triggers(draw: st.DrawFn) -> dict[str, Any]:
    """Triggers as the SDK returns them (None-valued fields left out, as it serialises)."""
    out: dict[str, Any] = {
        "id": draw(st.uuids()).hex,
        "name": draw(st.text(min_size=1, max_size=40)),
        "topicName": draw(
            st.sampled_from(["v2.users.{id}.activity", "v2.detail.events.conversation.{id}.acw"])
        ),
        "version": draw(st.integers(1, 10_000)),
        "enabled": draw(st.booleans()),
        "target": {"type": "Workflow", "id": draw(st.uuids()).hex},
    }
    if draw(st.booleans()):
        out["target"]["workflowTargetSettings"] = {
            "dataFormat": draw(st.sampled_from(["Json", "TopLevelPrimitives"]))
        }
    if draw(st.booleans()):
        out["matchCriteria"] = draw(st.lists(criteria(), max_size=6))
    timing = draw(st.sampled_from(["none", "ttl", "delay"]))
    if timing == "ttl":
        out["eventTTLSeconds"] = draw(st.integers(10, 86_400))
    elif timing == "delay":
        out["delayBySeconds"] = draw(st.integers(60, 900))
    if draw(st.booleans()):
        out["description"] = draw(st.text(max_size=60))
    if draw(st.booleans()):
        out["selfUri"] = f"/api/v2/processautomation/triggers/{out['id']}"
    return out


# --------------------------------------------------------------------------- mapping


def test_trigger_maps_to_rule():
    """topicName becomes eventType, Exists criteria become attributes, the rest rides along."""
    rule = trigger_to_rule(trigger())
    assert rule.event_type == "v2.detail.events.conversation.{id}.acd.start"
    assert rule.attributes == ["queueId"]
    assert (rule.id, rule.name, rule.version, rule.enabled, rule.description) == (
        "t1",
        "name-t1",
        1,
        True,
        "kept",
    )
    assert rule.model_extra["target"]["id"] == "wf-1"
    assert rule.model_extra["eventTTLSeconds"] == 60
    assert rule.actions == []


@given(triggers())
def test_round_trip_keeps_every_field(wire):
    """Property: trigger -> Rule -> trigger is the identity, field for field."""
    assert rule_to_trigger(trigger_to_rule(wire)) == wire


@given(triggers())
def test_round_trip_through_sdk_models_keeps_every_field(sdk_api_client, wire):
    """Property: SDK Trigger -> Rule -> UpdateTriggerRequest keeps every writable field."""
    model = sdk_api_client.deserialize(_Doc(wire), "Trigger")
    rule = trigger_to_rule(sdk_api_client.sanitize_for_serialization(model))
    body = sdk_api_client.deserialize(_Doc(request_body(rule)), "UpdateTriggerRequest")
    sent = sdk_api_client.sanitize_for_serialization(body)
    expected = {k: v for k, v in wire.items() if k not in {"id", "selfUri"}}
    if "matchCriteria" in expected:
        # the SDK keeps no None-valued criterion fields; our strategy never makes them
        assert sent["matchCriteria"] == expected["matchCriteria"]
    assert sent == expected


def test_exists_false_is_not_an_attribute():
    """An Exists criterion with value false (must be absent) is not a carried attribute."""
    crit = [
        {"jsonPath": "a", "operator": "Exists", "value": False},
        {"jsonPath": "$.b", "operator": "exists"},
        {"jsonPath": "b", "operator": "Exists", "value": True},
    ]
    assert exists_attributes(crit) == ["b"]


def test_merge_exists_adds_once_and_keeps_others():
    """New attributes append one Exists each; existing ones (any path form) and others stay."""
    crit = [
        {"jsonPath": "$.queueId", "operator": "Exists", "value": True},
        {"jsonPath": "mediaType", "operator": "Equal", "value": "VOICE"},
    ]
    merged = merge_exists(crit, ["queueId", "callerId", "callerId"])
    assert merged == [*crit, {"jsonPath": "callerId", "operator": "Exists", "value": True}]
    assert merge_exists(merged, ["queueId", "callerId"]) == merged


def test_removed_attribute_drops_only_its_exists():
    """Dropping an attribute from the Rule removes its Exists criterion and nothing else."""
    rule = trigger_to_rule(trigger())
    rule.filters.attributes = []
    assert rule_to_trigger(rule)["matchCriteria"] == [
        {"jsonPath": "mediaType", "operator": "Equal", "value": "VOICE"}
    ]


def test_actions_are_refused():
    """A Rule with invokeRule actions cannot become a trigger (links live in workflows)."""
    rule = Rule.model_validate(
        {"id": "a", "eventType": "x", "actions": [{"type": "invokeRule", "ruleId": "b"}]}
    )
    with pytest.raises(BadRequest, match="no actions"):
        rule_to_trigger(rule)


def test_update_body_has_every_required_field():
    """The update body carries version, enabled, target, name and topicName, and no id."""
    body = request_body(trigger_to_rule(trigger()))
    assert {"version", "enabled", "target", "name", "topicName"} <= body.keys()
    assert "id" not in body and "selfUri" not in body


def test_next_cursor_reads_after():
    """The next page's cursor is the `after` parameter of nextUri."""
    assert next_cursor("/api/v2/processautomation/triggers?pageSize=2&after=abc%3D") == "abc="
    assert next_cursor(None) is None


# --------------------------------------------------------------------------- desired state

PLAN = ChainPlan.model_validate(
    {
        "links": [
            {
                "source": "t1",
                "destination": "t2",
                "event_type": "v2.detail.events.conversation.{id}.acd.start",
                "preserve": ["queueId", "callerId"],
            },
            {
                "source": "t1",
                "destination": "t3",
                "event_type": "v2.detail.events.conversation.{id}.acd.start",
                "preserve": ["queueId"],
            },
        ],
        "rules": {
            "t2": {"enabled": False, "workflow": "wf-9", "data_format": "TopLevelPrimitives"},
            "t4": {"attributes": ["conversationId"]},
        },
    }
)


def test_desired_trigger_applies_settings_and_preserved_attributes():
    """Plan settings set enabled and the target; preserved attributes merge as Exists."""
    current = trigger_to_rule(trigger("t2"))
    desired = desired_trigger(current, PLAN)
    wire = rule_to_trigger(desired)
    assert wire["enabled"] is False
    assert wire["target"] == {
        "type": "Workflow",
        "id": "wf-9",
        "workflowTargetSettings": {"dataFormat": "TopLevelPrimitives"},
    }
    assert wire["matchCriteria"] == [
        {"jsonPath": "$.queueId", "operator": "Exists", "value": True},
        {"jsonPath": "mediaType", "operator": "Equal", "value": "VOICE"},
        {"jsonPath": "callerId", "operator": "Exists", "value": True},
    ]
    assert (wire["topicName"], wire["eventTTLSeconds"], wire["description"]) == (
        trigger()["topicName"],
        60,
        "kept",
    )
    assert desired_trigger(desired, PLAN) == desired


def test_merger_plans_triggers_not_sources():
    """The triggers Merger writes destinations and rules with settings, never link sources."""
    rules = [trigger_to_rule(trigger(t)) for t in ("t1", "t2", "t3", "t4")]
    changes = compute_changes(rules, PLAN, TriggersMerger())
    kinds = {c.rule_id: c.kind for c in changes.changes}
    assert kinds == {"t2": "update", "t4": "no-op", "t3": "no-op"}
    t2 = next(c for c in changes.changes if c.rule_id == "t2")
    assert t2.fields == ["enabled", "filters", "target"]


def test_validation_attributes_include_every_criterion_path():
    """A trigger carries what any criterion reads plus what the plan declares."""
    rules = [trigger_to_rule(trigger(t)) for t in ("t1", "t4")]
    attrs = validation_attributes(PLAN, rules)
    assert attrs["t1"][:2] == ["queueId", "mediaType"]
    assert attrs["t4"][:3] == ["queueId", "mediaType", "conversationId"]


def test_a_trigger_carries_its_topics_schema_fields():
    """DESIGN §4: a trigger's carried attributes include its topic's event fields."""
    from chainsim.model import ChainPlan
    from chainsim.validate import validate_plan

    end = trigger_to_rule(
        {"id": "end", "name": "End", "enabled": True, "version": 1,
         "topicName": "v2.detail.events.conversation.{id}.customer.end",
         "target": {"type": "Workflow", "id": "wf"}, "matchCriteria": []}
    )  # fmt: skip
    start = trigger_to_rule(
        {"id": "start", "name": "Start", "enabled": True, "version": 1,
         "topicName": "v2.detail.events.conversation.{id}.acd.start",
         "target": {"type": "Workflow", "id": "wf"}, "matchCriteria": []}
    )  # fmt: skip
    carried = validation_attributes(ChainPlan.model_validate({"links": []}), [end])["end"]
    assert {"conversationId", "disconnectType", "mediaType"} <= set(carried)
    assert "queueId" not in carried  # customer.end events have no queueId
    link = {"source": "end", "destination": "start",
            "event_type": end.event_type}  # fmt: skip
    for attribute, codes in (("conversationId", []), ("queueId", ["unverified_attribute"])):
        plan = ChainPlan.model_validate({"links": [{**link, "preserve": [attribute]}]})
        report = validate_plan(
            plan, [end, start], dialect="triggers",
            declared_attributes=validation_attributes(plan, [end, start]),
        )  # fmt: skip
        assert report.codes() == codes


# --------------------------------------------------------------------------- hosts


@pytest.mark.parametrize(
    ("env", "api"),
    [
        ("mypurecloud.com", "https://api.mypurecloud.com"),
        ("us_west_2", "https://api.usw2.pure.cloud"),
        ("us-west-2", "https://api.usw2.pure.cloud"),
        ("usw2.pure.cloud", "https://api.usw2.pure.cloud"),
        ("api.mypurecloud.ie", "https://api.mypurecloud.ie"),
        ("https://api.mypurecloud.de/", "https://api.mypurecloud.de"),
    ],
)
def test_env_names_a_region(env, api):
    """--env takes a PureCloudRegionHosts name or a region's host."""
    assert live_hosts(env) == (api, api.replace("//api.", "//login."))


def test_unknown_region_name_is_bad_input():
    """An unknown region name is an InputError listing the known ones."""
    with pytest.raises(InputError, match="us_west_2"):
        live_hosts("nowhere")


def test_live_hosts_derive_login_like_the_sdk():
    """A lone --api-host keeps the token on that host; an explicit --login-host wins."""
    assert live_hosts("nowhere", "http://127.0.0.1:5") == (
        "http://127.0.0.1:5",
        "http://127.0.0.1:5",
    )
    assert live_hosts(None, "https://api.x.test/") == ("https://api.x.test", "https://login.x.test")
    assert live_hosts(None, "http://127.0.0.1:5", "http://127.0.0.1:6/") == (
        "http://127.0.0.1:5",
        "http://127.0.0.1:6",
    )


# --------------------------------------------------------------------------- the bus on respx


class _Doc:
    def __init__(self, document: Any) -> None:
        self.data = json.dumps(document)

    def getheader(self, name: str, default: Any = None) -> Any:
        return "application/json"


@pytest.fixture(scope="module")
def sdk_api_client():
    return sdk.ApiClient(host=API)


class Org:
    """A few hand-written respx routes standing in for the org (the full fake is elsewhere)."""

    def __init__(self, router: respx.Router, count: int = 0, ttl: int = 3600) -> None:
        self.router = router
        self.ttl = ttl
        self.tokens = 0
        self.store = {f"t{i:03d}": trigger(f"t{i:03d}") for i in range(count)}
        router.post(f"{LOGIN}/oauth/token").mock(side_effect=self.token)
        router.get(TRIGGERS).mock(side_effect=self.listing)
        router.route(method="PUT", url__regex=rf"{TRIGGERS}/(?P<tid>[^/]+)$").mock(
            side_effect=self.put
        )
        router.route(method="GET", url__regex=rf"{TRIGGERS}/(?P<tid>[^/]+)$").mock(
            side_effect=self.get
        )

    def token(self, request: httpx.Request) -> httpx.Response:
        self.tokens += 1
        return httpx.Response(
            200, json={"access_token": f"tok{self.tokens}", "expires_in": self.ttl}
        )

    def authorised(self, request: httpx.Request) -> bool:
        return request.headers.get("authorization") == f"Bearer tok{self.tokens}"

    def listing(self, request: httpx.Request) -> httpx.Response:
        if not self.authorised(request):
            return httpx.Response(401, json={"message": "expired", "code": "bad.credentials"})
        size = int(request.url.params.get("pageSize", "25"))
        after = request.url.params.get("after")
        ids = sorted(self.store)
        start = ids.index(after) + 1 if after else 0
        page = ids[start : start + size]
        more = start + size < len(ids)
        next_uri = (
            f"/api/v2/processautomation/triggers?pageSize={size}&after={page[-1]}" if more else None
        )
        return httpx.Response(
            200, json={"entities": [self.store[i] for i in page], "nextUri": next_uri}
        )

    def get(self, request: httpx.Request, tid: str) -> httpx.Response:
        if not self.authorised(request):
            return httpx.Response(401, json={"message": "expired", "code": "bad.credentials"})
        if tid not in self.store:
            return httpx.Response(
                404, json={"message": "no", "code": "not.found", "contextId": "c-404"}
            )
        return httpx.Response(200, json=self.store[tid])

    def put(self, request: httpx.Request, tid: str) -> httpx.Response:
        if not self.authorised(request):
            return httpx.Response(401, json={"message": "expired", "code": "bad.credentials"})
        body = json.loads(request.content)
        stored = self.store[tid]
        if body["version"] != stored["version"]:
            return httpx.Response(
                409,
                json={
                    "message": "version 1 does not match the current version",
                    "code": "conflict",
                },
            )
        self.store[tid] = {**body, "id": tid, "version": stored["version"] + 1}
        return httpx.Response(200, json=self.store[tid])


@pytest.fixture
def router() -> Iterator[respx.Router]:
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as mock:
        yield mock


def make_bus(clock: VirtualClock, page_size: int = 200, seen: list | None = None) -> TriggersBus:
    credentials = SdkCredentials("client", "s3cret-value", clock=clock)
    return TriggersBus(
        httpx.Client(),
        credentials,
        clock=clock,
        page_size=page_size,
        on_exchange=seen.append if seen is not None else None,
    )


def test_listing_follows_next_uri_across_many_pages(router):
    """list_rules follows every nextUri cursor: 57 triggers in pages of 5 arrive once each."""
    org = Org(router, count=57)
    seen: list = []
    bus = make_bus(VirtualClock(), page_size=5, seen=seen)
    ids = [r.id for r in bus.list_rules()]
    assert ids == sorted(org.store)
    assert sum(1 for e in seen if e.path.endswith("/triggers")) == 12
    assert org.tokens == 1


def test_put_sends_update_request_and_returns_new_version(router):
    """put_rule sends an UpdateTriggerRequest and returns the stored trigger, version bumped."""
    org = Org(router, count=1)
    bus = make_bus(VirtualClock())
    rule = desired_trigger(
        bus.get_rule("t000"), ChainPlan.model_validate({"rules": {"t000": {"enabled": False}}})
    )
    stored = bus.put_rule(rule)
    assert stored.version == 2 and stored.enabled is False
    assert org.store["t000"]["eventTTLSeconds"] == 60 and org.store["t000"]["description"] == "kept"


def test_stale_version_is_conflict(router):
    """A stale version is a Conflict carrying the org's message."""
    Org(router, count=1)
    bus = make_bus(VirtualClock())
    rule = bus.get_rule("t000").model_copy(update={"version": 7})
    with pytest.raises(Conflict, match="does not match the current version"):
        bus.put_rule(rule)


def test_token_is_reacquired_before_expiry(router):
    """A token is re-acquired through the SDK shortly before expires_in runs out on the clock."""
    org = Org(router, count=2, ttl=300)
    clock = VirtualClock()
    bus = make_bus(clock)
    bus.get_rule("t000")
    clock.advance(200)
    bus.get_rule("t000")
    assert org.tokens == 1
    clock.advance(80)  # 280 s: inside the 30 s margin (ttl / 10)
    bus.get_rule("t001")
    assert org.tokens == 2


def test_401_reacquires_once_then_succeeds(router):
    """A 401 (token revoked early) re-acquires the token and repeats the call once."""
    org = Org(router, count=1)
    bus = make_bus(VirtualClock())
    bus.get_rule("t000")
    org.tokens += 1  # the org forgets the token we hold
    assert bus.get_rule("t000").id == "t000"
    assert org.tokens == 3


def test_two_buses_sharing_credentials_each_get_a_token(router):
    """Token state lives on each bus's SDK ApiClient, so shared credentials serve both."""
    org = Org(router, count=1)
    clock = VirtualClock()
    credentials = SdkCredentials("client", "s3cret-value", clock=clock)
    first = TriggersBus(httpx.Client(), credentials, clock=clock)
    second = TriggersBus(httpx.Client(), credentials, clock=clock)
    first.get_rule("t000")
    second.get_rule("t000")
    assert credentials.fetches == 2 and org.tokens == 2
    first.get_rule("t000")  # its token is stale on the org now: one 401, one re-acquisition
    assert credentials.fetches == 3


def test_persistent_401_is_unauthorized(router):
    """A second 401 in a row surfaces as Unauthorized, after exactly one re-acquisition."""
    router.post(f"{LOGIN}/oauth/token").mock(
        return_value=httpx.Response(200, json={"access_token": "x", "expires_in": 3600})
    )
    route = router.get(f"{TRIGGERS}/t1").mock(
        return_value=httpx.Response(401, json={"message": "no"})
    )
    with pytest.raises(Unauthorized):
        make_bus(VirtualClock()).get_rule("t1")
    assert route.call_count == 2


def test_bad_credentials_are_unauthorized_without_secret(router):
    """Refused credentials are Unauthorized; neither the secret nor a token appears anywhere."""
    router.post(f"{LOGIN}/oauth/token").mock(
        return_value=httpx.Response(
            401, json={"message": "invalid client", "code": "bad.credentials"}
        )
    )
    bus = make_bus(VirtualClock())
    with pytest.raises(Unauthorized) as info:
        bus.get_rule("t1")
    text = f"{info.value} {info.value!r} {bus!r} {bus._credentials!r}"
    assert "s3cret" not in text and "Basic" not in text


def test_single_429_reaches_caller_as_rate_limited(router):
    """One 429 surfaces at once as RateLimited with Retry-After: the SDK path hides no retry."""
    route = router.get(f"{TRIGGERS}/t1").mock(
        return_value=httpx.Response(
            429,
            json={
                "message": "Rate limit exceeded the maximum. Retry the request in [3] seconds",
                "code": "too.many.requests.retry.after",
                "status": 429,
                "contextId": "ctx-1",
            },
            headers={"Retry-After": "3"},
        )
    )
    Org(router)
    with pytest.raises(RateLimited) as info:
        make_bus(VirtualClock()).get_rule("t1")
    assert route.call_count == 1
    assert info.value.retry_after == 3.0
    assert info.value.code == "too.many.requests.retry.after" and info.value.context_id == "ctx-1"


def test_server_error_and_transport_error_are_mapped(router):
    """A 503 is ServerError and a refused connection is TransportError, each after one attempt."""
    router.get(f"{TRIGGERS}/a").mock(return_value=httpx.Response(503, json={"message": "down"}))
    router.get(f"{TRIGGERS}/b").mock(side_effect=httpx.ConnectError("refused"))
    Org(router)
    bus = make_bus(VirtualClock())
    with pytest.raises(ServerError):
        bus.get_rule("a")
    with pytest.raises(TransportError):
        bus.get_rule("b")


def test_unknown_enum_from_a_newer_api_is_not_written_back(router):
    """A criterion the SDK cannot represent is refused locally instead of corrupting the trigger."""
    org = Org(router, count=1)
    org.store["t000"]["matchCriteria"].append(
        {"jsonPath": "x", "operator": "Matches", "value": "y"}
    )
    bus = make_bus(VirtualClock())
    rule = bus.get_rule("t000")
    with pytest.raises(BadRequest, match="cannot represent"):
        bus.put_rule(rule)
    assert org.store["t000"]["version"] == 1


def test_login_host_override_reaches_the_token_endpoint(router):
    """With a login host override, the SDK's token request goes there, not to the derived host."""
    route = router.post("http://127.0.0.1:7/oauth/token").mock(
        return_value=httpx.Response(200, json={"access_token": "x", "expires_in": 3600})
    )
    router.get("http://127.0.0.1:8/api/v2/processautomation/triggers/t1").mock(
        return_value=httpx.Response(200, json=trigger("t1"))
    )
    clock = VirtualClock()
    bus = TriggersBus(
        httpx.Client(),
        SdkCredentials("c", "s", clock=clock),
        api_host="http://127.0.0.1:8",
        login_host="http://127.0.0.1:7",
        clock=clock,
    )
    assert bus.get_rule("t1").id == "t1"
    assert route.called


def test_bus_satisfies_protocol_and_merger_hook():
    """TriggersBus is a Bus whose dialect name leads to the triggers dialect and its Merger."""
    from chainsim.bus.base import Bus
    from chainsim.dialects import dialect_of

    clock = VirtualClock()
    bus = TriggersBus(httpx.Client(), SdkCredentials("c", "s", clock=clock), clock=clock)
    assert isinstance(bus, Bus)
    assert isinstance(dialect_of(bus).merger, TriggersMerger)
    assert bus.dialect == "triggers"


# --------------------------------------------------------------------------- the bus on the fake
#
# The same TriggersBus (SDK on sdk_http) against the fake bus, through both doors:
# in-process on respx (`FakeBus.mock()`) and over real loopback HTTP (`FakeBus.serve()`).

from chainsim.apply import Orchestrator  # noqa: E402
from chainsim.fakebus import FakeBus, FaultPlan  # noqa: E402
from chainsim.retry import RetryPolicy  # noqa: E402

TOPIC_A = "v2.detail.events.conversation.{id}.customer.start"
TOPIC_B = "v2.detail.events.conversation.{id}.acd.start"


def seeded(i: int, topic: str = TOPIC_B, **over: Any) -> dict[str, Any]:
    base = trigger(f"trg-{i:04d}", topicName=topic)
    base.update(over)
    return base


class Door:
    """One way into a FakeBus: `respx` (in-process) or `loopback` (a real HTTP server)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.fake = FakeBus()
        self._stack: Any = None
        self.api_host = API

    def __enter__(self) -> Door:
        from contextlib import ExitStack

        self._stack = ExitStack()
        if self.kind == "respx":
            self._stack.enter_context(self.fake.mock())
        else:
            self.api_host = self._stack.enter_context(self.fake.serve())
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stack.close()

    def reset(self, faults: FaultPlan | None = None) -> FakeBus:
        self.fake.reset()
        self.fake.faults = faults or FaultPlan()
        return self.fake

    def bus(self, page_size: int = 200, credentials_clock: Any = None) -> TriggersBus:
        clock = self.fake.clock
        credentials = SdkCredentials(*FAKE_CLIENT, clock=credentials_clock or clock)
        return TriggersBus(
            httpx.Client(), credentials, api_host=self.api_host, clock=clock, page_size=page_size
        )


@pytest.fixture(scope="module", params=["respx", "loopback"])
def door(request: pytest.FixtureRequest) -> Iterator[Door]:
    with Door(request.param) as opened:
        yield opened


def chain_plan(count: int, preserve: tuple[str, ...] = ("queueId", "callerId")) -> ChainPlan:
    """trg-0000 (topic A) links to every other trigger, preserving `preserve`."""
    return ChainPlan.model_validate(
        {
            "links": [
                {
                    "source": "trg-0000",
                    "destination": f"trg-{i:04d}",
                    "event_type": TOPIC_A,
                    "preserve": list(preserve),
                }
                for i in range(1, count)
            ][:5],
            "rules": {
                f"trg-{i:04d}": {"enabled": True, "data_format": "Json"} for i in range(5, count)
            },
        }
    )


def seed_chain(fake: FakeBus, count: int, **over: Any) -> None:
    root = seeded(0, topic=TOPIC_A)
    root["matchCriteria"].append({"jsonPath": "callerId", "operator": "Exists", "value": True})
    fake.seed_triggers([root, *(seeded(i, **over) for i in range(1, count))])


def test_fake_paging_across_many_pages(door):
    """Through either door, 150 triggers in pages of 7 are listed once each, in 22 requests."""
    fake = door.reset()
    fake.seed_triggers([seeded(i) for i in range(150)])
    ids = [r.id for r in door.bus(page_size=7).list_rules()]
    assert ids == [t["id"] for t in fake.triggers()]
    assert len(set(ids)) == 150
    lists = [r for r in fake.requests if r.method == "GET" and r.path.endswith("/triggers")]
    assert len(lists) == 22


def test_fake_apply_re_merges_after_409(door):
    """With a concurrent writer on half the PUTs, apply re-reads, re-merges and keeps its edit."""
    fake = door.reset(FaultPlan.model_validate({"seed": 7, "conflicts": {"fraction": 0.4}}))
    seed_chain(fake, 9)
    retry = RetryPolicy(seed=1, max_conflicts=12)
    result = Orchestrator(door.bus(), clock=fake.clock, retry=retry).apply(chain_plan(9))
    assert result.status == "applied", result.to_report()
    assert result.metrics["status_409"] >= 1
    stored = {t["id"]: t for t in fake.triggers()}
    for i in range(1, 6):
        crit = stored[f"trg-{i:04d}"]["matchCriteria"]
        assert [c["jsonPath"] for c in crit] == ["$.queueId", "mediaType", "callerId"]
    edited = [t for t in stored.values() if t.get("description") == "edited by concurrent writer"]
    assert edited, "the concurrent writer's edits are kept"
    assert stored["trg-0000"]["version"] == 1  # a link source is never written


def test_fake_apply_rides_out_a_429_storm(door):
    """A 429 storm on 80% of requests is waited out (Retry-After) and the apply completes."""
    storm = {"storms": [{"start": 0, "duration": 30, "fraction": 0.8, "retry_after": 5}], "seed": 5}
    fake = door.reset(FaultPlan.model_validate(storm))
    seed_chain(fake, 9)
    start = fake.clock.now()
    result = Orchestrator(door.bus(), clock=fake.clock, retry=RetryPolicy(max_attempts=20)).apply(
        chain_plan(9)
    )
    assert result.status == "applied", result.to_report()
    assert result.metrics["status_429"] >= 3
    assert fake.clock.now() - start >= 5


def test_fake_token_refreshed_before_expiry(door):
    """With 30 s tokens and 2 s latency, tokens are re-acquired ahead of expiry: no 401 at all."""
    faults = {"token_ttl_seconds": 30, "latency": {"mean_ms": 2000}}
    fake = door.reset(FaultPlan.model_validate(faults))
    seed_chain(fake, 30)
    plan = chain_plan(30).model_dump()
    plan["rules"] = {f"trg-{i:04d}": {"enabled": False} for i in range(5, 30)}
    result = Orchestrator(door.bus(), clock=fake.clock).apply(ChainPlan.model_validate(plan))
    assert result.status == "applied", result.to_report()
    tokens = [r for r in fake.requests if r.path == "/oauth/token"]
    assert len(tokens) >= 2
    assert not [r for r in fake.requests if r.status == 401]


def test_fake_token_expiry_mid_run_reacquires_on_401(door):
    """A token that expires mid-run (the bus misjudged its age) is re-acquired once on the 401."""
    faults = {"token_ttl_seconds": 30, "latency": {"mean_ms": 5000}}
    fake = door.reset(FaultPlan.model_validate(faults))
    seed_chain(fake, 12)
    frozen = VirtualClock()  # the credentials never see time pass: only the 401 tells them
    bus = door.bus(credentials_clock=frozen)
    result = Orchestrator(bus, clock=fake.clock).apply(chain_plan(12))
    assert result.status == "applied", result.to_report()
    assert [r for r in fake.requests if r.status == 401]
    assert bus._credentials.fetches >= 2


def test_fake_atomic_rollback_restores_triggers(door):
    """A permanent 400 on one trigger rolls back every trigger already updated, newest first."""
    fake = door.reset()
    seed_chain(fake, 6)
    before = {t["id"]: t for t in fake.triggers()}
    plan = chain_plan(6).model_dump()
    plan["links"][3]["preserve"] = ["bad[path"]  # the org refuses this jsonPath: a 400
    plan["rules"]["trg-0000"] = {"attributes": ["bad[path"]}
    result = Orchestrator(door.bus(), clock=fake.clock).apply(ChainPlan.model_validate(plan))
    assert result.status == "rolled_back", result.to_report()
    assert [r.id for r in result.rules if r.outcome == "rolled_back"]
    after = {t["id"]: t for t in fake.triggers()}
    for tid, old in before.items():
        new = after[tid]
        assert {k: v for k, v in new.items() if k != "version"} == {
            k: v for k, v in old.items() if k != "version"
        }


def test_fake_single_429_is_not_retried_by_the_sdk_path(door):
    """A single 429 from the fake reaches chainsim as RateLimited with Retry-After, one request."""
    storm = {"storms": [{"start": 0, "duration": 1, "fraction": 1.0, "retry_after": 4}]}
    fake = door.reset(FaultPlan.model_validate(storm))
    fake.seed_triggers([seeded(1)])
    with pytest.raises(RateLimited) as info:
        door.bus().get_rule("trg-0001")
    assert info.value.retry_after == 4.0
    assert info.value.code == "too.many.requests.retry.after"
    gets = [r for r in fake.requests if r.method == "GET" and r.path.endswith("trg-0001")]
    assert [r.status for r in gets] == [429]


def test_fake_concurrent_workers_share_one_bus(door):
    """Four apply workers share one TriggersBus (one SDK client) and lose no update."""
    faults = {
        "seed": 2,
        "latency": {"mean_ms": 100, "jitter_ms": 20},
        "conflicts": {"fraction": 0.2},
    }
    fake = door.reset(FaultPlan.model_validate(faults))
    seed_chain(fake, 24)
    plan = chain_plan(24).model_dump()
    plan["rules"] = {f"trg-{i:04d}": {"enabled": False} for i in range(1, 24)}
    result = Orchestrator(door.bus(), clock=fake.clock, concurrency=4).apply(
        ChainPlan.model_validate(plan)
    )
    assert result.status == "applied", result.to_report()
    assert [t["enabled"] for t in fake.triggers()] == [True] + [False] * 23


def test_adopts_the_cli_client_credentials():
    """The triggers dialect hands TriggersBus a bus.auth.ClientCredentials: id and secret reused."""
    from chainsim.bus.auth import ClientCredentials

    clock = VirtualClock()
    auth = ClientCredentials("cid", "csecret", login_host=LOGIN, http=httpx.Client(), clock=clock)
    bus = TriggersBus.from_httpx(httpx.Client(), auth, clock=clock)
    assert bus._credentials.client_id == "cid"
    assert "csecret" not in repr(bus) and "csecret" not in repr(bus._credentials)

"""Tests for the EventBridge REST bus against hand-written respx routes."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from chainsim.bus.auth import ClientCredentials
from chainsim.bus.base import (
    BusError,
    Conflict,
    Exchange,
    RateLimited,
    TransportError,
    Unprocessable,
)
from chainsim.bus.rest import RULES_PATH, RestBus
from chainsim.clock import VirtualClock
from chainsim.model import Rule

API = "https://api.mypurecloud.com"
LOGIN = "https://login.mypurecloud.com"


def _rule(rule_id: str, version: int = 1) -> dict:
    return {"id": rule_id, "name": rule_id, "eventType": "t", "version": version}


@pytest.fixture
def router():
    with respx.mock(assert_all_called=False) as router:
        tokens = iter(range(1, 100))
        router.post(f"{LOGIN}/oauth/token").mock(
            side_effect=lambda request: httpx.Response(
                200, json={"access_token": f"tok-{next(tokens)}", "expires_in": 3600}
            )
        )
        yield router


def _bus(seen: list[Exchange] | None = None) -> RestBus:
    clock = VirtualClock()
    http = httpx.Client()
    auth = ClientCredentials(
        "chainsim", "chainsim-secret", login_host=LOGIN, http=http, clock=clock
    )
    return RestBus(
        http,
        auth,
        api_host=API,
        page_size=2,
        clock=clock,
        on_exchange=seen.append if seen is not None else None,
    )


def test_list_rules_follows_every_page(router) -> None:
    """list_rules follows nextPageToken until null, sending pageSize and pageToken."""
    pages = {
        None: {"entities": [_rule("a"), _rule("b")], "nextPageToken": "t1"},
        "t1": {"entities": [_rule("c")], "nextPageToken": None},
    }
    route = router.get(f"{API}{RULES_PATH}").mock(
        side_effect=lambda request: httpx.Response(
            200, json=pages[request.url.params.get("pageToken")]
        )
    )
    assert [r.id for r in _bus().list_rules()] == ["a", "b", "c"]
    assert route.calls[0].request.url.params["pageSize"] == "2"
    assert route.calls[1].request.headers["Authorization"] == "Bearer tok-1"


def test_put_sends_the_version_and_errors_map_through_error_from_http(router) -> None:
    """PUT carries the rule's version; 409/422/429 become Conflict/Unprocessable/RateLimited."""
    route = router.put(f"{API}{RULES_PATH}/a").mock(
        side_effect=[
            httpx.Response(200, json=_rule("a", 4)),
            httpx.Response(409, json={"message": "version", "code": "conflict", "contextId": "c1"}),
            httpx.Response(422, json={"message": "too deep", "code": "chain.too.deep"}),
            httpx.Response(429, json={"message": "slow"}, headers={"Retry-After": "7"}),
        ]
    )
    bus = _bus()
    stored = bus.put_rule(Rule.model_validate(_rule("a", 3)))
    assert stored.version == 4
    assert json.loads(route.calls[0].request.content)["version"] == 3
    with pytest.raises(Conflict) as conflict:
        bus.put_rule(Rule.model_validate(_rule("a", 3)))
    assert conflict.value.context_id == "c1"
    with pytest.raises(Unprocessable) as bad:
        bus.put_rule(Rule.model_validate(_rule("a", 4)))
    assert bad.value.code == "chain.too.deep"
    with pytest.raises(RateLimited) as limited:
        bus.put_rule(Rule.model_validate(_rule("a", 4)))
    assert limited.value.retry_after == 7


def test_401_reauthenticates_once_and_retries(router) -> None:
    """A 401 drops the token, fetches a new one and repeats the request once."""
    route = router.get(f"{API}{RULES_PATH}/a").mock(
        side_effect=[
            httpx.Response(401, json={"message": "expired"}),
            httpx.Response(200, json=_rule("a")),
        ]
    )
    assert _bus().get_rule("a").id == "a"
    assert [c.request.headers["Authorization"] for c in route.calls] == [
        "Bearer tok-1",
        "Bearer tok-2",
    ]


def test_transport_errors_and_exchanges_are_reported(router) -> None:
    """A connection failure raises TransportError; every exchange reaches the observer."""
    router.get(f"{API}{RULES_PATH}/a").mock(side_effect=httpx.ConnectError("refused"))
    router.delete(f"{API}{RULES_PATH}/b").mock(return_value=httpx.Response(204))
    seen: list[Exchange] = []
    bus = _bus(seen)
    with pytest.raises(TransportError) as info:
        bus.get_rule("a")
    assert str(info.value) == f"GET {RULES_PATH}/a: ConnectError"
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    bus.delete_rule("b")
    assert [(e.method, e.path, e.status) for e in seen] == [
        ("POST", "/oauth/token", 200),
        ("GET", f"{RULES_PATH}/a", None),
        ("DELETE", f"{RULES_PATH}/b", 204),
    ]
    assert "chainsim-secret" not in repr(bus)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"<html>sign in</html>", "is not JSON"),
        (json.dumps([1, 2]).encode(), "is not a page of rules"),
        (json.dumps({"entities": [{"id": 5}], "nextPageToken": None}).encode(), "is not a rule"),
    ],
)
def test_an_answer_that_is_not_a_page_of_rules_is_a_bus_error(
    router, body: bytes, problem: str
) -> None:
    """A 2xx answer chainsim cannot read (HTML, wrong shape) is a BusError naming the call."""
    router.get(f"{API}{RULES_PATH}").mock(return_value=httpx.Response(200, content=body))
    router.get(f"{API}{RULES_PATH}/a").mock(return_value=httpx.Response(200, content=body))
    with pytest.raises(BusError, match=problem):
        list(_bus().list_rules())
    with pytest.raises(BusError, match=r"is not (JSON|a rule)"):
        _bus().get_rule("a")

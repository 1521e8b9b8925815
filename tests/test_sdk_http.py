"""The SDK's AbstractHttpClient on httpx: wire shapes, errors, exchanges, no retries."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from chainsim.bus.base import Exchange, TransportError
from chainsim.clock import VirtualClock

sdk = pytest.importorskip("PureCloudPlatformClientV2")

from chainsim.bus.sdk_http import HttpxClient, SdkResponse, is_success  # noqa: E402

API = "https://api.example.test"
Options = sdk.http_request_options.HttpRequestOptions
ApiException = sdk.rest.ApiException


@pytest.fixture
def router():
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as mock:
        yield mock


@pytest.fixture
def client():
    with httpx.Client() as http:
        yield HttpxClient(http, clock=VirtualClock())


def test_json_body_and_query_are_sent(router, client):
    """A JSON request carries the SDK's headers, query parameters and JSON body."""
    route = router.put(f"{API}/x").mock(return_value=httpx.Response(200, json={"ok": True}))
    response = client.request(
        Options(
            url=f"{API}/x",
            method="PUT",
            headers={"Content-Type": "application/json", "Authorization": "Bearer t"},
            query_params={"pageSize": "5", "enabled": True},
            body={"a": [1, 2]},
        )
    )
    sent = route.calls.last.request
    assert json.loads(sent.content) == {"a": [1, 2]}
    assert sent.url.params["pageSize"] == "5" and sent.url.params["enabled"] == "true"
    assert sent.headers["content-type"] == "application/json"
    assert response.status == 200 and json.loads(response.data) == {"ok": True}
    assert isinstance(response.data, str)


def test_query_is_encoded_as_the_sdk_client_does(router, client):
    """A cursor with reserved characters goes urlencoded, as urllib3's `fields=` sends it."""
    route = router.get(f"{API}/t").mock(return_value=httpx.Response(200, json={}))
    client.request(
        Options(url=f"{API}/t", method="GET", query_params={"pageSize": 25, "after": "a/b=c d"})
    )
    sent = route.calls.last.request
    assert sent.url.query == b"pageSize=25&after=a%2Fb%3Dc+d"
    assert sent.url.params["after"] == "a/b=c d"


def test_form_post_for_the_token(router, client):
    """A form-encoded request (the token grant) is sent as a form, not JSON."""
    route = router.post(f"{API}/oauth/token").mock(
        return_value=httpx.Response(200, json={"access_token": "abc", "expires_in": 120})
    )
    client.request(
        Options(
            url=f"{API}/oauth/token",
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            post_params={"grant_type": "client_credentials"},
        )
    )
    assert route.calls.last.request.content == b"grant_type=client_credentials"
    assert client.token_expires_in == 120.0


def test_timeout_is_milliseconds(router, client):
    """The SDK's timeout (milliseconds, client level) becomes httpx seconds on each request."""
    route = router.get(f"{API}/t").mock(return_value=httpx.Response(200, json={}))
    client.set_timeout(2500)
    client.request(Options(url=f"{API}/t", method="GET"))
    timeout = route.calls.last.request.extensions["timeout"]
    assert timeout["read"] == pytest.approx(2.5) and timeout["connect"] == pytest.approx(2.5)


def test_non_2xx_raises_the_sdk_exception_once(router, client):
    """A 429 raises ApiException with status, body and headers; nothing is retried."""
    route = router.get(f"{API}/r").mock(
        return_value=httpx.Response(
            429,
            json={"message": "slow down", "code": "too.many.requests.retry.after"},
            headers={"Retry-After": "7"},
        )
    )
    with pytest.raises(ApiException) as info:
        client.request(Options(url=f"{API}/r", method="GET"))
    assert route.call_count == 1
    assert info.value.status == 429
    assert json.loads(info.value.body)["code"] == "too.many.requests.retry.after"
    assert info.value.headers["retry-after"] == "7"


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_not_retried(router, client, status):
    """A 5xx reaches the caller after exactly one request."""
    route = router.get(f"{API}/s").mock(return_value=httpx.Response(status))
    with pytest.raises(ApiException):
        client.request(Options(url=f"{API}/s", method="GET"))
    assert route.call_count == 1


def test_transport_failure_is_transport_error(router):
    """An httpx connection error becomes chainsim's TransportError, reported as status None."""
    seen: list[Exchange] = []
    router.get(f"{API}/down").mock(side_effect=httpx.ConnectError("refused"))
    with httpx.Client() as http:
        client = HttpxClient(http, clock=VirtualClock(), on_exchange=seen.append)
        with pytest.raises(TransportError) as info:
            client.request(Options(url=f"{API}/down", method="GET"))
    assert str(info.value) == "GET /down: ConnectError"
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert [(e.path, e.status) for e in seen] == [("/down", None)]


def test_every_exchange_is_reported_on_the_clock(router):
    """Each exchange reaches the observers with its path, status, headers and clock times."""
    clock = VirtualClock(start=10.0)

    def slow(request: httpx.Request) -> httpx.Response:
        clock.advance(0.25)
        return httpx.Response(200, json={}, headers={"inin-ratelimit-count": "3"})

    router.get(f"{API}/e").mock(side_effect=slow)
    seen: list[Exchange] = []
    with httpx.Client() as http:
        client = HttpxClient(http, clock=clock, on_exchange=seen.append)
        extra: list[Exchange] = []
        client.add_observer(extra.append)
        client.request(Options(url=f"{API}/e", method="GET"))
    assert seen == extra
    (exchange,) = seen
    assert (exchange.method, exchange.path, exchange.status) == ("GET", "/e", 200)
    assert exchange.started == 10.0 and exchange.elapsed == pytest.approx(0.25)
    assert exchange.headers["inin-ratelimit-count"] == "3"


def test_hooks_are_honoured(router, client):
    """The SDK's pre- and post-request hooks run around each request."""
    route = router.get(f"{API}/h").mock(return_value=httpx.Response(200, json={}))

    def pre(options):
        options.headers["X-Pre"] = "1"
        return options

    def post(response):
        response.reason = "hooked"
        return response

    client.set_pre_request_hook(pre)
    client.set_post_request_hook(post)
    response = client.request(Options(url=f"{API}/h", method="GET"))
    assert route.calls.last.request.headers["x-pre"] == "1"
    assert response.reason == "hooked"


def test_response_headers_are_case_insensitive():
    """getheader finds a header in any case and falls back to the default."""
    raw = httpx.Response(
        200, headers={"Content-Type": "application/json"}, request=httpx.Request("GET", API)
    )
    response = SdkResponse.from_httpx(raw)
    assert response.getheader("content-type") == "application/json"
    assert response.getheader("X-Missing", "d") == "d"
    assert response.getheaders()["CONTENT-TYPE"] == "application/json"
    assert "Bearer" not in repr(response)


def test_success_range_is_the_sdks():
    """200..205 is success, as in the SDK's own rest client; 206 and 3xx are not."""
    assert [s for s in (199, 200, 204, 205, 206, 302) if is_success(s)] == [200, 204, 205]


def test_plugs_into_the_sdk_api_client(router, client):
    """ApiClient.set_http_client accepts it and the SDK's calls go through httpx."""
    api_client = sdk.ApiClient(host=API)
    api_client.set_http_client(client)
    route = router.get(f"{API}/api/v2/processautomation/triggers/t1").mock(
        return_value=httpx.Response(
            200, json={"id": "t1", "name": "n", "topicName": "v2.x", "version": 3, "enabled": True}
        )
    )
    trigger = sdk.ProcessAutomationApi(api_client).get_processautomation_trigger("t1")
    assert route.called
    assert (trigger.id, trigger.version, trigger.topic_name) == ("t1", 3, "v2.x")


def test_client_defaults_are_merged_under_the_sdk_headers(router):
    """The injected client's default headers go out too; the SDK's win where both set one."""
    route = router.get(f"{API}/d").mock(return_value=httpx.Response(200, json={}))
    with httpx.Client(headers={"X-Org": "sandbox", "User-Agent": "client"}) as http:
        HttpxClient(http).request(
            Options(url=f"{API}/d", method="GET", headers={"User-Agent": "PureCloud SDK/python"})
        )
    sent = route.calls.last.request.headers
    assert sent["x-org"] == "sandbox" and sent["user-agent"] == "PureCloud SDK/python"


def test_client_cookies_and_params_still_apply(router):
    """A client with its own cookies or query params gets httpx's full merge."""
    route = router.get(f"{API}/c").mock(return_value=httpx.Response(200, json={}))
    with httpx.Client(cookies={"k": "v"}, params={"trace": "1"}) as http:
        HttpxClient(http).request(Options(url=f"{API}/c", method="GET", query_params={"a": "b"}))
    sent = route.calls.last.request
    assert sent.headers["cookie"] == "k=v"
    assert sent.url.params["trace"] == "1" and sent.url.params["a"] == "b"

"""The bus's httpx client: cookies only parsed when set, TCP_NODELAY on its own transport."""

from __future__ import annotations

import http.cookiejar
import socket
from typing import Any

import httpx
import pytest

from chainsim.bus.httpclient import NODELAY, ApiClient, ApiCookies, api_client


def _handler(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/set":
        return httpx.Response(200, headers={"set-cookie": "a=b; Path=/"})
    return httpx.Response(200, json={"cookie": request.headers.get("cookie")})


def test_answers_without_set_cookie_skip_the_jar(monkeypatch: pytest.MonkeyPatch) -> None:
    """An answer that sets no cookie never reaches the stdlib CookieJar's parser."""
    calls: list[Any] = []
    original = http.cookiejar.CookieJar.extract_cookies

    def spy(self: http.cookiejar.CookieJar, response: Any, request: Any) -> None:
        calls.append(response)
        original(self, response, request)

    monkeypatch.setattr(http.cookiejar.CookieJar, "extract_cookies", spy)
    with api_client(transport=httpx.MockTransport(_handler)) as client:
        client.get("http://x/")
        assert calls == []
        client.get("http://x/set")
        assert len(calls) == 1


def test_cookies_an_answer_sets_are_sent_back() -> None:
    """A Set-Cookie is stored and sent as httpx.Client would."""
    with api_client(transport=httpx.MockTransport(_handler)) as client:
        assert client.get("http://x/").json() == {"cookie": None}
        client.get("http://x/set")
        assert client.get("http://x/").json() == {"cookie": "a=b"}
        assert isinstance(client.cookies, ApiCookies)
        assert dict(client.cookies) == {"a": "b"}


def test_cookies_given_to_the_client_are_kept() -> None:
    """`cookies=` and the `cookies` setter still work (wrapped in ApiCookies)."""
    with ApiClient(cookies={"c": "d"}, transport=httpx.MockTransport(_handler)) as client:
        assert client.get("http://x/").json() == {"cookie": "c=d"}
        client.cookies = {"e": "f"}
        assert isinstance(client.cookies, ApiCookies)
        assert client.get("http://x/").json() == {"cookie": "e=f"}


def test_default_transport_sets_tcp_nodelay(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a transport, api_client builds an HTTPTransport with TCP_NODELAY and `verify`."""
    seen: dict[str, Any] = {}
    original = httpx.HTTPTransport.__init__

    def spy(self: httpx.HTTPTransport, **kwargs: Any) -> None:
        seen.update(kwargs)
        original(self, **kwargs)

    monkeypatch.setattr(httpx.HTTPTransport, "__init__", spy)
    with api_client(verify=False):
        pass
    assert (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1) in seen["socket_options"]
    assert seen["socket_options"] == NODELAY
    assert seen["verify"] is False


def test_given_transport_is_used_as_is() -> None:
    """A transport passed in (the in-process fake's MockTransport) is not replaced."""
    transport = httpx.MockTransport(_handler)
    with api_client(transport=transport) as client:
        assert client.get("http://x/").status_code == 200
        assert client._transport is transport

"""The httpx client the bus clients talk through: httpx, minus per-answer cookie parsing.

`httpx.Client` hands every answer to its cookie jar (`Cookies.extract_cookies`), which
wraps the request and the answer in urllib/email compatibility objects before the
standard library's `CookieJar` finds no `Set-Cookie` in them: about a fifth of the
client's CPU per request on the in-process fake. The Platform API authenticates with a
bearer token, not cookies, so `ApiCookies` skips that work when an answer sets no
cookie; an answer that does set one is stored exactly as `httpx.Cookies` would.

Its default transport also sets `TCP_NODELAY`, as urllib3 (the SDK's own client) does
by default (`HTTPConnection.default_socket_options`): httpcore writes a request's head
and its body in two `send` calls, and without it Nagle's algorithm holds the body back
until the server ACKs the head, which a server waiting for the body delays (delayed
ACK): tens of milliseconds added to every PUT and POST with a body.
"""

from __future__ import annotations

import socket
from typing import Any

import httpx

NODELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]


class ApiCookies(httpx.Cookies):
    """`httpx.Cookies` that only parses answers carrying a `Set-Cookie` header."""

    def extract_cookies(self, response: httpx.Response) -> None:
        """Store the cookies `response` sets (nothing to do without `Set-Cookie`)."""
        if "set-cookie" in response.headers:
            super().extract_cookies(response)


class ApiClient(httpx.Client):
    """An `httpx.Client` whose cookie jar is an `ApiCookies` (see the module docstring)."""

    def __init__(self, *, cookies: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cookies = cookies  # httpx reads the jar through this property only

    @property
    def cookies(self) -> httpx.Cookies:
        """The client's cookie jar."""
        return self._api_cookies

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        self._api_cookies = ApiCookies(cookies)


def api_client(**kwargs: Any) -> httpx.Client:
    """`httpx.Client(**kwargs)` for the bus: an `ApiClient`, `TCP_NODELAY` on its sockets.

    A `transport` given is used as is (the in-process fake's `MockTransport`).
    """
    if kwargs.get("transport") is None:
        kwargs["transport"] = httpx.HTTPTransport(
            verify=kwargs.get("verify", True),
            trust_env=kwargs.get("trust_env", True),
            socket_options=NODELAY,
        )
    return ApiClient(**kwargs)

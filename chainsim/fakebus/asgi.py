"""The fake's pure handler as a raw ASGI application (no framework).

`FakeAsgi` reads the request body (bounded in size and time), builds an `httpx.Request`,
calls the synchronous handler and sends the `httpx.Response` back. The handler runs in
a worker thread (`anyio.to_thread.run_sync`) whenever it may block (`may_block()`: the
bus injects latency, a real sleep on a real clock), so that concurrent requests overlap
their latency as they would on Genesys. Otherwise it is pure CPU work under the state's
one lock and runs on the event loop itself: a thread hop costs more than the handler
(measured on the 2-core dev machine: 160 us CPU and 470 us wall per hop, against 115 us
for the handler) and buys no parallelism under the GIL and that lock.

`/_chainsim/...` goes to the control endpoints instead, which are never rate-limited or
faulted. Whatever happens, the answer is a Genesys error body (`message`, `code`,
`status`, `contextId`, `details`, `errors`: the SDK's `ErrorBody` model,
PureCloudPlatformClientV2/models/error_body.py). Genesys documents no body for errors
below its API (malformed HTTP, timeouts); their codes here are chainsim's own.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import anyio
import anyio.to_thread
import httpx

Handler = Callable[[httpx.Request], httpx.Response]
Scope = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]

CONTROL_PREFIX = "/_chainsim/"
MAX_BODY = 16 * 1024 * 1024  # a request body larger than this is refused (400)
MAX_TARGET = 8 * 1024  # a longer request target is 414 (Genesys's own limit is not published)
MAX_HEAD = 16 * 1024  # request line and headers together; above it 431 (or 414)
# Genesys's API uses these; any other method token is 501 (RFC 9110 §9.1: "An origin
# server that receives a request method that is unrecognized or not implemented
# SHOULD respond with the 501 (Not Implemented) status code").
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
ERROR_CODES = {
    400: "bad.request",
    404: "not.found",
    405: "method.not.allowed",
    408: "request.timeout",
    414: "uri.too.long",
    431: "request.header.fields.too.large",
    500: "internal.server.error",
    501: "not.implemented",
    503: "service.unavailable",
}
_HOP_BY_HOP = frozenset(
    {b"connection", b"keep-alive", b"transfer-encoding", b"content-length", b"upgrade", b"te"}
)
_NO_BODY = (204, 304)


def new_context_id() -> str:
    """A fresh contextId for an error the server itself answers (unique across runs)."""
    return str(uuid.uuid4())


def error_response(
    status: int, message: str, context_id: str, *, close: bool = False
) -> httpx.Response:
    """A Genesys-shaped error answer; `close` adds `Connection: close`."""
    body = {
        "message": message,
        "code": ERROR_CODES.get(status, "server.error" if status >= 500 else "bad.request"),
        "status": status,
        "contextId": context_id,
        "details": [],
        "errors": [],
    }
    headers = [(b"Content-Type", b"application/json")]
    if close:
        headers.append((b"Connection", b"close"))
    return httpx.Response(status, headers=headers, content=json.dumps(body).encode())


def wire_head(response: httpx.Response) -> list[tuple[bytes, bytes]]:
    """The response's headers for the wire: hop-by-hop ones dropped, a Content-Length set.

    `Connection: close` is kept (it tells the server to drop the connection after).
    """
    headers = [
        (key.lower(), value)
        for key, value in response.headers.raw
        if key.lower() not in _HOP_BY_HOP
        or (key.lower() == b"connection" and value.lower() == b"close")
    ]
    if response.status_code not in _NO_BODY and response.status_code >= 200:
        headers.append((b"content-length", b"%d" % len(response.content)))
    return headers


class Served(NamedTuple):
    """One answered request, as the request log and `--log` show it."""

    method: str
    path: str
    query: str
    status: int
    client: str
    control: bool = False


def client_of(address: Any) -> str:
    """`host:port` of an ASGI `client` pair (or `-` when unknown)."""
    if not address:
        return "-"
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


class _TooLarge(Exception):
    """The body grew past `max_body`."""


class FakeAsgi:
    """The raw ASGI callable: `await app(scope, receive, send)` for HTTP scopes."""

    def __init__(
        self,
        handler: Handler,
        *,
        base_url: str,
        control: Handler | None = None,
        record: Callable[[Served], None] | None = None,
        max_body: int = MAX_BODY,
        read_timeout: float = 10.0,
        max_target: int = MAX_TARGET,
        max_head: int = MAX_HEAD,
        threads: int = 40,
        may_block: Callable[[], bool] = lambda: True,
        context_id: Callable[[], str] = new_context_id,
    ) -> None:
        self.handler = handler
        self.base_url = base_url
        self.control = control
        self.record = record
        self.max_body = max_body
        self.read_timeout = read_timeout
        self.max_target = max_target
        self.max_head = max_head
        self.context_id = context_id
        self._threads = threads
        self.may_block = may_block
        self._limiter: anyio.CapacityLimiter | None = None  # made in the server's loop

    def error(self, status: int, message: str, *, close: bool = False) -> httpx.Response:
        """A Genesys error answer with a fresh contextId."""
        return error_response(status, message, self.context_id(), close=close)

    def served(self, scope: Scope, status: int, *, control: bool = False) -> None:
        """Report one answer to the request log (if any)."""
        if self.record is not None:
            self.record(
                Served(
                    scope.get("method", "-"),
                    scope.get("path", "-"),
                    bytes(scope.get("query_string", b"")).decode("ascii", "replace"),
                    status,
                    client_of(scope.get("client")),
                    control,
                )
            )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one HTTP request; other scope types (lifespan, websocket) are ignored."""
        if scope["type"] != "http":
            return
        url = self._url(scope)
        control = False
        if isinstance(url, httpx.Response):
            response = url
        else:
            control = self.control is not None and url.path.startswith(CONTROL_PREFIX)
            answer = await self._answer(scope, receive, url, self.control if control else None)
            if answer is None:  # the client went away: nobody to answer
                return
            response = answer
        await self.send(send, response)
        self.served(scope, response.status_code, control=control)

    async def _answer(
        self, scope: Scope, receive: Receive, url: httpx.URL, control: Handler | None
    ) -> httpx.Response | None:
        """Read the body, then run the handler (or `control`) on the request."""
        has_body = False
        for key, value in scope["headers"]:
            if key == b"content-length":
                if int(value) > self.max_body:
                    message = f"Content-Length must be 0..{self.max_body}"
                    return self.error(400, message, close=True)
                has_body = value != b"0"
            elif key == b"transfer-encoding":
                has_body = True
        body: bytes | None = b""
        if has_body:  # without Content-Length or chunked there is no body (RFC 9112 §6.3)
            try:
                with anyio.fail_after(self.read_timeout):
                    body = await self._body(receive)
            except TimeoutError:
                message = f"The request body did not arrive within {self.read_timeout:g} s"
                return self.error(408, message, close=True)
            except _TooLarge:
                message = f"The request body is larger than {self.max_body} bytes"
                return self.error(400, message, close=True)
            if body is None:
                return None
        request = httpx.Request(scope["method"], url, headers=scope["headers"], content=body)
        target = control if control is not None else self.handler
        if control is None and self.may_block():
            return await anyio.to_thread.run_sync(
                self._call, target, request, limiter=self._thread_limiter()
            )
        return self._call(target, request)

    def _thread_limiter(self) -> anyio.CapacityLimiter:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self._threads)
        return self._limiter

    def _url(self, scope: Scope) -> httpx.URL | httpx.Response:
        """The request's URL on the fake's base, or the error that answers the request."""
        method = scope["method"]
        if method not in METHODS:
            return self.error(501, f"Method {method} is not implemented", close=True)
        raw = bytes(scope.get("raw_path") or scope["path"].encode("ascii", "replace"))
        if not raw.startswith(b"/"):
            # absolute-form (`GET http://host/path`) must be accepted (RFC 9112 §3.2.2)
            parts = urlsplit(raw)
            if parts.scheme.lower() not in (b"http", b"https") or not parts.netloc:
                message = "The request target must start with / (or be an absolute http URL)"
                return self.error(400, message, close=True)
            raw = parts.path or b"/"
        query = bytes(scope.get("query_string", b""))
        target = raw + (b"?" + query if query else b"")
        if len(target) > self.max_target:
            message = f"The request target is longer than {self.max_target} bytes"
            return self.error(414, message, close=True)
        if sum(len(k) + len(v) + 4 for k, v in scope["headers"]) > self.max_head:
            message = f"The request headers are larger than {self.max_head} bytes"
            return self.error(431, message, close=True)
        try:
            return httpx.URL(self.base_url + target.decode("ascii"))
        except (httpx.InvalidURL, ValueError) as exc:
            return self.error(400, f"The request target is not a valid URL: {exc}", close=True)

    async def _body(self, receive: Receive) -> bytes | None:
        """The whole request body; None if the client disconnected first."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise _TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _call(self, target: Handler, request: httpx.Request) -> httpx.Response:
        """Run the handler in a worker thread; a bug in it is a 500, never a traceback."""
        try:
            response = target(request)
            response.read()
            return response
        except Exception as exc:  # a bug in the fake: answer 500, keep serving
            return self.error(500, f"fake bus error: {type(exc).__name__}")

    @staticmethod
    async def send(send: Send, response: httpx.Response) -> None:
        """Send `response` as one ASGI start + body pair."""
        await send(
            {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": wire_head(response),
            }
        )
        await send({"type": "http.response.body", "body": response.content})

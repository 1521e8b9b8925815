"""The fake's pure handler as a raw ASGI application (no framework).

`FakeAsgi` reads the request body (bounded in size and time) and calls the synchronous
pipeline: for the API, `answer(Incoming) -> Reply` straight from the ASGI scope (the
bus's `Front.answer`: no `httpx` models per request); for the control endpoints, or
when only an `httpx.Request -> httpx.Response` handler is given, the handler on an
`httpx.Request`. A target that is not plain (characters httpx would percent-encode,
dot segments) is read through `httpx.URL`, as the respx door reads it. The handler runs in
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

import asyncio
import json
import re
import sys
import uuid
from collections.abc import Callable
from typing import Any, NamedTuple
from urllib.parse import unquote, urlsplit

import anyio
import anyio.to_thread
import httpx

from chainsim.fakebus.http import Incoming, Reply

Handler = Callable[[httpx.Request], httpx.Response]
Answerer = Callable[[Incoming], Reply]
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
# A target read without httpx: what httpx.URL keeps as it is (unreserved, sub-delims,
# ":@/" and valid %XX escapes; "?" in the query). Anything else takes httpx's road.
_PLAIN_PATH = re.compile(rb"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})*")
_PLAIN_QUERY = re.compile(rb"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-Fa-f]{2})*")


def new_context_id() -> str:
    """A fresh contextId for an error the server itself answers (unique across runs)."""
    return str(uuid.uuid4())


def error_body(status: int, message: str, context_id: str) -> bytes:
    """The Genesys error body (JSON bytes) of an answer the server gives by itself."""
    body = {
        "message": message,
        "code": ERROR_CODES.get(status, "server.error" if status >= 500 else "bad.request"),
        "status": status,
        "contextId": context_id,
        "details": [],
        "errors": [],
    }
    return json.dumps(body).encode()


def error_reply(status: int, message: str, context_id: str, *, close: bool = False) -> Reply:
    """A Genesys-shaped error answer for the wire; `close` adds `Connection: close`."""
    content = error_body(status, message, context_id)
    headers = [(b"content-type", b"application/json")]
    if close:
        headers.append((b"connection", b"close"))
    headers.append((b"content-length", b"%d" % len(content)))
    return Reply(status, headers, content)


def error_response(
    status: int, message: str, context_id: str, *, close: bool = False
) -> httpx.Response:
    """A Genesys-shaped error answer as an `httpx.Response`; `close` adds `Connection: close`."""
    headers = [(b"Content-Type", b"application/json")]
    if close:
        headers.append((b"Connection", b"close"))
    return httpx.Response(status, headers=headers, content=error_body(status, message, context_id))


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


def reply_of(response: httpx.Response) -> Reply:
    """An `httpx.Response` (read) as a wire `Reply`."""
    return Reply(response.status_code, wire_head(response), response.content)


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


class _Head(NamedTuple):
    """A request head that passed the checks: its target and the headers the fake reads."""

    target: bytes  # origin-form: path, then `?query` when there is one
    raw_path: bytes
    query: bytes
    authorization: str | None
    correlation: str | None
    length: bytes | None  # Content-Length as sent
    chunked: bool


class FakeAsgi:
    """The raw ASGI callable: `await app(scope, receive, send)` for HTTP scopes.

    `answer` (optional) is the pipeline on an `Incoming` (the bus's `answer`); API
    requests then skip `handler`, which still serves when `answer` is None.
    """

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
        answer: Answerer | None = None,
    ) -> None:
        self.handler = handler
        self.answer = answer
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

    def error(self, status: int, message: str, *, close: bool = False) -> Reply:
        """A Genesys error answer with a fresh contextId."""
        return error_reply(status, message, self.context_id(), close=close)

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
        head = self._head(scope)
        control = False
        if isinstance(head, Reply):
            reply = head
        else:
            control = self.control is not None and head.raw_path.startswith(_CONTROL)
            answer = await self._answer(scope, receive, head, control)
            if answer is None:  # the client went away: nobody to answer
                return
            reply = answer
        await self.send(send, reply)
        self.served(scope, reply.status, control=control)

    async def _answer(
        self, scope: Scope, receive: Receive, head: _Head, control: bool
    ) -> Reply | None:
        """Read the body, then run the pipeline (or `control`) on the request."""
        has_body = head.chunked
        if head.length is not None:
            if int(head.length) > self.max_body:
                message = f"Content-Length must be 0..{self.max_body}"
                return self.error(400, message, close=True)
            has_body = head.length != b"0"
        body: bytes | None = b""
        if has_body:  # without Content-Length or chunked there is no body (RFC 9112 §6.3)
            try:
                body = await self._timed_body(receive)
            except (TimeoutError, asyncio.TimeoutError):
                message = f"The request body did not arrive within {self.read_timeout:g} s"
                return self.error(408, message, close=True)
            except _TooLarge:
                message = f"The request body is larger than {self.max_body} bytes"
                return self.error(400, message, close=True)
        if body is None:  # the client went away mid-body
            return None
        if control or self.answer is None:
            target = self.control if control and self.control is not None else self.handler
            try:
                url = httpx.URL(self.base_url + head.target.decode("ascii"))
            except (httpx.InvalidURL, ValueError) as exc:
                return self.error(400, f"The request target is not a valid URL: {exc}", close=True)
            request = httpx.Request(scope["method"], url, headers=scope["headers"], content=body)
            return await self._run(self._call, target, request, blocking=not control)
        incoming = self._incoming(scope["method"], head, body)
        if isinstance(incoming, Reply):
            return incoming
        return await self._run(self._call_answer, self.answer, incoming, blocking=True)

    async def _run(self, call: Callable[..., Reply], *args: Any, blocking: bool) -> Reply:
        """`call(*args)` on the loop, or in a worker thread when it may block."""
        if blocking and self.may_block():
            return await anyio.to_thread.run_sync(call, *args, limiter=self._thread_limiter())
        return call(*args)

    def _incoming(self, method: str, head: _Head, body: bytes) -> Incoming | Reply:
        """The `Incoming` of a request for the pipeline (or the 400 of a bad target)."""
        raw_path = head.raw_path
        if (
            _PLAIN_PATH.fullmatch(raw_path)
            and _PLAIN_QUERY.fullmatch(head.query)
            and b"/." not in raw_path
        ):
            path = raw_path.decode("ascii") or "/"
            if "%" in path:
                path = unquote(path)
            query = head.query.decode("ascii")
        else:  # what httpx.URL makes of it, as the respx door sees it
            try:
                url = httpx.URL(self.base_url + head.target.decode("ascii"))
            except (httpx.InvalidURL, ValueError) as exc:
                return self.error(400, f"The request target is not a valid URL: {exc}", close=True)
            path, query = url.path, url.query.decode()
        return Incoming(method, path, query, body, head.authorization, head.correlation)

    def _thread_limiter(self) -> anyio.CapacityLimiter:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self._threads)
        return self._limiter

    def _head(self, scope: Scope) -> _Head | Reply:
        """The checked head of a request, or the error that answers the request."""
        method = scope["method"]
        if method not in METHODS:
            return self.error(501, f"Method {method} is not implemented", close=True)
        raw = scope.get("raw_path") or scope["path"].encode("ascii", "replace")
        if raw[:1] != b"/":
            # absolute-form (`GET http://host/path`) must be accepted (RFC 9112 §3.2.2)
            parts = urlsplit(bytes(raw))
            if parts.scheme.lower() not in (b"http", b"https") or not parts.netloc:
                message = "The request target must start with / (or be an absolute http URL)"
                return self.error(400, message, close=True)
            raw = parts.path or b"/"
        query = scope.get("query_string") or b""
        target = raw + b"?" + query if query else raw
        if len(target) > self.max_target:
            message = f"The request target is longer than {self.max_target} bytes"
            return self.error(414, message, close=True)
        size = 0
        authorization = correlation = None
        length: bytes | None = None
        chunked = False
        for key, value in scope["headers"]:
            size += len(key) + len(value) + 4
            if key == b"authorization":
                authorization = _joined(authorization, value)
            elif key == _CORRELATION:
                correlation = _joined(correlation, value)
            elif key == b"content-length":
                length = value
            elif key == b"transfer-encoding":
                chunked = True
        if size > self.max_head:
            message = f"The request headers are larger than {self.max_head} bytes"
            return self.error(431, message, close=True)
        return _Head(target, raw, query, authorization, correlation, length, chunked)

    async def _timed_body(self, receive: Receive) -> bytes | None:
        """`_body` within `read_timeout` (asyncio's own deadline: on 3.11+ it costs a
        fraction of an anyio cancel scope per request)."""
        if sys.version_info >= (3, 11):
            async with asyncio.timeout(self.read_timeout):
                return await self._body(receive)
        return await asyncio.wait_for(self._body(receive), self.read_timeout)

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

    def _call(self, target: Handler, request: httpx.Request) -> Reply:
        """Run an httpx handler; a bug in it is a 500, never a traceback."""
        try:
            response = target(request)
            response.read()
            return reply_of(response)
        except Exception as exc:  # a bug in the fake: answer 500, keep serving
            return self.error(500, f"fake bus error: {type(exc).__name__}")

    def _call_answer(self, answer: Answerer, request: Incoming) -> Reply:
        """Run the pipeline; a bug in it is a 500, never a traceback."""
        try:
            return answer(request)
        except Exception as exc:  # a bug in the fake: answer 500, keep serving
            return self.error(500, f"fake bus error: {type(exc).__name__}")

    @staticmethod
    async def send(send: Send, reply: Reply) -> None:
        """Send `reply` as one ASGI start + body pair."""
        start = {"type": "http.response.start", "status": reply.status, "headers": reply.headers}
        await send(start)
        await send({"type": "http.response.body", "body": reply.content})


_CONTROL = CONTROL_PREFIX.encode()
_CORRELATION = b"inin-correlation-id"


def _joined(seen: str | None, value: bytes) -> str:
    """A header's value as text; a repeated header joins its values with ", " (as httpx)."""
    text = value.decode("latin-1")
    return text if seen is None else f"{seen}, {text}"

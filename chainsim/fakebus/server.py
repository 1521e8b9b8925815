"""The loopback front door: the fake's handler as an ASGI app on uvicorn.

uvicorn parses HTTP/1.1 (keep-alive, pipelining, chunked bodies) and `asgi.FakeAsgi`
turns each request into a call of the pure pipeline. API routes, `/oauth/token` and the
control endpoints share the one port, because the SDK derives its login host from the
API host (`//api.` -> `//login.`), which leaves `http://127.0.0.1:N` unchanged.

uvicorn runs its httptools protocol (llhttp, in C) on uvloop: per request they cost well
under half the CPU of its pure-Python h11 protocol on asyncio's loop (measured on the
2-core dev machine with a trivial app: 0.17 ms against 0.42 ms; httptools on asyncio's
loop: 0.21 ms), and the server's CPU per request is what bounds the fake when clients
are many. A response's head and body leave in one write (`_OneWrite`). The protocol is
subclassed (`JsonHttpToolsProtocol`) so that what uvicorn answers by itself is
Genesys-shaped JSON too: malformed requests (its own answer is a plain-text 400), the
concurrency limit (a plain-text 503) and timeouts; and so that it checks what llhttp
lets through but HTTP forbids (a missing Host, a transfer coding other than one
`chunked`, an unknown method, a head larger than `MAX_HEAD`). Timeouts: an idle
keep-alive connection is closed after `keep_alive` s (uvicorn's `timeout_keep_alive`); a
request head that is not complete `read_timeout` s after its first byte gets a 408 and
the connection is closed; a request body gets the same bound in `FakeAsgi`.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import re
import signal
import socket
import sys
import threading
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, TextIO

import httptools
import uvicorn
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from chainsim.fakebus.asgi import MAX_BODY, METHODS, FakeAsgi
from chainsim.fakebus.control import Control, RequestLog
from chainsim.fakebus.http import Reply

if TYPE_CHECKING:
    from chainsim.fakebus.bus import FakeBus

KEEP_ALIVE = 5.0  # seconds an idle keep-alive connection stays open
READ_TIMEOUT = 10.0  # seconds for a request's head, and again for its body
LIMIT_CONCURRENCY = 256  # connections or requests in flight before 503
# uvloop when installed (a declared dependency; absent on Windows): about 0.04 ms less
# CPU per request than asyncio's own loop with a trivial app, ~0.01 ms with the whole
# fake (dev machine; near its noise). asyncio's loop serves the same otherwise.
LOOP = "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"


def _quiet_logger() -> logging.Logger:
    """A logger outside logging's registry that drops everything.

    uvicorn's protocol logs a warning for every malformed request, and the answer is
    already in the request log; with no logging configured, Python would print it.
    """
    quiet = logging.Logger("chainsim.fakebus.server")
    quiet.addHandler(logging.NullHandler())
    return quiet


# A request line with a method token that is not one llhttp knows: 501, not 400
_UNKNOWN_METHOD_LINE = re.compile(
    rb"(?:^|\n)([!#$%&'*+.^_`|~0-9A-Za-z-]+) [^ \r\n]+ HTTP/\d\.\d\r?\n"
)
_METHOD_BYTES = frozenset(m.encode() for m in METHODS)


class _Refused(Exception):
    """Raised in a parser callback to stop parsing; the answer is in `_failure`."""


class _OneWrite:
    """A response's transport for uvicorn's cycle: its head waits for the body's first
    bytes, so both leave in one write (one send, one TCP segment: uvicorn writes them
    separately, which costs both ends a system call and a wake-up per request).

    Interim `1xx` answers pass at once; whatever is held is written when the response
    completes (`flush`, e.g. a HEAD answer with no body) or the connection closes.
    """

    __slots__ = ("_done", "_first", "_held", "transport")

    def __init__(
        self, transport: asyncio.Transport, done: Callable[[], None] = lambda: None
    ) -> None:
        self.transport = transport
        self._done = done
        self._first = True
        self._held: bytes | None = None

    def completed(self) -> None:
        """The response is complete (uvicorn's `on_response`): flush, then call `done`."""
        self.flush()  # a HEAD answer writes no body
        self._done()

    def write(self, data: bytes) -> None:
        """Hold the response head; send it with the next bytes."""
        if self._first and not data.startswith(b"HTTP/1.1 1"):
            self._first = False
            self._held = data
            return
        if self._held is not None:
            data, self._held = self._held + data, None
        self.transport.write(data)

    def flush(self) -> None:
        """Write what is held."""
        if self._held is not None:
            held, self._held = self._held, None
            self.transport.write(held)

    def close(self) -> None:
        """Write what is held, then close."""
        self.flush()
        self.transport.close()

    def is_closing(self) -> bool:
        """As the real transport."""
        return self.transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """As the real transport."""
        return self.transport.get_extra_info(name, default)


class JsonHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol whose own answers are Genesys JSON; with head timeouts.

    Subclasses made by `protocol_for` set `fake` (the app that builds error bodies and
    records answers) and `read_timeout`.
    """

    fake: FakeAsgi
    read_timeout: float = READ_TIMEOUT

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.logger = _quiet_logger()
        self.access_log = False
        # uvicorn's own limit answers plain text: enforce the same limit in `_limited`
        self.json_limit = self.limit_concurrency
        self.limit_concurrency = None
        self.app = self._limited
        self._head_timer: asyncio.TimerHandle | None = None
        self._in_head = False  # a request head has begun and is not complete
        self._in_body = False  # a request head is complete, its body is not
        self._head_size = 0  # bytes received since the head began (request line too)
        self._url_size = 0
        self._failure: Reply | None = None  # set by a callback that refuses the request
        self._pending: Reply | None = None  # an error answer waiting for earlier answers
        self._data = b""  # the bytes being parsed (to tell an unknown method from garbage)

    async def _limited(self, scope: Any, receive: Any, send: Any) -> None:
        """The app, or a 503 when more connections or requests are open than the limit."""
        limit = self.json_limit
        if limit is not None and (len(self.connections) > limit or len(self.tasks) > limit):
            reply = self.fake.error(503, "Too many concurrent requests", close=True)
            await self.fake.send(send, reply)
            self.fake.served(scope, 503)
            return
        await self.fake(scope, receive, send)

    # ------------------------------------------------------------ parser callbacks

    def _refuse(self, status: int, message: str) -> None:
        """Stop parsing this connection and answer `status` with a Genesys body."""
        self._failure = self.fake.error(status, message, close=True)
        raise _Refused(message)

    def on_message_begin(self) -> None:
        """A new request head starts."""
        self._in_head, self._url_size = True, 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        """Part of the request target; a target longer than the app's limit is 414."""
        self._url_size += len(url)
        if self._url_size > self.fake.max_target:
            self._refuse(414, f"The request target is longer than {self.fake.max_target} bytes")
        super().on_url(url)

    def on_headers_complete(self) -> None:
        """Check what llhttp lets through, then start the request as uvicorn does."""
        method = self.parser.get_method().decode("ascii", "replace")
        if method not in METHODS:
            self._refuse(501, f"Method {method} is not implemented")
        version = self.parser.get_http_version()
        if version not in ("1.0", "1.1"):  # llhttp also reads HTTP/0.9 and 2.0 lines
            self._refuse(400, f"Malformed HTTP request: HTTP/{version} is not supported")
        host, codings, chunked = False, 0, True
        for key, value in self.headers:  # one pass (names are lower case)
            if key == b"host":
                host = True
            elif key == b"transfer-encoding":
                codings += 1
                chunked = value.strip().lower() == b"chunked"
        if codings > 1 or not chunked:
            # RFC 9112 §6.1: "A server that receives a request message with a transfer
            # coding it does not understand SHOULD respond with 501 (Not Implemented)."
            self._refuse(501, "Only one Transfer-Encoding: chunked is implemented")
        if version == "1.1" and not host:
            # RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status code
            # to any HTTP/1.1 request message that lacks a Host header field"
            self._refuse(400, "Malformed HTTP request: Missing mandatory Host: header")
        self._in_head, self._in_body = False, True
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None:  # its task has not run yet
            one = _OneWrite(self.transport, cycle.on_response)
            cycle.transport = one  # type: ignore[assignment]
            cycle.on_response = one.completed

    def on_message_complete(self) -> None:
        """The request (head and body) is complete."""
        self._in_body = False
        super().on_message_complete()

    # ------------------------------------------------------------ head timeout, size

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the clock for the first request's head."""
        super().connection_made(transport)
        self._arm_head_timer()

    def data_received(self, data: bytes) -> None:
        """Feed llhttp; a head still unfinished keeps its deadline and its size bound."""
        if self._pending is not None or self.transport.is_closing():
            return  # an error answer is due: nothing after it is read
        if not (self._in_head or self._in_body):  # a new head starts in `data`
            self._head_size = len(data)
            blank = len(data) - len(data.lstrip(b"\r\n"))
            if data[:blank].count(b"\n") >= 2:
                message = "Malformed HTTP request: no request line received"
                self._answer_and_close(self.fake.error(400, message, close=True))
                return
        elif self._in_head:
            self._head_size += len(data)
        self._data = data
        super().data_received(data)
        if self.transport.is_closing() or self._pending is not None:
            return
        if self._in_head and self._head_size > self.fake.max_head:
            if self._url_size > self.fake.max_target or b"\n" not in data:
                message = "Malformed HTTP request: the request line is too long"
                self._answer_and_close(self.fake.error(414, message, close=True))
            else:
                message = "Malformed HTTP request: the request headers are too large"
                self._answer_and_close(self.fake.error(431, message, close=True))
        elif self._in_head or (not self._in_body and self._idle()):
            self._arm_head_timer()
        else:
            self._cancel_head_timer()

    def _idle(self) -> bool:
        """No request is being answered or waiting on this connection."""
        return (self.cycle is None or self.cycle.response_complete) and not self.pipeline

    def eof_received(self) -> bool | None:  # type: ignore[override]
        """The client half-closed: answer what can still be answered, then close.

        A complete request still gets its answer (the write side stays open); a request
        cut off in its head or body gets a 400; an idle connection just closes.
        """
        if self._pending is not None:
            return True  # the error answer goes out after the answers before it
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            if self._in_body:
                message = "The connection was half-closed before the request body was complete"
                self._answer_and_close(self.fake.error(400, message, close=True))
                return None
            cycle.keep_alive = False  # answer, then close
            return True
        if self._in_head:
            message = "The connection was half-closed before the request head was complete"
            self._answer_and_close(self.fake.error(400, message, close=True))
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the head deadline of a closed connection."""
        self._cancel_head_timer()
        super().connection_lost(exc)

    def _arm_head_timer(self) -> None:
        if self._head_timer is None and not self.transport.is_closing():
            self._head_timer = self.loop.call_later(self.read_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        """No complete head in time: 408 if part of one came, else just close."""
        self._head_timer = None
        if self.transport.is_closing() or self._in_body or not self._idle():
            return  # an answer is under way; the keep-alive timer takes over after it
        if self._in_head:
            message = f"The request head did not arrive within {self.read_timeout:g} s"
            self._answer_and_close(self.fake.error(408, message, close=True))
        else:
            self.transport.close()

    # ------------------------------------------------------------ protocol errors

    def send_400_response(self, msg: str) -> None:
        """Answer a request llhttp (or a callback) refused; uvicorn calls this in `except`."""
        reply, self._failure = self._failure, None
        if reply is None:
            error = sys.exception()
            text = str(error) if error is not None else ""
            if "Transfer-Encoding" in text:
                # RFC 9112 §6.1: a transfer coding not understood SHOULD be 501
                message = "Only one Transfer-Encoding: chunked is implemented"
                reply = self.fake.error(501, message, close=True)
            elif (
                isinstance(error, httptools.HttpParserInvalidMethodError) or "PRI" in text
            ) and any(
                m.group(1) not in _METHOD_BYTES for m in _UNKNOWN_METHOD_LINE.finditer(self._data)
            ):
                # RFC 9110 §9.1: an unrecognized method SHOULD be answered 501
                reply = self.fake.error(501, "Malformed HTTP request: unknown method", close=True)
            else:
                detail = text or msg
                reply = self.fake.error(400, f"Malformed HTTP request: {detail}", close=True)
        if self._in_body or self._idle():
            self._answer_and_close(reply)  # the refused request is the one under way
        else:
            self._pending = reply  # answers to earlier pipelined requests go first
            self.flow.pause_reading()

    def on_response_complete(self) -> None:
        """An answer went out: start the next pipelined request, or the pending error."""
        super().on_response_complete()
        if self._pending is not None and self._idle() and not self.transport.is_closing():
            reply, self._pending = self._pending, None
            self._answer_and_close(reply)

    def _answer_and_close(self, reply: Reply) -> None:
        """Write `reply` straight onto the connection (no ASGI cycle), then close."""
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True  # a request under way loses its connection
            self.cycle.message_event.set()
        self._cancel_head_timer()
        self._in_head = self._in_body = False
        if not self.transport.is_closing():
            out = [STATUS_LINE[reply.status]]
            for name, value in (*self.server_state.default_headers, *reply.headers):
                out += [name, b": ", value, b"\r\n"]
            out += [b"\r\n", reply.content]
            self.transport.write(b"".join(out))
            self.transport.close()
        self.fake.served({"client": self.client}, reply.status)

    def shutdown(self) -> None:
        """On server stop: also drop a connection stuck sending its request body."""
        if self.cycle is not None and self._in_body and not self.cycle.response_complete:
            self.cycle.disconnected = True
            self.cycle.message_event.set()
            self.transport.close()
            return
        super().shutdown()


def protocol_for(app: FakeAsgi, read_timeout: float) -> type[JsonHttpToolsProtocol]:
    """A `JsonHttpToolsProtocol` bound to `app` (uvicorn builds one protocol per connection)."""
    return type(
        "FakeBusProtocol", (JsonHttpToolsProtocol,), {"fake": app, "read_timeout": read_timeout}
    )


class _Uvicorn(uvicorn.Server):
    """uvicorn's server that reports when it accepts connections."""

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[], None]) -> None:
        super().__init__(config)
        self.on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start as uvicorn does, then call `on_ready`."""
        await super().startup(sockets=sockets)
        if self.started:
            self.on_ready()


def _listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on `host:port` (OSError if taken or unknown)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


class FakeServer:
    """A `FakeBus` on `http://HOST:N`: `start()`/`stop()` in a thread, or `run()` here.

    The socket is bound at construction (so a taken port raises `OSError` there and
    port 0 is known at once); `base_url` is then final.
    """

    def __init__(
        self,
        bus: FakeBus,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        log: TextIO | None = None,
        keep_alive: float = KEEP_ALIVE,
        read_timeout: float = READ_TIMEOUT,
        limit_concurrency: int = LIMIT_CONCURRENCY,
        max_body: int = MAX_BODY,
    ) -> None:
        self._sock = _listen(host, port)
        name = self._sock.getsockname()
        self.host, self.port = str(name[0]), int(name[1])
        shown = f"[{self.host}]" if ":" in self.host else self.host
        self.base_url = f"http://{shown}:{self.port}"
        self.log = RequestLog(log)
        self.control = Control(bus, self.log)
        self.app = FakeAsgi(
            bus.handler,
            answer=bus.answer,
            base_url=self.base_url,
            control=self.control,
            record=self.log.add,
            max_body=max_body,
            read_timeout=read_timeout,
            may_block=lambda: bus.faults.latency.mean_ms > 0,
        )
        self.config = uvicorn.Config(
            self.app,
            http=protocol_for(self.app, read_timeout),
            ws="none",
            loop=LOOP,
            lifespan="off",
            interface="asgi3",
            log_config=None,
            proxy_headers=False,
            server_header=False,
            timeout_keep_alive=keep_alive,  # type: ignore[arg-type]  # seconds; a float works
            limit_concurrency=limit_concurrency,
        )
        self._ready = threading.Event()
        self._server = _Uvicorn(self.config, self._ready.set)
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None

    def start(self) -> FakeServer:
        """Serve in a daemon thread; return once connections are accepted."""
        self._thread = threading.Thread(
            target=self._serve_in_thread, name=f"fakebus:{self.port}", daemon=True
        )
        self._thread.start()
        while not self._ready.wait(0.05):
            if not self._thread.is_alive():
                raise RuntimeError(f"fake server on {self.base_url} did not start") from (
                    self._failure
                )
        return self

    def _serve_in_thread(self) -> None:
        try:
            self._server.run(sockets=[self._sock])
        except BaseException as exc:  # reported by start()
            self._failure = exc

    def stop(self) -> None:
        """Stop answering (requests under way finish) and close the socket."""
        if self._thread is not None:
            self._server.should_exit = True
            self._thread.join()
            self._thread = None
        self._sock.close()

    def run(self, on_ready: Callable[[str], None] | None = None) -> None:
        """Serve in this thread until SIGINT or SIGTERM, then return normally.

        `on_ready(base_url)` is called once connections are accepted.
        """

        def ready() -> None:
            if on_ready is not None:
                on_ready(self.base_url)

        self._server.on_ready = ready
        previous: dict[int, Any] = {}

        def stop(*_: object) -> None:
            self._server.should_exit = True

        if threading.current_thread() is threading.main_thread():
            # uvicorn captures both signals while serving, then re-raises them to the
            # handlers it found: these, so the process is not killed afterwards
            previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self._server.run(sockets=[self._sock])
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._sock.close()

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"FakeServer({self.base_url!r})"

"""The loopback front door: the fake's handler as an ASGI app on uvicorn.

uvicorn parses HTTP/1.1 (keep-alive, pipelining, chunked bodies) and `asgi.FakeAsgi`
turns each request into a call of the pure handler. API routes, `/oauth/token` and the
control endpoints share the one port, because the SDK derives its login host from the
API host (`//api.` -> `//login.`), which leaves `http://127.0.0.1:N` unchanged.

uvicorn is pinned to its h11 protocol, subclassed (`JsonH11Protocol`) so that what
uvicorn answers by itself is Genesys-shaped JSON too: malformed requests (its own
answer is a plain-text 400), the concurrency limit (a plain-text 503) and timeouts. h11
is pure Python and always installed with uvicorn; httptools (the faster C parser) is
optional and would need a second subclass. Timeouts: an idle keep-alive connection is
closed after `keep_alive` s (uvicorn's `timeout_keep_alive`); a request head that is
not complete `read_timeout` s after its first byte gets a 408 and the connection is
closed; a request body gets the same bound in `FakeAsgi`.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import sys
import threading
from collections.abc import Callable
from http import HTTPStatus
from types import TracebackType
from typing import TYPE_CHECKING, Any, TextIO

import h11
import httpx
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from chainsim.fakebus.asgi import MAX_BODY, MAX_HEAD, FakeAsgi, wire_head
from chainsim.fakebus.control import Control, RequestLog

if TYPE_CHECKING:
    from chainsim.fakebus.bus import FakeBus

KEEP_ALIVE = 5.0  # seconds an idle keep-alive connection stays open
READ_TIMEOUT = 10.0  # seconds for a request's head, and again for its body
LIMIT_CONCURRENCY = 256  # connections or requests in flight before 503


def _quiet_logger() -> logging.Logger:
    """A logger outside logging's registry that drops everything.

    uvicorn's protocol logs a warning for every malformed request, and the answer is
    already in the request log; with no logging configured, Python would print it.
    """
    quiet = logging.Logger("chainsim.fakebus.server")
    quiet.addHandler(logging.NullHandler())
    return quiet


class JsonH11Protocol(H11Protocol):
    """uvicorn's h11 protocol whose own answers are Genesys JSON; with head timeouts.

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

    async def _limited(self, scope: Any, receive: Any, send: Any) -> None:
        """The app, or a 503 when more connections or requests are open than the limit."""
        limit = self.json_limit
        if limit is not None and (len(self.connections) > limit or len(self.tasks) > limit):
            response = self.fake.error(503, "Too many concurrent requests", close=True)
            await self.fake.send(send, response)
            self.fake.served(scope, 503)
            return
        await self.fake(scope, receive, send)

    # ------------------------------------------------------------ head timeout

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the clock for the first request's head."""
        super().connection_made(transport)
        self._arm_head_timer()

    def data_received(self, data: bytes) -> None:
        """Feed h11; a head still unfinished keeps its deadline, a finished one clears it."""
        super().data_received(data)
        if self.conn.their_state is h11.IDLE:
            self._arm_head_timer()
        else:
            self._cancel_head_timer()

    def eof_received(self) -> bool | None:  # type: ignore[override]
        """The client half-closed: answer what can still be answered, then close.

        A complete request still gets its answer (the write side stays open); a request
        cut off in its head or body gets a 400; an idle connection just closes.
        """
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            if self.conn.their_state is h11.SEND_BODY:
                message = "The connection was half-closed before the request body was complete"
                self._answer_and_close(self.fake.error(400, message, close=True))
                return None
            cycle.keep_alive = False  # answer, then close
            return True
        if self.conn.their_state is h11.IDLE and self.conn.trailing_data[0]:
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
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        if self.conn.our_state is not h11.IDLE:
            return  # an answer is under way; the keep-alive timer takes over after it
        if self.conn.trailing_data[0]:
            message = f"The request head did not arrive within {self.read_timeout:g} s"
            self._answer_and_close(self.fake.error(408, message, close=True))
        else:
            self.transport.close()

    # ------------------------------------------------------------ protocol errors

    def send_400_response(self, msg: str) -> None:
        """Answer a request h11 cannot parse (uvicorn calls this inside its `except`)."""
        error = sys.exception()
        status = getattr(error, "error_status_hint", 400)
        detail = str(error) if error is not None else msg
        if status == 431 and b"\n" not in self.conn.trailing_data[0]:
            status, detail = 414, "the request line is too long"
        elif status == 431:
            detail = "the request headers are too large"
        message = f"Malformed HTTP request: {detail}"
        self._answer_and_close(self.fake.error(status, message, close=True))

    def _answer_and_close(self, response: httpx.Response) -> None:
        """Write `response` straight onto the connection (no ASGI cycle), then close."""
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True  # a request under way loses its connection
            self.cycle.message_event.set()
        head = self.server_state.default_headers + wire_head(response)
        reason = HTTPStatus(response.status_code).phrase.encode()
        try:
            for event in (
                h11.Response(status_code=response.status_code, headers=head, reason=reason),
                h11.Data(data=response.content),
                h11.EndOfMessage(),
            ):
                self.transport.write(self.conn.send(event))
        except h11.LocalProtocolError:
            pass  # mid-answer already: closing is all HTTP leaves us
        self.transport.close()
        self.fake.served({"client": self.client}, response.status_code)

    def shutdown(self) -> None:
        """On server stop: also drop a connection stuck sending its request body."""
        if self.cycle is not None and self.conn.their_state is h11.SEND_BODY:
            self.cycle.disconnected = True
            self.cycle.message_event.set()
            self.transport.close()
            return
        super().shutdown()


def protocol_for(app: FakeAsgi, read_timeout: float) -> type[JsonH11Protocol]:
    """A `JsonH11Protocol` bound to `app` (uvicorn builds one protocol per connection)."""
    return type("FakeBusProtocol", (JsonH11Protocol,), {"fake": app, "read_timeout": read_timeout})


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
            lifespan="off",
            interface="asgi3",
            log_config=None,
            proxy_headers=False,
            server_header=False,
            timeout_keep_alive=keep_alive,  # type: ignore[arg-type]  # seconds; a float works
            limit_concurrency=limit_concurrency,
            h11_max_incomplete_event_size=MAX_HEAD,
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

"""Fuzzing `fake serve` with raw malformed requests on a socket.

Every request gets a Genesys-shaped JSON answer (`message`, `code`, `status`,
`contextId`, `details`, `errors`) and the server keeps serving. The one case where HTTP
leaves nothing to answer: a client that closes the connection before sending a byte.
(A client that half-closes after part of a request still gets a 400.)
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import h11
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainsim.clock import VirtualClock
from chainsim.fakebus import FakeBus
from chainsim.fakebus.server import FakeServer

GENESYS_KEYS = {"message", "code", "status", "contextId", "details", "errors"}
Answer = tuple[int, dict[str, str], bytes]


def answers(port: int, raw: bytes, *, half_close: bool = False, count: int = 1) -> list[Answer]:
    """Send `raw` on a new connection; read up to `count` answers (fewer if it closes)."""
    client = h11.Connection(h11.CLIENT)
    got: list[Answer] = []
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        try:
            sock.sendall(raw)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may answer and close before reading everything
        while len(got) < count:
            method = "HEAD" if raw.startswith(b"HEAD ") else "GET"  # HEAD answers have no body
            client.send(h11.Request(method=method, target="/", headers=[("Host", "x")]))
            client.send(h11.EndOfMessage())
            status, headers, body = 0, {}, b""
            while True:
                event = client.next_event()
                if event is h11.NEED_DATA:
                    try:
                        data = sock.recv(65536)
                    except ConnectionResetError:
                        data = b""
                    client.receive_data(data)
                    continue
                if isinstance(event, h11.Response):
                    status = event.status_code
                    headers = {k.decode(): v.decode() for k, v in event.headers}
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    got.append((status, headers, body))
                    break
                elif isinstance(event, h11.ConnectionClosed):
                    return got
            if client.our_state is h11.MUST_CLOSE or client.their_state is h11.MUST_CLOSE:
                break
            client.start_next_cycle()
    return got


def assert_genesys(answer: Answer, status: int | None = None) -> dict[str, Any]:
    """The answer is JSON with exactly the Genesys error keys (and `status` if given)."""
    code, headers, body = answer
    assert headers.get("content-type") == "application/json", (code, body)
    payload = json.loads(body)
    assert set(payload) == GENESYS_KEYS, payload
    assert payload["status"] == code
    assert payload["contextId"]
    if status is not None:
        assert code == status, payload
    return dict(payload)


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    """One fake server for the module, with short timeouts."""
    with FakeServer(FakeBus(clock=VirtualClock()), read_timeout=0.5, keep_alive=0.5) as server:
        yield server.port


def still_serves(port: int) -> None:
    """A valid token request still gets its 200 and the health check answers."""
    base = f"http://127.0.0.1:{port}"
    token = httpx.post(
        f"{base}/oauth/token",
        auth=("chainsim", "chainsim-secret"),
        data={"grant_type": "client_credentials"},
    )
    assert token.status_code == 200 and token.json()["access_token"]
    assert httpx.get(f"{base}/_chainsim/health").json() == {"status": "ok"}


HEAD = b" HTTP/1.1\r\nHost: x\r\n"
MALFORMED: list[tuple[str, bytes, int]] = [
    ("garbage request line", b"GARBAGE\r\n\r\n", 400),
    ("empty request line", b"\r\n\r\n\r\n", 400),
    ("request line without version", b"GET /\r\nHost: x\r\n\r\n", 400),
    ("bad version", b"GET / HTTP/x.y\r\nHost: x\r\n\r\n", 400),
    ("http/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 501),
    ("non-ascii in target", b"GET /\xff\xfe" + HEAD + b"\r\n", 400),
    ("non-ascii header name", b"GET /" + HEAD + b"X-\xe9t\xe9: 1\r\n\r\n", 400),
    ("non-ascii header value", b"GET /api/v2/x" + HEAD + b"X-Name: \xe9t\xe9\r\n\r\n", 401),
    ("nul in header value", b"GET /" + HEAD + b"X: a\x00b\r\n\r\n", 400),
    ("header without colon", b"GET /" + HEAD + b"NoColon\r\n\r\n", 400),
    ("space before colon", b"GET /" + HEAD + b"X : y\r\n\r\n", 400),
    ("missing host", b"GET / HTTP/1.1\r\n\r\n", 400),
    ("target without slash", b"GET api/v2/x" + HEAD + b"\r\n", 400),
    ("asterisk target", b"OPTIONS *" + HEAD + b"\r\n", 400),
    ("authority target", b"GET example.com:443" + HEAD + b"\r\n", 400),
    ("absolute target, unknown path", b"GET http://h/nowhere" + HEAD + b"\r\n", 404),
    ("target too long", b"GET /" + b"a" * 9000 + HEAD + b"\r\n", 414),
    ("target too long, unfinished", b"GET /" + b"a" * 20000, 414),
    ("headers too large", b"GET /" + HEAD + b"X: y\r\n" * 4000 + b"\r\n", 431),
    ("header too large, unfinished", b"GET /" + HEAD + b"X: " + b"y" * 20000, 431),
    ("unknown method", b"FOO /" + HEAD + b"\r\n", 501),
    ("lower-case method", b"get /" + HEAD + b"\r\n", 501),
    ("connect", b"CONNECT example.com:443" + HEAD + b"\r\n", 501),
    ("trace", b"TRACE /" + HEAD + b"\r\n", 501),
    ("gzip transfer-encoding", b"POST /" + HEAD + b"Transfer-Encoding: gzip\r\n\r\n", 501),
    (
        "two transfer-encodings",
        b"POST /" + HEAD + b"Transfer-Encoding: chunked\r\n" * 2 + b"\r\n",
        501,
    ),
    ("content-length abc", b"POST /" + HEAD + b"Content-Length: abc\r\n\r\n", 400),
    ("content-length negative", b"POST /" + HEAD + b"Content-Length: -5\r\n\r\n", 400),
    ("content-length huge", b"POST /" + HEAD + b"Content-Length: 1000000000000\r\n\r\n", 400),
    (
        "conflicting lengths",
        b"POST /" + HEAD + b"Content-Length: 1\r\nContent-Length: 2\r\n\r\n",
        400,
    ),
    ("bad chunk size", b"POST /" + HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
    (
        "body shorter than length",
        b"POST /oauth/token" + HEAD + b"Content-Length: 10\r\n\r\nab",
        408,
    ),
    ("head never finished", b"GET / HTTP/1.1\r\nHost: x\r\n", 408),
    ("bad json body", b"POST /api/v2/x" + HEAD + b"Content-Length: 1\r\n\r\n{", 401),
    ("unknown control endpoint", b"GET /_chainsim/nothing" + HEAD + b"\r\n", 404),
    ("control wrong method", b"DELETE /_chainsim/health" + HEAD + b"\r\n", 405),
]


@pytest.mark.parametrize(
    ("raw", "status"), [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED]
)
def test_every_malformed_request_gets_a_genesys_json_answer(
    port: int, raw: bytes, status: int
) -> None:
    """Each malformed request is answered with a Genesys error body; the server keeps serving."""
    got = answers(port, raw)
    assert got, f"no answer to {raw[:60]!r}"
    assert_genesys(got[0], status)
    still_serves(port)


@pytest.mark.parametrize(
    "raw",
    [b"GET / HTT", b"POST /oauth/token" + HEAD + b"Content-Length: 10\r\n\r\nab"],
    ids=["head", "body"],
)
def test_a_half_closed_partial_request_gets_a_400(port: int, raw: bytes) -> None:
    """A client that half-closes mid-request still gets a Genesys 400 before the close."""
    got = answers(port, raw, half_close=True)
    assert len(got) == 1
    assert "half-closed" in assert_genesys(got[0], 400)["message"]


def test_a_complete_request_then_half_close_is_answered(port: int) -> None:
    """A complete request followed by a half-close is answered, then the connection closes."""
    got = answers(port, b"GET /_chainsim/health" + HEAD + b"\r\n", half_close=True)
    assert [a[0] for a in got] == [200]


def test_a_connection_closed_before_a_byte_gets_nothing_and_harms_nothing(port: int) -> None:
    """The one unanswerable case: connect and close at once; the server keeps serving."""
    for _ in range(20):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    still_serves(port)


def test_a_malformed_request_after_a_good_one_on_the_same_connection(port: int) -> None:
    """Pipelined: the good request gets its 200, the garbage after it a JSON 400."""
    raw = b"GET /_chainsim/health" + HEAD + b"\r\nGARBAGE\r\n\r\n"
    got = answers(port, raw, count=2)
    assert [a[0] for a in got] == [200, 400]
    assert_genesys(got[1])


def test_protocol_errors_reach_the_request_log(port: int) -> None:
    """A malformed request appears in /_chainsim/requests with its status and client."""
    answers(port, b"GARBAGE-FOR-THE-LOG\r\n\r\n")
    entries = httpx.get(f"http://127.0.0.1:{port}/_chainsim/requests").json()["entities"]
    last = entries[-1]
    assert (last["method"], last["status"]) == ("-", 400)
    assert last["client"].startswith("127.0.0.1:")


_TOKEN = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-!#$%&'*+.^_`|~0123456789",
    min_size=1,
    max_size=12,
)
_BYTES = st.binary(min_size=0, max_size=64).filter(lambda b: b"\r" not in b and b"\n" not in b)


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    """A request head mixing well-formed and random parts (never a body to wait for)."""
    method = draw(
        st.one_of(
            st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD"]),
            _TOKEN,
            _BYTES.map(lambda b: b.decode("latin-1")),
        )
    )
    target = draw(
        st.one_of(
            st.sampled_from(
                ["/", "/api/v2/processautomation/triggers", "/oauth/token", "/_chainsim/state"]
            ),
            _BYTES.map(lambda b: b.decode("latin-1")),
        )
    )
    version = draw(st.sampled_from(["HTTP/1.1", "HTTP/1.0", "HTTP/9.9", "", "http/1.1"]))
    names = st.one_of(
        st.sampled_from(["Accept", "Authorization", "X-Thing", "Expect"]),
        _TOKEN,
        _BYTES.map(lambda b: b.decode("latin-1")),
    )
    headers = draw(st.lists(st.tuples(names, _BYTES), max_size=6))
    head = f"{method} {target} {version}".encode("latin-1") + b"\r\nHost: x\r\n"
    for name, value in headers:
        if name.lower() not in ("content-length", "transfer-encoding", "host", "connection"):
            head += name.encode("latin-1") + b": " + value + b"\r\n"
    return head + b"\r\n"


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=requests())
def test_fuzzed_requests_all_get_json(port: int, raw: bytes) -> None:
    """Property: any request head gets a JSON answer (Genesys-shaped unless 2xx)."""
    got = answers(port, raw)
    assert got, f"no answer to {raw!r}"
    status, headers, body = got[0]
    assert headers.get("content-type") == "application/json"
    if raw.startswith(b"HEAD "):
        assert body == b""  # HEAD: the headers of the answer, without its body
    elif status >= 400:
        assert_genesys(got[0])
    else:
        json.loads(body)


def test_the_server_still_serves_after_the_fuzzing(port: int) -> None:
    """After everything above, a valid request still works."""
    still_serves(port)

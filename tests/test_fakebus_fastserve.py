"""The fast loopback server and the fake's hot path: what each shortcut must keep.

`fake serve` runs uvicorn's httptools protocol on uvloop (`JsonHttpToolsProtocol`);
the pipeline reads an `Incoming` and returns a `Reply` without httpx models; a
trigger's JSON is rendered once per write. Each test here fails when one of these
shortcuts changes what a client sees.
"""

from __future__ import annotations

import asyncio
import http.client
import importlib.util
import json
import socket
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from chainsim.clock import VirtualClock
from chainsim.fakebus import FakeBus, FaultPlan
from chainsim.fakebus.asgi import FakeAsgi
from chainsim.fakebus.faults import Conflicts
from chainsim.fakebus.http import Incoming, Params
from chainsim.fakebus.routes import TRIGGERS_PATH, _listing_json, _uri, match_route
from chainsim.fakebus.server import FakeServer, JsonHttpToolsProtocol, _OneWrite
from chainsim.fakebus.state import dump_json

TOPIC = "v2.detail.events.conversation.{id}.customer.start"
BASE = "http://127.0.0.1:1"


def trigger(i: int, **changes: Any) -> dict[str, Any]:
    """A seedable trigger `t-000i`."""
    out = {
        "id": f"t-{i:04d}",
        "name": f"T {i}",
        "topicName": TOPIC,
        "enabled": True,
        "target": {"type": "Workflow", "id": "wf"},
        "matchCriteria": [{"jsonPath": "mediaType", "operator": "Exists"}],
    }
    out.update(changes)
    return out


# ------------------------------------------------------------------ the server in use


def test_fake_serve_runs_httptools_on_uvloop() -> None:
    """The served protocol is the JSON httptools one, and requests run on uvloop."""
    bus = FakeBus(clock=VirtualClock())
    loops: list[str] = []
    with FakeServer(bus) as server:
        assert issubclass(server.config.http, JsonHttpToolsProtocol)  # type: ignore[arg-type]
        assert issubclass(server.config.http, HttpToolsProtocol)  # type: ignore[arg-type]
        record = server.app.record

        def spy(served: Any) -> None:
            loops.append(type(asyncio.get_running_loop()).__module__)
            if record is not None:
                record(served)

        server.app.record = spy
        assert httpx.get(f"{server.base_url}/_chainsim/health").status_code == 200
    expected = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    assert loops and loops[0].startswith(expected)


def test_api_requests_take_the_incoming_door_not_the_httpx_handler() -> None:
    """The served app answers API requests through `bus.answer`, never `bus.handler`."""
    bus = FakeBus(clock=VirtualClock())
    with FakeServer(bus) as server:
        assert server.app.answer == bus.answer

        def refuse(request: httpx.Request) -> httpx.Response:
            raise AssertionError("the httpx handler ran")

        server.app.handler = refuse
        answer = httpx.post(
            f"{server.base_url}/oauth/token",
            auth=("chainsim", "chainsim-secret"),
            data={"grant_type": "client_credentials"},
        )
    assert answer.status_code == 200 and answer.json()["access_token"]


# ------------------------------------------------------------------ one write per answer


class _Recorder:
    """A transport that records each write."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


def test_one_write_sends_head_and_body_together() -> None:
    """The response head waits for the body: one write, then later bytes pass as they come."""
    real = _Recorder()
    one = _OneWrite(real)  # type: ignore[arg-type]
    one.write(b"HTTP/1.1 200 OK\r\n\r\n")
    assert real.writes == []
    one.write(b"body")
    one.write(b"more")
    assert real.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody", b"more"]


def test_one_write_lets_interim_answers_through_and_flushes_on_close() -> None:
    """A 100 Continue goes at once; a held head is written by flush() or close()."""
    real = _Recorder()
    one = _OneWrite(real)  # type: ignore[arg-type]
    one.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    one.write(b"HTTP/1.1 204 No Content\r\n\r\n")
    assert real.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    one.flush()
    one.flush()
    assert real.writes[1:] == [b"HTTP/1.1 204 No Content\r\n\r\n"]
    other = _Recorder()
    held = _OneWrite(other)  # type: ignore[arg-type]
    held.write(b"HTTP/1.1 200 OK\r\n\r\n")
    held.close()
    assert other.writes == [b"HTTP/1.1 200 OK\r\n\r\n"] and other.closed and held.is_closing()


def test_an_answer_arrives_in_one_piece_and_head_keeps_the_connection() -> None:
    """A served answer comes in one segment; a HEAD answer (no body) does not stall the next."""
    with FakeServer(FakeBus(clock=VirtualClock())) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(b"GET /_chainsim/health HTTP/1.1\r\nHost: x\r\n\r\n")
            first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200 ") and first.endswith(b'{"status":"ok"}')
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        conn.request("HEAD", "/api/v2/processautomation/triggers")
        head = conn.getresponse()
        assert (head.status, head.read()) == (401, b"")
        conn.request("GET", "/_chainsim/health")
        assert json.loads(conn.getresponse().read()) == {"status": "ok"}
        conn.close()


# ------------------------------------------------------------------ protocol errors


def _raw(port: int, data: bytes) -> tuple[int, dict[str, Any]]:
    """Send `data`; the status and JSON body of the one answer before the close."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        got = b""
        while chunk := sock.recv(65536):
            got += chunk
    head, _, body = got.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower()
    return int(head.split()[1]), json.loads(body)


@pytest.mark.parametrize(
    ("data", "status", "words"),
    [
        (b"GET / HTTP/1.1\r\nX: " + b"y" * 20000, 431, "headers are too large"),
        (b"GET /" + b"a" * 20000, 414, "longer than"),
        (b"FOO / HTTP/1.1\r\nHost: x\r\n\r\n", 501, "unknown method"),
        (b"CONNECT h:443 HTTP/1.1\r\nHost: x\r\n\r\n", 501, "CONNECT is not implemented"),
        (b"GET / HTTP/1.1\r\n\r\n", 400, "Host"),
        (b"GET /\r\nHost: x\r\n\r\n", 400, "HTTP/0.9"),
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "chunked"),
        (b"\r\n\r\n\r\n", 400, "no request line"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX : y\r\n\r\n", 400, "Malformed HTTP request"),
    ],
)
def test_each_protocol_error_is_a_json_answer_naming_it(
    data: bytes, status: int, words: str
) -> None:
    """What llhttp refuses, or lets through but HTTP forbids, gets its status as Genesys JSON."""
    with FakeServer(FakeBus(clock=VirtualClock()), read_timeout=2) as server:
        code, body = _raw(server.port, data)
        assert (code, body["status"]) == (status, status)
        assert words in body["message"] and body["contextId"]
        entries = httpx.get(f"{server.base_url}/_chainsim/requests").json()["entities"]
    assert entries[-1]["status"] == status  # the request log saw it


# ------------------------------------------------------------------ the Incoming door


_PLAIN = st.sampled_from(list("abZ09-._~!$&'()*+,;=:@/"))
_ODD = st.sampled_from([*'%?{}|"<>` #^[]\\', "%41", "%7b", "/.", "/..", "é"])
_PIECE = st.lists(st.one_of(_PLAIN, _PLAIN, _ODD), max_size=12).map("".join)


@settings(max_examples=400, deadline=None)
@given(path=_PIECE, query=st.none() | _PIECE)
@example(path="", query="a b")  # httpx quotes the space: a%20b
@example(path="a/../b", query=None)  # httpx drops dot segments
@example(path="%zz{", query="x{y}%")  # a lone % is quoted; braces in the path
@example(path="%7Bid%7D", query="after=%41")
def test_the_incoming_door_reads_targets_as_httpx_does(path: str, query: str | None) -> None:
    """Path and query from the ASGI scope equal what httpx.URL makes of the same target."""
    target = "/" + path + ("" if query is None else "?" + query)
    if not target.isascii():  # uvicorn refuses those before the app (400)
        return
    raw_path, _, raw_query = target.encode().partition(b"?")
    scope = {"method": "GET", "raw_path": raw_path, "query_string": raw_query, "headers": []}
    app = FakeAsgi(lambda r: httpx.Response(200), base_url=BASE)
    head = app._head(scope)
    incoming = app._incoming("GET", head, b"")  # type: ignore[arg-type]
    try:
        url = httpx.URL(BASE + target)
    except httpx.InvalidURL:
        assert not isinstance(incoming, Incoming)
        return
    assert isinstance(incoming, Incoming)
    assert (incoming.path, incoming.query) == (url.path, url.query.decode())


@given(
    query=st.lists(
        st.tuples(st.sampled_from(["a", "b", "pageSize", "x y"]), st.text(max_size=5)),
        max_size=5,
    ).map(urlencode)
)
def test_params_read_as_httpx_query_params(query: str) -> None:
    """`Params` gives the first value, the list, membership and [] exactly as httpx does."""
    mine, theirs = Params(query), httpx.QueryParams(query)
    for key in ("a", "b", "pageSize", "x y", "missing"):
        assert mine.get(key) == theirs.get(key)
        assert mine.get_list(key) == theirs.get_list(key)
        assert (key in mine) == (key in theirs)
        if key in theirs:
            assert mine[key] == theirs[key]


def test_incoming_of_an_httpx_request_keeps_the_headers_it_reads() -> None:
    """The respx door's `Incoming` carries method, path, query, body and both headers."""
    request = httpx.Request(
        "PUT",
        "https://api.x/api/v2/a%20b?k=v",
        headers={"Authorization": "Bearer t", "ININ-Correlation-Id": "c-1"},
        content=b"{}",
    )
    got = Incoming.of(request)
    assert (got.method, got.path, got.query, got.content) == ("PUT", "/api/v2/a b", "k=v", b"{}")
    assert (got.authorization, got.correlation) == ("Bearer t", "c-1")


def test_a_repeated_header_is_joined_as_httpx_joins_it() -> None:
    """Two ININ-Correlation-Id headers on the wire are echoed joined by ', ' (httpx's way)."""
    app = FakeAsgi(lambda r: httpx.Response(200), base_url=BASE)
    scope = {
        "method": "GET",
        "raw_path": b"/x",
        "query_string": b"",
        "headers": [(b"inin-correlation-id", b"a"), (b"inin-correlation-id", b"b")],
    }
    head = app._head(scope)
    assert getattr(head, "correlation", None) == "a, b"


# ------------------------------------------------------------------ rendering shortcuts


@given(
    params=st.lists(
        st.tuples(
            st.sampled_from(["pageSize", "after", "topicName"]),
            st.text(alphabet="abZ09-_.~ {}/+=%&é", max_size=8),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_next_uris_are_what_urlencode_makes(params: list[tuple[str, str]]) -> None:
    """The plain-text shortcut for next/previous URIs equals urlencode's output."""
    assert _uri("/p", params) == f"/p?{urlencode(params)}"


def test_a_listing_from_rendered_entities_is_byte_identical() -> None:
    """Entities spliced as JSON bytes give the bytes of dumping the whole listing."""
    entities = [{"id": "a", "n": 1}, {"id": "é", "x": [1, None]}]
    listing = {"entities": [], "selfUri": "/p?q", "nextUri": "/p?after=x"}
    whole = dump_json({**listing, "entities": entities})
    assert _listing_json(listing, [dump_json(e) for e in entities]) == whole


def _served_trigger(bus: FakeBus, token: str, trigger_id: str) -> dict[str, Any]:
    """GET one trigger on the respx door, and check it is also in its listing page."""
    http = httpx.Client(transport=httpx.MockTransport(bus.handler))
    headers = {"Authorization": f"Bearer {token}"}
    one = http.get(f"https://api.x{TRIGGERS_PATH}/{trigger_id}", headers=headers).json()
    page = http.get(f"https://api.x{TRIGGERS_PATH}", headers=headers).json()
    assert [e for e in page["entities"] if e["id"] == trigger_id] == [one]
    return dict(one)


def _token(bus: FakeBus) -> str:
    """A bearer token for the default client."""
    http = httpx.Client(transport=httpx.MockTransport(bus.handler))
    answer = http.post(
        "https://login.x/oauth/token",
        auth=("chainsim", "chainsim-secret"),
        data={"grant_type": "client_credentials"},
    )
    return str(answer.json()["access_token"])


def test_a_rendered_trigger_follows_every_write() -> None:
    """Reads after a PUT, a concurrent edit, a delete and a reset show the state of then."""
    bus = FakeBus(clock=VirtualClock(), faults=FaultPlan(conflicts=Conflicts(fraction=1.0)))
    bus.seed_triggers([trigger(1), trigger(2)])
    token = _token(bus)
    first = _served_trigger(bus, token, "t-0001")
    assert first["version"] == 1 and first["selfUri"] == f"{TRIGGERS_PATH}/t-0001"
    assert list(first)[-1] == "selfUri"
    http = httpx.Client(transport=httpx.MockTransport(bus.handler))
    put = {k: first[k] for k in ("name", "topicName", "enabled", "target", "matchCriteria")}
    answer = http.put(
        f"https://api.x{TRIGGERS_PATH}/t-0001",
        json={**put, "version": 1},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 409  # the concurrent writer got there first
    edited = _served_trigger(bus, token, "t-0001")
    assert (edited["version"], edited["description"]) == (2, "edited by concurrent writer")
    bus.faults = FaultPlan()
    answer = http.put(
        f"https://api.x{TRIGGERS_PATH}/t-0001",
        json={**put, "name": "renamed", "version": 2},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 200
    assert _served_trigger(bus, token, "t-0001")["name"] == "renamed"
    assert http.delete(
        f"https://api.x{TRIGGERS_PATH}/t-0001", headers={"Authorization": f"Bearer {token}"}
    ).status_code in (200, 204)
    gone = http.get(
        f"https://api.x{TRIGGERS_PATH}/t-0001", headers={"Authorization": f"Bearer {token}"}
    )
    assert gone.status_code == 404
    bus.reset()
    bus.seed_triggers([trigger(1, name="again")])
    assert _served_trigger(bus, token, "t-0001")["name"] == "again"


def test_parametrised_routes_still_match_in_table_order() -> None:
    """The literal-prefix pre-check finds the same route and parameters as the table."""
    route, params = match_route("POST", f"{TRIGGERS_PATH}/topics/{TOPIC}/test")
    assert (route.method, params) == ("POST", {"topic": TOPIC})
    route, params = match_route("GET", f"{TRIGGERS_PATH}/abc")
    assert params == {"id": "abc"} and route.prefix == f"{TRIGGERS_PATH}/"

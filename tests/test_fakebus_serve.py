"""`chainsim fake serve` on uvicorn: ready line, shutdown, --host, --log, control endpoints,
timeouts, the concurrency limit, seeded files and bad input."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from chainsim.clock import VirtualClock
from chainsim.fakebus import FakeBus
from chainsim.fakebus.bus import load_bus
from chainsim.model import InputError

SERVE = [sys.executable, "-m", "chainsim.cli", "fake", "serve"]


def start(*args: str, host: str = "127.0.0.1") -> tuple[subprocess.Popen[str], str]:
    """Start `fake serve` with `args`; return the process and its base URL once ready."""
    proc = subprocess.Popen(
        [*SERVE, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    line = proc.stdout.readline() if proc.stdout else ""
    found = re.fullmatch(rf"listening on (http://{re.escape(host)}:\d+)\n", line)
    assert found, line + (proc.stderr.read() if proc.stderr else "")
    return proc, found.group(1)


def test_sigint_stops_the_server_cleanly(tmp_path: Path) -> None:
    """With --port 0 it prints the chosen port, serves seeded rules and exits 0 on SIGINT."""
    rules = tmp_path / "rules.yaml"
    rules.write_text("- {id: r1, eventType: e}\n- {id: r2, eventType: e}\n")
    proc, base = start("--port", "0", "--rules", str(rules), "--client", "me:pw")
    try:
        token = httpx.post(
            f"{base}/oauth/token", auth=("me", "pw"), data={"grant_type": "client_credentials"}
        ).json()["access_token"]
        listing = httpx.get(
            f"{base}/api/v2/eventbridge/rules", headers={"Authorization": f"Bearer {token}"}
        )
        assert [r["id"] for r in listing.json()["entities"]] == ["r1", "r2"]
        default = httpx.post(
            f"{base}/oauth/token",
            auth=("chainsim", "chainsim-secret"),
            data={"grant_type": "client_credentials"},
        )
        assert default.status_code == 401, "--client replaces the default client"
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    assert proc.stderr is not None and proc.stderr.read() == ""


def test_port_in_use_is_one_line_and_exit_2() -> None:
    """A port already taken gives one line on stderr and exit code 2."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [*SERVE, "--port", str(port)], capture_output=True, text=True, timeout=30
        )
    assert result.returncode == 2
    assert result.stderr.startswith(f"chainsim: --port {port}:")
    assert result.stderr.count("\n") == 1


def test_load_bus_reads_every_file(tmp_path: Path) -> None:
    """load_bus seeds rules and triggers and applies the faults file."""
    (tmp_path / "rules.json").write_text(json.dumps({"entities": [{"id": "r1", "eventType": "e"}]}))
    (tmp_path / "triggers.yaml").write_text(
        "- {id: t1, name: n, topicName: v2.x, enabled: true, target: {type: Workflow, id: w}}\n"
    )
    (tmp_path / "faults.yaml").write_text("seed: 3\nmax_depth: 2\n")
    bus = load_bus(
        rules=tmp_path / "rules.json",
        triggers=tmp_path / "triggers.yaml",
        faults=tmp_path / "faults.yaml",
        clock=VirtualClock(),
    )
    assert [r.id for r in bus.rules()] == ["r1"]
    assert [t["id"] for t in bus.triggers()] == ["t1"]
    assert (bus.faults.seed, bus.max_depth) == (3, 2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"clients": ["no-colon"]}, "--client: expected ID:SECRET"),
        ({"clients": [":secret"]}, "--client: expected ID:SECRET"),
        ({"rules": "missing.yaml"}, "missing.yaml: no such file"),
        ({"triggers": "triggers.json"}, "triggers.json: expected a list of triggers"),
    ],
)
def test_load_bus_bad_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kwargs: dict[str, object], message: str
) -> None:
    """Bad options or files raise one InputError that never echoes a secret."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "triggers.json").write_text('{"not": "a list"}')
    with pytest.raises(InputError) as err:
        load_bus(**kwargs)  # type: ignore[arg-type]
    assert message in str(err.value)
    assert "secret" not in str(err.value).replace("ID:SECRET", "")


@pytest.mark.parametrize("length", ["abc", "-5", str(10**12)])
def test_a_bad_content_length_is_a_400_and_the_server_keeps_serving(length: str) -> None:
    """A request with an unreadable Content-Length gets a Genesys 400, not a server traceback."""
    with FakeBus(clock=VirtualClock()).serve() as base:
        port = int(base.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            head = f"POST /oauth/token HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n"
            sock.sendall(head.encode() + b"\r\n")
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        status, _, body = answer.partition(b"\r\n\r\n")
        assert status.startswith(b"HTTP/1.1 400")
        assert json.loads(body)["code"] == "bad.request"
        token = httpx.post(
            f"{base}/oauth/token",
            auth=("chainsim", "chainsim-secret"),
            data={"grant_type": "client_credentials"},
        )
        assert token.status_code == 200


# ------------------------------------------------------------------ uvicorn server


def _token(base: str) -> str:
    return str(
        httpx.post(
            f"{base}/oauth/token",
            auth=("chainsim", "chainsim-secret"),
            data={"grant_type": "client_credentials"},
        ).json()["access_token"]
    )


def test_sigterm_exits_0_and_log_prints_one_line_per_request() -> None:
    """--log prints one line per answer on stderr; SIGTERM stops the server with exit 0."""
    proc, base = start("--port", "0", "--log")
    try:
        _token(base)
        httpx.get(f"{base}/api/v2/nowhere?x=1")
        httpx.get(f"{base}/_chainsim/health")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    assert proc.stderr is not None
    lines = proc.stderr.read().splitlines()
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z 127\.0\.0\.1:\d+ "
    assert len(lines) == 3, lines
    assert re.fullmatch(stamp + r"POST /oauth/token 200", lines[0])
    assert re.fullmatch(stamp + r"GET /api/v2/nowhere\?x=1 401", lines[1])
    assert re.fullmatch(stamp + r"GET /_chainsim/health 200", lines[2])


def test_host_binds_another_address() -> None:
    """--host 127.0.0.2 listens there (and prints it), not on 127.0.0.1."""
    proc, base = start("--port", "0", "--host", "127.0.0.2", host="127.0.0.2")
    try:
        assert httpx.get(f"{base}/_chainsim/health").status_code == 200
        port = int(base.rsplit(":", 1)[1])
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/_chainsim/health")
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0


def test_unknown_host_is_one_line_and_exit_2() -> None:
    """An address that cannot be bound gives one line naming --host, exit 2."""
    result = subprocess.run(
        [*SERVE, "--port", "0", "--host", "no-such-host.invalid"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("chainsim: --host no-such-host.invalid:")
    assert result.stderr.count("\n") == 1


def test_client_disconnects_print_no_traceback() -> None:
    """Clients vanishing mid-head, mid-body or before the answer leave stderr empty."""
    proc, base = start("--port", "0")
    port = int(base.rsplit(":", 1)[1])
    try:
        for raw in (
            b"GET /api/v2/processautomation/tri",
            b"POST /oauth/token HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab",
            b"GET /_chainsim/state HTTP/1.1\r\nHost: x\r\n\r\n",
        ):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(raw)
            # an abortive close (RST), the rudest way to go
            sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
            sock.close()
        assert _token(base)
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    assert proc.stderr is not None and proc.stderr.read() == ""


# ------------------------------------------------------------------ control endpoints


def _served_bus() -> FakeBus:
    bus = FakeBus(clock=VirtualClock())
    bus.seed_rules([{"id": "r1", "eventType": "e"}])
    bus.seed_triggers(
        [
            {
                "id": "t1",
                "name": "n",
                "topicName": "v2.x",
                "enabled": True,
                "target": {"type": "Workflow", "id": "w"},
            }
        ]
    )
    return bus


def test_control_endpoints_are_never_limited_faulted_or_counted() -> None:
    """Under a 1-request limit and a 100% 5xx burst, /_chainsim/ still answers 200."""
    from chainsim.fakebus import FaultPlan
    from chainsim.fakebus.faults import RateLimit, ServerErrors

    bus = _served_bus()
    bus.faults = FaultPlan(
        rate_limit=RateLimit(requests=1, per_seconds=60),
        server_errors=[ServerErrors(start=0, duration=3600, fraction=1.0, status=503)],
    )
    with bus.serve() as base:
        auth = {"Authorization": f"Bearer {_token(base)}"}
        api = f"{base}/api/v2/processautomation/triggers"
        assert [httpx.get(api, headers=auth).status_code for _ in range(2)] == [503, 429]
        for _ in range(5):
            assert httpx.get(f"{base}/_chainsim/health").json() == {"status": "ok"}
            assert httpx.get(f"{base}/_chainsim/state").status_code == 200
        assert len(bus.requests) == 3  # the token and the two API calls only
        counters = httpx.get(f"{base}/_chainsim/state").json()["requests"]
    assert counters == {
        "total": 3,
        "byStatus": {"200": 1, "429": 1, "503": 1},
        "byMethod": {"GET": 2, "POST": 1},
    }


def test_state_reset_and_requests() -> None:
    """state shows what is stored; reset restores the seeded state; requests is the log."""
    bus = _served_bus()
    with bus.serve() as base:
        auth = {"Authorization": f"Bearer {_token(base)}"}
        triggers = f"{base}/api/v2/processautomation/triggers"
        made = httpx.post(
            triggers,
            headers=auth,
            json={
                "name": "new",
                "topicName": "v2.detail.events.conversation.{id}.customer.start",
                "enabled": True,
                "target": {"type": "Workflow", "id": "w"},
            },
        )
        assert made.status_code == 200
        assert httpx.delete(f"{triggers}/t1", headers=auth).status_code == 204
        state = httpx.get(f"{base}/_chainsim/state").json()
        assert [r["id"] for r in state["rules"]] == ["r1"]
        assert [t["name"] for t in state["triggers"]] == ["new"]
        log = httpx.get(f"{base}/_chainsim/requests").json()["entities"]
        assert [(e["method"], e["path"], e["status"]) for e in log] == [
            ("POST", "/oauth/token", 200),
            ("POST", "/api/v2/processautomation/triggers", 200),
            ("DELETE", "/api/v2/processautomation/triggers/t1", 204),
        ]
        assert all(e["client"].startswith("127.0.0.1:") for e in log)
        assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+Z", e["time"]) for e in log)

        reset = httpx.post(f"{base}/_chainsim/reset")
        body = reset.json()
        assert (body["status"], body["rules"], body["triggers"]) == ("reset", 1, 1)
        state = httpx.get(f"{base}/_chainsim/state").json()
        assert [t["id"] for t in state["triggers"]] == ["t1"]
        assert state["requests"]["total"] == 0
        assert httpx.get(f"{base}/_chainsim/requests").json() == {"entities": []}
        # tokens survive a reset (FakeBus.reset keeps them)
        assert httpx.get(f"{triggers}/t1", headers=auth).json()["version"] == 1


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/_chainsim/nothing", 404),
        ("POST", "/_chainsim/state", 405),
        ("GET", "/_chainsim/reset", 405),
    ],
)
def test_control_refusals_are_genesys_json(method: str, path: str, status: int) -> None:
    """Unknown control paths are 404, wrong methods 405, both with a Genesys body."""
    with _served_bus().serve() as base:
        answer = httpx.request(method, base + path)
    assert answer.status_code == status
    assert set(answer.json()) == {"message", "code", "status", "contextId", "details", "errors"}


# ------------------------------------------------------------------ timeouts and limits


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


@pytest.mark.parametrize(
    "raw",
    [
        b"GET /_chainsim/health HTTP/1.1\r\nHost: x\r\n",
        b"POST /oauth/token HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\nab",
    ],
    ids=["head", "body"],
)
def test_a_stalled_request_gets_408_and_is_closed(raw: bytes) -> None:
    """A head or body that stops arriving gets a JSON 408 and is closed after the read timeout."""
    from chainsim.fakebus.server import FakeServer

    with FakeServer(FakeBus(clock=VirtualClock()), read_timeout=0.3) as server:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        with sock:
            sock.sendall(raw)
            answer = _read_all(sock)  # returns only because the server closes
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ")
    assert json.loads(body)["code"] == "request.timeout"


def test_idle_connections_are_closed() -> None:
    """A silent new connection and an idle keep-alive connection are closed without a byte."""
    from chainsim.fakebus.server import FakeServer

    with FakeServer(FakeBus(clock=VirtualClock()), read_timeout=0.3, keep_alive=0.3) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            assert _read_all(sock) == b""
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(b"GET /_chainsim/health HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = _read_all(sock)  # the answer, then the keep-alive timeout closes
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b'{"status":"ok"}')


def test_concurrency_limit_answers_503_json() -> None:
    """Over `limit_concurrency` open connections a request gets a Genesys 503; below, 200."""
    from chainsim.fakebus.server import FakeServer

    health = b"GET /_chainsim/health HTTP/1.1\r\nHost: x\r\n\r\n"
    with FakeServer(FakeBus(clock=VirtualClock()), limit_concurrency=1) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as first:
            first.sendall(health)
            assert first.recv(65536).startswith(b"HTTP/1.1 200 ")  # open and counted
            with socket.create_connection(("127.0.0.1", server.port), timeout=5) as second:
                second.sendall(health)
                answer = _read_all(second)
        assert answer.startswith(b"HTTP/1.1 503 ")
        assert json.loads(answer.partition(b"\r\n\r\n")[2])["code"] == "service.unavailable"
        for _ in range(50):  # the first connection's close reaches the server soon
            if httpx.get(f"{server.base_url}/_chainsim/health").status_code == 200:
                break
        else:
            raise AssertionError("the server kept refusing after the first connection closed")


# ------------------------------------------------------------------ the ASGI adapter


def _call_app(app: Any, method: str = "GET") -> tuple[int, bytes]:
    """Run one request through a FakeAsgi in a fresh event loop; (status, body)."""
    import asyncio

    sent: list[dict[str, Any]] = []
    scope = {
        "type": "http",
        "method": method,
        "path": "/api/v2/x",
        "raw_path": b"/api/v2/x",
        "query_string": b"",
        "headers": [(b"host", b"x")],
        "client": ("127.0.0.1", 1),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], sent[1]["body"]


@pytest.mark.parametrize("may_block", [True, False])
def test_the_handler_leaves_the_event_loop_only_when_it_may_block(may_block: bool) -> None:
    """With latency (may_block) the handler runs in a worker thread, else on the loop."""
    import threading

    from chainsim.fakebus.asgi import FakeAsgi

    threads: list[threading.Thread] = []

    def handler(request: httpx.Request) -> httpx.Response:
        threads.append(threading.current_thread())
        return httpx.Response(200, json={})

    app = FakeAsgi(handler, base_url="http://x", may_block=lambda: may_block)
    assert _call_app(app) == (200, b"{}")
    assert (threads[0] is not threading.main_thread()) == may_block


def test_a_bug_in_the_handler_is_a_genesys_500() -> None:
    """An exception in the handler answers 500 with a Genesys body, not a traceback."""
    from chainsim.fakebus.asgi import FakeAsgi

    def handler(request: httpx.Request) -> httpx.Response:
        raise KeyError("boom")

    status, body = _call_app(FakeAsgi(handler, base_url="http://x", may_block=lambda: False))
    assert status == 500
    assert json.loads(body)["message"] == "fake bus error: KeyError"


def test_a_served_bus_with_latency_uses_worker_threads() -> None:
    """FakeServer marks a bus with injected latency as blocking (so it gets threads)."""
    from chainsim.fakebus import FaultPlan
    from chainsim.fakebus.faults import Latency
    from chainsim.fakebus.server import FakeServer

    bus = FakeBus(clock=VirtualClock())
    server = FakeServer(bus)
    try:
        assert not server.app.may_block()
        bus.faults = FaultPlan(latency=Latency(mean_ms=50))
        assert server.app.may_block()
    finally:
        server.stop()


def test_stopping_drops_a_connection_stuck_in_its_body() -> None:
    """stop() does not wait out the read timeout of a client stuck mid-body."""
    import time

    from chainsim.fakebus.server import FakeServer

    server = FakeServer(FakeBus(clock=VirtualClock()), read_timeout=60).start()
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"POST /oauth/token HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\nab")
        assert httpx.get(f"{server.base_url}/_chainsim/health").status_code == 200
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 5
        assert _read_all(sock) == b""

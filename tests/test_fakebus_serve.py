"""`chainsim fake serve`: the ready line, clean shutdown, seeded files, bad input."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from chainsim.clock import VirtualClock
from chainsim.fakebus.bus import load_bus
from chainsim.model import InputError

SERVE = [sys.executable, "-m", "chainsim.cli", "fake", "serve"]


def start(*args: str) -> tuple[subprocess.Popen[str], str]:
    """Start `fake serve` with `args`; return the process and its base URL once ready."""
    proc = subprocess.Popen(
        [*SERVE, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    line = proc.stdout.readline() if proc.stdout else ""
    found = re.fullmatch(r"listening on (http://127\.0\.0\.1:\d+)\n", line)
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
    from chainsim.fakebus import FakeBus

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

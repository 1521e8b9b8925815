"""Requests per second through the full fake bus vs a bare respx echo route.

Side 1, in-process (respx door, one `httpx.Client` for both):
- full fake: bearer auth, rate-limit accounting (a generous limit, never hit), keyset
  paging and version-checked PUTs: a loop of (list one page of 25, get a rule, put it
  back at its version) over 200 EventBridge rules;
- bare echo: the same requests answered by a respx route without logic (echoes a
  PUT's body, canned JSON of the same size for a GET).
Printed side by side with the ratio (target: fake >= 0.7x echo).

Side 2, loopback: the unmodified Genesys SDK (urllib3) against `chainsim fake serve`
(uvicorn, httptools, uvloop) and, in the same run, against the server it replaced (the
standard library's `ThreadingHTTPServer`, kept in this file only as the baseline), each
server and each client in its own process (no shared GIL): list a page of triggers,
get one, put it back. Each server is driven by one SDK client, then by `--clients`
clients at once. Printed, new beside old with the ratio: requests/s (wall) for both
runs, the server process's CPU time per request (Linux /proc) and the server's
capacity, 1000 / CPU ms per request: what bounds a server when clients are many.
Target: >= 2x the old server (recorded figure on the stdlib server: 470 requests/s).

On a 2-core machine the wall figures are bound by the clients: the SDK spends
~2.5 ms CPU per request in its client, several times the server's share, so N clients
and the server share two cores and the wall ratio stays near 1x whatever the server
costs. The capacity line is the server's own figure.

Side 3, the servers saturated: `--replay` client processes each replay the stock SDK's
requests byte for byte (its request heads: header names, order and values as
`PureCloudPlatformClientV2` sends them through urllib3, taken from the SDK's real
requests captured through a recording relay in the same run; a PUT's body as a second
segment, as urllib3 sends it) on one keep-alive connection each, for the same loop (list a
page, get, put back at the version read). A replay request costs its client a small
fraction of the SDK's CPU, so the server is the bottleneck: requests/s (wall) and the
server's CPU per request, new beside old. Target: >= 2x.

    python benchmarks/fakebus.py [--requests 6000] [--sdk-requests 600] [--clients 4]
                                 [--replay 2] [--replay-requests 3000]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import respx

from chainsim.fakebus import DEFAULT_API_HOST, DEFAULT_LOGIN_HOST, FakeBus, FaultPlan
from chainsim.fakebus.faults import RateLimit

RULES = f"{DEFAULT_API_HOST}/api/v2/eventbridge/rules"
GENEROUS = RateLimit(requests=10**9, per_seconds=60)


def rules(count: int) -> list[dict[str, Any]]:
    """`count` small EventBridge rules."""
    return [
        {
            "id": f"rule-{i:05d}",
            "name": f"Rule {i}",
            "eventType": "routing.queue.member.added",
            "filters": {"attributes": ["callerId", "queueId"]},
            "actions": [],
        }
        for i in range(count)
    ]


def workload(http: httpx.Client, total: int, headers: dict[str, str]) -> float:
    """Run `total` requests (page, get, put, ...); return requests per CPU second.

    Both respx sides are pure CPU work in this process, so they are timed on the
    process's CPU clock: other processes on a busy machine do not skew the ratio.
    """
    token: str | None = None
    ids = [f"rule-{i:05d}" for i in range(200)]
    done = 0
    started = time.process_time()
    while done < total:
        params = {"pageSize": "25", **({"pageToken": token} if token else {})}
        page = http.get(RULES, params=params, headers=headers).json()
        token = page.get("nextPageToken")
        rule_id = ids[done % len(ids)]
        got = http.get(f"{RULES}/{rule_id}", headers=headers).json()
        http.put(f"{RULES}/{rule_id}", content=json.dumps(got), headers=headers)
        done += 3
    return done / (time.process_time() - started)


def full_fake(total: int) -> float:
    """Requests/s through the whole fake on the respx door."""
    bus = FakeBus(faults=FaultPlan(rate_limit=GENEROUS))
    bus.seed_rules(rules(200))
    with bus.mock(), httpx.Client() as http:
        token = http.post(
            f"{DEFAULT_LOGIN_HOST}/oauth/token",
            auth=("chainsim", "chainsim-secret"),
            data={"grant_type": "client_credentials"},
        ).json()["access_token"]
        return workload(http, total, {"Authorization": f"Bearer {token}"})


def bare_echo(total: int) -> float:
    """Requests/s through a respx route that answers without logic.

    It echoes a PUT's body and answers a GET with canned bytes of the same size as
    the fake's (a page of 25 rules, or one rule), so both sides hand the client the
    same amount of JSON to parse.
    """
    page = json.dumps({"entities": rules(25), "nextPageToken": "azE6cnVsZS0wMDAyNA"}).encode()
    one = json.dumps(rules(1)[0]).encode()

    def echo(request: httpx.Request) -> httpx.Response:
        if request.content:
            return httpx.Response(200, content=request.content)
        return httpx.Response(200, content=page if request.url.query else one)

    router = respx.MockRouter(assert_all_called=False)
    router.route(host="api.mypurecloud.com").mock(side_effect=echo)
    with router, httpx.Client() as http:
        return workload(http, total, {"Authorization": "Bearer x"})


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


OLD_FIGURE = 470  # requests/s of the stock SDK on the stdlib server, recorded in issue 11
TRIGGERS = [
    {
        "id": f"bench-{i:04d}",
        "name": f"Bench {i}",
        "topicName": "v2.detail.events.conversation.{id}.customer.start",
        "enabled": True,
        "target": {"type": "Workflow", "id": "wf"},
        "matchCriteria": [{"jsonPath": "mediaType", "operator": "Exists"}],
    }
    for i in range(200)
]


def stdlib_server(triggers: str, faults: str, port: int) -> None:
    """The replaced server (http.server), serving the same fake until killed: the baseline."""
    from chainsim.clock import SystemClock
    from chainsim.fakebus.bus import load_bus

    bus = load_bus(triggers=triggers, faults=faults, clock=SystemClock())
    base = f"http://127.0.0.1:{port}"

    class Adapter(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = httpx.Request(
                self.command, base + self.path, headers=list(self.headers.items()), content=body
            )
            response = bus.handler(request)
            self.send_response(response.status_code)
            for key, value in response.headers.multi_items():
                if key.lower() not in ("connection", "content-length", "transfer-encoding"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(response.content)))
            self.end_headers()
            self.wfile.write(response.content)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: object) -> None:
            """Silent."""

    httpd = ThreadingHTTPServer(("127.0.0.1", port), Adapter)
    print(f"listening on {base}", flush=True)
    httpd.serve_forever()


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of process `pid` (Linux), else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Server:
    """One server under test in its own process: `chainsim fake serve` or the old one."""

    def __init__(self, tmp: str, *, old: bool) -> None:
        seed, faults = Path(tmp, "triggers.json"), Path(tmp, "faults.yaml")
        seed.write_text(json.dumps(TRIGGERS))
        faults.write_text("rate_limit: {requests: 1000000000, per_seconds: 60}\n")
        self.old = old
        self.port = free_port()
        if old:
            cmd = [sys.executable, __file__, "--stdlib-server", str(seed), str(faults)]
            cmd.append(str(self.port))
        else:
            cmd = [sys.executable, "-m", "chainsim.cli", "fake", "serve", "--port", str(self.port)]
            cmd += ["--triggers", str(seed), "--faults", str(faults)]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
        )
        assert self.proc.stdout is not None and self.proc.stdout.readline().startswith("listening")

    def cpu(self) -> float | None:
        """The server process's CPU seconds so far (Linux), else None."""
        return _cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        """Terminate the server process."""
        self.proc.terminate()
        self.proc.wait(timeout=10)


class Client:
    """A client in its own process, driven line by line: the stock SDK (`--sdk-client
    SLOT`) or a replay of its requests (`--replay-client SLOT TEMPLATE`)."""

    def __init__(self, slot: int, *, replay: Path | None = None) -> None:
        mode = ["--sdk-client", str(slot)]
        if replay is not None:
            mode = ["--replay-client", str(slot), str(replay)]
        self.proc = subprocess.Popen(
            [sys.executable, __file__, *mode],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def say(self, line: str) -> None:
        """Send one command."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def hear(self) -> str:
        """The next line the client prints."""
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().strip()

    def stop(self) -> None:
        """Close the client's input; it exits."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def sdk_client(slot: int) -> None:
    """`--sdk-client SLOT`: `go PORT N` -> log in, warm up, print `ready`; `start` -> run
    N requests, print `done CPU_SECONDS REQUESTS`. Importing the SDK (seconds) is paid once."""
    import PureCloudPlatformClientV2 as sdk

    print("loaded", flush=True)
    plan: tuple[Any, int] | None = None
    for line in sys.stdin:
        words = line.split()
        if words[:1] == ["go"]:
            client = sdk.api_client.ApiClient(host=f"http://127.0.0.1:{words[1]}")
            client.get_client_credentials_token("chainsim", "chainsim-secret")
            _sdk_loop(sdk, client, 30, slot)  # warm both sides
            plan = (client, int(words[2]))
            print("ready", flush=True)
        elif words[:1] == ["once"]:  # one loop (list, get, put), e.g. through a Recorder
            client = sdk.api_client.ApiClient(host=f"http://127.0.0.1:{words[1]}")
            client.get_client_credentials_token("chainsim", "chainsim-secret")
            _sdk_loop(sdk, client, 3, slot)
            print("ok", flush=True)
        elif words[:1] == ["start"] and plan is not None:
            cpu = time.process_time()
            _sdk_loop(sdk, plan[0], plan[1], slot)
            done = plan[1] + (-plan[1] % 3)
            print(f"done {time.process_time() - cpu} {done}", flush=True)


# ---------------------------------------------------------------- replayed SDK requests


class Recorder:
    """A TCP relay on 127.0.0.1 to `port` that keeps every byte its clients send: run
    the stock SDK through it once to capture the requests it really sends."""

    def __init__(self, port: int) -> None:
        self.upstream = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.sent = bytearray()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                down, _ = self.listener.accept()
            except OSError:
                return  # closed
            up = socket.create_connection(("127.0.0.1", self.upstream))
            threading.Thread(target=self._pump, args=(down, up, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(up, down, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, record: bool) -> None:
        try:
            while data := source.recv(65536):
                if record:
                    self.sent += data
                sink.sendall(data)
        except OSError:
            pass  # the other direction closed both
        finally:
            source.close()
            sink.close()

    def close(self) -> None:
        """Stop accepting (relayed connections end when their client closes)."""
        self.listener.close()


def requests_in(stream: bytes) -> list[tuple[list[str], bytes]]:
    """The requests in a client's byte stream: (head lines, body) each (Content-Length)."""
    found = []
    while stream:
        head, _, stream = stream.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        length = next(
            (int(v) for k, _, v in (x.partition(": ") for x in lines) if k == "Content-Length"), 0
        )
        found.append((lines, stream[:length]))
        stream = stream[length:]
    return found


def sdk_template(stream: bytes) -> dict[str, Any]:
    """The replay template of one captured SDK loop: the head lines of its list, get and
    put requests (request line first) and the order of the fields in its put body."""
    api = [r for r in requests_in(stream) if " /api/" in r[0][0]]
    (listing, _), (get, _), (put, body) = api[-3:]
    assert listing[0].startswith("GET ") and get[0].startswith("GET ")
    assert put[0].startswith("PUT ") and body, "the captured loop is list, get, put"
    return {"list": listing, "get": get, "put": put, "fields": list(json.loads(body))}


def _head(lines: list[str], request_line: str, values: dict[str, str]) -> bytes:
    """A captured head with its request line and the named headers' values replaced."""
    out = [request_line]
    for line in lines[1:]:
        name, sep, value = line.partition(": ")
        out.append(f"{name}{sep}{values.get(name, value)}")
    return ("\r\n".join(out) + "\r\n\r\n").encode("latin-1")


class Replay:
    """One keep-alive connection replaying the captured SDK loop against `port`."""

    def __init__(self, port: int, template: dict[str, Any], slot: int) -> None:
        self.template, self.slot = template, slot
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as urllib3
        self.buffer = b""
        basic = base64.b64encode(b"chainsim:chainsim-secret").decode()
        form = b"grant_type=client_credentials"
        self._send(
            f"POST /oauth/token HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Basic"
            f" {basic}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length:"
            f" {len(form)}\r\n\r\n".encode()
            + form
        )
        token = json.loads(self._answer())["access_token"]
        self.values = {"Host": f"127.0.0.1:{port}", "Authorization": f"Bearer {token}"}

    def _send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _answer(self) -> bytes:
        """The next answer's body (checked 200)."""
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self.sock.recv(65536)
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        length = next(
            int(line[15:])
            for line in head.split(b"\r\n")
            if line.lower()[:15] == b"content-length:"
        )
        while len(rest) < length:
            rest += self.sock.recv(65536)
        self.buffer = rest[length:]
        return rest[:length]

    def loop(self, total: int) -> int:
        """Run `total` requests (rounded up to whole loops); how many were sent."""
        t, done, after = self.template, 0, None
        path = "/api/v2/processautomation/triggers"
        while done < total:
            query = "pageSize=25" + (f"&after={after}" if after else "")
            self._send(_head(t["list"], f"GET {path}?{query} HTTP/1.1", self.values))
            page = json.loads(self._answer())
            after = page["nextUri"].split("after=")[-1] if page.get("nextUri") else None
            trigger_id = page["entities"][self.slot]["id"]
            self._send(_head(t["get"], f"GET {path}/{trigger_id} HTTP/1.1", self.values))
            trigger = json.loads(self._answer())
            body = json.dumps({k: trigger[k] for k in t["fields"] if k in trigger}).encode()
            values = {**self.values, "Content-Length": str(len(body))}
            self._send(_head(t["put"], f"PUT {path}/{trigger_id} HTTP/1.1", values))
            self._send(body)  # urllib3 sends a body after the head, in its own write
            self._answer()
            done += 3
        return done


def replay_client(slot: int, template_file: str) -> None:
    """`--replay-client SLOT FILE`: the `--sdk-client` protocol, replaying FILE's template."""
    template = json.loads(Path(template_file).read_text())
    print("loaded", flush=True)
    replay: Replay | None = None
    total = 0
    for line in sys.stdin:
        words = line.split()
        if words[:1] == ["go"]:
            replay, total = Replay(int(words[1]), template, slot), int(words[2])
            replay.loop(30)  # warm both sides
            print("ready", flush=True)
        elif words[:1] == ["start"] and replay is not None:
            cpu = time.process_time()
            done = replay.loop(total)
            print(f"done {time.process_time() - cpu} {done}", flush=True)


def capture(client: Client, server: Server) -> dict[str, Any]:
    """Run one SDK loop through a Recorder in front of `server`; its replay template."""
    recorder = Recorder(server.port)
    try:
        client.say(f"once {recorder.port}")
        assert client.hear() == "ok"
    finally:
        recorder.close()
    return sdk_template(bytes(recorder.sent))


class Phase(NamedTuple):
    """One timed run of `clients` SDK processes against one server."""

    rate: float  # requests/s, wall, all clients together
    server_ms: float | None  # server CPU ms per request
    client_ms: float  # client CPU ms per request (mean over clients)


def run_phase(server: Server, clients: list[Client], total: int) -> Phase:
    """Each client sends `total` requests at once; the figures of the whole run."""
    for client in clients:
        client.say(f"go {server.port} {total}")
    for client in clients:
        assert client.hear() == "ready"
    before, started = server.cpu(), time.perf_counter()
    for client in clients:
        client.say("start")
    rows = [client.hear().split() for client in clients]
    wall, after = time.perf_counter() - started, server.cpu()
    done = sum(int(row[2]) for row in rows)
    cpu = None if before is None or after is None else (after - before) / done * 1000
    mine = sum(float(row[1]) for row in rows) / done * 1000
    return Phase(done / wall, cpu, mine)


def _sdk_loop(sdk: Any, client: Any, total: int, slot: int = 0) -> float:
    """Run `total` requests; each page's entity `slot` is the one got and put back
    (clients with distinct slots never write the same trigger)."""
    api = sdk.ProcessAutomationApi(client)
    done = 0
    after: str | None = None
    started = time.perf_counter()
    while done < total:
        kwargs = {"page_size": "25", **({"after": after} if after else {})}
        page = api.get_processautomation_triggers(**kwargs)
        after = page.next_uri.split("after=")[-1] if page.next_uri else None
        trigger = api.get_processautomation_trigger(page.entities[slot].id)
        update = sdk.UpdateTriggerRequest()
        update.version, update.name, update.topic_name = (
            trigger.version,
            trigger.name,
            trigger.topic_name,
        )
        update.enabled, update.target = trigger.enabled, trigger.target
        update.match_criteria = trigger.match_criteria
        api.put_processautomation_trigger(trigger.id, update)
        done += 3
    return done / (time.perf_counter() - started)


def _interleaved(runs: list[Callable[[int], float]], total: int, rounds: int) -> list[float]:
    """Best of `rounds` for each run, alternating them so machine load hits both alike."""
    best = [0.0] * len(runs)
    for _ in range(rounds):
        for i, run in enumerate(runs):
            best[i] = max(best[i], run(total))
    return best


def main() -> None:
    """Run both sides once and print the figures."""
    if sys.argv[1:2] == ["--stdlib-server"]:
        stdlib_server(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    if sys.argv[1:2] == ["--sdk-client"]:
        sdk_client(int(sys.argv[2]))
        return
    if sys.argv[1:2] == ["--replay-client"]:
        replay_client(int(sys.argv[2]), sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--sdk-requests", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=5, help="best of N for the respx sides")
    parser.add_argument("--sdk-rounds", type=int, default=3, help="best of N for loopback")
    parser.add_argument(
        "--clients", type=int, default=4, help="SDK client processes at once (2nd loopback run)"
    )
    parser.add_argument("--replay", type=int, default=2, help="replay client processes")
    parser.add_argument("--replay-requests", type=int, default=3000, help="per replay client")
    args = parser.parse_args()
    fake, echo = _interleaved([full_fake, bare_echo], args.requests, args.rounds)
    print(f"respx door, full fake : {fake:10.0f} requests/s (CPU time)")
    print(f"respx door, bare echo : {echo:10.0f} requests/s (CPU time)")
    print(f"ratio fake / echo     : {fake / echo:10.2f}x (target >= 0.70x)")
    loopback(args.sdk_requests, args.clients, args.sdk_rounds, args.replay, args.replay_requests)


def loopback(total: int, many: int, rounds: int, replays: int, replay_total: int) -> None:
    """Both servers, one SDK client and then `many` at once, then `replays` replay
    clients; best of `rounds`, alternated."""
    clients = [Client(slot) for slot in range(many)]
    for client in clients:
        assert client.hear() == "loaded"
    rows: dict[tuple[bool, int], list[Phase]] = {}
    replayed: dict[bool, list[Phase]] = {True: [], False: []}
    with tempfile.TemporaryDirectory() as tmp:
        servers = {old: Server(tmp, old=old) for old in (True, False)}
        replay: list[Client] = []
        try:
            template = Path(tmp, "sdk-requests.json")
            template.write_text(json.dumps(capture(clients[0], servers[False])))
            replay = [Client(slot, replay=template) for slot in range(replays)]
            for client in replay:
                assert client.hear() == "loaded"
            for i in range(rounds):
                for old in (True, False) if i % 2 == 0 else (False, True):
                    for count in (1, many):
                        row = run_phase(servers[old], clients[:count], total)
                        rows.setdefault((old, count), []).append(row)
                    replayed[old].append(run_phase(servers[old], replay, replay_total))
        finally:
            for server in servers.values():
                server.stop()
            for client in clients + replay:
                client.stop()
    report(rows, many)
    report_replay(replayed, replays)


def report_replay(rows: dict[bool, list[Phase]], replays: int) -> None:
    """Print the saturated servers' figures, new beside old (best of the rounds)."""
    new, old = (max(rows[side], key=lambda r: r.rate) for side in (False, True))
    label = f"replayed SDK requests, {replays} clients"
    ratio = f"{new.rate / old.rate:6.2f}x (target >= 2x)"
    print(f"{label:<34}: new {new.rate:7.0f}  old {old.rate:7.0f} requests/s (wall)  ratio {ratio}")
    cpu = {
        side: min((r.server_ms for r in rows[side] if r.server_ms), default=None)
        for side in (False, True)
    }
    if cpu[False] is not None and cpu[True] is not None:
        print(f"{'  server CPU per request':<34}: new {cpu[False]:7.2f}  old {cpu[True]:7.2f} ms")
    print(f"{'':<34}  replay client CPU {new.client_ms:.2f} ms/request (the SDK's: above)")


def report(rows: dict[tuple[bool, int], list[Phase]], many: int) -> None:
    """Print the loopback figures, new beside old, with the ratios (best of the rounds:
    the highest wall rate, the lowest server CPU)."""

    def line(label: str, new: float, old: float, unit: str, target: str = "") -> None:
        ratio = f"{new / old:6.2f}x" if old else "     -"
        print(f"{label:<34}: new {new:7.0f}  old {old:7.0f} {unit}  ratio {ratio}{target}")

    for count in (1, many):
        clients = f"{count} client{'s' if count > 1 else ''}"
        new = max(rows[(False, count)], key=lambda r: r.rate)
        old = max(rows[(True, count)], key=lambda r: r.rate)
        line(f"loopback, stock SDK, {clients}", new.rate, old.rate, "requests/s (wall)")
        print(
            f"{'':<34}  client CPU {new.client_ms:.2f} / {old.client_ms:.2f} ms/request (new / old)"
        )
        cpu = {
            old: min((r.server_ms for r in rows[(old, count)] if r.server_ms), default=None)
            for old in (False, True)
        }
        new_ms, old_ms = cpu[False], cpu[True]
        if new_ms is None or old_ms is None:
            print("server CPU: not measurable here (needs Linux /proc)")
            continue
        print(f"{'  server CPU per request':<34}: new {new_ms:7.2f}  old {old_ms:7.2f} ms")
        target = " (target >= 2x)" if count == many else ""
        line(
            "  capacity (1000 / server CPU ms)", 1000 / new_ms, 1000 / old_ms, "requests/s", target
        )
    print(f"{'recorded old figure':<34}: {OLD_FIGURE} requests/s (issue 11, other machine load)")
    client_ms = max(rows[(False, 1)], key=lambda r: r.rate).client_ms
    print(
        f"note: {os.cpu_count() or 1} cores here. Every SDK request costs its client"
        f" ~{client_ms:.1f} ms CPU, so the wall figures are bound by the clients, not the"
        " server, until the clients have more cores than this machine has; the capacity"
        f" with {many} clients is what bounds the server when clients are many."
    )


if __name__ == "__main__":
    main()

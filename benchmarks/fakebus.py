"""Requests per second through the full fake bus vs a bare respx echo route.

Side 1, in-process (respx door, one `httpx.Client` for both):
- full fake: bearer auth, rate-limit accounting (a generous limit, never hit), keyset
  paging and version-checked PUTs: a loop of (list one page of 25, get a rule, put it
  back at its version) over 200 EventBridge rules;
- bare echo: the same requests answered by a respx route without logic (echoes a
  PUT's body, canned JSON of the same size for a GET).
Printed side by side with the ratio (target: fake >= 0.7x echo).

Side 2, loopback: the unmodified Genesys SDK (urllib3) against `chainsim fake serve`
in its own process (so the server does not share this process's GIL): list a page
of triggers, get one, put it back; requests per second.

    python benchmarks/fakebus.py [--requests 6000] [--sdk-requests 600]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def sdk_loopback(total: int) -> float:
    """Requests/s of the unmodified SDK (urllib3) against `chainsim fake serve`."""
    triggers = [
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
    with tempfile.TemporaryDirectory() as tmp:
        seed, faults = Path(tmp, "triggers.json"), Path(tmp, "faults.yaml")
        seed.write_text(json.dumps(triggers))
        faults.write_text("rate_limit: {requests: 1000000000, per_seconds: 60}\n")
        port = free_port()
        cmd = [sys.executable, "-m", "chainsim.cli", "fake", "serve", "--port", str(port)]
        proc = subprocess.Popen(
            [*cmd, "--triggers", str(seed), "--faults", str(faults)],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            import PureCloudPlatformClientV2 as sdk

            assert proc.stdout is not None and proc.stdout.readline().startswith("listening")
            client = sdk.api_client.ApiClient(host=f"http://127.0.0.1:{port}")
            client.get_client_credentials_token("chainsim", "chainsim-secret")
            return _sdk_loop(sdk, client, total)
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def _sdk_loop(sdk: Any, client: Any, total: int) -> float:
    api = sdk.ProcessAutomationApi(client)
    done = 0
    after: str | None = None
    started = time.perf_counter()
    while done < total:
        kwargs = {"page_size": "25", **({"after": after} if after else {})}
        page = api.get_processautomation_triggers(**kwargs)
        after = page.next_uri.split("after=")[-1] if page.next_uri else None
        trigger = api.get_processautomation_trigger(page.entities[0].id)
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--sdk-requests", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=5, help="best of N for the respx sides")
    args = parser.parse_args()
    fake, echo = _interleaved([full_fake, bare_echo], args.requests, args.rounds)
    print(f"respx door, full fake : {fake:10.0f} requests/s (CPU time)")
    print(f"respx door, bare echo : {echo:10.0f} requests/s (CPU time)")
    print(f"ratio fake / echo     : {fake / echo:10.2f}x (target >= 0.70x)")
    sdk = sdk_loopback(args.sdk_requests)
    print(f"loopback, stock SDK   : {sdk:10.0f} requests/s (wall time; urllib3 -> fake serve)")


if __name__ == "__main__":
    main()

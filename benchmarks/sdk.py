"""Triggers listed and updated per second through the Genesys SDK: httpx vs urllib3.

Both sides run the same `TriggersBus` (the unmodified SDK: `ProcessAutomationApi`,
its models and (de)serialisation) against the same loopback fake bus, served by
`chainsim fake serve` in its own process (so the server does not compete with the
clients for this process's GIL; rate limit lifted, no faults); only the SDK's http
client differs:
chainsim's `sdk_http.HttpxClient` on an `httpx.Client`, or the SDK's own
`DefaultHttpClient` on urllib3. One run, printed side by side with the ratio
(target: httpx >= 0.8x urllib3).

    python benchmarks/sdk.py [--triggers 400] [--page-size 25] [--rounds 7]
"""

from __future__ import annotations

import argparse
import functools
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from chainsim.bus.genesys import SdkCredentials, TriggersBus
from chainsim.bus.httpclient import api_client
from chainsim.clock import SystemClock

CLIENT = ("chainsim", "chainsim-secret")


def seed(count: int) -> list[dict[str, Any]]:
    """`count` triggers in the SDK's wire JSON."""
    return [
        {
            "id": f"bench-{i:05d}",
            "name": f"bench {i}",
            "topicName": "v2.detail.events.conversation.{id}.acd.start",
            "version": 1,
            "enabled": True,
            "target": {
                "type": "Workflow",
                "id": "wf-bench",
                "workflowTargetSettings": {"dataFormat": "Json"},
            },
            "matchCriteria": [
                {"jsonPath": "queueId", "operator": "Exists", "value": True},
                {"jsonPath": "mediaType", "operator": "Equal", "value": "VOICE"},
            ],
            "eventTTLSeconds": 60,
            "description": "benchmark trigger",
        }
        for i in range(count)
    ]


@contextmanager
def fake_server(count: int) -> Iterator[str]:
    """`chainsim fake serve` on a free port with `count` triggers; yields its base URL."""
    with tempfile.TemporaryDirectory() as tmp:
        triggers, faults = Path(tmp, "triggers.json"), Path(tmp, "faults.yaml")
        triggers.write_text(json.dumps(seed(count)), encoding="utf-8")
        faults.write_text("rate_limit: {requests: 1000000000, per_seconds: 1}\n", encoding="utf-8")
        command = [sys.executable, "-m", "chainsim.cli", "fake", "serve", "--port", "0"]
        command += ["--triggers", str(triggers), "--faults", str(faults)]
        server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        try:
            line = server.stdout.readline() if server.stdout else ""
            if not line.startswith("listening on "):
                raise SystemExit(f"fake serve did not start: {line!r}")
            yield line.split()[-1]
        finally:
            server.terminate()
            server.wait(timeout=10)


@dataclass(frozen=True)
class Rates:
    """One side's result: wall rates, and this (client) process's CPU per trigger."""

    listed: float  # triggers listed per second (wall)
    updated: float  # triggers updated per second (wall)
    count: int
    list_cpu_ms: float  # client CPU milliseconds per trigger listed
    update_cpu_ms: float  # client CPU milliseconds per trigger updated


def measure(bus: TriggersBus) -> Rates:
    """List every trigger, then update each once (enabled flipped): rates and client CPU."""
    wall, cpu = time.perf_counter(), time.process_time()
    rules = list(bus.list_rules())
    listed, list_cpu = time.perf_counter() - wall, time.process_time() - cpu
    wall, cpu = time.perf_counter(), time.process_time()
    for rule in rules:
        bus.put_rule(rule.model_copy(update={"enabled": not rule.enabled}))
    updated, update_cpu = time.perf_counter() - wall, time.process_time() - cpu
    n = len(rules)
    return Rates(n / listed, n / updated, n, list_cpu / n * 1000, update_cpu / n * 1000)


def interleaved(rounds: int, runs: list[Callable[[], Rates]]) -> list[Rates]:
    """Each side's best over `rounds`, the sides in a rotating order (fair under noise)."""
    results: list[list[Rates]] = [[] for _ in runs]
    for i in range(rounds):
        for k in range(len(runs)):
            side = (i + k) % len(runs)
            results[side].append(runs[side]())

    def best(rs: list[Rates]) -> Rates:
        return Rates(
            max(r.listed for r in rs),
            max(r.updated for r in rs),
            rs[0].count,
            min(r.list_cpu_ms for r in rs),
            min(r.update_cpu_ms for r in rs),
        )

    return [best(r) for r in results]


def main() -> None:
    """Run both clients against one loopback fake and print the rates and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--triggers", type=int, default=400)
    parser.add_argument("--page-size", type=int, default=25)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    from PureCloudPlatformClientV2.default_http_client import DefaultHttpClient

    clock = SystemClock()
    with (
        fake_server(args.triggers) as base_url,
        api_client(timeout=30.0) as http,
        httpx.Client(timeout=30.0) as plain,
    ):

        def bus_on(client: Any) -> TriggersBus:
            credentials = SdkCredentials(*CLIENT, clock=clock)
            return TriggersBus(
                client, credentials, api_host=base_url, clock=clock, page_size=args.page_size
            )

        # chainsim's client (`api_client`: TCP_NODELAY, no cookie parsing), a plain
        # httpx.Client (what chainsim used before) and the SDK's own urllib3 client
        buses = [bus_on(http), bus_on(plain), bus_on(DefaultHttpClient())]
        for bus in buses:
            measure(bus)  # warm up: connections, tokens, imports
        ours, before, theirs = interleaved(
            args.rounds, [functools.partial(measure, bus) for bus in buses]
        )

    print(
        f"SDK triggers on a loopback fake: {ours.count} triggers, pageSize {args.page_size},"
        f" best of {args.rounds} interleaved rounds"
    )
    print(
        f"{'client':<26}{'listed/s':>10}{'updated/s':>11}{'cpu ms/list':>13}{'cpu ms/update':>15}"
    )
    for name, r in (
        ("sdk_http (api_client)", ours),
        ("sdk_http (httpx.Client)", before),
        ("default (urllib3)", theirs),
    ):
        print(
            f"{name:<26}{r.listed:>10.0f}{r.updated:>11.0f}"
            f"{r.list_cpu_ms:>13.3f}{r.update_cpu_ms:>15.3f}"
        )
    print(
        f"ratio httpx/urllib3: list {ours.listed / theirs.listed:.2f}x,"
        f" update {ours.updated / theirs.updated:.2f}x  (target >= 0.80x);"
        f" plain httpx.Client: list {before.listed / theirs.listed:.2f}x,"
        f" update {before.updated / theirs.updated:.2f}x"
    )


if __name__ == "__main__":
    main()

"""Apply benchmark: chainsim's paced, versioned apply vs a seed-style loop, in virtual time.

1. 1,000 rule updates against the fake with the Genesys default limit (300 requests /
   60 s per client): requests sent, 429s received, virtual makespan, the ideal makespan
   (API requests beyond the bucket's initial burst / refill rate) and their ratio.
   Beside it, in the same run, the source tutorial's loop (PUT without `version`, fixed
   2/4/8 s backoff, 3 tries, no pacing) and how many updates it lost; and the same loop
   with `version` added, to show what pacing saves.
2. 100 ms latency per request, no rate limit: `concurrency=8` vs `concurrency=1`.
3. Scale: unthrottled `chainsim apply --bus fake` (the CLI's own runner, with its
   audit log, journal and report) of 2,000 and 8,000 updates: the wall and CPU time of
   each and their ratios (linear is 4; target: 8,000 in under 15 s, ratio <= 4.4),
   beside the machine's load average and this disk's fsync latency, the two things
   besides chainsim's own CPU that wall time depends on.

4. `--contention N`: N seeded atomic runs whose PUTs meet a concurrent writer 90% of
   the time (409s) and whose last update the bus refuses: how many end half-applied.

Run: `python benchmarks/apply.py [--updates N] [--scale 2000,8000] [--only-scale]`.
Everything runs on a VirtualClock, so the virtual-time figures are deterministic; the
scale run measures real wall time.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from chainsim.apply import Orchestrator
from chainsim.audit import GROUP_COMMIT
from chainsim.bus.auth import ClientCredentials
from chainsim.bus.rest import RULES_PATH, RestBus
from chainsim.clock import VirtualClock
from chainsim.deadletter import DeadLetterSink
from chainsim.fakebus import DEFAULT_API_HOST, DEFAULT_LOGIN_HOST, FakeBus
from chainsim.fakebus.faults import FaultPlan
from chainsim.model import ChainLink, ChainPlan, Rule

SINK = "sink"


def inventory(n: int) -> list[dict[str, Any]]:
    """`n` source rules and one sink rule every source will invoke."""
    rules = [
        {
            "id": f"src-{i:05d}",
            "name": f"Source {i}",
            "eventType": "routing.queue.member.added",
            "filters": {"attributes": ["callerId", "queueId"]},
        }
        for i in range(n)
    ]
    rules.append(
        {
            "id": SINK,
            "name": "Sink",
            "eventType": "routing.callback.offered",
            "filters": {"attributes": ["caller", "queueId"]},
        }
    )
    return rules


def plan(n: int) -> ChainPlan:
    """One link per source rule -> sink: `n` rule updates."""
    return ChainPlan(
        links=[
            ChainLink(
                source=f"src-{i:05d}",
                destination=SINK,
                event_type="routing.queue.member.added",
                transform={"caller": "$.metadata.callerId"},
                preserve=["queueId"],
            )
            for i in range(n)
        ]
    )


def linked(fake: FakeBus) -> int:
    """Source rules that invoke the sink."""
    return sum(1 for r in fake.rules() if any(a.rule_id == SINK for a in r.links()))


def run_chainsim(n: int, faults: FaultPlan, concurrency: int = 1) -> dict[str, Any]:
    """chainsim's Orchestrator (pacer, tenacity retries, versioned PUTs) on a fresh fake."""
    clock = VirtualClock()
    fake = FakeBus(clock=clock, faults=faults)
    fake.seed_rules(inventory(n))
    wall = time.perf_counter()
    with fake.mock(), httpx.Client() as http:
        auth = ClientCredentials(
            "chainsim", "chainsim-secret", login_host=DEFAULT_LOGIN_HOST, http=http, clock=clock
        )
        bus = RestBus(http, auth, api_host=DEFAULT_API_HOST, clock=clock)
        result = Orchestrator(bus, clock=clock, concurrency=concurrency).apply(plan(n))
    api = [r for r in fake.requests if r.path.startswith("/api/")]
    return {
        "status": result.status,
        "requests": len(api),
        "429s": sum(1 for r in api if r.status == 429),
        "makespan": clock.now(),
        "lost": n - linked(fake),
        "wall": time.perf_counter() - wall,
    }


def run_seed_style(n: int, faults: FaultPlan, *, with_version: bool) -> dict[str, Any]:
    """The tutorial's loop: PUT (no version), on any error sleep 2/4/8 s, 3 tries, no pacing."""
    clock = VirtualClock()
    fake = FakeBus(clock=clock, faults=faults)
    fake.seed_rules(inventory(n))
    with fake.mock(), httpx.Client(base_url=DEFAULT_API_HOST) as http:
        token = http.post(
            f"{DEFAULT_LOGIN_HOST}/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=("chainsim", "chainsim-secret"),
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        rules = [Rule.model_validate(r) for r in inventory(n)]
        for link, rule in zip(plan(n).links, rules, strict=False):
            body = rule.model_copy(update={"actions": [link.to_action()]}).to_wire()
            if not with_version:
                body.pop("version")
            for delay in (2, 4, 8):
                if http.put(f"{RULES_PATH}/{rule.id}", json=body, headers=headers).is_success:
                    break
                clock.sleep(delay)
    api = [r for r in fake.requests if r.path.startswith("/api/")]
    return {
        "requests": len(api),
        "429s": sum(1 for r in api if r.status == 429),
        "makespan": clock.now(),
        "lost": n - linked(fake),
    }


def run_cli_apply(n: int, workdir: Path) -> dict[str, Any]:
    """`chainsim apply PLAN --bus fake --inventory INV --faults UNTHROTTLED` of `n` updates."""
    try:  # the CLI's runner: chainsim.runners behind the front hall, else chainsim.commands
        from chainsim.runners import ApplyOptions, run_apply
        from chainsim.session import Target as Where
    except ImportError:
        from chainsim.commands import ApplyOptions, run_apply  # type: ignore[no-redef]
        from chainsim.commands import BusOptions as Where  # type: ignore[no-redef]

    workdir.mkdir(parents=True, exist_ok=True)
    inv, plan_file, faults = (workdir / name for name in ("inv.json", "plan.json", "faults.json"))
    inv.write_text(json.dumps(inventory(n)), encoding="utf-8")
    plan_file.write_text(plan(n).model_dump_json(exclude_none=True), encoding="utf-8")
    faults.write_text(json.dumps({"rate_limit": {"requests": 10**9, "per_seconds": 1}}))
    options = Where(bus="fake", inventory=inv, faults=faults)
    apply = ApplyOptions(
        audit=workdir / "audit.jsonl",
        spool=workdir / "spool.jsonl",
        journal=workdir / "journal.json",
        report=workdir / "report.json",
    )
    wall, cpu = time.perf_counter(), time.process_time()
    with contextlib.redirect_stdout(io.StringIO()):  # the table is rendered, not shown
        code = run_apply(plan_file, options, apply)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    report = json.loads((workdir / "report.json").read_text(encoding="utf-8"))
    return {"exit": code, "status": report["status"], "wall": wall, "cpu": cpu}


def contention(runs: int) -> None:
    """Seeded atomic runs under 90% concurrent-writer 409s: how many end half-applied."""
    rules = [
        {
            "id": x,
            "name": x,
            "eventType": f"type.{x}",
            "filters": {"attributes": ["callerId", "queueId"]},
        }
        for x in "abcd"
    ]
    links = [("a", "b"), ("c", "d"), ("b", "c")]  # the third breaks max_depth 2: rollback
    chain = ChainPlan(
        links=[
            ChainLink(source=s, destination=d, event_type=f"type.{s}", preserve=["queueId"])
            for s, d in links
        ]
    )
    ends: dict[str, int] = {}
    half = 0
    for seed in range(runs):
        clock = VirtualClock()
        faults = FaultPlan.model_validate({"seed": seed, "conflicts": {"fraction": 0.9}})
        fake = FakeBus(clock=clock, faults=faults, max_depth=2)
        fake.seed_rules(rules)
        with tempfile.TemporaryDirectory() as tmp, fake.mock(), httpx.Client() as http:
            auth = ClientCredentials(
                "chainsim", "chainsim-secret", login_host=DEFAULT_LOGIN_HOST, http=http, clock=clock
            )
            bus = RestBus(http, auth, api_host=DEFAULT_API_HOST, clock=clock)
            orch = Orchestrator(bus, clock=clock, journal_path=Path(tmp) / "j.json")
            orch.dead_letter = DeadLetterSink(url=None, spool=Path(tmp) / "spool.jsonl")
            result = orch.apply(chain)
        ends[result.status] = ends.get(result.status, 0) + 1
        written = {r.id for r in fake.rules() if r.links()}
        half += bool(written) and result.status != "applied"
    print(f"\n== {runs} seeded atomic runs, 90% of PUTs meet a concurrent writer (409)")
    print(f"final status: {ends}; half-applied buses: {half} (target 0)")


def fsync_latency(where: Path, count: int = 50) -> float:
    """Seconds per append + fsync of one short line in `where` (the benchmark's disk)."""
    path = where / "fsync-probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        start = time.perf_counter()
        for _ in range(count):
            os.write(fd, b"x" * 200 + b"\n")
            os.fsync(fd)
        return (time.perf_counter() - start) / count
    finally:
        os.close(fd)


def scale(sizes: list[int]) -> None:
    """Print the wall time of each CLI apply and the ratio of the last to the first."""
    print(f"\n== scale: unthrottled `chainsim apply --bus fake` (real wall time, {sizes})")
    print(
        "load average before: {:.2f} {:.2f} {:.2f} ({} CPUs)".format(
            *os.getloadavg(), os.cpu_count()
        )
    )
    walls, cpus = [], []
    with tempfile.TemporaryDirectory(prefix="chainsim-bench-") as tmp:
        for n in sizes:
            row = run_cli_apply(n, Path(tmp) / str(n))
            walls.append(row["wall"])
            cpus.append(row["cpu"])
            print(
                f"{n:>7} updates: {row['wall']:7.2f} s wall, {row['cpu']:7.2f} s CPU"
                f"  status {row['status']} (exit {row['exit']})"
            )
        fsync_ms = fsync_latency(Path(tmp)) * 1000
    # Disk waits that CPU time does not show: the journal fsyncs its write-ahead records
    # (begin, the intents of all updates at once, each status), and the audit log is
    # group-committed (fsync + head sidecar every GROUP_COMMIT lines and before anything
    # leaves the process, chainsim/audit.py), so both are a few dozen fsyncs per run,
    # not one per step. On a loaded machine wall minus CPU is mostly waiting for a CPU.
    print(f"this disk: {fsync_ms:.2f} ms per fsync; audit commit every {GROUP_COMMIT} lines")
    print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    if len(walls) > 1:
        expected = sizes[-1] / sizes[0]
        print(
            f"ratio {sizes[-1]}/{sizes[0]}: {walls[-1] / walls[0]:.2f} wall, "
            f"{cpus[-1] / cpus[0]:.2f} CPU "
            f"(linear {expected:g}; target <= {expected * 1.1:g}); "
            + (
                f"target 8000 in < 15 s: {'yes' if walls[-1] < 15 else 'NO'}"
                if sizes[-1] == 8000
                else ""
            )
        )


def main() -> None:
    """Print the comparisons and the scale run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=1000)
    parser.add_argument("--scale", default="2000,8000", help="comma-separated sizes")
    parser.add_argument("--only-scale", action="store_true")
    parser.add_argument("--contention", type=int, default=0, help="seeded 409-storm runs")
    args = parser.parse_args()
    if args.contention:
        contention(args.contention)
        return
    n = args.updates
    sizes = [int(x) for x in args.scale.split(",") if x.strip()]
    if args.only_scale:
        scale(sizes)
        return

    limited = FaultPlan()  # Genesys default: 300 requests / 60 s per client
    capacity, rate = (
        limited.rate_limit.requests,
        limited.rate_limit.requests / limited.rate_limit.per_seconds,
    )
    ours = run_chainsim(n, limited)
    ideal = max(0.0, ours["requests"] - capacity) / rate
    seed = run_seed_style(n, limited, with_version=False)
    seed_v = run_seed_style(n, limited, with_version=True)

    per = limited.rate_limit.per_seconds
    print(f"== {n} rule updates, rate limit {capacity} requests / {per:g} s (virtual time)")
    print(f"{'':34}{'requests':>10}{'429s':>8}{'makespan s':>12}{'lost':>7}")
    for label, row in (
        ("chainsim (paced, versioned)", ours),
        ("seed-style (no version, 2/4/8 s)", seed),
        ("seed-style + version", seed_v),
    ):
        print(
            f"{label:34}{row['requests']:>10}{row['429s']:>8}{row['makespan']:>12.2f}{row['lost']:>7}"
        )
    print(
        f"ideal makespan = ({ours['requests']} - {capacity} burst) / {rate:g} per s = {ideal:.2f} s"
    )
    print(f"chainsim makespan / ideal = {ours['makespan'] / ideal:.4f}   (target <= 1.05)")
    print(f"chainsim 429s / requests = {ours['429s'] / ours['requests']:.4%}   (target <= 1%)")
    print(
        f"chainsim lost updates = {ours['lost']} (target 0); seed-style lost {seed['lost']} of {n}"
    )
    print(f"wall time of the chainsim run: {ours['wall']:.2f} s")

    fast = FaultPlan.model_validate(
        {"latency": {"mean_ms": 100}, "rate_limit": {"requests": 10**9, "per_seconds": 1}}
    )
    one = run_chainsim(n, fast, concurrency=1)
    eight = run_chainsim(n, fast, concurrency=8)
    print(f"\n== {n} rule updates, 100 ms latency, no rate limit (virtual time)")
    speedup = one["makespan"] / eight["makespan"]
    print(f"concurrency 1: {one['makespan']:.2f} s   concurrency 8: {eight['makespan']:.2f} s")
    print(f"speedup {speedup:.2f}x (target >= 6x); lost updates {one['lost']} / {eight['lost']}")
    scale(sizes)


if __name__ == "__main__":
    main()

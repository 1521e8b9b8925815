"""kill -9 during `chainsim apply`, then `apply --resume`: is the bus consistent every time?

A `chainsim fake serve` process holds the org (so its state outlives the killed apply).
Each round resets it to the seeded state, starts `chainsim apply --bus live` against it
(every request delayed by the fake's latency fault, so the run is in flight for a second
or two), waits for the run's journal to appear, kills it with SIGKILL after a further
random delay, then runs `chainsim apply --resume` and reads the fake's state through
`GET /_chainsim/state`.

Consistent means: the resume exits 0 (or there was nothing left to resume because the
apply had finished), and the bus holds every planned link or none of them (atomic),
with no rule holding a partial set. Prints `N kill -9 + --resume -> C consistent`.

    python benchmarks/kill_resume.py [--rounds 50] [--seed 7]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

CHAINS = 12  # independent chains A -> B -> C: 24 updates per apply


def _inventory() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Rules for CHAINS chains of three, and the plan linking each chain."""
    rules, links = [], []
    for c in range(CHAINS):
        ids = [f"chain{c:02d}-{label}" for label in "abc"]
        for rule_id in ids:
            rules.append(
                {
                    "id": rule_id,
                    "name": rule_id,
                    "eventType": "routing.queue.member.added",
                    "enabled": True,
                    "version": 1,
                    "filters": {"attributes": ["conversationId", "queueId"]},
                    "actions": [],
                }
            )
        for source, destination in itertools.pairwise(ids):
            links.append(
                {
                    "source": source,
                    "destination": destination,
                    "event_type": "routing.queue.member.added",
                    "transform": {},
                    "preserve": ["conversationId"],
                }
            )
    return rules, {"max_depth": 5, "links": links}


def _planned(plan: dict[str, Any]) -> set[tuple[str, str]]:
    return {(link["source"], link["destination"]) for link in plan["links"]}


def _links_on_bus(state: dict[str, Any]) -> set[tuple[str, str]]:
    found = set()
    for rule in state.get("rules", []):
        for action in rule.get("actions", []):
            if action.get("type") == "invokeRule":
                found.add((rule["id"], action["ruleId"]))
    return found


def _start_server(workdir: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chainsim.cli",
            "fake",
            "serve",
            "--port",
            "0",
            "--rules",
            "inventory.json",
            "--faults",
            "faults.yaml",
        ],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert server.stdout is not None
    line = server.stdout.readline().strip()
    if not line.startswith("listening on "):
        server.kill()
        raise SystemExit(f"fake serve did not start: {line!r}")
    return server, line.removeprefix("listening on ")


def main() -> int:
    """Run the rounds and print how many ended consistent."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    rules, plan = _inventory()
    planned = _planned(plan)
    base = Path(tempfile.mkdtemp(prefix="chainsim-kill-"))
    (base / "inventory.json").write_text(json.dumps(rules))
    (base / "plan.json").write_text(json.dumps(plan))
    (base / "faults.yaml").write_text("latency: {mean_ms: 40, jitter_ms: 10}\n")
    env = dict(os.environ, GENESYS_CLIENT_ID="chainsim", GENESYS_CLIENT_SECRET="chainsim-secret")
    server, url = _start_server(base, env)
    live = ["--bus", "live", "--api-host", url, "--login-host", url, "--auto-approve"]
    live += ["--dialect", "eventbridge"]  # a live bus is read as triggers unless told
    consistent, killed_mid_run, partial_at_kill, outcomes = 0, 0, 0, []
    try:
        with httpx.Client(base_url=url, timeout=30) as control:
            for round_no in range(args.rounds):
                control.post("/_chainsim/reset").raise_for_status()
                work = base / f"round{round_no:02d}"
                work.mkdir()
                shutil.copy(base / "plan.json", work / "plan.json")
                apply = subprocess.Popen(
                    [sys.executable, "-m", "chainsim.cli", "apply", "plan.json", *live],
                    cwd=work,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                journal = work / ".chainsim" / "journal.json"
                started = time.monotonic()
                while not journal.exists() and apply.poll() is None:
                    if time.monotonic() - started > 60:
                        break
                    time.sleep(0.01)
                time.sleep(rng.uniform(0.0, 1.5))  # somewhere in the run (about 1-2 s long)
                finished_before_kill = apply.poll() is not None
                if not finished_before_kill:
                    apply.send_signal(signal.SIGKILL)
                    killed_mid_run += 1
                apply.wait()
                at_kill = len(_links_on_bus(control.get("/_chainsim/state").json()) & planned)
                partial_at_kill += 0 < at_kill < len(planned)
                resume = subprocess.run(
                    [sys.executable, "-m", "chainsim.cli", "apply", "--resume", *live],
                    cwd=work,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=300,
                )
                state = control.get("/_chainsim/state").json()
                on_bus = _links_on_bus(state) & planned
                whole = on_bus in (set(), planned)
                nothing_to_resume = resume.returncode == 2 and "unfinished" in resume.stderr
                # an apply that finished before the kill must have applied the plan
                finished_ok = not finished_before_kill or apply.returncode == 0
                ok = whole and finished_ok and (resume.returncode == 0 or nothing_to_resume)
                consistent += ok
                outcomes.append(
                    f"round {round_no}: killed={'no' if finished_before_kill else 'yes'} "
                    f"links at kill={at_kill} resume={resume.returncode} "
                    f"links after={len(on_bus)}/{len(planned)} "
                    f"{'ok' if ok else 'INCONSISTENT ' + resume.stderr.strip()[:200]}"
                    f"{'' if finished_ok else f' (apply exited {apply.returncode} unkilled)'}"
                )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        shutil.rmtree(base, ignore_errors=True)
    for line in outcomes:
        print(line)
    print(
        f"{args.rounds} kill -9 + --resume -> {consistent} consistent "
        f"({killed_mid_run} killed mid-run, {partial_at_kill} of them half-applied at the kill)"
    )
    return 0 if consistent == args.rounds else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Hostile inputs through the real CLI: how many end in a traceback, a hang or a raw escape.

Each case writes its files into a fresh temporary directory and runs `chainsim ...` in a
subprocess (the console entry point, `chainsim.cli.main`) with a timeout. It counts:

- a **traceback**: `Traceback (most recent call last)` on stderr, or exit code 1 with an
  exception name and no one-line `chainsim:` message;
- a **hang**: the timeout passed (the process is killed);
- a **raw escape**: an ESC byte that came from the input reached stdout or stderr;
- a **wrong exit**: the exit code is not the one the case expects (2 for bad input).

It prints one line per case that misbehaved and ends with
`N hostile inputs -> T tracebacks, H hangs (E raw escapes, W wrong exits)`; the target
is 0 of each. The holes come from issue 13's adversarial audit: huge integers, deep
nesting, FIFOs, devices, directories, YAML bombs, control characters, 5 MB ids,
wrongly typed spool lines, bad audit logs, an unparseable JSONPath given to `apply`.

Run: `python benchmarks/hostile.py [--timeout SECONDS] [--only SUBSTRING]`
(exit status 1 when any traceback, hang, raw escape or wrong exit occurred).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RULES: list[dict[str, Any]] = [
    {"id": "a", "eventType": "t.a", "filters": {"attributes": ["x"]}},
    {"id": "b", "eventType": "t.a"},
]
PLAN = "links: [{source: a, destination: b, event_type: t.a, preserve: [x]}]\n"
EVENT = {"eventType": "t.a", "metadata": {"x": 1}}
BIG_INT = "9" * 5000
DEEP_JSON = "[" * 100_000 + "]" * 100_000
DEEP_YAML = "links: " + "[" * 5000 + "]" * 5000 + "\n"
BOMB = "\n".join(
    ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    + [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]" for i in range(8)]
)
FIVE_MB = "r" * 5_000_000
LETTER = {
    "rule_id": "b",
    "payload": {"id": "b", "eventType": "t.a"},
    "status": 422,
    "code": "bad",
    "message": "m",
    "trace_id": "run:b",
    "timestamp": "2026-01-01T00:00:00.000+00:00",
}


def fifo(path: Path) -> None:
    """Make a FIFO at `path` (nobody ever writes to it)."""
    os.mkfifo(path)


@dataclass
class Case:
    """One hostile input: files to write, the CLI arguments, the exit code expected."""

    name: str
    args: list[str]
    files: dict[str, str | bytes | Callable[[Path], None]] = field(default_factory=dict)
    expect: int = 2


def _ctl_rules() -> str:
    return json.dumps([RULES[0], {"id": "b\x1b[2J", "eventType": "t.a"}])


BAD_PATH_PLAN = "links: [{source: a, destination: b, event_type: t.a, transform: {y: '$.[[['}}]\n"
CTL_PLAN = 'links: [{source: a, destination: "b\\e[2J", event_type: t.a, preserve: [x]}]\n'
BIG_PLAN = f"links: [{{source: {FIVE_MB}, destination: b, event_type: t.a, preserve: [x]}}]\n"
BIG_RULES = json.dumps([{**RULES[0], "id": FIVE_MB}, RULES[1]])
FAKE = ["--bus", "fake", "--inventory", "inv.json"]
SIM = ["--inventory", "inv.json", "--event", "event.json"]


def cases() -> list[Case]:
    """Every hostile input, with what it should give."""
    v = ["validate", "p.yaml", "--inventory", "inv.json"]
    return [
        # special files as a plan, an inventory, an event, a faults file, a rules file
        Case("plan is /dev/zero", ["validate", "/dev/zero", "--inventory", "inv.json"]),
        Case("plan is /dev/urandom", ["validate", "/dev/urandom", "--inventory", "inv.json"]),
        Case("plan is a FIFO", v, {"p.yaml": fifo}),
        Case("plan is a directory", v, {"p.yaml": lambda p: p.mkdir()}),
        Case("plan is missing", ["validate", "nope.yaml", "--inventory", "inv.json"]),
        Case("inventory is a FIFO", v, {"p.yaml": PLAN, "inv.json": fifo}),
        Case("inventory is /dev/zero", ["validate", "p.yaml", "--inventory", "/dev/zero"]),
        Case("event is a FIFO", ["simulate", "p.yaml", *SIM], {"event.json": fifo}),
        Case("faults is a FIFO", ["plan", "p.yaml", *FAKE, "--faults", "f.yaml"], {"f.yaml": fifo}),
        Case("fake serve --rules FIFO", ["fake", "serve", "--rules", "r.json"], {"r.json": fifo}),
        Case(
            "triggers inventory is a FIFO",
            ["plan", "p.yaml", *FAKE, "--dialect", "triggers"],
            {"inv.json": fifo},
        ),
        Case("plan over the size limit", v, {"p.yaml": lambda p: os.truncate(_touch(p), 65 << 20)}),
        # integers and nesting
        Case("huge max_depth (YAML)", v, {"p.yaml": f"max_depth: {BIG_INT}\n"}),
        Case(
            "huge max_depth (JSON)",
            ["validate", "p.json", "--inventory", "inv.json"],
            {"p.json": f'{{"max_depth": {BIG_INT}}}'},
        ),
        Case(
            "huge faults seed",
            ["plan", "p.yaml", *FAKE, "--faults", "f.yaml"],
            {"f.yaml": f"seed: {BIG_INT}\n"},
        ),
        Case("huge hex int", v, {"p.yaml": "max_depth: 0x" + "f" * 5000 + "\n"}),
        Case(
            "huge rule version",
            v,
            {"inv.json": json.dumps(RULES)[:-2] + f', "version": {BIG_INT}}}]'},
        ),
        Case(
            "huge event value",
            ["simulate", "p.yaml", *SIM],
            {"event.json": f'{{"eventType": "t.a", "metadata": {{"x": {BIG_INT}}}}}'},
        ),
        Case(
            "deep plan (JSON)",
            ["validate", "p.json", "--inventory", "inv.json"],
            {"p.json": DEEP_JSON},
        ),
        Case("deep plan (YAML)", v, {"p.yaml": DEEP_YAML}),
        Case("deep inventory", v, {"inv.json": DEEP_JSON}),
        Case(
            "deep event",
            ["simulate", "p.yaml", *SIM],
            {"event.json": '{"eventType": "t.a", "metadata": ' + DEEP_JSON + "}"},
        ),
        Case("YAML bomb", v, {"p.yaml": BOMB + "\nlinks: *i\n"}),
        Case("self-referencing alias", v, {"p.yaml": "links: &a [*a]\n"}),
        Case("duplicate keys", v, {"p.yaml": "links: []\nlinks: []\n"}),
        Case("binary plan", v, {"p.yaml": b"\xff\xfe\x00\x01"}),
        Case(
            "huge rate",
            ["capacity", "p.yaml", "--inventory", "inv.json", "--rate", f"t.a={BIG_INT}"],
        ),
        # control characters and huge ids in text output
        Case(
            "ESC in ids: plan",
            ["plan", "p.yaml", "--inventory", "inv.json"],
            {"p.yaml": CTL_PLAN, "inv.json": _ctl_rules()},
            0,
        ),
        Case(
            "ESC in ids: simulate",
            ["simulate", "p.yaml", *SIM],
            {"p.yaml": CTL_PLAN, "inv.json": _ctl_rules()},
            0,
        ),
        Case("ESC in ids: validate", v, {"p.yaml": CTL_PLAN, "inv.json": _ctl_rules()}, 0),
        Case(
            "ESC in ids: apply",
            ["apply", "p.yaml", *FAKE],
            {"p.yaml": CTL_PLAN, "inv.json": _ctl_rules()},
            0,
        ),
        Case(
            "5 MB id: plan",
            ["plan", "p.yaml", "--inventory", "inv.json"],
            {"p.yaml": BIG_PLAN, "inv.json": BIG_RULES},
            0,
        ),
        Case(
            "5 MB id: simulate",
            ["simulate", "p.yaml", *SIM],
            {"p.yaml": BIG_PLAN, "inv.json": BIG_RULES},
            0,
        ),
        Case("5 MB id: validate", v, {"p.yaml": BIG_PLAN, "inv.json": BIG_RULES}, 0),
        # JSONPath and empty plans
        Case(
            "unparseable JSONPath to apply",
            ["apply", "p.yaml", *FAKE],
            {"p.yaml": BAD_PATH_PLAN},
        ),
        Case(
            "empty JSON plan", ["validate", "p.json", "--inventory", "inv.json"], {"p.json": ""}, 0
        ),
        Case("empty YAML plan", v, {"p.yaml": ""}, 0),
        # the dead-letter spool
        *(
            Case(
                f"spool {what}: dlq {cmd}",
                ["dlq", cmd, "--spool", "s.jsonl", *extra],
                {"s.jsonl": text},
            )
            for cmd, extra in (("list", []), ("redrive", FAKE))
            for what, text in (
                ("wrong types", json.dumps({**LETTER, "rule_id": ["x"], "status": "500"}) + "\n"),
                ("deep nesting", DEEP_JSON + "\n"),
                ("huge int", json.dumps(LETTER)[:-1] + f', "status": {BIG_INT}}}\n'),
                ("not JSON", "{oops\n"),
                ("is a FIFO", fifo),
                ("is a directory", lambda p: p.mkdir()),
            )
        ),
        Case("spool missing", ["dlq", "list", "--spool", "missing.jsonl"]),
        Case(
            "spool ESC in rule id",
            ["dlq", "list", "--spool", "s.jsonl"],
            {"s.jsonl": json.dumps({**LETTER, "rule_id": "x\x1b[2J"}) + "\n"},
            0,
        ),
        # the audit log
        Case("audit verify DIR", ["audit", "verify", "d"], {"d": lambda p: p.mkdir()}),
        Case("audit verify FIFO", ["audit", "verify", "a.jsonl"], {"a.jsonl": fifo}),
        Case("audit verify /dev/zero", ["audit", "verify", "/dev/zero"]),
        Case("audit verify non-audit file", ["audit", "verify", "inv.json"]),
        Case(
            "audit verify deep nesting",
            ["audit", "verify", "a.jsonl"],
            {"a.jsonl": DEEP_JSON + "\n"},
        ),
        Case(
            "audit verify huge int",
            ["audit", "verify", "a.jsonl"],
            {"a.jsonl": '{"seq": ' + BIG_INT + "}\n"},
        ),
        Case("audit verify binary", ["audit", "verify", "a.jsonl"], {"a.jsonl": b"\xff\xfe\x00\n"}),
        Case(
            "audit verify bad sidecar",
            ["audit", "verify", "a.jsonl"],
            {"a.jsonl": "", "a.jsonl.head": DEEP_JSON},
        ),
        Case(
            "audit --head garbage",
            ["audit", "verify", "a.jsonl", "--head", "\x1b[2J"],
            {"a.jsonl": ""},
            1,
        ),
    ]


def _touch(path: Path) -> Path:
    path.touch()
    return path


@dataclass(frozen=True)
class Outcome:
    """What one case did."""

    case: Case
    code: int | None
    seconds: float
    traceback: bool
    hang: bool
    raw_escape: bool

    @property
    def wrong_exit(self) -> bool:
        """The exit code is not the one expected (a hang is counted as a hang only)."""
        return not self.hang and self.code != self.case.expect


def run(case: Case, timeout: float) -> Outcome:
    """Write the case's files into a fresh directory and run the CLI there."""
    with tempfile.TemporaryDirectory(prefix="chainsim-hostile-") as tmp:
        work = Path(tmp)
        defaults: dict[str, str | bytes | Callable[[Path], None]] = {
            "inv.json": json.dumps(RULES),
            "p.yaml": PLAN,
            "event.json": json.dumps(EVENT),
        }
        for name, content in {**defaults, **case.files}.items():
            target = work / name
            if callable(content):
                content(target)
            elif isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content, encoding="utf-8")
        command = [sys.executable, "-c", "from chainsim.cli import main; main()", *case.args]
        started = time.perf_counter()
        try:
            done = subprocess.run(
                command, cwd=work, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL
            )
        except subprocess.TimeoutExpired:
            return Outcome(case, None, time.perf_counter() - started, False, True, False)
        seconds = time.perf_counter() - started
    err = done.stderr.decode("utf-8", "replace")
    traceback = "Traceback (most recent call last)" in err or (
        done.returncode == 1 and "Error" in err and not err.startswith("chainsim:")
    )
    raw_escape = b"\x1b[2J" in done.stdout or b"\x1b[2J" in done.stderr
    return Outcome(case, done.returncode, seconds, traceback, False, raw_escape)


def main() -> int:
    """Run every case; print the misbehaving ones and the totals."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per case")
    parser.add_argument("--only", default="", help="run only cases whose name contains this")
    options = parser.parse_args()
    selected = [case for case in cases() if options.only in case.name]
    outcomes = []
    for case in selected:
        outcome = run(case, options.timeout)
        outcomes.append(outcome)
        problems = [
            label
            for label, bad in (
                ("TRACEBACK", outcome.traceback),
                ("HANG", outcome.hang),
                ("RAW ESCAPE", outcome.raw_escape),
                (f"exit {outcome.code}, expected {case.expect}", outcome.wrong_exit),
            )
            if bad
        ]
        if problems:
            print(f"{case.name}: {', '.join(problems)} ({outcome.seconds:.1f} s)")
    tracebacks = sum(o.traceback for o in outcomes)
    hangs = sum(o.hang for o in outcomes)
    escapes = sum(o.raw_escape for o in outcomes)
    wrong = sum(o.wrong_exit for o in outcomes)
    slowest = max(outcomes, key=lambda o: o.seconds, default=None)
    print(
        f"{len(outcomes)} hostile inputs -> {tracebacks} tracebacks, {hangs} hangs "
        f"({escapes} raw escapes, {wrong} wrong exits)"
        + (f"; slowest {slowest.case.name!r} {slowest.seconds:.1f} s" if slowest else "")
    )
    return 1 if tracebacks or hangs or escapes or wrong else 0


if __name__ == "__main__":
    sys.exit(main())

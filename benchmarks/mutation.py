"""Mutation score per module: `mutmut run` then `mutmut results`, one module at a time.

    python benchmarks/mutation.py [--max-children N] [--survivors | --report] [--min PCT]
                                  [MODULE...]

MODULE is a module of `chainsim` (`transform`, `retry`, ...); without one, every module
listed in DEFAULT that exists is measured. Configuration is `[tool.mutmut]` in
pyproject.toml; mutmut works in `mutants/` (git-ignored). The first run collects
which tests cover which function (one pass over the selected tests); later runs reuse
it. Prints, per module, `module: killed/total = score%` (mutmut's own score: killed and
timed-out mutants over all but skipped ones) and the names of the survivors (see one
with `mutmut show NAME`). `--survivors` re-runs only the mutants that survived last
time (fast, after adding tests); `--report` runs nothing and prints the recorded
results (e.g. after `mutmut run NAME...` re-ran chosen mutants by hand). Exit 1 when a
module scores below `--min` (default 90).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = (
    "transform",
    "retry",
    "audit",
    "deadletter",
    "simulate",
    "graph",
    "validate",
    "plan",
    "apply",
    "journal",
    "converge",
    "rollback",
    "resume",
    "workers",
    "dispatch",
)
DETECTED = {"killed", "timeout"}


@dataclass
class Score:
    """One module's mutants by status."""

    module: str
    statuses: dict[str, str] = field(default_factory=dict)

    @property
    def counts(self) -> Counter[str]:
        """How many mutants have each status."""
        return Counter(self.statuses.values())

    @property
    def killed(self) -> int:
        """Mutants a test detected (failed or timed out)."""
        return sum(self.counts[s] for s in DETECTED)

    @property
    def total(self) -> int:
        """Mutants counted in the score (all but skipped)."""
        return len(self.statuses) - self.counts["skipped"]

    @property
    def score(self) -> float:
        """killed / total, in percent."""
        return 100.0 * self.killed / self.total if self.total else 100.0

    def survivors(self) -> list[str]:
        """Names of the mutants no test detected."""
        return sorted(n for n, s in self.statuses.items() if s not in DETECTED | {"skipped"})


def _env() -> dict[str, str]:
    """The environment for mutmut: no PYTHONPATH, so only `mutants/` supplies chainsim."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return env


def _mutmut(*args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("mutmut")
    cmd = [str(exe) if exe.exists() else "mutmut", *args]
    return subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, check=False)


def results(module: str) -> Score:
    """The last recorded status of every mutant of `chainsim.<module>`."""
    out = _mutmut("results", "--all", "true").stdout
    prefix = f"chainsim.{module}."
    score = Score(module)
    for line in out.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep and name.startswith(prefix):
            score.statuses[name] = status
    return score


def run(module: str, max_children: int, survivors_only: bool) -> Score:
    """Run mutmut on one module (or its last survivors) and return its results."""
    names = [f"chainsim.{module}.*"]
    if survivors_only:
        names = results(module).survivors()
        if not names:
            return results(module)
    proc = _mutmut("run", "--max-children", str(max_children), *names)
    log = ROOT / "mutants" / f"mutation-{module}.log"
    log.parent.mkdir(exist_ok=True)
    log.write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
        print(f"{module}: mutmut failed (exit {proc.returncode}), see {log}", file=sys.stderr)
        print("\n".join(tail), file=sys.stderr)
    return results(module)


def main(argv: list[str] | None = None) -> int:
    """Measure each module and print `module: killed/total = score%`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", metavar="MODULE")
    parser.add_argument("--max-children", type=int, default=2)
    parser.add_argument("--survivors", action="store_true", help="re-run last survivors only")
    parser.add_argument("--report", action="store_true", help="print recorded results, run nothing")
    parser.add_argument("--min", type=float, default=90.0, help="lowest passing score (%%)")
    args = parser.parse_args(argv)
    modules = args.modules or [m for m in DEFAULT if (ROOT / "chainsim" / f"{m}.py").exists()]
    low = False
    for module in modules:
        if not (ROOT / "chainsim" / f"{module}.py").exists():
            print(f"{module}: no such module chainsim/{module}.py", file=sys.stderr)
            return 2
        # --report: what mutmut recorded, nothing run
        score = results(module) if args.report else run(module, args.max_children, args.survivors)
        counts = ", ".join(f"{n} {s}" for s, n in sorted(score.counts.items()))
        print(f"{module}: {score.killed}/{score.total} = {score.score:.1f}%  ({counts})")
        for name in score.survivors():
            print(f"    {name}: {score.statuses[name]}")
        sys.stdout.flush()
        low = low or score.score < args.min
    return 1 if low else 0


if __name__ == "__main__":
    sys.exit(main())

"""Redrive and forward the dead-letter spool without ever breaking a run's atomicity.

Letters are grouped by the run they came from. A letter of an atomic run
(`atomic: true`, with a `run_id`) is never re-attempted alone: that run was rolled
back, so re-applying one of its rules would leave part of a chain live. Instead the
run's whole plan (kept at the letter's `plan_file`, checked against `plan_digest`) is
applied again through the orchestrator's normal, atomic apply: the bus ends with the
whole chain or none of it. A restore that failed during that run's rollback is
redriven first; if it fails again the run is not re-applied (nothing would be left
consistent). When the plan cannot be found or has changed, the run is refused with
one line and its letters stay in the spool. Letters of non-atomic runs (and letters
from before run ids existed) are re-attempted one by one, as each stands alone.

`forward` POSTs spooled letters to the dead-letter URL and removes only those it
delivered.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from chainsim.deadletter import DeadLetter, bytes_digest, post_letter, run_plan_path
from chainsim.model import ChainPlan

if TYPE_CHECKING:
    from chainsim.apply import Orchestrator


@dataclass
class RedriveLine:
    """What happened to one letter, or to one atomic run's whole plan."""

    subject: str  # "rule" or "run"
    key: str  # the rule id or the run id
    name: str
    outcome: str  # applied | unchanged | failed | refused | delivered | kept
    letters: list[DeadLetter]
    detail: str = ""


@dataclass
class RedriveReport:
    """Every line of a redrive (or forward) and the letters it cleared from the spool."""

    lines: list[RedriveLine] = field(default_factory=list)
    cleared: list[DeadLetter] = field(default_factory=list)
    total: int = 0
    replaced: int = 0  # cleared letters whose run failed again and left letters of its own

    @property
    def kept(self) -> int:
        """How many of the letters read are still in the spool as they were."""
        return self.total - len(self.cleared)

    @property
    def ok(self) -> bool:
        """True when every letter and run went through (nothing is owed any more)."""
        return all(line.outcome in DONE for line in self.lines)


DONE = ("applied", "unchanged", "delivered")


def group_by_run(
    letters: list[DeadLetter],
) -> tuple[list[DeadLetter], dict[str, list[DeadLetter]]]:
    """Letters that stand alone, and atomic runs' letters by run id (both in spool order)."""
    alone: list[DeadLetter] = []
    runs: dict[str, list[DeadLetter]] = {}
    for letter in letters:
        if letter.atomic and letter.run_id:
            runs.setdefault(letter.run_id, []).append(letter)
        else:
            alone.append(letter)
    return alone, runs


def load_run_plan(spool: Path, run_id: str, letters: list[DeadLetter]) -> ChainPlan | str:
    """The whole plan of run `run_id`, or one line saying why it cannot be trusted.

    Looked for at the letters' `plan_file`, then at `<spool dir>/runs/<run_id>.plan.json`;
    its bytes must match the letters' `plan_digest`.
    """
    digest = next((x.plan_digest for x in letters if x.plan_digest), None)
    recorded = next((x.plan_file for x in letters if x.plan_file), None)
    if digest is None:
        return "its plan was not recorded (a letter from before run plans were kept)"
    places = [Path(recorded)] if recorded else []
    places.append(run_plan_path(spool, run_id))
    for place in places:
        try:
            data = place.read_bytes()
        except OSError:
            continue
        if bytes_digest(data) != digest:
            return f"its plan {place} changed since the run (digest differs)"
        try:
            return ChainPlan.model_validate(json.loads(data))
        except ValueError:
            return f"its plan {place} is not a chain plan"
    return f"its plan {places[-1]} is missing"


def redrive(
    orchestrator: Orchestrator, spool: Path, letters: list[DeadLetter], *, rehearsal: bool = False
) -> RedriveReport:
    """Redrive `letters` (read from `spool`) through `orchestrator` (atomic, on the bus).

    An atomic run's letters are cleared only when its whole plan applied (or its new
    failure left letters of its own in their place); a lone letter only when it applied.
    `rehearsal` only changes the wording (the caller keeps the spool as it is).
    """
    report = RedriveReport(total=len(letters))
    alone, runs = group_by_run(letters)
    for letter, outcome in orchestrator.redrive(alone) if alone else []:
        detail = outcome.reason or outcome.error or ""
        report.lines.append(
            RedriveLine("rule", letter.rule_id, letter.name, outcome.outcome, [letter], detail)
        )
        if outcome.outcome == "applied":
            report.cleared.append(letter)
    for run_id, group in runs.items():
        line = _redrive_run(orchestrator, spool, run_id, group, report, rehearsal)
        report.lines.append(line)
    return report


def _redrive_run(
    orchestrator: Orchestrator,
    spool: Path,
    run_id: str,
    group: list[DeadLetter],
    report: RedriveReport,
    rehearsal: bool = False,
) -> RedriveLine:
    """One atomic run: finish its rollback, then apply its whole plan atomically."""
    line = RedriveLine("run", run_id, "", "refused", group)
    plan = load_run_plan(spool, run_id, group)
    if isinstance(plan, str):
        line.detail = f"{plan}; not redriven (a part alone would break atomicity)"
        return line
    line.name = f"{len(plan.links)} link(s)"
    restores = [x for x in group if x.operation == "restore"]
    if restores:
        results = orchestrator.redrive(restores)
        undone = [x for x, outcome in results if outcome.outcome != "applied"]
        report.cleared.extend(x for x, outcome in results if outcome.outcome == "applied")
        if undone:
            line.outcome = "failed"
            line.detail = f"{len(undone)} restore(s) failed again; the plan was not re-applied"
            return line
    previous = orchestrator.atomic
    orchestrator.atomic = True
    try:
        result = orchestrator.apply(plan)
    finally:
        orchestrator.atomic = previous
    line.outcome = result.status
    failed = [row for row in result.rules if row.reason or row.error]
    if failed:
        row = failed[0]
        line.detail = f"{row.name or row.id}: {row.reason or row.error}"
    rest = [x for x in group if x.operation != "restore"]
    if result.ok:
        report.cleared.extend(rest)
    elif result.dead_letters:  # the new run's own letters (run id, plan) replace these
        report.cleared.extend(rest)
        report.replaced += len(rest)
        left = "would leave" if rehearsal else "left"
        line.detail += f"; the new run {result.run_id} {left} its own letters in their place"
    return line


def forward(
    letters: list[DeadLetter],
    spool: Path,
    *,
    url: str | None,
    http: httpx.Client | None = None,
    secret_of: Callable[[str], str | None] | None = None,
    timeout: float = 10.0,
) -> RedriveReport:
    """POST each letter to `url` (else its run plan's `dead_letter.url`); clear the delivered.

    The POST is signed like the run's own dead letters when the run plan names a
    `dead_letter.secret_env` that `secret_of(name)` finds set (`session.Environment().get`).
    """
    report = RedriveReport(total=len(letters))
    plans: dict[str, ChainPlan | str] = {}
    for letter in letters:
        target, secret = url, None
        plan: Any = None
        if letter.run_id:
            key = letter.run_id
            if key not in plans:
                plans[key] = load_run_plan(spool, key, [letter])
            plan = plans[key]
        dead = plan.dead_letter if isinstance(plan, ChainPlan) else None
        if dead is not None:
            target = target or dead.url
            if dead.secret_env and secret_of is not None:
                secret = secret_of(dead.secret_env) or None
        line = RedriveLine("rule", letter.rule_id, letter.name, "kept", [letter])
        if not target:
            line.detail = "no dead-letter URL (give --url)"
        else:
            error = post_letter(letter, target, http=http, timeout=timeout, secret=secret)
            if error is None:
                line.outcome, line.detail = "delivered", target
                report.cleared.append(letter)
            else:
                line.detail = f"{target}: {error}"
        report.lines.append(line)
    return report

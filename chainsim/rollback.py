"""Rollback: restore every applied rule to its pre-apply snapshot, newest first.

A restore reads the rule as it is now and puts back only the fields chainsim changed
(`overlay` of the snapshot), so a concurrent writer's other edits survive. On 409 it
re-reads and re-merges until it lands or its deadline (`deadline` seconds on the clock,
per rule) passes; see `chainsim.converge`. A restore fails for good only when the rule
was deleted or made unwritable by someone else (or the deadline passed): the run is
then `failed` (half-applied) and the failure becomes a dead letter saying so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from chainsim.bus.base import BusError
from chainsim.converge import Converger, Failed, refused, transient
from chainsim.journal import Applied
from chainsim.plan import overlay
from chainsim.results import RuleOutcome, Status

DEFAULT_RESTORE_DEADLINE = 300.0  # seconds per restore, on the run's clock

AuditHook = Callable[..., None]


@dataclass
class Rollback:
    """The rollback step of one run."""

    converger: Converger
    audit: AuditHook
    deadline: float = DEFAULT_RESTORE_DEADLINE

    def run(
        self, applied: list[Applied], outcomes: dict[str, RuleOutcome]
    ) -> tuple[Status, list[tuple[str, Failed]]]:
        """Restore `applied` newest first: (`rolled_back` or `failed`, the restores that failed)."""
        self.audit("rollback", rules=len(applied))
        failures: list[tuple[str, Failed]] = []
        for item in reversed(applied):
            row = outcomes.setdefault(
                item.rule_id, RuleOutcome(item.rule_id, version_before=item.base.version)
            )
            try:
                stored = self.restore(item, row)
            except Failed as failure:
                row.outcome, row.error = "rollback_failed", str(failure.error)
                failures.append((item.rule_id, failure))
                self.audit("restore", rule=item.rule_id, ok=False, error=str(failure.error))
                continue
            row.outcome, row.version_after = "rolled_back", stored.version
            self.converger.journal.restored(item.rule_id)
            self.audit("restore", rule=item.rule_id, ok=True, version_after=stored.version)
        if failures or not applied:
            return "failed", failures
        return "rolled_back", failures

    def restore(self, item: Applied, row: RuleOutcome) -> Any:
        """Put `item`'s snapshot fields back; re-merge on 409 until landed or the deadline."""
        conv = self.converger
        deadline = conv.clock.now() + self.deadline
        rng = conv.retry.rng(item.rule_id)
        try:
            current = conv.read(item.rule_id, rng, deadline)
        except BusError as exc:
            error = exc if transient(exc) else refused(exc)
            raise Failed(error, item.base, item.fields) from None
        restore = partial(overlay, source=item.base, fields=item.fields)
        stored, _ = conv.converge(current, restore, row, deadline=deadline)
        return stored


def half_applied(outcomes: dict[str, RuleOutcome]) -> str | None:
    """The report's error when a rollback left rules changed: which, and why."""
    stuck = [row for row in outcomes.values() if row.outcome == "rollback_failed"]
    if not stuck:
        return None
    named = "; ".join(f"{row.id}: {row.error}" for row in stuck)
    return f"half-applied: {len(stuck)} rule(s) could not be restored ({named})"

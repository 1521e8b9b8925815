"""What one apply run produced: a row per rule and the run's result (the DESIGN §9 report)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from chainsim.plan import ChangeSet

Status = Literal["applied", "unchanged", "rolled_back", "partial", "failed"]


@dataclass
class RuleOutcome:
    """What happened to one rule in a run (one row of the report's `rules`)."""

    id: str
    outcome: str = "pending"
    attempts: int = 0
    version_before: int | None = None
    version_after: int | None = None
    error: str | None = None
    name: str = ""
    reason: str | None = None  # why it failed: `422 chain.too.deep: <the bus's message>`

    def to_json(self) -> dict[str, Any]:
        """`{"id", "outcome", "attempts", "version_before", "version_after"[, "name",
        "error", "reason"]}`."""
        out: dict[str, Any] = {
            "id": self.id,
            "outcome": self.outcome,
            "attempts": self.attempts,
            "version_before": self.version_before,
            "version_after": self.version_after,
        }
        if self.name:
            out["name"] = self.name
        if self.error:
            out["error"] = self.error
        if self.reason:
            out["reason"] = self.reason
        return out


def failure_reason(status: int | None, code: str | None, message: str) -> str:
    """A failure as one short line: HTTP status, Genesys error code, the bus's message.

    Genesys error bodies carry `status`, `code` and `message` (the SDK's `ErrorBody`
    model: PureCloudPlatformClientV2/models/error_body.py), e.g. `422 chain.too.deep: ...`.
    """
    head = " ".join(part for part in (str(status) if status else "", code or "") if part)
    return f"{head}: {message}" if head else message


@dataclass
class ApplyResult:
    """The result of one run; `to_report()` is the apply report of DESIGN §9."""

    run_id: str
    status: Status
    rules: list[RuleOutcome]
    metrics: dict[str, Any]
    dead_letters: int = 0
    findings: list[dict[str, Any]] = field(default_factory=list)
    changes: ChangeSet | None = None
    callback: dict[str, Any] | None = None
    audit_head: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True for `applied` and `unchanged`."""
        return self.status in ("applied", "unchanged")

    def to_report(self) -> dict[str, Any]:
        """The DESIGN §9 report: status, rules, metrics, dead_letters (+ run id, findings...)."""
        report: dict[str, Any] = {
            "run_id": self.run_id,
            "status": self.status,
            "rules": [r.to_json() for r in self.rules],
            "metrics": self.metrics,
            "dead_letters": self.dead_letters,
        }
        if self.findings:
            report["findings"] = self.findings
        if self.error:
            report["error"] = self.error
        if self.callback is not None:
            report["callback"] = self.callback
        if self.audit_head is not None:
            report["audit_head"] = self.audit_head
        return report

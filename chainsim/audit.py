"""A tamper-evident audit log: JSONL, one line per step, each line chained to the last.

Every line carries `prev`, the SHA-256 of the previous line's exact bytes (the first
line of a file carries `GENESIS`), and `digest`, the SHA-256 of its own canonical body.
`verify` names the first line where the chain breaks, so an edit, a deletion, an
insertion or a reorder anywhere is found. (Cutting lines off the *end* leaves a valid
shorter chain; the run report and the callback carry the head hash to compare against.)
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from chainsim.clock import Clock

GENESIS = "0" * 64


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _canonical(entry: dict[str, Any]) -> str:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _digest(entry: dict[str, Any]) -> str:
    body = {k: v for k, v in entry.items() if k != "digest"}
    return _sha(_canonical(body).encode("utf-8"))


class AuditLog:
    """Appends chained lines to a JSONL file (continuing the chain of an existing file)."""

    def __init__(self, path: str | Path, *, clock: Clock | None = None) -> None:
        self.path = Path(path)
        self.clock = clock
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._prev, self._seq = GENESIS, 0
        if self.path.exists():
            last = b""
            count = 0
            with self.path.open("rb") as handle:
                for raw in handle:
                    if raw.strip():
                        last, count = raw.rstrip(b"\r\n"), count + 1
            if last:
                self._prev, self._seq = _sha(last), count
        self.run_lines: list[dict[str, Any]] = []

    @property
    def head(self) -> str:
        """SHA-256 of the last line written (GENESIS for an empty log)."""
        with self._lock:
            return self._prev

    def append(self, step: str, **data: Any) -> dict[str, Any]:
        """Write one step with its data; returns the entry as written."""
        with self._lock:
            self._seq += 1
            entry: dict[str, Any] = {
                "seq": self._seq,
                "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                "clock": round(self.clock.now(), 6) if self.clock is not None else None,
                "step": step,
                "data": data,
                "prev": self._prev,
            }
            entry["digest"] = _digest(entry)
            line = _canonical(entry)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(line + "\n")
                handle.flush()
            self._prev = _sha(line.encode("utf-8"))
            self.run_lines.append(entry)
            return entry

    def __repr__(self) -> str:
        return f"AuditLog({str(self.path)!r})"


@dataclass(frozen=True)
class AuditVerification:
    """The result of `verify`: ok, lines checked, and the first broken line (1-based)."""

    ok: bool
    lines: int
    first_broken: int | None = None
    reason: str = ""
    head: str = GENESIS

    def __str__(self) -> str:
        if self.ok:
            return f"intact: {self.lines} lines, head {self.head}"
        return f"broken at line {self.first_broken}: {self.reason}"


def _check(raw: bytes, number: int, prev: str) -> str | None:
    """Why line `number` breaks the chain after a line hashing to `prev`, or None."""
    try:
        entry = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return "not a JSON line"
    if not isinstance(entry, dict) or not {"seq", "prev", "digest", "step"} <= entry.keys():
        return "not an audit entry"
    if entry.get("digest") != _digest(entry) or _canonical(entry).encode("utf-8") != raw:
        return "the line was edited (its digest does not match its content)"
    if entry["prev"] != prev:
        return "the line does not follow the previous line (deleted, inserted or reordered)"
    if entry["seq"] != number:
        return f"sequence number {entry['seq']} where {number} was expected"
    return None


def verify(path: str | Path) -> AuditVerification:
    """Check the whole chain of an audit file; name the first line that breaks it."""
    raw_lines = Path(path).read_bytes().split(b"\n")
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()
    prev = GENESIS
    for number, line in enumerate(raw_lines, start=1):
        raw = line.rstrip(b"\r")
        reason = _check(raw, number, prev)
        if reason is not None:
            return AuditVerification(False, len(raw_lines), number, reason, prev)
        prev = _sha(raw)
    return AuditVerification(True, len(raw_lines), None, "", prev)

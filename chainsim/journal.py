"""The resume journal: an append-only JSONL write-ahead log of one apply run.

Each line is one record, written once and never rewritten:

    {"k": "begin", "version": 3, "run_id": ..., "atomic": ..., "plan": {...}}
    {"k": "writing", "id": ..., "base": {...}, "fields": [...], "target": {...}}
    {"k": "applied", "id": ...[, "base": {...}, "fields": [...]]}  (base: when not
        the one of the rule's last `writing` record)
    {"k": "failed" | "restoring" | "restored", "id": ...}
    {"k": "status", "status": "applying" | "rolling_back" | <final status>}

`load()` replays the lines into the same picture a run had in memory (status, the
order of applied rules, one entry per rule), so `resume()` reads it exactly as before.
Every record costs O(1): one `os.write` of one line to a file opened with `O_APPEND`.

fsync policy (what survives what):
- Every record reaches the kernel before its method returns (one `write` call on an
  unbuffered descriptor), so a killed process (`kill -9`, a crash) never loses a
  record that was acknowledged.
- Write-ahead records survive a power loss too: `begin` and every `status` are
  fsync'd before the method returns; the `writing` records of every planned update
  (`intend`) are written and fsync'd together, once, before the first PUT; a PUT whose
  target differs from its intent (a re-merge after a 409) gets its own `writing`
  record, fsync'd before the PUT. Concurrent workers share fsyncs (group commit): a
  thread whose record an fsync in flight already covered does not start another one.
- `applied`, `failed`, `restoring` and `restored` marks are not fsync'd of their own;
  they ride on the next fsync. After a power loss that dropped one, the `writing`
  record before it is on disk and `resume()` checks that rule against the bus, exactly
  as for a PUT whose answer was lost; a restore found already done is not sent again.
- A torn last line (the process died inside `write`) was never acknowledged; `load()`
  ignores it. A broken line anywhere else is a damaged journal (`InputError`).

A journal in the previous format (one JSON object, version 2, plan beside it in
`<name>.plan.json`) is still read, so a run killed before an upgrade can be resumed.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chainsim.durable import fsync_dir
from chainsim.model import ChainPlan, InputError, Rule

VERSION = 3


@dataclass
class Applied:
    """One update that reached the bus: what the rule held before, and which fields changed."""

    rule_id: str
    base: Rule
    fields: list[str]


def compact(rule: Rule, fields: Iterable[str]) -> dict[str, Any]:
    """The identity of `rule` plus only `fields`: all a journal entry needs to undo or check."""
    wire = rule.to_wire()
    out: dict[str, Any] = {k: wire[k] for k in ("id", "eventType", "version") if k in wire}
    out.update({key: wire[key] for key in fields if key in wire})
    return out


def _dumps(record: Mapping[str, Any]) -> bytes:
    return (json.dumps(record, separators=(",", ":")) + "\n").encode("utf-8")


class Journal:
    """The on-disk record of an unfinished run (append-only JSONL, see the module docstring)."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path else None
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._fd: int | None = None
        self._written = 0  # records written so far (under _lock)
        self._synced = 0  # records known to be on disk (under _sync_lock)
        self._header: dict[str, Any] = {}
        self._order: dict[str, None] = {}  # applied rule ids in order (a set with O(1) lookups)
        self._entries: dict[str, dict[str, Any]] = {}
        self._intents: dict[str, Rule] = {}  # rule id -> the base object its intent was made of

    @property
    def plan_path(self) -> Path | None:
        """Where a version-2 journal kept its plan (`journal.plan.json`); v3 keeps it inline."""
        return self.path.with_suffix(".plan.json") if self.path else None

    @property
    def active(self) -> bool:
        """True while a run is recorded in this journal object."""
        return bool(self._header)

    @property
    def entries(self) -> dict[str, dict[str, Any]]:
        """The per-rule entries (a copy)."""
        with self._lock:
            return {k: dict(v) for k, v in self._entries.items()}

    # ------------------------------------------------------------------ reading

    def load(self) -> dict[str, Any] | None:
        """The journal's content with its plan, or None when there is no journal file.

        The picture: `{"version", "run_id", "status", "atomic", "order", "rules", "plan"}`.
        """
        if self.path is None or not self.path.exists():
            return None
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            raise InputError(str(self.path), "", "the journal cannot be read") from None
        first = text.split("\n", 1)[0]
        try:
            head = json.loads(first) if first.strip() else None
        except ValueError:
            head = None
        if isinstance(head, dict) and head.get("k") == "begin":
            return _replay(text, str(self.path))
        return self._load_v2(text)

    def _load_v2(self, text: str) -> dict[str, Any]:
        try:
            data = json.loads(text)
            if isinstance(data, dict) and self.plan_path and self.plan_path.exists():
                data["plan"] = json.loads(self.plan_path.read_text(encoding="utf-8"))
        except ValueError:
            raise InputError(str(self.path), "", "the journal is not valid JSON") from None
        if not isinstance(data, dict) or "status" not in data:
            raise InputError(str(self.path), "", "not a chainsim journal")
        return data

    def adopt(self, data: Mapping[str, Any]) -> None:
        """Continue the run recorded in `data` (as `load` returned it), appending to its file.

        A version-2 journal is rewritten once in the append-only form first.
        """
        with self._lock:
            self._header = {k: data[k] for k in ("run_id", "status", "atomic") if k in data}
            self._order = dict.fromkeys(data.get("order", []))
            self._entries = {k: dict(v) for k, v in data.get("rules", {}).items()}
            self._intents = {}
            if self.path is None or not self._header:
                return
            if data.get("version") == VERSION:
                self._open(truncate=False)
                return
            self._open(truncate=True)
            self._append({"k": "begin", "version": VERSION, **self._header, "plan": data["plan"]})
            for rule_id, entry in self._entries.items():
                self._append({"k": "entry", "id": rule_id, **entry})
            self._append({"k": "order", "order": list(self._order)})
            self._append({"k": "status", "status": self._header.get("status", "applying")})
        self._sync()

    # ------------------------------------------------------------------ writing

    def begin(self, run_id: str, plan: ChainPlan, atomic: bool) -> None:
        """Start a run: a fresh file whose first record holds the plan, status `applying`."""
        if self.path is None:
            return
        with self._lock:
            self._header = {"run_id": run_id, "status": "applying", "atomic": atomic}
            self._order, self._entries, self._intents = {}, {}, {}
            self._open(truncate=True)
            plan_json = json.loads(plan.model_dump_json(exclude_none=True))
            self._append({"k": "begin", "version": VERSION, **self._header, "plan": plan_json})
        self._sync()
        fsync_dir(self.path.parent)
        if self.plan_path is not None:
            self.plan_path.unlink(missing_ok=True)  # a v2 leftover would describe another run

    def intend(self, writes: Iterable[tuple[Rule, list[str], Rule]]) -> None:
        """Record, before the first PUT, every (base, fields, target) the run will write.

        One fsync for all of them: a first attempt that matches its intent (the common
        case) then needs no record of its own before its PUT.
        """
        with self._lock:
            if not self._header:
                return
            for base, fields, target in writes:
                entry = self._entries.get(base.id, {})
                if entry.get("state") in ("applied", "restoring", "restored"):
                    continue  # applied by a killed run: its entry keeps the snapshot
                self._intents[base.id] = base
                self._entries[base.id] = self._writing_record(base, fields, target)
                self._append({"k": "writing", "id": base.id, **self._entries[base.id]})
        self._sync()

    def writing(self, rule_id: str, base: Rule, fields: list[str], target: Rule) -> None:
        """Record, durably and before a PUT, what the rule holds and what is about to be written.

        Nothing is written when the rule's pending intent already says exactly that.
        """
        with self._lock:
            if not self._header:
                return
            entry = self._entries.get(rule_id)
            if entry is not None and entry.get("state") in ("applied", "restoring", "restored"):
                if entry["state"] == "restoring":
                    return
                entry["state"] = "restoring"  # a rollback PUT: the entry keeps its snapshot
                self._append({"k": "restoring", "id": rule_id})
                return  # a lost `restoring` mark only means the restore is checked again
            if self._intents.pop(rule_id, None) is base:
                return  # the first attempt: the same base, so the same target (merging is pure)
            record = self._writing_record(base, fields, target)
            if entry == record:
                return
            self._entries[rule_id] = record
            self._append({"k": "writing", "id": rule_id, **record})
        self._sync()

    @staticmethod
    def _writing_record(base: Rule, fields: list[str], target: Rule) -> dict[str, Any]:
        return {
            "state": "writing",
            "base": compact(base, fields),
            "fields": list(fields),
            "target": compact(target, fields),
        }

    def applied(self, item: Applied) -> None:
        """Record a successful PUT (in the kernel at once, on disk with the next fsync)."""
        with self._lock:
            if not self._header:
                return
            entry = self._entries.setdefault(item.rule_id, {})
            record: dict[str, Any] = {"k": "applied", "id": item.rule_id}
            same = (
                entry.get("state") == "writing"
                and entry.get("fields") == item.fields
                and entry.get("base", {}).get("version") == item.base.version
            )
            if not same:  # else the `writing` record before it holds this base already
                record.update(base=compact(item.base, item.fields), fields=list(item.fields))
                entry.update(base=record["base"], fields=record["fields"])
            entry["state"] = "applied"
            self._order[item.rule_id] = None  # kept at its first place when seen again
            self._append(record)

    def failed(self, rule_id: str) -> None:
        """Record that a rule's update failed for good (it was not written)."""
        self._mark(rule_id, "failed")

    def restored(self, rule_id: str) -> None:
        """Record that an applied rule was restored to its snapshot."""
        self._mark(rule_id, "restored")

    def status(self, status: str) -> None:
        """Set the run's status (`applying`, `rolling_back`, or a final report status), durably."""
        with self._lock:
            if not self._header:
                return
            self._header["status"] = status
            self._append({"k": "status", "status": status})
        self._sync()

    def close(self) -> None:
        """Close the file (a later record reopens it)."""
        with self._lock, self._sync_lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def _mark(self, rule_id: str, state: str) -> None:
        with self._lock:
            if not self._header:
                return
            self._entries.setdefault(rule_id, {})["state"] = state
            self._append({"k": state, "id": rule_id})

    def _open(self, *, truncate: bool) -> None:
        """With `_lock` held: (re)open the file for appending."""
        assert self.path is not None
        if self._fd is not None:
            os.close(self._fd)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | (os.O_TRUNC if truncate else 0)
        self._fd = os.open(self.path, flags, 0o600)
        self._written = self._synced = 0

    def _append(self, record: Mapping[str, Any]) -> None:
        """With `_lock` held: one record, one `write` (survives a killed process)."""
        if self.path is None:
            return
        if self._fd is None:
            self._open(truncate=False)
        assert self._fd is not None
        data = _dumps(record)
        while data:
            data = data[os.write(self._fd, data) :]
        self._written += 1

    def _sync(self) -> None:
        """fsync everything written so far; one fsync in flight covers every waiting writer."""
        if self.path is None:
            return
        with self._lock:
            wanted, fd = self._written, self._fd
        if fd is None:
            return
        with self._sync_lock:
            if self._synced >= wanted or self._fd != fd:
                return
            with self._lock:
                covered = self._written
            os.fsync(fd)
            self._synced = covered


def _replay(text: str, where: str) -> dict[str, Any]:
    """The picture of a run from its JSONL lines (a torn last line is ignored)."""
    lines = text.split("\n")
    if lines and lines[-1] != "":
        lines.pop()  # no newline: the write never finished, so it was never acknowledged
    data: dict[str, Any] = {}
    order: dict[str, None] = {}  # an ordered set: O(1) per record
    rules: dict[str, dict[str, Any]] = {}
    for number, raw in enumerate(lines, start=1):
        if not raw:
            continue
        try:
            record = json.loads(raw)
            kind = record["k"]
            if kind == "begin":
                data = {k: v for k, v in record.items() if k != "k"}
            elif kind == "status":
                data["status"] = record["status"]
            elif kind == "order":
                order = dict.fromkeys(record["order"])
            elif kind == "entry":
                rules[record["id"]] = {k: v for k, v in record.items() if k not in ("k", "id")}
            elif kind == "writing":
                rules[record["id"]] = {k: v for k, v in record.items() if k not in ("k", "id")}
                rules[record["id"]]["state"] = "writing"
            elif kind == "applied":
                entry = rules.setdefault(record["id"], {})
                if "base" in record:  # else the `writing` record before it has the base
                    entry.update(base=record["base"], fields=record["fields"])
                entry["state"] = "applied"
                if "base" not in entry:
                    raise ValueError("an applied rule without a snapshot")
                order[record["id"]] = None
            elif kind in ("failed", "restoring", "restored"):
                rules.setdefault(record["id"], {})["state"] = kind
            else:
                raise ValueError(kind)
        except (ValueError, KeyError, TypeError):
            raise InputError(where, f"line {number}", "the journal is damaged") from None
    if "status" not in data:
        raise InputError(where, "", "not a chainsim journal")
    data["order"], data["rules"] = list(order), rules
    return data


def applied_from_journal(data: Mapping[str, Any]) -> list[Applied]:
    """Updates the journal records as applied (or mid-restore), oldest first."""
    items = []
    rules = data.get("rules", {})
    for rule_id in data.get("order", []):
        entry = rules.get(rule_id, {})
        if entry.get("state") in ("applied", "restoring"):
            items.append(
                Applied(rule_id, Rule.model_validate(entry["base"]), list(entry["fields"]))
            )
    return items

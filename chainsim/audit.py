"""A tamper-evident audit log: JSONL, one line per step, each line chained to the last.

Every line carries `seq` (1, 2, 3, ...), `prev`, the hash of the previous line's exact
bytes (the first line of a file carries `GENESIS`), and `digest`, the hash of its own
canonical body (every field but `digest`, `time` included). `verify` names the first
line where the chain breaks, so an edit, a deletion, an insertion or a reorder anywhere
is found.

Anchoring the end: at each commit (below) the head (the last line's hash and the line
count) is written atomically to a sidecar beside the log (`audit.jsonl.head`) and
returned by `AuditLog.commit()` for the run report and the callback; `AuditLog.head()`
is the in-memory head, which may be ahead of the sidecar between commits. `verify`
fails when the file ends before the sidecar's head or before a head given by the caller
(`chainsim audit verify FILE --head DIGEST`), so lines cut off the end are found; a
sidecar that lags the file (an earlier line) is fine as long as that line hashes to it.

Keyed chain: with `key` (the CLI reads it from `CHAINSIM_AUDIT_KEY`) both hashes are
HMAC-SHA256 under the key and each line says `"mac": "hmac-sha256"`; whoever edits a
line and recomputes every later hash without the key fails `verify(..., key=key)`.

Durability policy (group commit, like `chainsim.journal`'s):
- Every line reaches the kernel before `append` returns: one `os.write` on a descriptor
  kept open with `O_APPEND`. A killed process (`kill -9`, a crash) never loses a line
  that was appended; only the sidecar may then lag the file, which `verify` accepts.
- A commit (`AuditLog.commit()`) fsyncs the log, then atomically replaces the sidecar
  with the head the fsync covered (temp file, fsync, rename, fsync of the directory), so
  the sidecar never names a line the disk might not hold. A power loss keeps every line
  up to the last commit (later ones may be lost, never reordered) and the sidecar of a
  commit at most one behind.
- When to commit: `commit_every` appends trigger one automatically. The default, 1,
  makes every append durable before it returns (fsync and sidecar per line), so
  `AuditLog(path)` used directly is as safe as it looks. `chainsim apply` opts into
  batching (`GROUP_COMMIT` lines), and the Orchestrator commits at every point where
  something leaves the process: before dead letters are sent (and after each one), before
  the callback POST, before the result (with its `audit_head`) is returned, and at the
  end of a run however it ends; `close()` commits too. The head a report or callback
  carries is therefore always the sidecar's head at the time it is sent.

A torn last line (a crash mid-write, no newline) is never glued onto: the next append
starts on a new line, and `verify` reports the torn line.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
import weakref
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from chainsim.clock import Clock
from chainsim.durable import atomic_write_text
from chainsim.errors import InputError
from chainsim.loader import open_regular, parse_json, read_text

GENESIS = "0" * 64
MAC = "hmac-sha256"
HEAD_SUFFIX = ".head"
GROUP_COMMIT = 512  # appends per automatic commit when a caller opts into batching (CLI apply)
MAX_LINE_BYTES = 16 * 1024 * 1024  # an audit line is small; a longer one is not an entry
_FIELDS = {"seq": int, "prev": str, "digest": str, "step": str, "time": str}


def head_path(path: str | Path) -> Path:
    """The sidecar holding the head of the log at `path` (`audit.jsonl.head`)."""
    path = Path(path)
    return path.with_name(path.name + HEAD_SUFFIX)


def _hash(data: bytes, key: bytes | None) -> str:
    if key is None:
        return hashlib.sha256(data).hexdigest()
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def _canonical(entry: dict[str, Any]) -> str:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _digest(entry: dict[str, Any], key: bytes | None = None) -> str:
    body = {k: v for k, v in entry.items() if k != "digest"}
    return _hash(_canonical(body).encode("utf-8"), key)


_AFTER_DIGEST = ("mac", "prev", "seq", "step", "time")  # the keys sorting after "digest"


def _signed(entry: dict[str, Any], key: bytes | None) -> tuple[str, bytes]:
    """(digest, canonical line) of `entry` (which has no digest yet), encoding it once.

    The line is the canonical body with `"digest":"<hex>"` put in its sorted place: just
    before the part made of the keys that sort after it (the same bytes as
    `_canonical` of the entry with its digest, which `verify` checks).
    """
    body = _canonical(entry)
    digest = _hash(body.encode("utf-8"), key)
    tail = _canonical({k: entry[k] for k in _AFTER_DIGEST if k in entry})[1:]
    cut = len(body) - len(tail)
    if not body.endswith(tail) or body[cut - 1] != ",":  # not the expected shape
        return digest, _canonical({**entry, "digest": digest}).encode("utf-8")
    return digest, f'{body[:cut]}"digest":"{digest}",{tail}'.encode()


@dataclass(frozen=True)
class AuditHead:
    """Where a log ends: the last line's hash (`digest`) and the number of lines."""

    digest: str
    lines: int

    def to_json(self) -> dict[str, Any]:
        """`{"digest", "lines"}`."""
        return {"digest": self.digest, "lines": self.lines}


def read_head(path: str | Path) -> AuditHead | None:
    """The head recorded in the sidecar of the log at `path` (None when there is none)."""
    sidecar = head_path(path)
    if not sidecar.exists():
        return None
    data = parse_json(read_text(sidecar, max_bytes=4096), str(sidecar))
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("digest"), str)
        or type(data.get("lines")) is not int
        or data["lines"] < 0
    ):
        raise InputError(str(sidecar), "", 'expected {"digest": "<hex>", "lines": <count>}')
    return AuditHead(data["digest"], data["lines"])


def _scan(path: Path) -> tuple[list[bytes], bool]:
    """Lines of an existing log (without their newlines) and whether the last one is torn."""
    with open_regular(path) as handle:
        data = handle.read()
    torn = bool(data) and not data.endswith(b"\n")
    lines = data.split(b"\n")
    if not torn:
        lines.pop()
    return [line.rstrip(b"\r") for line in lines], torn


class AuditLog:
    """Appends chained lines to a JSONL file (continuing the chain of an existing file).

    `commit_every`: appends per automatic commit (fsync + head sidecar); 1, the default,
    commits every append (see the module docstring). Refuses (`InputError`) to continue a
    log that ends before the head in its sidecar, or one written with a different key:
    appending would hide the evidence.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        clock: Clock | None = None,
        key: bytes | None = None,
        commit_every: int = 1,
    ) -> None:
        if commit_every < 1:
            raise ValueError("commit_every must be at least 1")
        self.path = Path(path)
        self.clock = clock
        self.commit_every = commit_every
        self._key = key or None
        self._lock = threading.Lock()  # the chain: seq, prev, the write of each line
        self._commit_lock = threading.Lock()  # one commit at a time: the sidecar only advances
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._prev, self._seq, self._torn = GENESIS, 0, False
        if self.path.exists():
            self._continue()
        self._committed = AuditHead(self._prev, self._seq)  # nothing of ours to commit yet
        self._fd: int | None = None
        self._closer: weakref.finalize | None = None
        self.run_lines: list[dict[str, Any]] = []

    def _continue(self) -> None:
        """Pick up the chain of the existing file (its last complete line)."""
        lines, self._torn = _scan(self.path)
        self._seq = len(lines)
        complete = lines[:-1] if self._torn else lines
        if complete:
            last = complete[-1]
            self._check_key(last, len(complete))
            self._prev = _hash(last, self._key)
        recorded = read_head(self.path)
        if recorded is not None and recorded.lines > len(lines):
            raise InputError(
                str(self.path),
                "",
                f"ends before the head in {head_path(self.path).name} ({recorded.lines} "
                f"lines, {len(lines)} left): lines were cut off; keep it as evidence "
                "and start a new log",
            )

    def _check_key(self, last: bytes, number: int) -> None:
        """The last line was written in this log's key mode (and, keyed, with this key)."""
        try:
            entry = json.loads(last.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            return  # verify reports a damaged line; appending still starts a new line
        if not isinstance(entry, dict):
            return
        keyed = entry.get("mac") == MAC
        if keyed and self._key is None:
            raise InputError(
                str(self.path), f"line {number}", "is keyed: set CHAINSIM_AUDIT_KEY to continue"
            )
        if not keyed and self._key is not None:
            raise InputError(
                str(self.path),
                f"line {number}",
                "was written without a key: start a new log to use CHAINSIM_AUDIT_KEY",
            )
        if keyed and entry.get("digest") != _digest(entry, self._key):
            raise InputError(
                str(self.path), f"line {number}", "does not verify under this CHAINSIM_AUDIT_KEY"
            )

    def head(self) -> AuditHead:
        """The last line's hash and the line count (GENESIS and 0 for an empty log).

        In memory: the line it names has reached the kernel, not necessarily the disk
        or the sidecar; `commit()` returns a head that has.
        """
        with self._lock:
            return AuditHead(self._prev, self._seq)

    def committed(self) -> AuditHead:
        """The head of the last commit by this log (its head when opened, before any)."""
        return self._committed

    def append(self, step: str, **data: Any) -> dict[str, Any]:
        """Write one step with its data (in the kernel on return; committed every
        `commit_every` appends); returns the entry."""
        with self._lock:
            entry: dict[str, Any] = {
                "seq": self._seq + 1,
                "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                "clock": round(self.clock.now(), 6) if self.clock is not None else None,
                "step": step,
                "data": data,
                "prev": self._prev,
            }
            if self._key is not None:
                entry["mac"] = MAC
            entry["digest"], line = _signed(entry, self._key)
            self._write((b"\n" if self._torn else b"") + line + b"\n")
            self._torn = False
            self._seq += 1
            self._prev = _hash(line, self._key)
            self.run_lines.append(entry)
            due = self._seq - self._committed.lines >= self.commit_every
        if due:
            self.commit()
        return entry

    def commit(self) -> AuditHead:
        """fsync the log, then write its head to the sidecar; returns the head committed.

        Concurrent appends may go on meanwhile; a commit that finds its head already
        committed (by another thread) does nothing.
        """
        with self._commit_lock:
            with self._lock:
                head, fd = AuditHead(self._prev, self._seq), self._fd
            if head == self._committed:
                return head
            if fd is not None:
                os.fsync(fd)
            atomic_write_text(head_path(self.path), json.dumps(head.to_json()))
            self._committed = head
            return head

    def close(self) -> AuditHead:
        """Commit, then close the log's descriptor (a later append opens it again)."""
        head = self.commit()
        with self._commit_lock, self._lock:
            if self._closer is not None:
                self._closer()  # closes the descriptor once
            self._fd, self._closer = None, None
        return head

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, data: bytes) -> None:
        """Append `data` to the log with one `os.write` (the kernel has it on return)."""
        if self._fd is None:
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
            self._fd = os.open(self.path, flags, 0o644)
            self._closer = weakref.finalize(self, os.close, self._fd)
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

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


def _entry(raw: bytes) -> dict[str, Any] | str:
    """The audit entry on a line, or why the line is not one."""
    try:
        entry = parse_json(raw.decode("utf-8"), "line")
    except UnicodeDecodeError:
        return "not a JSON line"
    except InputError as exc:
        return f"not a JSON line ({exc.problem})"
    if not isinstance(entry, dict) or not _FIELDS.keys() <= entry.keys():
        return "not an audit entry"
    if any(type(entry[name]) is not kind for name, kind in _FIELDS.items()):
        return "not an audit entry (a field has the wrong type)"
    return entry


def _check(raw: bytes, number: int, prev: str, key: bytes | None = None) -> str | None:
    """Why line `number` breaks the chain after a line hashing to `prev`, or None."""
    entry = _entry(raw)
    if isinstance(entry, str):
        return entry
    keyed = entry.get("mac") == MAC
    if keyed and key is None:
        return "the line is keyed (HMAC): verify it with the key (CHAINSIM_AUDIT_KEY)"
    if not keyed and key is not None:
        return "the line is not keyed: written without the key, or recomputed by someone without it"
    if entry["digest"] != _digest(entry, key) or _canonical(entry).encode("utf-8") != raw:
        return "the line was edited (its digest does not match its content)"
    if entry["prev"] != prev:
        return "the line does not follow the previous line (deleted, inserted or reordered)"
    if entry["seq"] != number:
        return f"sequence number {entry['seq']} where {number} was expected"
    return None


def verify(
    path: str | Path, *, head: str | None = None, key: bytes | None = None
) -> AuditVerification:
    """Check the whole chain of an audit file, and that it reaches `head` and its sidecar's head.

    Names the first line that breaks the chain; a file with no audit entry at all (or
    not a regular file) is bad input (`InputError`), not a broken log.
    """
    path = Path(path)
    key = key or None
    recorded = read_head(path) if path.is_file() else None
    prev, count, seen_entry = GENESIS, 0, False
    broken: tuple[int, str] | None = None
    hashes: dict[int, str] = {}
    wanted = {recorded.lines} if recorded is not None else set()
    reached_head = head is None or head == GENESIS
    with open_regular(path) as handle:
        while True:
            raw = handle.readline(MAX_LINE_BYTES + 1)
            if not raw:
                break
            count += 1
            if len(raw) > MAX_LINE_BYTES:  # an over-long line is one line: skip the rest unread
                rest = raw
                while rest and not rest.endswith(b"\n"):
                    rest = handle.readline(MAX_LINE_BYTES + 1)
                raw = raw[:-1] + (rest[-1:] if rest.endswith(b"\n") else raw[-1:])
            torn = not raw.endswith(b"\n")
            line = raw.rstrip(b"\n").rstrip(b"\r")
            if broken is not None:  # only look on for an audit entry (is this an audit log?)
                seen_entry = seen_entry or not isinstance(_entry(line), str)
                continue
            if len(raw) > MAX_LINE_BYTES:
                reason: str | None = f"longer than {MAX_LINE_BYTES:,} bytes (not an audit entry)"
            else:
                reason = _check(line, count, prev, key)
            seen_entry = seen_entry or reason is None or not isinstance(_entry(line), str)
            if reason is None and torn:
                reason = "the last line has no newline (a torn write)"
            if reason is not None:
                broken = (count, reason)
                continue
            prev = _hash(line, key)
            reached_head = reached_head or prev == head
            if count in wanted:
                hashes[count] = prev
    if count and not seen_entry:
        raise InputError(str(path), "", "is not a chainsim audit log (no line is an audit entry)")
    if broken is not None:
        return AuditVerification(False, count, broken[0], broken[1], prev)
    if recorded is not None:
        sidecar = head_path(path).name
        if count < recorded.lines:
            return AuditVerification(
                False,
                count,
                count + 1,
                f"the file ends before the head in {sidecar} ({recorded.lines} lines): "
                "lines were cut off the end",
                prev,
            )
        if hashes.get(recorded.lines, GENESIS) != recorded.digest:
            return AuditVerification(
                False,
                count,
                recorded.lines,
                f"line {recorded.lines} does not hash to the head in {sidecar} ({recorded.digest})",
                prev,
            )
    if not reached_head:
        return AuditVerification(
            False,
            count,
            count + 1,
            f"the file ends before head {head} (lines were cut off the end, or the head is "
            "not of this log)",
            prev,
        )
    return AuditVerification(True, count, None, "", prev)

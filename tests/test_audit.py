"""Tests for the hash-chained audit log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chainsim.audit import GENESIS, AuditLog, verify
from chainsim.clock import VirtualClock


def _log(path: Path, n: int = 5) -> list[bytes]:
    log = AuditLog(path, clock=VirtualClock())
    for i in range(n):
        log.append("step", index=i)
    return path.read_bytes().splitlines(keepends=True)


def test_intact_log_verifies(tmp_path: Path) -> None:
    """A log written by AuditLog verifies, and its head is the last line's hash."""
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    log.append("start", run="r1")
    log.append("finish", status="applied")
    result = verify(path)
    assert result.ok and result.lines == 2 and result.head == log.head
    first = json.loads(path.read_text().splitlines()[0])
    assert first["prev"] == GENESIS


def test_log_continues_the_chain_of_an_existing_file(tmp_path: Path) -> None:
    """A second AuditLog on the same file continues the chain (two runs, one valid file)."""
    path = tmp_path / "audit.jsonl"
    _log(path, 3)
    AuditLog(path).append("again")
    assert verify(path).ok and verify(path).lines == 4


@pytest.mark.parametrize(
    ("tamper", "broken"),
    [
        ("edit", 3),
        ("delete", 3),
        ("insert", 3),
        ("reorder", 2),
        ("delete_first", 1),
    ],
)
def test_tampering_names_the_first_broken_line(tmp_path: Path, tamper: str, broken: int) -> None:
    """An edit, a deletion, an insertion or a reorder is found at the first broken line."""
    path = tmp_path / "audit.jsonl"
    lines = _log(path, 5)
    if tamper == "edit":
        lines[2] = lines[2].replace(b'"index":2', b'"index":7')
    elif tamper == "delete":
        del lines[2]
    elif tamper == "insert":
        lines.insert(2, lines[1])
    elif tamper == "reorder":
        lines[1], lines[2] = lines[2], lines[1]
    elif tamper == "delete_first":
        del lines[0]
    path.write_bytes(b"".join(lines))
    result = verify(path)
    assert not result.ok
    assert result.first_broken == broken, result.reason


def test_whitespace_edit_is_found_on_the_edited_line(tmp_path: Path) -> None:
    """Even a change that keeps the JSON equal (added spaces) breaks the edited line."""
    path = tmp_path / "audit.jsonl"
    lines = _log(path, 3)
    lines[1] = lines[1].replace(b",", b", ", 1)
    path.write_bytes(b"".join(lines))
    assert verify(path).first_broken == 2

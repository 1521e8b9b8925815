"""Durable writes for the journal and the dead-letter spool."""

from __future__ import annotations

from pathlib import Path

import pytest

from chainsim import durable


def test_atomic_write_replaces_whole_file_and_leaves_no_temp(tmp_path: Path) -> None:
    """`atomic_write_text` creates parents, replaces the content and leaves no temp file."""
    target = tmp_path / "deep" / "journal.json"
    durable.atomic_write_text(target, "one")
    durable.atomic_write_text(target, "two")
    assert target.read_text() == "two"
    assert [p.name for p in target.parent.iterdir()] == ["journal.json"]


def test_failed_atomic_write_keeps_the_old_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash before the rename leaves the previous file intact and removes the temp file."""
    target = tmp_path / "journal.json"
    durable.atomic_write_text(target, "old")

    def crash(*_: object) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(durable.os, "replace", crash)
    with pytest.raises(OSError):
        durable.atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["journal.json"]


def test_append_line_adds_one_terminated_line(tmp_path: Path) -> None:
    """`append_line` appends exactly one newline-terminated line per call."""
    spool = tmp_path / "s" / "spool.jsonl"
    durable.append_line(spool, '{"a":1}')
    durable.append_line(spool, '{"b":2}\n')
    assert spool.read_text() == '{"a":1}\n{"b":2}\n'

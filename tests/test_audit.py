"""Tests for the hash-chained audit log."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from pathlib import Path

import pytest

from chainsim.audit import (
    GENESIS,
    AuditHead,
    AuditLog,
    _canonical,
    _digest,
    head_path,
    read_head,
    verify,
)
from chainsim.clock import VirtualClock
from chainsim.errors import InputError


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
    assert result.ok and result.lines == 2 and result.head == log.head().digest
    assert log.head() == AuditHead(result.head, 2)
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


def _rechain(entries: list[dict], key: bytes | None = None) -> bytes:
    """The log an attacker writes after editing `entries`: every digest and prev recomputed."""
    prev, out = GENESIS, []
    for entry in entries:
        entry = {**entry, "prev": prev}
        entry["digest"] = _digest(entry, key)
        line = _canonical(entry).encode()
        prev = (
            hmac.new(key, line, hashlib.sha256).hexdigest()
            if key
            else hashlib.sha256(line).hexdigest()
        )
        out.append(line + b"\n")
    return b"".join(out)


def _entries(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_head_is_written_to_a_sidecar_after_every_append(tmp_path: Path) -> None:
    """The sidecar holds the last line's hash and the line count, the same as head()."""
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    assert log.head() == AuditHead(GENESIS, 0)
    for n in range(1, 4):
        log.append("step", n=n)
        assert read_head(path) == log.head() and log.head().lines == n
    assert head_path(path).name == "audit.jsonl.head"
    assert verify(path).head == log.head().digest


def test_lines_cut_off_the_end_are_found_through_the_sidecar(tmp_path: Path) -> None:
    """Cutting the last lines leaves a valid shorter chain, but verify fails on the sidecar."""
    path = tmp_path / "audit.jsonl"
    lines = _log(path, 5)
    path.write_bytes(b"".join(lines[:3]))
    result = verify(path)
    assert not result.ok and result.first_broken == 4
    assert "ends before the head" in result.reason and "cut off" in result.reason


def test_a_rewritten_end_with_the_right_count_is_found_through_the_sidecar(tmp_path: Path) -> None:
    """A last line recomputed (same count, other content) does not hash to the sidecar's head."""
    path = tmp_path / "audit.jsonl"
    _log(path, 3)
    entries = _entries(path)
    entries[-1]["data"] = {"index": 99}
    path.write_bytes(_rechain(entries))
    result = verify(path)
    assert not result.ok and result.first_broken == 3 and "head" in result.reason


def test_a_given_head_catches_a_cut_even_without_the_sidecar(tmp_path: Path) -> None:
    """With the sidecar gone too, `head=` (kept by the report or callback) still finds the cut."""
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    for i in range(4):
        log.append("step", i=i)
    anchor = log.head().digest
    middle = verify(path)
    path.write_bytes(b"".join(path.read_bytes().splitlines(keepends=True)[:2]))
    head_path(path).unlink()
    assert verify(path).ok  # the documented limit without an anchor
    result = verify(path, head=anchor)
    assert not result.ok and result.first_broken == 3 and anchor in result.reason
    assert middle.ok and verify(path, head=GENESIS).ok


def test_a_given_head_inside_the_log_verifies(tmp_path: Path) -> None:
    """A head recorded earlier is reached by a log that has grown since."""
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    log.append("one")
    early = log.head().digest
    log.append("two")
    assert verify(path, head=early).ok


def test_continuing_a_cut_log_is_refused(tmp_path: Path) -> None:
    """The next AuditLog on a log cut below its sidecar's head refuses (no silent re-chain)."""
    path = tmp_path / "audit.jsonl"
    lines = _log(path, 4)
    path.write_bytes(b"".join(lines[:2]))
    with pytest.raises(InputError, match="cut off"):
        AuditLog(path)
    assert not verify(path).ok


def test_a_torn_last_line_is_reported_and_never_glued_onto(tmp_path: Path) -> None:
    """A last line without its newline is reported; the next append starts a new line."""
    path = tmp_path / "audit.jsonl"
    lines = _log(path, 2)
    path.write_bytes(lines[0] + lines[1][:-1])  # the newline of line 2 never reached the disk
    torn = verify(path)
    assert not torn.ok and torn.first_broken == 2 and "torn" in torn.reason
    path.write_bytes(lines[0] + lines[1][:20])  # half of line 2
    AuditLog(path).append("after")
    written = path.read_bytes().split(b"\n")
    assert written[1] == lines[1][:20] and json.loads(written[2])["step"] == "after"
    result = verify(path)
    assert not result.ok and result.first_broken == 2 and "not a JSON line" in result.reason


def test_appends_are_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each append fsyncs the audit file itself before returning."""
    path = tmp_path / "audit.jsonl"
    synced: list[str] = []
    real = os.fsync

    def spy(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    log = AuditLog(path)
    log.append("one")
    log.append("two")
    assert synced.count(str(path.resolve())) == 2


def test_the_digest_covers_the_time(tmp_path: Path) -> None:
    """Changing only `time` of the last line (canonical form kept) breaks that line."""
    path = tmp_path / "audit.jsonl"
    _log(path, 2)
    entries = _entries(path)
    entries[-1]["time"] = "1999-01-01T00:00:00.000+00:00"
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + _canonical(entries[-1]).encode() + b"\n")
    head_path(path).unlink()
    result = verify(path)
    assert not result.ok and result.first_broken == 2 and "edited" in result.reason


def test_sequence_numbers_are_checked(tmp_path: Path) -> None:
    """A chain recomputed with a skipped sequence number breaks at that line."""
    path = tmp_path / "audit.jsonl"
    _log(path, 3)
    entries = _entries(path)
    entries[1]["seq"] = 5
    path.write_bytes(_rechain(entries))
    head_path(path).unlink()
    result = verify(path)
    assert not result.ok and result.first_broken == 2 and "sequence number 5" in result.reason


def test_keyed_chain_verifies_only_with_its_key(tmp_path: Path) -> None:
    """With a key, the log verifies under that key, not without it and not under another."""
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, key=b"k1")
    log.append("one")
    log.append("two")
    assert verify(path, key=b"k1").ok
    assert all(entry["mac"] == "hmac-sha256" for entry in _entries(path))
    without = verify(path)
    assert not without.ok and without.first_broken == 1 and "key" in without.reason
    assert not verify(path, key=b"other").ok
    assert verify(path, key=b"k1", head=log.head().digest).ok


def test_a_recomputed_chain_fails_without_the_key(tmp_path: Path) -> None:
    """An edit with every later hash recomputed (the key unknown) fails keyed verification."""
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, key=b"secret-key")
    for i in range(3):
        log.append("step", i=i)
    entries = _entries(path)
    entries[1]["data"] = {"i": 42}
    forged = [{k: v for k, v in e.items() if k != "mac"} for e in entries]
    path.write_bytes(_rechain(forged))  # a plain SHA-256 chain: intact without a key
    head_path(path).unlink()
    assert verify(path).ok
    result = verify(path, key=b"secret-key")
    assert not result.ok and result.first_broken == 1
    path.write_bytes(_rechain(entries, key=b"guessed"))  # an HMAC chain under the wrong key
    assert verify(path, key=b"secret-key").first_broken == 1


def test_continuing_a_log_needs_the_same_key_mode(tmp_path: Path) -> None:
    """A keyed log is not continued without its key or with another; nor an unkeyed one keyed."""
    keyed, plain = tmp_path / "keyed.jsonl", tmp_path / "plain.jsonl"
    AuditLog(keyed, key=b"k").append("one")
    AuditLog(plain).append("one")
    with pytest.raises(InputError, match="CHAINSIM_AUDIT_KEY"):
        AuditLog(keyed)
    with pytest.raises(InputError, match="does not verify"):
        AuditLog(keyed, key=b"other")
    with pytest.raises(InputError, match="without a key"):
        AuditLog(plain, key=b"k")
    AuditLog(keyed, key=b"k").append("two")
    assert verify(keyed, key=b"k").ok and verify(keyed, key=b"k").lines == 2


@pytest.mark.parametrize(
    "line",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"seq": ' + b"9" * 5000 + b"}",
        b'{"seq": "1", "prev": 3, "digest": [], "step": {}, "time": null}',
    ],
)
def test_hostile_lines_are_reported_not_raised(tmp_path: Path, line: bytes) -> None:
    """A deeply nested line, a 5,000-digit integer or wrong types break the chain cleanly."""
    path = tmp_path / "audit.jsonl"
    lines = _log(path, 2)
    path.write_bytes(lines[0] + line + b"\n" + lines[1])
    result = verify(path)
    assert not result.ok and result.first_broken == 2


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: p.write_text("hello\nworld\n"), "not a chainsim audit log"),
        (lambda p: os.mkfifo(p), "is a FIFO"),
    ],
)
def test_what_is_not_an_audit_log_is_bad_input(tmp_path: Path, make, problem: str) -> None:
    """A directory, a FIFO or a text file that holds no audit entry is an InputError."""
    path = tmp_path / "audit.jsonl"
    make(path)
    with pytest.raises(InputError, match=problem):
        verify(path)


# ------------------------------------------------- mutation testing (issue 13)


def test_a_log_with_crlf_line_ends_is_continued_and_verifies(tmp_path: Path) -> None:
    """CRLF line ends (a log copied through Windows) are not part of a line's hash."""
    path = tmp_path / "audit.jsonl"
    _log(path, 2)
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    AuditLog(path).append("again")
    result = verify(path)
    assert result.ok and result.lines == 3


def test_refusals_to_continue_name_the_file_the_line_and_the_remedy(tmp_path: Path) -> None:
    """Each refusal to continue a log is one line: file, last line number, what to do."""
    keyed, plain, cut = tmp_path / "keyed.jsonl", tmp_path / "plain.jsonl", tmp_path / "cut.jsonl"
    for _ in range(2):
        AuditLog(keyed, key=b"k").append("step")
    AuditLog(plain).append("step")
    lines = _log(cut, 4)
    cut.write_bytes(b"".join(lines[:2]))
    expected = [
        (keyed, None, f"{keyed}: line 2: is keyed: set CHAINSIM_AUDIT_KEY to continue"),
        (keyed, b"other", f"{keyed}: line 2: does not verify under this CHAINSIM_AUDIT_KEY"),
        (
            plain,
            b"k",
            f"{plain}: line 1: was written without a key: start a new log to use "
            "CHAINSIM_AUDIT_KEY",
        ),
        (
            cut,
            None,
            f"{cut}: ends before the head in cut.jsonl.head (4 lines, 2 left): lines were "
            "cut off; keep it as evidence and start a new log",
        ),
    ]
    for path, key, message in expected:
        with pytest.raises(InputError) as refused:
            AuditLog(path, key=key)
        assert str(refused.value) == message


def test_continuing_after_a_torn_line_chains_to_the_last_complete_line(tmp_path: Path) -> None:
    """After a torn last line, the next entry follows the last complete line (seq counts all)."""
    path = tmp_path / "audit.jsonl"
    lines = _log(path, 4)
    path.write_bytes(b"".join(lines[:3]) + lines[3][:20])
    entry = AuditLog(path).append("after")
    assert entry["prev"] == hashlib.sha256(lines[2].rstrip(b"\n")).hexdigest()
    assert entry["seq"] == 5


def test_a_line_that_is_not_utf8_is_not_a_json_line(tmp_path: Path) -> None:
    """A line of bytes that are not UTF-8 breaks the chain as `not a JSON line`."""
    path = tmp_path / "audit.jsonl"
    lines = _log(path, 2)
    path.write_bytes(lines[0] + b"\xff\xfe\n" + lines[1])
    result = verify(path)
    assert (result.ok, result.first_broken, result.reason) == (False, 2, "not a JSON line")


def test_the_log_repr_names_its_file(tmp_path: Path) -> None:
    """`repr(AuditLog)` shows the file path (and never a key)."""
    path = tmp_path / "audit.jsonl"
    assert repr(AuditLog(path, key=b"k")) == f"AuditLog({str(path)!r})"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"[1, 2]", "not an audit entry"),
        (b'{"seq": 2}', "not an audit entry"),
        (
            b'{"seq": "2", "prev": "p", "digest": "d", "step": "s", "time": "t"}',
            "not an audit entry (a field has the wrong type)",
        ),
        (
            b'{"seq": 2, "prev": "p", "digest": "d", "step": "s", "time": "t"}',
            "the line was edited (its digest does not match its content)",
        ),
    ],
)
def test_each_kind_of_broken_line_has_its_reason(tmp_path: Path, line: bytes, reason: str) -> None:
    """`verify` says exactly why line 2 is not a chained audit entry."""
    path = tmp_path / "audit.jsonl"
    lines = _log(path, 2)
    path.write_bytes(lines[0] + line + b"\n" + lines[1])
    result = verify(path)
    assert (result.ok, result.first_broken, result.reason) == (False, 2, reason)
    assert str(result) == f"broken at line 2: {reason}"


def test_key_mode_mismatches_have_their_reasons(tmp_path: Path) -> None:
    """A keyed log verified without the key, or a plain one with a key, says which."""
    keyed, plain = tmp_path / "keyed.jsonl", tmp_path / "plain.jsonl"
    AuditLog(keyed, key=b"k").append("one")
    AuditLog(plain).append("one")
    assert verify(keyed).reason == (
        "the line is keyed (HMAC): verify it with the key (CHAINSIM_AUDIT_KEY)"
    )
    assert verify(plain, key=b"k").reason == (
        "the line is not keyed: written without the key, or recomputed by someone without it"
    )


def test_a_line_that_does_not_follow_says_so_and_all_lines_are_counted(tmp_path: Path) -> None:
    """A deleted line: the next one does not follow; `lines` still counts the whole file."""
    path = tmp_path / "audit.jsonl"
    lines = _log(path, 4)
    path.write_bytes(lines[0] + lines[2] + lines[3])
    result = verify(path)
    assert (result.first_broken, result.lines) == (2, 3)
    assert result.reason == (
        "the line does not follow the previous line (deleted, inserted or reordered)"
    )


def test_trailing_whitespace_on_a_line_is_an_edit(tmp_path: Path) -> None:
    """A space added at the end of a line changes its bytes: the line was edited."""
    path = tmp_path / "audit.jsonl"
    lines = _log(path, 3)
    path.write_bytes(lines[0] + lines[1].rstrip(b"\n") + b" \n" + lines[2])
    result = verify(path)
    assert (result.first_broken, result.reason) == (
        2,
        "the line was edited (its digest does not match its content)",
    )


def test_a_log_whose_first_line_is_damaged_is_still_an_audit_log(tmp_path: Path) -> None:
    """Garbage on line 1 before real entries: a broken log (line 1), not "not an audit log"."""
    path = tmp_path / "audit.jsonl"
    lines = _log(path, 2)
    path.write_bytes(b"garbage\n" + b"".join(lines))
    result = verify(path)
    assert (result.ok, result.first_broken, result.lines) == (False, 1, 3)


def test_an_over_long_line_is_not_an_entry(tmp_path: Path) -> None:
    """A line over MAX_LINE_BYTES (newline included) is refused unread; one at it is parsed."""
    from chainsim.audit import MAX_LINE_BYTES

    path = tmp_path / "audit.jsonl"
    lines = _log(path, 2)
    at_limit = b"x" * (MAX_LINE_BYTES - 1) + b"\n"
    path.write_bytes(lines[0] + at_limit + lines[1])
    assert verify(path).reason.startswith("not a JSON line")
    path.write_bytes(lines[0] + b"x" + at_limit + lines[1])
    result = verify(path)
    assert (result.first_broken, result.lines) == (2, 3)
    assert result.reason == f"longer than {MAX_LINE_BYTES:,} bytes (not an audit entry)"


def test_a_damaged_entry_still_makes_the_file_an_audit_log(tmp_path: Path) -> None:
    """An edited only line, or a good line then garbage: broken logs, not "not an audit log"."""
    path = tmp_path / "audit.jsonl"
    (line,) = _log(path, 1)
    path.write_bytes(line.replace(b'"index":0', b'"index":9'))
    assert (verify(path).ok, verify(path).first_broken) == (False, 1)
    path.write_bytes(line + b"garbage\n")
    assert (verify(path).ok, verify(path).first_broken) == (False, 2)


def test_a_torn_last_line_has_its_reason(tmp_path: Path) -> None:
    """A complete entry without its newline at the end is reported as a torn write."""
    path = tmp_path / "audit.jsonl"
    lines = _log(path, 2)
    path.write_bytes(lines[0] + lines[1][:-1])
    assert verify(path).reason == "the last line has no newline (a torn write)"


def test_verify_outcomes_are_stated_exactly(tmp_path: Path) -> None:
    """Intact, cut below the sidecar, rewritten end, short of a given head: exact results."""
    path = tmp_path / "audit.jsonl"
    lines = _log(path, 4)
    digests = [hashlib.sha256(line.rstrip(b"\n")).hexdigest() for line in lines]
    intact = verify(path)
    assert str(intact) == f"intact: 4 lines, head {digests[3]}"
    assert (intact.first_broken, intact.reason, intact.head) == (None, "", digests[3])
    path.write_bytes(b"".join(lines[:3]))
    cut = verify(path)
    assert (cut.ok, cut.lines, cut.first_broken, cut.head) == (False, 3, 4, digests[2])
    assert cut.reason == (
        "the file ends before the head in audit.jsonl.head (4 lines): lines were cut off the end"
    )
    head_path(path).write_text(json.dumps({"digest": "f" * 64, "lines": 2}))
    rewritten = verify(path)
    assert (rewritten.ok, rewritten.lines, rewritten.first_broken) == (False, 3, 2)
    assert rewritten.head == digests[2]
    assert rewritten.reason == f"line 2 does not hash to the head in audit.jsonl.head ({'f' * 64})"
    head_path(path).unlink()
    short = verify(path, head=digests[3])
    assert (short.ok, short.lines, short.first_broken, short.head) == (False, 3, 4, digests[2])
    assert short.reason == (
        f"the file ends before head {digests[3]} (lines were cut off the end, or the head is "
        "not of this log)"
    )
    assert verify(path, head=digests[1]).ok and verify(path, head=GENESIS).ok


def test_a_text_file_is_not_an_audit_log_in_one_line(tmp_path: Path) -> None:
    """A file with no audit entry is one InputError line naming the file."""
    path = tmp_path / "notes.txt"
    path.write_text("hello\n")
    with pytest.raises(InputError) as refused:
        verify(path)
    assert str(refused.value) == f"{path}: is not a chainsim audit log (no line is an audit entry)"


@pytest.mark.parametrize(
    "sidecar",
    [
        "[]",
        '{"digest": 1, "lines": 1}',
        '{"digest": "ab", "lines": true}',
        '{"digest": "ab", "lines": -1}',
        '{"digest": "ab"}',
    ],
)
def test_a_malformed_sidecar_is_bad_input(tmp_path: Path, sidecar: str) -> None:
    """A head sidecar that is not `{"digest": str, "lines": int >= 0}` is one InputError line."""
    path = tmp_path / "audit.jsonl"
    _log(path, 1)
    head_path(path).write_text(sidecar)
    with pytest.raises(InputError) as refused:
        read_head(path)
    assert str(refused.value) == (
        f'{head_path(path)}: expected {{"digest": "<hex>", "lines": <count>}}'
    )
    head_path(path).write_text('{"digest": "ab", "lines": 0}')
    assert read_head(path) == AuditHead("ab", 0)


def test_a_sidecar_that_is_not_small_json_is_bad_input(tmp_path: Path) -> None:
    """A sidecar that is not JSON names itself; one over 4,096 bytes is refused unread."""
    path = tmp_path / "audit.jsonl"
    _log(path, 1)
    head_path(path).write_text("{")
    with pytest.raises(InputError, match=f"^{head_path(path)}: "):
        read_head(path)
    frame = len(json.dumps({"digest": "", "lines": 1}))
    head_path(path).write_text(json.dumps({"digest": "a" * (4096 - frame), "lines": 1}))
    assert read_head(path) == AuditHead("a" * (4096 - frame), 1)  # exactly 4,096 bytes
    head_path(path).write_text(json.dumps({"digest": "a" * (4097 - frame), "lines": 1}))
    with pytest.raises(InputError) as refused:
        read_head(path)
    assert "expected" not in str(refused.value)  # refused for its size, before parsing


def test_a_broken_result_carries_the_last_good_head(tmp_path: Path) -> None:
    """When line 3 breaks, `head` is the hash of line 2, the last line that verified."""
    path = tmp_path / "audit.jsonl"
    lines = _log(path, 3)
    path.write_bytes(lines[0] + lines[1] + b"garbage\n")
    result = verify(path)
    assert (result.first_broken, result.head) == (
        3,
        hashlib.sha256(lines[1].rstrip(b"\n")).hexdigest(),
    )


def test_an_empty_log_with_a_zero_head_verifies(tmp_path: Path) -> None:
    """An empty file whose sidecar says 0 lines at GENESIS is intact."""
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b"")
    head_path(path).write_text(json.dumps({"digest": GENESIS, "lines": 0}))
    result = verify(path)
    assert (result.ok, result.lines, result.head, result.reason) == (True, 0, GENESIS, "")


def test_a_keyed_log_edited_in_place_fails_with_the_key(tmp_path: Path) -> None:
    """An edited value in a keyed log (nothing recomputed) breaks at that line under the key."""
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, key=b"k")
    for i in range(3):
        log.append("step", index=i)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + lines[1].replace(b'"index":1', b'"index":7') + lines[2])
    result = verify(path, key=b"k")
    assert (result.ok, result.first_broken) == (False, 2)


def test_lines_are_canonical_json_with_sorted_keys(tmp_path: Path) -> None:
    """Every line is compact JSON with sorted keys, so any verifier can recompute digests."""
    path = tmp_path / "audit.jsonl"
    AuditLog(path).append("step", zeta=1, alpha={"b": 2, "a": 1})
    (line,) = path.read_bytes().splitlines()
    entry = json.loads(line)
    assert line == json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()
    assert list(entry) == sorted(entry) and list(entry["data"]) == ["alpha", "zeta"]


def test_non_ascii_and_non_json_data_are_written_readably(tmp_path: Path) -> None:
    """Non-ASCII text is written as UTF-8 (not escaped); other objects as their `str`."""
    path = tmp_path / "audit.jsonl"
    AuditLog(path).append("step", queue="Café ☎", where=Path("plans/a.yaml"))
    raw = path.read_bytes()
    assert "Café ☎".encode() in raw
    assert json.loads(raw)["data"] == {"queue": "Café ☎", "where": "plans/a.yaml"}
    assert verify(path).ok


def test_an_entry_has_exactly_its_documented_fields(tmp_path: Path) -> None:
    """seq, UTC time in ms, the clock to 6 places (None without one), step, data, prev, digest."""
    import re

    clock = VirtualClock()
    clock.sleep(1.23456789)
    entry = AuditLog(tmp_path / "a.jsonl", clock=clock).append("start", run="r1")
    assert sorted(entry) == ["clock", "data", "digest", "prev", "seq", "step", "time"]
    assert (entry["seq"], entry["step"], entry["data"], entry["prev"]) == (
        1,
        "start",
        {"run": "r1"},
        GENESIS,
    )
    assert entry["clock"] == 1.234568
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", entry["time"])
    plain = AuditLog(tmp_path / "b.jsonl").append("start")
    assert plain["clock"] is None and "mac" not in plain
    assert AuditLog(tmp_path / "c.jsonl", key=b"k").append("start")["mac"] == "hmac-sha256"


def test_a_new_log_is_created_rw_r_r(tmp_path: Path) -> None:
    """The audit file is created with mode 0644 (less what the umask removes)."""
    umask = os.umask(0o022)
    try:
        path = tmp_path / "audit.jsonl"
        AuditLog(path).append("step")
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644


def test_a_log_in_missing_directories_creates_them(tmp_path: Path) -> None:
    """The log's parent directories are created as needed."""
    path = tmp_path / "a" / "b" / "audit.jsonl"
    AuditLog(path).append("step")
    assert verify(path).ok


def test_continuing_hashes_the_last_line_exactly_as_written(tmp_path: Path) -> None:
    """The next entry's `prev` hashes the last line's bytes, trailing spaces included."""
    path = tmp_path / "audit.jsonl"
    (line,) = _log(path, 1)
    path.write_bytes(line.rstrip(b"\n") + b"  \n")
    entry = AuditLog(path).append("after")
    assert entry["prev"] == hashlib.sha256(line.rstrip(b"\n") + b"  ").hexdigest()

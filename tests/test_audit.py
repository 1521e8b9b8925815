"""Tests for the hash-chained audit log."""

from __future__ import annotations

import gc
import hashlib
import hmac
import json
import os
from pathlib import Path

import pytest

from chainsim.audit import (
    GENESIS,
    MAC,
    AuditHead,
    AuditLog,
    _canonical,
    _digest,
    _signed,
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


def test_appends_are_fsynced(tmp_path: Path, fsynced: list[str]) -> None:
    """Each append fsyncs the audit file itself before returning."""
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    log.append("one")
    log.append("two")
    assert fsynced.count(str(path.resolve())) == 2


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


def test_a_line_twice_the_limit_counts_as_one_line(tmp_path: Path) -> None:
    """A line far over MAX_LINE_BYTES is one broken line: the lines after it count once."""
    from chainsim.audit import MAX_LINE_BYTES

    path = tmp_path / "audit.jsonl"
    lines = _log(path, 2)
    path.write_bytes(lines[0] + b"x" * (2 * MAX_LINE_BYTES + 7) + b"\n" + lines[1])
    result = verify(path)
    assert (result.ok, result.first_broken, result.lines) == (False, 2, 3)
    assert result.reason == f"longer than {MAX_LINE_BYTES:,} bytes (not an audit entry)"
    path.write_bytes(lines[0] + b"x" * (2 * MAX_LINE_BYTES + 7))
    torn = verify(path)
    assert (torn.first_broken, torn.lines) == (2, 2)


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


# ------------------------------------------------- group commit (issue 9, item 5)


def test_lines_reach_the_file_before_any_commit(tmp_path: Path) -> None:
    """Each appended line can be read through another handle at once; no sidecar yet."""
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, commit_every=100)
    for n in range(1, 4):
        log.append("step", n=n)
        with open(path, "rb") as other:
            lines = other.read().splitlines()
        assert len(lines) == n and json.loads(lines[-1])["data"] == {"n": n}
    assert not head_path(path).exists() and read_head(path) is None
    assert log.committed() == AuditHead(GENESIS, 0)


def test_the_sidecar_is_written_at_commit(tmp_path: Path) -> None:
    """commit() writes the in-memory head to the sidecar and returns it; later appends
    leave the sidecar where it was until the next commit."""
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, commit_every=100)
    log.append("one")
    log.append("two")
    head = log.commit()
    assert head == log.head() == read_head(path) == log.committed() and head.lines == 2
    log.append("three")
    assert read_head(path) == head != log.head()
    assert log.commit() == read_head(path) == AuditHead(log.head().digest, 3)


def test_fsync_happens_at_commit_not_at_each_append(tmp_path: Path, fsynced: list[str]) -> None:
    """With batching, appends fsync nothing; one commit fsyncs the log once, then the sidecar."""
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, commit_every=100)
    for n in range(5):
        log.append("step", n=n)
    assert fsynced == []
    log.commit()
    assert fsynced.count(str(path.resolve())) == 1
    assert fsynced[0] == str(path.resolve())  # the log before the sidecar that names its head
    assert len(fsynced) > 1  # the sidecar's temp file (and its directory) too
    fsynced.clear()
    log.commit()  # nothing new: no fsync, no sidecar write
    assert fsynced == []


def test_every_nth_append_commits_automatically(tmp_path: Path, fsynced: list[str]) -> None:
    """With commit_every=3 the sidecar moves at lines 3 and 6, and the log is fsync'd then."""
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, commit_every=3)
    seen = []
    for n in range(1, 8):
        log.append("step", n=n)
        recorded = read_head(path)
        seen.append(recorded.lines if recorded else None)
        if recorded is not None:
            assert recorded == log.committed()
    assert seen == [None, None, 3, 3, 3, 6, 6]
    assert fsynced.count(str(path.resolve())) == 2


def test_the_default_commits_every_append(tmp_path: Path) -> None:
    """AuditLog(path) with defaults: the sidecar equals the head after every append."""
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    assert log.commit_every == 1
    for n in range(1, 4):
        log.append("step")
        assert read_head(path) == log.head() == log.committed() and log.head().lines == n


def test_commit_every_must_be_positive(tmp_path: Path) -> None:
    """commit_every below 1 is refused (a log that never commits on its own is not offered)."""
    with pytest.raises(ValueError, match="at least 1"):
        AuditLog(tmp_path / "audit.jsonl", commit_every=0)


def test_close_commits_and_a_later_append_reopens(tmp_path: Path) -> None:
    """close() commits what was appended; the log can still be appended to afterwards."""
    path = tmp_path / "audit.jsonl"
    with AuditLog(path, commit_every=100) as log:
        log.append("one")
        assert read_head(path) is None
    assert read_head(path) == log.head() and log.head().lines == 1
    log.append("two")
    assert log.close() == read_head(path) and read_head(path).lines == 2
    assert verify(path).ok and verify(path).lines == 2


def test_a_lagging_sidecar_verifies_and_a_cut_before_it_fails(tmp_path: Path) -> None:
    """A sidecar naming an earlier line (lines appended after the last commit, then a
    kill -9) verifies intact; cutting the file before the sidecar's line still fails."""
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, commit_every=100)
    for n in range(3):
        log.append("step", n=n)
    committed = log.commit()
    log.append("late")
    log.append("later")  # the process is killed here: no commit
    assert read_head(path) == committed and committed.lines == 3
    result = verify(path)
    assert result.ok and result.lines == 5 and result.head == log.head().digest
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:3]))
    assert verify(path).ok  # cut down to exactly the committed line: still reaches it
    path.write_bytes(b"".join(lines[:2]))
    cut = verify(path)
    assert not cut.ok and cut.first_broken == 3 and "ends before the head" in cut.reason


def test_a_lagging_sidecar_must_hash_to_its_own_line(tmp_path: Path) -> None:
    """The sidecar's digest is checked against line `lines` itself, not the last line."""
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, commit_every=100)
    for n in range(4):
        log.append("step", n=n)
    head_path(path).write_text(json.dumps({"digest": log.head().digest, "lines": 2}))
    result = verify(path)
    assert not result.ok and result.first_broken == 2 and "does not hash" in result.reason


def test_a_log_killed_between_commits_is_continued_and_committed(tmp_path: Path) -> None:
    """The next AuditLog continues after the uncommitted lines and moves the sidecar on."""
    path = tmp_path / "audit.jsonl"
    first = AuditLog(path, commit_every=100)
    first.append("one")
    first.commit()
    first.append("two")  # never committed (killed)
    again = AuditLog(path, commit_every=100)
    assert again.head() == first.head() == again.committed()
    entry = again.append("three")
    assert entry["seq"] == 3 and read_head(path).lines == 1
    assert again.commit().lines == 3 and read_head(path).lines == 3
    assert verify(path).ok


def test_concurrent_appends_and_commits_keep_the_chain_and_the_sidecar(tmp_path: Path) -> None:
    """Threads appending with auto commits every 7 lines: chain intact, at most 6 lines
    uncommitted once every append returned, a final commit at the head."""
    import threading

    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, commit_every=7)

    def work(k: int) -> None:
        for n in range(50):
            log.append("step", k=k, n=n)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert read_head(path).lines >= 200 - 6  # at most commit_every - 1 lines uncommitted
    assert log.commit() == read_head(path) == AuditHead(log.head().digest, 200)
    assert verify(path).ok and verify(path).lines == 200


# -------------------------------------- the Orchestrator commits before anything leaves


def test_the_callback_carries_the_head_the_sidecar_holds_when_it_is_sent(tmp_path: Path) -> None:
    """When the callback POST leaves, the sidecar holds the head the report carries; the
    returned result's head is committed too (batching log: no per-append commit)."""
    import httpx

    from chainsim.callbacks import CallbackNotifier
    from tests.orchestrator_rig import CALLBACK_URL, make_rule, plan_of, rig

    path = tmp_path / "audit.jsonl"
    seen: list[tuple[dict, AuditHead | None, AuditHead]] = []
    with rig(tmp_path, [make_rule(x) for x in "abcd"]) as r:
        log = AuditLog(path, clock=r.clock, commit_every=1000)

        def hook(request: httpx.Request) -> httpx.Response:
            seen.append((json.loads(request.content), read_head(path), log.head()))
            return httpx.Response(200)

        r.router.post(CALLBACK_URL).mock(side_effect=hook)
        notifier = CallbackNotifier(CALLBACK_URL, "cb-secret", http=r.http)
        result = r.orchestrator(audit=log, callback=notifier).apply(plan_of(("a", "b")))
    assert result.status == "applied" and len(seen) == 1
    body, sidecar, memory = seen[0]
    assert sidecar is not None and sidecar == memory
    assert body["report"]["audit_head"] == sidecar.digest
    assert body["audit"][-1]["step"] == "finish"
    assert result.audit_head == read_head(path).digest == log.head().digest
    assert result.to_report()["audit_head"] == result.audit_head != sidecar.digest
    assert verify(path, head=result.audit_head).ok


def test_every_dead_letter_leaves_after_a_commit(tmp_path: Path) -> None:
    """At each dead-letter POST the sidecar equals the in-memory head: the run's lines and
    the line of every letter sent before are on disk."""
    import httpx

    from tests.orchestrator_rig import DLQ_URL, make_rule, plan_of, rig

    path = tmp_path / "audit.jsonl"
    at_post: list[tuple[AuditHead | None, AuditHead]] = []
    with rig(tmp_path, [make_rule(x) for x in "abcde"], max_depth=1) as r:  # b, d refused
        log = AuditLog(path, clock=r.clock, commit_every=1000)

        def letter(request: httpx.Request) -> httpx.Response:
            at_post.append((read_head(path), log.head()))
            return httpx.Response(202)

        r.router.post(DLQ_URL).mock(side_effect=letter)
        pairs = [("a", "b"), ("b", "c"), ("c", "d"), ("d", "e")]
        result = r.orchestrator(audit=log, atomic=False).apply(
            plan_of(*pairs, dead_letter={"url": DLQ_URL})
        )
    assert result.status == "partial" and result.dead_letters == 2 and len(at_post) == 2
    assert all(sidecar == memory for sidecar, memory in at_post)
    assert at_post[1][1].lines > at_post[0][1].lines  # the first letter's line came between
    assert read_head(path) == log.head() and result.audit_head == log.head().digest


def test_a_run_that_raises_still_commits_its_lines(tmp_path: Path) -> None:
    """A run ended by an exception (here a BusError escaping resume's check) still commits."""
    from chainsim.bus.base import BusError
    from tests.orchestrator_rig import make_rule, plan_of, rig

    path = tmp_path / "audit.jsonl"
    with rig(tmp_path, [make_rule(x) for x in "ab"]) as r:
        log = AuditLog(path, clock=r.clock, commit_every=1000)
        orch = r.orchestrator(audit=log)

        def boom(*_: object) -> None:
            raise BusError("the bus went away")

        orch.validate = boom  # type: ignore[method-assign]
        with pytest.raises(BusError):
            orch.apply(plan_of(("a", "b")))
    assert log.head().lines >= 2 and read_head(path) == log.head()


def test_redrive_commits_its_lines(tmp_path: Path) -> None:
    """Redriving letters through a batching log leaves the sidecar at the head."""
    from chainsim.deadletter import read_spool
    from tests.orchestrator_rig import make_rule, plan_of, rig

    path = tmp_path / "audit.jsonl"
    with rig(tmp_path, [make_rule(x) for x in "abcde"], max_depth=2) as r:
        plan = plan_of(("a", "b"), ("c", "d"), ("b", "c"))
        assert r.orchestrator(atomic=False).apply(plan).status == "partial"
        r.fake.state.max_depth = 5
        log = AuditLog(path, clock=r.clock, commit_every=1000)
        redriven = r.orchestrator(audit=log).redrive(read_spool(tmp_path / "spool.jsonl"))
    assert [outcome.outcome for _, outcome in redriven] == ["applied"]
    assert log.run_lines[-1]["step"] == "redrive" and read_head(path) == log.head()


def test_cli_apply_batches_its_audit_commits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fsynced: list[str]
) -> None:
    """`chainsim apply --bus fake` fsyncs its audit log far less often than it writes lines,
    and leaves the sidecar at the head the report carries."""
    from typer.testing import CliRunner

    from chainsim.cli import app
    from tests.orchestrator_rig import make_rule

    monkeypatch.chdir(tmp_path)
    ids = [f"r{i:02d}" for i in range(21)]
    (tmp_path / "inv.json").write_text(json.dumps([make_rule(x) for x in ids]))
    links = [{"source": s, "destination": ids[-1], "event_type": f"type.{s}"} for s in ids[:-1]]
    (tmp_path / "plan.json").write_text(json.dumps({"links": links}))
    path = tmp_path / "audit.jsonl"
    args = ["apply", "plan.json", "--bus", "fake", "--inventory", "inv.json"]
    result = CliRunner().invoke(app, [*args, "--audit", str(path), "--report", "r.json"])
    assert result.exit_code == 0, result.output
    lines = path.read_bytes().count(b"\n")
    assert lines >= 24 and fsynced.count(str(path.resolve())) == 1  # the end-of-run commit
    report = json.loads((tmp_path / "r.json").read_text())
    assert read_head(path) == AuditHead(report["audit_head"], lines)
    assert verify(path).ok


@pytest.mark.parametrize(
    ("entry", "key"),
    [
        ({"seq": 1, "time": "t", "clock": None, "step": "s", "data": {}, "prev": GENESIS}, None),
        (
            {"seq": 2, "time": "t", "clock": 1.5, "step": "é", "data": {"prev": ',"x"}'}},
            b"k",
        ),
        ({"clock": 0, "data": {"a": [1, {"b": "ü"}]}}, None),  # nothing sorts after digest
        ({"data": {"mac": 1}, "mac": MAC, "prev": "p", "seq": 3, "step": "s", "time": "t"}, b"k"),
    ],
)
def test_signed_lines_are_the_canonical_entry_with_its_digest(entry: dict, key) -> None:
    """The one-encoding line of an append is byte for byte `_canonical` of the signed entry."""
    digest, line = _signed(entry, key)
    assert digest == _digest(entry, key)
    assert line == _canonical({**entry, "digest": digest}).encode("utf-8")


# ------------------------------------------------- mutation testing, part 4


def test_an_over_long_line_reads_as_over_long_however_its_end_falls(tmp_path: Path) -> None:
    """A line one byte over the limit before its newline, or torn at the end: still over-long."""
    from chainsim.audit import MAX_LINE_BYTES

    path = tmp_path / "audit.jsonl"
    lines = _log(path, 2)
    over = f"longer than {MAX_LINE_BYTES:,} bytes (not an audit entry)"
    path.write_bytes(lines[0] + b"x" * (MAX_LINE_BYTES + 1) + b"\n" + lines[1])
    result = verify(path)
    assert (result.first_broken, result.lines, result.reason) == (2, 3, over)
    path.write_bytes(lines[0] + b"x" * (2 * MAX_LINE_BYTES + 7))
    torn = verify(path)
    assert (torn.first_broken, torn.lines, torn.reason) == (2, 2, over)


def test_a_line_with_trailing_garbage_is_not_json(tmp_path: Path) -> None:
    """Only the newline (and a CR before it) is taken off a line: `{}X` is not JSON."""
    path = tmp_path / "audit.jsonl"
    (line,) = _log(path, 1)
    path.write_bytes(line + b"{}X\n")
    result = verify(path)
    assert result.first_broken == 2 and result.reason.startswith("not a JSON line (")


def test_a_directory_is_refused_before_its_sidecar_is_read(tmp_path: Path) -> None:
    """`verify DIR` says it is a directory, even with a damaged sidecar beside it."""
    path = tmp_path / "audit.jsonl"
    path.mkdir()
    head_path(path).write_text("garbage")
    with pytest.raises(InputError, match="is a directory"):
        verify(path)


def test_closing_a_log_that_never_wrote_does_nothing(tmp_path: Path) -> None:
    """close() before any append returns the empty head and creates no file."""
    path = tmp_path / "audit.jsonl"
    assert AuditLog(path).close() == AuditHead(GENESIS, 0)
    assert not path.exists() and read_head(path) is None


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd")
def test_close_releases_the_logs_descriptor(tmp_path: Path) -> None:
    """After close() the process holds no descriptor for the log any more."""
    gc.collect()  # earlier tests' unreferenced logs close their descriptors now, not mid-test
    before = set(os.listdir("/proc/self/fd"))
    log = AuditLog(tmp_path / "audit.jsonl")
    log.append("one")
    assert set(os.listdir("/proc/self/fd")) != before
    log.close()
    assert set(os.listdir("/proc/self/fd")) == before


def test_commit_every_below_one_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    """The ValueError says exactly what is wrong."""
    with pytest.raises(ValueError, match=r"^commit_every must be at least 1$"):
        AuditLog(tmp_path / "audit.jsonl", commit_every=0)

"""Certifies audit-log integrity: every step of an apply is one JSONL line carrying the
SHA-256 of the line before; the log verifies intact after an apply (and after a second
run appended to it), and any edit, deletion, insertion or reordering of a line is found
at the first broken line. No secret reaches the log.
"""

from __future__ import annotations

import json

import pytest

from chainsim.audit import AuditLog, verify

pytestmark = pytest.mark.chainsim_live_safe


@pytest.fixture
def audited(chain_factory, orchestrator_factory, chainsim_clock, tmp_path):
    """An applied chain and its audit log (two runs: an apply, then a no-op re-apply)."""
    path = tmp_path / "audit.jsonl"
    chain = chain_factory("A->B->C")
    first = orchestrator_factory(audit=AuditLog(path, clock=chainsim_clock)).apply(chain.plan())
    second = orchestrator_factory(audit=AuditLog(path, clock=chainsim_clock)).apply(chain.plan())
    assert (first.status, second.status) == ("applied", "unchanged")
    return path, second


def test_the_log_of_two_runs_verifies(audited):
    """The chain of hashes runs unbroken through both runs; the head matches the result."""
    path, result = audited
    check = verify(path)
    lines = path.read_text().splitlines()
    assert check.ok, str(check)
    assert check.lines == len(lines) > 4
    assert check.head == result.audit_head
    steps = [json.loads(line)["step"] for line in lines]
    assert steps.count("finish") == 2


def test_no_secret_reaches_the_log(audited, chainsim_backend):
    """Neither the client secret nor a bearer token appears in the audit log."""
    path, _ = audited
    text = path.read_text()
    _, secret = chainsim_backend.credentials()
    leaked = secret in text  # never let an assertion message print the secret
    assert not leaked, "the client secret appears in the audit log"
    assert "Bearer" not in text


@pytest.mark.parametrize("tamper", ["edit", "delete", "insert", "reorder"])
def test_tampering_is_found_at_the_first_broken_line(tamper, audited):
    """Each kind of tampering breaks verification at the line where it happened."""
    path, _ = audited
    lines = path.read_text().splitlines()
    k = 2  # tamper with the third line
    if tamper == "edit":
        entry = json.loads(lines[k])
        entry["step"] = "nothing-happened"
        lines[k] = json.dumps(entry, sort_keys=True, separators=(",", ":"))
    elif tamper == "delete":
        del lines[k]
    elif tamper == "insert":
        lines.insert(k, lines[k - 1])
    else:
        lines[k], lines[k + 1] = lines[k + 1], lines[k]
    path.write_text("\n".join(lines) + "\n")

    check = verify(path)

    assert not check.ok
    assert check.first_broken == k + 1

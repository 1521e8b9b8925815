"""Tests for the dead-letter sink and its spool."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import respx

from chainsim.deadletter import DeadLetter, DeadLetterSink, read_spool, rewrite_spool
from chainsim.model import InputError

URL = "https://dlq.example.com/letters"


def _letter(rule_id: str = "r1") -> DeadLetter:
    return DeadLetter(
        rule_id, {"id": rule_id, "version": 3}, 422, "chain.too.deep", "too deep", f"run:{rule_id}"
    )


def test_letter_is_posted_when_the_endpoint_answers(tmp_path: Path) -> None:
    """A reachable dead-letter URL receives the letter as JSON; nothing is spooled."""
    spool = tmp_path / "dl.jsonl"
    with respx.mock() as router, httpx.Client() as http:
        route = router.post(URL).mock(return_value=httpx.Response(202))
        delivery = DeadLetterSink(url=URL, spool=spool, http=http).send(_letter())
    assert delivery.where == "posted"
    body = json.loads(route.calls.last.request.content)
    assert body["rule_id"] == "r1" and body["status"] == 422 and body["trace_id"] == "run:r1"
    assert body["payload"] == {"id": "r1", "version": 3} and "timestamp" in body
    assert not spool.exists()


@pytest.mark.parametrize("failure", [httpx.Response(500), httpx.ConnectError("refused")])
def test_letter_is_spooled_when_the_endpoint_fails(tmp_path: Path, failure: object) -> None:
    """A 5xx or an unreachable dead-letter URL puts the letter in the spool instead."""
    spool = tmp_path / "dl.jsonl"
    with respx.mock() as router, httpx.Client() as http:
        if isinstance(failure, httpx.Response):
            router.post(URL).mock(return_value=failure)
        else:
            router.post(URL).mock(side_effect=failure)
        delivery = DeadLetterSink(url=URL, spool=spool, http=http).send(_letter())
    assert delivery.where == "spooled" and delivery.error
    assert [letter.rule_id for letter in read_spool(spool)] == ["r1"]


def test_spool_appends_and_rewrites_atomically(tmp_path: Path) -> None:
    """Letters append in order; rewrite_spool replaces the file and leaves no temp files."""
    spool = tmp_path / "dl.jsonl"
    sink = DeadLetterSink(url=None, spool=spool)
    for rule_id in ("a", "b", "c"):
        sink.send(_letter(rule_id))
    letters = read_spool(spool)
    assert [x.rule_id for x in letters] == ["a", "b", "c"]
    rewrite_spool(spool, letters[1:2])
    assert [x.rule_id for x in read_spool(spool)] == ["b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dl.jsonl"]


def test_damaged_spool_is_bad_input(tmp_path: Path) -> None:
    """A spool line that is not JSON is an InputError naming the line."""
    spool = tmp_path / "dl.jsonl"
    spool.write_text("{oops\n")
    with pytest.raises(InputError, match="line 1"):
        read_spool(spool)

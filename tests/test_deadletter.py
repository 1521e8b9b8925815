"""Tests for the dead-letter sink and its spool."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import httpx
import pytest
import respx

from chainsim.callbacks import SIGNATURE_HEADER, verify_signature
from chainsim.deadletter import (
    DeadLetter,
    DeadLetterSink,
    Delivery,
    bytes_digest,
    post_letter,
    read_spool,
    remove_letters,
    rewrite_spool,
    write_run_plan,
)
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


def _spool_line(**changes: object) -> str:
    record = {**_letter().to_json(), **changes}
    return json.dumps(record) + "\n"


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"rule_id": 7}, "line 1: rule_id: Input should be a valid string"),
        ({"rule_id": ["x"]}, "line 1: rule_id: Input should be a valid string"),
        ({"status": "500"}, "line 1: status: Input should be a valid integer"),
        ({"status": 10**30}, "line 1: status: Input should be less than or equal to 599"),
        ({"payload": [1, 2]}, "line 1: payload: Input should be a valid dictionary"),
        ({"fields": "id"}, "line 1: fields: Input should be a valid list"),
        ({"atomic": "yes"}, "line 1: atomic: Input should be a valid boolean"),
        ({"trace_id": None}, "line 1: trace_id: Input should be a valid string"),
    ],
)
def test_a_spool_line_with_wrong_types_is_one_input_error(
    tmp_path: Path, changes: dict, problem: str
) -> None:
    """A wrongly typed spool record is refused as `file: line N: field: what`, on one line."""
    spool = tmp_path / "dl.jsonl"
    spool.write_text(_spool_line(**changes))
    with pytest.raises(InputError) as caught:
        read_spool(spool)
    assert str(caught.value) == f"{spool}: {problem}" and "\n" not in str(caught.value)


def test_a_missing_field_names_the_line_and_field(tmp_path: Path) -> None:
    """A record without `message` names line 2 and the field."""
    spool = tmp_path / "dl.jsonl"
    record = _letter().to_json()
    del record["message"]
    spool.write_text(_spool_line() + json.dumps(record) + "\n")
    with pytest.raises(InputError, match=r"line 2: message: Field required"):
        read_spool(spool)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[" * 50_000 + "]" * 50_000, "line 1: invalid JSON: nested too deeply"),
        ('{"payload": ' + '{"a": ' * 300 + "1" + "}" * 301, "nested too deeply"),
        ('{"status": ' + "9" * 5000 + "}", "an integer of more than 100 digits"),
    ],
)
def test_hostile_spool_lines_are_input_errors(tmp_path: Path, text: str, problem: str) -> None:
    """Deep nesting and a 5,000-digit integer are one InputError, not RecursionError/ValueError."""
    spool = tmp_path / "dl.jsonl"
    spool.write_text(text + "\n")
    with pytest.raises(InputError, match=problem):
        read_spool(spool)


def test_a_spool_that_is_not_there_is_bad_input_when_named(tmp_path: Path) -> None:
    """`missing_ok=False` (an explicit --spool) turns an absent spool into `no such file`."""
    assert read_spool(tmp_path / "none.jsonl") == []
    with pytest.raises(InputError, match="no such file"):
        read_spool(tmp_path / "none.jsonl", missing_ok=False)


def test_spool_append_is_fsynced(tmp_path: Path, fsynced: list[str]) -> None:
    """Spooling a letter fsyncs the spool file itself before send returns."""
    spool = tmp_path / "dl.jsonl"
    DeadLetterSink(url=None, spool=spool).send(_letter())
    assert str(spool.resolve()) in fsynced


def test_run_id_and_atomic_are_recorded_and_read_back(tmp_path: Path) -> None:
    """Each letter keeps the run it came from and whether that run was atomic."""
    spool = tmp_path / "dl.jsonl"
    letter = dataclasses.replace(_letter(), run_id="run-7", atomic=True)
    DeadLetterSink(url=None, spool=spool).send(letter)
    record = json.loads(spool.read_text())
    assert record["run_id"] == "run-7" and record["atomic"] is True
    (back,) = read_spool(spool)
    assert back == letter


def test_a_dead_letter_post_is_signed_when_a_secret_is_given() -> None:
    """With a secret the POST carries `t=...,v1=...` over its exact body; without, none."""
    with respx.mock() as router, httpx.Client() as http:
        route = router.post(URL).mock(return_value=httpx.Response(202))
        DeadLetterSink(url=URL, http=http, secret="dl-secret", now=lambda: 1_700_000_000).send(
            _letter()
        )
        signed = route.calls.last.request
        DeadLetterSink(url=URL, http=http).send(_letter())
        unsigned = route.calls.last.request
    header = signed.headers[SIGNATURE_HEADER]
    assert header.startswith("t=1700000000,v1=")
    assert verify_signature(signed.content, header, "dl-secret", now=1_700_000_000)
    assert SIGNATURE_HEADER not in unsigned.headers
    assert "dl-secret" not in repr(DeadLetterSink(url=URL, secret="dl-secret"))


# ------------------------------------------------- mutation testing (issue 13)


def _compact(letter: DeadLetter) -> str:
    return json.dumps(letter.to_json(), sort_keys=True, separators=(",", ":")) + "\n"


def test_spool_lines_are_compact_json_with_sorted_keys(tmp_path: Path) -> None:
    """Each letter is one compact JSON line, keys sorted; a rewrite keeps that form."""
    spool = tmp_path / "dl.jsonl"
    letters = [_letter("a"), _letter("b"), _letter("c")]
    sink = DeadLetterSink(url=None, spool=spool)
    for letter in letters:
        sink.send(letter)
    assert spool.read_text() == "".join(_compact(x) for x in letters)
    rewrite_spool(spool, [letters[0], letters[2]])
    assert spool.read_text() == _compact(letters[0]) + _compact(letters[2])
    assert read_spool(spool) == [letters[0], letters[2]]


def test_without_a_url_the_letter_is_spooled_saying_so(tmp_path: Path) -> None:
    """No dead-letter URL: spooled, with the reason `no dead-letter URL`."""
    delivery = DeadLetterSink(url=None, spool=tmp_path / "dl.jsonl").send(_letter())
    assert delivery == Delivery("r1", "spooled", "no dead-letter URL")


@pytest.mark.parametrize(
    ("failure", "error"),
    [(httpx.Response(503), "HTTP 503"), (httpx.ConnectError("refused"), "ConnectError")],
)
def test_a_failed_post_names_why(tmp_path: Path, failure: object, error: str) -> None:
    """The spooled delivery says why the POST failed: its status or the exception type."""
    with respx.mock() as router, httpx.Client() as http:
        if isinstance(failure, httpx.Response):
            router.post(URL).mock(return_value=failure)
        else:
            router.post(URL).mock(side_effect=failure)
        sink = DeadLetterSink(url=URL, spool=tmp_path / "dl.jsonl", http=http)
        assert sink.send(_letter()) == Delivery("r1", "spooled", error)
    assert sink.deliveries == [Delivery("r1", "spooled", error)]


def test_the_given_client_posts_json_with_the_timeout() -> None:
    """The injected client sends the letter as `application/json` with the sink's timeout."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202)

    letter = _letter()
    with httpx.Client(transport=httpx.MockTransport(handler)) as http:
        delivery = DeadLetterSink(url=URL, http=http, timeout=2.5).send(letter)
    assert delivery == Delivery("r1", "posted")
    (request,) = seen
    assert json.loads(request.content) == letter.to_json()
    assert request.headers["content-type"] == "application/json"
    assert request.extensions["timeout"]["read"] == 2.5


def test_without_a_client_the_sink_posts_with_its_own() -> None:
    """No injected client: a client of its own POSTs the same body, headers and timeout."""
    with respx.mock() as router:
        route = router.post(URL).mock(return_value=httpx.Response(202))
        letter = _letter()
        assert DeadLetterSink(url=URL, timeout=3.0).send(letter).where == "posted"
    request = route.calls.last.request
    assert str(request.url) == URL
    assert json.loads(request.content) == letter.to_json()
    assert request.headers["content-type"] == "application/json"
    assert request.extensions["timeout"]["read"] == 3.0


def test_a_letter_reads_back_from_json_ignoring_unknown_keys() -> None:
    """`DeadLetter.from_json` keeps the known fields and ignores the rest."""
    letter = dataclasses.replace(_letter(), run_id="run-1", fields=["targets"])
    assert DeadLetter.from_json({**letter.to_json(), "extra": 1}) == letter


def test_the_sink_repr_names_url_and_spool(tmp_path: Path) -> None:
    """`repr` shows the URL and the spool path (and never the secret)."""
    sink = DeadLetterSink(url=URL, spool=tmp_path / "dl.jsonl", secret="s3cret")
    assert repr(sink) == f"DeadLetterSink(url={URL!r}, spool={str(tmp_path / 'dl.jsonl')!r})"


def test_the_spool_size_limit_is_applied(tmp_path: Path) -> None:
    """`read_spool(max_bytes=...)` refuses a spool larger than the limit."""
    spool = tmp_path / "dl.jsonl"
    DeadLetterSink(url=None, spool=spool).send(_letter())
    assert len(read_spool(spool, max_bytes=10_000)) == 1
    with pytest.raises(InputError):
        read_spool(spool, max_bytes=10)


def test_the_post_times_out_after_ten_seconds_by_default() -> None:
    """Without a `timeout`, the dead-letter POST waits at most 10 s."""
    with respx.mock() as router, httpx.Client() as http:
        route = router.post(URL).mock(return_value=httpx.Response(202))
        DeadLetterSink(url=URL, http=http).send(_letter())
    assert route.calls.last.request.extensions["timeout"]["read"] == 10.0


# ------------------------------------------------- mutation testing (issue 13)


def test_removing_letters_keeps_the_rest_and_letters_added_meanwhile(tmp_path: Path) -> None:
    """`remove_letters` drops each given letter once, keeps others and ignores unknown ones."""
    spool = tmp_path / "dl.jsonl"
    sink = DeadLetterSink(url=None, spool=spool)
    for rule_id in ("a", "b", "a", "c"):
        sink.send(dataclasses.replace(_letter(rule_id), timestamp="t"))
    a, b, _, c = read_spool(spool)
    left = remove_letters(spool, [a, c, _letter("never-spooled")])
    assert [letter.rule_id for letter in left] == ["b", "a"]
    assert read_spool(spool) == left
    assert spool.read_text() == _compact(b) + _compact(a)


def test_a_plan_file_digest_is_sha256_of_its_utf8_bytes(tmp_path: Path) -> None:
    """`write_run_plan` writes the text and returns `sha256:<hex>` of its UTF-8 bytes."""
    import hashlib

    text = '{"plan": "caf\u00e9"}'
    path = tmp_path / "runs" / "r.plan.json"
    digest = write_run_plan(path, text)
    assert path.read_text(encoding="utf-8") == text
    assert digest == "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert bytes_digest(b"") == (
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )


def test_a_deadline_at_zero_spools_without_a_post(tmp_path: Path) -> None:
    """A remaining time of 0 spools the letter saying the deadline passed; 0.5 s still POSTs."""
    with respx.mock() as router, httpx.Client() as http:
        route = router.post(URL).mock(return_value=httpx.Response(202))
        sink = DeadLetterSink(url=URL, spool=tmp_path / "dl.jsonl", http=http)
        assert sink.send(_letter(), timeout=0) == Delivery(
            "r1", "spooled", "dead-letter deadline passed"
        )
        assert route.call_count == 0
        assert sink.send(_letter(), timeout=0.5) == Delivery("r1", "posted")
    assert route.calls.last.request.extensions["timeout"]["read"] == 0.5


def test_post_letter_waits_ten_seconds_by_default() -> None:
    """`post_letter` without a `timeout` gives the POST 10 s."""
    with respx.mock() as router, httpx.Client() as http:
        route = router.post(URL).mock(return_value=httpx.Response(202))
        assert post_letter(_letter(), URL, http=http) is None
    assert route.calls.last.request.extensions["timeout"]["read"] == 10.0

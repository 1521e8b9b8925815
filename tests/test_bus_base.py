"""The one place that maps HTTP answers to BusError."""

import json

import httpx
import pytest

from chainsim.bus.base import (
    BadRequest,
    BusError,
    Conflict,
    Forbidden,
    NotFound,
    RateLimited,
    ServerError,
    TransportError,
    Unauthorized,
    Unprocessable,
    error_from_http,
    parse_retry_after,
    reauthorized,
    translate_transport_errors,
)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, BadRequest),
        (401, Unauthorized),
        (403, Forbidden),
        (404, NotFound),
        (409, Conflict),
        (422, Unprocessable),
        (429, RateLimited),
        (500, ServerError),
        (503, ServerError),
        (418, BusError),
    ],
)
def test_status_maps_to_its_error_class(status: int, kind: type[BusError]) -> None:
    """Each documented status becomes its own BusError subclass, keeping the status."""
    error = error_from_http(status, b"", {})
    assert type(error) is kind
    assert error.status == status


def test_genesys_body_fields_are_kept() -> None:
    """The Genesys message, code and contextId survive the mapping."""
    body = json.dumps(
        {
            "message": "Version 3 does not match the current version 4",
            "code": "conflict",
            "status": 409,
            "contextId": "ctx-1",
            "details": [],
            "errors": [],
        }
    )
    error = error_from_http(409, body, {})
    assert isinstance(error, Conflict)
    assert error.code == "conflict"
    assert error.context_id == "ctx-1"
    assert "does not match the current version" in str(error)


def test_rate_limited_carries_retry_after() -> None:
    """A 429 keeps the server's Retry-After in seconds, whatever the header's case."""
    error = error_from_http(429, "{}", {"retry-after": "7"})
    assert isinstance(error, RateLimited)
    assert error.retry_after == 7.0
    assert error.retryable


def test_unreadable_body_and_retry_after_do_not_raise() -> None:
    """Garbage bodies and headers degrade to a generic message, never an exception."""
    error = error_from_http(503, b"\xff<html>", {"Retry-After": "soon"})
    assert isinstance(error, ServerError)
    assert "HTTP 503" in str(error)
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after(None) is None


def test_retryable_kinds() -> None:
    """Only 429, 5xx and transport errors are retryable; 4xx answers are final."""
    assert TransportError("connection refused").retryable
    assert ServerError("boom").retryable
    assert not Conflict("stale").retryable
    assert not Unprocessable("cycle").retryable


def test_exchange_observers_time_each_exchange_on_the_injected_clock() -> None:
    """An exchange's elapsed time is measured on the client's clock and sent to every observer."""
    from chainsim.bus.base import Exchange, ExchangeObservers
    from chainsim.clock import VirtualClock

    clock = VirtualClock(start=10.0)
    seen: list[Exchange] = []
    observers = ExchangeObservers(clock, seen.append)
    observers.add(seen.append)
    start = observers.start()
    clock.advance(0.25)
    observers.report("PUT", "/api/v2/eventbridge/rules/a", 409, start, {"x": "1"})
    assert len(seen) == 2
    assert seen[0] == seen[1]
    assert (seen[0].started, seen[0].elapsed, seen[0].status) == (10.0, 0.25, 409)
    assert seen[0].headers == {"x": "1"}


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "Infinity"])
def test_a_non_finite_retry_after_is_no_hint(value: str) -> None:
    """`Retry-After: inf` (or nan) is unreadable, not an endless wait."""
    assert parse_retry_after({"Retry-After": value}) is None


def test_follow_pages_reads_every_page_and_refuses_a_repeated_token() -> None:
    """`follow_pages` yields each page's rules in order and stops a bus that loops."""
    from chainsim.bus.base import follow_pages
    from chainsim.model import Rule

    def rule(rid: str) -> Rule:
        return Rule(id=rid, event_type="t")

    pages = {None: ([rule("a")], "p2"), "p2": ([rule("b")], None)}
    assert [r.id for r in follow_pages(pages.__getitem__, "GET /x")] == ["a", "b"]
    looping = {None: ([rule("a")], "p2"), "p2": ([], "p2")}
    with pytest.raises(BusError, match="GET /x: the bus repeated a page token"):
        list(follow_pages(looping.__getitem__, "GET /x"))


# ------------------------------------------------------------- transport errors, re-auth


def test_transport_errors_are_translated_with_their_cause() -> None:
    """An httpx failure becomes TransportError naming the place, the httpx error its cause."""
    reported: list[str] = []
    refused = httpx.ConnectError("connection refused")
    failed = lambda: reported.append("failed")  # noqa: E731
    with pytest.raises(TransportError) as info, translate_transport_errors("GET /x", failed):
        raise refused
    assert str(info.value) == "GET /x: ConnectError"  # one line; the detail is in the cause
    assert str(info.value.__cause__) == "connection refused"
    assert info.value.__cause__ is refused and info.value.retryable
    assert reported == ["failed"]
    with pytest.raises(TransportError) as bare, translate_transport_errors("POST /oauth/token"):
        raise httpx.ReadTimeout("")
    assert str(bare.value) == "POST /oauth/token: ReadTimeout"


def test_other_errors_pass_through_untranslated() -> None:
    """Only httpx failures are transport errors; anything else (and success) is untouched."""
    reported: list[str] = []
    failed = lambda: reported.append("failed")  # noqa: E731
    with pytest.raises(Conflict), translate_transport_errors("PUT /x", failed):
        raise Conflict("stale")
    with pytest.raises(KeyError), translate_transport_errors("PUT /x", failed):
        raise KeyError("k")
    with translate_transport_errors("GET /x", failed):
        pass
    assert reported == []


def test_reauthorized_renews_once_after_a_401() -> None:
    """A 401 renews the credential it was sent with, then the call runs once more with a new one."""
    tokens = iter(["t1", "t2", "t3"])
    sent: list[str] = []
    renewed: list[str] = []

    def call(token: str) -> str:
        sent.append(token)
        if token == "t1":
            raise Unauthorized("expired")
        return f"ok with {token}"

    assert reauthorized(lambda: next(tokens), call, renewed.append) == "ok with t2"
    assert sent == ["t1", "t2"] and renewed == ["t1"]


def test_reauthorized_gives_up_after_the_second_401() -> None:
    """A second 401 in a row is the caller's Unauthorized, after exactly one renewal."""
    renewed: list[int] = []
    calls: list[int] = []

    def call(credential: int) -> None:
        calls.append(credential)
        raise Unauthorized("no")

    with pytest.raises(Unauthorized):
        reauthorized(lambda: 7, call, renewed.append)
    assert calls == [7, 7] and renewed == [7]


def test_reauthorized_does_not_retry_other_errors_or_a_refused_token() -> None:
    """A 403 is not a 401; a token request refused by `authorize` is never retried."""
    calls: list[str] = []

    def forbidden(token: str) -> None:
        calls.append(token)
        raise Forbidden("no permission")

    with pytest.raises(Forbidden):
        reauthorized(lambda: "t", forbidden, calls.append)
    assert calls == ["t"]

    def refused() -> str:
        calls.append("authorize")
        raise Unauthorized("bad client")

    with pytest.raises(Unauthorized):
        reauthorized(refused, forbidden, calls.append)
    assert calls == ["t", "authorize"]

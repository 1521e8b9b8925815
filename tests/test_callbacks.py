"""Tests for signed callbacks."""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx
import pytest
import respx

from chainsim.callbacks import SIGNATURE_HEADER, CallbackNotifier, sign, verify_signature

URL = "https://hooks.example.com/chainsim"


def test_signature_verifies_with_the_secret_and_fails_with_another() -> None:
    """verify_signature accepts the right secret's HMAC and refuses a wrong secret or body."""
    body = b'{"status":"applied"}'
    header = sign(body, "s3cret", 1_700_000_000)
    stamp, mac = header.split(",")
    assert stamp == "t=1700000000" and mac.startswith("v1=") and len(mac) == 3 + 64
    expected = hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert mac == f"v1={expected}"  # Stripe's scheme: HMAC-SHA256 of "<t>." + body
    assert verify_signature(body, header, "s3cret", now=1_700_000_000)
    assert not verify_signature(body, header, "wrong", now=1_700_000_000)
    assert not verify_signature(body + b" ", header, "s3cret", now=1_700_000_000)
    assert not verify_signature(body, None, "s3cret", now=1_700_000_000)


@pytest.mark.parametrize(
    ("offset", "ok"),
    [(0, True), (300, True), (-300, True), (301, False), (-301, False), (86_400, False)],
)
def test_stale_and_future_timestamps_are_refused(offset: int, ok: bool) -> None:
    """A signature older or newer than the tolerance (300 s) is refused: no replay later."""
    body = b'{"status":"applied"}'
    header = sign(body, "s3cret", 1_700_000_000)
    assert verify_signature(body, header, "s3cret", now=1_700_000_000 + offset) is ok
    assert verify_signature(body, header, "s3cret", tolerance=10**6, now=1_700_000_000 + offset)


def test_the_timestamp_is_signed() -> None:
    """Moving `t` forward to pass the tolerance check breaks the MAC (replay with a new t)."""
    body = b"{}"
    mac = sign(body, "s3cret", 1_000).split(",")[1]
    assert not verify_signature(body, f"t=2000,{mac}", "s3cret", now=2_000)


@pytest.mark.parametrize(
    "header",
    [
        "",
        "sha256=abc",
        "v1=" + "0" * 64,
        "t=1700000000",
        "t=,v1=" + "0" * 64,
        "t=-5,v1=" + "0" * 64,
        "t=1e9,v1=" + "0" * 64,
        "t=1700000000,t=1700000000,v1=" + "0" * 64,
        "t=" + "9" * 5000 + ",v1=00",
        "t=1700000000,v1=\u00e9\u00e9",
        "t=1700000000;v1=00",
        "x" * 100_000,
    ],
)
def test_malformed_headers_are_refused(header: str) -> None:
    """A header without one integer `t` and a `v1` is refused (False), never raised."""
    assert verify_signature(b"{}", header, "s3cret", now=1_700_000_000) is False


def test_a_second_v1_value_is_accepted_for_secret_rotation() -> None:
    """Like Stripe, any one matching `v1` among several passes."""
    body = b"{}"
    good = sign(body, "new", 1_700_000_000).split(",")[1]
    header = f"t=1700000000,v1={'0' * 64},{good}"
    assert verify_signature(body, header, "new", now=1_700_000_000)


def test_notifier_stamps_with_its_injected_clock() -> None:
    """The `t` of a sent callback is the injected wall clock's unix seconds."""
    with respx.mock() as router:
        route = router.post(URL).mock(return_value=httpx.Response(200))
        with httpx.Client() as http:
            CallbackNotifier(URL, "s3cret", http=http, now=lambda: 1_234_567_890.9).notify({})
    header = route.calls.last.request.headers[SIGNATURE_HEADER]
    assert header.startswith("t=1234567890,v1=")
    assert verify_signature(b"{}", header, "s3cret", now=1_234_567_890)


def test_notifier_signs_the_exact_body_it_sends() -> None:
    """The receiver can verify the header against the raw body bytes it received."""
    with respx.mock(assert_all_called=True) as router:
        route = router.post(URL).mock(return_value=httpx.Response(204))
        with httpx.Client() as http:
            result = CallbackNotifier(URL, "s3cret", http=http).notify(
                {"status": "applied", "n": 1}
            )
    request = route.calls.last.request
    assert result.delivered and result.status == 204
    assert verify_signature(request.content, request.headers[SIGNATURE_HEADER], "s3cret")
    assert json.loads(request.content) == {"status": "applied", "n": 1}


def test_failed_callbacks_are_recorded_not_raised() -> None:
    """A 4xx, a 5xx or an unreachable endpoint gives delivered=False with the reason."""
    with respx.mock() as router:
        router.post(URL).mock(
            side_effect=[httpx.Response(403), httpx.Response(502), httpx.ConnectError("down")]
        )
        with httpx.Client() as http:
            notifier = CallbackNotifier(URL, "s3cret", http=http)
            results = [notifier.notify({"i": i}) for i in range(3)]
    assert [r.status for r in results] == [403, 502, None]
    assert not any(r.delivered for r in results)
    assert results[2].error is not None and "unreachable" in results[2].error


def test_repr_hides_the_secret() -> None:
    """The notifier's repr names the URL, never the secret."""
    assert "s3cret" not in repr(CallbackNotifier(URL, "s3cret"))

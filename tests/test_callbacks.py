"""Tests for signed callbacks."""

from __future__ import annotations

import json

import httpx
import respx

from chainsim.callbacks import SIGNATURE_HEADER, CallbackNotifier, sign, verify_signature

URL = "https://hooks.example.com/chainsim"


def test_signature_verifies_with_the_secret_and_fails_with_another() -> None:
    """verify_signature accepts the right secret's HMAC and refuses a wrong secret or body."""
    body = b'{"status":"applied"}'
    header = sign(body, "s3cret")
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert verify_signature(body, header, "s3cret")
    assert not verify_signature(body, header, "wrong")
    assert not verify_signature(body + b" ", header, "s3cret")
    assert not verify_signature(body, None, "s3cret")


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

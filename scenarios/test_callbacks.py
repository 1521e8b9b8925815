"""Certifies callback delivery and signature: at the end of an apply the final status,
metrics and audit trail are POSTed once to the plan's callback URL, signed
`X-Chainsim-Signature: t=<unix seconds>,v1=<HMAC-SHA256 of "<t>." + the exact body>` with
the secret from the env var the plan names; the signature verifies with that secret and
not with another, and not once it is older than the tolerance (no replay); a callback
endpoint that answers 4xx or is unreachable is recorded and never changes the outcome.
The callback receiver is local, so this runs against a sandbox org too.
"""

from __future__ import annotations

import json

import httpx
import pytest

from chainsim.callbacks import SIGNATURE_HEADER, CallbackNotifier, verify_signature

pytestmark = pytest.mark.chainsim_live_safe

URL = "https://hooks.example.test/chainsim/done"
SECRET = "s3cr3t-for-the-callback"


class Receiver:
    """A callback endpoint that records what it received and answers `status`."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.received: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.received.append(request)
        return httpx.Response(self.status, json={"ok": self.status < 400})

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self))


def test_callback_is_delivered_once_and_signed(chain_factory, orchestrator_factory):
    """One signed POST carries status, metrics and the audit trail; the signature verifies."""
    chain = chain_factory("A->B->C")
    receiver = Receiver()
    notifier = CallbackNotifier(URL, SECRET, http=receiver.client())

    result = orchestrator_factory(callback=notifier).apply(chain.plan())

    assert result.status == "applied"
    assert result.callback == {"delivered": True, "status": 200, "error": None}
    (request,) = receiver.received
    body = request.content
    signature = request.headers[SIGNATURE_HEADER]
    assert signature.startswith("t=") and ",v1=" in signature
    assert verify_signature(body, signature, SECRET)
    assert not verify_signature(body, signature, "another-secret")
    assert not verify_signature(body + b" ", signature, SECRET)
    sent = int(signature.split(",")[0][2:])
    assert not verify_signature(body, signature, SECRET, now=sent + 301)  # a replay, later
    payload = json.loads(body)
    assert payload["status"] == "applied"
    assert payload["report"]["metrics"]["requests"] > 0
    assert [line["step"] for line in payload["audit"]][-1] == "finish"
    assert SECRET not in body.decode()


def test_callback_from_the_plan_uses_the_named_secret(chain_factory, orchestrator, monkeypatch):
    """A plan's `callback` with `secret_env` signs with that variable's value."""
    chain = chain_factory("A->B")
    monkeypatch.setenv("CERT_CALLBACK_SECRET", SECRET)
    receiver = Receiver()
    monkeypatch.setattr(
        "chainsim.callbacks.CallbackNotifier",
        lambda url, secret, **kw: CallbackNotifier(url, secret, http=receiver.client()),
    )

    result = orchestrator.apply(
        chain.plan(callback={"url": URL, "secret_env": "CERT_CALLBACK_SECRET"})
    )

    assert result.callback["delivered"] is True
    (request,) = receiver.received
    assert str(request.url) == URL
    assert verify_signature(request.content, request.headers[SIGNATURE_HEADER], SECRET)


@pytest.mark.parametrize("status", [400, 404, 500])
def test_a_failing_callback_never_changes_the_outcome(status, chain_factory, orchestrator_factory):
    """A callback endpoint answering an error is recorded; the chain is applied anyway."""
    chain = chain_factory("A->B")
    notifier = CallbackNotifier(URL, SECRET, http=Receiver(status).client())

    result = orchestrator_factory(callback=notifier).apply(chain.plan())

    assert result.status == "applied"
    assert result.callback == {"delivered": False, "status": status, "error": f"HTTP {status}"}
    assert chain.missing_links(chain_factory.bus_rules()) == []


def test_an_unreachable_callback_is_recorded(chain_factory, orchestrator_factory):
    """A callback endpoint that cannot be reached is reported as unreachable, not raised."""
    chain = chain_factory("A->B")

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    notifier = CallbackNotifier(
        URL, SECRET, http=httpx.Client(transport=httpx.MockTransport(refuse))
    )

    result = orchestrator_factory(callback=notifier).apply(chain.plan())

    assert result.status == "applied"
    assert result.callback["delivered"] is False
    assert "unreachable" in result.callback["error"]

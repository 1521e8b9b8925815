"""Signed callbacks to an external workflow: the final status, metrics and audit trail.

The body is JSON, signed the way Stripe signs webhooks (a well-known, replay-safe
scheme: https://docs.stripe.com/webhooks#verify-manually):

    X-Chainsim-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>

with a shared secret (from the env var the plan names). The receiver checks it with
`verify_signature(body, header, secret, tolerance=300)`, which refuses a wrong MAC, a
malformed header, and a timestamp more than `tolerance` seconds in the past or future,
so a captured callback cannot be replayed later. Delivery has a timeout; a 4xx, a 5xx
or an unreachable endpoint is recorded in the result and never changes the outcome of
the apply.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

SIGNATURE_HEADER = "X-Chainsim-Signature"
DEFAULT_TOLERANCE = 300
_MAX_HEADER = 4096


def _mac(body: bytes, secret: str, timestamp: int) -> str:
    """Hex HMAC-SHA256 of `"<timestamp>." + body` under `secret`."""
    signed = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """The signature header value for `body` sent at `timestamp`: `t=<t>,v1=<hex>`."""
    return f"t={int(timestamp)},v1={_mac(body, secret, int(timestamp))}"


def signed_headers(body: bytes, secret: str, now: Callable[[], float]) -> dict[str, str]:
    """Content type and signature headers for a JSON `body` sent now (`now()`: unix seconds)."""
    return {"Content-Type": "application/json", SIGNATURE_HEADER: sign(body, secret, int(now()))}


def _parse(header: str) -> tuple[int, list[str]] | None:
    """`(t, [v1, ...])` from a signature header, or None when it is malformed."""
    if len(header) > _MAX_HEADER:
        return None
    stamp: int | None = None
    macs: list[str] = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            return None
        if name == "t":
            if stamp is not None or not value.isascii() or not value.isdigit() or len(value) > 12:
                return None
            stamp = int(value)
        elif name == "v1":
            macs.append(value)
    if stamp is None or not macs:
        return None
    return stamp, macs


def verify_signature(
    body: bytes,
    header: str | None,
    secret: str,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> bool:
    """True when `header` signs exactly `body` under `secret`, within `tolerance` seconds.

    `now` is the receiver's unix time (default: `time.time()`). A malformed header, a
    timestamp further than `tolerance` from `now` (stale or in the future) or a wrong
    MAC is False. MACs are compared in constant time.
    """
    if not header:
        return False
    parsed = _parse(header)
    if parsed is None:
        return False
    stamp, macs = parsed
    current = time.time() if now is None else now
    if abs(current - stamp) > tolerance:
        return False
    expected = _mac(body, secret, stamp).encode("ascii")
    found = False
    for mac in macs:  # several v1 values are allowed (secret rotation, as in Stripe's scheme)
        found |= hmac.compare_digest(expected, mac.encode("ascii", "replace"))
    return found


def encode(payload: Any) -> bytes:
    """The exact body bytes sent for `payload` (compact, sorted keys, UTF-8)."""
    return json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode("utf-8")


@dataclass(frozen=True)
class CallbackResult:
    """What happened to one callback: delivered or not, the HTTP status, the error."""

    delivered: bool
    status: int | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """`{"delivered", "status", "error"}`."""
        return {"delivered": self.delivered, "status": self.status, "error": self.error}


class CallbackNotifier:
    """POSTs signed JSON to one callback URL; never raises for a failed delivery."""

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        http: httpx.Client | None = None,
        timeout: float = 10.0,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self._secret = secret
        self._http = http
        self.timeout = timeout
        self._now = now  # unix seconds for the signature's timestamp (injected in tests)

    def notify(self, payload: Any) -> CallbackResult:
        """Send `payload`; returns whether it was delivered (2xx), else the status or error."""
        body = encode(payload)
        headers = signed_headers(body, self._secret, self._now)
        try:
            if self._http is not None:
                response = self._http.post(
                    self.url, content=body, headers=headers, timeout=self.timeout
                )
            else:
                with httpx.Client() as client:
                    response = client.post(
                        self.url, content=body, headers=headers, timeout=self.timeout
                    )
        except Exception as exc:
            return CallbackResult(False, None, f"unreachable ({type(exc).__name__})")
        if response.is_success:
            return CallbackResult(True, response.status_code)
        return CallbackResult(False, response.status_code, f"HTTP {response.status_code}")

    def __repr__(self) -> str:
        return f"CallbackNotifier(url={self.url!r})"

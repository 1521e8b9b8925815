"""Signed callbacks to an external workflow: the final status, metrics and audit trail.

The body is JSON, signed with `X-Chainsim-Signature: sha256=<hex HMAC-SHA256 of the
exact body bytes>` using a shared secret (from the env var the plan names). Delivery
has a timeout; a 4xx, a 5xx or an unreachable endpoint is recorded in the result and
never changes the outcome of the apply.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

import httpx

SIGNATURE_HEADER = "X-Chainsim-Signature"


def sign(body: bytes, secret: str) -> str:
    """The signature header value for `body`: `sha256=<hex HMAC-SHA256>`."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(body: bytes, header: str | None, secret: str) -> bool:
    """True when `header` is the signature of exactly `body` under `secret` (constant time)."""
    if not header:
        return False
    return hmac.compare_digest(
        sign(body, secret).encode("ascii"), header.strip().encode("ascii", "replace")
    )


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
        self, url: str, secret: str, *, http: httpx.Client | None = None, timeout: float = 10.0
    ) -> None:
        self.url = url
        self._secret = secret
        self._http = http
        self.timeout = timeout

    def notify(self, payload: Any) -> CallbackResult:
        """Send `payload`; returns whether it was delivered (2xx), else the status or error."""
        body = encode(payload)
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(body, self._secret)}
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

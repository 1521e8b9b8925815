"""OAuth client credentials on the fake: clients, bearer tokens with expiry, permissions.

Tokens expire `token_ttl_seconds` after they are issued, on the bus's clock. A client
may be limited to a set of granted permission patterns (`fnmatch` style, e.g.
`processautomation:trigger:*`, as `fake serve --grant` takes them); a client without
a grant may do everything. An endpoint needs ANY one of its listed permissions, as the
SDK docs state per method ("Requires ANY permissions").
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import hmac
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from chainsim.fakebus.errors import FakeError, forbidden


@dataclass(frozen=True)
class Grant:
    """An issued bearer token: whose, and until when (clock seconds)."""

    client_id: str
    expires_at: float


def unauthorized(message: str, code: str = "bad.credentials") -> FakeError:
    """401 with a Genesys body."""
    return FakeError(401, code, message)


class OAuth:
    """Registered clients and the tokens issued to them."""

    def __init__(
        self,
        clients: Mapping[str, str],
        grants: Mapping[str, Iterable[str]] | None,
        new_token: Callable[[], str],
    ) -> None:
        self._clients = dict(clients)
        self._permissions = {cid: tuple(p) for cid, p in (grants or {}).items()}
        self.new_token = new_token
        self._grants: dict[str, Grant] = {}

    def __repr__(self) -> str:
        return f"OAuth(clients={sorted(self._clients)!r}, tokens={len(self._grants)})"

    def basic_client(self, authorization: str | None) -> str:
        """The client id of a valid `Basic id:secret` header; 401 otherwise."""
        scheme, _, value = (authorization or "").partition(" ")
        if scheme.lower() != "basic" or not value:
            raise unauthorized("Client credentials are required (HTTP Basic)", "invalid_client")
        try:
            client_id, sep, secret = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            client_id, sep, secret = "", "", ""
        known = self._clients.get(client_id)
        if not sep or known is None or not hmac.compare_digest(known.encode(), secret.encode()):
            raise unauthorized("Invalid client credentials", "invalid_client")
        return client_id

    def issue(self, client_id: str, now: float, ttl: int) -> str:
        """A new bearer token for `client_id`, valid `ttl` seconds from `now`."""
        token = self.new_token()
        self._grants[token] = Grant(client_id, now + ttl)
        return token

    def bearer_client(self, authorization: str | None, now: float) -> str:
        """The client behind a valid, unexpired `Bearer` header; 401 otherwise."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise unauthorized(
                "No authentication bearer token specified in authorization header.",
                "authentication.required",
            )
        grant = self._grants.get(token.strip())
        if grant is None:
            raise unauthorized("Invalid login credentials.")
        if now >= grant.expires_at:
            raise unauthorized("Invalid login credentials. The token has expired.")
        return grant.client_id

    def check(self, client_id: str, required: tuple[str, ...]) -> None:
        """403 unless `client_id` holds one of `required` (an empty tuple needs none)."""
        granted = self._permissions.get(client_id)
        if not required or granted is None:
            return
        if any(fnmatch.fnmatchcase(need, g) for need in required for g in granted):
            return
        raise forbidden(required)

    def grants(self) -> dict[str, list[str]]:
        """The granted patterns per limited client."""
        return {cid: list(p) for cid, p in self._permissions.items()}

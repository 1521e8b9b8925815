"""OAuth client credentials for Genesys Cloud: region hosts and a cached bearer token.

The token is fetched from `POST {login_host}/oauth/token` with HTTP Basic
`client_id:client_secret` and kept until shortly before it expires on the injected
clock. The secret and the token never appear in a repr, a log line or an error message.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import httpx

from chainsim.bus.base import (
    BusError,
    ExchangeObserver,
    ExchangeObservers,
    TransportError,
    error_from_http,
)
from chainsim.clock import Clock
from chainsim.model import InputError

DEFAULT_ENV = "mypurecloud.com"
TOKEN_PATH = "/oauth/token"


def hosts_for(env: str = DEFAULT_ENV) -> tuple[str, str]:
    """`mypurecloud.com` -> (`https://api.mypurecloud.com`, `https://login.mypurecloud.com`)."""
    name = (env or "").strip().lower().rstrip("/")
    for prefix in ("https://", "http://", "api.", "login."):
        if name.startswith(prefix):
            name = name[len(prefix) :]
    if not name or "/" in name or " " in name or "." not in name:
        raise InputError(
            "--env", "", f"{env!r} is not a Genesys Cloud environment (e.g. mypurecloud.com)"
        )
    return f"https://api.{name}", f"https://login.{name}"


@dataclass(frozen=True)
class _Token:
    value: str
    expires_at: float


class ClientCredentials:
    """A client-credentials grant: `.token()` returns a cached bearer, `.invalidate()` drops it."""

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        login_host: str,
        http: httpx.Client,
        clock: Clock,
        on_exchange: ExchangeObserver | None = None,
        refresh_margin: float = 60.0,
    ) -> None:
        self.client_id = client_id
        self._secret = client_secret
        self.login_host = login_host.rstrip("/")
        self._http = http
        self._clock = clock
        self._exchanges = ExchangeObservers(clock, on_exchange)
        self.refresh_margin = refresh_margin
        self._lock = threading.Lock()
        self._cached: _Token | None = None
        self.fetches = 0

    def add_observer(self, observer: ExchangeObserver) -> None:
        """Also report each token exchange to `observer`."""
        self._exchanges.add(observer)

    def token(self) -> str:
        """A valid bearer token, fetched only when none is cached or it is about to expire."""
        with self._lock:
            cached = self._cached
        if cached is not None and self._clock.now() < cached.expires_at:
            return cached.value
        # The fetch runs without the lock: the fetch may wait on a shared virtual clock,
        # and a thread blocked on a lock could not take part in virtual time.
        fresh = self._fetch()
        with self._lock:
            self._cached = fresh
        return fresh.value

    def invalidate(self) -> None:
        """Forget the cached token (after a 401), so the next `token()` fetches a new one."""
        with self._lock:
            self._cached = None

    def _fetch(self) -> _Token:
        start = self._exchanges.start()
        try:
            response = self._http.post(
                self.login_host + TOKEN_PATH,
                data={"grant_type": "client_credentials"},
                auth=(self.client_id, self._secret),
            )
        except httpx.HTTPError as exc:
            self._exchanges.report("POST", TOKEN_PATH, None, start, {})
            raise TransportError(f"POST {TOKEN_PATH}: {type(exc).__name__}") from None
        self._exchanges.report("POST", TOKEN_PATH, response.status_code, start, response.headers)
        if not response.is_success:
            raise error_from_http(response.status_code, response.content, response.headers)
        try:
            body = response.json()
            value = str(body["access_token"])
            expires_in = float(body.get("expires_in", 86400))
        except (ValueError, KeyError, TypeError):
            raise BusError(
                f"{TOKEN_PATH}: the token answer is not understood", status=response.status_code
            ) from None
        self.fetches += 1
        margin = min(self.refresh_margin, expires_in / 10)
        return _Token(value, self._clock.now() + expires_in - margin)

    def __repr__(self) -> str:
        return f"ClientCredentials(client_id={self.client_id!r}, login_host={self.login_host!r})"

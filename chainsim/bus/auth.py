"""OAuth client credentials for Genesys Cloud: region hosts and a cached bearer token.

The token is fetched from `POST {login_host}/oauth/token` with HTTP Basic
`client_id:client_secret` and kept until shortly before it expires on the injected
clock. The secret and the token never appear in a repr, a log line or an error message.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field

import httpx

from chainsim.bus.base import (
    BusError,
    ExchangeObserver,
    ExchangeObservers,
    error_from_http,
    translate_transport_errors,
)
from chainsim.clock import Clock
from chainsim.model import InputError, is_http_url

DEFAULT_ENV = "mypurecloud.com"
TOKEN_PATH = "/oauth/token"


def derived_login_host(api_host: str) -> str:
    """The login host the SDK derives from an API host (`//api.` -> `//login.`).

    A loopback host without `api.` stays as it is: the fake serves `/oauth/token` there too.
    """
    return re.sub(r"//api\.", "//login.", api_host.rstrip("/"))


def region_api_host(env: str = DEFAULT_ENV) -> str:
    """The API host of `--env`: a host (`mypurecloud.com`, `api.usw2.pure.cloud`,
    `https://api.mypurecloud.de/`) or a region name of the SDK's `PureCloudRegionHosts`
    (`us_west_2`, `us-west-2`; only this case imports the SDK)."""
    name = (env or "").strip().lower().rstrip("/")
    for prefix in ("https://", "http://", "api.", "login."):
        name = name.removeprefix(prefix)
    if name and "." in name and "/" not in name and " " not in name:
        return f"https://api.{name}"
    if name and name.replace("-", "_").isidentifier():
        from PureCloudPlatformClientV2.purecloud_region_hosts import PureCloudRegionHosts

        for region in PureCloudRegionHosts:
            if region.name == name.replace("-", "_"):
                return str(region.value)
        known = ", ".join(region.name for region in PureCloudRegionHosts)
        raise InputError("--env", "", f"{env!r} is not a Genesys Cloud region; known: {known}")
    raise InputError(
        "--env", "", f"{env!r} is not a Genesys Cloud environment (e.g. mypurecloud.com)"
    )


def hosts_for(env: str = DEFAULT_ENV) -> tuple[str, str]:
    """`mypurecloud.com` -> (`https://api.mypurecloud.com`, `https://login.mypurecloud.com`)."""
    api = region_api_host(env)
    return api, derived_login_host(api)


def live_hosts(
    env: str | None = DEFAULT_ENV, api_host: str | None = None, login_host: str | None = None
) -> tuple[str, str]:
    """(api host, login host) from `--env`, `--api-host` and `--login-host`.

    The API host is `api_host`, else the host of `env`; the login host is `login_host`,
    else derived from the API host as the SDK does, so `--api-host http://127.0.0.1:N`
    alone sends the token request to that same port.
    """
    for option, host in (("--api-host", api_host), ("--login-host", login_host)):
        if host is not None:
            _check_base_url(option, host)
    api = api_host.rstrip("/") if api_host else region_api_host(env or DEFAULT_ENV)
    return api, login_host.rstrip("/") if login_host else derived_login_host(api)


def _check_base_url(option: str, value: str) -> None:
    """An `--api-host`/`--login-host` must be an absolute http(s) URL (else `InputError`)."""
    if not is_http_url(value):
        raise InputError(
            option, "", f"{value!r} is not an http(s) URL (e.g. https://api.mypurecloud.com)"
        )


@dataclass(frozen=True)
class _Token:
    value: str = field(repr=False)  # a bearer token never shows in a repr
    expires_at: float = 0.0


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

    def renew(self, stale: str) -> None:
        """After a 401 for token `stale`: forget it, unless another thread already replaced it."""
        with self._lock:
            if self._cached is not None and self._cached.value == stale:
                self._cached = None

    def _fetch(self) -> _Token:
        start = self._exchanges.start()

        def failed() -> None:
            self._exchanges.report("POST", TOKEN_PATH, None, start, {})

        with translate_transport_errors(f"POST {TOKEN_PATH}", failed):
            response = self._http.post(
                self.login_host + TOKEN_PATH,
                data={"grant_type": "client_credentials"},
                auth=(self.client_id, self._secret),
            )
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

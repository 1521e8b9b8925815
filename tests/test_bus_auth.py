"""Tests for OAuth client credentials and region hosts."""

from __future__ import annotations

import httpx
import pytest
import respx

from chainsim.bus.auth import ClientCredentials, hosts_for, live_hosts
from chainsim.bus.base import TransportError, Unauthorized
from chainsim.clock import VirtualClock
from chainsim.model import InputError

LOGIN = "https://login.mypurecloud.com"


def test_hosts_for_maps_an_environment_to_api_and_login_hosts() -> None:
    """`mypurecloud.com` -> api./login. hosts; a region host like usw2.pure.cloud works too."""
    assert hosts_for("mypurecloud.com") == (
        "https://api.mypurecloud.com",
        "https://login.mypurecloud.com",
    )
    assert hosts_for("usw2.pure.cloud") == (
        "https://api.usw2.pure.cloud",
        "https://login.usw2.pure.cloud",
    )
    assert hosts_for("api.mypurecloud.de")[1] == "https://login.mypurecloud.de"
    with pytest.raises(InputError):
        hosts_for("not a host")


def _token_route(router: respx.MockRouter, ttl: int = 3600) -> respx.Route:
    answers = iter(range(1, 100))
    return router.post(f"{LOGIN}/oauth/token").mock(
        side_effect=lambda request: httpx.Response(
            200,
            json={
                "access_token": f"tok-{next(answers)}",
                "token_type": "bearer",
                "expires_in": ttl,
            },
        )
    )


def test_token_is_cached_until_shortly_before_expiry() -> None:
    """One fetch serves until the margin before expiry; then a new token is fetched."""
    clock = VirtualClock()
    with respx.mock() as router, httpx.Client() as http:
        route = _token_route(router, ttl=600)
        creds = ClientCredentials("id", "sec", login_host=LOGIN, http=http, clock=clock)
        assert creds.token() == "tok-1"
        clock.advance(500)
        assert creds.token() == "tok-1"
        clock.advance(50)  # inside the 60 s margin
        assert creds.token() == "tok-2"
        creds.invalidate()
        assert creds.token() == "tok-3"
    request = route.calls[0].request
    assert request.headers["Authorization"].startswith("Basic ")
    assert request.content == b"grant_type=client_credentials"


def test_bad_credentials_and_transport_errors_hide_the_secret() -> None:
    """A 401 raises Unauthorized, a dead host TransportError; no message shows the secret."""
    clock = VirtualClock()
    with respx.mock() as router, httpx.Client() as http:
        router.post(f"{LOGIN}/oauth/token").mock(
            side_effect=[
                httpx.Response(401, json={"message": "bad client"}),
                httpx.ConnectError("nope"),
            ]
        )
        creds = ClientCredentials("id", "hunter2-secret", login_host=LOGIN, http=http, clock=clock)
        with pytest.raises(Unauthorized) as first:
            creds.token()
        with pytest.raises(TransportError) as second:
            creds.token()
    for exc in (first.value, second.value):
        assert "hunter2" not in str(exc) and "hunter2" not in repr(exc)
    assert "hunter2" not in repr(creds)


def test_transport_error_keeps_its_httpx_cause() -> None:
    """A dead login host is TransportError naming the token path, the httpx error its cause."""
    with respx.mock() as router, httpx.Client() as http:
        router.post(f"{LOGIN}/oauth/token").mock(side_effect=httpx.ConnectError("refused"))
        creds = ClientCredentials("id", "sec", login_host=LOGIN, http=http, clock=VirtualClock())
        with pytest.raises(TransportError) as info:
            creds.token()
    assert str(info.value) == "POST /oauth/token: ConnectError"
    assert isinstance(info.value.__cause__, httpx.ConnectError)


def test_renew_drops_only_the_stale_token() -> None:
    """`renew(stale)` forgets the token only while it is still the cached one."""
    with respx.mock() as router, httpx.Client() as http:
        route = _token_route(router)
        creds = ClientCredentials("id", "sec", login_host=LOGIN, http=http, clock=VirtualClock())
        first = creds.token()
        creds.renew(first)
        second = creds.token()
        creds.renew(first)  # another thread's stale token: the new one stays
        assert (first, second, creds.token()) == ("tok-1", "tok-2", "tok-2")
        assert route.call_count == 2


def test_no_repr_shows_the_cached_token() -> None:
    """Neither the credentials nor the cached token's repr shows the bearer token."""
    with respx.mock() as router, httpx.Client() as http:
        _token_route(router, ttl=600)
        creds = ClientCredentials("id", "sec", login_host=LOGIN, http=http, clock=VirtualClock())
        token = creds.token()
    assert token not in repr(creds)
    assert token not in repr(vars(creds))


@pytest.mark.parametrize(
    ("api_host", "login_host", "option"),
    [
        ("127.0.0.1:8080", None, "--api-host"),
        ("ftp://api.example.com", None, "--api-host"),
        ("http://127.0.0.1:8080", "not a url", "--login-host"),
    ],
)
def test_a_host_override_that_is_not_a_url_is_bad_input(
    api_host: str, login_host: str | None, option: str
) -> None:
    """A typo in --api-host/--login-host is an InputError up front, not retried transport errors."""
    with pytest.raises(InputError) as info:
        live_hosts("mypurecloud.com", api_host, login_host)
    assert str(info.value).startswith(f"{option}: ") and "is not an http(s) URL" in str(info.value)

"""Bus clients: the `Bus` protocol, its errors, and the two dialects' clients.

`make_bus` is the one place that picks a client for a dialect; the CLI's `plan`,
`apply` and `dlq redrive` build their bus through it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

    from chainsim.bus.base import Bus, ExchangeObserver
    from chainsim.clock import Clock

DIALECTS = ("eventbridge", "triggers")
CREDENTIAL_VARS = ("GENESYS_CLIENT_ID", "GENESYS_CLIENT_SECRET")  # a live bus reads only these


def make_bus(
    dialect: str,
    *,
    http: httpx.Client,
    auth: Any,
    api_host: str,
    login_host: str,
    clock: Clock,
    on_exchange: ExchangeObserver | None = None,
) -> Bus:
    """The Bus client for `dialect` over `http`: RestBus (eventbridge) or TriggersBus (triggers).

    `auth` is a `bus.auth.ClientCredentials`. The Genesys SDK is imported only for triggers.
    """
    if dialect == "eventbridge":
        from chainsim.bus.rest import RestBus

        return RestBus(http, auth, api_host=api_host, on_exchange=on_exchange, clock=clock)
    if dialect == "triggers":
        from chainsim.bus.genesys import TriggersBus

        return TriggersBus.from_httpx(
            http,
            auth,
            api_host=api_host,
            login_host=login_host,
            clock=clock,
            on_exchange=on_exchange,
        )
    raise ValueError(f"unknown dialect {dialect!r} (expected one of {', '.join(DIALECTS)})")

"""The in-process front door: the fake's handler installed on a respx router."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import respx


def build_router(
    handler: Callable[[httpx.Request], httpx.Response], api_host: str, login_host: str
) -> respx.MockRouter:
    """A respx router sending every request for `api_host` / `login_host` to `handler`.

    Anything else is refused (`assert_all_mocked=True`); routes need not be called.
    """
    router = respx.MockRouter(assert_all_mocked=True, assert_all_called=False)

    def side_effect(request: httpx.Request) -> httpx.Response:
        # a plain function: respx inspects the side effect's signature on every call,
        # which costs twice as much for a bound method
        return handler(request)

    for host in dict.fromkeys((api_host, login_host)):
        url = httpx.URL(host)
        lookups: dict[str, Any] = {"scheme": url.scheme, "host": url.host}
        if url.port is not None:
            lookups["port"] = url.port
        router.route(**lookups).mock(side_effect=side_effect)
    return router


@contextmanager
def fake_router(
    handler: Callable[[httpx.Request], httpx.Response], api_host: str, login_host: str
) -> Iterator[respx.MockRouter]:
    """Install `build_router(...)` for the duration of the block."""
    with build_router(handler, api_host, login_host) as router:
        yield router

"""The EventBridge-rules dialect over httpx: the `Bus` protocol as plain REST calls.

Every exchange is reported to the observers (metrics, the pacer); every non-2xx answer
becomes a `BusError` through `bus.base.error_from_http`; an httpx transport failure
becomes `TransportError` (`bus.base.translate_transport_errors`). A 401 drops the
cached token and the request is sent once more (`bus.base.reauthorized`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx

from chainsim.bus.auth import ClientCredentials
from chainsim.bus.base import (
    BusError,
    ExchangeObserver,
    ExchangeObservers,
    error_from_http,
    follow_pages,
    reauthorized,
    translate_transport_errors,
)
from chainsim.clock import Clock
from chainsim.model import Rule

RULES_PATH = "/api/v2/eventbridge/rules"


class RestBus:
    """`Bus` for the EventBridge-rules contract (DESIGN §4) over an `httpx.Client`."""

    dialect = "eventbridge"

    def __init__(
        self,
        http: httpx.Client,
        auth: ClientCredentials,
        *,
        api_host: str,
        page_size: int = 200,
        on_exchange: ExchangeObserver | None = None,
        clock: Clock,
    ) -> None:
        if not 1 <= page_size <= 200:
            raise ValueError("page_size must be within 1..200")
        self._http = http
        self._auth = auth
        self.api_host = api_host.rstrip("/")
        self.page_size = page_size
        self._clock = clock
        self._exchanges = ExchangeObservers(clock)
        if on_exchange is not None:
            self.add_observer(on_exchange)

    def add_observer(self, observer: ExchangeObserver) -> None:
        """Report every later exchange (API and token) to `observer` too."""
        self._exchanges.add(observer)
        self._auth.add_observer(observer)

    # ------------------------------------------------------------------ Bus protocol

    def list_page(self, token: str | None = None) -> tuple[list[Rule], str | None]:
        """One page of rules and the token of the next page (None on the last page)."""
        params: dict[str, Any] = {"pageSize": self.page_size}
        if token:
            params["pageToken"] = token
        body = _json(self._request("GET", RULES_PATH, params=params), "GET", RULES_PATH)
        entities = body.get("entities") if isinstance(body, dict) else None
        token = body.get("nextPageToken") if isinstance(body, dict) else None
        if not isinstance(entities, list) or not isinstance(token, str | None):
            raise BusError(f"GET {RULES_PATH}: the answer is not a page of rules")
        return [_rule(item, "GET", RULES_PATH) for item in entities], token or None

    def list_rules(self) -> Iterator[Rule]:
        """Every rule, following `nextPageToken` until the last page (bounded)."""
        yield from follow_pages(self.list_page, f"GET {RULES_PATH}")

    def get_rule(self, rule_id: str) -> Rule:
        """One rule by id."""
        path = self._path(rule_id)
        return _rule(_json(self._request("GET", path), "GET", path), "GET", path)

    def put_rule(self, rule: Rule) -> Rule:
        """Replace a rule; the body carries the version it expects (409 if stale)."""
        path = self._path(rule.id)
        answer = self._request("PUT", path, json=rule.to_wire())
        return _rule(_json(answer, "PUT", path), "PUT", path)

    def create_rule(self, rule: Rule) -> Rule:
        """Create a rule; returns it as stored."""
        answer = self._request("POST", RULES_PATH, json=rule.to_wire())
        return _rule(_json(answer, "POST", RULES_PATH), "POST", RULES_PATH)

    def delete_rule(self, rule_id: str) -> None:
        """Delete a rule by id."""
        self._request("DELETE", self._path(rule_id))

    # ------------------------------------------------------------------ plumbing

    @staticmethod
    def _path(rule_id: str) -> str:
        return f"{RULES_PATH}/{quote(rule_id, safe='')}"

    def _request(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None
    ) -> httpx.Response:
        def send(token: str) -> httpx.Response:
            return self._send(method, path, token, params, json)

        return reauthorized(self._auth.token, send, self._auth.renew)

    def _send(
        self, method: str, path: str, token: str, params: dict[str, Any] | None, json: Any
    ) -> httpx.Response:
        """One exchange with bearer `token`; a non-2xx answer raises its `BusError`."""
        start = self._exchanges.start()

        def failed() -> None:
            self._exchanges.report(method, path, None, start, {})

        with translate_transport_errors(f"{method} {path}", failed):
            response = self._http.request(
                method,
                self.api_host + path,
                params=params,
                json=json,
                headers={"Authorization": f"Bearer {token}"},
            )
        self._exchanges.report(method, path, response.status_code, start, response.headers)
        if not response.is_success:
            raise error_from_http(response.status_code, response.content, response.headers)
        return response

    def __repr__(self) -> str:
        return f"RestBus(api_host={self.api_host!r}, client_id={self._auth.client_id!r})"


def _json(response: httpx.Response, method: str, path: str) -> Any:
    """The JSON body of a 2xx answer; anything else (an HTML page, garbage) is a BusError."""
    try:
        return response.json()
    except ValueError:
        raise BusError(
            f"{method} {path}: the answer is not JSON", status=response.status_code
        ) from None


def _rule(data: Any, method: str, path: str) -> Rule:
    """A rule from an answer's JSON; a body that is not a rule is a BusError, not a crash."""
    try:
        return Rule.model_validate(data)
    except ValueError:  # pydantic's ValidationError included
        raise BusError(f"{method} {path}: the answer is not a rule") from None

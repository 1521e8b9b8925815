"""Process Automation triggers through the official Genesys SDK: the `triggers` dialect's client.

The pure parts (wire mapping <-> `Rule`, desired state, `TriggersMerger`) live in
`chainsim.dialects.triggers`; this module is the SDK side:

- **`TriggersBus`**: the `Bus` protocol over `ProcessAutomationApi`, its HTTP on
  `sdk_http.HttpxClient`. The SDK is imported lazily (it costs seconds), only here
  and in `sdk_http`.
- Auth: the SDK's `get_client_credentials_token`; the SDK never refreshes such a token,
  so `SdkCredentials` re-acquires it shortly before `expires_in` runs out on the injected
  clock, and once after a 401. Nothing here retries anything else: every `ApiException`
  becomes a `BusError` through `bus.base.error_from_http`, for chainsim's retry layer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from pydantic import SecretStr

from chainsim.bus.base import (
    BadRequest,
    BusError,
    ExchangeObserver,
    TransportError,
    error_from_http,
    follow_pages,
    reauthorized,
)
from chainsim.clock import Clock
from chainsim.dialects.triggers import (
    CREATE_FIELDS,
    UPDATE_FIELDS,
    TriggersMerger,
    request_body,
    trigger_to_rule,
)
from chainsim.model import Rule

if TYPE_CHECKING:
    import httpx

DEFAULT_API_HOST = "https://api.mypurecloud.com"
OUTDATED = "outdated_sdk_version"  # what the SDK's enum setters store for a value they do not know

T = TypeVar("T")


# =========================================================================== auth


class SdkCredentials:
    """Client credentials for an SDK `ApiClient`: acquired via the SDK, refreshed by chainsim."""

    def __init__(
        self,
        client_id: str,
        client_secret: str | SecretStr,
        *,
        clock: Clock,
        refresh_margin: float = 60.0,
    ) -> None:
        self.client_id = client_id
        self._secret = (
            client_secret if isinstance(client_secret, SecretStr) else SecretStr(client_secret)
        )
        self._clock = clock
        self.refresh_margin = refresh_margin
        self.fetches = 0

    @classmethod
    def adopt(cls, auth: Any, *, clock: Clock) -> SdkCredentials:
        """The id and secret of a `bus.auth.ClientCredentials` (its token is not reused)."""
        secret = getattr(auth, "_secret", None)
        if not getattr(auth, "client_id", None) or secret is None:
            raise TypeError("expected SdkCredentials or bus.auth.ClientCredentials")
        return cls(auth.client_id, secret, clock=clock, refresh_margin=auth.refresh_margin)

    def ensure(self, api_client: Any) -> int:
        """Acquire a token for `api_client` if it holds none or it is about to expire.

        The token lives on the SDK's `ApiClient` (`access_token`, as the SDK keeps it),
        with chainsim's expiry and a generation number beside it; returns the generation.
        """
        expires_at = getattr(api_client, "chainsim_token_expires_at", None)
        if expires_at is None or self._clock.now() >= expires_at:
            self._acquire(api_client)
        return int(getattr(api_client, "chainsim_token_generation", 0))

    def refresh(self, api_client: Any, stale_generation: int) -> None:
        """After a 401: acquire a new token unless another thread already replaced the stale one."""
        if getattr(api_client, "chainsim_token_generation", 0) == stale_generation:
            self._acquire(api_client)

    def _acquire(self, api_client: Any) -> None:
        from PureCloudPlatformClientV2.rest import ApiException

        try:
            api_client.get_client_credentials_token(self.client_id, self._secret.get_secret_value())
        except ApiException as exc:
            raise sdk_error(exc, "POST /oauth/token") from None
        except (ValueError, KeyError, TypeError):
            raise BusError("POST /oauth/token: the token answer is not understood") from None
        http_client = api_client.get_http_client()
        expires_in = getattr(http_client, "token_expires_in", None) or 86400.0
        margin = min(self.refresh_margin, expires_in / 10)
        api_client.chainsim_token_expires_at = self._clock.now() + expires_in - margin
        api_client.chainsim_token_generation = (
            getattr(api_client, "chainsim_token_generation", 0) + 1
        )
        self.fetches += 1

    def __repr__(self) -> str:
        return f"SdkCredentials(client_id={self.client_id!r})"


def sdk_error(exc: Any, where: str = "") -> BusError:
    """An SDK `ApiException` as chainsim's `BusError` (status 0: no HTTP answer)."""
    status = getattr(exc, "status", None)
    if not status:
        return TransportError(f"{where}: {exc.reason}" if where else str(exc.reason))
    headers = exc.headers
    return error_from_http(
        int(status), exc.body, dict(headers.items()) if headers is not None else None
    )


# =========================================================================== the bus


class TriggersBus:
    """`Bus` over Process Automation triggers via `ProcessAutomationApi` (DESIGN §4)."""

    dialect = "triggers"

    def __init__(
        self,
        http: httpx.Client | Any,
        credentials: SdkCredentials,
        *,
        api_host: str = DEFAULT_API_HOST,
        login_host: str | None = None,
        clock: Clock,
        page_size: int = 200,
        on_exchange: ExchangeObserver | None = None,
        timeout_ms: float | None = None,
    ) -> None:
        """`http`: an `httpx.Client` (wrapped in `HttpxClient`) or any SDK `AbstractHttpClient`."""
        if not 1 <= page_size <= 200:
            raise ValueError("page_size must be within 1..200")
        from PureCloudPlatformClientV2 import ApiClient, ProcessAutomationApi
        from PureCloudPlatformClientV2.abstract_http_client import AbstractHttpClient

        from chainsim.bus.sdk_http import HttpxClient

        self.api_host = api_host.rstrip("/")
        self.login_host = login_host.rstrip("/") if login_host else None
        self.page_size = page_size
        self.merger = TriggersMerger()
        self._clock = clock
        self._credentials = credentials
        if isinstance(http, AbstractHttpClient):
            self.http_client = http
        else:
            self.http_client = HttpxClient(http, clock=clock, timeout_ms=timeout_ms)
        if on_exchange is not None:
            self.add_observer(on_exchange)
        self.api_client = _api_client_class(ApiClient)(
            host=self.api_host, login_host=self.login_host
        )
        self.api_client.set_http_client(self.http_client)
        self.api = ProcessAutomationApi(self.api_client)

    @classmethod
    def from_httpx(
        cls,
        http: httpx.Client,
        auth: SdkCredentials | Any,
        *,
        api_host: str = DEFAULT_API_HOST,
        login_host: str | None = None,
        clock: Clock,
        on_exchange: ExchangeObserver | None = None,
        page_size: int = 200,
    ) -> TriggersBus:
        """A TriggersBus on `http`; `auth` is `SdkCredentials` or a `bus.auth.ClientCredentials`.

        From a `ClientCredentials` only the client id and secret are taken: the token
        itself is acquired through the SDK (`get_client_credentials_token`).
        """
        credentials = (
            auth if isinstance(auth, SdkCredentials) else SdkCredentials.adopt(auth, clock=clock)
        )
        return cls(
            http,
            credentials,
            api_host=api_host,
            login_host=login_host,
            clock=clock,
            page_size=page_size,
            on_exchange=on_exchange,
        )

    def add_observer(self, observer: ExchangeObserver) -> None:
        """Report every later exchange (API and token) to `observer` too."""
        add = getattr(self.http_client, "add_observer", None)
        if add is None:
            raise TypeError("this SDK http client does not report exchanges")
        add(observer)

    # ------------------------------------------------------------------ Bus protocol

    def list_page(self, after: str | None = None) -> tuple[list[Rule], str | None]:
        """One page of triggers and the `after` cursor of the next page (None on the last)."""
        kwargs: dict[str, Any] = {"page_size": str(self.page_size)}
        if after:
            kwargs["after"] = after
        listing = self._call(self.api.get_processautomation_triggers, **kwargs)
        entities = listing.entities or []
        rules = [trigger_to_rule(self._wire(t)) for t in entities]
        return rules, next_cursor(listing.next_uri) if entities else None

    def list_rules(self) -> Iterator[Rule]:
        """Every trigger, following `nextUri`/`after` until the last page (bounded)."""
        yield from follow_pages(self.list_page, "GET /api/v2/processautomation/triggers")

    def get_rule(self, rule_id: str) -> Rule:
        """One trigger by id, as a Rule."""
        return trigger_to_rule(
            self._wire(self._call(self.api.get_processautomation_trigger, rule_id))
        )

    def get_trigger(self, trigger_id: str) -> dict[str, Any]:
        """One trigger by id, in the SDK's wire JSON."""
        return self._wire(self._call(self.api.get_processautomation_trigger, trigger_id))

    def put_rule(self, rule: Rule) -> Rule:
        """Update a trigger: an `UpdateTriggerRequest` with `rule.version` (409 if stale)."""
        body = self._model(request_body(rule, UPDATE_FIELDS), "UpdateTriggerRequest", rule.id)
        stored = self._call(self.api.put_processautomation_trigger, rule.id, body)
        return trigger_to_rule(self._wire(stored))

    def create_rule(self, rule: Rule) -> Rule:
        """Create a trigger from a Rule (its id is assigned by the org); returns it as stored."""
        body = self._model(request_body(rule, CREATE_FIELDS), "CreateTriggerRequest", rule.id)
        return trigger_to_rule(
            self._wire(self._call(self.api.post_processautomation_triggers, body))
        )

    def create_trigger(self, trigger: Mapping[str, Any]) -> dict[str, Any]:
        """Create a trigger from its wire JSON; returns the stored trigger's wire JSON."""
        body = {k: trigger[k] for k in CREATE_FIELDS if k in trigger}
        model = self._model(body, "CreateTriggerRequest", str(trigger.get("name", "")))
        return self._wire(self._call(self.api.post_processautomation_triggers, model))

    def delete_rule(self, rule_id: str) -> None:
        """Delete a trigger by id."""
        self._call(self.api.delete_processautomation_trigger, rule_id)

    # ------------------------------------------------------------------ test mode

    def test_trigger(self, trigger_id: str, event_body: Mapping[str, Any]) -> dict[str, Any]:
        """`POST /triggers/{id}/test`: the org's `TestModeResults` for an event body (wire)."""
        # DESIGN §4: the event body goes as a JSON object. (The SDK types it `str`; a str
        # would be sent as a JSON string of JSON, which the Genesys API does not document.)
        body = dict(event_body)
        result = self._call(self.api.post_processautomation_trigger_test, trigger_id, body=body)
        return self._wire(result)

    def test_topic(self, topic_name: str, event_body: Mapping[str, Any]) -> dict[str, Any]:
        """`POST /triggers/topics/{topic}/test`: the org's `TestModeEventResults` (wire JSON)."""
        body = dict(event_body)
        result = self._call(
            self.api.post_processautomation_triggers_topic_test, topic_name, body=body
        )
        return self._wire(result)

    def available_topics(self) -> dict[str, Any]:
        """`GET /api/v2/notifications/availabletopics?expand=schema` (SDK `NotificationsApi`).

        The org's own topic listing with each topic's schema (SDK `AvailableTopicEntityListing`);
        a 403 raises the mapped `BusError` (the caller falls back to the offline catalogue).
        """
        from PureCloudPlatformClientV2 import NotificationsApi

        api = NotificationsApi(self.api_client)
        listing = self._call(api.get_notifications_availabletopics, expand=["schema"])
        return self._wire(listing)

    # ------------------------------------------------------------------ plumbing

    def _call(self, operation: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """One SDK operation under a current token; a 401 re-acquires it once (`reauthorized`)."""
        from PureCloudPlatformClientV2.rest import ApiException

        def call(_generation: int) -> T:
            try:
                return operation(*args, **kwargs)
            except ApiException as exc:
                raise sdk_error(exc) from None

        def ensure() -> int:
            return self._credentials.ensure(self.api_client)

        def renew(generation: int) -> None:
            self._credentials.refresh(self.api_client, generation)

        return reauthorized(ensure, call, renew)

    def _wire(self, model: Any) -> dict[str, Any]:
        return self.api_client.sanitize_for_serialization(model) or {}

    def _model(self, body: Mapping[str, Any], klass: str, rule_id: str) -> Any:
        if _mentions(body, OUTDATED):
            raise BadRequest(
                f"trigger {rule_id!r} holds a value this SDK version cannot represent; "
                "refusing to write it back (upgrade PureCloudPlatformClientV2)"
            )
        return self.api_client.deserialize(_JsonData(body), klass)

    def __repr__(self) -> str:
        return f"TriggersBus(api_host={self.api_host!r}, client_id={self._credentials.client_id!r})"


def next_cursor(next_uri: str | None) -> str | None:
    """The `after` cursor of a listing's `nextUri` (None when there is no next page)."""
    if not next_uri:
        return None
    values = parse_qs(urlsplit(next_uri).query).get("after")
    if not values or not values[0]:
        raise BusError(
            f"GET /api/v2/processautomation/triggers: nextUri without an after cursor: {next_uri}"
        )
    return values[0]


class _JsonData:
    """A JSON document shaped like an SDK response, so `ApiClient.deserialize` builds models."""

    def __init__(self, document: Any) -> None:
        self.data = json.dumps(document)

    def getheader(self, name: str, default: str | None = None) -> str | None:
        return "application/json" if name.lower() == "content-type" else default


def _mentions(document: Any, needle: str) -> bool:
    if isinstance(document, str):
        return document == needle
    if isinstance(document, Mapping):
        return any(_mentions(v, needle) for v in document.values())
    if isinstance(document, list):
        return any(_mentions(v, needle) for v in document)
    return False


def _api_client_class(base: type) -> type:
    """An `ApiClient` whose login host may be set apart from the API host (loopback fakes)."""

    class ChainsimApiClient(base):
        def __init__(self, host: str, login_host: str | None) -> None:
            super().__init__(host=host)
            self.login_host = login_host

        def get_conf_url(self, path_type: str, base_path: str) -> str:
            if path_type == "login" and self.login_host:
                return self.login_host
            return super().get_conf_url(path_type, base_path)

    return ChainsimApiClient

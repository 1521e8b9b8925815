"""The Genesys SDK's HTTP on httpx: an `AbstractHttpClient` chainsim controls.

`PureCloudPlatformClientV2` ships with a urllib3 client whose pool silently retries
(urllib3 `Retry()` defaults). `HttpxClient` replaces it through
`ApiClient.set_http_client`, so that:

- every SDK call goes through an injected `httpx.Client` (respx serves it in-process;
  a plain client reaches the loopback fake or a real org);
- nothing is retried here: a non-2xx answer raises the SDK's own
  `rest.ApiException(http_resp=...)`, exactly as the stock client does, and chainsim's
  retry layer decides what happens next;
- an httpx failure (refused, reset, timed out) raises chainsim's `TransportError`
  directly (`bus.base.translate_transport_errors`, the httpx error as its cause): the
  SDK catches only `ApiException`, so it passes through the SDK untouched and the
  retry layer sees a retryable error, not a bare httpx exception;
- every exchange is reported to an `ExchangeObserver` (metrics, the pacer).

The SDK's timeout unit is milliseconds (`AbstractHttpClient.timeout = 16000`); the
client-level value (`set_timeout`) is authoritative, as in the SDK's default client,
because the ApiClient never sets `HttpRequestOptions.timeout` itself.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import httpx
from PureCloudPlatformClientV2.abstract_http_client import AbstractHttpClient
from PureCloudPlatformClientV2.http_request_options import HttpRequestOptions
from PureCloudPlatformClientV2.rest import ApiException

from chainsim.bus.base import ExchangeObserver, ExchangeObservers, translate_transport_errors
from chainsim.clock import Clock, SystemClock

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
TOKEN_PATH = "/oauth/token"


class SdkResponse:
    """What the SDK expects back from an http client (the shape of `rest.RESTResponse`)."""

    __slots__ = ("_url", "data", "headers", "reason", "status")

    def __init__(
        self, status: int, reason: str, data: str, headers: httpx.Headers, url: httpx.URL | str
    ) -> None:
        self.status = status
        self.reason = reason
        self.data = data
        self.headers = headers
        self._url = url

    @property
    def url(self) -> str:
        """The request URL without its query (cursors and filters stay out of messages)."""
        url = self._url
        return str(url.copy_with(query=None)) if isinstance(url, httpx.URL) else url

    @classmethod
    def from_httpx(cls, response: httpx.Response) -> SdkResponse:
        """Wrap an httpx response; the body is decoded as UTF-8 like the SDK does."""
        return cls(
            status=response.status_code,
            reason=response.reason_phrase,
            data=response.content.decode("utf-8", errors="replace"),
            headers=response.headers,
            url=response.request.url,
        )

    def getheaders(self) -> httpx.Headers:
        """All response headers (a case-insensitive mapping)."""
        return self.headers

    def getheader(self, name: str, default: str | None = None) -> str | None:
        """One response header, case-insensitively, or `default`."""
        return self.headers.get(name, default)

    def __repr__(self) -> str:
        return f"SdkResponse(status={self.status}, url={self.url!r})"


def is_success(status: int) -> bool:
    """The SDK's own success test (`rest.py`: `status in range(200, 206)`)."""
    return 200 <= status < 206


class HttpxClient(AbstractHttpClient):
    """The SDK's `AbstractHttpClient` on an injected `httpx.Client`; never retries."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        clock: Clock | None = None,
        on_exchange: ExchangeObserver | None = None,
        timeout_ms: float | None = None,
    ) -> None:
        super().__init__()
        self.http = http
        self.clock: Clock = clock or SystemClock()
        self._exchanges = ExchangeObservers(self.clock, on_exchange)
        if timeout_ms is not None:
            self.set_timeout(timeout_ms)
        self._local = threading.local()
        self._timeouts: dict[float, httpx.Timeout] = {}

    def add_observer(self, observer: ExchangeObserver) -> None:
        """Report every later exchange to `observer` too."""
        self._exchanges.add(observer)

    # ----------------------------------------------------------------- token side channel

    @property
    def token_expires_in(self) -> float | None:
        """`expires_in` of this thread's last token answer (the SDK keeps only the token)."""
        return getattr(self._local, "expires_in", None)

    def _note_token_answer(self, response: SdkResponse) -> None:
        try:
            value = json.loads(response.data).get("expires_in")
            expires_in = float(value) if value is not None else None
        except (ValueError, TypeError, AttributeError):
            expires_in = None
        self._local.expires_in = expires_in

    # ----------------------------------------------------------------- the one method

    def request(self, http_request_options: HttpRequestOptions) -> SdkResponse:
        """Send one SDK request; 2xx returns an `SdkResponse`, else `ApiException`."""
        if not isinstance(http_request_options, HttpRequestOptions):
            raise ValueError("httpRequestOptions must be an instance of HttpRequestOptions")
        options = http_request_options
        if self.pre_hook and callable(self.pre_hook):
            options = self.pre_hook(options)
        request = self._build(options)
        response = self._send(request)
        if self.post_hook and callable(self.post_hook):
            response = self.post_hook(response)
        if not is_success(response.status):
            raise ApiException(http_resp=response)
        if request.method == "POST" and request.url.path.endswith(TOKEN_PATH):
            self._note_token_answer(response)
        return response

    def _build(self, options: HttpRequestOptions) -> httpx.Request:
        headers = {str(k).lower(): str(v) for k, v in (options.headers or {}).items()}
        content_type = headers.get("content-type") or JSON
        params = _params(options.query_params) or None
        kwargs: dict[str, Any] = {}
        if options.method in {"POST", "PUT", "PATCH", "OPTIONS"}:
            if content_type.startswith(FORM):
                kwargs["data"] = dict(options.post_params or {})
            elif content_type.startswith("multipart/"):
                raise ValueError("multipart bodies are not used by chainsim's SDK calls")
            elif options.body is not None:
                kwargs["content"] = json.dumps(options.body).encode("utf-8")
                headers.setdefault("content-type", JSON)
        elif options.body is not None and options.method == "DELETE":
            kwargs["content"] = json.dumps(options.body).encode("utf-8")
        timeout = self._timeout()
        http = self.http
        if http.cookies or http.params:  # the client's own state: let httpx merge it
            return http.build_request(
                options.method,
                options.url,
                params=params,
                headers=headers,
                timeout=timeout,
                **kwargs,
            )
        # The common case, without `build_request`'s merging (a third of the cost of a
        # request): the client's default headers under the SDK's, and its timeout extension.
        merged = {k.lower(): v for k, v in http.headers.items()}
        merged.update(headers)
        extensions = {"timeout": timeout.as_dict()}
        url = options.url
        if params:
            # The query as the SDK's own client sends it (urllib3 `fields=` on a GET is
            # `urlencode`), joined before httpx parses the URL: httpx merging `params`
            # into a parsed URL parses it twice, most of the cost of building a request.
            url = f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"
        return httpx.Request(options.method, url, headers=merged, extensions=extensions, **kwargs)

    def _timeout(self) -> httpx.Timeout:
        """The SDK's timeout (milliseconds) as an httpx Timeout, or the client's own when unset."""
        if not self.timeout:
            return self.http.timeout
        cached = self._timeouts.get(self.timeout)
        if cached is None:
            cached = self._timeouts[self.timeout] = httpx.Timeout(self.timeout / 1000.0)
        return cached

    def _send(self, request: httpx.Request) -> SdkResponse:
        start = self._exchanges.start()
        path = request.url.path

        def failed() -> None:
            self._exchanges.report(request.method, path, None, start, {})

        with translate_transport_errors(f"{request.method} {path}", failed):
            raw = self.http.send(request)
        response = SdkResponse.from_httpx(raw)
        self._exchanges.report(request.method, path, response.status, start, response.headers)
        return response

    def __repr__(self) -> str:
        return f"HttpxClient(timeout_ms={self.timeout})"


def _params(query: Mapping[str, Any] | None) -> dict[str, str]:
    """The SDK's query parameters as strings (it has already joined lists with commas)."""
    return {str(k): _scalar(v) for k, v in (query or {}).items() if v is not None}


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)

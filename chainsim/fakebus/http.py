"""The one pure handler of the fake bus: `Front` (`httpx.Request -> httpx.Response`).

`Front` is built from explicit collaborators (`Org`: state, oauth, limiter, fault
dice, clock, request log, fault plan and the fault-window origin) and runs one
pipeline for every API request:

    latency -> auth -> limit -> faults -> route -> state

Latency is charged to the clock outside the lock; everything after runs under the
state's lock. `auth` is the bearer token (401); `limit` the client's rate limit
(429, counts every authenticated API request); `faults` a storm (429) or a 5xx
burst, which never apply a write; `route` the path table (404/405) and the route's
permissions (403); `state` the action (400/404/409/422). `/oauth/token` is delayed
only: never limited nor faulted.

Every answer carries the `inin-ratelimit-*` headers and `ININ-Correlation-Id` (the
request's own when it sent one, else a fresh id); every error body a fresh
`contextId` (DESIGN §5).

The pipeline itself (`Front.answer`) reads an `Incoming` and returns a `Reply` (status,
wire header pairs, body bytes): no `httpx` models on the hot path. The respx door calls
`Front(request)`, which wraps the two; the loopback server builds `Incoming` straight
from the ASGI scope and writes the `Reply` as it is (building and parsing an
`httpx.URL`, `httpx.Request` and `httpx.Response` per request cost more CPU than the
whole pipeline, measured on the 2-core dev machine).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import parse_qs

import httpx

from chainsim.clock import Clock
from chainsim.fakebus.errors import FakeError, not_found
from chainsim.fakebus.faults import FaultDice, FaultPlan
from chainsim.fakebus.oauth import OAuth
from chainsim.fakebus.ratelimit import Limiter, Quota
from chainsim.fakebus.routes import Answer, Call, match_route, parse_json
from chainsim.fakebus.state import FakeState, dump_json

TOKEN_PATH = "/oauth/token"
CORRELATION = "ININ-Correlation-Id"
_CORRELATION_KEY = CORRELATION.lower().encode()
_JSON = (b"content-type", b"application/json")
_SERVER_CODES = {
    500: ("internal.server.error", "The server encountered an unexpected error"),
    502: ("bad.gateway", "Bad gateway"),
    503: ("service.unavailable", "The service is currently unavailable"),
    504: ("gateway.timeout", "The request timed out"),
}


class Params:
    """A request's query parameters (the `httpx.QueryParams` reads the routes use).

    Parsed as `httpx.QueryParams(query)` parses a string (`parse_qs`, blanks kept),
    without building the multi-dict: `get` and `[]` give a key's first value.
    """

    __slots__ = ("_values",)

    def __init__(self, query: str) -> None:
        self._values = parse_qs(query, keep_blank_values=True)

    def get(self, key: str, default: str | None = None) -> str | None:
        """The key's first value, or `default`."""
        values = self._values.get(key)
        return values[0] if values else default

    def get_list(self, key: str) -> list[str]:
        """Every value of the key, in order."""
        return list(self._values.get(key, ()))

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def __getitem__(self, key: str) -> str:
        return self._values[key][0]


class Incoming:
    """One request as the pipeline reads it: method, path, raw query, the two headers
    it uses (`Authorization`, `ININ-Correlation-Id`) and the body."""

    __slots__ = ("_params", "authorization", "content", "correlation", "method", "path", "query")

    def __init__(
        self,
        method: str,
        path: str,
        query: str,
        content: bytes = b"",
        authorization: str | None = None,
        correlation: str | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.query = query
        self.content = content
        self.authorization = authorization
        self.correlation = correlation
        self._params: Params | None = None

    @property
    def params(self) -> Params:
        """The query parameters (parsed on first use)."""
        if self._params is None:
            self._params = Params(self.query)
        return self._params

    @classmethod
    def of(cls, request: httpx.Request) -> Incoming:
        """The `Incoming` of an `httpx.Request` (the respx door)."""
        url = request.url
        return cls(
            request.method,
            url.path,
            url.query.decode(),
            request.content,
            request.headers.get("authorization"),
            request.headers.get(CORRELATION),
        )


class Reply(NamedTuple):
    """One answer: status, header pairs (lower-case names, Content-Length included
    unless there is no body) and the body bytes."""

    status: int
    headers: list[tuple[bytes, bytes]]
    content: bytes

    def response(self) -> httpx.Response:
        """This answer as an `httpx.Response` (the respx door)."""
        return httpx.Response(self.status, headers=self.headers, content=self.content)


class RequestRecord(NamedTuple):
    """One request as the fake answered it; `at` is the bus clock's time of the answer."""

    method: str
    path: str
    status: int
    at: float
    query: str = ""
    client: str = ""


@dataclass(frozen=True)
class Org:
    """A `Front`'s collaborators; `epoch` is when fault windows start (clock seconds)."""

    state: FakeState
    oauth: OAuth
    limiter: Limiter
    dice: FaultDice
    clock: Clock
    log: list[RequestRecord]
    faults: FaultPlan
    epoch: float


def rate_limited(retry_after: int) -> FakeError:
    """The Genesys 429 (DESIGN §5) with its `Retry-After`."""
    return FakeError(
        429,
        "too.many.requests.retry.after",
        f"Rate limit exceeded the maximum. Retry the request in [{retry_after}] seconds",
        headers={"Retry-After": str(retry_after)},
    )


class Front:
    """The HTTP face of one fake org: call it with a request, get the response."""

    def __init__(self, org: Org) -> None:
        self.org = org

    def __call__(self, request: httpx.Request) -> httpx.Response:
        """Answer one `httpx.Request` (the respx door): `answer` on its `Incoming`."""
        return self.answer(Incoming.of(request)).response()

    def answer(self, request: Incoming) -> Reply:
        """Answer one request: latency first, then the pipeline under the state lock."""
        org = self.org
        if org.faults.latency.mean_ms:
            with org.state.lock:
                latency = org.dice.latency_seconds()
            org.clock.sleep(latency)
        with org.state.lock:
            now = org.clock.now()
            path = request.path
            correlation = request.correlation or org.dice.new_correlation_id()
            quota: Quota | None = None
            client = ""
            try:
                if path == TOKEN_PATH:
                    status, payload, quota, client = self._token(request, now)
                else:
                    if not path.startswith("/api/"):
                        raise not_found(f"No resource at {path}")
                    client = org.oauth.bearer_client(request.authorization, now)
                    quota = org.limiter.take(client, now)
                    status, payload = self._api(request, client, quota, now)
                reply = self._respond(status, payload, quota, correlation, None)
            except FakeError as err:
                body = err.body(org.dice.new_context_id())
                if path == TOKEN_PATH and err.status in (400, 401):
                    body["error"] = err.code
                    body["error_description"] = err.message
                reply = self._respond(err.status, body, quota, correlation, err.headers)
            org.log.append(
                RequestRecord(request.method, path, reply.status, now, request.query, client)
            )
        return reply

    def _api(self, request: Incoming, client: str, quota: Quota, now: float) -> Answer:
        """limit -> faults -> route (permissions) -> state, for an authenticated client."""
        org = self.org
        if not quota.granted:
            raise rate_limited(quota.retry_after)
        t = now - org.epoch
        storm = org.dice.storm(t)
        if storm is not None:
            raise rate_limited(storm.retry_after)
        failure = org.dice.server_error(t)
        if failure is not None:
            code, message = _SERVER_CODES.get(failure, ("server.error", "Server error"))
            raise FakeError(failure, code, message)
        route, params = match_route(request.method, request.path)
        org.oauth.check(client, route.permissions)
        body = parse_json(request.content) if route.has_body else None
        return route.action(Call(org.state, org.dice, request, params, body))

    def _token(self, request: Incoming, now: float) -> tuple[int, Any, Quota, str]:
        org = self.org
        if request.method != "POST":
            raise FakeError(
                405, "method.not.allowed", f"{request.method} is not allowed on {TOKEN_PATH}"
            )
        client = org.oauth.basic_client(request.authorization)
        form = parse_qs(request.content.decode("utf-8", "replace"))
        if form.get("grant_type") != ["client_credentials"]:
            raise FakeError(400, "unsupported_grant_type", "grant_type must be client_credentials")
        ttl = org.faults.token_ttl_seconds
        token = org.oauth.issue(client, now, ttl)
        body = {"access_token": token, "token_type": "bearer", "expires_in": ttl}
        return 200, body, org.limiter.peek(client, now), client

    def _respond(
        self,
        status: int,
        payload: Any,
        quota: Quota | None,
        correlation: str,
        extra: dict[str, str] | None,
    ) -> Reply:
        q = quota or self.org.limiter.fresh()
        headers = [
            (b"inin-ratelimit-allowed", b"%d" % q.allowed),
            (b"inin-ratelimit-count", b"%d" % q.used),
            (b"inin-ratelimit-reset", b"%d" % q.reset),
            (_CORRELATION_KEY, correlation.encode("latin-1", "replace")),
        ]
        if extra:  # e.g. Retry-After
            headers += [(k.lower().encode(), v.encode()) for k, v in extra.items()]
        if payload is None:
            if status not in (204, 304):  # RFC 9110 §8.6: no Content-Length on a 204
                headers.append((b"content-length", b"0"))
            return Reply(status, headers, b"")
        content = payload if isinstance(payload, bytes) else dump_json(payload)
        headers.append(_JSON)
        headers.append((b"content-length", b"%d" % len(content)))
        return Reply(status, headers, content)

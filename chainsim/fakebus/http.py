"""The one pure handler `httpx.Request -> httpx.Response` of the fake bus.

It only parses, calls the state and serialises (moto's `responses.py` + `urls.py`).
A request goes: latency (charged to the clock, outside the lock), then under the
state's lock: `/oauth/token`, or bearer auth (401) -> rate limit (429, counts every
authenticated API request) -> storm (429) -> 5xx burst -> route (404/405) ->
permission (403) -> the state (400/404/409/422). Storms and 5xx answers never apply
a write. `/oauth/token` is not rate-limited and never faulted (only delayed).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import parse_qs, urlencode

import httpx

from chainsim.fakebus import triggers as trig
from chainsim.fakebus.errors import FakeError, bad_request, not_found
from chainsim.fakebus.ratelimit import Quota
from chainsim.fakebus.state import TRIGGERS_PATH, dump_json, keyset_page, page_size

if TYPE_CHECKING:
    from chainsim.fakebus.bus import FakeBus

TOKEN_PATH = "/oauth/token"
RULES_PATH = "/api/v2/eventbridge/rules"
TOPICS_PATH = f"{TRIGGERS_PATH}/topics"
_SERVER_CODES = {
    500: ("internal.server.error", "The server encountered an unexpected error"),
    502: ("bad.gateway", "Bad gateway"),
    503: ("service.unavailable", "The service is currently unavailable"),
    504: ("gateway.timeout", "The request timed out"),
}


class RequestRecord(NamedTuple):
    """One request as the fake answered it; `at` is the bus clock's time of the answer."""

    method: str
    path: str
    status: int
    at: float
    query: str = ""


Answer = tuple[int, Any]  # (status, payload): JSON-able data, ready JSON bytes, or None
Action = Callable[["Front", httpx.Request, dict[str, str], Any], Answer]


@dataclass(frozen=True)
class Route:
    """One row of the path table."""

    method: str
    pattern: re.Pattern[str]
    action: Action
    permission: str
    has_body: bool = False


def rate_limited(retry_after: int) -> FakeError:
    """The Genesys 429 (DESIGN §5) with its `Retry-After`."""
    return FakeError(
        429,
        "too.many.requests.retry.after",
        f"Rate limit exceeded the maximum. Retry the request in [{retry_after}] seconds",
        headers={"Retry-After": str(retry_after)},
    )


def _json(body: bytes) -> Any:
    if not body:
        raise bad_request("A JSON request body is required")
    try:
        return json.loads(body)
    except ValueError:
        raise bad_request("The request body is not valid JSON") from None


def _flag(raw: str | None, name: str) -> bool | None:
    if raw is None:
        return None
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise bad_request(f"{name} must be true or false")


def _uri(path: str, params: list[tuple[str, str]]) -> str:
    return f"{path}?{urlencode(params)}" if params else path


# --------------------------------------------------------------------------- actions


def _list_rules(front: Front, req: httpx.Request, _: dict[str, str], __: Any) -> Answer:
    q = req.url.params
    state = front.state
    keys, token = state.rule_page(page_size(q.get("pageSize")), q.get("pageToken"))
    entities = b",".join([state.rule_json(k) for k in keys])
    return 200, b'{"entities":[' + entities + b'],"nextPageToken":' + dump_json(token) + b"}"


def _create_rule(front: Front, _: httpx.Request, __: dict[str, str], body: Any) -> Answer:
    created = front.state.create_rule(body)
    return 200, front.state.rule_json(created["id"])


def _get_rule(front: Front, _: httpx.Request, p: dict[str, str], __: Any) -> Answer:
    return 200, front.state.rule_json(p["id"])


def _put_rule(front: Front, _: httpx.Request, p: dict[str, str], body: Any) -> Answer:
    if front.bus.dice.concurrent_write():
        front.state.concurrent_edit_rule(p["id"])
    front.state.put_rule(p["id"], body)
    return 200, front.state.rule_json(p["id"])


def _delete_rule(front: Front, _: httpx.Request, p: dict[str, str], __: Any) -> Answer:
    front.state.delete_rule(p["id"])
    return 204, None


def _list_triggers(front: Front, req: httpx.Request, _: dict[str, str], __: Any) -> Answer:
    q = req.url.params
    size = page_size(q.get("pageSize"))
    topics = {t for t in (q.get("topicName") or "").split(",") if t}
    enabled = _flag(q.get("enabled"), "enabled")
    delayed = _flag(q.get("hasDelayBy"), "hasDelayBy")
    filters = [(k, q[k]) for k in ("topicName", "enabled", "hasDelayBy") if k in q]

    def keep(t: dict[str, Any]) -> bool:
        return (
            (not topics or t["topicName"] in topics)
            and (enabled is None or t["enabled"] == enabled)
            and (delayed is None or ("delayBySeconds" in t) == delayed)
        )

    use_filter = bool(topics) or enabled is not None or delayed is not None
    entities, nxt, prev = front.state.list_triggers(
        size, q.get("after"), q.get("before"), keep if use_filter else None
    )
    return 200, _listing(TRIGGERS_PATH, req, size, filters, entities, nxt, prev)


def _listing(
    path: str,
    req: httpx.Request,
    size: int,
    filters: list[tuple[str, str]],
    entities: list[Any],
    nxt: str | None,
    prev: str | None,
) -> dict[str, Any]:
    base = [("pageSize", str(size)), *filters]
    query = req.url.query.decode()
    out: dict[str, Any] = {"entities": entities, "selfUri": f"{path}?{query}" if query else path}
    if nxt:
        out["nextUri"] = _uri(path, [*base, ("after", nxt)])
    if prev:
        out["previousUri"] = _uri(path, [*base, ("before", prev)])
    return out


def _create_trigger(front: Front, _: httpx.Request, __: dict[str, str], body: Any) -> Answer:
    return 200, front.state.create_trigger(body)


def _get_trigger(front: Front, _: httpx.Request, p: dict[str, str], __: Any) -> Answer:
    return 200, front.state.get_trigger(p["id"])


def _put_trigger(front: Front, _: httpx.Request, p: dict[str, str], body: Any) -> Answer:
    if front.bus.dice.concurrent_write():
        front.state.concurrent_edit_trigger(p["id"])
    return 200, front.state.put_trigger(p["id"], body)


def _delete_trigger(front: Front, _: httpx.Request, p: dict[str, str], __: Any) -> Answer:
    front.state.delete_trigger(p["id"])
    return 204, None


def _test_trigger(front: Front, _: httpx.Request, p: dict[str, str], body: Any) -> Answer:
    trigger = front.state.get_trigger(p["id"])
    return 200, trig.trigger_test_results(trigger, trig.event_body(body))


def _list_topics(front: Front, req: httpx.Request, _: dict[str, str], __: Any) -> Answer:
    q = req.url.params
    size = page_size(q.get("pageSize"))
    names, nxt, prev = keyset_page(front.state.topics(), size, q.get("after"), q.get("before"))
    return 200, _listing(TOPICS_PATH, req, size, [], names, nxt, prev)


def _test_topic(front: Front, _: httpx.Request, p: dict[str, str], body: Any) -> Answer:
    event = trig.event_body(body)
    return 200, trig.topic_test_results(front.state.triggers_on(p["topic"]), event)


def _route(
    method: str, path: str, action: Action, permission: str, has_body: bool = False
) -> Route:
    pattern = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "$")
    return Route(method, pattern, action, permission, has_body)


_EB = "eventbridge:rule"
_PA = "processautomation:trigger"
ROUTES: tuple[Route, ...] = (
    _route("GET", RULES_PATH, _list_rules, f"{_EB}:view"),
    _route("POST", RULES_PATH, _create_rule, f"{_EB}:add", True),
    _route("GET", RULES_PATH + "/{id}", _get_rule, f"{_EB}:view"),
    _route("PUT", RULES_PATH + "/{id}", _put_rule, f"{_EB}:edit", True),
    _route("DELETE", RULES_PATH + "/{id}", _delete_rule, f"{_EB}:delete"),
    _route("GET", TRIGGERS_PATH, _list_triggers, f"{_PA}:view"),
    _route("POST", TRIGGERS_PATH, _create_trigger, f"{_PA}:add", True),
    _route("GET", TOPICS_PATH, _list_topics, f"{_PA}:view"),
    _route("POST", TOPICS_PATH + "/{topic}/test", _test_topic, f"{_PA}:view", True),
    _route("GET", TRIGGERS_PATH + "/{id}", _get_trigger, f"{_PA}:view"),
    _route("PUT", TRIGGERS_PATH + "/{id}", _put_trigger, f"{_PA}:edit", True),
    _route("DELETE", TRIGGERS_PATH + "/{id}", _delete_trigger, f"{_PA}:delete"),
    _route("POST", TRIGGERS_PATH + "/{id}/test", _test_trigger, f"{_PA}:view", True),
)


_EXACT = {(r.method, r.pattern.pattern[1:-1]): r for r in ROUTES if "(?P<" not in r.pattern.pattern}


def match_route(method: str, path: str) -> tuple[Route, dict[str, str]]:
    """The route for `method path` and its path parameters; 404 / 405 otherwise."""
    exact = _EXACT.get((method, path))
    if exact is not None:
        return exact, {}
    allowed = False
    for route in ROUTES:
        found = route.pattern.match(path)
        if found:
            if route.method == method:
                return route, found.groupdict()
            allowed = True
    if allowed:
        raise FakeError(405, "method.not.allowed", f"{method} is not allowed on {path}")
    raise not_found(f"No resource at {path}")


# --------------------------------------------------------------------------- front


class Front:
    """The HTTP face of one `FakeBus`: call it with a request, get the response."""

    def __init__(self, bus: FakeBus) -> None:
        self.bus = bus

    @property
    def state(self) -> Any:
        """The bus's `FakeState`."""
        return self.bus.state

    def __call__(self, request: httpx.Request) -> httpx.Response:
        """Answer one request (latency first, then everything under the state lock)."""
        bus = self.bus
        if bus.faults.latency.mean_ms:
            with bus.state.lock:
                latency = bus.dice.latency_seconds()
            bus.clock.sleep(latency)
        with bus.state.lock:
            now = bus.clock.now()
            path = request.url.path
            quota: Quota | None = None
            try:
                if path == TOKEN_PATH:
                    status, payload, quota = self._token(request, now)
                else:
                    if not path.startswith("/api/"):
                        raise not_found(f"No resource at {path}")
                    client = bus.oauth.bearer_client(request.headers.get("authorization"), now)
                    quota = bus.limiter.take(client, now)
                    status, payload = self._serve(request, client, quota, now)
                response = self._respond(status, payload, quota, {})
            except FakeError as err:
                body = err.body(bus.dice.new_context_id())
                if path == TOKEN_PATH and err.status in (400, 401):
                    body["error"] = err.code
                    body["error_description"] = err.message
                response = self._respond(err.status, body, quota, err.headers)
            bus.requests.append(
                RequestRecord(
                    request.method, path, response.status_code, now, request.url.query.decode()
                )
            )
        return response

    def _serve(self, request: httpx.Request, client: str, quota: Quota, now: float) -> Answer:
        """An authenticated API request: limit, faults, route, permission, state."""
        bus = self.bus
        if not quota.granted:
            raise rate_limited(quota.retry_after)
        t = now - bus.epoch
        storm = bus.dice.storm(t)
        if storm is not None:
            raise rate_limited(storm.retry_after)
        failure = bus.dice.server_error(t)
        if failure is not None:
            code, message = _SERVER_CODES.get(failure, ("server.error", "Server error"))
            raise FakeError(failure, code, message)
        route, params = match_route(request.method, request.url.path)
        bus.oauth.check(client, route.permission)
        body = _json(request.content) if route.has_body else None
        return route.action(self, request, params, body)

    def _token(self, request: httpx.Request, now: float) -> tuple[int, Any, Quota | None]:
        bus = self.bus
        if request.method != "POST":
            raise FakeError(
                405, "method.not.allowed", f"{request.method} is not allowed on {TOKEN_PATH}"
            )
        client = bus.oauth.basic_client(request.headers.get("authorization"))
        form = parse_qs(request.content.decode("utf-8", "replace"))
        if form.get("grant_type") != ["client_credentials"]:
            raise FakeError(400, "unsupported_grant_type", "grant_type must be client_credentials")
        ttl = bus.faults.token_ttl_seconds
        token = bus.oauth.issue(client, now, ttl)
        body = {"access_token": token, "token_type": "bearer", "expires_in": ttl}
        return 200, body, bus.limiter.peek(client, now)

    def _respond(
        self, status: int, payload: Any, quota: Quota | None, extra: dict[str, str]
    ) -> httpx.Response:
        q = quota or self.bus.fresh_quota
        # raw byte pairs with Content-Length included: httpx then has nothing to add
        headers = [
            (b"inin-ratelimit-allowed", b"%d" % q.allowed),
            (b"inin-ratelimit-count", b"%d" % q.used),
            (b"inin-ratelimit-reset", b"%d" % q.reset),
        ]
        headers += [(k.encode(), v.encode()) for k, v in extra.items()]  # e.g. Retry-After
        if payload is None:
            headers.append((b"Content-Length", b"0"))
            return httpx.Response(status, headers=headers)
        content = payload if isinstance(payload, bytes) else dump_json(payload)
        headers.append((b"Content-Type", b"application/json"))
        headers.append((b"Content-Length", b"%d" % len(content)))
        return httpx.Response(status, headers=headers, content=content)

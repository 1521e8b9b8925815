"""The fake's path table and its actions (moto's `urls.py` + `responses.py`).

An action parses the query and body, calls the state and shapes the answer: paths,
cursors and `selfUri`s live here, never in the state. Each route lists the
permissions of which ANY one admits a client, as the SDK docs state per method
(`ProcessAutomationApi`, SDK 256.0.0 docs: list/get triggers, scheduled triggers and
topics: `processautomation:trigger:view` or `:edit`; create: `:add`; update: `:edit`;
delete: `:delete`; both test endpoints: `:test`. The docs give scheduled triggers the
same `processautomation:trigger:*` permissions, not permissions of their own).
`GET /api/v2/flows/{flowId}`: `architect:flow:view`; `GET
/api/v2/notifications/availabletopics`: "Requires no permissions" (SDK docs).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from chainsim.fakebus import triggers as trig
from chainsim.fakebus.errors import FakeError, bad_request, not_found
from chainsim.fakebus.paging import decode_cursor, encode_cursor, keyset_page, page_size
from chainsim.fakebus.state import dump_json
from chainsim.fakebus.workflows import FLOWS_PATH

if TYPE_CHECKING:
    from chainsim.fakebus.faults import FaultDice
    from chainsim.fakebus.http import Incoming, Params
    from chainsim.fakebus.state import FakeState

RULES_PATH = "/api/v2/eventbridge/rules"
TRIGGERS_PATH = "/api/v2/processautomation/triggers"
TOPICS_PATH = f"{TRIGGERS_PATH}/topics"
SCHEDULED_PATH = "/api/v2/processautomation/scheduledtriggers"
AVAILABLE_TOPICS_PATH = "/api/v2/notifications/availabletopics"

Answer = tuple[int, Any]  # (status, payload): JSON-able data, ready JSON bytes, or None


@dataclass(frozen=True)
class Call:
    """What an action gets: the collaborators it may use and the parsed request."""

    state: FakeState
    dice: FaultDice
    request: Incoming
    params: dict[str, str]
    body: Any


Action = Callable[[Call], Answer]


@dataclass(frozen=True)
class Route:
    """One row of the path table."""

    method: str
    pattern: re.Pattern[str]
    action: Action
    permissions: tuple[str, ...]
    has_body: bool = False
    prefix: str = ""  # the literal text before the first `{param}`: a cheap pre-check


def parse_json(body: bytes) -> Any:
    """The request body as JSON; 400 when absent or malformed."""
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


_PLAIN = re.compile(r"[A-Za-z0-9_.~-]*")  # what urlencode leaves as it is


def _uri(path: str, params: list[tuple[str, str]]) -> str:
    if not params:
        return path
    if all(_PLAIN.fullmatch(k) and _PLAIN.fullmatch(v) for k, v in params):
        return f"{path}?" + "&".join([f"{k}={v}" for k, v in params])  # urlencode's own
    return f"{path}?{urlencode(params)}"


def with_self(path: str, entity: dict[str, Any]) -> dict[str, Any]:
    """`entity` with its `selfUri` under `path`."""
    return {**entity, "selfUri": f"{path}/{entity['id']}"}


def _cursors(q: Params) -> tuple[str | None, str | None]:
    after, before = q.get("after"), q.get("before")
    return (
        decode_cursor(after, "after") if after else None,
        decode_cursor(before, "before") if before else None,
    )


def _listing(
    path: str,
    req: Incoming,
    size: int,
    filters: list[tuple[str, str]],
    entities: list[Any],
    nxt: str | None,
    prev: str | None,
) -> dict[str, Any]:
    base = [("pageSize", str(size)), *filters]
    query = req.query
    out: dict[str, Any] = {"entities": entities, "selfUri": f"{path}?{query}" if query else path}
    if nxt:
        out["nextUri"] = _uri(path, [*base, ("after", encode_cursor(nxt))])
    if prev:
        out["previousUri"] = _uri(path, [*base, ("before", encode_cursor(prev))])
    return out


def _listing_json(listing: dict[str, Any], entities: list[bytes]) -> bytes:
    """`dump_json` of a `_listing` whose `entities` are given as JSON bytes each."""
    out = b'{"entities":[' + b",".join(entities) + b"]"
    for key, value in listing.items():
        if key != "entities":
            out += b',"' + key.encode() + b'":' + dump_json(value)
    return out + b"}"


# --------------------------------------------------------------------------- rules


def _list_rules(c: Call) -> Answer:
    q = c.request.params
    token = q.get("pageToken")
    after = decode_cursor(token, "pageToken") if token else None
    keys, nxt = c.state.rule_page(page_size(q.get("pageSize")), after)
    entities = b",".join([c.state.rule_json(k) for k in keys])
    token_json = json.dumps(encode_cursor(nxt) if nxt else None).encode()
    return 200, b'{"entities":[' + entities + b'],"nextPageToken":' + token_json + b"}"


def _create_rule(c: Call) -> Answer:
    created = c.state.create_rule(c.body)
    return 200, c.state.rule_json(created["id"])


def _get_rule(c: Call) -> Answer:
    return 200, c.state.rule_json(c.params["id"])


def _put_rule(c: Call) -> Answer:
    if c.dice.concurrent_write():
        c.state.concurrent_edit_rule(c.params["id"])
    c.state.put_rule(c.params["id"], c.body)
    return 200, c.state.rule_json(c.params["id"])


def _delete_rule(c: Call) -> Answer:
    c.state.delete_rule(c.params["id"])
    return 204, None


# --------------------------------------------------------------------------- triggers


def _trigger(t: dict[str, Any]) -> dict[str, Any]:
    return with_self(TRIGGERS_PATH, t)


def _list_triggers(c: Call) -> Answer:
    q = c.request.params
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
    after, before = _cursors(q)
    keys, nxt, prev = c.state.trigger_page(size, after, before, keep if use_filter else None)
    listing = _listing(TRIGGERS_PATH, c.request, size, filters, [], nxt, prev)
    return 200, _listing_json(listing, c.state.triggers_json(keys, _shown_trigger))


def _create_trigger(c: Call) -> Answer:
    return 200, _trigger(c.state.create_trigger(c.body))


def _shown_trigger(t: dict[str, Any]) -> bytes:
    return dump_json(_trigger(t))


def _trigger_json(c: Call, trigger_id: str) -> bytes:
    """The trigger's answer JSON, rendered once per write (kept by the state)."""
    return c.state.trigger_json(trigger_id, _shown_trigger)


def _get_trigger(c: Call) -> Answer:
    return 200, _trigger_json(c, c.params["id"])


def _put_trigger(c: Call) -> Answer:
    if c.dice.concurrent_write():
        c.state.concurrent_edit_trigger(c.params["id"])
    c.state.put_trigger(c.params["id"], c.body)
    return 200, _trigger_json(c, c.params["id"])  # rendered once: later reads reuse it


def _delete_trigger(c: Call) -> Answer:
    c.state.delete_trigger(c.params["id"])
    return 204, None


def _test_trigger(c: Call) -> Answer:
    trigger = c.state.get_trigger(c.params["id"])
    event = trig.event_body(c.body)
    schema_errors = c.state.topics.validate(trigger["topicName"], event)
    target = c.state.target_problems(trigger)
    return 200, trig.trigger_test_results(trigger, event, schema_errors, target)


def _list_topics(c: Call) -> Answer:
    q = c.request.params
    size = page_size(q.get("pageSize"))
    after, before = _cursors(q)
    names, nxt, prev = keyset_page(c.state.topic_names(), size, after, before)
    return 200, _listing(TOPICS_PATH, c.request, size, [], names, nxt, prev)


def _test_topic(c: Call) -> Answer:
    topic = c.params["topic"]
    event = trig.event_body(c.body)
    schema_errors = c.state.event_problems(topic, event)
    on_topic = [_trigger(t) for t in c.state.triggers_on(topic)]
    return 200, trig.topic_test_results(on_topic, event, schema_errors)


# --------------------------------------------------------------------------- scheduled


def _scheduled(t: dict[str, Any]) -> dict[str, Any]:
    return with_self(SCHEDULED_PATH, t)


def _list_scheduled(c: Call) -> Answer:
    q = c.request.params
    size = page_size(q.get("pageSize"))
    enabled = _flag(q.get("enabled"), "enabled")
    filters = [("enabled", q["enabled"])] if "enabled" in q else []
    after, before = _cursors(q)
    entities, nxt, prev = c.state.list_scheduled(size, after, before, enabled)
    entities = [_scheduled(t) for t in entities]
    return 200, _listing(SCHEDULED_PATH, c.request, size, filters, entities, nxt, prev)


def _create_scheduled(c: Call) -> Answer:
    return 200, _scheduled(c.state.create_scheduled(c.body))


def _get_scheduled(c: Call) -> Answer:
    return 200, _scheduled(c.state.get_scheduled(c.params["id"]))


def _put_scheduled(c: Call) -> Answer:
    return 200, _scheduled(c.state.put_scheduled(c.params["id"], c.body))


def _delete_scheduled(c: Call) -> Answer:
    c.state.delete_scheduled(c.params["id"])
    return 204, None


# --------------------------------------------------------------------------- org


def _get_flow(c: Call) -> Answer:
    return 200, c.state.flow(c.params["id"])


def _available_topics(c: Call) -> Answer:
    """The SDK's `AvailableTopicEntityListing`; `expand=schema` adds each topic's schema."""
    expand = {
        part.strip()
        for raw in c.request.params.get_list("expand")
        for part in raw.split(",")
        if part.strip()
    }
    topics = c.state.topics
    entities = []
    for name in topics.names():
        entity: dict[str, Any] = {"id": name}
        params = re.findall(r"\{([^{}]+)\}", name)
        if params:
            entity["topicParameters"] = params
        if "schema" in expand:
            schema = topics.schema(name)
            if schema is not None:
                entity["schema"] = schema
        entities.append(entity)
    return 200, {"entities": entities}


# --------------------------------------------------------------------------- table


def _route(
    method: str, path: str, action: Action, permissions: tuple[str, ...], has_body: bool = False
) -> Route:
    pattern = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "$")
    return Route(method, pattern, action, permissions, has_body, path.partition("{")[0])


_EB = "eventbridge:rule"
_PA = "processautomation:trigger"
_VIEW = (f"{_PA}:view", f"{_PA}:edit")  # "Requires ANY permissions" (SDK docs)
ROUTES: tuple[Route, ...] = (
    _route("GET", RULES_PATH, _list_rules, (f"{_EB}:view",)),
    _route("POST", RULES_PATH, _create_rule, (f"{_EB}:add",), True),
    _route("GET", RULES_PATH + "/{id}", _get_rule, (f"{_EB}:view",)),
    _route("PUT", RULES_PATH + "/{id}", _put_rule, (f"{_EB}:edit",), True),
    _route("DELETE", RULES_PATH + "/{id}", _delete_rule, (f"{_EB}:delete",)),
    _route("GET", TRIGGERS_PATH, _list_triggers, _VIEW),
    _route("POST", TRIGGERS_PATH, _create_trigger, (f"{_PA}:add",), True),
    _route("GET", TOPICS_PATH, _list_topics, _VIEW),
    _route("POST", TOPICS_PATH + "/{topic}/test", _test_topic, (f"{_PA}:test",), True),
    _route("GET", TRIGGERS_PATH + "/{id}", _get_trigger, _VIEW),
    _route("PUT", TRIGGERS_PATH + "/{id}", _put_trigger, (f"{_PA}:edit",), True),
    _route("DELETE", TRIGGERS_PATH + "/{id}", _delete_trigger, (f"{_PA}:delete",)),
    _route("POST", TRIGGERS_PATH + "/{id}/test", _test_trigger, (f"{_PA}:test",), True),
    _route("GET", SCHEDULED_PATH, _list_scheduled, _VIEW),
    _route("POST", SCHEDULED_PATH, _create_scheduled, (f"{_PA}:add",), True),
    _route("GET", SCHEDULED_PATH + "/{id}", _get_scheduled, _VIEW),
    _route("PUT", SCHEDULED_PATH + "/{id}", _put_scheduled, (f"{_PA}:edit",), True),
    _route("DELETE", SCHEDULED_PATH + "/{id}", _delete_scheduled, (f"{_PA}:delete",)),
    _route("GET", FLOWS_PATH + "/{id}", _get_flow, ("architect:flow:view",)),
    _route("GET", AVAILABLE_TOPICS_PATH, _available_topics, ()),
)

_EXACT = {(r.method, r.pattern.pattern[1:-1]): r for r in ROUTES if "(?P<" not in r.pattern.pattern}
_PARAMETRISED = tuple(r for r in ROUTES if "(?P<" in r.pattern.pattern)


def match_route(method: str, path: str) -> tuple[Route, dict[str, str]]:
    """The route for `method path` and its path parameters; 404 / 405 otherwise."""
    exact = _EXACT.get((method, path))
    if exact is not None:
        return exact, {}
    allowed = False
    for route in _PARAMETRISED:
        if not path.startswith(route.prefix):
            continue
        found = route.pattern.match(path)
        if found:
            if route.method == method:
                return route, found.groupdict()
            allowed = True
    if allowed:
        raise FakeError(405, "method.not.allowed", f"{method} is not allowed on {path}")
    raise not_found(f"No resource at {path}")

"""The fake org's state in plain Python: rules, triggers, versions, cursors, constraints.

No HTTP here (moto's split): methods take and return wire JSON dicts and raise
`FakeError`s that carry their HTTP status and Genesys code. One re-entrant lock guards
everything; the HTTP layer holds it for a whole request.

Write constraints on EventBridge rules are the bus's own, written independently of
chainsim's validator (which must predict them exactly, DESIGN §4):

- 400: a malformed body; a preserved attribute, or a payloadTransformation path's
  `$.metadata.<key>`, that the written rule's `filters.attributes` does not carry.
- 422: an `invokeRule` to an unknown rule or to the rule itself; more than 5
  `invokeRule` actions; a cycle, or a path longer than `max_depth` hops, through one of
  the written rule's links. Paths are measured on the graph after the write: the
  longest path into the written rule, plus one hop, plus the longest path out of the
  link's destination. A path through a link that reaches a cycle is a cycle.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import copy
import json
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from jsonpath import JSONPath, JSONPathEnvironment
from jsonpath.exceptions import JSONPathError
from jsonpath.segments import JSONPathChildSegment
from jsonpath.selectors import NameSelector
from pydantic import ValidationError

from chainsim.fakebus import triggers as trig
from chainsim.fakebus.errors import (
    Violation,
    bad_request,
    conflict,
    not_found,
    unprocessable,
)
from chainsim.model import INVOKE_RULE, Rule, input_error_from

MAX_FANOUT = 5
MAX_PAGE_SIZE = 200
DEFAULT_PAGE_SIZE = 25
CONCURRENT_EDIT = "edited by concurrent writer"
TRIGGERS_PATH = "/api/v2/processautomation/triggers"
_CURSOR_PREFIX = b"k1:"


# --------------------------------------------------------------------------- cursors


def dump_json(payload: Any) -> bytes:
    """Compact JSON bytes, the one wire encoding of the fake."""
    return json.dumps(payload, separators=(",", ":")).encode()


def encode_cursor(key: str) -> str:
    """An opaque keyset cursor for "after/before `key`" (URL-safe base64)."""
    return base64.urlsafe_b64encode(_CURSOR_PREFIX + key.encode()).rstrip(b"=").decode()


def decode_cursor(token: str, param: str) -> str:
    """The key inside a cursor; 400 when it is not one of ours."""
    try:
        raw = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True)
        if not raw.startswith(_CURSOR_PREFIX):
            raise ValueError
        return raw[len(_CURSOR_PREFIX) :].decode()
    except (binascii.Error, ValueError):
        raise bad_request(
            f"{param}: not a valid page cursor", [Violation("invalid.value", "bad cursor", param)]
        ) from None


def page_size(raw: str | None) -> int:
    """`pageSize` as an int in 1..200 (default 25); 400 otherwise."""
    if raw is None or raw == "":
        return DEFAULT_PAGE_SIZE
    try:
        size = int(raw)
    except ValueError:
        size = 0
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise bad_request(
            f"pageSize must be an integer from 1 to {MAX_PAGE_SIZE}",
            [Violation("invalid.value", "out of range", "pageSize")],
        )
    return size


class SortedKeys:
    """Keys kept sorted, for keyset pages (`after`/`before` a key)."""

    def __init__(self) -> None:
        self._keys: list[str] = []

    def add(self, key: str) -> None:
        """Insert `key` (no-op if present)."""
        i = bisect.bisect_left(self._keys, key)
        if i == len(self._keys) or self._keys[i] != key:
            self._keys.insert(i, key)

    def discard(self, key: str) -> None:
        """Remove `key` if present."""
        i = bisect.bisect_left(self._keys, key)
        if i < len(self._keys) and self._keys[i] == key:
            del self._keys[i]

    def clear(self) -> None:
        """Remove every key."""
        self._keys.clear()

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._keys))

    def __len__(self) -> int:
        return len(self._keys)

    def after(self, key: str | None, count: int) -> tuple[list[str], bool]:
        """Up to `count` keys greater than `key`, and whether more follow."""
        i = 0 if key is None else bisect.bisect_right(self._keys, key)
        return self._keys[i : i + count], i + count < len(self._keys)

    def before(self, key: str, count: int) -> tuple[list[str], bool]:
        """Up to `count` keys less than `key` (ascending), and whether more precede."""
        j = bisect.bisect_left(self._keys, key)
        i = max(0, j - count)
        return self._keys[i:j], i > 0

    def has_before(self, key: str) -> bool:
        """True when some key is less than `key`."""
        return bool(self._keys) and self._keys[0] < key

    def has_after(self, key: str) -> bool:
        """True when some key is greater than `key`."""
        return bool(self._keys) and self._keys[-1] > key


# --------------------------------------------------------------------------- paths

_STRICT = JSONPathEnvironment(strict=True)


def transform_key(path: Any) -> str | None:
    """The `<key>` of a JSONPath starting `$.metadata.<key>`; None if it is not one."""
    if not isinstance(path, str):
        return None
    try:
        compiled = _STRICT.compile(path)
    except (JSONPathError, ValueError, RecursionError):
        return None
    if not isinstance(compiled, JSONPath) or len(compiled.segments) < 2:
        return None
    names = []
    for segment in compiled.segments[:2]:
        if not isinstance(segment, JSONPathChildSegment) or len(segment.selectors) != 1:
            return None
        selector = segment.selectors[0]
        if not isinstance(selector, NameSelector):
            return None
        names.append(selector.name)
    return names[1] if names[0] == "metadata" else None


def _longest(start: str, nexts: Callable[[str], Iterable[str]]) -> tuple[int, list[str] | None]:
    """Longest path (in hops) from `start` along `nexts`, or the first cycle met."""
    memo: dict[str, int] = {}
    grey = {start}
    path = [start]
    stack: list[tuple[str, Iterator[str]]] = [(start, iter(nexts(start)))]
    while stack:
        node, pending = stack[-1]
        for nxt in pending:
            if nxt in grey:
                return -1, [*path[path.index(nxt) :], nxt]
            if nxt not in memo:
                grey.add(nxt)
                path.append(nxt)
                stack.append((nxt, iter(nexts(nxt))))
                break
        else:
            stack.pop()
            path.pop()
            grey.discard(node)
            memo[node] = max((memo[n] + 1 for n in nexts(node)), default=0)
    return memo[start], None


# --------------------------------------------------------------------------- state


class FakeState:
    """Rules and triggers of one fake org, with the bus's own write constraints."""

    def __init__(self, *, max_depth: int, new_id: Callable[[], str]) -> None:
        self.lock = threading.RLock()
        self.max_depth = max_depth
        self.new_id = new_id
        self._rules: dict[str, dict[str, Any]] = {}
        self._rule_json: dict[str, bytes] = {}  # each rule's wire JSON, serialised once
        self._rule_keys = SortedKeys()
        self._succ: dict[str, list[str]] = {}
        self._pred: dict[str, dict[str, int]] = {}
        self._triggers: dict[str, dict[str, Any]] = {}
        self._trigger_keys = SortedKeys()

    def clear(self) -> None:
        """Forget every rule and trigger."""
        with self.lock:
            self._rules.clear()
            self._rule_json.clear()
            self._rule_keys.clear()
            self._succ.clear()
            self._pred.clear()
            self._triggers.clear()
            self._trigger_keys.clear()

    # ----------------------------------------------------------------- rules: storage

    def _store_rule(self, wire: dict[str, Any]) -> None:
        rule_id = wire["id"]
        self._unlink(rule_id)
        self._rules[rule_id] = wire
        self._rule_json[rule_id] = dump_json(wire)
        self._rule_keys.add(rule_id)
        dests = [a["ruleId"] for a in wire.get("actions", ()) if _is_link(a)]
        self._succ[rule_id] = dests
        for dest in dests:
            preds = self._pred.setdefault(dest, {})
            preds[rule_id] = preds.get(rule_id, 0) + 1

    def _unlink(self, rule_id: str) -> None:
        for dest in self._succ.pop(rule_id, ()):
            preds = self._pred.get(dest)
            if preds and rule_id in preds:
                preds[rule_id] -= 1
                if not preds[rule_id]:
                    del preds[rule_id]

    def seed_rules(self, rules: Iterable[Rule | dict[str, Any]]) -> None:
        """Store rules as given (no constraint checks)."""
        with self.lock:
            for rule in rules:
                model = rule if isinstance(rule, Rule) else Rule.model_validate(rule)
                self._store_rule(model.to_wire())

    def rules(self) -> list[Rule]:
        """Every rule (copies), sorted by id."""
        with self.lock:
            return [Rule.model_validate(self._rules[k]) for k in self._rule_keys]

    def rule_ids(self) -> list[str]:
        """Every rule id, sorted."""
        with self.lock:
            return list(self._rule_keys)

    # ----------------------------------------------------------------- rules: API

    def list_rules(self, size: int, token: str | None) -> dict[str, Any]:
        """One page of rules after the cursor `token`: `{entities, nextPageToken}`."""
        keys, next_token = self.rule_page(size, token)
        return {"entities": [self._rules[k] for k in keys], "nextPageToken": next_token}

    def rule_page(self, size: int, token: str | None) -> tuple[list[str], str | None]:
        """The ids of one page of rules after the cursor `token`, and the next token."""
        after = decode_cursor(token, "pageToken") if token else None
        keys, more = self._rule_keys.after(after, size)
        return keys, encode_cursor(keys[-1]) if more and keys else None

    def rule_json(self, rule_id: str) -> bytes:
        """The stored rule's wire JSON (serialised once per write); 404 if absent."""
        found = self._rule_json.get(rule_id)
        if found is None:
            raise not_found(f"Rule {rule_id} not found")
        return found

    def get_rule(self, rule_id: str) -> dict[str, Any]:
        """The stored rule (the caller must not mutate it); 404 if absent."""
        rule = self._rules.get(rule_id)
        if rule is None:
            raise not_found(f"Rule {rule_id} not found")
        return rule

    def create_rule(self, body: Any) -> dict[str, Any]:
        """Create a rule (id from the body, else a new one) at version 1."""
        if not isinstance(body, dict):
            raise bad_request("The request body must be a JSON object")
        body = dict(body)
        if not body.get("id"):
            body["id"] = self.new_id()
        elif body["id"] in self._rules:
            raise conflict(f"Rule {body['id']} already exists")
        body["version"] = 1
        wire = self._parse_rule(body)
        self._check_rule(wire)
        self._store_rule(wire)
        return wire

    def put_rule(self, rule_id: str, body: Any) -> dict[str, Any]:
        """Replace a rule; the body's `version` must be the stored version."""
        if not isinstance(body, dict):
            raise bad_request("The request body must be a JSON object")
        if body.get("id", rule_id) != rule_id:
            raise bad_request(
                "The body's id does not match the path",
                [Violation("invalid.value", "id differs from the path", "id")],
            )
        wire = self._parse_rule({**body, "id": rule_id})
        stored = self.get_rule(rule_id)
        sent = body.get("version")
        if sent != stored["version"]:
            raise conflict(
                f"Rule version {sent} does not match the current version {stored['version']}"
            )
        wire["version"] = stored["version"] + 1
        self._check_rule(wire)
        self._store_rule(wire)
        return wire

    def delete_rule(self, rule_id: str) -> None:
        """Delete a rule; 404 if absent. Links to it elsewhere are left dangling."""
        self.get_rule(rule_id)
        self._unlink(rule_id)
        del self._rules[rule_id]
        del self._rule_json[rule_id]
        self._rule_keys.discard(rule_id)

    def concurrent_edit_rule(self, rule_id: str) -> bool:
        """A concurrent writer edits the rule's description and bumps its version."""
        rule = self._rules.get(rule_id)
        if rule is None:
            return False
        self._store_rule({**rule, "description": CONCURRENT_EDIT, "version": rule["version"] + 1})
        return True

    @staticmethod
    def _parse_rule(body: dict[str, Any]) -> dict[str, Any]:
        try:
            rule = Rule.model_validate(body)
        except ValidationError as exc:
            err = input_error_from("body", exc)
            raise bad_request(
                f"Malformed rule: {err.place}: {err.problem}",
                [Violation("invalid.value", err.problem, err.place or None)],
            ) from None
        for index, action in enumerate(rule.actions):
            if action.type == INVOKE_RULE and not action.rule_id:
                raise bad_request(
                    f"Malformed rule: actions[{index}].ruleId: required for invokeRule",
                    [Violation("missing.value", "required", f"actions[{index}].ruleId")],
                )
        return rule.to_wire()

    # ----------------------------------------------------------------- rules: constraints

    def _check_rule(self, wire: dict[str, Any]) -> None:
        """Raise 400 / 422 when the written rule breaks the bus's constraints."""
        rule_id = wire["id"]
        carried = set(wire.get("filters", {}).get("attributes", ()))
        bad: list[Violation] = []
        unprocessable_: list[Violation] = []
        dests: list[str] = []
        links = [(i, a) for i, a in enumerate(wire.get("actions", ())) if _is_link(a)]
        for index, action in links:
            where = f"actions[{index}]"
            for attr in action.get("preservedAttributes", ()):
                if attr not in carried:
                    bad.append(
                        Violation(
                            "attribute.not.carried",
                            f"preserved attribute {attr!r} is not in filters.attributes",
                            f"{where}.preservedAttributes",
                        )
                    )
            for dest_key, path in action.get("payloadTransformation", {}).items():
                key = transform_key(path)
                if key is None or key not in carried:
                    bad.append(
                        Violation(
                            "invalid.transformation",
                            f"path {path!r} must read $.metadata.<attribute> of this rule",
                            f"{where}.payloadTransformation.{dest_key}",
                        )
                    )
            dest = action["ruleId"]
            if dest == rule_id:
                unprocessable_.append(
                    Violation(
                        "chain.self.link", "a rule cannot invoke itself", f"{where}.ruleId", dest
                    )
                )
            elif dest not in self._rules:
                unprocessable_.append(
                    Violation(
                        "chain.unknown.rule", f"rule {dest} does not exist", f"{where}.ruleId", dest
                    )
                )
            else:
                dests.append(dest)
        if len(links) > MAX_FANOUT:
            unprocessable_.append(
                Violation(
                    "chain.fanout",
                    f"{len(links)} invokeRule actions, at most {MAX_FANOUT} allowed",
                    "actions",
                    rule_id,
                )
            )
        if dests:
            unprocessable_.extend(self._graph_violations(rule_id, dests))
        if bad:
            raise bad_request(f"Invalid rule {rule_id}: {bad[0].message}", bad + unprocessable_)
        if unprocessable_:
            raise unprocessable(
                f"Rule {rule_id} breaks a chain constraint: {unprocessable_[0].message}",
                unprocessable_,
            )

    def _graph_violations(self, rule_id: str, dests: list[str]) -> list[Violation]:
        """Cycle and depth through the written rule's links, on the graph after the write."""

        def succ(node: str) -> Iterable[str]:
            if node == rule_id:
                return dests
            return [d for d in self._succ.get(node, ()) if d in self._rules]

        def pred(node: str) -> Iterable[str]:
            out = [p for p in self._pred.get(node, ()) if p != rule_id and p in self._rules]
            if node in dests:
                out.append(rule_id)
            return out

        down, cycle = _longest(rule_id, succ)
        if cycle is None:
            up, cycle = _longest(rule_id, pred)
            if cycle is not None:
                cycle.reverse()
        if cycle is not None:
            return [Violation("chain.cycle", "a cycle: " + " -> ".join(cycle), "actions", rule_id)]
        if up + down > self.max_depth:
            return [
                Violation(
                    "chain.depth",
                    f"a path of {up + down} hops runs through this rule,"
                    f" at most {self.max_depth} allowed",
                    "actions",
                    rule_id,
                )
            ]
        return []

    # ----------------------------------------------------------------- triggers

    def seed_triggers(self, triggers: Iterable[dict[str, Any]]) -> None:
        """Store triggers given in the SDK's wire JSON (validated, ids kept)."""
        with self.lock:
            for raw in triggers:
                fields = trig.parse_trigger(raw, require_version=False)
                trigger_id = raw.get("id") if isinstance(raw.get("id"), str) else None
                trigger_id = trigger_id or self.new_id()
                fields.setdefault("version", 1)
                self._store_trigger(trigger_id, fields)

    def _store_trigger(self, trigger_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        wire = {"id": trigger_id, **fields, "selfUri": f"{TRIGGERS_PATH}/{trigger_id}"}
        self._triggers[trigger_id] = wire
        self._trigger_keys.add(trigger_id)
        return wire

    def triggers(self) -> list[dict[str, Any]]:
        """Every trigger (wire JSON copies), sorted by id."""
        with self.lock:
            return [copy.deepcopy(self._triggers[k]) for k in self._trigger_keys]

    def list_triggers(
        self,
        size: int,
        after: str | None,
        before: str | None,
        keep: Callable[[dict[str, Any]], bool] | None = None,
    ) -> tuple[list[dict[str, Any]], str | None, str | None]:
        """One page of triggers: `(entities, after-cursor for next, before-cursor for previous)`.

        `keep` filters (topicName, enabled, hasDelayBy); paging walks the filtered keys.
        """
        keys = self._trigger_keys
        if keep is not None:
            keys = SortedKeys()
            for k in self._trigger_keys:
                if keep(self._triggers[k]):
                    keys.add(k)
        return _keyset_page(keys, size, after, before, lambda k: self._triggers[k])

    def get_trigger(self, trigger_id: str) -> dict[str, Any]:
        """The stored trigger; 404 if absent."""
        trigger = self._triggers.get(trigger_id)
        if trigger is None:
            raise not_found(f"Trigger {trigger_id} not found")
        return trigger

    def create_trigger(self, body: Any) -> dict[str, Any]:
        """Create a trigger at version 1 with a new id."""
        fields = trig.parse_trigger(body, require_version=False)
        fields["version"] = 1
        return self._store_trigger(self.new_id(), fields)

    def put_trigger(self, trigger_id: str, body: Any) -> dict[str, Any]:
        """Replace a trigger; version must match, topicName cannot change."""
        fields = trig.parse_trigger(body, require_version=True)
        stored = self.get_trigger(trigger_id)
        if fields["topicName"] != stored["topicName"]:
            raise bad_request(
                "topicName cannot be changed",
                [Violation("invalid.value", "immutable", "topicName")],
            )
        if fields["version"] != stored["version"]:
            raise conflict(
                f"Trigger version {fields['version']} does not match the current version"
                f" {stored['version']}"
            )
        fields["version"] = stored["version"] + 1
        return self._store_trigger(trigger_id, fields)

    def delete_trigger(self, trigger_id: str) -> None:
        """Delete a trigger; 404 if absent."""
        self.get_trigger(trigger_id)
        del self._triggers[trigger_id]
        self._trigger_keys.discard(trigger_id)

    def concurrent_edit_trigger(self, trigger_id: str) -> bool:
        """A concurrent writer edits the trigger's description and bumps its version."""
        trigger = self._triggers.get(trigger_id)
        if trigger is None:
            return False
        self._triggers[trigger_id] = {
            **trigger,
            "description": CONCURRENT_EDIT,
            "version": trigger["version"] + 1,
        }
        return True

    def triggers_on(self, topic: str) -> list[dict[str, Any]]:
        """Every trigger on `topic`, sorted by id."""
        return [t for k in self._trigger_keys if (t := self._triggers[k])["topicName"] == topic]

    def topics(self) -> SortedKeys:
        """Topic names: a small real catalogue plus every topic a trigger uses."""
        keys = SortedKeys()
        for name in trig.TOPIC_CATALOGUE:
            keys.add(name)
        for trigger in self._triggers.values():
            keys.add(trigger["topicName"])
        return keys


def _keyset_page(
    keys: SortedKeys,
    size: int,
    after: str | None,
    before: str | None,
    load: Callable[[str], Any],
) -> tuple[list[Any], str | None, str | None]:
    """A keyset page: entities, the next page's `after` cursor, the previous page's `before`."""
    if before is not None and after is None:
        page, _ = keys.before(decode_cursor(before, "before"), size)
    else:
        page, _ = keys.after(decode_cursor(after, "after") if after else None, size)
    nxt = encode_cursor(page[-1]) if page and keys.has_after(page[-1]) else None
    prev = encode_cursor(page[0]) if page and keys.has_before(page[0]) else None
    return [load(k) for k in page], nxt, prev


def keyset_page(
    keys: SortedKeys, size: int, after: str | None, before: str | None
) -> tuple[list[str], str | None, str | None]:
    """A keyset page over plain keys (topic names)."""
    return _keyset_page(keys, size, after, before, lambda k: k)


def _is_link(action: dict[str, Any]) -> bool:
    return action.get("type") == INVOKE_RULE and action.get("ruleId") is not None

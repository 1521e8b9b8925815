"""The fake org's state in plain Python: rules, triggers, versions, keys, constraints.

No HTTP here (moto's split): methods take and return wire JSON dicts (no `selfUri`,
no cursors: pages are by key) and raise `FakeError`s that carry their HTTP status and
Genesys code. One re-entrant lock guards
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

import copy
import functools
import json
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from jsonpath import JSONPath, JSONPathEnvironment
from jsonpath.exceptions import JSONPathError
from jsonpath.segments import JSONPathChildSegment
from jsonpath.selectors import NameSelector
from pydantic import ValidationError

from chainsim.fakebus import scheduled as sched
from chainsim.fakebus import triggers as trig
from chainsim.fakebus.errors import (
    Violation,
    bad_request,
    conflict,
    not_found,
    unprocessable,
)
from chainsim.fakebus.paging import Page, SortedKeys, keyset_page
from chainsim.fakebus.topics import StubCatalogue, Topics
from chainsim.fakebus.workflows import Workflows
from chainsim.model import INVOKE_RULE, Rule, input_error_from

MAX_FANOUT = 5
CONCURRENT_EDIT = "edited by concurrent writer"


def dump_json(payload: Any) -> bytes:
    """Compact JSON bytes, the one wire encoding of the fake."""
    return json.dumps(payload, separators=(",", ":")).encode()


# --------------------------------------------------------------------------- paths

_STRICT = JSONPathEnvironment(strict=True)


def transform_key(path: Any) -> str | None:
    """The `<key>` of a JSONPath starting `$.metadata.<key>`; None if it is not one."""
    if not isinstance(path, str):
        return None
    return _transform_key(path)


@functools.lru_cache(maxsize=1024)
def _transform_key(path: str) -> str | None:
    """`transform_key` of a string, memoised: a pure function, and compiling a JSONPath
    costs more than the rest of a PUT's checks together (a plan reuses a few paths)."""
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
    """Rules, triggers and scheduled triggers of one fake org, with its write constraints.

    Its collaborators: `topics` (the catalogue a trigger's topic must come from) and
    `workflows` (the registry a target must name when one is given).
    """

    def __init__(
        self,
        *,
        max_depth: int,
        new_id: Callable[[], str],
        topics: Topics | None = None,
        workflows: Workflows | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.max_depth = max_depth
        self.new_id = new_id
        self.topics = topics if topics is not None else Topics(StubCatalogue.builtin)
        self.workflows = workflows if workflows is not None else Workflows()
        self._topic_keys: SortedKeys | None = None
        self._scheduled: dict[str, dict[str, Any]] = {}
        self._scheduled_keys = SortedKeys()
        self._rules: dict[str, dict[str, Any]] = {}
        self._rule_json: dict[str, bytes] = {}  # each rule's wire JSON, serialised once
        self._rule_keys = SortedKeys()
        self._succ: dict[str, list[str]] = {}
        self._pred: dict[str, dict[str, int]] = {}
        self._triggers: dict[str, dict[str, Any]] = {}
        # each trigger's JSON as the HTTP layer renders it, kept until the trigger changes
        self._trigger_json: dict[str, bytes] = {}
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
            self._trigger_json.clear()
            self._trigger_keys.clear()
            self._scheduled.clear()
            self._scheduled_keys.clear()

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

    def rule_page(self, size: int, after: str | None) -> tuple[list[str], str | None]:
        """The ids of one page of rules after the id `after`, and the next page's `after`."""
        keys, more = self._rule_keys.after(after, size)
        return keys, keys[-1] if more and keys else None

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
        """Store triggers given in the SDK's wire JSON (validated, ids kept).

        Seeding trusts topics and targets (it is the org as it already is); only API
        writes are checked against the catalogue and the workflow registry.
        """
        with self.lock:
            for raw in triggers:
                fields = trig.parse_trigger(raw, require_version=False)
                trigger_id = raw.get("id") if isinstance(raw.get("id"), str) else None
                trigger_id = trigger_id or self.new_id()
                fields.setdefault("version", 1)
                self._store_trigger(trigger_id, fields)

    def _store_trigger(self, trigger_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        wire = {"id": trigger_id, **fields}
        self._triggers[trigger_id] = wire
        self._trigger_json.pop(trigger_id, None)
        self._trigger_keys.add(trigger_id)
        return wire

    def triggers(self) -> list[dict[str, Any]]:
        """Every trigger (wire JSON copies without `selfUri`), sorted by id."""
        with self.lock:
            return [copy.deepcopy(self._triggers[k]) for k in self._trigger_keys]

    def trigger_page(
        self,
        size: int,
        after: str | None,
        before: str | None,
        keep: Callable[[dict[str, Any]], bool] | None = None,
    ) -> Page:
        """One page of trigger ids: `(ids, next page's after, previous page's before)`.

        `keep` filters (topicName, enabled, hasDelayBy); paging walks the filtered keys.
        """
        keys = self._trigger_keys
        if keep is not None:
            keys = SortedKeys()
            for k in self._trigger_keys:
                if keep(self._triggers[k]):
                    keys.add(k)
        return keyset_page(keys, size, after, before)

    def triggers_json(
        self, trigger_ids: Iterable[str], render: Callable[[dict[str, Any]], bytes]
    ) -> list[bytes]:
        """`trigger_json` of each id (one call for a page)."""
        kept = self._trigger_json
        return [kept.get(k) or self.trigger_json(k, render) for k in trigger_ids]

    def trigger_json(self, trigger_id: str, render: Callable[[dict[str, Any]], bytes]) -> bytes:
        """`render(trigger)`, kept until the trigger is written or deleted; 404 if absent.

        `render` must be the same pure function on every call (the HTTP layer's view).
        """
        found = self._trigger_json.get(trigger_id)
        if found is None:
            found = self._trigger_json[trigger_id] = render(self.get_trigger(trigger_id))
        return found

    def get_trigger(self, trigger_id: str) -> dict[str, Any]:
        """The stored trigger; 404 if absent."""
        trigger = self._triggers.get(trigger_id)
        if trigger is None:
            raise not_found(f"Trigger {trigger_id} not found")
        return trigger

    def create_trigger(self, body: Any) -> dict[str, Any]:
        """Create a trigger at version 1 with a new id (topic and target checked)."""
        fields = trig.parse_trigger(body, require_version=False)
        self.topics.check(fields["topicName"])
        self.topics.check_trigger(body)  # what `validate` calls an error (DESIGN §5)
        self.workflows.check_target(fields["target"])
        fields["version"] = 1
        return self._store_trigger(self.new_id(), fields)

    def put_trigger(self, trigger_id: str, body: Any) -> dict[str, Any]:
        """Replace a trigger; version must match, topicName cannot change."""
        fields = trig.parse_trigger(body, require_version=True)
        stored = self.get_trigger(trigger_id)
        if fields["topicName"] != stored["topicName"]:
            self.topics.check(fields["topicName"])
            raise bad_request(
                "topicName cannot be changed",
                [Violation("invalid.value", "immutable", "topicName")],
            )
        self.workflows.check_target(fields["target"])
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
        self._trigger_json.pop(trigger_id, None)
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
        self._trigger_json.pop(trigger_id, None)
        return True

    def triggers_on(self, topic: str) -> list[dict[str, Any]]:
        """Every trigger on `topic`, sorted by id."""
        return [t for k in self._trigger_keys if (t := self._triggers[k])["topicName"] == topic]

    def topic_names(self) -> SortedKeys:
        """The catalogue's topic names (only those: a topic in use is not thereby available)."""
        if self._topic_keys is None:
            self._topic_keys = SortedKeys()
            for name in self.topics.names():
                self._topic_keys.add(name)
        return self._topic_keys

    def event_problems(self, topic: str, event: Any) -> list[str]:
        """Schema errors of a test event on `topic` (400 for a topic not in the catalogue)."""
        self.topics.check(topic, "topicName")
        return self.topics.validate(topic, event)

    def target_problems(self, trigger: dict[str, Any]) -> list[str]:
        """Why the trigger's target fails a test (unknown or unpublished workflow)."""
        return self.workflows.target_problems(trigger.get("target", {}))

    def flow(self, workflow_id: str) -> dict[str, Any]:
        """The SDK `Flow` of a workflow; 404 when the org has none by that id."""
        targeted = any(
            t.get("target", {}).get("id") == workflow_id
            for t in (*self._triggers.values(), *self._scheduled.values())
        )
        found = self.workflows.flow(workflow_id, targeted)
        if found is None:
            raise not_found(f"Flow {workflow_id} not found")
        return found

    # ----------------------------------------------------------------- scheduled triggers

    def seed_scheduled(self, items: Iterable[dict[str, Any]]) -> None:
        """Store scheduled triggers given in the SDK's wire JSON (validated, ids kept)."""
        with self.lock:
            for raw in items:
                fields = sched.parse_scheduled(raw, require_version=False)
                item_id = raw.get("id") if isinstance(raw.get("id"), str) else None
                fields.setdefault("version", 1)
                self._store_scheduled(item_id or self.new_id(), fields)

    def _store_scheduled(self, item_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        wire = {"id": item_id, **fields}
        self._scheduled[item_id] = wire
        self._scheduled_keys.add(item_id)
        return wire

    def scheduled(self) -> list[dict[str, Any]]:
        """Every scheduled trigger (wire JSON copies without `selfUri`), sorted by id."""
        with self.lock:
            return [copy.deepcopy(self._scheduled[k]) for k in self._scheduled_keys]

    def list_scheduled(
        self, size: int, after: str | None, before: str | None, enabled: bool | None
    ) -> Page:
        """One page of scheduled triggers by id, optionally only those `enabled` as given."""
        keys = self._scheduled_keys
        if enabled is not None:
            keys = SortedKeys()
            for k in self._scheduled_keys:
                if self._scheduled[k]["enabled"] == enabled:
                    keys.add(k)
        return keyset_page(keys, size, after, before, lambda k: self._scheduled[k])

    def get_scheduled(self, item_id: str) -> dict[str, Any]:
        """The stored scheduled trigger; 404 if absent."""
        found = self._scheduled.get(item_id)
        if found is None:
            raise not_found(f"Scheduled trigger {item_id} not found")
        return found

    def create_scheduled(self, body: Any) -> dict[str, Any]:
        """Create a scheduled trigger at version 1 (schedule and target checked)."""
        fields = sched.parse_scheduled(body, require_version=False)
        self.workflows.check_target(fields["target"])
        fields["version"] = 1
        return self._store_scheduled(self.new_id(), fields)

    def put_scheduled(self, item_id: str, body: Any) -> dict[str, Any]:
        """Replace a scheduled trigger; `version` must be the stored version (else 409)."""
        fields = sched.parse_scheduled(body, require_version=True)
        stored = self.get_scheduled(item_id)
        self.workflows.check_target(fields["target"])
        if fields["version"] != stored["version"]:
            raise conflict(
                f"Scheduled trigger version {fields['version']} does not match the current"
                f" version {stored['version']}"
            )
        fields["version"] = stored["version"] + 1
        return self._store_scheduled(item_id, fields)

    def delete_scheduled(self, item_id: str) -> None:
        """Delete a scheduled trigger; 404 if absent."""
        self.get_scheduled(item_id)
        del self._scheduled[item_id]
        self._scheduled_keys.discard(item_id)


def _is_link(action: dict[str, Any]) -> bool:
    return action.get("type") == INVOKE_RULE and action.get("ruleId") is not None

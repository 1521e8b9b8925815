"""Trigger lint: Process Automation triggers checked against their topic's event schema.

Input is the SDK's trigger wire JSON (`GET /api/v2/processautomation/triggers` entities:
`topicName`, `name`, `matchCriteria[{jsonPath, operator, value|values}]`, ...). Every
finding names the trigger (name and id), the criterion and the fix. Codes (DESIGN §3):

- `unknown_topic` (error): `topicName` is not in the catalogue; the nearest is suggested.
- `topic_id` (error): a concrete id where the topic's `{id}` must stay ("Topic names must
  include the wildcard {id} and cannot be replaced with an actual id": Genesys developer
  blog "Process Automation Triggers", 2022-11-08).
- `unknown_path` (error): the jsonPath names no field of the topic's schema (paths are
  relative to the event body, with or without `$.`); the nearest field is suggested.
- `unverified_attribute` (warning): the path lies under a map (`attributes.*`) whose keys
  the schema cannot prove.
- `value_type` (error): a value of the wrong JSON type for its field (Genesys evaluates
  jsonPath filters with Jayway JsonPath, which does not coerce "5" to 5), `Exists` without
  a boolean, `Size` without a non-negative integer.
- `enum_value`: a value outside the field's `allowed_values`. An error when it differs from
  an allowed value only by case (`voice` vs `VOICE`: the criterion can never match) or when
  no value of an `Equal`/`In`/`Contains`/`All` criterion is allowed in any case; a warning
  when some other value still lets it match, or on `NotEqual`/`NotIn` (then always true),
  and for a value merely unknown to the SDK (its lists may lag the platform: the SDK
  itself maps an unknown value to "outdated_sdk_version" instead of refusing it).
  `Contains` on an enum text field is a substring test: an error when the text occurs in
  an allowed value only in another case, a warning when it occurs in none.
- `criteria_shape`: `value` and `values` together, an unknown operator, or the wrong one
  of the two for the operator (error). Operators are the SDK `MatchCriteria.operator`
  `allowed_values`; `In`, `NotIn` and `All` take `values`, the others `value` ("'Equal'
  would expect a 'value' while 'In' would expect a list in the 'values' field": the blog
  above; the SDK: "Only one of value and values can be included"). A list in `value` for
  `In`/`NotIn`/`All` is a warning: Genesys's published blueprints deploy it
  (GenesysCloudBlueprints/automatic-offer-callback-for-disconnected-call).
- `unsatisfiable` (error): criteria on one path that can never all hold (two `Equal` with
  different values, `Equal` against `NotEqual`/`In`/`NotIn`, `In` sets that do not meet,
  empty numeric ranges, `Exists false` with another operator or with `Exists true`).
- `duplicate_criteria` (warning): the same criterion twice (harmless but redundant).
- `field_limit` (error): `name` 1..256 chars, `description` <= 512, `eventTTLSeconds` >= 10,
  `delayBySeconds` 60..900, not both (SDK `CreateTriggerRequest` docstrings); integer
  fields may be numeric strings ("120"), as the platform's JSON binding accepts them.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from chainsim.dialects.catalogue import TopicCatalogue, normalize_path
from chainsim.validate import ERROR, WARNING, Finding, Severity

# SDK MatchCriteria.operator allowed_values (PureCloudPlatformClientV2/models/match_criteria.py).
OPERATORS = (
    "GreaterThanOrEqual",
    "LessThanOrEqual",
    "Equal",
    "NotEqual",
    "LessThan",
    "GreaterThan",
    "NotIn",
    "In",
    "Contains",
    "All",
    "Exists",
    "Size",
)
VALUES_OPERATORS = frozenset({"In", "NotIn", "All"})
ORDER_OPERATORS = frozenset({"GreaterThanOrEqual", "LessThanOrEqual", "LessThan", "GreaterThan"})
NAME_MAX = 256
DESCRIPTION_MAX = 512
TTL_MIN = 10
DELAY_MIN, DELAY_MAX = 60, 900
_MISSING = object()
_INTEGER_TEXT = re.compile(r"-?[0-9]+")  # ASCII digits: "120" is documented, nothing wider


def _json(value: Any) -> str:
    """A canonical JSON text of a value, for comparing and printing."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class _Linter:
    """Findings for one trigger, in a fixed order."""

    def __init__(self, trigger: Mapping[str, Any], index: int, catalogue: TopicCatalogue):
        self.trigger = trigger
        self.catalogue = catalogue
        self.id = str(trigger.get("id") or "")
        name = trigger.get("name")
        label = repr(name) if isinstance(name, str) else f"[{index}]"
        self.label = f"trigger {label}" + (f" ({self.id})" if self.id else "")
        self.findings: list[Finding] = []

    def add(self, code: str, severity: Severity, message: str) -> None:
        """Record one finding."""
        ids = (self.id,) if self.id else ()
        self.findings.append(Finding(code, severity, ids, f"{self.label}: {message}"))

    # -- whole-trigger fields ------------------------------------------------------------

    def limits(self) -> None:
        """`field_limit`: name, description, eventTTLSeconds, delayBySeconds."""
        name = self.trigger.get("name")
        if not isinstance(name, str) or not 1 <= len(name) <= NAME_MAX:
            self.add("field_limit", ERROR, f"name must be 1..{NAME_MAX} characters")
        description = self.trigger.get("description")
        if description is not None and (
            not isinstance(description, str) or len(description) > DESCRIPTION_MAX
        ):
            self.add(
                "field_limit",
                ERROR,
                f"description must be a string of at most {DESCRIPTION_MAX} characters",
            )
        ttl = self._integer("eventTTLSeconds")
        delay = self._integer("delayBySeconds")
        if ttl is not None and ttl < TTL_MIN:
            self.add(
                "field_limit", ERROR, f"eventTTLSeconds is {ttl}; set it to at least {TTL_MIN}"
            )
        if delay is not None and not DELAY_MIN <= delay <= DELAY_MAX:
            self.add(
                "field_limit",
                ERROR,
                f"delayBySeconds is {delay}; it must be {DELAY_MIN}..{DELAY_MAX}",
            )
        if ttl is not None and delay is not None:
            self.add("field_limit", ERROR, "set only one of eventTTLSeconds and delayBySeconds")

    def _integer(self, key: str) -> int | None:
        """An integer field (numeric strings accepted); None when absent or malformed."""
        raw = self.trigger.get(key)
        if raw is None:
            return None
        if isinstance(raw, str) and _INTEGER_TEXT.fullmatch(raw.strip()):
            return int(raw)
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        self.add("field_limit", ERROR, f"{key} must be an integer, not {_json(raw)}")
        return None

    def topic(self) -> str | None:
        """`unknown_topic` / `topic_id`; the catalogue topic when known."""
        topic = self.trigger.get("topicName")
        if not isinstance(topic, str):
            self.add(
                "unknown_topic",
                ERROR,
                "topicName is missing; name a topic such as "
                "'v2.detail.events.conversation.{id}.customer.end'",
            )
            return None
        if topic in self.catalogue:
            return topic
        templated = _with_placeholders(topic, self.catalogue.names())
        if templated is not None:
            self.add(
                "topic_id",
                ERROR,
                f"topicName {topic!r} has a concrete id; use {templated!r} "
                "(trigger topics keep the {id} wildcard and fire for every entity)",
            )
            return None
        near = self.catalogue.nearest(topic)
        hint = f"; did you mean {near!r}?" if near else ""
        self.add("unknown_topic", ERROR, f"topicName {topic!r} is not a trigger topic{hint}")
        return None

    # -- criteria --------------------------------------------------------------------------

    def criteria(self, topic: str | None) -> None:
        """Per-criterion checks, then checks across criteria on one path."""
        raw = self.trigger.get("matchCriteria") or []
        if not isinstance(raw, list):
            self.add("criteria_shape", ERROR, "matchCriteria must be a list")
            return
        seen: dict[str, int] = {}
        by_path: dict[str, list[tuple[int, str, Any]]] = {}
        for i, criterion in enumerate(raw):
            checked = self.criterion(i, criterion, topic)
            if checked is None:
                continue
            path, operator, operand = checked
            key = _json([path, operator, operand])
            if key in seen:
                self.add(
                    "duplicate_criteria",
                    WARNING,
                    f"matchCriteria[{i}] repeats matchCriteria[{seen[key]}] "
                    f"({path} {operator} {_json(operand)}); remove one",
                )
                continue
            seen[key] = i
            by_path.setdefault(path, []).append((i, operator, operand))
        for path, group in by_path.items():
            self.unsatisfiable(path, group)

    def criterion(self, i: int, criterion: Any, topic: str | None) -> tuple[str, str, Any] | None:
        """Check one criterion; its (path, operator, operand) when its shape is sound."""
        where = f"matchCriteria[{i}]"
        if not isinstance(criterion, Mapping):
            self.add(
                "criteria_shape", ERROR, f"{where} must be an object with jsonPath and operator"
            )
            return None
        json_path, operator = criterion.get("jsonPath"), criterion.get("operator")
        if not isinstance(json_path, str) or not json_path.strip():
            self.add("criteria_shape", ERROR, f"{where}: jsonPath is missing")
            return None
        path = normalize_path(json_path)
        where = f"{where} ({json_path} {operator})"
        if operator not in OPERATORS:
            self.add(
                "criteria_shape",
                ERROR,
                f"{where}: unknown operator; use one of {', '.join(OPERATORS)}",
            )
            return None
        operand = self.shape(where, operator, criterion)
        if operand is _MISSING:
            return None
        if topic is not None:
            self.against_schema(where, topic, path, operator, operand)
        return path, operator, operand

    def shape(self, where: str, operator: str, criterion: Mapping[str, Any]) -> Any:
        """`criteria_shape`: the operand the operator takes, or _MISSING when unusable."""
        has_value, has_values = "value" in criterion, "values" in criterion
        value, values = criterion.get("value"), criterion.get("values")
        if has_value and has_values:
            self.add(
                "criteria_shape",
                ERROR,
                f"{where}: has both value and values; keep only "
                + ("values" if operator in VALUES_OPERATORS else "value"),
            )
            return _MISSING
        if operator in VALUES_OPERATORS:
            given = values if has_values else value
            if isinstance(given, list) and not given:
                # an empty list: `In` never matches, `NotIn`/`All` always do; the fake
                # refuses it (no Genesys source documents either way)
                self.add("criteria_shape", ERROR, f"{where}: {operator} needs a non-empty list")
                return _MISSING
            if has_values and isinstance(values, list):
                return values
            if has_value and isinstance(value, list):
                self.add(
                    "criteria_shape",
                    WARNING,
                    f"{where}: a list in value; Genesys accepts it "
                    f'but documents values for {operator}: write "values": {_json(value)}',
                )
                return value
            self.add("criteria_shape", ERROR, f"{where}: {operator} takes a list in values")
            return _MISSING
        if has_values:
            self.add(
                "criteria_shape", ERROR, f"{where}: {operator} takes a single value, not values"
            )
            return _MISSING
        if not has_value:
            self.add("criteria_shape", ERROR, f"{where}: {operator} needs a value")
            return _MISSING
        return value

    def against_schema(
        self, where: str, topic: str, path: str, operator: str, operand: Any
    ) -> None:
        """`unknown_path`, `unverified_attribute`, `value_type`, `enum_value`."""
        kind, schema = self.catalogue.classify(topic, path)
        if kind == "unknown":
            near = self.catalogue.nearest_path(topic, path)
            hint = f"; did you mean {near!r}?" if near else ""
            self.add("unknown_path", ERROR, f"{where}: {topic} events have no field {path!r}{hint}")
            return
        if kind == "unverifiable":
            self.add(
                "unverified_attribute",
                WARNING,
                f"{where}: {path!r} is a key of a map the "
                "topic's schema cannot prove; test the trigger with a real event",
            )
        if schema is None:
            return
        if operator == "Exists":
            if not isinstance(operand, bool):
                self.add(
                    "value_type",
                    ERROR,
                    f"{where}: Exists takes true or false, not {_json(operand)}",
                )
            return
        if operator == "Size":
            if not _is_type(operand, "integer") or operand < 0:
                self.add(
                    "value_type",
                    ERROR,
                    f"{where}: Size takes a non-negative integer, not {_json(operand)}",
                )
            elif schema.get("type") not in ("array", "string", None):
                self.add(
                    "value_type",
                    ERROR,
                    f"{where}: Size applies to a list or text, {path!r} is {schema.get('type')}",
                )
            return
        element = schema
        if operator in ("Contains", "All") and schema.get("type") == "array":
            element = schema.get("items", {})
        operands = operand if operator in VALUES_OPERATORS else [operand]
        wanted = element.get("type")
        wrong = [v for v in operands if wanted and not _is_type(v, wanted)]
        if operator in ORDER_OPERATORS and wanted in ("string", "boolean", "array", "object"):
            self.add(
                "value_type", ERROR, f"{where}: {operator} compares numbers; {path!r} is a {wanted}"
            )
            return
        if wrong:
            self.add(
                "value_type",
                ERROR,
                f"{where}: {_json(wrong[0])} is not a {wanted}, the type of "
                f"{path!r}; the criterion can never match. Write a {wanted}",
            )
            return
        allowed = element.get("enum")
        if allowed and operator == "Contains" and element is schema:
            self.substring(where, path, operands[0], allowed)
        elif allowed:
            self.enum(where, path, operator, operands, allowed)

    def substring(self, where: str, path: str, part: Any, allowed: list[Any]) -> None:
        """`enum_value` for Contains on a text field: the text must occur in an allowed value."""
        if not isinstance(part, str) or any(part in str(a) for a in allowed):
            return
        cased = [a for a in allowed if part.upper() in str(a).upper()]
        if cased:
            self.add(
                "enum_value",
                ERROR,
                f"{where}: no value of {path!r} contains {part!r}, so this can never match; "
                f"values are case-sensitive: write {part.upper()!r} (as in {cased[0]!r})",
            )
        else:
            self.add(
                "enum_value",
                WARNING,
                f"{where}: no allowed value of {path!r} contains {part!r}; "
                f"allowed: {', '.join(map(str, allowed))}",
            )

    def enum(
        self, where: str, path: str, operator: str, operands: list[Any], allowed: list[Any]
    ) -> None:
        """`enum_value`: error when the criterion can never match, else warning."""
        by_upper = {str(a).upper(): a for a in allowed}
        outside = [v for v in operands if v not in allowed]
        if not outside:
            return
        fixes = [(v, by_upper.get(str(v).upper())) for v in outside]
        cased = [f"{_json(v)} -> {_json(fix)}" for v, fix in fixes if fix is not None]
        positive = operator in ("Equal", "In", "Contains", "All")
        never = (
            positive
            and (len(outside) == len(operands) or operator == "All")
            and all(fix is not None for _v, fix in fixes)
        )
        allowed_text = ", ".join(map(str, allowed))
        if never:
            self.add(
                "enum_value",
                ERROR,
                f"{where}: {path!r} is always one of {allowed_text}, so this "
                f"can never match; values are case-sensitive: {'; '.join(cased)}",
            )
            return
        detail = f"case: {'; '.join(cased)}" if cased else f"allowed: {allowed_text}"
        effect = "never matches" if positive else "always holds"
        self.add(
            "enum_value",
            WARNING,
            f"{where}: {_json(outside[0])} is not an allowed value of "
            f"{path!r} (that part {effect}); {detail}",
        )

    def unsatisfiable(self, path: str, group: list[tuple[int, str, Any]]) -> None:
        """`unsatisfiable`: criteria on one path that can never all hold."""
        reason = _conflict(group)
        if reason is not None:
            where = ", ".join(f"matchCriteria[{i}]" for i, _o, _v in group)
            self.add(
                "unsatisfiable",
                ERROR,
                f"{where} on {path!r} can never all hold ({reason}); "
                "the trigger never fires: remove or correct one",
            )


def _is_type(value: Any, wanted: str) -> bool:
    """True when a JSON value has JSON Schema type `wanted`."""
    if wanted == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if wanted == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if wanted == "string":
        return isinstance(value, str)
    if wanted == "boolean":
        return isinstance(value, bool)
    if wanted == "array":
        return isinstance(value, list)
    if wanted == "object":
        return isinstance(value, Mapping)
    return True


def _conflict(group: list[tuple[int, str, Any]]) -> str | None:
    """Why criteria on one path contradict each other, or None."""
    exists = {v for _i, op, v in group if op == "Exists" and isinstance(v, bool)}
    if False in exists and (True in exists or any(op != "Exists" for _i, op, _v in group)):
        return "Exists false with another condition on the same field"
    equal = {_json(v) for _i, op, v in group if op == "Equal"}
    if len(equal) > 1:
        return f"Equal {' and '.join(sorted(equal))}"
    allowed: set[str] | None = set(equal) if equal else None
    for _i, op, v in group:
        if op == "In" and isinstance(v, list):
            members = {_json(x) for x in v}
            allowed = members if allowed is None else allowed & members
    if allowed is not None:
        for _i, op, v in group:
            if op == "NotEqual":
                allowed -= {_json(v)}
            elif op == "NotIn" and isinstance(v, list):
                allowed -= {_json(x) for x in v}
        if not allowed:
            return "no value passes every Equal/In/NotEqual/NotIn"
    low, high = -math.inf, math.inf
    low_strict = high_strict = False
    for _i, op, v in group:
        if not _is_type(v, "number"):
            continue
        if op in ("GreaterThan", "GreaterThanOrEqual") and (
            v > low or (v == low and op == "GreaterThan")
        ):
            low, low_strict = v, op == "GreaterThan"
        if op in ("LessThan", "LessThanOrEqual") and (v < high or (v == high and op == "LessThan")):
            high, high_strict = v, op == "LessThan"
    if low > high or (low == high and (low_strict or high_strict)):
        return "empty numeric range"
    if allowed is not None:
        numbers = [json.loads(x) for x in allowed]
        if all(_is_type(n, "number") for n in numbers) and not any(
            (n > low or (n == low and not low_strict))
            and (n < high or (n == high and not high_strict))
            for n in numbers
        ):
            return "no listed value lies in the numeric range"
    return None


def _with_placeholders(topic: str, names: Sequence[str]) -> str | None:
    """The catalogue topic `topic` instantiates (a concrete id where `{id}` stands), or None."""
    parts = topic.split(".")
    for name in names:
        template = name.split(".")
        if (
            len(template) == len(parts)
            and "{id}" in template
            and all(t == p or (t == "{id}" and p) for t, p in zip(template, parts, strict=True))
        ):
            return name
    return None


def lint_triggers(
    triggers: Sequence[Mapping[str, Any]], catalogue: TopicCatalogue
) -> list[Finding]:
    """Every lint finding for the triggers, trigger by trigger in input order."""
    findings: list[Finding] = []
    for index, trigger in enumerate(triggers):
        linter = _Linter(trigger, index, catalogue)
        linter.limits()
        linter.criteria(linter.topic())
        findings.extend(linter.findings)
    return findings


def trigger_errors(trigger: Mapping[str, Any], catalogue: TopicCatalogue) -> list[Finding]:
    """The error-severity findings for one trigger (what the fake refuses)."""
    return [f for f in lint_triggers([trigger], catalogue) if f.severity == ERROR]

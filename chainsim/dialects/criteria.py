"""chainsim's own trigger match-criteria matcher (README "Match-criteria semantics").

What a Process Automation trigger's `matchCriteria` mean on an event body, as chainsim
reads them for `chainsim probe` (the org's test mode is the judge; this is chainsim's
side of the comparison). Operators are those of the SDK's `MatchCriteria.operator`
enum (PureCloudPlatformClientV2/models/match_criteria.py); the semantics of each are
not documented by Genesys beyond their names, so these are chainsim's reading, kept in
one place and checked against the org by `probe`.

- `jsonPath` is read relative to the event body, with or without a leading `$.`
  (wildcards and filters via python-jsonpath).
- `Exists`: the path selects something (`value: false` inverts; no value means true).
- Any other operator: a path that selects nothing never matches.
- `Equal`, `In`, `Contains`, `All`, `Size` and the orderings match when any selected
  value satisfies them; `NotEqual` and `NotIn` match when none does.
- Equality is JSON equality: `true` never equals `1`; `1` equals `1.0`.
- Orderings compare numbers with numbers and strings with strings.
- `Contains`: a substring of a string or an element of an array.
- `All`: an array containing every one of `values`.
- `Size`: the length of an array, string or object equals `value`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from jsonpath import JSONPathEnvironment, JSONPathError

EXISTS = "Exists"


def absolute_path(path: str) -> str:
    """A trigger jsonPath as an absolute JSONPath: `queueId` -> `$.queueId`."""
    path = path.strip()
    if path.startswith("$"):
        return path
    return "$" + path if path.startswith(("[", ".")) else "$." + path


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality: booleans equal only booleans, numbers compare by value, containers deeply."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _number(a) and _number(b):
        return bool(a == b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and bool(a == b)


def _ordered(compare: Callable[[Any, Any], bool]) -> Callable[[Any, Any, list[Any]], bool]:
    def test(selected: Any, value: Any, _values: list[Any]) -> bool:
        if _number(selected) and _number(value):
            return compare(selected, value)
        if isinstance(selected, str) and isinstance(value, str):
            return compare(selected, value)
        return False

    return test


def _contains(selected: Any, value: Any, _values: list[Any]) -> bool:
    if isinstance(selected, str):
        return isinstance(value, str) and value in selected
    if isinstance(selected, list):
        return any(json_equal(item, value) for item in selected)
    return False


def _all(selected: Any, _value: Any, values: list[Any]) -> bool:
    return isinstance(selected, list) and all(
        any(json_equal(item, wanted) for item in selected) for wanted in values
    )


def _size(selected: Any, value: Any, _values: list[Any]) -> bool:
    if not isinstance(selected, list | str | Mapping) or not _number(value):
        return False
    return bool(len(selected) == value)


# operator -> test of one selected value; matched when ANY selected value passes.
_ANY: Mapping[str, Callable[[Any, Any, list[Any]], bool]] = {
    "Equal": lambda s, v, _: json_equal(s, v),
    "In": lambda s, _, vs: any(json_equal(s, v) for v in vs),
    "Contains": _contains,
    "All": _all,
    "Size": _size,
    "GreaterThan": _ordered(lambda a, b: a > b),
    "GreaterThanOrEqual": _ordered(lambda a, b: a >= b),
    "LessThan": _ordered(lambda a, b: a < b),
    "LessThanOrEqual": _ordered(lambda a, b: a <= b),
}
# operator -> the ANY-operator it negates; matched when NO selected value passes that one.
_NONE = {"NotEqual": "Equal", "NotIn": "In"}
OPERATORS = (EXISTS, *_ANY, *_NONE)


class CriteriaMatcher:
    """Evaluates match criteria on event bodies; one JSONPath environment, compiled paths cached."""

    def __init__(self) -> None:
        self._env = JSONPathEnvironment()

    def selected(self, json_path: str, body: Any) -> list[Any]:
        """The values `json_path` selects in `body` (empty when the path is not valid)."""
        try:
            return [match.value for match in self._env.finditer(absolute_path(json_path), body)]
        except JSONPathError:
            return []

    def matches(self, criterion: Mapping[str, Any], body: Any) -> bool:
        """True when `criterion` holds for the event `body`."""
        operator = criterion.get("operator")
        path = criterion.get("jsonPath")
        if not isinstance(path, str):
            return False
        found = self.selected(path, body)
        value = criterion.get("value")
        values = list(criterion.get("values") or [])
        if operator == EXISTS:
            return bool(found) if value is None or value else not found
        if not found:
            return False
        if isinstance(operator, str) and operator in _NONE:
            test = _ANY[_NONE[operator]]
            return not any(test(s, value, values) for s in found)
        any_test = _ANY.get(operator) if isinstance(operator, str) else None
        if any_test is None:
            return False  # an operator chainsim does not know never matches
        return any(any_test(s, value, values) for s in found)

    def failing(self, criteria: Any, body: Any) -> list[str]:
        """A description of each criterion in `criteria` that does not hold for `body`."""
        return [describe(c) for c in criteria or [] if not self.matches(c, body)]


def describe(criterion: Mapping[str, Any]) -> str:
    """`jsonPath operator value` as one short line (e.g. `callerId Exists true`)."""
    op = criterion.get("operator")
    shown = criterion.get("values") if op in {"In", "NotIn", "All"} else criterion.get("value")
    return f"{criterion.get('jsonPath')} {op} {json.dumps(shown)}"

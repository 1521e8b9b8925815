"""Process Automation triggers on the fake: wire validation and match-criteria semantics.

The wire JSON is the SDK's (`CreateTriggerRequest`, `UpdateTriggerRequest`, `Trigger`,
`MatchCriteria`, `TriggerTarget`, `WorkflowTargetSettings`). Validation is the real
API's documented constraints; unknown fields are ignored, as Genesys does.

Match-criteria semantics (DESIGN leaves them to us). A criterion's `jsonPath` is read
relative to the event body: `mediaType` and `$.mediaType` are the same path. The path
selects zero or more values (python-jsonpath, so wildcards and filters work).

- `Exists`: the path selects something (`value: false` inverts; `value` absent = true).
- every other operator: a path that selects nothing never matches.
- `Equal` / `In` / `Contains` / `All` / `Size` / ordering: matches when *any* selected
  value satisfies it; `NotEqual` / `NotIn`: when *none* of the selected values is
  equal / in `values`.
- equality is JSON equality: `true` never equals `1`, `1` equals `1.0`.
- `GreaterThan`, `GreaterThanOrEqual`, `LessThan`, `LessThanOrEqual`: numbers compare
  with numbers, strings with strings (lexicographically); other pairs do not match.
- `Contains`: a string selected value contains the string `value`; an array contains
  an element equal to `value`.
- `All`: the selected value is an array holding an element equal to each of `values`.
- `Size`: the selected array, string or object has exactly `value` elements.
"""

from __future__ import annotations

import functools
import json
from typing import Annotated, Any, Literal, TypeVar, get_args

from jsonpath import JSONPathEnvironment
from jsonpath.exceptions import JSONPathError
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
)

from chainsim.fakebus.errors import FakeError, Violation, bad_request
from chainsim.model import format_place

B = TypeVar("B", bound=BaseModel)  # a request-body model with a `version` field

Operator = Literal[
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
]
OPERATORS: tuple[str, ...] = get_args(Operator)
_NEEDS_VALUES = {"In", "NotIn", "All"}

_LIST_IN_VALUE = {"In", "NotIn"}  # these also take their list in `value` (see below)


def _numeric_string(raw: Any) -> Any:
    """A decimal integer string as its int, as the platform's JSON binding reads it.

    Genesys's own blog example ("Process Automation Triggers", developer.genesys.cloud
    blog, 2022-11-08) sends `"eventTTLSeconds": "120"` and the API accepts it.
    """
    if isinstance(raw, str) and raw.strip().lstrip("-").isdigit():
        return int(raw.strip())
    return raw


LaxInt = Annotated[StrictInt, BeforeValidator(_numeric_string)]


class _Wire(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")


class WorkflowTargetSettings(_Wire):
    """`WorkflowTargetSettings`: how the event reaches the workflow."""

    data_format: Literal["Json", "TopLevelPrimitives"] | None = Field(None, alias="dataFormat")


class TriggerTarget(_Wire):
    """`TriggerTarget`: the workflow a trigger starts."""

    type: Literal["Workflow"]
    id: StrictStr = Field(min_length=1)
    workflow_target_settings: WorkflowTargetSettings | None = Field(
        None, alias="workflowTargetSettings"
    )


class MatchCriteria(_Wire):
    """`MatchCriteria`: one condition on the event body."""

    json_path: StrictStr = Field(alias="jsonPath", min_length=1)
    operator: Operator
    value: Any = None
    values: list[Any] | None = None


class TriggerBody(_Wire):
    """The fields `CreateTriggerRequest` and `UpdateTriggerRequest` share, as validated."""

    name: StrictStr = Field(min_length=1, max_length=256)
    topic_name: StrictStr = Field(alias="topicName", min_length=1)
    target: TriggerTarget
    enabled: StrictBool
    match_criteria: list[MatchCriteria] = Field(default_factory=list, alias="matchCriteria")
    event_ttl_seconds: LaxInt | None = Field(None, alias="eventTTLSeconds", ge=10)
    delay_by_seconds: LaxInt | None = Field(None, alias="delayBySeconds", ge=60, le=900)
    description: StrictStr | None = Field(None, max_length=512)
    version: LaxInt | None = None


_ENV = JSONPathEnvironment()


def normalise_path(path: str) -> str:
    """A trigger jsonPath as an absolute JSONPath (`mediaType` -> `$.mediaType`)."""
    if path.startswith("$"):
        return path
    return "$" + path if path.startswith(("[", ".")) else "$." + path


def validated_body(model: type[B], body: Any, *, require_version: bool) -> B:
    """`body` as `model` (it has a `version` field), or a Genesys 400 naming the first place."""
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object")
    try:
        parsed = model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        place = format_place([str(p) if not isinstance(p, int) else p for p in first["loc"]])
        raise bad_request(
            f"{place}: {first['msg']}", [Violation("invalid.value", first["msg"], place)]
        ) from None
    if require_version and getattr(parsed, "version", None) is None:
        raise bad_request(
            "version is required", [Violation("missing.value", "required", "version")]
        )
    return parsed


def parse_trigger(body: Any, *, require_version: bool) -> dict[str, Any]:
    """Validate a create/update body and return the stored wire fields (no id/version)."""
    parsed = validated_body(TriggerBody, body, require_version=require_version)
    if parsed.event_ttl_seconds is not None and parsed.delay_by_seconds is not None:
        raise bad_request(
            "eventTTLSeconds and delayBySeconds cannot both be set",
            [Violation("invalid.value", "only one of the two", "delayBySeconds")],
        )
    for index, criterion in enumerate(parsed.match_criteria):
        _check_criterion(criterion, f"matchCriteria[{index}]")
    out: dict[str, Any] = {
        "name": parsed.name,
        "topicName": parsed.topic_name,
        "target": parsed.target.model_dump(by_alias=True, exclude_none=True),
        "enabled": parsed.enabled,
        "matchCriteria": [
            c.model_dump(by_alias=True, exclude_none=True) for c in parsed.match_criteria
        ],
    }
    for key, value in (
        ("eventTTLSeconds", parsed.event_ttl_seconds),
        ("delayBySeconds", parsed.delay_by_seconds),
        ("description", parsed.description),
    ):
        if value is not None:
            out[key] = value
    if parsed.version is not None:
        out["version"] = parsed.version
    return out


@functools.lru_cache(maxsize=1024)
def _path_error(path: str) -> str | None:
    """Why a trigger jsonPath does not compile (the exception's name), or None; memoised:
    a pure function, and compiling costs more than the rest of a trigger PUT's checks."""
    try:
        _ENV.compile(normalise_path(path))
    except (JSONPathError, ValueError) as exc:
        return type(exc).__name__
    return None


def _check_criterion(criterion: MatchCriteria, place: str) -> None:
    def refuse(problem: str, where: str) -> FakeError:
        return bad_request(
            f"{place}.{where}: {problem}", [Violation("invalid.value", problem, f"{place}.{where}")]
        )

    error = _path_error(criterion.json_path)
    if error is not None:
        raise refuse(f"invalid jsonPath ({error})", "jsonPath")
    op, value = criterion.operator, criterion.value
    # SDK `MatchCriteria.value` / `.values`: "Only one of value and values can be included"
    if value is not None and criterion.values is not None:
        raise refuse("only one of value and values can be included", "values")
    if op in _LIST_IN_VALUE and isinstance(value, list):
        # Genesys's disconnected-call blueprint deploys `In` with its list in `value`
        if not value:
            raise refuse(f"operator {op} needs a non-empty list", "value")
    elif op in _NEEDS_VALUES:
        if not criterion.values:
            raise refuse(f"operator {op} needs a non-empty `values` list", "values")
    elif op == "Exists":
        if value is not None and not isinstance(value, bool):
            raise refuse("operator Exists takes a boolean value", "value")
    elif op == "Size":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise refuse("operator Size needs a non-negative integer value", "value")
    elif value is None:
        raise refuse(f"operator {op} needs a `value`", "value")


# --------------------------------------------------------------------------- matching


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality: booleans equal only booleans; numbers compare by value."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def _ordered(op: str, a: Any, b: Any) -> bool:
    if not ((_is_number(a) and _is_number(b)) or (isinstance(a, str) and isinstance(b, str))):
        return False
    if op == "GreaterThan":
        return bool(a > b)
    if op == "GreaterThanOrEqual":
        return bool(a >= b)
    if op == "LessThan":
        return bool(a < b)
    return bool(a <= b)


def _satisfies(op: str, selected: Any, value: Any, values: list[Any]) -> bool:
    if op == "Equal":
        return json_equal(selected, value)
    if op == "In":
        return any(json_equal(selected, v) for v in values)
    if op == "Contains":
        if isinstance(selected, str):
            return isinstance(value, str) and value in selected
        return isinstance(selected, list) and any(json_equal(e, value) for e in selected)
    if op == "All":
        return isinstance(selected, list) and all(
            any(json_equal(e, v) for e in selected) for v in values
        )
    if op == "Size":
        return isinstance(selected, (list, str, dict)) and len(selected) == value
    return _ordered(op, selected, value)


def criterion_values(criterion: dict[str, Any]) -> list[Any]:
    """The list an `In`/`NotIn`/`All` criterion tests: `values`, or a list in `value`."""
    values = criterion.get("values")
    if values is None and criterion["operator"] in _LIST_IN_VALUE:
        value = criterion.get("value")
        if isinstance(value, list):
            return value
    return list(values or [])


def evaluate(criterion: dict[str, Any], event: Any) -> dict[str, Any]:
    """One criterion against an event body: the SDK's `MatchCriteriaTestResult`."""
    op = criterion["operator"]
    value = criterion.get("value")
    values = criterion_values(criterion)
    path = normalise_path(criterion["jsonPath"])
    found = [(m.path, m.value) for m in _ENV.finditer(path, event)]
    selected = [v for _, v in found]
    if op == "Exists":
        match = bool(found) if value is None or value else not found
    elif not found:
        match = False
    elif op == "NotEqual":
        match = not any(json_equal(s, value) for s in selected)
    elif op == "NotIn":
        match = not any(json_equal(s, v) for s in selected for v in values)
    else:
        match = any(_satisfies(op, s, value, values) for s in selected)
    shown = json.dumps(values if op in _NEEDS_VALUES else value)
    result: dict[str, Any] = {
        "jsonPath": criterion["jsonPath"],
        "operator": op,
        "generatedJsonPathCondition": f"{path} {op} {shown}",
        "match": match,
        "jsonPathExtraction": [{"path": p, "value": v} for p, v in found],
    }
    if "value" in criterion:
        result["value"] = value
    if "values" in criterion:
        result["values"] = values
    return result


def _operation(name: str, step: int, matches: bool, details: list[Any]) -> dict[str, Any]:
    return {"name": name, "step": step, "matches": matches, "details": details}


def trigger_test_results(
    trigger: dict[str, Any], event: Any, schema_errors: list[str], target_problems: list[str]
) -> dict[str, Any]:
    """`POST /triggers/{id}/test`: the SDK's `TestModeResults` for one trigger.

    Steps as the SDK models them: schema validation of the event body against the
    trigger's topic (`TestSchemaOperation`, details: messages), target validation
    (`TestTargetOperation`), then each criterion (`TestMatchesOperation`). The trigger
    matches only when all three pass.
    """
    results = [evaluate(c, event) for c in trigger.get("matchCriteria", [])]
    paths_match = all(r["match"] for r in results)
    schema_ok = not schema_errors
    target_ok = not target_problems
    return {
        "schemaValidation": _operation("Schema validation", 1, schema_ok, list(schema_errors)),
        "targetValidation": _operation("Target validation", 2, target_ok, list(target_problems)),
        "jsonPathValidation": _operation("JsonPath validation", 3, paths_match, results),
        "triggerMatches": schema_ok and target_ok and paths_match,
    }


def matches(trigger: dict[str, Any], event: Any) -> bool:
    """True when every criterion of `trigger` matches `event`."""
    return all(evaluate(c, event)["match"] for c in trigger.get("matchCriteria", []))


_BRIEF = ("id", "name", "enabled", "selfUri")  # the SDK's TestModeTrigger


def topic_test_results(
    triggers: list[dict[str, Any]], event: Any, schema_errors: list[str]
) -> dict[str, Any]:
    """`POST /triggers/topics/{topic}/test`: the SDK's `TestModeEventResults`.

    Disabled triggers are skipped (a disabled trigger never fires, so it neither
    matches nor fails); a body that breaks the schema matches no trigger.
    """
    matched: list[dict[str, Any]] = []
    unmatched: list[dict[str, Any]] = []
    for trigger in triggers:
        if not trigger.get("enabled"):
            continue
        brief: dict[str, Any] = {k: trigger[k] for k in _BRIEF if k in trigger}
        hit = not schema_errors and matches(trigger, event)
        (matched if hit else unmatched).append(brief)
    return {
        "schemaValidation": _operation(
            "Schema validation", 1, not schema_errors, list(schema_errors)
        ),
        "triggerMatchValidation": {
            "name": "Trigger match validation",
            "step": 2,
            "matchedTriggers": matched,
            "unmatchedTriggers": unmatched,
        },
    }


def event_body(body: Any) -> Any:
    """The event a test endpoint received: the SDK posts it as a JSON string of JSON."""
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError:
            raise bad_request("The event body is not valid JSON") from None
    if not isinstance(body, dict):
        raise bad_request("The event body must be a JSON object")
    return body

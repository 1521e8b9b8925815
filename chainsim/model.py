"""Domain models at the edges: rules in wire form, chain plans, events; and their files.

Rules use the EventBridge-rules wire JSON (camelCase) and keep any field chainsim does
not know, so a rule read from a bus and written back loses nothing. Plan files are
strict: an unknown or mistyped key is an `InputError` naming the file and the place.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    StringConstraints,
    ValidationError,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from chainsim import loader
from chainsim.errors import InputError
from chainsim.loader import DEFAULT_MAX_BYTES, MAX_EXPANDED_VALUES  # noqa: F401 (re-export)

INVOKE_RULE = "invokeRule"

# A plan-file name (attribute, transform key, rule id): a string, never empty.
Name = Annotated[str, StringConstraints(strict=True, min_length=1)]


def is_http_url(value: str) -> bool:
    """True for an absolute http(s) URL with a host (`https://api.mypurecloud.com`)."""
    try:
        parts = urlsplit(value)
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        return False


def _http_url(value: str) -> str:
    """`value` if it is an http(s) URL (else a validation error)."""
    if not is_http_url(value):
        raise PydanticCustomError("http_url", "expected an http:// or https:// URL")
    return value


# A dead-letter or callback endpoint: checked when the plan is read, not at the first POST.
HttpUrlText = Annotated[
    str, StringConstraints(strict=True, min_length=1), AfterValidator(_http_url)
]


class _Wire(BaseModel):
    """Wire JSON: camelCase aliases, snake_case attributes, unknown fields kept."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="allow", frozen=False
    )

    def to_wire(self) -> dict[str, Any]:
        """The wire JSON of this object (camelCase, unset optional fields left out)."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class Filters(_Wire):
    """Which metadata keys a rule's events carry."""

    attributes: list[StrictStr] = Field(default_factory=list)


class Action(_Wire):
    """One action on a rule; `invokeRule` actions are the links of a chain."""

    type: StrictStr
    rule_id: StrictStr | None = None
    payload_transformation: dict[StrictStr, StrictStr] = Field(default_factory=dict)
    preserved_attributes: list[StrictStr] = Field(default_factory=list)

    @property
    def is_link(self) -> bool:
        """True for an `invokeRule` action (a link to `rule_id`)."""
        return self.type == INVOKE_RULE and self.rule_id is not None


class Rule(_Wire):
    """An event rule as the bus stores it (EventBridge-rules wire form)."""

    id: StrictStr = Field(min_length=1)
    name: StrictStr = ""
    event_type: StrictStr = Field(min_length=1)
    enabled: StrictBool = True
    version: StrictInt = 1
    description: StrictStr | None = None
    filters: Filters = Field(default_factory=Filters)
    actions: list[Action] = Field(default_factory=list)

    @property
    def attributes(self) -> list[str]:
        """The metadata keys this rule's events carry (`filters.attributes`)."""
        return self.filters.attributes

    def links(self) -> list[Action]:
        """This rule's `invokeRule` actions, in order."""
        return [a for a in self.actions if a.is_link]


class _PlanModel(BaseModel):
    """Plan-file models: snake_case keys, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ChainLink(_PlanModel):
    """A planned link source -> destination, in plan-file form."""

    source: StrictStr = Field(min_length=1)
    destination: StrictStr = Field(min_length=1)
    event_type: StrictStr = Field(min_length=1)
    transform: dict[Name, StrictStr] = Field(default_factory=dict)
    preserve: list[Name] = Field(default_factory=list)

    def to_action(self) -> Action:
        """The `invokeRule` action that realises this link on its source rule."""
        return Action(
            type=INVOKE_RULE,
            rule_id=self.destination,
            payload_transformation=dict(self.transform),
            preserved_attributes=list(self.preserve),
        )


class RuleSettings(_PlanModel):
    """Desired settings for one rule; all but `enabled` apply to triggers only."""

    enabled: StrictBool | None = None
    workflow: StrictStr | None = None
    data_format: Literal["Json", "TopLevelPrimitives"] | None = None
    attributes: list[Name] = Field(default_factory=list)


class DeadLetterConfig(_PlanModel):
    """Where failed updates go: an HTTP endpoint, then a local spool."""

    url: HttpUrlText | None = None
    spool: StrictStr | None = None
    secret_env: StrictStr | None = None  # env var of the secret that signs the POST (optional)


class CallbackConfig(_PlanModel):
    """The external workflow callback and the env var holding its HMAC secret."""

    url: HttpUrlText
    secret_env: StrictStr = "CHAINSIM_CALLBACK_SECRET"


def _topic_name(value: str) -> str:
    """`value` if it looks like a Genesys notification topic (`v2.` ...), else an error."""
    # Every Genesys Cloud notification topic, trigger topics included, starts `v2.`
    # (GET /api/v2/notifications/availabletopics; e.g. `v2.detail.events.conversation.{id}.acw`).
    # The catalogue check (is it a real topic?) belongs to validation, not to reading the plan.
    if not value.startswith("v2."):
        raise PydanticCustomError(
            "topic_name",
            "expected a Genesys topic name starting 'v2.' (e.g. "
            "v2.detail.events.conversation.{id}.attributes)",
        )
    return value


# A topic a workflow emits on: a Genesys notification topic name.
TopicName = Annotated[
    str, StringConstraints(strict=True, min_length=1), AfterValidator(_topic_name)
]


class WorkflowEmit(_PlanModel):
    """One effect of a workflow: an event on `topic`, with the fields of it that it `sets`."""

    topic: TopicName
    sets: list[Name] = Field(default_factory=list)


class WorkflowSpec(_PlanModel):
    """What a workflow causes (triggers dialect): the topics its runs emit events on."""

    name: StrictStr | None = None
    emits: list[WorkflowEmit] = Field(default_factory=list)


class ChainPlan(_PlanModel):
    """A chain plan file: the links to add, plus optional rule settings and sinks.

    `workflows` (triggers dialect) says what each workflow, by id, causes; with the
    triggers' targets it yields derived links (`chainsim.workflows`). `remove` lists
    links to take away (same form as `links`).
    """

    max_depth: StrictInt = Field(default=5, ge=1, le=10_000)
    links: list[ChainLink] = Field(default_factory=list)
    remove: list[ChainLink] = Field(default_factory=list)  # links to take off the bus
    workflows: dict[Name, WorkflowSpec] = Field(default_factory=dict)
    rules: dict[Name, RuleSettings] = Field(default_factory=dict)
    dead_letter: DeadLetterConfig | None = None
    callback: CallbackConfig | None = None


class Event(BaseModel):
    """An event: its type and its metadata (for triggers, the Genesys event body)."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    event_type: StrictStr = Field(alias="eventType", min_length=1)
    metadata: dict[str, Any] = Field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        """`{"eventType": ..., "metadata": {...}}`."""
        return {"eventType": self.event_type, "metadata": self.metadata}


# --------------------------------------------------------------------------- files

_PROBLEMS = {
    "extra_forbidden": "unknown field",
    "missing": "required field is missing",
    "string_type": "expected a string",
    "list_type": "expected a list",
    "dict_type": "expected a mapping",
    "bool_type": "expected true or false",
    "int_type": "expected an integer",
    "model_type": "expected a mapping",
    "model_attributes_type": "expected a mapping",
    "string_too_short": "must not be empty",
}


def format_place(loc: Sequence[int | str]) -> str:
    """`("links", 3, "preserve")` -> `links[3].preserve`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def input_error_from(
    source: str, error: ValidationError, prefix: Sequence[int | str] = ()
) -> InputError:
    """The first problem of a pydantic `ValidationError`, as one `InputError` line."""
    first = error.errors(include_url=False)[0]
    loc = [*prefix, *first["loc"]]
    problem = _PROBLEMS.get(first["type"], first["msg"])
    if len(loc) >= 2 and loc[-1] == "[key]":  # a mapping's key, not its value
        problem = f"key {loc[-2]!r}: {problem}"
        loc = loc[:-2]
    elif first["type"] == "invalid_key" and loc:  # a model's non-string key
        problem = f"key {loc[-1]!r}: expected a string"
        loc = loc[:-1]
    if first["type"] == "list_type" and _is_string_list_field(loc):
        problem = "expected a list of strings"
    return InputError(source, format_place(loc), problem)


def _is_string_list_field(loc: Sequence[int | str]) -> bool:
    return bool(loc) and loc[-1] in {"preserve", "attributes", "preservedAttributes"}


def read_document(path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Any:
    """Parse a YAML or JSON file through the guarded loader (`chainsim.loader`).

    Regular files of at most `max_bytes` only; an empty file is `None` in both formats.
    """
    return loader.read_document(path, max_bytes=max_bytes)


M = TypeVar("M", bound=BaseModel)


def load_mapping(
    path: str | Path, model: type[M], expected: str, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> M:
    """Read a YAML or JSON file holding one mapping (empty file, YAML or JSON: `{}`) into `model`.

    A file that is not a mapping says `expected`; bad content raises `InputError`.
    """
    data = read_document(path, max_bytes=max_bytes)
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise InputError(str(path), "", expected)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise input_error_from(str(path), exc) from None


def load_plan(path: str | Path) -> ChainPlan:
    """Read a chain plan (YAML or JSON); bad content raises `InputError`."""
    return load_mapping(path, ChainPlan, "expected a mapping with a `links` list at the top level")


def parse_rules(source: str, data: Any) -> list[Rule]:
    """Rules from parsed wire JSON: a list, or an object with the list under `entities`."""
    prefix: tuple[str, ...] = ()
    if isinstance(data, Mapping) and "entities" in data:
        data, prefix = data["entities"], ("entities",)
    if not isinstance(data, list):
        raise InputError(source, "", "expected a list of rules, or an object with `entities`")
    rules: list[Rule] = []
    seen: set[str] = set()
    for index, item in enumerate(data):
        try:
            rule = Rule.model_validate(item)
        except ValidationError as exc:
            raise input_error_from(source, exc, (*prefix, index)) from None
        if rule.id in seen:
            raise InputError(
                source, format_place((*prefix, index, "id")), f"duplicate rule id {rule.id!r}"
            )
        seen.add(rule.id)
        rules.append(rule)
    return rules


def load_inventory(path: str | Path) -> list[Rule]:
    """Read an inventory file: a list of rules in wire form, or `{"entities": [...]}`."""
    return parse_rules(str(path), read_document(path))


def load_event(path: str | Path) -> Event:
    """Read an event file `{"eventType": ..., "metadata": {...}}`."""
    data = read_document(path)
    try:
        return Event.model_validate(data)
    except ValidationError as exc:
        raise input_error_from(str(path), exc) from None


def rules_by_id(rules: Iterable[Rule]) -> dict[str, Rule]:
    """Index rules by id."""
    return {rule.id: rule for rule in rules}

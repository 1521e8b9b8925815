"""Generate `chainsim/dialects/topics.json`, the offline trigger-topic catalogue.

Run `python -m chainsim.dialects.catalogue_gen` after upgrading PureCloudPlatformClientV2;
`tests/test_catalogue.py` checks that regenerating from the installed SDK changes nothing.
This is the only module of chainsim's catalogue that imports the SDK.

Sources:
- Topic names: Genesys help "Overview of triggers"
  (https://help.mypurecloud.com/articles/overview-of-triggers/) lists the topics a trigger
  may use (v2.users.{id}.activity, the v2.detail.events.conversation.{id}.* topics,
  v2.quality.evaluations, v2.operations.events.{id}, ...). The flow.* and contact topics
  are the remaining conversation detail-event topics the SDK models.
- Topic -> model: the SDK ships no topic map, so each topic names the SDK model of its
  event body by the SDK's naming rule `<Topic>DetailEventTopic<Event>` (e.g.
  `CustomerEndDetailEventTopicCustomerEndEvent`, documented in platform-client-sdk-python
  `build/docs/`); v2.users.{id}.activity is `AgentActivityChangedTopicAgentActivity` (the
  .NET SDK notification samples subscribe to it under that topic); v2.quality.evaluations
  is `EvaluationQualityV2TopicEvaluationV2`; v2.operations.events.{id} is
  `OperationalEventNotificationTopicOperationalEventNotification`.
- Schemas: field names from each model's `attribute_map`, types from `swagger_types`,
  enums from the setters' `allowed_values` (the SDK maps an unknown value to
  "outdated_sdk_version", which is not a value Genesys sends, so it is left out).
Topics on the help page without an SDK model (webhook invocation, outbound pre/post
contact, task management work items, time-off requests) are not in the catalogue.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import re
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
OUTPUT = Path(__file__).with_name("topics.json")
HELP_PAGE = "https://help.mypurecloud.com/articles/overview-of-triggers/"

_DETAIL = "v2.detail.events.conversation.{id}."
# topic name -> SDK model class of its event body (see the module docstring).
TOPIC_MODELS: dict[str, str] = {
    _DETAIL + "acd.end": "AcdEndDetailEventTopicAcdEndEvent",
    _DETAIL + "acd.start": "AcdStartDetailEventTopicAcdStartEvent",
    _DETAIL + "acw": "AcwDetailEventTopicAfterCallWorkEvent",
    _DETAIL + "attributes": "AttributeDetailEventTopicAttributeUpdateEvent",
    _DETAIL + "contact": "ContactDetailEventTopicContactUpdateEvent",
    _DETAIL + "customer.end": "CustomerEndDetailEventTopicCustomerEndEvent",
    _DETAIL + "customer.start": "CustomerStartDetailEventTopicCustomerStartEvent",
    _DETAIL + "flow.end": "FlowEndDetailEventTopicFlowEndEvent",
    _DETAIL + "flow.outcome": "FlowOutcomeDetailEventTopicFlowOutcomeEvent",
    _DETAIL + "flow.start": "FlowStartDetailEventTopicFlowStartEvent",
    _DETAIL + "outbound": "OutboundDetailEventTopicOutboundInitEvent",
    _DETAIL + "user.end": "UserEndDetailEventTopicUserEndEvent",
    _DETAIL + "user.start": "UserStartDetailEventTopicUserStartEvent",
    _DETAIL + "voicemail.end": "VoicemailEndDetailEventTopicVoicemailEndEvent",
    _DETAIL + "voicemail.start": "VoicemailStartDetailEventTopicVoicemailStartEvent",
    _DETAIL + "wrapup": "WrapupDetailEventTopicWrapupEvent",
    "v2.operations.events.{id}": "OperationalEventNotificationTopicOperationalEventNotification",
    "v2.quality.evaluations": "EvaluationQualityV2TopicEvaluationV2",
    "v2.users.{id}.activity": "AgentActivityChangedTopicAgentActivity",
}

_PRIMITIVES: dict[str, dict[str, Any]] = {
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "bool": {"type": "boolean"},
    "datetime": {"type": "string", "format": "date-time"},
    "date": {"type": "string", "format": "date"},
    "object": {},
}
_ALLOWED = re.compile(r"allowed_values\s*=\s*(\[.*?\])", re.S)


def _model_class(name: str) -> type:
    """The SDK model class `name` (imported from PureCloudPlatformClientV2.models)."""
    models = importlib.import_module("PureCloudPlatformClientV2.models")
    cls: type = getattr(models, name)
    return cls


def _allowed_values(cls: type, attr: str) -> list[str] | None:
    """The setter's `allowed_values` list, read from its source, or None."""
    prop = getattr(cls, attr, None)
    if not isinstance(prop, property) or prop.fset is None:
        return None
    match = _ALLOWED.search(inspect.getsource(prop.fset))
    if match is None:
        return None
    values = [v for v in ast.literal_eval(match.group(1)) if v != "outdated_sdk_version"]
    return values


def _type_schema(swagger_type: str, stack: tuple[str, ...]) -> dict[str, Any]:
    """JSON Schema of one swagger type string (primitive, list[X], dict(str, X) or model)."""
    if swagger_type in _PRIMITIVES:
        return dict(_PRIMITIVES[swagger_type])
    if swagger_type.startswith("list[") and swagger_type.endswith("]"):
        return {"type": "array", "items": _type_schema(swagger_type[5:-1], stack)}
    if swagger_type.startswith("dict(") and swagger_type.endswith(")"):
        value_type = swagger_type[5:-1].split(",", 1)[1].strip()
        return {"type": "object", "additionalProperties": _type_schema(value_type, stack)}
    if swagger_type in stack:
        # A recursive model: left open (paths below it cannot be verified).
        return {"type": "object"}
    return model_schema(swagger_type, stack)


def model_schema(name: str, stack: tuple[str, ...] = ()) -> dict[str, Any]:
    """JSON Schema of the SDK model `name`, nested models inlined."""
    cls = _model_class(name)
    instance = cls()
    properties: dict[str, Any] = {}
    for attr, swagger_type in instance.swagger_types.items():
        schema = _type_schema(swagger_type, (*stack, name))
        allowed = _allowed_values(cls, attr)
        if allowed:
            if schema.get("type") == "array":
                schema["items"] = {**schema["items"], "enum": allowed}
            else:
                schema["enum"] = allowed
        properties[instance.attribute_map[attr]] = schema
    return {"type": "object", "title": name, "properties": properties}


def build_catalogue() -> dict[str, Any]:
    """The whole catalogue document, from the installed SDK."""
    topics: dict[str, Any] = {}
    for topic in sorted(TOPIC_MODELS):
        model = TOPIC_MODELS[topic]
        schema = {"$schema": SCHEMA_DIALECT, **model_schema(model)}
        topics[topic] = {"model": model, "schema": schema}
    return {
        "sdk": {
            "package": "PureCloudPlatformClientV2",
            "version": metadata.version("PureCloudPlatformClientV2"),
        },
        "source": HELP_PAGE,
        "topics": topics,
    }


def render() -> str:
    """The catalogue as the exact text shipped in topics.json."""
    return json.dumps(build_catalogue(), indent=1, sort_keys=True) + "\n"


def main() -> int:
    """Write topics.json next to this module."""
    OUTPUT.write_text(render(), encoding="utf-8")
    sys.stdout.write(f"wrote {OUTPUT}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The trigger-topic catalogue: each topic's event-body JSON Schema, offline or live.

Offline, `load_catalogue()` reads `topics.json`, generated from the Genesys SDK's own
models by `chainsim.dialects.catalogue_gen` (this module never imports the SDK). Live,
`from_available_topics(listing)` reads the answer of
`GET /api/v2/notifications/availabletopics?expand=schema` (SDK `AvailableTopicEntityListing`,
whose `AvailableTopic.schema` is the topic's event schema, `dict(str, object)`).

Field paths are dotted and relative to the event body, as Genesys trigger jsonPaths are
(`mediaType`, `presence.presenceDefinition.systemPresence`); an array's items are
`name[*]`. Under a map-typed field (`dict(str, X)`, e.g. the attributes topic's
`attributes`) or an untyped object, names are not known in advance: such a field is listed
with a `.*` child (`attributes.*`) and any path below it is *unverifiable*, not unknown.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

from jsonschema import Draft202012Validator

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
WILDCARD = "*"
PathKind = Literal["field", "unverifiable", "unknown"]

_BRACKET_NAME = re.compile(r"\[\s*['\"]([^'\"]+)['\"]\s*\]")
_BRACKET_INDEX = re.compile(r"\[[^\]]*\]")


def normalize_path(json_path: str) -> str:
    """A trigger jsonPath as a catalogue path: `$.` dropped, `['x']` -> `.x`, `[0]` -> `[*]`."""
    path = json_path.strip()
    if path.startswith("$"):
        path = path[1:]
    path = _BRACKET_NAME.sub(r".\1", path)
    path = _BRACKET_INDEX.sub("[*]", path)
    return path.lstrip(".")


def _is_map(schema: Mapping[str, Any]) -> bool:
    """True for an object whose keys are not known in advance (a map or an untyped value)."""
    if "properties" in schema:
        return False
    kind = schema.get("type")
    return kind in (None, "object") and "items" not in schema


def _walk(schema: Mapping[str, Any], prefix: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every (path, schema) below an object schema, depth first."""
    for name, sub in sorted(schema.get("properties", {}).items()):
        path = f"{prefix}{name}"
        yield path, sub
        yield from _below(sub, path)


def _below(schema: Mapping[str, Any], path: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """The paths inside one field's schema (nested object, array items or map values)."""
    if "properties" in schema:
        yield from _walk(schema, path + ".")
    elif schema.get("type") == "array" and isinstance(schema.get("items"), Mapping):
        items = schema["items"]
        yield f"{path}[*]", items
        yield from _below(items, f"{path}[*]")
    elif _is_map(schema):
        values = schema.get("additionalProperties")
        yield f"{path}.{WILDCARD}", values if isinstance(values, Mapping) else {}


@dataclass(frozen=True)
class _Topic:
    """One topic: its schema, its field paths and its compiled validator."""

    schema: dict[str, Any]
    paths: dict[str, Mapping[str, Any]]
    validator: Draft202012Validator


def _compile(schema: dict[str, Any]) -> _Topic:
    """Index one topic's schema."""
    return _Topic(schema, dict(_walk(schema, "")), Draft202012Validator(schema))


@dataclass(frozen=True, eq=False)
class TopicCatalogue:
    """Trigger topics and their event schemas; `source` says where they came from.

    Compared and hashed by identity, so a catalogue can key a cache.
    """

    schemas: Mapping[str, dict[str, Any]]
    source: str = "offline"
    sdk_version: str | None = None
    _topics: dict[str, _Topic] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Compile every topic once (paths and validator)."""
        for name, schema in self.schemas.items():
            self._topics[name] = _compile(schema)

    def names(self) -> list[str]:
        """Every topic name, sorted."""
        return sorted(self.schemas)

    def __contains__(self, topic: object) -> bool:
        """True when `topic` is in the catalogue."""
        return topic in self._topics

    def schema(self, topic: str) -> dict[str, Any] | None:
        """The topic's event-body JSON Schema, or None for an unknown topic."""
        entry = self._topics.get(topic)
        return entry.schema if entry else None

    def nearest(self, name: str) -> str | None:
        """The catalogue topic closest to `name` (difflib), or None when nothing is close."""
        found = difflib.get_close_matches(name, self.names(), n=1, cutoff=0.6)
        return found[0] if found else None

    def field_paths(self, topic: str) -> set[str]:
        """Dotted paths into the topic's body; `x.*` marks a map whose keys are unverifiable."""
        entry = self._topics.get(topic)
        return set(entry.paths) if entry else set()

    def classify(self, topic: str, path: str) -> tuple[PathKind, Mapping[str, Any] | None]:
        """Whether `path` names a field, lies under a map (unverifiable) or is unknown."""
        entry = self._topics.get(topic)
        if entry is None:
            return "unknown", None
        path = normalize_path(path)
        if path in entry.paths and not path.endswith("." + WILDCARD):
            return "field", entry.paths[path]
        parts = path.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            wild = ".".join(parts[:cut]) + "." + WILDCARD
            if wild in entry.paths:
                return "unverifiable", entry.paths[wild] if cut == len(parts) - 1 else None
        return "unknown", None

    def field_schema(self, topic: str, path: str) -> dict[str, Any] | None:
        """The schema of the field at `path` (a map's value schema below a map), else None."""
        _kind, schema = self.classify(topic, path)
        return dict(schema) if schema is not None else None

    def nearest_path(self, topic: str, path: str) -> str | None:
        """The topic's field path closest to `path`, or None."""
        candidates = sorted(p for p in self.field_paths(topic) if not p.endswith(WILDCARD))
        found = difflib.get_close_matches(normalize_path(path), candidates, n=1, cutoff=0.6)
        return found[0] if found else None

    def validate_event(self, topic: str, body: Any) -> list[str]:
        """Why `body` is not a valid event of `topic` (empty when valid), via jsonschema."""
        entry = self._topics.get(topic)
        if entry is None:
            return [f"unknown topic {topic!r}"]
        errors = sorted(entry.validator.iter_errors(body), key=lambda e: list(e.absolute_path))
        return [f"{_where(e.absolute_path)}: {e.message}" for e in errors]


def _where(path: Any) -> str:
    """A jsonschema error path as `$.a[0].b`."""
    out = "$"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _from_document(document: Mapping[str, Any]) -> TopicCatalogue:
    """A catalogue from the shipped topics.json document."""
    schemas = {name: entry["schema"] for name, entry in document["topics"].items()}
    return TopicCatalogue(schemas, "offline", document.get("sdk", {}).get("version"))


@lru_cache(maxsize=1)
def load_catalogue() -> TopicCatalogue:
    """The offline catalogue shipped in `chainsim/dialects/topics.json` (read once per process)."""
    text = resources.files("chainsim.dialects").joinpath("topics.json").read_text("utf-8")
    return _from_document(json.loads(text))


def from_available_topics(listing: Mapping[str, Any]) -> TopicCatalogue:
    """A catalogue from `GET /api/v2/notifications/availabletopics?expand=schema`.

    Each entity (SDK `AvailableTopic`) gives `id` (the topic name) and `schema`; entities
    without a schema are skipped. Genesys's schemas carry an `id` URN (draft-03 style),
    dropped here so the schema is read as draft 2020-12.
    """
    entities = listing.get("entities")
    if not isinstance(entities, list):
        raise ValueError("availabletopics: 'entities' must be a list")
    schemas: dict[str, dict[str, Any]] = {}
    for index, entity in enumerate(entities):
        if not isinstance(entity, Mapping) or not isinstance(entity.get("id"), str):
            raise ValueError(f"availabletopics: entities[{index}]: 'id' must be a string")
        schema = entity.get("schema")
        if not isinstance(schema, Mapping):
            continue
        body = {k: v for k, v in schema.items() if k not in ("id", "$schema")}
        schemas[entity["id"]] = {"$schema": SCHEMA_DIALECT, **body}
    return TopicCatalogue(schemas, "live")

"""The fake org's topic catalogue: which topics exist, their event schemas, test bodies.

The catalogue itself is chainsim's (`chainsim.dialects.catalogue.load_catalogue()`,
generated from the SDK's topic models, DESIGN §4); the fake reads it only through the
small `Catalogue` protocol below, so tests can hand it a `StubCatalogue`. Until that
module exists in a tree, the fake falls back to `StubCatalogue.builtin()` (the few
topic names the fake always knew, each with an open object schema).

Rules the fake enforces with it (issue 11 item 4): a trigger's `topicName` must be a
catalogue topic, written with its placeholders (`{id}`) as listed; a concrete id in
place of `{id}` is refused on its own message. Genesys's own topic list
(`GET /api/v2/notifications/availabletopics`) writes the placeholders the same way.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from chainsim.fakebus.errors import FakeError, Violation, bad_request

_PLACEHOLDER = re.compile(r"\{[^{}]+\}")

# The topics the fake knew before the catalogue (a few real Process Automation topics).
BUILTIN_TOPICS = (
    "v2.detail.events.conversation.{id}.acd.end",
    "v2.detail.events.conversation.{id}.acd.start",
    "v2.detail.events.conversation.{id}.acw",
    "v2.detail.events.conversation.{id}.customer.end",
    "v2.detail.events.conversation.{id}.customer.start",
    "v2.detail.events.conversation.{id}.outbound.initialized",
    "v2.detail.events.conversation.{id}.user.end",
    "v2.detail.events.conversation.{id}.user.start",
)


class Catalogue(Protocol):
    """What the fake needs of chainsim's topic catalogue."""

    def names(self) -> list[str]:
        """Every topic name."""
        ...

    def schema(self, topic: str) -> dict[str, Any] | None:
        """The topic's event JSON Schema, or None."""
        ...

    def nearest(self, name: str) -> str | None:
        """The catalogue topic closest to `name`, or None."""
        ...

    def validate_event(self, topic: str, body: Any) -> list[str]:
        """One message per way `body` breaks the topic's schema (empty: valid)."""
        ...


class StubCatalogue:
    """A catalogue from a mapping `{topic: schema}` (tests, and the fallback)."""

    def __init__(self, schemas: Mapping[str, dict[str, Any]]) -> None:
        self._schemas = dict(schemas)

    @classmethod
    def builtin(cls) -> StubCatalogue:
        """The fallback: `BUILTIN_TOPICS`, each with an open object schema."""
        return cls({name: {"type": "object"} for name in BUILTIN_TOPICS})

    def names(self) -> list[str]:
        """Every topic name, sorted."""
        return sorted(self._schemas)

    def schema(self, topic: str) -> dict[str, Any] | None:
        """The topic's schema, or None."""
        return self._schemas.get(topic)

    def nearest(self, name: str) -> str | None:
        """The closest topic name (difflib), or None."""
        found = difflib.get_close_matches(name, list(self._schemas), n=1, cutoff=0.6)
        return found[0] if found else None

    def validate_event(self, topic: str, body: Any) -> list[str]:
        """JSON Schema errors of `body` against the topic's schema (jsonschema)."""
        schema = self._schemas.get(topic)
        if schema is None:
            return [f"unknown topic {topic}"]
        from jsonschema import Draft202012Validator  # lazy: importing the fake stays cheap

        return [_message(e) for e in Draft202012Validator(schema).iter_errors(body)]


def _message(error: Any) -> str:
    where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.path)
    return f"{where}: {error.message}"


def default_catalogue() -> Catalogue:
    """chainsim's catalogue when this tree has it, else the builtin stub."""
    try:
        from chainsim.dialects.catalogue import load_catalogue  # type: ignore[import-not-found,unused-ignore]
    except ModuleNotFoundError as exc:
        if exc.name not in ("chainsim.dialects", "chainsim.dialects.catalogue"):
            raise
        return StubCatalogue.builtin()
    catalogue: Catalogue = load_catalogue()
    return catalogue


class Topics:
    """The fake's view of the catalogue, loaded on first use (eventbridge never pays)."""

    def __init__(self, load: Callable[[], Catalogue]) -> None:
        self._load = load
        # True: a create is refused for what `validate` calls an error (`check_trigger`).
        # The CLI's fakes (`--bus fake`, `fake serve`) are strict; the pytest harness's
        # fake is not, as its generated test chains carry attributes no topic schema has.
        self.strict = False
        self._catalogue: Catalogue | None = None
        self._names: list[str] = []
        self._known: set[str] = set()
        self._patterns: list[tuple[re.Pattern[str], str]] = []

    @property
    def catalogue(self) -> Catalogue:
        """The loaded catalogue."""
        if self._catalogue is None:
            catalogue = self._load()
            self._names = sorted(catalogue.names())
            self._known = set(self._names)
            self._patterns = [
                (re.compile(_pattern(name)), name) for name in self._names if "{" in name
            ]
            self._catalogue = catalogue
        return self._catalogue

    def names(self) -> list[str]:
        """Every topic name, sorted."""
        _ = self.catalogue
        return self._names

    def is_known(self, topic: str) -> bool:
        """True for a catalogue topic written as listed."""
        _ = self.catalogue
        return topic in self._known

    def check(self, topic: str, field: str = "topicName") -> None:
        """400 unless `topic` is a catalogue topic with its placeholders kept."""
        if self.is_known(topic):
            return
        for pattern, name in self._patterns:
            if pattern.fullmatch(topic):
                raise _refuse(
                    f"Topic {topic} names a concrete id: write the catalogue topic {name}",
                    "topic.id",
                    field,
                )
        hint = self.catalogue.nearest(topic)
        suffix = f"; did you mean {hint}?" if hint else ""
        raise _refuse(f"Topic {topic} is not an available topic{suffix}", "unknown.topic", field)

    def check_trigger(self, body: Any) -> None:
        """400 (when `strict`) if a new trigger can never fire: the first error `validate` finds.

        DESIGN §5: the fake refuses exactly what `validate` calls an error for a single
        trigger (`trigger_lint.trigger_errors`, schema-checked against this catalogue).
        Genesys documents the shape rules (SDK `MatchCriteria`, `CreateTriggerRequest`);
        whether the platform refuses a criterion its topic's schema rules out is not
        documented: the fake chooses to, so a test on it fails where production would
        silently never fire. The violation's code is the finding's code.
        """
        if not self.strict:
            return
        catalogue = self.catalogue
        try:
            from chainsim.dialects.catalogue import TopicCatalogue
            from chainsim.dialects.trigger_lint import trigger_errors
        except ModuleNotFoundError:  # the fake on its own: shape and topic checks only
            return
        if not isinstance(catalogue, TopicCatalogue) or not isinstance(body, dict):
            return
        errors = trigger_errors(body, catalogue)
        if errors:
            raise _refuse(errors[0].message, errors[0].code, "matchCriteria")

    def validate(self, topic: str, body: Any) -> list[str]:
        """Schema errors of an event body on `topic` (empty when valid)."""
        return list(self.catalogue.validate_event(topic, body))

    def schema(self, topic: str) -> dict[str, Any] | None:
        """The topic's schema, or None."""
        return self.catalogue.schema(topic)


def _pattern(name: str) -> str:
    parts = _PLACEHOLDER.split(name)
    return r"[^.]+".join(re.escape(p) for p in parts)


def _refuse(message: str, code: str, field: str) -> FakeError:
    return bad_request(message, [Violation(code, message, field)])

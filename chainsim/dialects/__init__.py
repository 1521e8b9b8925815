"""Dialects as objects: one module per way a bus stores event rules.

`get_dialect(name)` returns a fresh dialect object (`eventbridge.EventBridgeDialect` or
`triggers.TriggersDialect`), each a `base.Dialect`: wire codec, merger, constraints,
client factory, catalogue. Importing this package never imports the Genesys SDK.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chainsim.dialects.base import Dialect

DIALECTS = ("eventbridge", "triggers")
# name -> (module, class): the dialect's module loads only when it is asked for.
_CLASSES = (
    ("eventbridge", "chainsim.dialects.eventbridge", "EventBridgeDialect"),
    ("triggers", "chainsim.dialects.triggers", "TriggersDialect"),
)


def get_dialect(name: str) -> Dialect:
    """A fresh dialect object called `name`; `ValueError` for an unknown name."""
    for known, module, cls in _CLASSES:
        if known == name:
            dialect: Dialect = getattr(importlib.import_module(module), cls)()
            return dialect
    raise ValueError(f"unknown dialect {name!r} (expected one of {', '.join(DIALECTS)})")


def detect_dialect(data: Any) -> str | None:
    """The dialect of parsed inventory `data` (a list or `{"entities": [...]}`), or None.

    `topicName` on every item -> triggers; `eventType` on every item -> eventbridge
    (DESIGN §2). An empty or mixed document names no dialect.
    """
    for name in ("triggers", "eventbridge"):
        if get_dialect(name).detects(data):
            return name
    return None


def dialect_of(bus: object) -> Dialect:
    """The dialect of a Bus client, from its `dialect` name (EventBridge when it names none)."""
    return get_dialect(str(getattr(bus, "dialect", "eventbridge")))


__all__ = ["DIALECTS", "detect_dialect", "dialect_of", "get_dialect"]

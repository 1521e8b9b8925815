"""One inventory format per dialect, read by every command (DESIGN §2).

An inventory is what the bus holds, in the dialect's own wire form: a list of items, a
saved listing `{"entities": [...]}`, or a directory of saved pages (each file a listing
or a list; read in file-name order). The dialect is detected from the data (`topicName`
-> triggers, `eventType` -> eventbridge) unless one is given; data that contradicts the
given dialect is bad input naming the file.

Triggers are normalised as the platform's JSON binding reads them: integer fields given
as numeric strings (`"eventTTLSeconds": "120"`, Genesys developer blog "Process
Automation Triggers", 2022-11-08) become integers; a trigger without an `id` (a create
body, as the public examples are) gets a stable one from its place in the inventory,
`trigger-<n>` (1-based), the same offline and on the seeded fake.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chainsim.dialects import DIALECTS, detect_dialect, get_dialect
from chainsim.errors import InputError

if TYPE_CHECKING:
    from chainsim.dialects.base import Dialect
    from chainsim.model import Rule

SUFFIXES = (".json", ".yaml", ".yml")
# SDK Trigger.swagger_types: these are 'int' (PureCloudPlatformClientV2/models/trigger.py).
TRIGGER_INTEGER_FIELDS = ("eventTTLSeconds", "delayBySeconds", "version")
_INTEGER_TEXT = re.compile(r"\s*-?[0-9]+\s*")
TRIGGERS = "triggers"


@dataclass(frozen=True)
class Page:
    """One file of an inventory: its path, the prefix of its list, its items."""

    source: str
    prefix: tuple[str, ...]
    items: list[Any]


@dataclass
class Inventory:
    """A read inventory: the dialect, its rules, and the items in wire form (normalised)."""

    path: Path
    dialect: Dialect
    rules: list[Rule] = field(default_factory=list)
    wire: list[dict[str, Any]] = field(default_factory=list)

    @property
    def dialect_name(self) -> str:
        """The dialect's name (`triggers` or `eventbridge`)."""
        return self.dialect.name


def inventory_files(path: Path) -> list[Path]:
    """The files of an inventory: the file itself, or a directory's JSON/YAML files by name."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
        if not files:
            raise InputError(str(path), "", "directory holds no .json/.yaml inventory pages")
        return files
    return [path]


_SHAPES = {
    "triggers": "expected a list of triggers, or `entities`",
    "eventbridge": "expected a list of rules, or an object with `entities`",
}
_SHAPE = "expected a list of rules or triggers, or an object with `entities`"


def read_pages(path: str | Path, dialect: str | None = None) -> list[Page]:
    """Every page of the inventory at `path`, parsed (a list, or a listing's `entities`)."""
    from chainsim.model import read_document

    pages: list[Page] = []
    for file in inventory_files(Path(path)):
        data = read_document(file)
        prefix: tuple[str, ...] = ()
        if isinstance(data, Mapping) and "entities" in data:
            data, prefix = data["entities"], ("entities",)
        if data is None:
            data = []
        if not isinstance(data, list):
            raise InputError(str(file), "", _SHAPES.get(dialect or "", _SHAPE))
        pages.append(Page(str(file), prefix, data))
    return pages


def _detected(pages: list[Page]) -> str | None:
    """The dialect every non-empty page agrees on (None when empty); a mix is bad input."""
    found: str | None = None
    for page in pages:
        if not page.items:
            continue
        name = detect_dialect(page.items) or _leaning(page.items)
        if name is None:
            continue  # the parser names the bad item
        if found is not None and name != found:
            problem = f"is in the {name} dialect, the pages before it in {found}"
            raise InputError(page.source, "", problem)
        found = name
    return found


def _leaning(items: list[Any]) -> str | None:
    """The dialect some item of a page that fits none shows (`topicName` first), or None."""
    for key, name in (("topicName", TRIGGERS), ("eventType", "eventbridge")):
        if any(isinstance(i, Mapping) and key in i for i in items):
            return name
    return None


def resolve_dialect(given: str | None, inventory: Path | None, *, live: bool = False) -> str:
    """The dialect a command runs in: `given`, else detected from `inventory`, else the default.

    The default is `triggers` on a live bus (Genesys Cloud's real event rules) and
    `eventbridge` otherwise. An inventory contradicting `given` is bad input.
    """
    if given is not None and given not in DIALECTS:
        raise InputError("--dialect", "", f"expected one of {', '.join(DIALECTS)}, got {given!r}")
    if inventory is not None:
        pages = read_pages(inventory, given)
        detected = _detected(pages)
        if given is not None and detected is not None and detected != given:
            raise InputError(
                str(inventory), "", f"is in the {detected} dialect, but --dialect says {given}"
            )
        if detected is not None:
            return detected
    if given is not None:
        return given
    return TRIGGERS if live else "eventbridge"


def _integer(value: Any) -> Any:
    """A numeric string as its integer (the platform's JSON binding does this); else `value`."""
    if isinstance(value, str) and _INTEGER_TEXT.fullmatch(value):
        return int(value)
    return value


def normalise_trigger(item: Mapping[str, Any], number: int) -> dict[str, Any]:
    """A trigger as the platform reads it: integer fields as integers, an `id` (`trigger-<n>`)."""
    out = dict(item)
    for key in TRIGGER_INTEGER_FIELDS:
        if key in out:
            out[key] = _integer(out[key])
    if not isinstance(out.get("id"), str) or not out.get("id"):
        out = {"id": f"trigger-{number}", **{k: v for k, v in out.items() if k != "id"}}
    return out


def trigger_items(path: str | Path) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(file, place, normalised trigger) for every trigger of the inventory at `path`."""
    from chainsim.model import format_place

    number = 0
    for page in read_pages(path, TRIGGERS):
        for index, item in enumerate(page.items):
            number += 1
            place = format_place((*page.prefix, index))
            if not isinstance(item, Mapping):
                raise InputError(page.source, place, "expected a trigger object")
            yield page.source, place, normalise_trigger(item, number)


def read_inventory(path: str | Path, dialect: str | None = None) -> Inventory:
    """The inventory at `path` (file or directory of pages) in `dialect` (detected when None)."""
    path = Path(path)
    name = resolve_dialect(dialect, path)
    chosen = get_dialect(name)
    inventory = Inventory(path, chosen)
    seen: dict[str, str] = {}
    if name == TRIGGERS:
        from chainsim.dialects.triggers import trigger_rule

        for source, place, item in trigger_items(path):
            rule = trigger_rule(source, place, item)
            _unique(seen, rule.id, source, place)
            inventory.rules.append(rule)
            inventory.wire.append(item)
        return inventory
    for page in read_pages(path, name):
        data = {"entities": page.items} if page.prefix else page.items
        for rule in chosen.parse(page.source, data):
            _unique(seen, rule.id, page.source, "")
            inventory.rules.append(rule)
            inventory.wire.append(chosen.to_wire(rule))
    return inventory


def _unique(seen: dict[str, str], rule_id: str, source: str, place: str) -> None:
    """Record `rule_id`; a second occurrence (also across pages) is bad input."""
    if rule_id in seen:
        where = f"{place}.id" if place else ""
        raise InputError(source, where, f"duplicate id {rule_id!r} (also in {seen[rule_id]})")
    seen[rule_id] = source


__all__ = [
    "Inventory",
    "Page",
    "inventory_files",
    "normalise_trigger",
    "read_inventory",
    "read_pages",
    "resolve_dialect",
    "trigger_items",
]

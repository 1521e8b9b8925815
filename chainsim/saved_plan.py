"""Saved plans (`chainsim plan --out FILE`, `chainsim apply FILE`), like terraform's.

A saved plan is one JSON document, recognised by its first key
`{"chainsim_saved_plan": 1, ...}`. It holds the chain plan itself and its digest, the
operation (`apply` or `destroy`), the dialect and a description of the bus it was made
against, and per planned rule: its change, the version and content digest of the rule
as it was read (sha256 of its canonical wire JSON in the dialect's form), the fields
the change writes and the desired body (dialect wire form).

Applying a saved plan first re-reads every planned rule: when any version or digest
differs (or the rule is gone) the bus drifted and nothing is written. Otherwise exactly
the saved desired bodies are written, through the orchestrator, by `SavedMerger`: after a
409 re-read it overlays only the saved change's fields on the fresh rule, so another
writer's edits to other fields are kept (DESIGN §6).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from chainsim.errors import InputError
from chainsim.model import ChainPlan, Rule, input_error_from, read_document
from chainsim.plan import ChangeSet, PlanIndex, overlay

if TYPE_CHECKING:
    from chainsim.dialects.base import Dialect

FORMAT_KEY = "chainsim_saved_plan"
FORMAT_VERSION: Literal[1] = 1
Operation = Literal["apply", "destroy"]


def canonical_json(data: Any) -> bytes:
    """Canonical JSON bytes: sorted keys, no spaces, UTF-8 (what digests hash)."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def digest(data: Any) -> str:
    """`sha256:<hex>` of the canonical JSON of `data`."""
    return "sha256:" + hashlib.sha256(canonical_json(data)).hexdigest()


def plan_digest(plan: ChainPlan) -> str:
    """The digest of a chain plan's canonical JSON (every field, defaults included)."""
    return digest(plan.model_dump(mode="json"))


def rule_digest(rule: Rule, dialect: Dialect) -> str:
    """The content digest of a rule as read: its canonical wire JSON in the dialect's form."""
    return digest(dialect.to_wire(rule))


class _Saved(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class PlannedRule(_Saved):
    """One planned rule: its change, the version and digest it was read with, the target."""

    id: StrictStr
    change: Literal["update", "no-op"]
    version: StrictInt | None = None
    digest: StrictStr
    fields: list[StrictStr] = Field(default_factory=list)
    desired: dict[str, Any]  # the desired body, dialect wire form


class BusTarget(_Saved):
    """Which bus a plan was made against: fake or live, the dialect, the API base URL."""

    bus: StrictStr
    dialect: StrictStr
    api_host: StrictStr


class SavedPlan(_Saved):
    """A saved plan document (see the module docstring)."""

    chainsim_saved_plan: Literal[1] = FORMAT_VERSION
    operation: Operation = "apply"
    source: StrictStr = ""  # the plan file it was made from
    plan_digest: StrictStr
    target: BusTarget
    plan: dict[str, Any]
    rules: list[PlannedRule] = Field(default_factory=list)
    missing: list[StrictStr] = Field(default_factory=list)

    @classmethod
    def capture(
        cls,
        plan: ChainPlan,
        changes: ChangeSet,
        dialect: Dialect,
        target: BusTarget,
        *,
        operation: Operation = "apply",
        source: str = "",
    ) -> SavedPlan:
        """A saved plan of `changes` (computed from `plan` on the bus `target`)."""
        rules = [
            PlannedRule(
                id=change.rule_id,
                change=change.kind,
                version=change.before.version,
                digest=rule_digest(change.before, dialect),
                fields=change.fields if change.kind != "no-op" else [],
                desired=dialect.to_wire(change.after),
            )
            for change in changes.changes
        ]
        return cls(
            operation=operation,
            source=source,
            plan_digest=plan_digest(plan),
            target=target,
            plan=plan.model_dump(mode="json"),
            rules=rules,
            missing=list(changes.missing),
        )

    def chain_plan(self) -> ChainPlan:
        """The chain plan this saved plan was made from."""
        return ChainPlan.model_validate(self.plan)

    @property
    def has_changes(self) -> bool:
        """True when applying it writes anything."""
        return any(rule.change != "no-op" for rule in self.rules)

    def to_json(self) -> dict[str, Any]:
        """The document, `chainsim_saved_plan` first."""
        return self.model_dump(mode="json")

    def write(self, path: Path) -> None:
        """Write the document to `path` (indented JSON)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")

    def drift(self, rules: Iterable[Rule], dialect: Dialect) -> list[str]:
        """One line per planned rule that changed on the bus since (empty: no drift)."""
        current = {rule.id: rule for rule in rules}
        out: list[str] = []
        for planned in self.rules:
            rule = current.get(planned.id)
            if rule is None:
                out.append(f"{planned.id}: no longer on the bus")
            elif rule.version != planned.version:
                out.append(f"{planned.id}: version {planned.version} -> {rule.version}")
            elif rule_digest(rule, dialect) != planned.digest:
                out.append(f"{planned.id}: content changed (version {rule.version})")
        out += [f"{rule_id}: now on the bus" for rule_id in self.missing if rule_id in current]
        return out

    def merger(self, dialect: Dialect) -> SavedMerger:
        """The merger that writes exactly this saved plan's desired bodies."""
        return SavedMerger(self, dialect)


class SavedMerger:
    """A `Merger` whose desired state is the saved plan's, field by field."""

    def __init__(self, saved: SavedPlan, dialect: Dialect) -> None:
        self.saved = saved
        self.dialect = dialect
        self._planned = {rule.id: rule for rule in saved.rules}
        self._after: dict[str, Rule] = {}
        for rule in saved.rules:
            if rule.change != "no-op":
                parsed = dialect.parse("saved plan", [rule.desired])
                self._after[rule.id] = parsed[0]

    def targets(self, index: PlanIndex) -> list[str]:
        """The saved plan's rules, in its order."""
        return list(self._planned)

    def desired(self, current: Rule, index: PlanIndex) -> Rule:
        """`current` with the saved change's fields taken from the saved desired body."""
        after = self._after.get(current.id)
        if after is None:
            return current
        return overlay(current, after, self._planned[current.id].fields)

    def declared_attributes(
        self, plan: ChainPlan, rules: Iterable[Rule]
    ) -> Mapping[str, Iterable[str]] | None:
        """The dialect merger's `declared_attributes`."""
        return self.dialect.merger.declared_attributes(plan, rules)


def is_saved_plan(data: Any) -> bool:
    """True for parsed data in the saved-plan format."""
    return isinstance(data, Mapping) and FORMAT_KEY in data


def load_saved_plan(path: Path) -> SavedPlan | None:
    """The saved plan in `path`, or None when the file is not one (a plain chain plan).

    A file in the saved format with bad content raises `InputError`.
    """
    data = read_document(path)
    if not is_saved_plan(data):
        return None
    if data[FORMAT_KEY] != FORMAT_VERSION:
        raise InputError(
            str(path), FORMAT_KEY, f"unsupported saved plan format {data[FORMAT_KEY]!r}"
        )
    try:
        saved = SavedPlan.model_validate(data)
        saved.chain_plan()
    except ValidationError as exc:
        raise input_error_from(str(path), exc) from None
    return saved

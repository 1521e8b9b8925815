"""Desired state vs bus state -> a `ChangeSet`, like `terraform plan`.

The desired state of a source rule is the rule as the bus holds it with the plan's
links merged into its `invokeRule` actions: a link to a destination the rule already
invokes replaces that action's transformation and preserved attributes; a new
destination appends an action; every other action and field stays as it is. The
plan's `rules:` settings (`enabled`) are applied on top. A rule already in its desired
state is a no-op, so re-applying a plan writes nothing.

Dialects plug in through a `Merger` (which rules a plan touches, and what each should
become): each dialect object supplies its own (`chainsim.dialects`); the EventBridge
one (`dialects.eventbridge.EVENTBRIDGE`) is the default.

Removal: a plan's `remove:` links are taken off the bus by the dialect merger's
`unmerge` (a `RemovingMerger`); `plan_merger` wraps a dialect merger so its desired
state is "links merged, then `remove:` links unmerged". `destroy_plan` turns a plan
into the plan that removes everything it added (`chainsim destroy`).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from chainsim.dialects.eventbridge import EVENTBRIDGE
from chainsim.errors import InputError
from chainsim.model import Action, ChainLink, ChainPlan, Rule, RuleSettings

ChangeKind = Literal["update", "no-op"]  # a plan never creates a rule


@dataclass(frozen=True)
class PlanIndex:
    """A plan with its links grouped by source rule (built once per run)."""

    plan: ChainPlan
    links_by_source: Mapping[str, Sequence[ChainLink]]

    @classmethod
    def of(cls, plan: ChainPlan) -> PlanIndex:
        """Index `plan`'s links by source, keeping plan order."""
        grouped: dict[str, list[ChainLink]] = {}
        for link in plan.links:
            grouped.setdefault(link.source, []).append(link)
        return cls(plan, grouped)

    def settings(self, rule_id: str) -> RuleSettings | None:
        """The plan's `rules:` settings for `rule_id`, if any."""
        return self.plan.rules.get(rule_id)


class Merger(Protocol):
    """A dialect's view of a plan: which rules it touches and what each should become."""

    def targets(self, index: PlanIndex) -> list[str]:
        """Ids of the rules the plan may change, in a stable order."""
        ...

    def desired(self, current: Rule, index: PlanIndex) -> Rule:
        """The desired state of `current` under the plan (keeping everything it does not own)."""
        ...

    def declared_attributes(
        self, plan: ChainPlan, rules: Iterable[Rule]
    ) -> Mapping[str, Iterable[str]] | None:
        """What the validator may take a rule to carry besides its attributes (None: nothing)."""
        ...


class RemovingMerger(Merger, Protocol):
    """A `Merger` that can also take links off the bus (every dialect merger is one)."""

    def removal_targets(self, links: Iterable[ChainLink]) -> list[str]:
        """Ids of the rules removing `links` may write, in a stable order."""
        ...

    def unmerge(self, current: Rule, links: Iterable[ChainLink], index: PlanIndex) -> Rule:
        """`current` without what realises `links` (everything else kept)."""
        ...


class PlanMerger:
    """A dialect merger's desired state with the plan's `remove:` links taken off after.

    Targets: the dialect's targets, then the rules the removals touch. Desired state:
    `base.desired` (links and settings merged), then `base.unmerge` of `plan.remove`.
    `declared_attributes` (the validator's hook) is the base merger's.
    """

    def __init__(self, base: RemovingMerger) -> None:
        self.base = base

    def targets(self, index: PlanIndex) -> list[str]:
        """The base merger's targets, then those of the plan's removals, without repeats."""
        ids = dict.fromkeys(self.base.targets(index))
        ids.update(dict.fromkeys(self.base.removal_targets(index.plan.remove)))
        return list(ids)

    def desired(self, current: Rule, index: PlanIndex) -> Rule:
        """`base.desired`, then the plan's `remove:` links unmerged."""
        rule = self.base.desired(current, index)
        if index.plan.remove:
            rule = self.base.unmerge(rule, index.plan.remove, index)
        return rule

    def declared_attributes(
        self, plan: ChainPlan, rules: Iterable[Rule]
    ) -> Mapping[str, Iterable[str]] | None:
        """The base merger's `declared_attributes`."""
        return self.base.declared_attributes(plan, rules)

    def __repr__(self) -> str:
        return f"PlanMerger({self.base!r})"


def plan_merger(base: Any) -> PlanMerger:
    """`base` wrapped so `remove:` links are honoured (a PlanMerger is returned as it is)."""
    return base if isinstance(base, PlanMerger) else PlanMerger(base)


def destroy_plan(plan: ChainPlan) -> ChainPlan:
    """The plan that removes everything `plan` added: its links become `remove:` links.

    Its `rules:` settings are dropped, not reverted: their values before the plan are
    not known (see the deploy README). Sinks (`dead_letter`, `callback`) stay.
    """
    return plan.model_copy(update={"links": [], "remove": list(plan.links), "rules": {}})


def link_key(link: ChainLink) -> tuple[str, str]:
    """A link's identity for removal: (source, destination)."""
    return link.source, link.destination


def check_removals(source: str, plan: ChainPlan) -> None:
    """`InputError` when a link is both added (`links:`) and removed (`remove:`)."""
    added = {link_key(link) for link in plan.links}
    for i, link in enumerate(plan.remove):
        if link_key(link) in added:
            raise InputError(
                source,
                f"remove[{i}]",
                f"link {link.source} -> {link.destination} is also under links: (add or remove it)",
            )


def removal_findings(plan: ChainPlan, rules: Iterable[Rule], realised: Any) -> list[dict[str, Any]]:
    """A `remove_absent` warning per `remove:` link the bus does not have (nothing to remove).

    `realised(link, rules_by_id)` is the dialect's `link_realised`.
    """
    by_id = {rule.id: rule for rule in rules}
    out: list[dict[str, Any]] = []
    for link in plan.remove:
        present = link.source in by_id and link.destination in by_id
        if not present or not realised(link, by_id):
            out.append(
                {
                    "code": "remove_absent",
                    "severity": "warning",
                    "rule_ids": [link.source, link.destination],
                    "message": f"link {link.source} -> {link.destination} is not on the bus: "
                    "nothing to remove",
                }
            )
    return out


def content(rule: Rule) -> dict[str, Any]:
    """A rule's wire JSON without `version`: what 'same state' compares."""
    wire = rule.to_wire()
    wire.pop("version", None)
    return wire


def same_content(a: Rule, b: Rule) -> bool:
    """True when two rules differ at most in their version."""
    return content(a) == content(b)


def changed_fields(before: Rule, after: Rule) -> list[str]:
    """Top-level wire fields whose value differs (version excluded), sorted."""
    a, b = content(before), content(after)
    return sorted(key for key in a.keys() | b.keys() if a.get(key) != b.get(key))


def overlay(base: Rule, source: Rule, fields: Iterable[str]) -> Rule:
    """`base` with the top-level wire `fields` taken from `source` (absent there -> removed)."""
    wire = base.to_wire()
    src = source.to_wire()
    for key in fields:
        if key in src:
            wire[key] = src[key]
        else:
            wire.pop(key, None)
    wire["version"] = base.version
    return Rule.model_validate(wire)


def text_diff(before: Rule, after: Rule) -> str:
    """A unified diff of the two rules' wire JSON (version left out)."""
    a = json.dumps(content(before), indent=2, sort_keys=True).splitlines()
    b = json.dumps(content(after), indent=2, sort_keys=True).splitlines()
    lines = difflib.unified_diff(a, b, fromfile="bus", tofile="plan", lineterm="", n=1)
    return "\n".join(lines)


def _link_summary(action: Action) -> str:
    bits = [f"-> {action.rule_id}"]
    if action.payload_transformation:
        bits.append(
            "transform " + ", ".join(f"{k}={v}" for k, v in action.payload_transformation.items())
        )
    if action.preserved_attributes:
        bits.append("preserve " + ", ".join(action.preserved_attributes))
    return " ".join(bits)


def summarize(before: Rule, after: Rule) -> list[str]:
    """Short human lines for a change: links added, changed or removed, settings changed."""
    old = {a.rule_id: a for a in before.links()}
    new = {a.rule_id for a in after.links()}
    lines: list[str] = []
    for action in after.links():
        prior = old.get(action.rule_id)
        if prior is None:
            lines.append(f"+ link {_link_summary(action)}")
        elif prior.to_wire() != action.to_wire():
            lines.append(f"~ link {_link_summary(action)}")
    lines += [f"- link {_link_summary(a)}" for a in before.links() if a.rule_id not in new]
    for key in changed_fields(before, after):
        if key != "actions":
            was, now = before.to_wire().get(key), after.to_wire().get(key)
            lines.append(f"~ {key}: {json.dumps(was)} -> {json.dumps(now)}")
    if not lines and not same_content(before, after):
        lines.append("~ actions")
    return lines


# A rule as its dialect writes it (triggers: the `UpdateTriggerRequest` PUT body).
WireForm = Callable[[Rule], dict[str, Any]]
BODY_CONTEXT = 10_000  # a wire diff shows the whole body: what is PUT, changes marked


def wire_diff(before: dict[str, Any], after: dict[str, Any]) -> str:
    """A unified diff of two wire bodies (`version` left out): current -> what is written."""
    a = json.dumps({k: v for k, v in before.items() if k != "version"}, indent=2, sort_keys=True)
    b = json.dumps({k: v for k, v in after.items() if k != "version"}, indent=2, sort_keys=True)
    a_lines, b_lines = a.splitlines(), b.splitlines()
    lines = difflib.unified_diff(
        a_lines, b_lines, fromfile="current", tofile="PUT", lineterm="", n=BODY_CONTEXT
    )
    return "\n".join(lines)


def wire_summary(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Short lines for a wire-body change: list items added/removed, other fields `was -> now`."""
    lines: list[str] = []
    for key in sorted(before.keys() | after.keys()):
        was, now = before.get(key), after.get(key)
        if key == "version" or was == now:
            continue
        if isinstance(was, list | None) and isinstance(now, list):
            old = [json.dumps(x, sort_keys=True) for x in was or []]
            new = [json.dumps(x, sort_keys=True) for x in now]
            lines += [f"+ {key} {x}" for x in new if x not in old]
            lines += [f"- {key} {x}" for x in old if x not in new]
        else:
            lines.append(f"~ {key}: {json.dumps(was)} -> {json.dumps(now)}")
    return lines


@dataclass(frozen=True)
class Change:
    """One rule's planned change: its kind, the state before and the desired state."""

    rule_id: str
    kind: ChangeKind
    before: Rule
    after: Rule
    wire: WireForm | None = field(default=None, compare=False, repr=False)

    @property
    def fields(self) -> list[str]:
        """The top-level fields this change writes (chainsim's rule form)."""
        return changed_fields(self.before, self.after)

    def body(self) -> dict[str, Any] | None:
        """What is written, in the dialect's terms (triggers: the PUT body); None without."""
        return None if self.wire is None or self.kind == "no-op" else self.wire(self.after)

    def summary(self) -> list[str]:
        """Short human lines describing the change (in the dialect's terms when it has them)."""
        if self.kind == "no-op":
            return []
        if self.wire is not None:
            return wire_summary(self.wire(self.before), self.wire(self.after))
        return summarize(self.before, self.after)

    def diff(self) -> str:
        """A unified diff of the change (empty for a no-op): of the wire bodies when known."""
        if self.kind == "no-op":
            return ""
        if self.wire is not None:
            return wire_diff(self.wire(self.before), self.wire(self.after))
        return text_diff(self.before, self.after)

    def to_json(self) -> dict[str, Any]:
        """`{"id", "change", "fields", "summary", "diff"}`, plus `"body"` (what is PUT) if known."""
        out: dict[str, Any] = {
            "id": self.rule_id,
            "change": self.kind,
            "fields": self.fields if self.kind != "no-op" else [],
            "summary": self.summary(),
            "diff": self.diff(),
        }
        body = self.body()
        if body is not None:
            out["body"] = body
        return out


@dataclass(frozen=True)
class ChangeSet:
    """Every rule a plan touches, each an update or a no-op; plus ids the bus lacks."""

    changes: tuple[Change, ...]
    missing: tuple[str, ...] = field(default=())

    @property
    def updates(self) -> list[Change]:
        """The changes that write something (updates), in order."""
        return [c for c in self.changes if c.kind != "no-op"]

    @property
    def has_changes(self) -> bool:
        """True when applying would write anything."""
        return bool(self.updates)

    def counts(self) -> dict[str, int]:
        """How many updates and no-ops."""
        out = {"update": 0, "no-op": 0}
        for change in self.changes:
            out[change.kind] += 1
        return out

    def to_json(self) -> dict[str, Any]:
        """`{"changes": [...], "counts": {...}, "missing": [...]}`."""
        return {
            "changes": [c.to_json() for c in self.changes],
            "counts": self.counts(),
            "missing": list(self.missing),
        }


def wire_form(merger: Any) -> WireForm | None:
    """The merger's `wire` (a dialect's own terms), also through a wrapping merger's `base`."""
    for candidate in (merger, getattr(merger, "base", None)):
        wire = getattr(candidate, "wire", None)
        if callable(wire):
            return wire
    return None


def compute_changes(
    rules: Iterable[Rule], plan: ChainPlan | PlanIndex, merger: Merger = EVENTBRIDGE
) -> ChangeSet:
    """Compare the bus's `rules` with the plan's desired state, rule by rule."""
    index = plan if isinstance(plan, PlanIndex) else PlanIndex.of(plan)
    wire = wire_form(merger)
    current = {rule.id: rule for rule in rules}
    changes: list[Change] = []
    missing: list[str] = []
    for rule_id in merger.targets(index):
        rule = current.get(rule_id)
        if rule is None:
            missing.append(rule_id)
            continue
        desired = merger.desired(rule, index)
        kind: ChangeKind = "no-op" if same_content(rule, desired) else "update"
        changes.append(Change(rule_id, kind, rule, desired, wire))
    return ChangeSet(tuple(changes), tuple(missing))

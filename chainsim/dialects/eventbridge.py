"""The `eventbridge` dialect: the EventBridge-rules contract over plain REST (DESIGN §4).

A rule's links live on the rule itself, as `invokeRule` actions; the wire form is the
rule JSON of `chainsim.model.Rule` (camelCase). No source beyond DESIGN §4 exists for
this contract: it is the tutorial's, not a Genesys API.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chainsim.dialects.base import items_carry
from chainsim.model import INVOKE_RULE, ChainLink, ChainPlan, Rule, RuleSettings, parse_rules

if TYPE_CHECKING:
    import httpx

    from chainsim.bus.base import Bus, ExchangeObserver
    from chainsim.clock import Clock
    from chainsim.fakebus import FakeBus
    from chainsim.plan import PlanIndex

NAME = "eventbridge"


def desired_rule(
    current: Rule, links: Iterable[ChainLink], settings: RuleSettings | None = None
) -> Rule:
    """`current` with `links` merged into its invokeRule actions and `settings` applied.

    A link to a destination the rule already invokes replaces that action's
    transformation and preserved attributes; a new destination appends an action; every
    other action and field stays as it is.
    """
    actions = [action.model_copy(deep=True) for action in current.actions]
    for link in links:
        for index, action in enumerate(actions):
            if action.type == INVOKE_RULE and action.rule_id == link.destination:
                actions[index] = action.model_copy(
                    update={
                        "payload_transformation": dict(link.transform),
                        "preserved_attributes": list(link.preserve),
                    }
                )
                break
        else:
            actions.append(link.to_action())
    update: dict[str, Any] = {"actions": actions}
    if settings is not None and settings.enabled is not None:
        update["enabled"] = settings.enabled
    return current.model_copy(update=update, deep=True)


class EventBridgeMerger:
    """EventBridge rules: links live on their source rule's `invokeRule` actions."""

    def targets(self, index: PlanIndex) -> list[str]:
        """Link sources in plan order, then rules named only by `rules:` settings."""
        ids = dict.fromkeys(index.links_by_source)
        ids.update(dict.fromkeys(index.plan.rules))
        return list(ids)

    def desired(self, current: Rule, index: PlanIndex) -> Rule:
        """`desired_rule` with this rule's planned links and settings."""
        return desired_rule(
            current, index.links_by_source.get(current.id, ()), index.settings(current.id)
        )

    def declared_attributes(self, plan: ChainPlan, rules: Iterable[Rule]) -> None:
        """None: an EventBridge rule carries exactly its `filters.attributes`."""
        return None

    def removal_targets(self, links: Iterable[ChainLink]) -> list[str]:
        """The rules removing `links` may write: their sources, in order."""
        return list(dict.fromkeys(link.source for link in links))

    def unmerge(self, current: Rule, links: Iterable[ChainLink], index: PlanIndex) -> Rule:
        """`current` without the `invokeRule` actions that realise `links` (removal).

        A link lives on its source as an `invokeRule` action to its destination (DESIGN
        §2); removing it drops every such action of `current` to that destination.
        Every other action and field stays as it is.
        """
        gone = {link.destination for link in links if link.source == current.id}
        kept = [
            action.model_copy(deep=True)
            for action in current.actions
            if not (action.type == INVOKE_RULE and action.rule_id in gone)
        ]
        if len(kept) == len(current.actions):
            return current
        return current.model_copy(update={"actions": kept}, deep=True)


EVENTBRIDGE = EventBridgeMerger()  # stateless: safe to share


class EventBridgeDialect:
    """EventBridge rules over httpx (`RestBus`); links are `invokeRule` actions."""

    name = NAME
    links_on_rules = True
    test_mode = False  # the contract has no test endpoint
    merger = EVENTBRIDGE

    def detects(self, data: Any) -> bool:
        """True for a non-empty list (or `entities`) of objects that carry `eventType`."""
        return items_carry(data, "eventType")

    def parse(self, source: str, data: Any) -> list[Rule]:
        """`model.parse_rules`."""
        return parse_rules(source, data)

    def read(self, path: str | Path) -> list[Rule]:
        """Rules from an inventory file or directory of pages (`inventory.read_inventory`)."""
        from chainsim.dialects.inventory import read_inventory

        return read_inventory(path, NAME).rules

    def to_wire(self, rule: Rule) -> dict[str, Any]:
        """The rule's own wire JSON."""
        return rule.to_wire()

    def write(self, rules: Iterable[Rule]) -> dict[str, Any]:
        """`{"entities": [rule, ...]}`."""
        return {"entities": [rule.to_wire() for rule in rules]}

    def declared_attributes(
        self, plan: ChainPlan, rules: Iterable[Rule]
    ) -> dict[str, list[str]] | None:
        """None: a rule carries exactly its `filters.attributes`."""
        return None

    def link_realised(self, link: ChainLink, rules: Mapping[str, Rule]) -> bool:
        """The source invokes the destination, preserving every attribute the link names."""
        source = rules.get(link.source)
        return source is not None and any(
            a.rule_id == link.destination and set(link.preserve) <= set(a.preserved_attributes)
            for a in source.links()
        )

    def client(
        self,
        http: httpx.Client,
        auth: Any,
        *,
        api_host: str,
        login_host: str,
        clock: Clock,
        on_exchange: ExchangeObserver | None = None,
    ) -> Bus:
        """`RestBus` over `http` (login goes through `auth`, so `login_host` is unused)."""
        from chainsim.bus.rest import RestBus

        return RestBus(http, auth, api_host=api_host, on_exchange=on_exchange, clock=clock)

    def seed(self, fake: FakeBus, path: str | Path) -> None:
        """Seed the fake's rules from the inventory at `path`."""
        fake.seed_rules(self.read(path))

    def stored(self, fake: FakeBus) -> list[dict[str, Any]]:
        """The fake's rules (wire JSON)."""
        return [rule.to_wire() for rule in fake.rules()]

    def rule_extra(self, workflow_id: str) -> dict[str, Any]:
        """Nothing: an EventBridge rule targets no workflow."""
        return {}

    def plan_settings(
        self, ids: Iterable[str], attributes: Iterable[str], workflow_id: str
    ) -> dict[str, dict[str, Any]]:
        """None: links alone describe an EventBridge chain."""
        return {}

    def needs_workflow(self) -> bool:
        """False: EventBridge rules target no workflow."""
        return False

    def catalogue(self, bus: Any | None = None) -> Any | None:
        """None: the EventBridge contract publishes no catalogue of event types."""
        return None

    def lint(self, items: Iterable[Mapping[str, Any]], catalogue: Any | None = None) -> list[Any]:
        """No findings: EventBridge rules have no catalogue to be checked against."""
        return []

    def __repr__(self) -> str:
        return "EventBridgeDialect()"

"""What every dialect object offers: the `Dialect` protocol.

A dialect is one way a bus stores event rules (EventBridge rules, Process Automation
triggers). Everything dialect-specific is asked of the dialect object; the rest of
chainsim never branches on a dialect's name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import httpx

    from chainsim.bus.base import Bus, ExchangeObserver
    from chainsim.clock import Clock
    from chainsim.fakebus import FakeBus
    from chainsim.model import ChainLink, ChainPlan, Rule
    from chainsim.plan import Merger


def items_carry(data: Any, key: str) -> bool:
    """True for a non-empty list (or a listing's `entities`) of objects that all carry `key`."""
    items = data.get("entities") if isinstance(data, Mapping) else data
    return (
        isinstance(items, list)
        and bool(items)
        and all(isinstance(i, Mapping) and key in i for i in items)
    )


class Dialect(Protocol):
    """One dialect: codec, merger, constraints, client factory, catalogue, test-chain shape."""

    name: str
    merger: Merger
    links_on_rules: bool  # True: a link is an `invokeRule` action on its source rule
    test_mode: bool  # True: the bus can say whether a rule would match an event

    # ---------------------------------------------------------------- wire codec

    def detects(self, data: Any) -> bool:
        """True when parsed `data` (a list, or `{"entities": [...]}`) is in this wire form."""
        ...

    def parse(self, source: str, data: Any) -> list[Rule]:
        """Rules from parsed wire data; bad items raise `InputError` naming `source`."""
        ...

    def read(self, path: str | Any) -> list[Rule]:
        """Rules from an inventory file in this dialect's wire form."""
        ...

    def to_wire(self, rule: Rule) -> dict[str, Any]:
        """One rule in this dialect's wire JSON."""
        ...

    def write(self, rules: Iterable[Rule]) -> dict[str, Any]:
        """Rules back in wire form, as `{"entities": [...]}` (a saved list response)."""
        ...

    # ---------------------------------------------------------------- constraints

    def declared_attributes(
        self, plan: ChainPlan, rules: Iterable[Rule]
    ) -> dict[str, list[str]] | None:
        """What the validator may trust each rule to carry beyond `filters` (None: nothing)."""
        ...

    def link_realised(self, link: ChainLink, rules: Mapping[str, Rule]) -> bool:
        """True when the bus's `rules` (by id) already realise `link`."""
        ...

    # ---------------------------------------------------------------- client factory

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
        """The Bus client over `http`; `auth` is a `bus.auth.ClientCredentials`."""
        ...

    # ---------------------------------------------------------------- the fake

    def seed(self, fake: FakeBus, path: str | Any) -> None:
        """Seed the fake with the inventory file at `path` (wire form); bad input raises."""
        ...

    def stored(self, fake: FakeBus) -> list[dict[str, Any]]:
        """The fake's state in this dialect's wire form."""
        ...

    # ---------------------------------------------------------------- test chains

    def rule_extra(self, workflow_id: str) -> dict[str, Any]:
        """Fields a new test rule needs beyond the common ones (triggers: the target)."""
        ...

    def plan_settings(
        self, ids: Iterable[str], attributes: Iterable[str], workflow_id: str
    ) -> dict[str, dict[str, Any]]:
        """`rules:` settings a test chain's plan carries for its rule `ids`."""
        ...

    def needs_workflow(self) -> bool:
        """True when a live run must name a workflow for its rules to target."""
        ...

    # ---------------------------------------------------------------- catalogue

    def catalogue(self, bus: Any | None = None) -> Any | None:
        """The dialect's catalogue of event types / topics (None when it has none); a `bus`
        that can list its own (a live org) is asked first."""
        ...

    def lint(self, items: Iterable[Mapping[str, Any]], catalogue: Any | None = None) -> list[Any]:
        """Findings (`validate.Finding`) on inventory `items` in wire form against the catalogue."""
        ...

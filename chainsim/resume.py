"""Resume: find which PUTs of a killed run landed, from its journal and one bus listing.

A killed run leaves rules `writing` in the journal: planned (an intent) or sent with no
answer recorded. Each is checked against one listing of the bus (not one GET per rule):
a rule that already holds its journaled target was applied by the killed run and is
recorded so; the others are planned again by the resumed run.
"""

from __future__ import annotations

from collections.abc import Callable

from chainsim.journal import Applied, Journal
from chainsim.model import Rule
from chainsim.plan import overlay, same_content
from chainsim.results import RuleOutcome


def reconcile(
    journal: Journal,
    prior: list[Applied],
    outcomes: dict[str, RuleOutcome],
    listing: Callable[[], list[Rule]],
) -> list[Applied]:
    """`prior` plus every `writing` rule the bus shows as landed (recorded as applied)."""
    known = {item.rule_id for item in prior}
    pending = {
        rule_id: entry
        for rule_id, entry in journal.entries.items()
        if entry.get("state") == "writing" and rule_id not in known
    }
    on_bus = {rule.id: rule for rule in listing()} if pending else {}
    for rule_id, entry in pending.items():
        base, target = Rule.model_validate(entry["base"]), Rule.model_validate(entry["target"])
        fields = list(entry["fields"])
        current = on_bus.get(rule_id)
        if current is None or not same_content(overlay(current, target, fields), current):
            continue
        item = Applied(rule_id, base, fields)
        prior.append(item)
        journal.applied(item)
        row = outcomes.setdefault(rule_id, RuleOutcome(rule_id))
        row.outcome, row.version_before, row.version_after = (
            "applied",
            base.version,
            current.version,
        )
    return prior

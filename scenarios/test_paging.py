"""Certifies paging a large inventory: every rule is listed exactly once, across many pages,
also while other writers create and delete rules between pages (keyset cursors).

On the fake the inventory is 240 rules listed 25 at a time; against a sandbox org it is
30 triggers listed 7 at a time (each run creates and deletes only its own).
"""

from __future__ import annotations

from collections import Counter

import pytest

pytestmark = pytest.mark.chainsim_live_safe


def _size(chainsim_backend) -> tuple[int, int]:
    return (30, 7) if chainsim_backend.options.live else (240, 25)


def test_every_rule_listed_exactly_once(chainsim_backend, chainsim_bus, chain_factory):
    """A listing that follows every page returns each created rule once, and nothing twice."""
    count, page = _size(chainsim_backend)
    chain = chain_factory(", ".join(f"R{i}" for i in range(count)))
    chainsim_bus.page_size = page

    listed = chain_factory.retry(lambda: Counter(rule.id for rule in chainsim_bus.list_rules()))

    ours = set(chain.ids.values())
    assert {rid for rid in listed if rid in ours} == ours
    assert [rid for rid, n in listed.items() if n > 1] == []


def test_paging_while_others_write(chainsim_backend, chainsim_bus, chain_factory):
    """Rules that exist throughout a listing appear exactly once although writes interleave."""
    count, page = _size(chainsim_backend)
    stable = chain_factory(", ".join(f"S{i}" for i in range(count)))
    churn = chain_factory(", ".join(f"C{i}" for i in range(count // page + 2)))
    chainsim_bus.page_size = page

    listed: Counter[str] = Counter()
    to_delete = list(churn.ids.values())
    cursor, pages = None, 0
    while True:
        rules, cursor = chain_factory.retry(lambda c=cursor: chainsim_bus.list_page(c))
        listed.update(rule.id for rule in rules)
        pages += 1
        # Between pages another writer deletes one rule and creates one.
        if to_delete:
            gone = to_delete.pop()
            chain_factory.retry(lambda g=gone: chainsim_bus.delete_rule(g))
        chain_factory(f"N{pages}")
        if cursor is None:
            break

    assert pages > count // page
    for rule_id in stable.ids.values():
        assert listed[rule_id] == 1, f"{rule_id} listed {listed[rule_id]} times"
    assert max(listed.values()) == 1

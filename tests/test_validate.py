"""validate_chain: every finding code, the tutorial's defects, bounds, and oracle properties."""

from __future__ import annotations

import itertools
from typing import Any

import networkx as nx
import pytest
from hypothesis import assume, given

from chainsim import strategies as cs
from chainsim.model import ChainLink, ChainPlan, Rule, RuleSettings
from chainsim.validate import (
    CHECKS,
    CODES,
    Finding,
    ValidationReport,
    validate_chain,
    validate_plan,
)


def rule(
    rule_id: str, *, to: tuple[str, ...] = (), attrs: tuple[str, ...] = ("a", "b"), **kw: Any
) -> Rule:
    return Rule.model_validate(
        {
            "id": rule_id,
            "eventType": f"evt.{rule_id}",
            "filters": {"attributes": list(attrs)},
            "actions": [{"type": "invokeRule", "ruleId": t} for t in to],
            **kw,
        }
    )


def link(source: str, destination: str, **kw: Any) -> ChainLink:
    kw.setdefault("event_type", f"evt.{source}")
    return ChainLink(source=source, destination=destination, **kw)


def chain_rules(n: int) -> list[Rule]:
    return [rule(f"r{i}") for i in range(n)]


def path_links(n: int) -> list[ChainLink]:
    return [link(f"r{i}", f"r{i + 1}") for i in range(n)]


def only(report: ValidationReport) -> Finding:
    assert len(report.findings) == 1, report.findings
    return report.findings[0]


# ----------------------------------------------------------------- one per code


def test_clean_chain_has_no_findings() -> None:
    """A valid chain is ok with no findings at all."""
    report = validate_chain(chain_rules(3), path_links(2))
    assert report.ok and report.findings == ()


def test_unknown_rule_names_the_missing_destination() -> None:
    """A missing destination is named as such (the tutorial always blamed the source)."""
    finding = only(validate_chain(chain_rules(1), [link("r0", "ghost")]))
    assert (finding.code, finding.severity, finding.rule_ids) == (
        "unknown_rule",
        "error",
        ("ghost",),
    )
    assert "destination" in finding.message and "ghost" in finding.message


def test_unknown_rule_names_the_missing_source() -> None:
    """A missing source is named, and only it."""
    finding = only(validate_chain(chain_rules(1), [link("ghost", "r0")]))
    assert finding.rule_ids == ("ghost",) and "source" in finding.message


def test_unknown_rule_linked_to_itself_is_named_once() -> None:
    """A missing rule invoking itself is one unknown_rule (its source) and a self_link."""
    report = validate_chain(chain_rules(1), [link("ghost", "ghost")])
    assert report.codes() == ["unknown_rule", "self_link"]
    assert report.findings[0].rule_ids == ("ghost",) and "source" in report.findings[0].message


def test_self_link() -> None:
    """A rule that would invoke itself is a self_link (and not also a cycle)."""
    finding = only(validate_chain(chain_rules(1), [link("r0", "r0")]))
    assert (finding.code, finding.rule_ids) == ("self_link", ("r0",))


def test_duplicate_link_names_the_earlier_one() -> None:
    """The same source -> destination twice is a duplicate_link pointing at the first."""
    finding = only(validate_chain(chain_rules(2), [link("r0", "r1"), link("r0", "r1")]))
    assert (finding.code, finding.rule_ids) == ("duplicate_link", ("r0", "r1"))
    assert "links[1]" in finding.message and "links[0]" in finding.message


def test_two_cycle_across_two_links() -> None:
    """A -> B and B -> A in one plan is a cycle (the tutorial let it pass)."""
    finding = only(validate_chain(chain_rules(2), [link("r0", "r1"), link("r1", "r0")]))
    assert (finding.code, finding.rule_ids) == ("cycle", ("r0", "r1", "r0"))


def test_cycle_closed_by_an_existing_bus_link() -> None:
    """A planned link that closes a loop with a link already on the bus is a cycle."""
    rules = [rule("r0"), rule("r1"), rule("r2", to=("r0",))]
    finding = only(validate_chain(rules, [link("r0", "r1"), link("r1", "r2")]))
    assert finding.code == "cycle" and finding.rule_ids == ("r0", "r1", "r2", "r0")
    assert "existing bus link r2 -> r0" in finding.message


def test_planned_link_reversing_a_bus_link_is_a_cycle() -> None:
    """r1 -> r0 on the bus and r0 -> r1 planned: a two-rule cycle closed by the bus."""
    rules = [rule("r0"), rule("r1", to=("r0",))]
    finding = only(validate_chain(rules, [link("r0", "r1")]))
    assert finding.code == "cycle" and finding.rule_ids == ("r0", "r1", "r0")
    assert "closed by existing bus link r1 -> r0" in finding.message


def test_cycle_closed_by_two_bus_links() -> None:
    """One planned link plus two bus links around a loop is a cycle naming both bus links."""
    rules = [rule("r0"), rule("r1", to=("r2",)), rule("r2", to=("r0",))]
    finding = only(validate_chain(rules, [link("r0", "r1")]))
    assert finding.rule_ids == ("r0", "r1", "r2", "r0")
    assert "closed by existing bus link r1 -> r2, r2 -> r0" in finding.message


def test_bus_self_loop_on_a_written_rule_is_a_cycle() -> None:
    """A written rule that already invokes itself on the bus closes a one-rule cycle."""
    rules = [rule("r0", to=("r0",)), rule("r1")]
    report = validate_chain(rules, [link("r0", "r1")])
    assert report.codes() == ["cycle"] and report.findings[0].rule_ids == ("r0", "r0")


def test_bus_cycle_reached_by_a_planned_link_is_reported_once() -> None:
    """A loop already on the bus that a planned link feeds is one cycle of the combined graph."""
    rules = [rule("r0"), rule("r1", to=("r2",)), rule("r2", to=("r1",))]
    finding = only(validate_chain(rules, [link("r0", "r1")]))
    assert finding.code == "cycle" and finding.rule_ids == ("r1", "r2", "r1")


def test_planned_links_without_a_bus_link_close_no_cycle() -> None:
    """The same planned links with the bus link pointing elsewhere are a clean chain."""
    rules = [rule("r0"), rule("r1"), rule("r2", to=("r3",)), rule("r3")]
    assert validate_chain(rules, [link("r0", "r1"), link("r1", "r2")]).ok


def test_depth_is_the_longest_path_not_the_list_length() -> None:
    """Three links fanning out are depth 1; three links in a row are depth 3."""
    fan = [link("r0", "r1"), link("r0", "r2"), link("r0", "r3")]
    assert validate_chain(chain_rules(4), fan, max_depth=1).ok
    row = path_links(3)
    finding = only(validate_chain(chain_rules(4), row, max_depth=2))
    assert finding.code == "depth" and finding.rule_ids == ("r0", "r1", "r2", "r3")
    assert "3 hops" in finding.message


def test_depth_counts_existing_links_on_the_path() -> None:
    """Bus links before and after a planned link lengthen its path."""
    rules = [rule("r0", to=("r1",)), rule("r1"), rule("r2", to=("r3",)), rule("r3")]
    finding = only(validate_chain(rules, [link("r1", "r2")], max_depth=2))
    assert finding.rule_ids == ("r0", "r1", "r2", "r3")


def test_existing_deep_chain_without_planned_links_is_not_reported() -> None:
    """Depth only concerns paths through a planned link."""
    rules = [rule(f"r{i}", to=(f"r{i + 1}",) if i < 7 else ()) for i in range(8)]
    rules.append(rule("x"))
    rules.append(rule("y"))
    assert validate_chain(rules, [link("x", "y")]).ok


def test_fanout_merges_existing_and_planned() -> None:
    """Existing actions and planned links count together, duplicates once."""
    rules = [rule("s", to=("d0", "d1", "d2")), *(rule(f"d{i}") for i in range(6))]
    ok = [link("s", "d2"), link("s", "d3"), link("s", "d4")]  # d2 merges: 5 in all
    assert validate_chain(rules, ok).ok
    finding = only(validate_chain(rules, [*ok, link("s", "d5")]))
    assert finding.code == "fanout"
    assert finding.rule_ids == ("s", "d0", "d1", "d2", "d3", "d4", "d5")


@pytest.mark.parametrize("limit", [1, 3, 5])
def test_exactly_max_fanout_passes_and_one_more_fails(limit: int) -> None:
    """A rule invoking exactly max_fanout rules is valid; one more is a fanout error."""
    rules = [rule("s"), *(rule(f"d{i}") for i in range(limit + 1))]
    links = [link("s", f"d{i}") for i in range(limit)]
    assert validate_chain(rules, links, max_fanout=limit).findings == ()
    finding = only(validate_chain(rules, [*links, link("s", f"d{limit}")], max_fanout=limit))
    assert finding.code == "fanout" and len(finding.rule_ids) == limit + 2
    assert f"would invoke {limit + 1} rules, more than max_fanout {limit}" in finding.message


def test_exactly_max_fanout_with_an_unknown_destination_is_no_fanout() -> None:
    """Four known destinations and one unknown make five: the unknown id only."""
    rules = [rule("s"), *(rule(f"d{i}") for i in range(4))]
    links = [*(link("s", f"d{i}") for i in range(4)), link("s", "ghost")]
    assert validate_chain(rules, links).codes() == ["unknown_rule"]


def test_fanout_counts_dangling_bus_actions() -> None:
    """A bus action naming a gone rule still counts towards the written rule's fan-out."""
    rules = [rule("s", to=("gone",)), *(rule(f"d{i}") for i in range(5))]
    four = [link("s", f"d{i}") for i in range(4)]
    assert validate_chain(rules, four).codes() == ["unknown_rule"]
    report = validate_chain(rules, [*four, link("s", "d4")])
    assert report.codes() == ["unknown_rule", "fanout"]
    assert report.findings[1].rule_ids == ("s", "d0", "d1", "d2", "d3", "d4", "gone")


def test_fanout_of_a_rule_the_plan_does_not_write_is_not_reported() -> None:
    """A wide rule already on the bus is the bus's business unless the plan writes it."""
    rules = [rule("s", to=tuple(f"d{i}" for i in range(7))), *(rule(f"d{i}") for i in range(7))]
    assert validate_chain(rules, [link("d0", "d1")]).ok


def test_fanout_counts_unknown_destinations_too() -> None:
    """A link to an unknown rule still counts as an invokeRule action on the source."""
    rules = [rule("s"), *(rule(f"d{i}") for i in range(5))]
    links = [*(link("s", f"d{i}") for i in range(5)), link("s", "ghost")]
    assert validate_chain(rules, links).codes() == ["unknown_rule", "fanout"]


def test_event_type_mismatch() -> None:
    """A link whose event_type is not what the source emits."""
    finding = only(validate_chain(chain_rules(2), [link("r0", "r1", event_type="other")]))
    assert finding.code == "event_type" and "evt.r0" in finding.message


def test_event_type_is_the_sources_not_the_destinations() -> None:
    """A link carrying its destination's event type is wrong; its source's is right."""
    finding = only(validate_chain(chain_rules(2), [link("r0", "r1", event_type="evt.r1")]))
    assert (finding.code, finding.rule_ids) == ("event_type", ("r0", "r1"))
    assert "'evt.r1' but source rule 'r0' emits 'evt.r0'" in finding.message
    assert validate_chain(chain_rules(2), [link("r0", "r1", event_type="evt.r0")]).ok


def test_event_type_of_an_unknown_source_is_not_checked() -> None:
    """A link from a rule not in the inventory is an unknown_rule only."""
    report = validate_chain(chain_rules(2), [link("ghost", "r1"), link("r0", "r1", event_type="x")])
    assert report.codes() == ["unknown_rule", "event_type"]
    assert "links[1].event_type" in report.findings[1].message


def test_attribute_not_carried() -> None:
    """A preserved attribute the source does not carry."""
    finding = only(validate_chain(chain_rules(2), [link("r0", "r1", preserve=["a", "zz"])]))
    assert (finding.code, finding.rule_ids) == ("attribute", ("r0", "r1"))
    assert "'zz'" in finding.message


@pytest.mark.parametrize(
    "path",
    [
        "$.metadata.zz",
        "$..a",
        "$.eventType",
        "metadata.a",
        "$[",
        "",
        "$.metadata.*",
        "$.metadata.a | $.metadata.b",
        "$.payload.a",
        "$.attributes.a",
        "$.metadatas.a",
        "$['other']['a']",
    ],
)
def test_transform_problems(path: str) -> None:
    """A JSONPath that does not parse, or does not read a carried $.metadata.<key>."""
    finding = only(validate_chain(chain_rules(2), [link("r0", "r1", transform={"k": path})]))
    assert (finding.code, finding.severity) == ("transform", "error")
    assert "links[0].transform.k" in finding.message


def test_transform_reads_only_metadata() -> None:
    """`$.<x>.<key>` is not `$.metadata.<key>`, even when the source carries `<key>`."""
    finding = only(validate_chain(chain_rules(2), [link("r0", "r1", transform={"k": "$.x.a"})]))
    assert finding.code == "transform" and "must start with $.metadata" in finding.message
    assert validate_chain(chain_rules(2), [link("r0", "r1", transform={"k": "$.metadata.a"})]).ok


def test_transform_deeper_paths_are_fine() -> None:
    """Paths may go deeper than the carried key, e.g. into a list or object."""
    links = [link("r0", "r1", transform={"x": "$.metadata.a[0].id", "y": "$.metadata['b']"})]
    assert validate_chain(chain_rules(2), links).ok


def test_disabled_rule_is_a_warning() -> None:
    """A link touching a disabled rule warns but stays ok."""
    rules = [rule("r0"), rule("r1", enabled=False)]
    report = validate_chain(rules, [link("r0", "r1")])
    finding = only(report)
    assert (finding.code, finding.severity) == ("disabled_rule", "warning")
    assert report.ok and report.warnings == [finding] and report.errors == []


def test_unverified_attribute_in_triggers_dialect() -> None:
    """In the triggers dialect an unproven attribute is a warning; declared ones are proven."""
    links = [link("r0", "r1", preserve=["zz"], transform={"k": "$.metadata.yy", "bad": "$..x"})]
    report = validate_chain(chain_rules(2), links, dialect="triggers")
    assert report.codes() == ["unverified_attribute", "unverified_attribute", "transform"]
    assert [f.severity for f in report.findings] == ["warning", "warning", "error"]
    declared = validate_chain(
        chain_rules(2), links, dialect="triggers", declared_attributes={"r0": ["zz", "yy"]}
    )
    assert declared.codes() == ["transform"]
    assert validate_chain(chain_rules(2), links).codes() == ["attribute", "transform", "transform"]


def test_every_code_comes_from_the_one_table() -> None:
    """Each code is reported by some check of `CHECKS`, and no check reports another code."""
    assert {code for check in CHECKS for code in check.codes} == set(CODES)


def test_duplicates_of_unknown_and_self_links_are_still_duplicates() -> None:
    """Repeated links are duplicates whatever else is wrong with them, and count once."""
    links = [link("r0", "ghost"), link("r0", "ghost"), link("r1", "r1"), link("r1", "r1")]
    report = validate_chain(chain_rules(2), links)
    assert report.codes() == [
        "unknown_rule", "unknown_rule", "duplicate_link", "self_link", "self_link",
        "duplicate_link",
    ]  # fmt: skip
    assert report.findings[2].rule_ids == ("r0", "ghost")
    assert "links[3]: link r1 -> r1 repeats links[2]" in report.findings[5].message


def test_a_disabled_source_and_destination_give_two_warnings_in_role_order() -> None:
    """Both ends disabled: the source's warning, then the destination's, on that link."""
    rules = [rule("r0", enabled=False), rule("r1", enabled=False), rule("r2")]
    report = validate_chain(rules, [link("r2", "r0"), link("r0", "r1")])
    assert [(f.code, f.message.split(":")[0]) for f in report.findings] == [
        ("disabled_rule", "links[0]"), ("disabled_rule", "links[1]"),
        ("disabled_rule", "links[1]"),
    ]  # fmt: skip
    assert "destination rule 'r0'" in report.findings[0].message
    assert "source rule 'r0'" in report.findings[1].message
    assert "destination rule 'r1'" in report.findings[2].message


def test_every_code_is_covered() -> None:
    """The module lists exactly the codes of DESIGN §3."""
    assert set(CODES) == {
        "unknown_rule", "self_link", "duplicate_link", "cycle", "depth", "fanout",
        "event_type", "attribute", "transform", "disabled_rule", "unverified_attribute",
    }  # fmt: skip


def test_existing_dangling_action_on_a_written_rule() -> None:
    """A planned source already invoking a rule that is gone would be refused by the bus."""
    rules = [rule("r0", to=("gone",)), rule("r1")]
    finding = only(validate_chain(rules, [link("r0", "r1")]))
    assert finding.code == "unknown_rule" and finding.rule_ids == ("gone",)


def test_dangling_action_on_a_rule_the_plan_does_not_write_is_not_reported() -> None:
    """A rule already invoking a gone rule is left alone unless the plan writes it."""
    rules = [rule("r0", to=("gone",)), rule("r1"), rule("r2")]
    assert validate_chain(rules, [link("r1", "r2")]).findings == ()


# ------------------------------------------------------------ order, shape, bounds


def test_all_findings_collected_in_documented_order() -> None:
    """Per-link findings in plan order, then fanout, cycle, depth; nothing stops early."""
    rules = [rule(f"r{i}") for i in range(9)] + [rule("off", enabled=False)]
    links = [
        link("r0", "ghost"),
        link("r1", "r1"),
        link("r1", "off", event_type="nope"),
        link("r2", "r3"),
        link("r3", "r2"),
        *path_links(8)[3:],  # r3 -> r4 ... r7 -> r8
    ]
    report = validate_chain(rules, links, max_depth=3)
    assert report.codes() == [
        "unknown_rule", "self_link", "event_type", "disabled_rule", "cycle", "depth",
    ]  # fmt: skip
    assert report.findings == validate_chain(rules, links, max_depth=3).findings


def test_to_json_has_exactly_the_documented_shape() -> None:
    """`{"ok", "findings": [{"code", "severity", "rule_ids", "message"}]}`."""
    data = validate_chain(chain_rules(2), [link("r0", "r1"), link("r1", "r0")]).to_json()
    assert set(data) == {"ok", "findings"} and data["ok"] is False
    assert [set(f) for f in data["findings"]] == [{"code", "severity", "rule_ids", "message"}]
    assert data["findings"][0]["rule_ids"] == ["r0", "r1", "r0"]


def test_one_cycle_per_strongly_connected_component() -> None:
    """A complete graph on 30 rules (hundreds of cycles) yields one cycle finding."""
    rules = chain_rules(30)
    links = [
        link(f"r{i}", f"r{j}")
        for i, j in itertools.permutations(range(30), 2)
        if j - i in (1, -1, 2, -2)
    ]
    report = validate_chain(rules, links, max_fanout=100)
    assert report.codes() == ["cycle"]


def test_one_depth_per_connected_component() -> None:
    """Many too-deep paths in one component give one depth finding naming the longest."""
    rules = chain_rules(12)
    links = [*path_links(10), link("r0", "r11"), link("r11", "r5")]
    finding = only(validate_chain(rules, links, max_depth=3))
    assert finding.code == "depth" and len(finding.rule_ids) == 11


def test_ten_thousand_hop_chain() -> None:
    """A 10,000-hop chain gives a depth finding naming all 10,001 rules, no RecursionError."""
    n = 10_000
    finding = only(validate_chain(chain_rules(n + 1), path_links(n), max_depth=5))
    assert finding.code == "depth" and len(finding.rule_ids) == n + 1
    assert "10000 hops" in finding.message and len(finding.message) < 500


def test_thirty_thousand_links_with_a_cycle() -> None:
    """A 30,000-link plan around one big loop gives exactly one cycle finding (no recursion)."""
    n = 30_000
    links = [*path_links(n - 1), link(f"r{n - 1}", "r0")]
    report = validate_chain(chain_rules(n), links)
    assert report.codes() == ["cycle"] and len(report.findings[0].rule_ids) == n + 1


def test_validate_plan_applies_enabled_and_flags_unknown_settings() -> None:
    """`rules.<id>.enabled: true` silences disabled_rule; settings for a missing rule are errors."""
    rules = [rule("r0"), rule("r1", enabled=False)]
    plan = ChainPlan(links=[link("r0", "r1")], rules={"r1": RuleSettings(enabled=True)})
    assert validate_plan(plan, rules).findings == ()
    plan = ChainPlan(links=[link("r0", "r1")], rules={"nope": RuleSettings(enabled=True)})
    assert validate_plan(plan, rules).codes() == ["disabled_rule", "unknown_rule"]


# ------------------------------------------------------------------- properties


@given(cs.dag_chains(max_rules=8, max_links=14))
def test_generated_dags_have_no_cycle_and_depth_matches_networkx(chain: cs.Chain) -> None:
    """Property: a DAG never gets a cycle finding; a depth finding appears iff networkx's
    longest path through a planned link exceeds max_depth."""
    report = validate_chain(chain.rules, chain.links, max_depth=3)
    assert "cycle" not in report.codes()
    g = nx.DiGraph(chain.id_edges())
    planned = {(lk.source, lk.destination) for lk in chain.links}
    longest = 0
    for u, v in planned:
        into = max(
            (len(p) - 1 for a in nx.ancestors(g, u) for p in nx.all_simple_paths(g, a, u)),
            default=0,
        )
        out = max(
            (len(p) - 1 for d in nx.descendants(g, v) for p in nx.all_simple_paths(g, v, d)),
            default=0,
        )
        longest = max(longest, into + 1 + out)
    depth = [f for f in report.findings if f.code == "depth"]
    assert bool(depth) == (longest > 3)
    if depth:
        assert max(len(f.rule_ids) - 1 for f in depth) == longest
    assert set(report.codes()) <= {"depth"}


@given(cs.cyclic_chains())
def test_planted_cycles_are_found(chain: cs.Chain) -> None:
    """Property: a planted cycle is always reported, as a real cycle of the graph."""
    report = validate_chain(chain.rules, chain.links)
    cycles = [f for f in report.findings if f.code == "cycle"]
    assert cycles
    g = nx.DiGraph(chain.id_edges())
    for finding in cycles:
        ids = finding.rule_ids
        assert ids[0] == ids[-1]
        assert all(g.has_edge(u, v) for u, v in itertools.pairwise(ids))
    assert len(cycles) == sum(1 for c in nx.strongly_connected_components(g) if len(c) > 1)


@given(cs.deep_chains(min_hops=1, max_hops=9, existing_fraction=0.3))
def test_exactly_max_depth_passes_and_one_more_fails(chain: cs.Chain) -> None:
    """Property: a chain of exactly max_depth hops is valid; with max_depth one less it fails,
    naming the whole chain (some hops on the bus, at least one planned)."""
    assume(chain.links)  # depth concerns paths through a planned link
    hops = len(chain.edges)
    assert validate_chain(chain.rules, chain.links, max_depth=hops).ok
    finding = only(validate_chain(chain.rules, chain.links, max_depth=hops - 1))
    assert finding.code == "depth" and finding.rule_ids == tuple(chain.ids)


def test_triggers_criteria_paths_with_a_root_prove_attributes() -> None:
    """In the triggers dialect a criteria path `$.queueId` proves attribute `queueId`."""
    rules = [rule("r0", attrs=("$.queueId", "mediaType")), rule("r1")]
    links = [link("r0", "r1", preserve=["queueId", "mediaType"])]
    assert validate_chain(rules, links, dialect="triggers").findings == ()


def test_show_path_keeps_eight_rules_and_elides_the_middle_of_longer_paths() -> None:
    """Up to 8 ids joined whole; longer: the first and last 4 around a count of the rest."""
    from chainsim.validate import show_path

    ids = [f"r{i}" for i in range(12)]
    assert show_path(ids[:8]) == " -> ".join(ids[:8])
    assert show_path(ids[:9]) == "r0 -> r1 -> r2 -> r3 -> ... (1 more) -> r5 -> r6 -> r7 -> r8"
    assert show_path(ids) == "r0 -> r1 -> r2 -> r3 -> ... (4 more) -> r8 -> r9 -> r10 -> r11"
    assert show_path(ids, limit=4) == "r0 -> r1 -> ... (8 more) -> r10 -> r11"


def test_validate_plan_allows_five_destinations_per_rule_by_default() -> None:
    """Without `max_fanout`, a rule may invoke 5 rules; a sixth is a `fanout` error."""
    targets = [f"t{i}" for i in range(6)]
    rules = [rule("s"), *(rule(t) for t in targets)]
    five = ChainPlan(links=[link("s", t) for t in targets[:5]])
    six = ChainPlan(links=[link("s", t) for t in targets])
    assert "fanout" not in validate_plan(five, rules).codes()
    assert "fanout" in validate_plan(six, rules).codes()


# ------------------------------------------------- exact findings a user sees (part 4)


def seen(report: ValidationReport) -> list[tuple[str, str, tuple[str, ...], str]]:
    """Each finding as (code, severity, rule_ids, message)."""
    return [(f.code, f.severity, f.rule_ids, f.message) for f in report.findings]


def test_unknown_rule_and_self_link_messages() -> None:
    """Unknown sources/destinations and self-links read exactly as documented."""
    links = [link("ghost", "r0"), link("r0", "gone"), link("r1", "r1"), link("g1", "g2")]
    fix = "is not in the inventory; create it first or fix the id"
    assert seen(validate_chain(chain_rules(2), links)) == [
        ("unknown_rule", "error", ("ghost",), f"links[0].source: rule 'ghost' {fix}"),
        ("unknown_rule", "error", ("gone",), f"links[1].destination: rule 'gone' {fix}"),
        (
            "self_link",
            "error",
            ("r1",),
            "links[2]: rule 'r1' would invoke itself; remove this link",
        ),
        ("unknown_rule", "error", ("g1",), f"links[3].source: rule 'g1' {fix}"),
        ("unknown_rule", "error", ("g2",), f"links[3].destination: rule 'g2' {fix}"),
    ]


def test_duplicate_link_and_event_type_are_errors() -> None:
    """A repeated link and a wrong event type are errors with the documented text."""
    links = [link("r0", "r1"), link("r0", "r1"), link("r1", "r2", event_type="x")]
    assert seen(validate_chain(chain_rules(3), links)) == [
        (
            "duplicate_link",
            "error",
            ("r0", "r1"),
            "links[1]: link r0 -> r1 repeats links[0]; merge them into one link",
        ),
        (
            "event_type",
            "error",
            ("r1", "r2"),
            "links[2].event_type: 'x' but source rule 'r1' emits 'evt.r1'; "
            "set event_type to 'evt.r1'",
        ),
    ]


def test_event_type_checked_beside_an_unknown_source() -> None:
    """A matching event type of a known source stays silent when another source is unknown."""
    report = validate_chain(chain_rules(2), [link("ghost", "r1"), link("r0", "r1")])
    assert report.codes() == ["unknown_rule"]


def test_attribute_and_transform_messages() -> None:
    """Missing preserved and transformed attributes, and a bad JSONPath, read exactly."""
    links = [link("r0", "r1", preserve=["zz"], transform={"k": "$.metadata.yy", "bad": "$["})]
    found = seen(validate_chain(chain_rules(2), links))
    tail = "which source rule 'r0' does not carry; add it to the source's filters.attributes or"
    assert found[:2] == [
        (
            "attribute",
            "error",
            ("r0", "r1"),
            f"links[0].preserve: attribute 'zz', {tail} stop preserving it",
        ),
        (
            "transform",
            "error",
            ("r0", "r1"),
            f"links[0].transform.k: JSONPath '$.metadata.yy' reads attribute 'yy', {tail} "
            "read another attribute",
        ),
    ]
    code, severity, ids, message = found[2]
    assert (code, severity, ids) == ("transform", "error", ("r0", "r1"))
    assert message.startswith("links[0].transform.bad: ")
    assert message.endswith("; read a carried attribute, e.g. $.metadata.<attribute>")


def test_unverified_attribute_messages() -> None:
    """In the triggers dialect the warnings name the place, attribute and where to declare it."""
    links = [link("r0", "r1", preserve=["zz"], transform={"k": "$.metadata.yy"})]
    tail = (
        "which is not proven for trigger 'r0' (no criteria reads it, the plan does not "
        "declare it); if its topic carries it, declare it under rules.r0.attributes in the plan"
    )
    assert seen(validate_chain(chain_rules(2), links, dialect="triggers")) == [
        (
            "unverified_attribute",
            "warning",
            ("r0", "r1"),
            f"links[0].preserve: attribute 'zz', {tail}",
        ),
        (
            "unverified_attribute",
            "warning",
            ("r0", "r1"),
            f"links[0].transform.k: JSONPath '$.metadata.yy' reads attribute 'yy', {tail}",
        ),
    ]


def test_attributes_checked_past_unknown_and_carried_links() -> None:
    """An unknown source's or a fully carried link does not stop later links' attribute checks."""
    links = [
        link("ghost", "r1", preserve=["a"]),
        link("r0", "r1", preserve=["a"]),
        link("r1", "r2", preserve=["zz"]),
        link("r0", "r2", transform={"k": "$.metadata.zz"}),
    ]
    report = validate_chain(chain_rules(3), links)
    assert report.codes() == ["unknown_rule", "attribute", "transform"]
    assert [f.rule_ids for f in report.findings[1:]] == [("r1", "r2"), ("r0", "r2")]


def test_dangling_action_message() -> None:
    """A written rule already invoking a rule not in the inventory is an exact unknown_rule."""
    rules = [rule("r0", to=("gone",)), rule("r1")]
    assert seen(validate_chain(rules, [link("r0", "r1")])) == [
        (
            "unknown_rule",
            "error",
            ("gone",),
            "rule 'r0' already invokes 'gone', which is not in the inventory; "
            "the bus will refuse the update until that action is removed",
        )
    ]


def test_fanout_message_and_rules_the_plan_does_not_write() -> None:
    """Only a written rule over max_fanout is reported, exactly; an unwritten one is skipped."""
    rules = [rule("r0", to=("r2", "r3", "r4")), *(rule(f"r{i}") for i in range(1, 5))]
    links = [link("r1", "r2"), link("r1", "r3"), link("r1", "r4")]
    assert seen(validate_chain(rules, links, max_fanout=2)) == [
        (
            "fanout",
            "error",
            ("r1", "r2", "r3", "r4"),
            "rule 'r1' would invoke 3 rules, more than max_fanout 2: r2, r3, r4; "
            "route some of them through an intermediate rule",
        )
    ]


def test_fanout_counts_unknown_targets_after_an_unknown_source() -> None:
    """Unknown targets count towards fan-out even after a link from an unknown source."""
    links = [link("ghost", "r1"), link("r0", "gone1"), link("r0", "gone2")]
    report = validate_chain(chain_rules(2), links, max_fanout=1)
    assert report.codes()[-1] == "fanout"
    assert report.findings[-1].rule_ids == ("r0", "gone1", "gone2")


def test_fanout_counts_a_repeated_link_once() -> None:
    """A link repeated beside an unknown target counts once towards fan-out."""
    links = [link("r0", "r1"), link("r0", "r1"), link("r0", "ghost")]
    report = validate_chain(chain_rules(2), links, max_fanout=2)
    assert report.codes() == ["duplicate_link", "unknown_rule"]


def test_cycle_messages() -> None:
    """A planned cycle has no bus origin; a bus-closed one names its first three bus links."""
    planned = validate_chain(chain_rules(2), [link("r0", "r1"), link("r1", "r0")])
    assert seen(planned) == [
        (
            "cycle",
            "error",
            ("r0", "r1", "r0"),
            "cycle r0 -> r1 -> r0: these rules would invoke each other forever; "
            "remove one of the links",
        )
    ]
    rules = [rule("r0"), rule("r1", to=("r2",)), rule("r2", to=("r3",))]
    rules += [rule("r3", to=("r4",)), rule("r4", to=("r0",))]
    message = only(validate_chain(rules, [link("r0", "r1")])).message
    assert message == (
        "cycle r0 -> r1 -> r2 -> r3 -> r4 -> r0 (closed by existing bus link r1 -> r2, "
        "r2 -> r3, r3 -> r4): these rules would invoke each other forever; remove one of the links"
    )


def test_depth_is_an_error_and_the_default_limit_is_five() -> None:
    """validate_chain's default max_depth is 5: six hops are a depth error."""
    assert validate_chain(chain_rules(6), path_links(5)).ok
    finding = only(validate_chain(chain_rules(7), path_links(6)))
    assert (finding.code, finding.severity) == ("depth", "error")


def test_repeated_inventory_id_last_one_wins() -> None:
    """An inventory listing one id twice is validated with the last copy."""
    rules = [rule("r0"), rule("r0", eventType="evt.new"), rule("r1")]
    assert validate_chain(rules, [link("r0", "r1", event_type="evt.new")]).ok
    finding = only(validate_chain(rules, [link("r0", "r1")]))
    assert finding.code == "event_type" and "emits 'evt.new'" in finding.message


def test_validate_plan_passes_its_options_on() -> None:
    """validate_plan honours dialect, max_fanout, the plan's max_depth and declared attributes."""
    rules = chain_rules(4)
    plan = ChainPlan(links=[link("r0", "r1", preserve=["zz"])])
    assert validate_plan(plan, rules).codes() == ["attribute"]
    assert validate_plan(plan, rules, dialect="triggers").codes() == ["unverified_attribute"]
    assert validate_plan(plan, rules, dialect="triggers", declared_attributes={"r0": ["zz"]}).ok
    declared = ChainPlan(links=plan.links, rules={"r0": RuleSettings(attributes=["zz"])})
    assert validate_plan(declared, rules, dialect="triggers").findings == ()
    assert validate_plan(
        declared, rules, dialect="triggers", declared_attributes={"r0": []}
    ).codes() == ["unverified_attribute"]
    fan = ChainPlan(links=[link("r0", "r1"), link("r0", "r2")])
    assert validate_plan(fan, rules).ok
    assert validate_plan(fan, rules, max_fanout=1).codes() == ["fanout"]
    deep = ChainPlan(max_depth=2, links=path_links(3))
    assert validate_plan(deep, rules).codes() == ["depth"]


def test_validate_plan_unknown_settings_message() -> None:
    """Settings for a rule not in the inventory are an exact unknown_rule, listed last."""
    plan = ChainPlan(links=[link("r0", "r1")], rules={"nope": RuleSettings(enabled=True)})
    assert seen(validate_plan(plan, chain_rules(2))) == [
        (
            "unknown_rule",
            "error",
            ("nope",),
            "rules.nope: rule 'nope' is not in the inventory; create it first or fix the id",
        )
    ]


def test_validate_plan_checks_links_derived_through_workflows() -> None:
    """A loop made only by `workflows:` (no `links:`) is found as a cycle."""
    from chainsim.bus.genesys import trigger_to_rule

    topic = "v2.detail.events.conversation.{id}.attributes"
    wire = {"id": "sync", "name": "SYNC", "topicName": topic, "enabled": True}
    rules = [trigger_to_rule({**wire, "target": {"type": "Workflow", "id": "wf"}})]
    plan = ChainPlan.model_validate({"workflows": {"wf": {"emits": [{"topic": topic}]}}})
    report = validate_plan(plan, rules, dialect="triggers")
    assert report.codes() == ["cycle"] and report.findings[0].rule_ids == ("sync", "sync")


def test_only_invoke_rule_actions_are_bus_links() -> None:
    """An action of another type naming a rule is not a bus link (no cycle through it)."""
    rules = [rule("r0", actions=[{"type": "sendEmail", "ruleId": "r1"}]), rule("r1")]
    assert validate_chain(rules, [link("r1", "r0")]).ok


def test_dangling_action_with_an_empty_rule_id() -> None:
    """An `invokeRule` action naming the empty id is reported as invoking ''."""
    rules = [rule("r0", actions=[{"type": "invokeRule", "ruleId": ""}]), rule("r1")]
    finding = only(validate_chain(rules, [link("r0", "r1")]))
    assert finding.rule_ids == ("",) and finding.message.startswith("rule 'r0' already invokes ''")


def test_repeated_inventory_id_first_copy_adds_no_bus_link() -> None:
    """The bus actions of an overridden first copy of an id do not lengthen a path."""
    links = [link("r1", "r2"), link("r2", "r3")]
    inventory = [rule("r0", to=("r1",)), *chain_rules(4)[1:]]
    assert validate_chain(inventory, links, max_depth=2).codes() == ["depth"]
    assert validate_chain([inventory[0], *chain_rules(4)], links, max_depth=2).ok


def test_transform_reading_the_empty_key_names_it() -> None:
    """A transform reading `$.metadata['']` that is not carried names attribute ''."""
    finding = only(
        validate_chain(chain_rules(2), [link("r0", "r1", transform={"k": "$.metadata['']"})])
    )
    assert "reads attribute '', which source rule 'r0' does not carry" in finding.message


def test_bad_jsonpath_found_when_the_source_carries_the_empty_attribute() -> None:
    """An unparsable JSONPath is reported even if the source carries an attribute ''."""
    rules = [rule("r0", attrs=("a", "")), rule("r1")]
    finding = only(validate_chain(rules, [link("r0", "r1", transform={"k": "$["})]))
    assert finding.code == "transform" and "invalid JSONPath '$['" in finding.message

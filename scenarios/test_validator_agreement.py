"""Certifies that chainsim's validator and the bus agree: a plan the validator passes is
accepted and applied; a plan it refuses is never written. On the EventBridge dialect the
bus enforces the chain constraints itself, and writing each refused link directly must
be refused by the bus with the status the finding predicts (422 graph, 400 attributes);
those direct writes run in the EventBridge dialect only (triggers carry no links).
"""

from __future__ import annotations

import pytest

from chainsim.model import ChainLink
from chainsim.testing import only_dialects

pytestmark = pytest.mark.chainsim_live_safe

# case -> (chain spec, extra links as (source, destination), finding code, bus status)
CASES = {
    "cycle": ("A->B->C", [("C", "A")], "cycle", 422),
    "self_link": ("A->B", [("B", "B")], "self_link", 422),
    "too_deep": ("A->B->C->D->E->F", [("F", "G")], "depth", 422),
    "fanout": ("A->B, A->C, A->D, A->E, A->F", [("A", "G")], "fanout", 422),
}


def test_a_valid_chain_is_accepted_and_realised(orchestrator, chain_factory):
    """A five-hop chain (exactly max_depth) validates, applies, and every link is on the bus."""
    chain = chain_factory("A->B->C->D->E->F")
    plan = chain.plan()
    report = orchestrator.validate(plan, chain_factory.bus_rules())
    assert report.ok, report.findings

    result = orchestrator.apply(plan)

    assert result.status == "applied", result.to_report()
    assert chain.missing_links(chain_factory.bus_rules()) == []


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_refused_plan_changes_nothing(case, orchestrator, chain_factory):
    """A plan with a constraint violation is refused with its finding; the bus is untouched."""
    spec, extra, code, _ = CASES[case]
    chain = chain_factory(spec + ", G")
    links = chain.links + [_link(chain, s, d) for s, d in extra]
    plan = chain.plan(links=[link.model_dump() for link in links])
    before = {r.id: r.version for r in chain_factory.bus_rules()}

    result = orchestrator.apply(plan)

    assert result.status == "failed"
    assert code in {f["code"] for f in result.findings}
    assert {r.id: r.version for r in chain_factory.bus_rules()} == before


@only_dialects("eventbridge")  # triggers carry no links: the org has no chain constraints
@pytest.mark.parametrize("case", sorted(CASES))
def test_the_bus_refuses_what_the_validator_refuses(
    case, orchestrator, chain_factory, chainsim_bus
):
    """Written directly (no chainsim checks), the refused link gets the predicted 4xx."""
    from chainsim.bus.base import BusError

    spec, extra, code, status = CASES[case]
    chain = chain_factory(spec + ", G", linked=True)
    (source, destination), *_ = extra
    rule = chain_factory.retry(lambda: chainsim_bus.get_rule(chain[source]))
    link = _link(chain, source, destination)
    report = orchestrator.validate(chain.plan(links=[link.model_dump()]), chain_factory.bus_rules())
    assert code in report.codes()

    rule.actions.append(link.to_action())
    with pytest.raises(BusError) as caught:
        chain_factory.retry(lambda: chainsim_bus.put_rule(rule))
    assert caught.value.status == status


@only_dialects("eventbridge")  # triggers: an unproven attribute is a warning, not checkable
@pytest.mark.parametrize(
    "case, code",
    [("attribute", "attribute"), ("transform", "transform")],
)
def test_attribute_findings_match_a_400(case, code, orchestrator, chain_factory, chainsim_bus):
    """A preserved attribute or transform path the source lacks: finding, and a 400 on write."""
    from chainsim.bus.base import BadRequest

    chain = chain_factory("A->B", attributes=["conversationId"], linked=False)
    link = chain.links[0]
    if case == "attribute":
        link = link.model_copy(update={"preserve": ["wrapUpCode"]})
    else:
        link = link.model_copy(update={"transform": {"code": "$.metadata.wrapUpCode"}})
    report = orchestrator.validate(chain.plan(links=[link.model_dump()]), chain_factory.bus_rules())
    assert code in report.codes()

    rule = chain_factory.retry(lambda: chainsim_bus.get_rule(chain["A"]))
    rule.actions.append(link.to_action())
    with pytest.raises(BadRequest):
        chain_factory.retry(lambda: chainsim_bus.put_rule(rule))


def _link(chain, source: str, destination: str) -> ChainLink:
    return ChainLink(
        source=chain[source],
        destination=chain[destination],
        event_type=chain.rules[source].event_type,
        preserve=["conversationId"],
    )

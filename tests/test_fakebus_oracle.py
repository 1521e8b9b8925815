"""The validator is an exact oracle of the fake bus's write constraints (DESIGN §4).

The bus implements its constraints on its own (chainsim.fakebus.state never imports
the validator); this property checks the two agree. A plan is written to the bus the
way the orchestrator writes it: one PUT per source rule, its planned links merged into
its existing actions (a planned link replaces an existing action to the same
destination). The stores generated are ones the bus itself could hold: acyclic, no
path longer than the bus's max_depth, at most five links per rule (a store seeded with
a cycle or an over-long path is out of scope: see the state module's docstring).
"""

from __future__ import annotations

from typing import Any

import httpx
from hypothesis import event, given, note
from hypothesis import strategies as st

from chainsim.fakebus import DEFAULT_API_HOST, FakeBus
from chainsim.model import ChainLink, Rule
from chainsim.validate import validate_chain

RULES = "/api/v2/eventbridge/rules"
ATTRS = ("a", "b", "c")
ENFORCED_400 = {"attribute", "transform"}
ENFORCED_422 = {"unknown_rule", "self_link", "cycle", "depth", "fanout"}
PATHS = (
    "$.metadata.a",
    "$.metadata.b",
    "$.metadata.c",
    "$.metadata.a.deep",
    "$['metadata']['b']",
    "$.eventType",
    "$.metadata",
    "$..a",
    "$.metadata.*",
    "$.metadata.[[",
    "metadata.a",
)


def _longest_path(n: int, edges: set[tuple[int, int]]) -> int:
    """Longest path (hops) in a DAG whose edges all go from lower to higher index."""
    best = [0] * n
    for u in range(n - 1, -1, -1):
        best[u] = max((best[v] + 1 for (s, v) in edges if s == u), default=0)
    return max(best, default=0)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[ChainLink], int]:
    """An inventory the bus could hold, a plan against it, and the bus's max_depth."""
    n = draw(st.integers(2, 9))
    ids = [f"r{i}" for i in range(n)]
    carried = {rid: sorted(draw(st.sets(st.sampled_from(ATTRS)))) for rid in ids}
    max_depth = draw(st.integers(1, 5))
    edges: set[tuple[int, int]] = set()
    for u, v in draw(
        st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=12)
    ):
        if u < v and sum(1 for s, _ in edges if s == u) < 5:
            trial = edges | {(u, v)}
            if _longest_path(n, trial) <= max_depth:
                edges = trial
    inventory = []
    for u, rid in enumerate(ids):
        actions: list[dict[str, Any]] = []
        for s, v in sorted(edges):
            if s == u:
                keep = draw(st.sets(st.sampled_from(carried[rid] or ["-"])))
                actions.append(
                    {
                        "type": "invokeRule",
                        "ruleId": ids[v],
                        "preservedAttributes": sorted(keep - {"-"}),
                        "payloadTransformation": {
                            f"x{k}": f"$.metadata.{k}" for k in sorted(keep - {"-"})
                        },
                    }
                )
        if draw(st.booleans()):
            actions.append({"type": "notify", "target": "somewhere"})
        inventory.append(
            {
                "id": rid,
                "eventType": f"type.{rid}",
                "enabled": draw(st.booleans()),
                "filters": {"attributes": carried[rid]},
                "actions": actions,
            }
        )
    hub = draw(st.sampled_from(ids))
    known = st.sampled_from(ids)
    pairs: dict[tuple[str, str], None] = {}
    if draw(st.integers(0, 4)) == 0:  # a hub fanning out to many rules
        others = [i for i in ids if i != hub]
        for d in draw(st.lists(st.sampled_from(others), min_size=min(4, n - 1), unique=True)):
            pairs[(hub, d)] = None
    for _ in range(draw(st.integers(1, 6))):
        source = draw(st.sampled_from([hub, *ids, *ids, "nope"]))
        if draw(st.integers(0, 9)) == 0:
            dest = draw(st.sampled_from([source, "ghost"]))
        else:
            dest = draw(known.filter(lambda d, s=source: d != s)) if n > 1 else source
        pairs[(source, dest)] = None
    links = []
    for s, d in pairs:
        own = carried.get(s, [])
        if draw(st.integers(0, 3)):  # mostly links whose attributes the source carries
            preserve = sorted(draw(st.sets(st.sampled_from(own)))) if own else []
            choices = [f"$.metadata.{k}" for k in own]
        else:
            preserve = sorted(draw(st.sets(st.sampled_from(ATTRS), max_size=2)))
            choices = list(PATHS)
        transform = (
            draw(st.dictionaries(st.sampled_from(["p", "q"]), st.sampled_from(choices), max_size=2))
            if choices
            else {}
        )
        links.append(
            ChainLink(
                source=s,
                destination=d,
                event_type=f"type.{s}",
                preserve=preserve,
                transform=transform,
            )
        )
    return inventory, links, max_depth


def _write_plan(bus: FakeBus, links: list[ChainLink]) -> list[int]:
    """PUT each planned source with its links merged in; the statuses, in write order."""
    http = httpx.Client(transport=httpx.MockTransport(bus.handler), base_url=DEFAULT_API_HOST)
    token = http.post(
        "/oauth/token",
        auth=("chainsim", "chainsim-secret"),
        data={"grant_type": "client_credentials"},
    ).json()["access_token"]
    http.headers["Authorization"] = f"Bearer {token}"
    statuses = []
    for source in dict.fromkeys(link.source for link in links):
        got = http.get(f"{RULES}/{source}")
        if got.status_code != 200:
            statuses.append(got.status_code)
            continue
        stored = got.json()
        planned = [link for link in links if link.source == source]
        replaced = {link.destination for link in planned}
        actions = [a for a in stored["actions"] if a.get("ruleId") not in replaced]
        actions += [link.to_action().to_wire() for link in planned]
        statuses.append(
            http.put(f"{RULES}/{source}", json={**stored, "actions": actions}).status_code
        )
    return statuses


@given(scenarios())
def test_bus_accepts_a_plan_iff_the_validator_finds_no_enforced_error(
    scenario: tuple[list[dict[str, Any]], list[ChainLink], int],
) -> None:
    """Property: every write succeeds exactly when validate_chain reports no error among
    the codes the bus enforces; 400-only findings give 400s, 422-only findings 422/404s."""
    inventory, links, max_depth = scenario
    report = validate_chain(
        [Rule.model_validate(r) for r in inventory], links, max_depth=max_depth, max_fanout=5
    )
    enforced = {f.code for f in report.findings if f.severity == "error"} & (
        ENFORCED_400 | ENFORCED_422
    )
    bus = FakeBus(max_depth=max_depth)
    bus.seed_rules(inventory)
    statuses = _write_plan(bus, links)
    note(f"findings={report.codes()} statuses={statuses}")
    for code in sorted(enforced) or ["none (accepted)"]:
        event(f"enforced: {code}")
    assert all(200 <= s < 300 for s in statuses) == (not enforced)
    refused = {s for s in statuses if s >= 300}
    if enforced and enforced <= ENFORCED_400:
        assert refused == {400}
    if enforced and enforced <= ENFORCED_422:
        assert refused <= {404, 422}

"""The graph core: SCCs, cycles, longest paths through planned edges, weak components."""

from __future__ import annotations

import itertools

import networkx as nx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chainsim.graph import (
    Graph,
    analyse,
    build_graph,
    cycle_path,
    deepest_planned_paths,
    strongly_connected_components,
    weak_components,
)


def graph_of(n: int, old: list[tuple[int, int]], new: list[tuple[int, int]]) -> Graph:
    return Graph.from_edges([f"r{i}" for i in range(n)], old, new)


def test_build_graph_orders_nodes_and_merges_duplicates() -> None:
    """Nodes keep input order, new ids follow; a planned edge already on the bus is kept once."""
    graph = build_graph(["a", "b"], [("a", "b"), ("a", "b")], [("a", "b"), ("b", "c"), ("b", "c")])
    assert graph.ids == ["a", "b", "c"]
    assert list(graph.old[0]) == [] and graph.new[0] == [1]
    assert graph.new == [[1], [2], []]
    assert [list(successors) for successors in graph.old] == [[], [], []]


def test_tarjan_is_iterative_on_a_long_cycle() -> None:
    """A 20,000-node ring is one SCC and needs no recursion."""
    n = 20_000
    succ = [[(i + 1) % n] for i in range(n)]
    components = strongly_connected_components(succ)
    assert len(components) == 1 and sorted(components[0]) == list(range(n))


def test_cycle_path_of_self_loop_and_two_cycle() -> None:
    """A self-loop closes as [a, a]; a 2-cycle as [a, b, a], starting at the lowest node."""
    assert cycle_path([[0]], [0]) == [0, 0]
    assert cycle_path([[1], [0]], [1, 0]) == [0, 1, 0]


def test_analyse_reports_one_cycle_per_scc() -> None:
    """Two separate cycles, one of them with two loops inside, give exactly two cycle paths."""
    # 0<->1, 1->2->0 (one SCC); 3->4->3 (another); 5 self-loop; 6 hangs off the first
    graph = graph_of(7, [(0, 1), (1, 0), (1, 2), (2, 0), (3, 4)], [(4, 3), (5, 5), (2, 6)])
    cycles = analyse(graph).cycles
    assert cycles == [[0, 1, 0], [3, 4, 3], [5, 5]]
    # ordered by first node, whatever the second
    assert analyse(graph_of(4, [(0, 3), (3, 0)], [(1, 2), (2, 1)])).cycles == [[0, 3, 0], [1, 2, 1]]


def test_cycles_closed_by_bus_edges_are_found() -> None:
    """A cycle through bus edges counts: bus-only, bus-closed, and a bus self-loop."""
    # 0 -> 1 planned, 1 -> 0 on the bus; 2 -> 3 -> 2 on the bus only; 4 self-loop on the bus
    graph = graph_of(6, [(1, 0), (2, 3), (3, 2), (4, 4)], [(0, 1), (4, 5)])
    assert analyse(graph).cycles == [[0, 1, 0], [2, 3, 2], [4, 4]]
    # the same planned edges with the bus edges reversed close nothing
    graph = graph_of(6, [(0, 2), (2, 3)], [(0, 1), (4, 5)])
    assert analyse(graph).cycles == []


def test_depth_skips_nodes_on_cycles() -> None:
    """Longest paths are measured on the DAG left after removing cyclic SCCs."""
    # 0 -> 1 -> 2 <-> 3 -> 4 -> 5 -> 6: through the cycle this would be 6 hops
    graph = graph_of(7, [(2, 3), (3, 2), (1, 2), (3, 4)], [(0, 1), (4, 5), (5, 6)])
    analysis = analyse(graph)
    assert analysis.into[2] == -1 and analysis.into[3] == -1
    assert analysis.into[4] == 0  # its only predecessor lies on the cycle
    assert deepest_planned_paths(graph, analysis) == [[4, 5, 6]]


def test_longest_planned_path_needs_a_planned_edge() -> None:
    """A long chain of bus edges does not count unless a planned edge lies on the path."""
    old = [(i, i + 1) for i in range(6)]  # 0..6 on the bus
    graph = graph_of(9, old, [(7, 8)])
    assert deepest_planned_paths(graph) == [[7, 8]]
    graph = graph_of(8, old, [(6, 7)])
    assert deepest_planned_paths(graph) == [list(range(8))]


def test_deepest_paths_filter_and_group_by_component() -> None:
    """Only paths longer than the bound are returned, one per weakly connected component."""
    graph = graph_of(7, [], [(0, 1), (1, 2), (2, 3), (4, 5), (5, 6)])
    assert deepest_planned_paths(graph, longer_than=2) == [[0, 1, 2, 3]]
    assert deepest_planned_paths(graph, longer_than=1) == [[0, 1, 2, 3], [4, 5, 6]]
    assert deepest_planned_paths(graph, longer_than=3) == []


def test_ten_thousand_hop_chain_has_no_recursion_limit() -> None:
    """A 10,000-hop chain is measured end to end."""
    n = 10_001
    graph = graph_of(n, [], [(i, i + 1) for i in range(n - 1)])
    (path,) = deepest_planned_paths(graph)
    assert len(path) == n and path[0] == 0 and path[-1] == n - 1


def test_weak_components_join_both_directions() -> None:
    """Edges join components regardless of direction."""
    graph = graph_of(5, [(1, 0)], [(2, 1), (3, 4)])
    labels = weak_components(graph)
    assert labels[0] == labels[1] == labels[2] != labels[3] == labels[4]


# ----------------------------------------------------------------- networkx oracle


@st.composite
def small_graphs(draw: st.DrawFn, acyclic: bool | None = None) -> tuple[int, list, list]:
    n = draw(st.integers(1, 10))
    pair = st.tuples(st.integers(0, n - 1), st.integers(0, n - 1))
    if acyclic:
        pair = pair.filter(lambda p: p[0] < p[1])
    edges = draw(st.lists(pair, max_size=25, unique=True))
    planned = draw(st.lists(st.booleans(), min_size=len(edges), max_size=len(edges)))
    old = [e for e, p in zip(edges, planned, strict=True) if not p]
    new = [e for e, p in zip(edges, planned, strict=True) if p]
    return n, old, new


def nx_graph(n: int, edges: list[tuple[int, int]]) -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    g.add_edges_from(edges)
    return g


@given(small_graphs())
def test_cycles_agree_with_networkx(case: tuple[int, list, list]) -> None:
    """Property: a cycle is found iff networkx says the graph is not a DAG, one per cyclic SCC."""
    n, old, new = case
    g = nx_graph(n, old + new)
    cycles = analyse(graph_of(n, old, new)).cycles
    assert (not cycles) == nx.is_directed_acyclic_graph(g)
    cyclic_sccs = [
        c for c in nx.strongly_connected_components(g) if len(c) > 1 or g.has_edge(*[*c, *c][:2])
    ]
    assert len(cycles) == len(cyclic_sccs)
    for path in cycles:
        assert path[0] == path[-1]
        assert all(g.has_edge(u, v) for u, v in itertools.pairwise(path))


@given(small_graphs(acyclic=True))
def test_longest_path_agrees_with_networkx(case: tuple[int, list, list]) -> None:
    """Property: on a DAG, the longest path anywhere equals networkx's dag_longest_path_length."""
    n, old, new = case
    g = nx_graph(n, old + new)
    analysis = analyse(graph_of(n, old, new))
    assert max(analysis.into) == nx.dag_longest_path_length(g)
    end = max(range(n), key=lambda v: analysis.into[v])
    path = analysis.longest_path(end)
    assert len(path) - 1 == analysis.into[end]
    assert all(g.has_edge(u, v) for u, v in itertools.pairwise(path))


@given(small_graphs(acyclic=True))
def test_deepest_planned_path_agrees_with_brute_force(case: tuple[int, list, list]) -> None:
    """Property: per component, the reported path is a longest path that uses a planned edge."""
    n, old, new = case
    g = nx_graph(n, old + new)
    planned = set(new)
    best: dict[frozenset, int] = {}
    component_of = {v: frozenset(c) for c in nx.weakly_connected_components(g) for v in c}
    for s, t in itertools.permutations(range(n), 2):
        for path in nx.all_simple_paths(g, s, t):
            if any(e in planned for e in itertools.pairwise(path)):
                comp = component_of[s]
                best[comp] = max(best.get(comp, 0), len(path) - 1)
    found = deepest_planned_paths(graph_of(n, old, new))
    assert len(found) == len(best)
    for path in found:
        assert any(e in planned for e in itertools.pairwise(path))
        assert all(g.has_edge(u, v) for u, v in itertools.pairwise(path))
        assert len(path) - 1 == best[component_of[path[0]]]


def test_from_edges_with_distinct_planned_edges_builds_the_same_graph() -> None:
    """`distinct=True` (planned has no duplicates) gives the graph the deduplicating path gives."""
    ids = ["a", "b", "c"]
    planned = [(0, 1), (1, 2), (0, 2)]
    graph = Graph.from_edges(ids, [(2, 0)], iter(planned), distinct=True)
    assert graph.new == [[1, 2], [2], []]
    assert [list(s) for s in graph.old] == [[], [], [0]]
    assert graph == Graph.from_edges(ids, [(2, 0)], planned)


def test_a_planned_path_continuing_over_bus_edges_from_node_zero() -> None:
    """A planned edge into node 0 then bus edges on: the path keeps node 0 and its planned edge."""
    # 1 -> 0 planned; 3 -> 4 -> 0 -> 2 on the bus: the longest path into 0 is all bus edges,
    # but the longest planned one ending at 2 is 1 -> 0 -> 2
    graph = graph_of(5, [(3, 4), (4, 0), (0, 2)], [(1, 0)])
    assert deepest_planned_paths(graph) == [[1, 0, 2]]


def test_weak_components_of_a_node_with_several_successors() -> None:
    """A node linking to two lower nodes joins all three into the lowest one's component."""
    graph = graph_of(4, [], [(2, 0), (2, 1), (3, 3)])
    assert weak_components(graph) == [0, 0, 0, 3]
    graph = graph_of(4, [(3, 1), (3, 0)], [(2, 1)])
    assert weak_components(graph) == [0, 0, 0, 0]


def test_equally_long_paths_resolve_to_the_earliest_node() -> None:
    """Of equally long paths, the one through the earlier node (input order) is reported."""
    # bus edges 0 -> 2 and 1 -> 2 tie before the planned 2 -> 3
    assert deepest_planned_paths(graph_of(4, [(0, 2), (1, 2)], [(2, 3)])) == [[0, 2, 3]]
    # planned 0 -> 2 and 1 -> 2 tie before the planned 2 -> 3 (a bus edge elsewhere)
    graph = graph_of(6, [(4, 5)], [(0, 2), (1, 2), (2, 3)])
    assert deepest_planned_paths(graph) == [[0, 2, 3]]
    # planned 0 -> 2 and 1 -> 2 tie before the bus edge 2 -> 3
    graph = graph_of(6, [(2, 3), (4, 5)], [(0, 2), (1, 2)])
    assert deepest_planned_paths(graph) == [[0, 2, 3]]
    # two planned paths 0 -> 1 and 2 -> 3 tie into 4 over bus edges
    graph = graph_of(5, [(1, 4), (3, 4)], [(0, 1), (2, 3)])
    assert deepest_planned_paths(graph) == [[0, 1, 4]]
    # planned only: 0 -> 2 and 1 -> 2 tie before 2 -> 3
    assert deepest_planned_paths(graph_of(4, [], [(0, 2), (1, 2), (2, 3)])) == [[0, 2, 3]]
    # diamonds 0 -> 1 -> 3 and 0 -> 2 -> 3: the way through 1, whichever kind the edges are
    diamond = [(0, 1), (0, 2), (1, 3), (2, 3)]
    assert deepest_planned_paths(graph_of(5, diamond, [(3, 4)])) == [[0, 1, 3, 4]]
    assert deepest_planned_paths(graph_of(5, [], [*diamond, (3, 4)])) == [[0, 1, 3, 4]]
    graph = graph_of(7, [(5, 6)], [*diamond, (3, 4)])
    assert deepest_planned_paths(graph) == [[0, 1, 3, 4]]


def test_tarjan_restricted_to_some_nodes_visits_only_those() -> None:
    """With `nodes` (closed under successors), only their components come out."""
    succ = [[1], [0], [3], [2, 4], []]
    assert strongly_connected_components(succ, [2, 3, 4]) == [[4], [3, 2]]
    assert len(strongly_connected_components(succ)) == 3


def test_cycle_path_refuses_a_component_without_a_cycle() -> None:
    """An acyclic component breaks the caller's contract: a ValueError says so."""
    with pytest.raises(ValueError, match=r"^component holds no cycle$"):
        cycle_path([[1], []], [0, 1])


def test_a_graph_of_planned_edges_only_reads_every_path_as_planned() -> None:
    """Without bus edges `into_planned` is `into` (0 where no path ends), as documented."""
    analysis = analyse(graph_of(4, [], [(0, 1), (1, 2)]))
    assert analysis.all_planned is True
    assert analysis.into_planned == analysis.into == [0, 1, 2, 0]
    analysis = analyse(graph_of(4, [(2, 3)], [(0, 1), (1, 2)]))
    assert analysis.all_planned is False
    assert analysis.into_planned == [-1, 1, 2, 3]


def test_equally_deep_ends_in_one_component_go_to_the_lowest_end() -> None:
    """Two ends of equally long planned paths in one component: the lower end node wins."""
    assert deepest_planned_paths(graph_of(3, [], [(0, 2), (0, 1)])) == [[0, 1]]
    assert deepest_planned_paths(graph_of(4, [(3, 0)], [(0, 2), (0, 1)])) == [[3, 0, 1]]


def test_duplicate_bus_edges_are_kept_once() -> None:
    """The bus listing the same link twice gives one edge, not two."""
    graph = Graph.from_edges(["a", "b", "c"], [(0, 1), (0, 1), (1, 2)], [(1, 2)])
    assert [list(s) for s in graph.old] == [[1], [], []]
    assert graph.new == [[], [2], []]

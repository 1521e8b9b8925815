"""The graph core: plain lists and ints, iterative algorithms, O(V + E), no I/O.

Rule ids become dense ints `0..n-1`; adjacency is a list of lists, split in two: the
edges already on the bus (`old`) and the planned ones (`new`). Nothing here recurses,
so a 10,000-hop chain or a 100,000-link plan never meets Python's recursion limit.
Pydantic models stay at the edges (see `validate.py`); this module sees ints only.

One forward pass in topological order (Kahn) finds whether there is a cycle and, at
the same time, for every node v: `into[v]`, the longest path ending at v, and
`into_planned[v]`, the longest path ending at v that uses at least one planned edge.
Only the nodes Kahn cannot order (on a cycle, or after one) go through an iterative
Tarjan to name the cycles.

Depth on a graph with cycles: a path through a cycle has no finite length, and the
cycle is reported on its own. So longest paths are measured on the acyclic part: every
node of a cyclic strongly connected component (including a node with a self-loop) is
removed with its edges, and paths are measured on the DAG of the remaining nodes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import chain, compress, islice
from operator import itemgetter, not_
from typing import cast

NO_EDGES: tuple[int, ...] = ()


@dataclass(slots=True)
class Graph:
    """A directed graph over rule ids: `ids[i]` is node i.

    `old[u]`: successors over edges already on the bus that the plan does not repeat;
    `new[u]`: successors over planned edges (each distinct edge once, even if the bus
    already has it). Either list may be the shared empty tuple `NO_EDGES`.
    """

    ids: list[str]
    old: list[list[int] | tuple[int, ...]]
    new: list[list[int] | tuple[int, ...]]

    @classmethod
    def from_edges(
        cls,
        ids: list[str],
        existing: Iterable[tuple[int, int]],
        planned: Iterable[tuple[int, int]],
        *,
        distinct: bool = False,
    ) -> Graph:
        """A graph over `ids` from int edges; duplicates merged (`distinct`: planned has none)."""
        planned = list(planned) if distinct else list(dict.fromkeys(planned))
        new = adjacency(len(ids), map(itemgetter(0), planned), map(itemgetter(1), planned))
        return cls.from_adjacency(ids, new, existing)

    @classmethod
    def from_adjacency(
        cls,
        ids: list[str],
        new: list[list[int]],
        existing: Iterable[tuple[int, int]] = (),
    ) -> Graph:
        """A graph from planned successor lists (each edge once) and the bus's int edges.

        A bus edge the plan repeats is kept once, as planned; bus duplicates are merged.
        """
        n = len(ids)
        old: list[list[int] | tuple[int, ...]] = [NO_EDGES] * n
        existing = list(existing)
        if existing:
            seen = {(u, v) for u, successors in enumerate(new) for v in successors}
            for u, v in existing:
                if (u, v) not in seen:
                    seen.add((u, v))
                    if not old[u]:
                        old[u] = []
                    old[u].append(v)  # type: ignore[union-attr]
        return cls(ids, old, cast("list[list[int] | tuple[int, ...]]", new))

    def path_ids(self, path: Iterable[int]) -> list[str]:
        """Node ints back to rule ids."""
        ids = self.ids
        return [ids[i] for i in path]


def adjacency(n: int, sources: Iterable[int], destinations: Iterable[int]) -> list[list[int]]:
    """Successor lists over nodes `0..n-1`: `destinations[i]` appended to `sources[i]`'s."""
    new: list[list[int]] = [[] for _ in range(n)]
    # C-level loop: new[u].append(v) for every edge, in order
    deque(map(list.append, map(new.__getitem__, sources), destinations), maxlen=0)
    return new


def build_graph(
    nodes: Iterable[str],
    existing: Iterable[tuple[str, str]],
    planned: Iterable[tuple[str, str]],
) -> Graph:
    """A graph of `nodes` with the bus's `existing` edges plus the `planned` ones.

    Node order is `nodes` in order, then any new id met in the edges (existing first),
    so every result derived from it is deterministic.
    """
    index: dict[str, int] = {}
    ids: list[str] = []

    def node(rule_id: str) -> int:
        i = index.get(rule_id)
        if i is None:
            i = index[rule_id] = len(ids)
            ids.append(rule_id)
        return i

    for rule_id in nodes:
        node(rule_id)
    old = [(node(s), node(d)) for s, d in existing]
    new = [(node(s), node(d)) for s, d in planned]
    return Graph.from_edges(ids, old, new)


def strongly_connected_components(
    succ: list[list[int]], nodes: Iterable[int] | None = None
) -> list[list[int]]:
    """Tarjan's algorithm, iterative: the SCCs, each a list of node ints.

    `nodes` restricts the search to a set closed under successors (every successor of
    a listed node is listed); by default all nodes. Components come out in reverse
    topological order of the condensation (Tarjan's natural order).
    """
    n = len(succ)
    roots = range(n) if nodes is None else list(nodes)
    index = [-1] * n
    low = [0] * n
    on_stack = [False] * n
    stack: list[int] = []
    components: list[list[int]] = []
    counter = 0
    for root in roots:
        if index[root] != -1:
            continue
        # the call stack, as [node, position in its successor list] frames
        work: list[list[int]] = [[root, 0]]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack[root] = True
        while work:
            frame = work[-1]
            v, pos = frame
            children = succ[v]
            if pos < len(children):
                w = children[pos]
                frame[1] = pos + 1
                if index[w] == -1:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack[w] = True
                    work.append([w, 0])
                elif on_stack[w] and index[w] < low[v]:
                    low[v] = index[w]
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                if low[v] < low[parent]:
                    low[parent] = low[v]
            if low[v] == index[v]:
                component: list[int] = []
                while True:
                    w = stack.pop()
                    on_stack[w] = False
                    component.append(w)
                    if w == v:
                        break
                components.append(component)
    return components


def is_cyclic_component(succ: list[list[int]], component: list[int]) -> bool:
    """True for an SCC that holds a cycle: several nodes, or one node with a self-loop."""
    return len(component) > 1 or component[0] in succ[component[0]]


def cycle_path(succ: list[list[int]], component: list[int]) -> list[int]:
    """One concrete cycle inside a cyclic SCC, closed: `[a, b, ..., a]`.

    Starts at the component's smallest node and takes a shortest way back to it
    (breadth first inside the component), so the result is deterministic and short.
    """
    start = min(component)
    members = set(component)
    parent: dict[int, int] = {start: -1}
    frontier = [start]
    while frontier:
        next_frontier = []
        for v in frontier:
            for w in succ[v]:
                if w == start:
                    path = [start]
                    while v != -1:
                        path.append(v)
                        v = parent[v]
                    path.reverse()
                    return path
                if w in members and w not in parent:
                    parent[w] = v
                    next_frontier.append(w)
        frontier = next_frontier
    raise ValueError("component holds no cycle")  # pragma: no cover - caller's contract


@dataclass(slots=True)
class Analysis:
    """Cycles and longest paths of a graph, from one O(V + E) forward pass.

    `cycles`: one closed cycle path per cyclic SCC, ordered by first node.
    `into[v]`: hops of the longest path ending at v on the acyclic part (-1 for a node
    on a cycle); `pred[v]` steps back along it (-1 at its start).
    `into_planned[v]`: the same for paths that use at least one planned edge (-1 when
    there is none); `pred_planned[v]` is the previous node `u`, or `~u` when the step
    u -> v is the planned edge (from there on, follow `pred`).
    `all_planned`: the graph has no bus edges, so every path is a planned one and
    `into_planned`/`pred_planned` are simply `into`/`pred` (0, not -1, where no path
    ends); `longest_planned_path` reads them either way.
    """

    cycles: list[list[int]]
    into: list[int]
    pred: list[int]
    into_planned: list[int]
    pred_planned: list[int]
    all_planned: bool = False

    def longest_planned_path(self, end: int) -> list[int]:
        """The longest path through a planned edge that ends at `end`, start to end."""
        if self.all_planned:
            return self.longest_path(end)
        path = [end]
        v = end
        pred_planned, pred = self.pred_planned, self.pred
        while True:
            p = pred_planned[v]
            path.append(p if p >= 0 else ~p)
            v = path[-1]
            if p < 0:
                break
        while pred[v] != -1:
            v = pred[v]
            path.append(v)
        path.reverse()
        return path

    def longest_path(self, end: int) -> list[int]:
        """The longest path ending at `end`, start to end."""
        path = [end]
        pred = self.pred
        while pred[path[-1]] != -1:
            path.append(pred[path[-1]])
        path.reverse()
        return path


def analyse(graph: Graph) -> Analysis:
    """Cycles and longest paths (overall, and through a planned edge), in O(V + E)."""
    old, new = graph.old, graph.new
    n = len(old)
    all_planned = not any(old)
    # a plain loop over the flat edge list: faster than a Counter plus a lookup per node
    indegree = [0] * n
    for v in chain.from_iterable(new):
        indegree[v] += 1
    if not all_planned:
        for v in chain.from_iterable(old):
            indegree[v] += 1
    order = list(compress(range(n), map(not_, indegree)))  # in-degree 0, in node order
    into = [0] * n
    pred = [-1] * n
    if all_planned:
        into_p, pred_p = into, pred
    else:
        into_p = [-1] * n
        pred_p = [-1] * n
    cycles: list[list[int]] = []
    head = 0
    residual_done = False
    while True:
        if all_planned:
            _relax_planned(new, order, head, indegree, into, pred)
        else:
            _relax(old, new, order, head, indegree, into, pred, into_p, pred_p)
        head = len(order)
        if residual_done or len(order) == n:
            break
        residual_done = True
        residual, cycles, on_cycles, rest = _split_residual(graph, order)
        for v in residual:
            indegree[v] = -1  # ordered from here on by Tarjan, never by Kahn again
        order.extend(rest)
    if residual_done:
        for v in on_cycles:
            into[v] = into_p[v] = -1
    return Analysis(cycles, into, pred, into_p, pred_p, all_planned)


def _relax(
    old: list[list[int] | tuple[int, ...]],
    new: list[list[int] | tuple[int, ...]],
    order: list[int],
    head: int,
    indegree: list[int],
    into: list[int],
    pred: list[int],
    into_p: list[int],
    pred_p: list[int],
) -> None:
    """Kahn from `order[head]` on (appending to `order`), tracking both kinds of path."""
    # iterating a list sees the items appended meanwhile: `order` is Kahn's queue
    for u in islice(order, head, None):
        step = into[u] + 1
        p = into_p[u]
        for v in old[u]:
            if step > into[v]:
                into[v] = step
                pred[v] = u
            if p >= 0 and p + 1 > into_p[v]:
                into_p[v] = p + 1
                pred_p[v] = u
            indegree[v] -= 1
            if not indegree[v]:
                order.append(v)
        # through a planned edge, into[u] + 1 >= into_p[u] + 1: always the better way
        for v in new[u]:
            if step > into[v]:
                into[v] = step
                pred[v] = u
            if step > into_p[v]:
                into_p[v] = step
                pred_p[v] = ~u
            indegree[v] -= 1
            if not indegree[v]:
                order.append(v)


def _relax_planned(
    new: list[list[int] | tuple[int, ...]],
    order: list[int],
    head: int,
    indegree: list[int],
    into: list[int],
    pred: list[int],
) -> None:
    """`_relax` for a graph of planned edges only: one kind of path, half the work."""
    append = order.append
    for u in islice(order, head, None):
        step = into[u] + 1
        for v in new[u]:
            if step > into[v]:
                into[v] = step
                pred[v] = u
            left = indegree[v] - 1
            indegree[v] = left
            if not left:
                append(v)


def _split_residual(
    graph: Graph, order: list[int]
) -> tuple[list[int], list[list[int]], list[int], list[int]]:
    """For the nodes Kahn left out: those nodes, the closed cycles, the nodes on cycles,
    and the acyclic rest in topological order."""
    n = len(graph.old)
    ordered = bytearray(n)
    for u in order:
        ordered[u] = 1
    residual = [u for u in range(n) if not ordered[u]]
    succ: list[list[int]]
    if any(graph.old):
        succ = list(graph.new)  # type: ignore[arg-type]
        for u in residual:
            if graph.old[u]:
                succ[u] = [*graph.old[u], *graph.new[u]]
    else:
        succ = graph.new  # type: ignore[assignment]
    components = strongly_connected_components(succ, residual)
    cyclic = [c for c in components if is_cyclic_component(succ, c)]
    cycles = sorted((cycle_path(succ, c) for c in cyclic), key=lambda path: path[0])
    on_cycles = [v for c in cyclic for v in c]
    # Tarjan emits components in reverse topological order; acyclic ones are single nodes
    rest = [c[0] for c in reversed(components) if not is_cyclic_component(succ, c)]
    return residual, cycles, on_cycles, rest


def weak_components(graph: Graph) -> list[int]:
    """Weakly connected component label per node: its smallest node.

    Union-find with path halving; a root always hangs under the smaller root, so each
    component's root is its smallest node.
    """
    n = len(graph.old)
    parent = list(range(n))
    for successors in (graph.old, graph.new):
        for u in compress(range(n), successors):  # the nodes with successors
            ru = u
            while parent[ru] != ru:
                parent[ru] = parent[parent[ru]]
                ru = parent[ru]
            for v in successors[u]:
                rv = v
                while parent[rv] != rv:
                    parent[rv] = parent[parent[rv]]
                    rv = parent[rv]
                if rv < ru:
                    parent[ru] = rv
                    ru = rv
                elif ru < rv:
                    parent[rv] = ru
    labels = []
    for x in range(n):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        labels.append(x)
    return labels


def deepest_planned_paths(
    graph: Graph, analysis: Analysis | None = None, *, longer_than: int = -1
) -> list[list[int]]:
    """Per weakly connected component, its longest path through a planned edge.

    Only paths of more than `longer_than` hops are returned; components are labelled
    only when some path qualifies. Paths avoid nodes on cycles. Ties go to the path
    ending at the lowest node; results are ordered by their end node.
    """
    lp = analysis or analyse(graph)
    into_p = lp.into_planned
    # a planned path has at least one hop (`into_planned` may hold 0 or -1 for none);
    # C-level filter: the nodes v with into_p[v] > threshold
    threshold = max(longer_than, 0)
    ends = list(compress(range(len(into_p)), map(threshold.__lt__, into_p)))
    if not ends:
        return []
    label = weak_components(graph)
    best: dict[int, int] = {}
    for v in ends:
        comp = label[v]
        current = best.get(comp)
        if current is None or into_p[v] > into_p[current]:
            best[comp] = v
    return [lp.longest_planned_path(v) for v in sorted(best.values())]

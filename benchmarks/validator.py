"""Benchmark: `validate_chain` on 100,000 rules and 100,000 links vs a networkx reference.

Two graphs, built from one seed: a random DAG (edges only from a lower to a higher
index, at most 5 per source), and the same DAG with one planted cycle (one extra link
from a deep node back to the start of its longest path). Every link carries a
transformation and a preserved attribute, so all per-link checks run.

chainsim's time is the whole `validate_chain` call (graph build and every check, from
the pydantic models). The networkx reference is timed on a prebuilt `DiGraph` of the
same edges: `is_directed_acyclic_graph` + `dag_longest_path_length` (on the cyclic
variant, where a longest path is undefined, `dag_longest_path_length` of the
condensation). Its time is printed without and with building the `DiGraph` from the
same rules and links; both ratios are networkx's time over chainsim's.
Every timing is the best of 5 runs, each after a `gc.collect()`. The GC is otherwise
left as it is: `validate_chain` pauses it during a run (and frees what it built before
resuming it); networkx runs with it on, as it would in use. Peak memory is
tracemalloc's peak during one more `validate_chain` call.

Run: `python benchmarks/validator.py [--rules N] [--links N] [--seed S]`
"""

from __future__ import annotations

import argparse
import gc
import random
import time
import tracemalloc

import networkx as nx

from chainsim.model import ChainLink, Rule
from chainsim.validate import validate_chain

EVENT_TYPE = "v2.routing.queues.{id}.members"
ATTRIBUTES = ["conversationId", "queueId", "callerId"]


def make_rules(n: int) -> list[Rule]:
    """`n` enabled rules with UUID-like ids and three attributes each."""
    rng = random.Random(1)
    rules = []
    for i in range(n):
        rule_id = f"{rng.getrandbits(32):08x}-0000-4000-8000-{i:012d}"
        rules.append(
            Rule.model_validate(
                {
                    "id": rule_id,
                    "name": f"rule-{i}",
                    "eventType": "v2.routing.queues.members",
                    "filters": {"attributes": ATTRIBUTES},
                }
            )
        )
    return rules


def make_edges(n_rules: int, n_links: int, seed: int) -> list[tuple[int, int]]:
    """Random DAG edges i -> j (i < j), distinct, at most 5 out of any node."""
    rng = random.Random(seed)
    edges: set[tuple[int, int]] = set()
    out = [0] * n_rules
    while len(edges) < n_links:
        i = rng.randrange(n_rules - 1)
        if out[i] >= 5:
            continue
        j = rng.randrange(i + 1, min(n_rules, i + 50))
        if (i, j) not in edges:
            edges.add((i, j))
            out[i] += 1
    return sorted(edges, key=lambda e: rng.random())


def make_links(rules: list[Rule], edges: list[tuple[int, int]]) -> list[ChainLink]:
    """One plan link per edge, with a transform and a preserved attribute."""
    return [
        ChainLink(
            source=rules[i].id,
            destination=rules[j].id,
            event_type="v2.routing.queues.members",
            transform={"caller": "$.metadata.callerId"},
            preserve=["queueId", "conversationId"],
        )
        for i, j in edges
    ]


def timed(func, repeat: int = 5):  # type: ignore[no-untyped-def]
    """Best (wall, CPU) seconds of `repeat` runs, and the last result.

    CPU time (`time.process_time`) is printed beside wall time because benchmark hosts
    are often shared: it is what the code costs, whatever else runs at the same time.
    """
    wall = cpu = float("inf")
    result = None
    for _ in range(repeat):
        gc.collect()
        start, start_cpu = time.perf_counter(), time.process_time()
        result = func()
        wall = min(wall, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - start_cpu)
    return (wall, cpu), result


def planted_cycle(edges: list[tuple[int, int]]) -> tuple[int, int]:
    """A back edge closing a cycle: from the end of a long path to its start."""
    g = nx.DiGraph(edges)
    path = nx.dag_longest_path(g)
    return path[-1], path[0]


def run(n_rules: int, n_links: int, seed: int) -> None:
    """Build both variants, time both validators, print the figures."""
    print(f"building {n_rules:,} rules and {n_links:,} links (seed {seed}) ...")
    rules = make_rules(n_rules)
    edges = make_edges(n_rules, n_links, seed)
    back = planted_cycle(edges)
    variants = {
        "random DAG": edges,
        "one planted cycle": [*edges[:-1], back],
    }
    for name, variant in variants.items():
        links = make_links(rules, variant)
        t_chainsim, report = timed(lambda links=links: validate_chain(rules, links))

        def build(variant: list[tuple[int, int]] = variant) -> nx.DiGraph:
            graph = nx.DiGraph()
            graph.add_nodes_from(r.id for r in rules)
            graph.add_edges_from((rules[i].id, rules[j].id) for i, j in variant)
            return graph

        graph = build()

        def reference(graph: nx.DiGraph = graph) -> int:
            if nx.is_directed_acyclic_graph(graph):
                return nx.dag_longest_path_length(graph)
            return -nx.dag_longest_path_length(nx.condensation(graph))

        t_nx, ref = timed(reference)
        t_build, _ = timed(build)
        tracemalloc.start()
        validate_chain(rules, links)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        codes: dict[str, int] = {}
        for finding in report.findings:
            codes[finding.code] = codes.get(finding.code, 0) + 1
        longest = max(
            (len(f.rule_ids) - 1 for f in report.findings if f.code == "depth"), default=0
        )
        print(f"\n== {name}: {len(rules):,} rules, {len(links):,} links   (wall / CPU, best of 5)")
        both = (t_nx[0] + t_build[0], t_nx[1] + t_build[1])
        for label, (wall, cpu) in (
            ("chainsim validate_chain (all checks)    ", t_chainsim),
            ("networkx reference (algorithms only)    ", t_nx),
            ("networkx reference + building its graph", both),
        ):
            print(f"{label.strip():<41}: {wall * 1000:8.1f} ms / {cpu * 1000:8.1f} ms")
        for label, (wall, cpu) in (
            ("ratio networkx / chainsim (algorithms)  ", t_nx),
            ("ratio networkx / chainsim (with build)  ", both),
        ):
            print(
                f"{label.strip():<41}: {wall / t_chainsim[0]:8.2f}x / {cpu / t_chainsim[1]:8.2f}x"
            )
        print(f"{'chainsim peak memory (tracemalloc)':<41}: {peak / 2**20:8.1f} MiB")
        verdicts = [
            "met" if mine < 1.0 and ref / mine >= 3.0 else "missed"
            for mine, ref in zip(t_chainsim, t_nx, strict=True)
        ]
        print(f"{'target: < 1 s and >= 3x (algorithms)':<41}: {verdicts[0]} / {verdicts[1]}")
        print(f"findings: {codes or 'none'}; longest depth path {longest} hops")
        print(
            f"networkx longest path: {abs(ref)} hops{' (on the condensation)' if ref < 0 else ''}"
        )


def main() -> None:
    """Parse the options and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=100_000)
    parser.add_argument("--links", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    run(args.rules, args.links, args.seed)


if __name__ == "__main__":
    main()

"""Benchmark: trigger lint and event validation for 1,000 triggers against topic schemas.

Builds N triggers from one seed over every catalogue topic, each with 2..5 match criteria
drawn from the topic's own fields (Equal/In on enum fields, Exists, numeric ranges, and
about one in ten with a mistake: a misspelt path, a mis-cased enum value, a concrete id in
the topic), plus one example event per trigger. Times, each the best of 5 runs:

- load: building the catalogue from topics.json (schemas indexed, validators compiled);
- lint: `lint_triggers` over all N triggers;
- validate: `validate_event` on the N events (jsonschema, validators compiled once).

The budget (issue 10: "validation of 1,000 triggers with schemas stays under 1 s") is for
load + lint, what `chainsim validate` does with a trigger inventory; the ratio printed is
budget/time. Event validation (what the fake's topic test endpoint and the property tests
do) is printed beside it, per event: jsonschema walks each body in pure Python, about
0.5..2 ms for a fully populated Genesys event on this machine.

Run: `python benchmarks/triggers.py [--triggers N] [--seed S]`
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import time
from collections.abc import Callable
from importlib import resources
from typing import Any

from chainsim.dialects.catalogue import TopicCatalogue, _from_document
from chainsim.dialects.trigger_lint import lint_triggers
from chainsim.strategies import example_event

BUDGET_S = 1.0


def load() -> TopicCatalogue:
    """A fresh catalogue from the shipped file (no process cache)."""
    text = resources.files("chainsim.dialects").joinpath("topics.json").read_text("utf-8")
    return _from_document(json.loads(text))


def _criterion(rng: random.Random, catalogue: TopicCatalogue, topic: str) -> dict[str, Any]:
    """One criterion on a random field of `topic`."""
    paths = sorted(p for p in catalogue.field_paths(topic) if "*" not in p)
    path = rng.choice(paths)
    schema = catalogue.field_schema(topic, path) or {}
    if "enum" in schema:
        values = rng.sample(schema["enum"], k=min(2, len(schema["enum"])))
        if rng.random() < 0.5:
            return {"jsonPath": path, "operator": "Equal", "value": values[0]}
        return {"jsonPath": path, "operator": "In", "values": values}
    if schema.get("type") == "integer":
        return {"jsonPath": path, "operator": "GreaterThan", "value": rng.randrange(1000)}
    return {"jsonPath": path, "operator": "Exists", "value": True}


def make_triggers(n: int, seed: int, catalogue: TopicCatalogue) -> list[dict[str, Any]]:
    """`n` triggers in wire form, about one in ten with a mistake."""
    rng = random.Random(seed)
    topics = catalogue.names()
    triggers = []
    for i in range(n):
        topic = rng.choice(topics)
        criteria = [_criterion(rng, catalogue, topic) for _ in range(rng.randint(2, 5))]
        mistake = rng.random()
        if mistake < 0.03:
            criteria[0]["jsonPath"] = criteria[0]["jsonPath"][:-1]
        elif mistake < 0.06 and isinstance(criteria[0].get("value"), str):
            criteria[0]["value"] = criteria[0]["value"].lower()
        elif mistake < 0.09:
            topic = topic.replace("{id}", f"{i:08x}-0000-4000-8000-000000000000")
        triggers.append(
            {
                "id": f"{i:08x}-1111-4000-8000-000000000000",
                "name": f"trigger {i}",
                "topicName": topic,
                "enabled": True,
                "target": {"id": "wf", "type": "Workflow"},
                "matchCriteria": criteria,
                "eventTTLSeconds": 60,
            }
        )
    return triggers


def best_of(fn: Callable[[], object], runs: int = 5) -> float:
    """The best wall time of `runs` calls, each after a gc.collect()."""
    best = float("inf")
    for _ in range(runs):
        gc.collect()
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    """Print the three timings and the ratio to the 1 s budget."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--triggers", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    catalogue = load()
    triggers = make_triggers(args.triggers, args.seed, catalogue)
    events = [
        (t, example_event(t, catalogue))
        for t in (catalogue.names()[i % len(catalogue.names())] for i in range(args.triggers))
    ]
    findings = lint_triggers(triggers, catalogue)
    t_load = best_of(load)
    t_lint = best_of(lambda: lint_triggers(triggers, catalogue))
    t_validate = best_of(lambda: [catalogue.validate_event(t, e) for t, e in events])
    total = t_load + t_lint
    print(f"triggers: {args.triggers}  findings: {len(findings)}  topics: {len(catalogue.names())}")
    print(f"load catalogue   {t_load * 1000:8.1f} ms")
    print(f"lint triggers    {t_lint * 1000:8.1f} ms")
    print(
        f"load + lint      {total * 1000:8.1f} ms  "
        f"budget {BUDGET_S:.1f} s  ratio {BUDGET_S / total:.1f}x"
    )
    print(
        f"validate events  {t_validate * 1000:8.1f} ms for {len(events)} "
        f"({t_validate / len(events) * 1e6:.0f} us per fully populated event)"
    )


if __name__ == "__main__":
    main()

"""chainsim's packaged certification scenarios over a directory of plans.

`chainsim certify [--plans DIR]` runs `chainsim/certify/test_plans.py` through pytest:
every `NAME.yaml` in the plans directory (default: the example plans shipped in
`chainsim/certify/plans/`; `invalid/` and other subfolders are not read), with its
inventory `NAME.inventory.json` beside it (EventBridge rules or Genesys triggers, detected)
and optionally an example event `NAME.event.json`, is validated, simulated, and on the fake
applied and applied again (unchanged). The per-plan checks live here so that chainsim's own
`scenarios/` modules run the same checks over `scenarios/plans/`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chainsim.dialects.inventory import Inventory
    from chainsim.model import ChainLink, ChainPlan, Event, Rule
    from chainsim.results import ApplyResult
    from chainsim.simulate import Trace
    from chainsim.validate import ValidationReport

CERTIFY_DIR = Path(__file__).resolve().parent
EXAMPLE_PLANS = CERTIFY_DIR / "plans"
INI = CERTIFY_DIR / "pytest.ini"


def plan_files(directory: str | Path) -> list[Path]:
    """The plans of `directory`: its `*.yaml` files, sorted (subfolders such as invalid/ not)."""
    return sorted(p for p in Path(directory).glob("*.yaml") if p.is_file())


def inventory_path(plan_path: Path) -> Path:
    """The plan's inventory: `NAME.inventory.json` beside `NAME.yaml`."""
    return plan_path.with_suffix(".inventory.json")


def event_path(plan_path: Path) -> Path:
    """The plan's example event: `NAME.event.json` beside `NAME.yaml` (may be absent)."""
    return plan_path.with_suffix(".event.json")


def plans_problem(directory: str | Path) -> str | None:
    """Why `directory` cannot be certified (one line), or None when it holds plans."""
    path = Path(directory)
    if not path.is_dir():
        return f"{directory}: not a directory of plans"
    plans = plan_files(path)
    if not plans:
        return f"{directory}: no plans (*.yaml) in it"
    lonely = [p.name for p in plans if not inventory_path(p).is_file()]
    if lonely:
        return f"{path / lonely[0]}: no inventory beside it ({inventory_path(Path(lonely[0]))})"
    return None


def plan_inventory(plan_path: Path) -> Inventory:
    """The plan's inventory, read in its detected dialect."""
    from chainsim.dialects.inventory import read_inventory

    return read_inventory(inventory_path(plan_path))


def chain_links(plan: ChainPlan, rules: list[Rule]) -> list[ChainLink]:
    """The plan's links plus those its workflows derive (`chainsim.workflows.plan_links`)."""
    links = list(plan.links)
    try:
        from chainsim import workflows
    except ImportError:  # pragma: no cover - chainsim.workflows ships with chainsim
        return links
    derive = getattr(workflows, "plan_links", None)
    if callable(derive):
        links += [link for link in derive(plan, rules) if link not in links]
    return links


def plan_report(plan_path: Path) -> ValidationReport:
    """What `chainsim validate PLAN --inventory INV` reports: chain findings plus lint."""
    from chainsim.model import load_plan
    from chainsim.validate import ValidationReport, validate_plan

    plan = load_plan(plan_path)
    inventory = plan_inventory(plan_path)
    dialect, rules = inventory.dialect, inventory.rules
    chain = validate_plan(
        plan,
        rules,
        dialect=dialect.name,  # type: ignore[arg-type]
        declared_attributes=dialect.declared_attributes(plan, rules),
    )
    return ValidationReport(chain.findings + tuple(dialect.lint(inventory.wire)))


def plan_event(plan_path: Path, rules: list[Rule]) -> Event:
    """The plan's `NAME.event.json`, else (triggers) an example event of the first topic."""
    from chainsim.model import Event, load_event

    path = event_path(plan_path)
    if path.is_file():
        return load_event(path)
    from chainsim.strategies import example_event

    if not rules:
        raise ValueError(f"{plan_path}: no {path.name} and an empty inventory: no event")
    topic = rules[0].event_type
    return Event(eventType=topic, metadata=example_event(topic))


def simulate_plan(plan_path: Path) -> Trace:
    """Simulate the plan's event over its inventory plus the plan's links; check the walk.

    No link is missing, the walk is not truncated and no hop is deeper than `max_depth`;
    with a `NAME.event.json` the event also crosses every planned link.
    """
    from chainsim.model import load_plan
    from chainsim.simulate import simulate

    plan = load_plan(plan_path)
    rules = plan_inventory(plan_path).rules
    trace = simulate(
        rules,
        chain_links(plan, rules),
        plan_event(plan_path, rules),
        max_depth=plan.max_depth,
    )
    assert trace.missing == [], f"{plan_path.name}: links missing: {trace.missing}"
    assert not trace.truncated, f"{plan_path.name}: the walk exceeds max_depth"
    assert all(hop.depth <= plan.max_depth for hop in trace.hops)
    if event_path(plan_path).is_file():
        crossed = {(hop.source, hop.destination) for hop in trace.hops}
        planned = {(link.source, link.destination) for link in plan.links}
        assert planned <= crossed, f"{plan_path.name}: not crossed: {sorted(planned - crossed)}"
    return trace


def apply_twice(plan_path: Path, workdir: Path) -> tuple[ApplyResult, ApplyResult, list[Rule]]:
    """On a fake seeded with the inventory: apply, apply again; both results, the bus's rules.

    The audit log and journal go to `workdir`.
    """
    from chainsim.audit import AuditLog
    from chainsim.model import load_plan
    from chainsim.session import Target, open_session

    plan = load_plan(plan_path)
    dialect = plan_inventory(plan_path).dialect.name
    target = Target(bus="fake", dialect=dialect, inventory=inventory_path(plan_path))
    with open_session(target) as session:
        orchestrator = session.orchestrator(
            audit=AuditLog(workdir / "audit.jsonl", clock=session.clock),
            journal_path=workdir / "journal.json",
        )
        first = orchestrator.apply(plan)
        second = orchestrator.apply(plan)
        return first, second, list(session.bus.list_rules())

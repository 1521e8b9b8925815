"""The offline commands, `chainsim validate` and `chainsim simulate`: load, run, render.

No bus is touched: the inventory file stands for the bus state. Rendering is a rich
table for humans, or the exact JSON shapes of DESIGN §9. Bad input raises `InputError`
(the CLI turns it into one line and exit code 2).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from chainsim.bus import DIALECTS
from chainsim.model import ChainPlan, InputError, Rule, load_event, load_inventory, load_plan
from chainsim.transform import PathCompiler, PathError

EXIT_OK = 0
EXIT_FINDINGS = 1
FORMATS = ("text", "json")
PATH_SHOWN = 20  # a longer path of rule ids is elided in text output (JSON keeps it whole)
HOPS_SHOWN = 200  # simulate's text table shows this many hops (JSON keeps them all)
NOTES_SHOWN = 20  # warnings on stderr beside JSON output, then a count of the rest


def _console(err: bool = False) -> Console:
    """A console that prints ids, paths and messages as they are (no rich markup in data)."""
    return Console(highlight=False, soft_wrap=True, stderr=err, markup=False)


def _choice(name: str, value: str, allowed: Iterable[str]) -> str:
    allowed = tuple(allowed)
    if value not in allowed:
        raise InputError(name, "", f"expected one of {', '.join(allowed)}, got {value!r}")
    return value


def _path_text(ids: list[str]) -> str:
    if len(ids) <= PATH_SHOWN:
        return " -> ".join(ids)
    half = PATH_SHOWN // 2
    hidden = len(ids) - 2 * half
    return " -> ".join([*ids[:half], f"... {hidden} more ...", *ids[-half:]])


def run_validate(plan_path: Path, inventory_path: Path, output: str, dialect: str) -> int:
    """`chainsim validate`: 0 no error findings, 1 error findings (2 via InputError)."""
    from chainsim.validate import validate_plan

    _choice("--format", output, FORMATS)
    _choice("--dialect", dialect, DIALECTS)
    plan = load_plan(plan_path)
    rules = load_inventory(inventory_path)
    report = validate_plan(plan, rules, dialect=dialect)  # type: ignore[arg-type]
    if output == "json":
        sys.stdout.write(json.dumps(report.to_json(), indent=2) + "\n")
    else:
        _print_findings(plan_path, plan, rules, report)
    return EXIT_OK if report.ok else EXIT_FINDINGS


def _print_findings(plan_path: Path, plan: ChainPlan, rules: list[Rule], report: Any) -> None:
    out = _console()
    summary = (
        f"{plan_path}: {len(plan.links)} links, {len(rules)} rules, max_depth {plan.max_depth}"
    )
    if not report.findings:
        out.print(f"OK  {summary}: no findings")
        return
    table = Table(title=f"chainsim validate — {summary}", show_lines=True)
    table.add_column("#", justify="right")
    table.add_column("severity")
    table.add_column("code")
    table.add_column("rule ids (path order)", overflow="fold")
    table.add_column("what to do", overflow="fold")
    for n, finding in enumerate(report.findings, 1):
        style = "red" if finding.severity == "error" else "yellow"
        table.add_row(
            str(n),
            Text(finding.severity, style=style),
            finding.code,
            _path_text(list(finding.rule_ids)),
            finding.message,
        )
    out.print(table)
    errors, warnings = len(report.errors), len(report.warnings)
    verdict = "FAILED" if errors else "OK"
    out.print(f"{verdict}  {errors} error(s), {warnings} warning(s)")


def _check_paths(plan_path: Path, plan: ChainPlan, inventory_path: Path, rules: list[Rule]) -> None:
    """Every JSONPath of the plan and of the inventory's actions must parse."""
    compiler = PathCompiler()
    for i, link in enumerate(plan.links):
        for key, text in link.transform.items():
            try:
                compiler.compile(text)
            except PathError as exc:
                raise InputError(str(plan_path), f"links[{i}].transform.{key}", str(exc)) from None
    for r, rule in enumerate(rules):
        for a, action in enumerate(rule.actions):
            for key, text in action.payload_transformation.items():
                try:
                    compiler.compile(text)
                except PathError as exc:
                    place = f"[{r}].actions[{a}].payloadTransformation.{key}"
                    raise InputError(str(inventory_path), place, str(exc)) from None


def run_simulate(plan_path: Path, inventory_path: Path, event_path: Path, output: str) -> int:
    """`chainsim simulate`: print every hop; 0 (2 via InputError)."""
    from chainsim.simulate import simulate_plan

    _choice("--format", output, FORMATS)
    plan = load_plan(plan_path)
    rules = load_inventory(inventory_path)
    event = load_event(event_path)
    _check_paths(plan_path, plan, inventory_path, rules)
    trace = simulate_plan(plan, rules, event)
    if output == "json":
        sys.stdout.write(json.dumps(trace.to_json(), indent=2) + "\n")
        _warn_beside_json(trace)
    else:
        _print_trace(event.event_type, trace, plan.max_depth)
    return EXIT_OK


def _warn_beside_json(trace: Any) -> None:
    """Missing attributes, skipped links and truncation as warnings on stderr (bounded)."""
    notes = [
        f"warning: depth {miss.depth} {miss.source} -> {miss.destination}: "
        f"source event lacks {miss.attribute}"
        for miss in trace.missing[: NOTES_SHOWN + 1]
    ]
    notes += [
        f"warning: {source} -> {dest}: skipped, rule {dest!r} is not in the inventory"
        for source, dest in trace.skipped[: NOTES_SHOWN + 1]
    ]
    total = len(trace.missing) + len(trace.skipped)
    err = _console(err=True)
    for note in notes[:NOTES_SHOWN]:
        err.print(note)
    if total > NOTES_SHOWN:
        err.print(f"warning: ... and {total - NOTES_SHOWN} more")
    if trace.truncated:
        err.print(f"warning: trace truncated after {len(trace.hops)} hops (too many paths)")


def _print_trace(event_type: str, trace: Any, max_depth: int) -> None:
    out = _console()
    if not trace.starts:
        out.print(f"no rule in the inventory has eventType {event_type!r}: nothing fires")
        return
    table = Table(
        title=f"chainsim simulate — {event_type} starts at {', '.join(trace.starts)}",
        show_lines=True,
    )
    table.add_column("depth", justify="right")
    table.add_column("source -> destination", overflow="fold")
    table.add_column("event delivered", overflow="fold")
    table.add_column("missing", overflow="fold")
    for hop in trace.hops[:HOPS_SHOWN]:
        table.add_row(
            str(hop.depth),
            f"{hop.source}\n-> {hop.destination}",
            json.dumps(hop.event, sort_keys=False),
            "\n".join(hop.missing) or "-",
        )
    out.print(table)
    notes = [f"{len(trace.hops)} hop(s), deepest {trace.max_depth_reached} (max_depth {max_depth})"]
    if len(trace.hops) > HOPS_SHOWN:
        notes.append(f"first {HOPS_SHOWN} shown (--format json prints every hop)")
    if trace.missing:
        notes.append(f"{len(trace.missing)} missing attribute(s)")
    if trace.skipped:
        gone = ", ".join(f"{s} -> {d}" for s, d in trace.skipped[:5])
        notes.append(f"skipped links to rules not in the inventory: {gone}")
    if trace.truncated:
        notes.append("trace truncated (too many hops)")
    out.print("; ".join(notes))

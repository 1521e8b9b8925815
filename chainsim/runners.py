"""What each `chainsim` command does, behind the typer layer in `cli.py`.

Each runner takes plain options, computes, hands the result to `chainsim.render` and
returns an `ExitCode`. Bad input raises `InputError` before anything on a bus changes
(the CLI turns it into one line and exit 2). Buses are opened only through
`chainsim.session`.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from chainsim import render
from chainsim.dialects import DIALECTS, get_dialect
from chainsim.errors import ExitCode, InputError
from chainsim.model import ChainPlan, Rule, load_event, load_plan
from chainsim.session import Environment, Target, audit_key, open_session, spool_path
from chainsim.textsafe import MESSAGE_LIMIT, printable
from chainsim.transform import PathCompiler, PathError

if TYPE_CHECKING:
    from chainsim.dialects.base import Dialect
    from chainsim.saved_plan import SavedPlan

DEFAULT_AUDIT = ".chainsim/audit.jsonl"
DEFAULT_JOURNAL = ".chainsim/journal.json"
FORMATS = ("text", "json")


def check_choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    """`value` when it is one of `allowed`, else `InputError` naming the option."""
    if value not in allowed:
        raise InputError(name, "", f"expected one of {', '.join(allowed)}, got {value!r}")
    return value


def check_writable(path: Path, option: str) -> None:
    """`path` can be written as a file (else `InputError`); nothing is created here.

    Checked before the bus is touched, so a bad output path never leaves a half-done run;
    missing parent directories are made by the writer, so bad input leaves no files.
    """
    if path.is_dir():
        raise InputError(str(path), option, "is a directory, expected a file")
    if path.exists():
        if not os.access(path, os.W_OK):
            raise InputError(str(path), option, "is not writable")
        return
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise InputError(str(path), option, f"cannot be created ({ancestor} is not a directory)")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise InputError(str(path), option, "is not writable")


def _dialect(name: str) -> Dialect:
    return get_dialect(check_choice("--dialect", name, DIALECTS))


# --------------------------------------------------------------------------- offline


def _empty_plan() -> ChainPlan:
    """A plan with no links: validating an inventory alone."""
    return ChainPlan.model_validate({"links": []})


def run_validate(
    plan_path: Path | None, inventory_path: Path, output: str, dialect: str | None = None
) -> int:
    """`chainsim validate [PLAN]`: 0 no error findings, 1 error findings (2 via InputError).

    The inventory is read in its dialect (detected unless `dialect` is given); without a
    plan the inventory alone is checked. The dialect's lint findings (triggers: each
    trigger against its topic's schema) follow the chain findings.
    """
    from chainsim.dialects.inventory import read_inventory
    from chainsim.validate import ValidationReport, validate_plan

    check_choice("--format", output, FORMATS)
    plan = load_plan(plan_path) if plan_path is not None else _empty_plan()
    inventory = read_inventory(inventory_path, dialect)
    chosen, rules = inventory.dialect, inventory.rules
    chain = validate_plan(
        plan,
        rules,
        dialect=chosen.name,  # type: ignore[arg-type]
        declared_attributes=chosen.declared_attributes(plan, rules),
    )
    report = ValidationReport(chain.findings + tuple(chosen.lint(inventory.wire)))
    if output == "json":
        render.print_json(report.to_json())
    else:
        render.print_findings(plan_path or inventory_path, plan, rules, report)
    return ExitCode.OK if report.ok else ExitCode.FAILED


def check_plan_paths(plan_path: Path, plan: ChainPlan) -> None:
    """Every JSONPath of the plan's transforms parses (else `InputError`, before any request)."""
    compiler = PathCompiler()
    for i, link in enumerate(plan.links):
        for key, text in link.transform.items():
            try:
                compiler.compile(text)
            except PathError as exc:
                place = f"links[{i}].transform.{printable(key)}"
                message = printable(str(exc), MESSAGE_LIMIT)
                raise InputError(str(plan_path), place, message) from None


def check_paths(plan_path: Path, plan: ChainPlan, inventory_path: Path, rules: list[Rule]) -> None:
    """Every JSONPath of the plan and of the inventory's actions must parse."""
    check_plan_paths(plan_path, plan)
    compiler = PathCompiler()
    for r, rule in enumerate(rules):
        for a, action in enumerate(rule.actions):
            for key, text in action.payload_transformation.items():
                try:
                    compiler.compile(text)
                except PathError as exc:
                    place = f"[{r}].actions[{a}].payloadTransformation.{key}"
                    raise InputError(str(inventory_path), place, str(exc)) from None


def run_example(topic: str) -> int:
    """`chainsim simulate --example TOPIC`: one schema-valid example event body as JSON."""
    from chainsim.dialects.catalogue import load_catalogue
    from chainsim.strategies import example_event

    catalogue = load_catalogue()
    if topic not in catalogue:
        nearest = catalogue.nearest(topic)
        hint = f" (did you mean {nearest!r}?)" if nearest else ""
        raise InputError("--example", "", f"unknown topic {printable(topic)!r}{hint}")
    render.print_json(example_event(topic, catalogue))
    return ExitCode.OK


def run_simulate(
    plan_path: Path | None,
    inventory_path: Path | None,
    event_path: Path | None,
    output: str,
    *,
    dialect: str | None = None,
    example: str | None = None,
) -> int:
    """`chainsim simulate`: print every hop; 0 (2 via InputError). `example`: see run_example."""
    from chainsim.dialects.inventory import read_inventory
    from chainsim.simulate import simulate_plan

    check_choice("--format", output, FORMATS)
    if example is not None:
        return run_example(example)
    for value, name in ((plan_path, "PLAN"), (inventory_path, "--inventory")):
        if value is None:
            raise InputError("simulate", "", f"{name} is required (or give --example TOPIC)")
    if event_path is None:
        raise InputError("simulate", "", "--event FILE is required (or give --example TOPIC)")
    assert plan_path is not None and inventory_path is not None
    plan = load_plan(plan_path)
    rules = read_inventory(inventory_path, dialect).rules
    event = load_event(event_path)
    check_paths(plan_path, plan, inventory_path, rules)
    trace = simulate_plan(plan, rules, event)
    if output == "json":
        render.print_json(trace.to_json())
        render.print_trace_warnings(trace)
    else:
        render.print_trace(event.event_type, trace, plan.max_depth)
    return ExitCode.OK


# --------------------------------------------------------------------------- plan


def lint_bus(dialect: Dialect, bus: Any, rules: list[Rule]) -> list[Any]:
    """The dialect's lint of the bus's rules, against the org's own catalogue when readable."""
    catalogue = dialect.catalogue(bus)
    return list(dialect.lint([dialect.to_wire(rule) for rule in rules], catalogue))


def run_plan(
    plan_path: Path,
    target: Target | None,
    output: str = "text",
    *,
    inventory: Path | None = None,
    dialect: str | None = None,
    out: Path | None = None,
    detailed: bool = False,
    destroy: bool = False,
    diff: bool = False,
) -> int:
    """`chainsim plan`: validate and print the ChangeSet; 0 valid, 1 findings, 2 bad input.

    `target` None: offline, the `inventory` file (its dialect detected unless given).
    `out`: save the plan there (needs a bus). `detailed`: exit 3 when changes are
    pending (0 when none). `destroy`: plan what `chainsim destroy` would do. Text output:
    the summary first, one line per rule (at most `render.ROWS_SHOWN`), diffs with `diff`.
    """
    from chainsim.plan import (
        PlanIndex,
        check_removals,
        compute_changes,
        destroy_plan,
        plan_merger,
        removal_findings,
    )
    from chainsim.validate import ValidationReport, validate_plan

    check_choice("--format", output, FORMATS)
    plan = load_plan(plan_path)
    check_removals(str(plan_path), plan)
    if destroy:
        plan = destroy_plan(plan)
    if out is not None:
        if target is None:
            raise InputError("--out", "", "a saved plan needs a bus: give --bus fake|live")
        check_writable(out, "--out")
    if target is None:  # offline: the inventory file is the bus state
        if inventory is None:
            raise InputError("plan", "", "give --inventory FILE or --bus fake|live")
        from chainsim.dialects.inventory import read_inventory

        read = read_inventory(inventory, dialect)
        chosen, rules = read.dialect, read.rules
        report = validate_plan(
            plan,
            rules,
            dialect=chosen.name,  # type: ignore[arg-type]
            declared_attributes=chosen.declared_attributes(plan, rules),
        )
        changes = compute_changes(rules, PlanIndex.of(plan), plan_merger(chosen.merger))
        report = ValidationReport(report.findings + tuple(chosen.lint(read.wire)))
    else:
        from chainsim.bus.base import BusError

        _check_fake_seeded(target)
        try:
            with open_session(target) as session:
                chosen = session.dialect
                orch = session.orchestrator()
                rules = orch.inventory()
                report = orch.validate(plan, rules)
                changes = compute_changes(rules, PlanIndex.of(plan), plan_merger(chosen.merger))
                lint = lint_bus(session.dialect, session.bus, rules)
                report = ValidationReport(report.findings + tuple(lint))
        except BusError as exc:  # the bus failed (after retries): one line, exit 1
            sys.stderr.write(f"chainsim: plan: reading the bus failed: {exc}\n")
            return ExitCode.FAILED
    findings = [f.to_json() for f in report.findings]
    findings += removal_findings(plan, rules, chosen.link_realised)
    ok = not any(f["severity"] == "error" for f in findings)
    if output == "json":
        print(json.dumps({"ok": ok, "findings": findings, **changes.to_json()}, indent=2))
    else:
        names = {rule.id: rule.name for rule in rules if rule.name}
        render.print_changes(changes, findings, diff=diff, names=names)
    if ok and out is not None and target is not None:
        from chainsim.saved_plan import SavedPlan

        operation: Literal["apply", "destroy"] = "destroy" if destroy else "apply"
        saved = SavedPlan.capture(
            plan, changes, chosen, bus_target(target), operation=operation, source=str(plan_path)
        )
        saved.write(out)
        render.print_saved(out, saved, err=output == "json")
    if not ok:
        if out is not None:
            sys.stderr.write(f"chainsim: plan: {out} not saved: the plan has errors\n")
        return ExitCode.FAILED
    return ExitCode.CHANGES if detailed and changes.has_changes else ExitCode.OK


def bus_target(target: Target) -> Any:
    """The saved-plan description of `target`: bus, dialect and API base URL."""
    from chainsim.saved_plan import BusTarget

    return BusTarget(bus=target.bus, dialect=target.dialect, api_host=target.hosts()[0])


# --------------------------------------------------------------------------- export


def run_export(target: Target, out: Path | None = None) -> int:
    """`chainsim export`: every rule of the bus, all pages, in wire form `{"entities": [...]}`.

    Read-only: pages are fetched through the orchestrator's inventory (each page retried
    and paced by the retry policy). Written to `out` (checked before the bus is read),
    else stdout. 0 written, 1 the bus failed, 2 bad input.
    """
    from chainsim.bus.base import BusError

    if out is not None:
        check_writable(out, "-o")
    try:
        with open_session(target) as session:
            rules = session.orchestrator().inventory()
            document = session.dialect.write(rules)
    except BusError as exc:
        sys.stderr.write(f"chainsim: export: reading the bus failed: {exc}\n")
        return ExitCode.FAILED
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        render.print_line(f"{out}: {len(rules)} {session.dialect.name} exported", err=True)
    return ExitCode.OK


# --------------------------------------------------------------------------- apply


@dataclass
class ApplyOptions:
    """Options of `chainsim apply`/`destroy` beyond where the bus is.

    `confirm(question)` asks on a terminal (None: no terminal); a live run without a
    saved plan needs it or `auto_approve`.
    """

    audit: Path = Path(DEFAULT_AUDIT)
    spool: Path | None = None
    atomic: bool = True
    concurrency: int = 1
    resume: bool = False
    report: Path | None = None
    journal: Path = Path(DEFAULT_JOURNAL)
    auto_approve: bool = False
    confirm: Callable[[str], bool] | None = None
    output: str = "text"  # json: the report (as `--report` writes it) on stdout


def _resumed_plan(plan_path: Path, plan: ChainPlan, journal: Path) -> ChainPlan:
    """The plan recorded by the unfinished run in `journal` (it must equal `plan`)."""
    from chainsim.apply import Journal

    data = Journal(journal).load()
    if data is None or data.get("status") not in ("applying", "rolling_back"):
        raise InputError(str(journal), "", "no unfinished run to resume")
    recorded = ChainPlan.model_validate(data["plan"])
    if recorded.model_dump() != plan.model_dump():
        raise InputError(str(plan_path), "", f"is not the plan of the unfinished run in {journal}")
    return recorded


def _journal_plan(journal: Path) -> ChainPlan:
    """The plan of the unfinished run in `journal` (`apply --resume` without PLAN)."""
    from chainsim.apply import Journal

    data = Journal(journal).load()
    if data is None or data.get("status") not in ("applying", "rolling_back"):
        raise InputError(str(journal), "", "no unfinished run to resume")
    return ChainPlan.model_validate(data["plan"])


def _load_for_deploy(
    plan_path: Path | None, verb: str, apply: ApplyOptions
) -> tuple[ChainPlan, SavedPlan | None]:
    """The chain plan in `plan_path` and, when the file is a saved plan, the saved plan.

    Without PLAN (`--resume` only) the plan is the unfinished run's, from the journal.
    """
    from chainsim.plan import check_removals
    from chainsim.saved_plan import load_saved_plan

    if plan_path is None:
        if not apply.resume:
            raise InputError(verb, "PLAN", "missing (only `--resume` may leave it out)")
        return _journal_plan(apply.journal), None
    saved = load_saved_plan(plan_path)
    if saved is None:
        plan = load_plan(plan_path)
    else:
        if verb == "destroy" and saved.operation != "destroy":
            raise InputError(
                str(plan_path), "operation", "a saved apply plan; save one with `plan --destroy`"
            )
        plan = saved.chain_plan()
    check_plan_paths(plan_path, plan)
    check_removals(str(plan_path), plan)
    return plan, saved


def run_apply(plan_path: Path | None, target: Target, apply: ApplyOptions) -> int:
    """`chainsim apply`: run the orchestrator; 0 applied/unchanged, 1 otherwise, 2 bad input.

    A saved plan (`plan --out`) is applied exactly, after a drift check. `plan_path`
    None: `--resume` the journal's unfinished run.
    """
    from chainsim.apply import fewer_collections

    with fewer_collections():  # a big plan: reading, seeding and reporting allocate a lot too
        plan, saved = _load_for_deploy(plan_path, "apply", apply)
        return _deploy(plan_path, plan, saved, target, apply, "apply")


def run_destroy(plan_path: Path | None, target: Target, apply: ApplyOptions) -> int:
    """`chainsim destroy`: remove what the plan added; exit codes as apply."""
    from chainsim.apply import fewer_collections
    from chainsim.plan import destroy_plan

    with fewer_collections():
        plan, saved = _load_for_deploy(plan_path, "destroy", apply)
        if saved is None and plan_path is not None:
            plan = destroy_plan(plan)
        return _deploy(plan_path, plan, saved, target, apply, "destroy")


def _check_fake_seeded(target: Target) -> None:
    """`--bus fake` needs `--inventory` (an empty fake only yields `unknown_rule` findings)."""
    if target.bus == "fake" and target.inventory is None:
        raise InputError("--inventory", "", "--bus fake needs --inventory FILE (the fake's rules)")


@contextmanager
def _interrupts_resumable(verb: str, resume_hint: str) -> Iterator[None]:
    """SIGINT/SIGTERM during the run: one line saying it is resumable and how (exit 130/143).

    SIGTERM is turned into the same interrupt while the block runs (main thread only).
    """
    import signal
    import threading

    def on_term(signum: int, frame: Any) -> None:
        raise _Terminated

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    except (KeyboardInterrupt, _Terminated) as exc:
        code = 143 if isinstance(exc, _Terminated) else 130
        sys.stderr.write(f"chainsim: {verb} interrupted; the run is resumable: {resume_hint}\n")
        raise SystemExit(code) from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


class _Terminated(Exception):
    """SIGTERM arrived during a run."""


def _check_saved_target(plan_path: Path | None, saved: SavedPlan, target: Target) -> None:
    """`InputError` when a saved plan was made for another dialect or bus."""
    made, now = saved.target, bus_target(target)
    for name in ("dialect", "bus", "api_host"):
        if getattr(made, name) != getattr(now, name):
            raise InputError(
                str(plan_path),
                f"target.{name}",
                f"the plan was saved for {getattr(made, name)}, not {getattr(now, name)}",
            )


def _deploy(
    plan_path: Path | None,
    plan: ChainPlan,
    saved: SavedPlan | None,
    target: Target,
    apply: ApplyOptions,
    verb: str,
) -> int:
    """apply/destroy: gate, drift check, then the orchestrator with the right merger."""
    from chainsim.audit import GROUP_COMMIT, AuditLog
    from chainsim.bus.base import BusError
    from chainsim.plan import PlanIndex, compute_changes, plan_merger, removal_findings
    from chainsim.session import build_orchestrator

    check_choice("--format", apply.output, FORMATS)
    if apply.concurrency < 1:
        raise InputError("--concurrency", "", "must be at least 1")
    _check_fake_seeded(target)
    if apply.resume and plan_path is not None:
        plan = _resumed_plan(plan_path, plan, apply.journal)
        saved = None
    target.check()
    if target.live:
        Environment().credentials()  # missing credentials are said before the gate
    gated = target.live and saved is None and not apply.resume and not apply.auto_approve
    if gated and apply.confirm is None:
        raise InputError(
            "--bus live",
            "",
            f"no terminal to confirm the {verb} on: pass --auto-approve, "
            "or save the plan (plan --out FILE) and apply that",
        )
    if saved is not None:
        _check_saved_target(plan_path, saved, target)
    outputs = [(apply.audit, "--audit"), (spool_path(plan, apply.spool), "--spool")]
    outputs += [(apply.journal, "journal")]
    if apply.report is not None:
        outputs.append((apply.report, "--report"))
    for path, option in outputs:
        check_writable(path, option)
    with open_session(target) as session:
        session.require_callback_secret(plan)
        dialect = session.dialect
        merger: Any = plan_merger(dialect.merger)
        notes: list[dict[str, Any]] = []
        if gated or saved is not None or plan.remove:
            reader = session.orchestrator()
            try:
                rules = reader.inventory()
            except BusError as exc:
                sys.stderr.write(f"chainsim: {verb}: reading the bus failed: {exc}\n")
                return ExitCode.FAILED
            notes = removal_findings(plan, rules, dialect.link_realised)
            if gated and apply.confirm is not None:
                from chainsim.saved_plan import SavedPlan

                changes = compute_changes(rules, PlanIndex.of(plan), merger)
                shown = [f.to_json() for f in reader.validate(plan, rules).findings] + notes
                names = {rule.id: rule.name for rule in rules if rule.name}
                render.print_changes(changes, shown, diff=True, names=names)
                notes = []
                if any(f["severity"] == "error" for f in shown):
                    render.print_line(f"{verb}: the plan has errors: nothing changed")
                    return ExitCode.FAILED
                if not changes.has_changes:
                    render.print_line(f"{verb}: nothing to change")
                    return ExitCode.OK
                question = f"{verb.capitalize()} these changes to {target.hosts()[0]}?"
                if not apply.confirm(question):
                    render.print_line(f"{verb} cancelled: nothing changed")
                    return ExitCode.FAILED
                # what was shown is what is applied: refused below if the bus moved meanwhile
                saved = SavedPlan.capture(plan, changes, dialect, bus_target(target))
                rules = reader.inventory()
            if saved is not None:
                drifted = saved.drift(rules, dialect)
                if drifted:
                    render.print_drift(str(plan_path), drifted, verb)
                    return ExitCode.FAILED
                merger = saved.merger(dialect)
        render.print_notes(notes, err=apply.output == "json")
        with render.progress() as progress:
            orch = build_orchestrator(
                session.bus,
                clock=session.clock,
                merger=merger,
                sinks=partial(session.sinks_for, spool=apply.spool),
                audit=AuditLog(  # group commit: the Orchestrator commits before sending
                    apply.audit,
                    clock=session.clock,
                    key=session.audit_key(),
                    commit_every=GROUP_COMMIT,
                ),
                atomic=apply.atomic,
                concurrency=apply.concurrency,
                journal_path=apply.journal,
                progress=progress,
            )
            hint = f"chainsim {verb} --resume --bus {target.bus}" + (
                f" (journal {apply.journal})" if apply.journal != Path(DEFAULT_JOURNAL) else ""
            )
            try:
                with _interrupts_resumable(verb, hint):
                    result = orch.resume() if apply.resume else orch.apply(plan)
            except BusError as exc:  # the journal stays unfinished: `--resume` again later
                sys.stderr.write(f"chainsim: {verb}: the bus failed: {exc}\n")
                return ExitCode.FAILED
        report = result.to_report()
        stored = session.stored()
        if stored is not None:  # the fake's state in the dialect's wire form
            report["final_rules"] = stored
    if apply.report is not None:
        apply.report.parent.mkdir(parents=True, exist_ok=True)
        apply.report.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if apply.output == "json":
        render.print_json(report)
    else:
        render.print_apply_result(result, verb)
    return ExitCode.OK if result.ok else ExitCode.FAILED


# --------------------------------------------------------------------------- audit, dlq


def run_audit_verify(path: Path, head: str | None = None) -> int:
    """`chainsim audit verify FILE [--head D]`: 0 intact, 1 broken (naming the line), 2 bad."""
    from chainsim.audit import verify

    result = verify(path, head=head, key=audit_key())
    if result.ok:
        render.print_line(f"{path}: intact ({result.lines} lines, head {result.head})")
        return ExitCode.OK
    render.print_line(
        f"{path}: line {result.first_broken}: {printable(result.reason, MESSAGE_LIMIT)}"
    )
    return ExitCode.FAILED


def _spool_letters(spool: Path | None) -> tuple[Path, list[Any]]:
    """The spool's path and letters: a `--spool` given must exist; the default may not."""
    from chainsim.deadletter import DEFAULT_SPOOL, read_spool

    path = spool or Path(DEFAULT_SPOOL)
    return path, read_spool(path, missing_ok=spool is None)


def run_dlq_list(spool: Path | None, output: str = "text") -> int:
    """`chainsim dlq list`: the spooled dead letters (a `--spool` given must exist)."""
    check_choice("--format", output, FORMATS)
    spool, letters = _spool_letters(spool)
    if output == "json":
        render.print_json([x.to_json() for x in letters])
    else:
        render.print_dead_letters(spool, letters)
    return ExitCode.OK


def run_dlq_redrive(
    spool: Path | None,
    target: Target,
    *,
    audit: Path = Path(DEFAULT_AUDIT),
    journal: Path = Path(DEFAULT_JOURNAL),
) -> int:
    """`chainsim dlq redrive`: re-attempt the spool without breaking any run's atomicity.

    An atomic run's letters redrive its whole plan atomically (or are refused, one line,
    kept); other letters are re-attempted alone; only what is done leaves the spool.
    `--bus fake` is a rehearsal: the same steps on a throwaway fake, in a scratch
    directory, and the spool is kept exactly as it is. 0 all went through, 1 not.
    """
    import tempfile
    from contextlib import ExitStack

    from chainsim.audit import AuditLog
    from chainsim.deadletter import DeadLetterSink, remove_letters
    from chainsim.journal import Journal
    from chainsim.redrive import group_by_run, redrive

    spool, letters = _spool_letters(spool)
    if not letters:
        render.print_line(f"{spool}: no dead letters")
        return ExitCode.OK
    _check_fake_seeded(target)
    target.check()
    rehearsal = not target.live
    with ExitStack() as stack:
        if rehearsal:  # nothing outside a scratch directory is written, no callback sent
            scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="chainsim-")))
            audit, journal = scratch / "audit.jsonl", scratch / "journal.json"
            trial = DeadLetterSink(url=None, spool=scratch / "deadletter.jsonl")
        else:
            for path, option in ((spool, "--spool"), (audit, "--audit"), (journal, "journal")):
                check_writable(path, option)
            unfinished = Journal(journal).load() or {}
            if group_by_run(letters)[1] and unfinished.get("status") in (
                "applying",
                "rolling_back",
            ):
                raise InputError(
                    str(journal),
                    "",
                    f"run {unfinished.get('run_id')} did not finish; "
                    "finish it with `chainsim apply --resume` before a redrive",
                )
        session = stack.enter_context(open_session(target))
        sinks: Any = (lambda plan: (trial, None)) if rehearsal else None
        if sinks is None:
            sinks = partial(session.sinks_for, spool=spool)
        orch = session.orchestrator(
            sinks=sinks,
            audit=AuditLog(audit, clock=session.clock, key=session.audit_key()),
            journal_path=journal,
            atomic=True,
        )
        report = redrive(orch, spool, letters, rehearsal=rehearsal)
    if not rehearsal:
        remove_letters(spool, report.cleared)
    render.print_redrive(spool, report, rehearsal)
    return ExitCode.OK if report.ok else ExitCode.FAILED


def run_dlq_forward(spool: Path | None, url: str | None, timeout: float = 10.0) -> int:
    """`chainsim dlq forward`: POST spooled letters to the dead-letter URL (`--url`, else the
    run plan's `dead_letter.url`); remove only those delivered. 0 all delivered, 1 not."""
    import httpx

    from chainsim.deadletter import remove_letters
    from chainsim.model import is_http_url
    from chainsim.redrive import forward

    if url is not None and not is_http_url(url):
        raise InputError("--url", "", f"expected an http(s) URL, got {printable(url)!r}")
    if timeout <= 0:
        raise InputError("--timeout", "", "must be more than 0 seconds")
    spool, letters = _spool_letters(spool)
    if not letters:
        render.print_line(f"{spool}: no dead letters")
        return ExitCode.OK
    check_writable(spool, "--spool")
    with httpx.Client(timeout=timeout) as http:
        secret_of = Environment().get
        report = forward(letters, spool, url=url, http=http, secret_of=secret_of, timeout=timeout)
    remove_letters(spool, report.cleared)
    render.print_redrive(spool, report, rehearsal=False, verb="forwarded")
    return ExitCode.OK if report.ok else ExitCode.FAILED


# --------------------------------------------------------------------------- probe


def run_probe(
    plan_path: Path,
    event_path: Path,
    *,
    bus: str = "live",
    dialect: str = "triggers",
    inventory: Path | None = None,
    triggers: Path | None = None,
    output: str = "text",
    api_host: str | None = None,
    login_host: str | None = None,
    env: str = "mypurecloud.com",
) -> int:
    """`chainsim probe`: print the report; 0 all agree, 1 a disagreement (2 via InputError).

    `--bus live` talks to the org (credentials from the environment); `--bus fake` runs
    the embedded fake seeded from `--triggers FILE`, an offline demo of the same path.
    A bus failure raises `BusError` (the CLI prints it, exit 1).
    """
    from chainsim.probe import load_triggers, probe

    if not _dialect(dialect).test_mode:
        raise InputError(
            "--dialect", "", "probe needs triggers (EventBridge rules have no test mode)"
        )
    check_choice("--format", output, FORMATS)
    if bus == "fake" and triggers is None:
        raise InputError("--triggers", "", "--bus fake needs --triggers FILE to seed the fake org")
    if bus == "live" and triggers is not None:
        raise InputError("--triggers", "", "only with --bus fake (a live org has its own triggers)")
    plan = load_plan(plan_path)
    event = load_event(event_path)
    rules = load_triggers(inventory) if inventory is not None else None
    if triggers is not None:
        load_triggers(triggers)  # a bad file is bad input, said before anything starts
    target = Target(
        bus=bus,
        dialect=dialect,
        env=env,
        api_host=api_host,
        login_host=login_host,
        inventory=triggers,
    )
    with open_session(target) as session:
        report = probe(session.bus, plan, event, rules=rules, clock=session.clock)  # type: ignore[arg-type]
    if output == "json":
        render.print_json(report.to_json())
    else:
        render.print_line(report.to_text())
    return ExitCode.OK if report.ok else ExitCode.FAILED

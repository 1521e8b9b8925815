"""What `chainsim plan|apply|audit verify|dlq` do, behind the thin typer layer in `cli.py`.

Each function takes plain options, writes human output with rich (stdout; progress on
stderr, only on a terminal) and returns the exit code. Bad input raises `InputError`
before anything on a bus changes.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from chainsim.model import ChainPlan, InputError, load_inventory, load_plan

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
DEFAULT_AUDIT = ".chainsim/audit.jsonl"
DEFAULT_JOURNAL = ".chainsim/journal.json"


@dataclass
class BusOptions:
    """Where the bus is: `fake` (seeded from an inventory, faults, virtual clock) or `live`."""

    bus: str | None = "fake"  # None: offline (plan with --inventory only)
    inventory: Path | None = None
    faults: Path | None = None
    api_host: str | None = None
    login_host: str | None = None
    env: str = "mypurecloud.com"
    dialect: str = "eventbridge"


@dataclass
class Backend:
    """An open connection: the bus client, its clock, the embedded fake (if any), httpx."""

    bus: Any
    clock: Any
    fake: Any
    http: Any
    extra: dict[str, Any] = field(default_factory=dict)


@contextmanager
def connect(options: BusOptions) -> Iterator[Backend]:
    """Open the bus the options describe; the embedded fake lives for the block."""
    import httpx

    from chainsim.bus import CREDENTIAL_VARS, DIALECTS, make_bus
    from chainsim.bus.auth import ClientCredentials, live_hosts

    if options.dialect not in DIALECTS:
        raise InputError("--dialect", "", f"expected one of {', '.join(DIALECTS)}")
    with ExitStack() as stack:
        fake = None
        if options.bus == "fake":
            from chainsim.clock import VirtualClock
            from chainsim.fakebus import DEFAULT_API_HOST, DEFAULT_CLIENT, DEFAULT_LOGIN_HOST
            from chainsim.fakebus.bus import load_bus

            clock: Any = VirtualClock()
            triggers = options.dialect == "triggers"
            fake = load_bus(
                rules=None if triggers else options.inventory,
                triggers=options.inventory if triggers else None,
                faults=options.faults,
                clock=clock,
            )
            api_host, login_host = DEFAULT_API_HOST, DEFAULT_LOGIN_HOST
            client_id, secret = DEFAULT_CLIENT
        elif options.bus == "live":
            from chainsim.clock import SystemClock

            for name, given in (("--inventory", options.inventory), ("--faults", options.faults)):
                if given is not None:  # an org is neither seeded nor faulted: not ignored
                    raise InputError(
                        name, "", "only with --bus fake (a live bus has its own state)"
                    )

            clock = SystemClock()
            api_host, login_host = live_hosts(options.env, options.api_host, options.login_host)
            for name in CREDENTIAL_VARS:
                if not os.environ.get(name):
                    raise InputError(
                        "environment", name, "not set (a live bus needs client credentials)"
                    )
            client_id, secret = (os.environ[name] for name in CREDENTIAL_VARS)
        else:
            raise InputError("--bus", "", "expected fake or live")
        http = stack.enter_context(httpx.Client(timeout=30.0))  # dead letters, callbacks
        bus_http = http
        if fake is not None:  # only the bus client talks to the embedded fake (in-process)
            transport = httpx.MockTransport(fake.handler)
            bus_http = stack.enter_context(httpx.Client(transport=transport, timeout=30.0))
        auth = ClientCredentials(
            client_id, secret, login_host=login_host, http=bus_http, clock=clock
        )
        bus = make_bus(
            options.dialect,
            http=bus_http,
            auth=auth,
            api_host=api_host,
            login_host=login_host,
            clock=clock,
        )
        yield Backend(bus, clock, fake, http)


def _stdout() -> Console:
    # Ids and messages are data: never read as rich markup (an id may contain "[/b]").
    return Console(highlight=False, soft_wrap=True, markup=False)


def _check_format(output: str, allowed: tuple[str, ...] = ("text", "json")) -> None:
    """`--format` must be one of `allowed` (else `InputError`)."""
    if output not in allowed:
        raise InputError("--format", "", f"expected one of {', '.join(allowed)}, got {output!r}")


def _check_writable(path: Path, option: str) -> None:
    """`path` can be written as a file (else `InputError`); its parent directory is created.

    Checked before the bus is touched, so a bad output path never leaves a half-done run.
    """
    if path.is_dir():
        raise InputError(str(path), option, "is a directory, expected a file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(str(path), option, f"cannot be created ({exc.strerror})") from None
    target = path if path.exists() else path.parent
    if not os.access(target, os.W_OK):
        raise InputError(str(path), option, "is not writable")


# --------------------------------------------------------------------------- plan


def run_plan(plan_path: Path, options: BusOptions, output: str = "text") -> int:
    """`chainsim plan`: validate and print the ChangeSet; 0 valid, 1 findings, 2 bad input."""
    from chainsim.plan import EVENTBRIDGE, PlanIndex, compute_changes
    from chainsim.validate import validate_plan

    _check_format(output)
    plan = load_plan(plan_path)
    if options.bus is None:  # offline: the inventory file is the bus state
        if options.inventory is None:
            raise InputError("plan", "", "give --inventory FILE or --bus fake|live")
        if options.dialect != "eventbridge":
            raise InputError(
                "--dialect",
                "",
                f"an offline plan reads EventBridge rules; for {options.dialect} "
                "use --bus fake --dialect triggers --inventory FILE",
            )
        rules = load_inventory(options.inventory)
        report = validate_plan(plan, rules)
        changes = compute_changes(rules, PlanIndex.of(plan), EVENTBRIDGE)
    else:
        from chainsim.apply import Orchestrator
        from chainsim.bus.base import BusError

        try:
            with connect(options) as backend:
                orch = Orchestrator(backend.bus, clock=backend.clock)
                rules = orch.inventory()
                report = orch.validate(plan, rules)
                changes = compute_changes(rules, PlanIndex.of(plan), orch.merger)
        except BusError as exc:  # the bus failed (after retries): one line, exit 1
            sys.stderr.write(f"chainsim: plan: reading the bus failed: {exc}\n")
            return EXIT_FAILED
    findings = [f.to_json() for f in report.findings]
    ok = not any(f["severity"] == "error" for f in findings)
    if output == "json":
        print(json.dumps({"ok": ok, "findings": findings, **changes.to_json()}, indent=2))
    else:
        _print_changes(changes, findings)
    return EXIT_OK if ok else EXIT_FAILED


def _print_changes(changes: Any, findings: list[dict[str, Any]]) -> None:
    out = _stdout()
    table = Table(title="chainsim plan", show_lines=False)
    table.add_column("rule")
    table.add_column("change")
    table.add_column("what")
    for change in changes.changes:
        style = {"update": "yellow", "create": "green", "no-op": "dim"}[change.kind]
        table.add_row(
            change.rule_id, Text(change.kind, style=style), "\n".join(change.summary()) or "-"
        )
    out.print(table)
    counts = changes.counts()
    out.print(
        f"{counts['update']} to update, {counts['create']} to create, {counts['no-op']} unchanged"
    )
    for f in findings:
        colour = "red" if f["severity"] == "error" else "yellow"
        out.print(Text.assemble((f["severity"], colour), f" {f['code']}: {f['message']}"))
    for change in changes.updates:
        out.print(Text("\n" + change.rule_id, style="bold"))
        out.print(change.diff())


# --------------------------------------------------------------------------- apply


@dataclass
class ApplyOptions:
    """Options of `chainsim apply` beyond where the bus is."""

    audit: Path = Path(DEFAULT_AUDIT)
    spool: Path | None = None
    atomic: bool = True
    concurrency: int = 1
    resume: bool = False
    report: Path | None = None
    journal: Path = Path(DEFAULT_JOURNAL)


def _spool_path(plan: ChainPlan, spool: Path | None) -> Path:
    """`--spool`, else the plan's `dead_letter.spool`, else the default spool."""
    from chainsim.deadletter import DEFAULT_SPOOL

    dead = plan.dead_letter
    return spool or Path((dead.spool if dead and dead.spool else None) or DEFAULT_SPOOL)


def _sinks(plan: ChainPlan, spool: Path | None, http: Any) -> tuple[Any, Any]:
    from chainsim.callbacks import CallbackNotifier
    from chainsim.deadletter import DeadLetterSink

    dead = plan.dead_letter
    sink = DeadLetterSink(url=dead.url if dead else None, spool=_spool_path(plan, spool), http=http)
    notifier = None
    if plan.callback is not None:
        secret = os.environ.get(plan.callback.secret_env)
        if not secret:
            raise InputError(
                "environment",
                plan.callback.secret_env,
                "not set (the plan's callback needs its secret)",
            )
        notifier = CallbackNotifier(plan.callback.url, secret, http=http)
    return sink, notifier


def run_apply(plan_path: Path, options: BusOptions, apply: ApplyOptions) -> int:
    """`chainsim apply`: run the orchestrator; 0 applied/unchanged, 1 otherwise, 2 bad input."""
    from chainsim.apply import Journal, Orchestrator
    from chainsim.audit import AuditLog
    from chainsim.bus.base import BusError

    if apply.concurrency < 1:
        raise InputError("--concurrency", "", "must be at least 1")
    plan = load_plan(plan_path)
    if apply.resume:
        data = Journal(apply.journal).load()
        if data is None or data.get("status") not in ("applying", "rolling_back"):
            raise InputError(str(apply.journal), "", "no unfinished run to resume")
        recorded = ChainPlan.model_validate(data["plan"])
        if recorded.model_dump() != plan.model_dump():
            raise InputError(
                str(plan_path), "", f"is not the plan of the unfinished run in {apply.journal}"
            )
        plan = recorded
    outputs = [(apply.audit, "--audit"), (_spool_path(plan, apply.spool), "--spool")]
    outputs += [(apply.journal, "journal")]
    if apply.report is not None:
        outputs.append((apply.report, "--report"))
    for path, option in outputs:
        _check_writable(path, option)
    with connect(options) as backend:
        sink, notifier = _sinks(plan, apply.spool, backend.http)
        with _progress() as progress:
            orch = Orchestrator(
                backend.bus,
                clock=backend.clock,
                sinks=lambda _plan: (sink, notifier),
                audit=AuditLog(apply.audit, clock=backend.clock),
                atomic=apply.atomic,
                concurrency=apply.concurrency,
                journal_path=apply.journal,
                progress=progress,
            )
            try:
                result = orch.resume() if apply.resume else orch.apply(plan)
            except BusError as exc:  # the journal stays unfinished: `--resume` again later
                sys.stderr.write(f"chainsim: apply: the bus failed: {exc}\n")
                return EXIT_FAILED
        report = result.to_report()
        if backend.fake is not None:  # the fake's state in the dialect's wire form
            report["final_rules"] = (
                backend.fake.triggers()
                if options.dialect == "triggers"
                else [rule.to_wire() for rule in backend.fake.rules()]
            )
    if apply.report is not None:
        apply.report.parent.mkdir(parents=True, exist_ok=True)
        apply.report.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    _print_result(result)
    return EXIT_OK if result.ok else EXIT_FAILED


@contextmanager
def _progress() -> Iterator[Any]:
    """A progress hook drawing a rich bar on stderr, or a no-op when stderr is no terminal."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    if not console.is_terminal:
        yield None
        return
    with Progress(
        TextColumn("applying"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("apply", total=None)

        def hook(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield hook


def _print_result(result: Any) -> None:
    out = _stdout()
    if result.rules:
        table = Table(title=f"chainsim apply: {result.status}")
        for column in ("rule", "outcome", "attempts", "version"):
            table.add_column(column)
        for row in result.rules:
            version = f"{row.version_before} -> {row.version_after}"
            table.add_row(row.id, row.outcome, str(row.attempts), version)
        out.print(table)
    for f in result.findings:
        if f["severity"] == "error":
            out.print(Text.assemble(("error", "red"), f" {f['code']}: {f['message']}"))
    m = result.metrics
    out.print(
        f"status: {result.status}; {m['requests']} requests, {m['status_409']} x 409, "
        f"{m['status_429']} x 429, {m['status_5xx']} x 5xx; "
        f"{m['virtual_seconds']:.2f} s on the bus clock; dead letters: {result.dead_letters}"
    )
    if result.callback is not None:
        cb = result.callback
        state = "delivered" if cb["delivered"] else "not delivered"
        out.print(f"callback: {state} ({cb['error'] or cb['status']})")
    if result.error:
        out.print(f"error: {result.error}")


# --------------------------------------------------------------------------- audit, dlq


def run_audit_verify(path: Path) -> int:
    """`chainsim audit verify FILE`: 0 intact, 1 broken (naming the line), 2 unreadable."""
    from chainsim.audit import verify

    if not path.is_file():
        raise InputError(str(path), "", "no such file")
    result = verify(path)
    if result.ok:
        print(f"{path}: intact ({result.lines} lines, head {result.head})")
        return EXIT_OK
    print(f"{path}: line {result.first_broken}: {result.reason}")
    return EXIT_FAILED


def run_dlq_list(spool: Path, output: str = "text") -> int:
    """`chainsim dlq list`: the spooled dead letters."""
    from chainsim.deadletter import read_spool

    _check_format(output)
    letters = read_spool(spool)
    if output == "json":
        print(json.dumps([x.to_json() for x in letters], indent=2))
        return EXIT_OK
    table = Table(title=f"dead letters in {spool}: {len(letters)}")
    for column in ("rule", "operation", "status", "code", "trace id", "time"):
        table.add_column(column)
    for x in letters:
        table.add_row(x.rule_id, x.operation, str(x.status), x.code or "", x.trace_id, x.timestamp)
    _stdout().print(table)
    return EXIT_OK


def run_dlq_redrive(spool: Path, options: BusOptions) -> int:
    """`chainsim dlq redrive`: re-attempt every letter; keep only those that fail again."""
    from chainsim.apply import Orchestrator
    from chainsim.deadletter import read_spool, rewrite_spool

    letters = read_spool(spool)
    if not letters:
        print(f"{spool}: no dead letters")
        return EXIT_OK
    with connect(options) as backend:
        orch = Orchestrator(backend.bus, clock=backend.clock)
        results = orch.redrive(letters)
    remaining = [letter for letter, outcome in results if outcome.outcome != "applied"]
    rewrite_spool(spool, remaining)
    out = _stdout()
    for letter, outcome in results:
        out.print(
            f"{letter.rule_id}: {outcome.outcome}"
            + (f" ({outcome.error})" if outcome.error else "")
        )
    done = len(letters) - len(remaining)
    out.print(f"redriven {done} of {len(letters)}; {len(remaining)} left in {spool}")
    return EXIT_OK if not remaining else EXIT_FAILED

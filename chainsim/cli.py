"""chainsim's command line: typer declarations only, each calling a runner.

The three layers: this module declares commands and options; `chainsim.runners` does
the work and returns an `ExitCode`; `chainsim.render` prints. Every command turns bad
input (`InputError`) into one line on stderr and exit code 2.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import typer

from chainsim.errors import ExitCode, InputError

HELP_OPTIONS = {"help_option_names": ["-h", "--help"]}  # `-h` works as `--help` everywhere

app = typer.Typer(
    name="chainsim",
    help="Verify, simulate and safely deploy chains of Genesys Cloud event rules.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings=HELP_OPTIONS,
)

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = ExitCode.BAD_INPUT) -> typer.Exit:
    """Print one line to stderr and return the Exit to raise."""
    typer.echo(f"chainsim: {message}", err=True)
    return typer.Exit(code)


def bad_input_exits_2(func: F) -> F:
    """Decorate a command so an `InputError` prints one line and exits 2."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except InputError as exc:
            raise fail(str(exc)) from None

    return wrapper  # type: ignore[return-value]


def chainsim_version() -> str:
    """chainsim's installed version (package metadata), or "unknown" when not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("chainsim")
    except PackageNotFoundError:
        return "unknown"


def _print_version(value: bool) -> None:
    """`--version`: print `chainsim <version>` and exit 0."""
    if value:
        typer.echo(f"chainsim {chainsim_version()}")
        raise typer.Exit(ExitCode.OK)


@app.callback()
def main_options(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="print chainsim's version and exit",
    ),
) -> None:
    """Verify, simulate and safely deploy chains of Genesys Cloud event rules."""


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
    options_metavar="[--plans DIR] [--bus fake|live] [--report PATH] [PYTEST ARGS]...",
)
@bad_input_exits_2
def certify(
    ctx: typer.Context,
    plans: Path | None = typer.Option(
        None,
        "--plans",
        metavar="DIR",
        help="certify the plans in DIR (default: the shipped examples)",
    ),
    bus: str | None = typer.Option(
        None, "--bus", metavar="fake|live", help="bus: fake (default) or a live sandbox org"
    ),
    report: Path | None = typer.Option(
        None, "--report", metavar="PATH", help="report (default .chainsim/certification.json here)"
    ),
) -> None:
    """Run the packaged certification scenarios through pytest, from any directory.

    Each plan in DIR (NAME.yaml, its NAME.inventory.json beside it) is validated,
    simulated, and on the fake applied and re-applied unchanged.

    Takes pytest's and the plugin's options too. Exit 0 certified, 1 not, 2 bad input.
    """
    import json

    import pytest

    from chainsim.certify import plans_problem
    from chainsim.report import sibling
    from chainsim.testing import certify_args

    if "--help" in ctx.args or "-h" in ctx.args:
        typer.echo(ctx.get_help())
        raise typer.Exit(0)
    if plans is not None:
        problem = plans_problem(plans)
        if problem:
            raise InputError("--plans", "", problem)
    if bus is not None and bus not in ("fake", "live"):
        raise InputError("--bus", "", f"{bus!r}: expected fake or live")
    args, where = certify_args(ctx.args, plans=plans, bus=bus, report=report)
    path = Path(where)
    before = path.stat().st_mtime_ns if path.exists() else None
    # chainsim is imported before pytest here, so pytest cannot assert-rewrite it: say nothing.
    quiet = ["-W", "ignore::pytest.PytestAssertRewriteWarning"]
    code = int(pytest.main([*quiet, *args]))
    if code == pytest.ExitCode.USAGE_ERROR:
        raise typer.Exit(ExitCode.BAD_INPUT)
    if not path.exists() or path.stat().st_mtime_ns == before:
        typer.echo("chainsim certify: no certification report was written: NOT CERTIFIED", err=True)
        raise typer.Exit(ExitCode.FAILED)
    typer.echo(f"certification report: {where} (Markdown: {sibling(where, '.md')})")
    try:
        certified = json.loads(path.read_text())["summary"]["certified"] is True
    except (OSError, ValueError, KeyError, TypeError):
        certified = False
    raise typer.Exit(ExitCode.OK if certified and code == 0 else ExitCode.FAILED)


fake_app = typer.Typer(
    help="The fake Genesys bus.", no_args_is_help=True, context_settings=HELP_OPTIONS
)
app.add_typer(fake_app, name="fake")


@fake_app.command("serve")
@bad_input_exits_2
def fake_serve(
    port: int = typer.Option(8080, "--port", min=0, max=65535, help="TCP port (0: any free)"),
    host: str = typer.Option("127.0.0.1", "--host", help="address to bind"),
    rules: Path | None = typer.Option(None, "--rules", help="EventBridge rules to seed"),
    triggers: Path | None = typer.Option(None, "--triggers", help="triggers (SDK wire JSON)"),
    faults: Path | None = typer.Option(None, "--faults", help="faults file (YAML)"),
    client: list[str] = typer.Option([], "--client", help="ID:SECRET (repeatable)"),
    grant: list[str] = typer.Option([], "--grant", help="ID=PERM[,PERM...] (repeatable)"),
    workflows: Path | None = typer.Option(None, "--workflows", help="[{id, name, published}]"),
    log: bool = typer.Option(False, "--log", help="one line per request on stderr"),
) -> None:
    """Serve the fake bus (both dialects, /oauth/token, /_chainsim/) on uvicorn until stopped."""
    import errno
    import socket

    from chainsim.clock import SystemClock
    from chainsim.dialects import get_dialect
    from chainsim.fakebus.bus import load_bus
    from chainsim.fakebus.server import FakeServer
    from chainsim.session import strict_triggers

    clock = SystemClock()
    bus = load_bus(faults=faults, clients=client, clock=clock, grants=grant, workflows=workflows)
    strict_triggers(bus)  # a new trigger is refused for what `validate` calls an error
    # Seeded through the dialects' codecs: the one inventory form every command reads.
    for name, path in (("eventbridge", rules), ("triggers", triggers)):
        if path is not None:
            get_dialect(name).seed(bus, path)
    try:
        server = FakeServer(bus, port=port, host=host, log=sys.stderr if log else None)
    except (socket.gaierror, OSError) as exc:
        if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
            raise fail(f"--host {host}: {exc.strerror or exc}") from None
        raise fail(f"--port {port}: {exc.strerror or exc}") from None

    def ready(base_url: str) -> None:
        typer.echo(f"listening on {base_url}")
        sys.stdout.flush()

    server.run(ready)  # returns on SIGINT / SIGTERM


# ------------------------------------------------------------- validate / simulate


_DIALECT_HELP = "eventbridge | triggers [default: detected from --inventory]"


@app.command("validate")
@bad_input_exits_2
def validate_command(
    plan: Path | None = typer.Argument(
        None, help="chain plan (YAML or JSON); none: lint the inventory"
    ),
    inventory: Path = typer.Option(..., "--inventory", help="inventory file or directory of pages"),
    output: str = typer.Option("text", "--format", help="text | json"),
    dialect: str | None = typer.Option(None, "--dialect", help=_DIALECT_HELP),
) -> None:
    """Check a plan (or the inventory alone) against an inventory. Exit 0 ok, 1 findings, 2 bad."""
    from chainsim.runners import run_validate

    raise typer.Exit(run_validate(plan, inventory, output, dialect))


@app.command("simulate")
@bad_input_exits_2
def simulate_command(
    plan: Path | None = typer.Argument(None, help="chain plan (YAML or JSON)"),
    inventory: Path | None = typer.Option(
        None, "--inventory", help="inventory file or directory of pages"
    ),
    event: Path | None = typer.Option(None, "--event", help="event file {eventType, metadata}"),
    output: str = typer.Option("text", "--format", help="text | json"),
    dialect: str | None = typer.Option(None, "--dialect", help=_DIALECT_HELP),
    example: str | None = typer.Option(
        None, "--example", help="print one schema-valid example event of this trigger topic"
    ),
) -> None:
    """Push an event through the chain hop by hop (or print an --example event). Exit 0, 2 bad."""
    from chainsim.runners import run_simulate

    raise typer.Exit(run_simulate(plan, inventory, event, output, dialect=dialect, example=example))


# ------------------------------------------------------------- plan / apply / audit / dlq

_BUS_HELP = "fake: embedded fake seeded from --inventory, --faults, virtual clock; live: HTTP"


def _target(
    bus: str,
    inventory: Path | None,
    faults: Path | None,
    api_host: str | None,
    login_host: str | None,
    env: str,
    dialect: str | None,
) -> Any:
    from chainsim.dialects.inventory import resolve_dialect
    from chainsim.session import Target

    chosen = resolve_dialect(dialect, inventory, live=bus == "live")
    return Target(bus, chosen, env, api_host, login_host, inventory, faults)


@app.command("plan")
@bad_input_exits_2
def plan_command(
    plan: Path = typer.Argument(..., help="chain plan (YAML or JSON)"),
    inventory: Path | None = typer.Option(
        None, "--inventory", help="rules file (the bus state offline)"
    ),
    bus: str | None = typer.Option(None, "--bus", help=_BUS_HELP),
    faults: Path | None = typer.Option(None, "--faults", help="faults file for --bus fake"),
    api_host: str | None = typer.Option(None, "--api-host", help="API base URL (live)"),
    login_host: str | None = typer.Option(None, "--login-host", help="login base URL (live)"),
    env: str = typer.Option("mypurecloud.com", "--env", help="Genesys Cloud environment"),
    dialect: str | None = typer.Option(None, "--dialect", help=_DIALECT_HELP),
    output: str = typer.Option("text", "--format", help="text | json"),
    out: Path | None = typer.Option(
        None, "--out", help="save the plan here; `apply FILE` applies exactly it"
    ),
    detailed: bool = typer.Option(
        False, "--detailed-exitcode", help="exit 0 nothing to change, 3 changes pending"
    ),
    destroy: bool = typer.Option(False, "--destroy", help="plan what `destroy` would remove"),
    diff: bool = typer.Option(False, "--diff", help="also print each update's full diff"),
) -> None:
    """Show what apply would change: a summary, then one line per rule (`--diff`: in full).
    Changes nothing. Exit 0 valid, 1 findings, 2 bad input."""
    from chainsim.runners import run_plan

    more = {"out": out, "detailed": detailed, "destroy": destroy, "diff": diff}
    if bus is None:  # offline: the inventory file is the bus state
        raise typer.Exit(
            run_plan(plan, None, output, inventory=inventory, dialect=dialect, **more)  # type: ignore[arg-type]
        )
    target = _target(bus, inventory, faults, api_host, login_host, env, dialect)
    raise typer.Exit(run_plan(plan, target, output, **more))  # type: ignore[arg-type]


def stdin_is_terminal() -> bool:
    """True when stdin is a terminal (someone can answer a confirmation)."""
    return sys.stdin.isatty()


def _confirmer() -> Callable[[str], bool] | None:
    """A yes/no question on the terminal (default no), or None when stdin is no terminal."""
    if not stdin_is_terminal():
        return None
    return lambda question: bool(typer.confirm(question, default=False))


@app.command("apply")
@bad_input_exits_2
def apply_command(
    plan: Path | None = typer.Argument(
        None, help="chain plan (YAML or JSON) or a saved plan; omit with --resume"
    ),
    bus: str = typer.Option(..., "--bus", help=_BUS_HELP),
    inventory: Path | None = typer.Option(None, "--inventory", help="rules to seed the fake with"),
    faults: Path | None = typer.Option(None, "--faults", help="faults file for --bus fake"),
    api_host: str | None = typer.Option(None, "--api-host", help="API base URL (live)"),
    login_host: str | None = typer.Option(None, "--login-host", help="login base URL (live)"),
    env: str = typer.Option("mypurecloud.com", "--env", help="Genesys Cloud environment"),
    dialect: str | None = typer.Option(None, "--dialect", help=_DIALECT_HELP),
    audit: Path = typer.Option(Path(".chainsim/audit.jsonl"), "--audit", help="audit log (JSONL)"),
    spool: Path | None = typer.Option(
        None, "--spool", help="dead-letter spool (default: the plan's)"
    ),
    atomic: bool = typer.Option(
        True, "--atomic/--no-atomic", help="roll back everything on a failure"
    ),
    concurrency: int = typer.Option(1, "--concurrency", help="parallel workers under one pacer"),
    resume: bool = typer.Option(False, "--resume", help="finish or roll back a killed run"),
    report: Path | None = typer.Option(None, "--report", help="write the JSON report here"),
    auto_approve: bool = typer.Option(
        False, "--auto-approve", help="--bus live: apply without asking for confirmation"
    ),
    output: str = typer.Option(
        "text", "--format", help="text | json (json: the --report JSON on stdout)"
    ),
) -> None:
    """Apply a plan or a saved plan (`plan --out`): versioned PUTs, retries, pacing, atomic
    rollback. Exit 0 applied, 1 not (or the bus drifted from a saved plan), 2 bad input."""
    from chainsim.runners import ApplyOptions, run_apply

    target = _target(bus, inventory, faults, api_host, login_host, env, dialect)
    options = ApplyOptions(audit, spool, atomic, concurrency, resume, report)
    options.auto_approve, options.confirm = auto_approve, _confirmer()
    options.output = output
    raise typer.Exit(run_apply(plan, target, options))


@app.command("destroy")
@bad_input_exits_2
def destroy_command(
    plan: Path | None = typer.Argument(
        None, help="chain plan (YAML or JSON), or a saved `plan --destroy`; omit with --resume"
    ),
    bus: str = typer.Option(..., "--bus", help=_BUS_HELP),
    inventory: Path | None = typer.Option(None, "--inventory", help="rules to seed the fake with"),
    faults: Path | None = typer.Option(None, "--faults", help="faults file for --bus fake"),
    api_host: str | None = typer.Option(None, "--api-host", help="API base URL (live)"),
    login_host: str | None = typer.Option(None, "--login-host", help="login base URL (live)"),
    env: str = typer.Option("mypurecloud.com", "--env", help="Genesys Cloud environment"),
    dialect: str | None = typer.Option(None, "--dialect", help=_DIALECT_HELP),
    audit: Path = typer.Option(Path(".chainsim/audit.jsonl"), "--audit", help="audit log (JSONL)"),
    spool: Path | None = typer.Option(
        None, "--spool", help="dead-letter spool (default: the plan's)"
    ),
    atomic: bool = typer.Option(
        True, "--atomic/--no-atomic", help="roll back everything on a failure"
    ),
    concurrency: int = typer.Option(1, "--concurrency", help="parallel workers under one pacer"),
    resume: bool = typer.Option(False, "--resume", help="finish or roll back a killed run"),
    report: Path | None = typer.Option(None, "--report", help="write the JSON report here"),
    auto_approve: bool = typer.Option(
        False, "--auto-approve", help="--bus live: destroy without asking for confirmation"
    ),
) -> None:
    """Remove what the plan added (its links), like apply. Exit 0 done, 1 not, 2 bad input."""
    from chainsim.runners import ApplyOptions, run_destroy

    target = _target(bus, inventory, faults, api_host, login_host, env, dialect)
    options = ApplyOptions(audit, spool, atomic, concurrency, resume, report)
    options.auto_approve, options.confirm = auto_approve, _confirmer()
    raise typer.Exit(run_destroy(plan, target, options))


@app.command("export")
@bad_input_exits_2
def export_command(
    bus: str = typer.Option(..., "--bus", help=_BUS_HELP),
    inventory: Path | None = typer.Option(None, "--inventory", help="--bus fake: seed file"),
    out: Path | None = typer.Option(None, "-o", "--out", help="write here (default stdout)"),
    api_host: str | None = typer.Option(None, "--api-host", help="API base URL (live)"),
    login_host: str | None = typer.Option(None, "--login-host", help="login base URL (live)"),
    env: str = typer.Option("mypurecloud.com", "--env", help="Genesys Cloud environment"),
    dialect: str | None = typer.Option(
        None, "--dialect", help="eventbridge | triggers [default: detected; live: triggers]"
    ),
) -> None:
    """Write every trigger (rule) of the org, all pages, as {"entities": [...]}. Read-only."""
    from chainsim.runners import run_export

    target = _target(bus, inventory, None, api_host, login_host, env, dialect)
    raise typer.Exit(run_export(target, out))


audit_app = typer.Typer(
    help="The hash-chained audit log.", no_args_is_help=True, context_settings=HELP_OPTIONS
)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
@bad_input_exits_2
def audit_verify(
    path: Path = typer.Argument(..., help="audit log (JSONL)"),
    head: str | None = typer.Option(
        None, "--head", help="a head digest recorded elsewhere that the log must reach"
    ),
) -> None:
    """Check the hash chain; exit 0 intact, 1 broken (naming the first broken line)."""
    from chainsim.runners import run_audit_verify

    raise typer.Exit(run_audit_verify(path, head))


dlq_app = typer.Typer(
    help="Dead letters: list, redrive and forward the local spool.",
    no_args_is_help=True,
    context_settings=HELP_OPTIONS,
)
app.add_typer(dlq_app, name="dlq")


@dlq_app.command("list")
@bad_input_exits_2
def dlq_list(
    spool: Path | None = typer.Option(
        None, "--spool", help="dead-letter spool [default: .chainsim/deadletter.jsonl]"
    ),
    output: str = typer.Option("text", "--format", help="text | json"),
) -> None:
    """List the spooled dead letters."""
    from chainsim.runners import run_dlq_list

    raise typer.Exit(run_dlq_list(spool, output))


@dlq_app.command("redrive")
@bad_input_exits_2
def dlq_redrive(
    spool: Path | None = typer.Option(
        None, "--spool", help="dead-letter spool [default: .chainsim/deadletter.jsonl]"
    ),
    bus: str = typer.Option(..., "--bus", help=_BUS_HELP),
    inventory: Path | None = typer.Option(None, "--inventory", help="rules to seed the fake with"),
    faults: Path | None = typer.Option(None, "--faults", help="faults file for --bus fake"),
    api_host: str | None = typer.Option(None, "--api-host", help="API base URL (live)"),
    login_host: str | None = typer.Option(None, "--login-host", help="login base URL (live)"),
    env: str = typer.Option("mypurecloud.com", "--env", help="Genesys Cloud environment"),
    dialect: str | None = typer.Option(None, "--dialect", help=_DIALECT_HELP),
) -> None:
    """Re-attempt the spool; an atomic run's letters re-apply its whole plan atomically
    (or are refused, kept). --bus fake is a rehearsal: the spool is kept as it is.
    Exit 0 nothing left, 1 letters left, 2 bad input."""
    from chainsim.runners import run_dlq_redrive

    target = _target(bus, inventory, faults, api_host, login_host, env, dialect)
    raise typer.Exit(run_dlq_redrive(spool, target))


@dlq_app.command("forward")
@bad_input_exits_2
def dlq_forward(
    spool: Path | None = typer.Option(
        None, "--spool", help="dead-letter spool [default: .chainsim/deadletter.jsonl]"
    ),
    url: str | None = typer.Option(
        None, "--url", help="dead-letter URL [default: the run plan's dead_letter.url]"
    ),
    timeout: float = typer.Option(10.0, "--timeout", help="seconds per POST"),
) -> None:
    """POST spooled letters to the dead-letter URL; remove only those delivered.
    Exit 0 all delivered, 1 some kept, 2 bad input."""
    from chainsim.runners import run_dlq_forward

    raise typer.Exit(run_dlq_forward(spool, url, timeout))


# ------------------------------------------------------------- probe (trigger test mode)


@app.command("probe")
@bad_input_exits_2
def probe_command(
    plan: Path = typer.Argument(..., help="chain plan (YAML or JSON)"),
    event: Path = typer.Option(..., "--event", help="event file {eventType, metadata}"),
    bus: str = typer.Option("live", "--bus", help="live: the org; fake: seeded from --triggers"),
    dialect: str = typer.Option("triggers", "--dialect", help="triggers (the only test mode)"),
    inventory: Path | None = typer.Option(
        None, "--inventory", help="simulate on these triggers instead of the org's"
    ),
    triggers: Path | None = typer.Option(None, "--triggers", help="--bus fake: triggers to seed"),
    output: str = typer.Option("text", "--format", help="text | json"),
    api_host: str | None = typer.Option(None, "--api-host", help="API base URL override"),
    login_host: str | None = typer.Option(None, "--login-host", help="login base URL override"),
    env: str = typer.Option("mypurecloud.com", "--env", help="region host or name (us_west_2)"),
) -> None:
    """Ask the org's trigger test mode about every simulated hop, beside chainsim's verdict.

    Exit 0 when all hops agree, 1 on a disagreement, 2 on bad input.
    """
    from chainsim.bus.base import BusError
    from chainsim.runners import run_probe

    try:
        code = run_probe(
            plan,
            event,
            bus=bus,
            dialect=dialect,
            inventory=inventory,
            triggers=triggers,
            output=output,
            api_host=api_host,
            login_host=login_host,
            env=env,
        )
    except BusError as exc:
        raise fail(f"probe: {exc}", ExitCode.FAILED) from None
    raise typer.Exit(code)


@app.command("capacity")
@bad_input_exits_2
def capacity_command(
    plan: Path = typer.Argument(..., help="chain plan (YAML or JSON) with its workflows: block"),
    inventory: Path = typer.Option(..., "--inventory", help="triggers file (SDK wire JSON)"),
    rate: list[str] | None = typer.Option(
        None, "--rate", metavar="TOPIC=N", help="N events per minute on TOPIC (repeatable)"
    ),
    per_minute: int = typer.Option(6000, "--per-minute", help="invocations per minute limit"),
    per_hour: int = typer.Option(36000, "--per-hour", help="invocations per hour limit"),
    target_ratio: float = typer.Option(
        0.8, "--target-ratio", help="share of the per-minute limit one workflow may take"
    ),
    output: str = typer.Option("text", "--format", help="text | json"),
) -> None:
    """Workflow invocations per minute/hour through every chain vs the org limits.

    Exit 0 within the limits, 1 over, 2 bad input.
    """
    from chainsim.capacity import run_capacity

    code = run_capacity(plan, inventory, rate or [], per_minute, per_hour, target_ratio, output)
    raise typer.Exit(code)


def main(args: list[str] | None = None) -> None:
    """Console-script entry point: a usage error, too, is one line on stderr and exit 2."""
    from typer.exceptions import TyperException

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))
    try:
        code = app(args=args, prog_name="chainsim", standalone_mode=False)
    except TyperException as exc:  # click's usage errors, as typer ships them
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
            typer.echo(ctx.get_help())
            sys.exit(ExitCode.BAD_INPUT)
        where = ctx.command_path.removeprefix("chainsim").strip() if ctx is not None else ""
        message = " ".join(exc.format_message().split())
        typer.echo(f"chainsim: {where + ': ' if where else ''}{message}", err=True)
        sys.exit(getattr(exc, "exit_code", ExitCode.BAD_INPUT))
    except typer.Abort:
        typer.echo("Aborted!", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else ExitCode.OK)


if __name__ == "__main__":
    main()

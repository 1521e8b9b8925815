"""chainsim's command line: a thin typer layer over the library.

Every command turns bad input (`InputError`) into one line on stderr and exit code 2;
library code never prints and never exits.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import typer

from chainsim.model import InputError

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_BAD_INPUT = 2

app = typer.Typer(
    name="chainsim",
    help="Verify, simulate and safely deploy chains of Genesys Cloud event rules.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = EXIT_BAD_INPUT) -> typer.Exit:
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


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def certify(ctx: typer.Context) -> None:
    """Run the certification scenarios (scenarios/) through pytest: certify [PYTEST ARGS].

    Takes pytest's and the plugin's options (--chainsim-bus, --chainsim-dialect,
    --chainsim-env, --chainsim-api-host, --chainsim-report; default report
    .chainsim/certification.json); prints where the report went; exits with pytest's code.
    """
    import pytest

    from chainsim.report import sibling
    from chainsim.testing import certify_args

    args, report = certify_args(ctx.args)
    if "--help" in args or "-h" in args:
        typer.echo(ctx.get_help())
        raise typer.Exit(0)
    before = Path(report).stat().st_mtime_ns if Path(report).exists() else None
    code = int(pytest.main(args))
    if Path(report).exists() and Path(report).stat().st_mtime_ns != before:
        typer.echo(f"certification report: {report} (Markdown: {sibling(report, '.md')})")
    raise typer.Exit(code)


fake_app = typer.Typer(help="The fake Genesys bus.", no_args_is_help=True)
app.add_typer(fake_app, name="fake")


@fake_app.command("serve")
@bad_input_exits_2
def fake_serve(
    port: int = typer.Option(8080, "--port", min=0, max=65535, help="TCP port on 127.0.0.1"),
    rules: Path | None = typer.Option(None, "--rules", help="EventBridge rules to seed"),
    triggers: Path | None = typer.Option(None, "--triggers", help="triggers (SDK wire JSON)"),
    faults: Path | None = typer.Option(None, "--faults", help="faults file (YAML)"),
    client: list[str] = typer.Option([], "--client", help="ID:SECRET (repeatable)"),
) -> None:
    """Serve the fake bus (both dialects and /oauth/token) on 127.0.0.1 until stopped."""
    import signal
    import threading

    from chainsim.clock import SystemClock
    from chainsim.fakebus.bus import load_bus
    from chainsim.fakebus.server import FakeServer

    clock = SystemClock()
    bus = load_bus(rules=rules, triggers=triggers, faults=faults, clients=client, clock=clock)
    try:
        server = FakeServer(bus.handler, port=port)
    except OSError as exc:
        raise fail(f"--port {port}: {exc.strerror or exc}") from None
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with server:
        typer.echo(f"listening on {server.base_url}")
        sys.stdout.flush()
        while not stop.wait(3600):
            pass


def main() -> None:
    """Console-script entry point."""
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))
    app()


if __name__ == "__main__":
    main()

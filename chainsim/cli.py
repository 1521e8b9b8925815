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


def main() -> None:
    """Console-script entry point."""
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))
    app()


if __name__ == "__main__":
    main()

"""The console-script entry point `chainsim.cli.main`: exit codes and one-line usage errors."""

from __future__ import annotations

import pytest

from chainsim.cli import main


def _main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_.value.code or 0), out, err


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["apply", "plan.yaml"], "chainsim: apply: Missing option '--bus'."),
        (
            ["apply", "plan.yaml", "--bus", "fake", "--concurrency", "many"],
            "chainsim: apply: Invalid value for '--concurrency': ",
        ),
        (["fake", "serve", "--port", "99999"], "chainsim: fake serve: Invalid value for '--port'"),
        (["nosuchcommand"], "chainsim: No such command 'nosuchcommand'."),
        (["validate"], "chainsim: validate: Missing option '--inventory'."),
    ],
)
def test_a_usage_error_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], args: list[str], line: str
) -> None:
    """A missing or mistyped option is one line on stderr naming the command, exit 2."""
    code, out, err = _main(capsys, *args)
    assert code == 2
    assert out == ""
    assert err.startswith(line) and err.count("\n") == 1


def test_no_arguments_shows_help(capsys: pytest.CaptureFixture[str]) -> None:
    """`chainsim` alone prints the help (exit 2, as click does)."""
    code, out, _ = _main(capsys)
    assert code == 2 and "apply" in out and "validate" in out


def test_exit_codes_pass_through(capsys: pytest.CaptureFixture[str]) -> None:
    """A command's own exit code (here `--help`: 0; bad input: 2) is the process's."""
    assert _main(capsys, "--help")[0] == 0
    code, _, err = _main(capsys, "audit", "verify", "no-such-audit.jsonl")
    assert code == 2 and err == "chainsim: no-such-audit.jsonl: no such file\n"

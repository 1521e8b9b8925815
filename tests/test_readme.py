"""The README's examples run as written.

Every ```` ```console ```` block is a shell session: each `$ ` line (with `\\`
continuations) runs in bash, in one scratch copy of `scenarios/plans/` shared by all
blocks in README order (the tutorial builds on what earlier blocks wrote). The lines
shown after a command are its expected output: each must appear, in order, among the
lines the command printed (whitespace folded); a line `...` stands for any lines.
Every ```` ```python ```` block runs as a script in the same directory. Blocks marked
`sh`, `text`, `yaml` or `json` are shown, not run (the two set-up commands are `sh`).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
FENCE = re.compile(r"^```(\w*)\s*$")


@dataclass
class Command:
    """One `$ ` command of a console block and the output the README shows for it."""

    line: int
    text: str
    expected: list[str] = field(default_factory=list)


@dataclass
class Block:
    """A fenced block: its language, first line number and text."""

    lang: str
    line: int
    body: list[str]


def read_blocks(text: str) -> list[Block]:
    """The fenced code blocks of a Markdown text, in order."""
    blocks: list[Block] = []
    current: Block | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        match = FENCE.match(line.strip())
        if current is None:
            if match:
                current = Block(match.group(1), number + 1, [])
        elif line.strip() == "```":
            current.body = textwrap.dedent("\n".join(current.body)).splitlines()
            blocks.append(current)
            current = None
        else:
            current.body.append(line)
    return blocks


def commands_of(block: Block) -> list[Command]:
    """The commands of a console block, continuation lines joined."""
    commands: list[Command] = []
    lines = iter(enumerate(block.body, start=block.line))
    for number, line in lines:
        if line.startswith("$ "):
            text = line[2:]
            while text.endswith("\\"):
                _, more = next(lines)
                text = text[:-1] + " " + more.strip()
            commands.append(Command(number, text))
        elif commands and not commands[-1].expected and (line == ">" or line.startswith("> ")):
            commands[-1].text += "\n" + line[2:]  # a continuation prompt (heredoc, quotes)
        elif commands:
            commands[-1].expected.append(line)
    return commands


def _fold(line: str) -> str:
    return " ".join(line.split())


def missing_lines(expected: list[str], actual: str) -> list[str]:
    """Expected lines not found, in order, among the actual output lines."""
    got = [_fold(line) for line in actual.splitlines()]
    position, missing = 0, []
    for line in expected:
        want = _fold(line)
        if not want or want == "...":
            continue
        try:
            position = got.index(want, position) + 1
        except ValueError:
            missing.append(line)
    return missing


def _environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GENESYS_", "CHAINSIM_"))}
    env.update(
        HOME=str(home),
        COLUMNS="120",
        NO_COLOR="1",
        TERM="dumb",
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=str(ROOT),
    )
    return env


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scratch copy of scenarios/plans/, shared by every README block in order."""
    base = tmp_path_factory.mktemp("readme")
    work = base / "plans"
    shutil.copytree(ROOT / "scenarios" / "plans", work)
    return work


BLOCKS = [
    b for b in read_blocks(README.read_text(encoding="utf-8")) if b.lang in ("console", "python")
]


def test_readme_has_runnable_examples() -> None:
    """The README shows console sessions and Python that this test runs."""
    langs = {b.lang for b in BLOCKS}
    assert langs == {"console", "python"}


def test_readme_keeps_two_setup_commands() -> None:
    """Exactly two `sh` set-up blocks: the main job and the whole test suite."""
    setup = [b for b in read_blocks(README.read_text(encoding="utf-8")) if b.lang == "sh"]
    assert len(setup) == 2
    assert "pytest scenarios/" in setup[0].body[0]
    assert setup[1].body[0].rstrip().endswith("&& pytest -n 2")


@pytest.mark.timeout(900)  # every example in one test: a minute alone, more on a busy machine
def test_readme_examples_run_as_written(scratch: Path) -> None:
    """Every README example runs, in README order, and prints what the README shows."""
    failures = [problem for block in BLOCKS if (problem := run_block(block, scratch))]
    assert not failures, "\n\n".join(failures)


def run_block(block: Block, scratch: Path) -> str | None:
    """Run one block in the scratch directory; what went wrong, or None."""
    env = _environment(scratch.parent)
    if block.lang == "python":
        done = subprocess.run(
            [sys.executable, "-c", "\n".join(block.body)],
            cwd=scratch,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        if done.returncode != 0:
            return f"README.md:{block.line}: python failed:\n{done.stdout}\n{done.stderr[-3000:]}"
        return None
    commands = commands_of(block)
    script = []
    for command in commands:
        script.append("{ " + command.text + "\n} 2>&1")
        # keep the command's status for a following `echo $?`
        script.append(f"__rc=$?; echo '::chainsim-readme-end {command.line}::'; (exit $__rc)")
    done = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        cwd=scratch,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    outputs = re.split(r"::chainsim-readme-end \d+::\n?", done.stdout)
    for command, output in zip(commands, outputs, strict=False):
        missing = missing_lines(command.expected, output)
        if missing:
            return (
                f"README.md:{command.line}: `{command.text}` printed:\n{output}\nmissing: {missing}"
            )
    if len(outputs) <= len(commands):
        return f"README.md:{block.line}: the block stopped early:\n{done.stderr[-2000:]}"
    return None


def test_missing_lines_reads_order_and_ellipsis() -> None:
    """The output check wants the shown lines in order; `...` skips any lines."""
    assert missing_lines(["a", "...", "c"], "a\nb\nc\n") == []
    assert missing_lines(["c", "a"], "a\nb\nc\n") == ["a"]
    assert missing_lines(["a  b"], "a b\n") == []

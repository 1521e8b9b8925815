"""Errors shared by the library and the CLI, importable without pydantic or httpx."""

from __future__ import annotations

from enum import IntEnum


class InputError(ValueError):
    """Bad input from a file or the command line: one line naming file, place and problem."""

    def __init__(self, source: str, place: str, problem: str) -> None:
        self.source = source
        self.place = place
        self.problem = problem
        where = f"{source}: {place}: " if place else f"{source}: "
        super().__init__(where + problem)


class ExitCode(IntEnum):
    """chainsim's exit codes, defined once (DESIGN §9)."""

    OK = 0  # success: valid, applied, all agree, intact
    FAILED = 1  # findings, a failed or rolled-back apply, a disagreement, a broken log
    BAD_INPUT = 2  # bad input: one line on stderr, nothing changed
    CHANGES = 3  # `plan --detailed-exitcode`: valid, and changes are pending

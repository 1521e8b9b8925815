"""Errors shared by the library and the CLI, importable without pydantic or httpx."""

from __future__ import annotations


class InputError(ValueError):
    """Bad input from a file or the command line: one line naming file, place and problem."""

    def __init__(self, source: str, place: str, problem: str) -> None:
        self.source = source
        self.place = place
        self.problem = problem
        where = f"{source}: {place}: " if place else f"{source}: "
        super().__init__(where + problem)

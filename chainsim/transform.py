"""The transformation matrix: destination key -> JSONPath on the source event.

Paths are compiled by python-jsonpath in its strict (RFC 9535) mode, so a path must
start at the root `$`; chainsim never parses JSONPath itself, it only inspects the
library's parsed segments to learn which `metadata` key a path reads.

Evaluation rule (DESIGN is silent): a singular path (`$.metadata.callerId`) yields the
one value it selects; a path that may select several nodes (wildcards, filters,
slices) yields the list of everything it selects. A path that selects nothing is a
missing attribute: the destination key is left out and the miss is reported.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jsonpath import JSONPath, JSONPathEnvironment
from jsonpath.exceptions import JSONPathError
from jsonpath.segments import JSONPathChildSegment
from jsonpath.selectors import NameSelector

METADATA = "metadata"


class PathError(ValueError):
    """A JSONPath that does not parse, or does not read `$.metadata.<key>`."""


def _problem_text(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:  # the library's detailed message can fail on empty input
        text = str(exc.args[0]) if exc.args else type(exc).__name__
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


@dataclass(slots=True)
class CompiledPath:
    """A compiled JSONPath and the `metadata` key it reads (None if it reads none)."""

    text: str
    path: JSONPath
    key: str | None
    singular: bool

    def read(self, event: Mapping[str, Any]) -> tuple[bool, Any]:
        """`(found, value)` of this path on a wire event `{"eventType", "metadata"}`."""
        matches = self.path.findall(event)
        if not matches:
            return False, None
        return True, (matches[0] if self.singular else matches)


@dataclass
class PathCompiler:
    """Compiles JSONPaths once per distinct text (a cache per compiler, not global)."""

    env: JSONPathEnvironment = field(default_factory=lambda: JSONPathEnvironment(strict=True))
    _cache: dict[str, CompiledPath | PathError] = field(default_factory=dict, repr=False)

    def compile(self, text: str) -> CompiledPath:
        """The compiled path; raises `PathError` when it does not parse."""
        hit = self._cache.get(text)
        if hit is None:
            hit = self._compile(text)
            self._cache[text] = hit
        if isinstance(hit, PathError):
            raise hit
        return hit

    def _compile(self, text: str) -> CompiledPath | PathError:
        if not isinstance(text, str):
            return PathError(f"JSONPath must be a string, got {type(text).__name__}")
        try:
            compiled = self.env.compile(text)
        except (JSONPathError, ValueError, RecursionError) as exc:
            return PathError(f"invalid JSONPath {text!r}: {_problem_text(exc)}")
        if not isinstance(compiled, JSONPath):  # a compound path (union/intersection)
            return PathError(f"invalid JSONPath {text!r}: compound paths are not supported")
        return CompiledPath(text, compiled, _metadata_key(compiled), compiled.singular_query())

    def check(self, text: str, carried: Collection[str]) -> str | None:
        """None when `text` parses and reads `$.metadata.<key>` with `<key>` in `carried`.

        Otherwise a short problem; see `path_problem` for the two kinds.
        """
        kind, problem = self.path_problem(text, carried)
        return problem if kind else None

    def path_problem(self, text: str, carried: Collection[str]) -> tuple[str | None, str]:
        """`(kind, problem)`: kind is None (fine), "syntax" or "attribute".

        "syntax": the path does not parse or does not start `$.metadata.<name>`.
        "attribute": it does, but `<name>` is not among the `carried` attributes.
        """
        try:
            compiled = self.compile(text)
        except PathError as exc:
            return "syntax", str(exc)
        if compiled.key is None:
            return "syntax", f"JSONPath {text!r} must start with $.metadata.<attribute>"
        if compiled.key not in carried:
            return "attribute", f"JSONPath {text!r} reads attribute {compiled.key!r}"
        return None, ""


def _metadata_key(path: JSONPath) -> str | None:
    """The `<key>` of a path starting `$.metadata.<key>`, from the library's segments."""
    segments = path.segments
    if len(segments) < 2:
        return None
    names: list[str] = []
    for segment in segments[:2]:
        if not isinstance(segment, JSONPathChildSegment) or len(segment.selectors) != 1:
            return None
        selector = segment.selectors[0]
        if not isinstance(selector, NameSelector):
            return None
        names.append(selector.name)
    return names[1] if names[0] == METADATA else None


def metadata_key(text: str) -> str | None:
    """The metadata key a JSONPath reads (`$.metadata.callerId` -> `callerId`), else None."""
    try:
        return PathCompiler().compile(text).key
    except PathError:
        return None


@dataclass(slots=True)
class Applied:
    """The result of applying a transformation: the new metadata and what was missing."""

    metadata: dict[str, Any]
    missing: list[str]


def apply_transform(
    matrix: Mapping[str, str],
    event: Mapping[str, Any],
    *,
    compiler: PathCompiler | None = None,
) -> dict[str, Any]:
    """Evaluate `{dest_key: jsonpath}` on a wire event; keys that select nothing are left out."""
    return transform_metadata(matrix, event, compiler=compiler).metadata


def transform_metadata(
    matrix: Mapping[str, str],
    event: Mapping[str, Any],
    *,
    preserve: Iterable[str] = (),
    compiler: PathCompiler | None = None,
) -> Applied:
    """Destination metadata per DESIGN §2: preserved attributes first, then matrix entries.

    `missing` lists each preserved attribute the source event lacks and each matrix
    path that selects nothing (as `dest_key <- path`). Raises `PathError` for a path
    that does not parse.
    """
    compiler = compiler or PathCompiler()
    source = event.get(METADATA) or {}
    metadata: dict[str, Any] = {}
    missing: list[str] = []
    for name in preserve:
        if name in source:
            metadata[name] = source[name]
        else:
            missing.append(name)
    for dest_key, text in matrix.items():
        found, value = compiler.compile(text).read(event)
        if found:
            metadata[dest_key] = value
        else:
            missing.append(f"{dest_key} <- {text}")
    return Applied(metadata, missing)


def destination_event(
    event: Mapping[str, Any],
    destination_event_type: str,
    matrix: Mapping[str, str],
    preserve: Iterable[str] = (),
    *,
    compiler: PathCompiler | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """The wire event a destination rule receives over a link, and what was missing."""
    applied = transform_metadata(matrix, event, preserve=preserve, compiler=compiler)
    return {"eventType": destination_event_type, "metadata": applied.metadata}, applied.missing


__all__ = [
    "Applied",
    "CompiledPath",
    "PathCompiler",
    "PathError",
    "apply_transform",
    "destination_event",
    "metadata_key",
    "transform_metadata",
]

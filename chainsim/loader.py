"""The one guarded way chainsim reads an input file: plans, inventories, events, faults, JSONL.

Every reader goes through `read_bytes` (or `read_text`, `read_document`, `iter_jsonl`),
which refuses, as one `InputError` line and before reading a byte of content:

- anything but a regular file: a directory, a FIFO (opened with `O_NONBLOCK`, so a
  FIFO without a writer never blocks), a character device such as `/dev/zero`, a socket;
- a file larger than `max_bytes` (default `DEFAULT_MAX_BYTES`, 64 MiB; every reader
  takes `max_bytes=` to raise or lower it);

and, while parsing, refuses an integer literal of more than `MAX_INT_DIGITS` digits
(Python's own limit, 4,300, is a `ValueError` traceback), nesting deeper than
`MAX_DEPTH`, a key given twice, a YAML alias bomb, and a JSONL record that does not
match its pydantic schema (`file: line N: field: what is wrong`).
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from chainsim.errors import InputError

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
"""The default size limit of an input file (64 MiB); pass `max_bytes=` to change it."""

MAX_INT_DIGITS = 100
"""The longest integer literal accepted (a 64-bit integer has 20 digits)."""

MAX_DEPTH = 200
"""The deepest nesting of lists and mappings accepted in a document or JSONL record."""

MAX_EXPANDED_VALUES = 10_000_000
"""The most values YAML aliases may expand to (more is a "billion laughs" bomb)."""

_KINDS = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _not_regular(mode: int) -> str | None:
    """Why a file of this `st_mode` is refused, or None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "is a directory, expected a file"
    kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
    return f"is {kind}, expected a regular file"


def open_regular(path: str | Path) -> BinaryIO:
    """Open a regular file for binary reading (else `InputError`); never blocks on a FIFO."""
    name = str(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise InputError(name, "", "no such file") from None
    except OSError as exc:
        raise InputError(name, "", f"cannot be read ({exc.strerror})") from None
    problem = _not_regular(mode)
    if problem:
        raise InputError(name, "", problem)
    try:  # O_NONBLOCK: a FIFO swapped in since the stat still cannot block the open
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise InputError(name, "", f"cannot be read ({exc.strerror})") from None
    handle = os.fdopen(fd, "rb")
    try:
        info = os.fstat(handle.fileno())
        problem = _not_regular(info.st_mode)
        if problem:
            raise InputError(name, "", problem)
        os.set_blocking(fd, True)
        return handle
    except BaseException:
        handle.close()
        raise


def read_bytes(path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The content of a regular file of at most `max_bytes` bytes (else `InputError`)."""
    name = str(path)
    with open_regular(path) as handle:
        if os.fstat(handle.fileno()).st_size > max_bytes:
            raise InputError(name, "", _too_large(max_bytes))
        try:
            data = handle.read(max_bytes + 1)  # a file growing while read is still bounded
        except OSError as exc:
            raise InputError(name, "", f"cannot be read ({exc.strerror})") from None
    if len(data) > max_bytes:
        raise InputError(name, "", _too_large(max_bytes))
    return data


def _too_large(max_bytes: int) -> str:
    return f"is larger than the input limit of {max_bytes:,} bytes"


def read_text(path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """A regular UTF-8 text file (a leading BOM from Windows editors dropped)."""
    data = read_bytes(path, max_bytes=max_bytes)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(str(path), "", "is not UTF-8 text") from None


# --------------------------------------------------------------------------- JSON


class _Refused(ValueError):
    """A JSON document breaks a limit (a duplicate key, an over-long integer)."""


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refusing a key given twice (plain `json.loads` keeps the last)."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Refused(f"duplicate key {key!r}")
            seen.add(key)
    return obj


def _json_int(text: str) -> int:
    """An integer literal, refusing one of more than `MAX_INT_DIGITS` digits."""
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _Refused(f"an integer of more than {MAX_INT_DIGITS} digits")
    return int(text)


def parse_json(text: str, source: str, place: str = "") -> Any:
    """Parse JSON text under chainsim's limits; problems raise `InputError` at `place`."""
    try:
        data = json.loads(text, object_pairs_hook=_json_object, parse_int=_json_int)
    except _Refused as exc:
        raise InputError(source, place, f"invalid JSON: {exc.args[0]}") from None
    except json.JSONDecodeError as exc:
        where = place or f"line {exc.lineno}, column {exc.colno}"
        raise InputError(source, where, f"invalid JSON: {exc.msg}") from None
    except (RecursionError, MemoryError):
        raise InputError(source, place, "invalid JSON: nested too deeply") from None
    except ValueError as exc:  # any other limit of the parser: one line, never a traceback
        raise InputError(source, place, f"invalid JSON: {exc}") from None
    if nesting_depth(data) > MAX_DEPTH:
        raise InputError(source, place, "invalid JSON: nested too deeply")
    return data


def nesting_depth(data: Any) -> int:
    """How deeply lists and mappings nest in `data` (a scalar is 0), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, Mapping):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        depth += 1
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, depth) for child in children)
    return deepest


# --------------------------------------------------------------------------- YAML

_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE_TAG = "tag:yaml.org,2002:merge"
_INT_TAG = "tag:yaml.org,2002:int"


class StrictYamlLoader(_SafeLoader):
    """The safe YAML loader (libyaml when present), refusing a repeated key or a huge integer."""

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        """Build the mapping after checking no key is given twice (merge keys aside)."""
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG:
                    continue
                key = self.construct_object(key_node, deep=deep)
                try:
                    repeated = key in seen
                    seen.add(key)
                except TypeError:  # unhashable: the base class reports it
                    continue
                if repeated:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        f"duplicate key {key!r}",
                        key_node.start_mark,
                    )
        return super().construct_mapping(node, deep=deep)

    def construct_bounded_int(self, node: Any) -> Any:
        """An integer scalar, refusing one of more than `MAX_INT_DIGITS` digits."""
        if len(str(node.value)) > MAX_INT_DIGITS + 8:  # room for sign, `0x`, `_` separators
            raise yaml.constructor.ConstructorError(
                None, None, f"an integer of more than {MAX_INT_DIGITS} digits", node.start_mark
            )
        return self.construct_yaml_int(node)


StrictYamlLoader.add_constructor(_INT_TAG, StrictYamlLoader.construct_bounded_int)


def parse_yaml(text: str, source: str) -> Any:
    """Parse YAML text under chainsim's limits; problems raise `InputError`."""
    try:
        data = yaml.load(text, Loader=StrictYamlLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        place = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(source, place, f"invalid YAML: {problem}") from None
    except (RecursionError, MemoryError):
        raise InputError(source, "", "invalid YAML: nested too deeply") from None
    except ValueError as exc:  # any other limit of the constructors: one line
        raise InputError(source, "", f"invalid YAML: {exc}") from None
    if "*" in text:  # aliases: refuse a self-referencing or exploding ("billion laughs") document
        check_aliases(source, data)
    elif nesting_depth(data) > MAX_DEPTH:
        raise InputError(source, "", "invalid YAML: nested too deeply")
    return data


def check_aliases(name: str, root: Any) -> None:
    """Refuse a YAML document whose aliases recurse or expand past `MAX_EXPANDED_VALUES`.

    Iterative post-order walk over the shared nodes, counting each node's expanded size
    once (memoised by identity), so it costs O(distinct nodes) whatever the expansion.
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        if not isinstance(node, (dict, list)):
            continue
        key = id(node)
        children = list(node.values()) if isinstance(node, dict) else node
        if finished:
            open_nodes.discard(key)
            size = 1 + sum(sizes[id(c)] if isinstance(c, (dict, list)) else 1 for c in children)
            if size > MAX_EXPANDED_VALUES:
                raise InputError(
                    name,
                    "",
                    f"invalid YAML: aliases expand to more than {MAX_EXPANDED_VALUES:,} "
                    "values (a YAML bomb?)",
                )
            sizes[key] = size
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            raise InputError(name, "", "invalid YAML: an alias refers to its own anchor")
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in children)
    if nesting_depth(root) > MAX_DEPTH:
        raise InputError(name, "", "invalid YAML: nested too deeply")


# --------------------------------------------------------------------------- files


def read_document(path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Any:
    """Parse a YAML or JSON file (JSON is YAML's subset but parsed natively for speed).

    An empty (or blank) file is `None` in both formats, so an empty `.json` plan and an
    empty `.yaml` plan mean the same.
    """
    path = Path(path)
    text = read_text(path, max_bytes=max_bytes)
    if not text.strip():
        return None
    if path.suffix.lower() == ".json":
        return parse_json(text, str(path))
    return parse_yaml(text, str(path))


def iter_jsonl(
    path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> Iterator[tuple[int, Any]]:
    """`(line number, parsed JSON)` for each non-blank line of a JSONL file.

    A bad line raises `InputError(path, "line N", ...)`.
    """
    name = str(path)
    text = read_text(path, max_bytes=max_bytes)
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            yield number, parse_json(line, name, f"line {number}")


M = TypeVar("M", bound=BaseModel)


def record_error(source: str, place: str, error: ValidationError) -> InputError:
    """The first problem of a record's `ValidationError` as `source: place: field: what`."""
    first = error.errors(include_url=False)[0]
    field = ".".join(str(part) for part in first["loc"]) or "record"
    return InputError(source, place, f"{field}: {first['msg'][:200]}")


def validate_record(source: str, place: str, model: type[M], data: Any) -> M:
    """`data` as `model`; a mismatch is one `InputError` line naming the field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise record_error(source, place, exc) from None

"""Data made safe for a terminal: control characters shown, over-long ids shortened.

Ids, names and messages come from files and from the bus, so text output must never
pass them to the terminal raw: an id holding `ESC[2J` would clear the user's screen,
and a 5 MB id would take a table renderer minutes. `printable` shortens first (so its
cost is bounded by `limit`, not by the input) and then renders every C0 and C1 control
character, DEL and the Unicode bidirectional overrides visibly (`\\x1b`, `\\n`,
`\\u202e`).
"""

from __future__ import annotations

from types import MappingProxyType

ID_LIMIT = 80
"""Ids longer than this are shortened with an ellipsis in text output."""

MESSAGE_LIMIT = 2_000
"""Messages longer than this are shortened with an ellipsis in text output."""

ELLIPSIS = "…"

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_CONTROLS = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]
_BIDI = [0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]

# A read-only translation table: each control character to its visible escape.
_ESCAPES = MappingProxyType(
    {
        **{code: f"\\x{code:02x}" for code in _CONTROLS},
        **{code: f"\\u{code:04x}" for code in _BIDI},
        **{ord(char): text for char, text in _NAMED.items()},
    }
)


def shorten(text: str, limit: int | None = ID_LIMIT) -> str:
    """`text` cut to `limit` characters, ending in an ellipsis when it was longer."""
    if limit is None or len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)] + ELLIPSIS


def printable(text: object, limit: int | None = ID_LIMIT) -> str:
    """`text` as one safe line: shortened to `limit` characters, controls escaped visibly."""
    return shorten(str(text), limit).translate(_ESCAPES)


def printable_lines(text: str, limit: int | None = MESSAGE_LIMIT) -> str:
    """Multi-line `text` made safe line by line (its line breaks kept)."""
    return "\n".join(printable(line, limit) for line in text.split("\n"))

"""Tests for terminal-safe text: control characters escaped, over-long ids shortened."""

from __future__ import annotations

import time

import pytest

from chainsim.textsafe import ELLIPSIS, ID_LIMIT, printable, printable_lines, shorten


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain-id", "plain-id"),
        ("a\x1b[2Jb", "a\\x1b[2Jb"),
        ("bell\x07", "bell\\x07"),
        ("nul\x00", "nul\\x00"),
        ("del\x7f", "del\\x7f"),
        ("csi\x9b2J", "csi\\x9b2J"),
        ("two\nlines\r\tend", "two\\nlines\\r\\tend"),
        ("evil\u202eexe.txt", "evil\\u202eexe.txt"),
        ("unicode é ü 中", "unicode é ü 中"),
    ],
)
def test_controls_are_rendered_visibly(raw: str, shown: str) -> None:
    """ESC, other C0/C1 controls, DEL and bidi overrides become visible escapes; text stays."""
    assert printable(raw) == shown


def test_long_ids_are_shortened_with_an_ellipsis() -> None:
    """An id over the limit keeps its first characters and ends in an ellipsis."""
    text = "x" * 500
    out = printable(text)
    assert len(out) == ID_LIMIT and out.endswith(ELLIPSIS) and out.startswith("x" * 79)
    assert printable("y" * ID_LIMIT) == "y" * ID_LIMIT
    assert shorten("abc", None) == "abc" and printable("z" * 200, limit=10) == "z" * 9 + ELLIPSIS


def test_a_five_megabyte_id_renders_in_well_under_a_second() -> None:
    """Shortening comes first, so a 5 MB id full of escapes costs microseconds, not minutes."""
    huge = "\x1b" * 5_000_000
    started = time.perf_counter()
    out = printable(huge)
    assert time.perf_counter() - started < 0.1
    assert out == "\\x1b" * (ID_LIMIT - 1) + ELLIPSIS


def test_lines_keep_their_breaks_but_not_their_controls() -> None:
    """printable_lines escapes each line and keeps the line breaks between them."""
    assert printable_lines("a\x1b\nb\tc") == "a\\x1b\nb\\tc"


def test_non_strings_are_rendered_by_str() -> None:
    """A number or None prints as its str()."""
    assert printable(404) == "404" and printable(None) == "None"

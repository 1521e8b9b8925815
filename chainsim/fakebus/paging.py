"""Keyset paging on the fake: sorted keys in the state, opaque cursors on the wire.

The state pages by key (`SortedKeys.after` / `before`); the HTTP layer turns keys into
cursors and back (`encode_cursor` / `decode_cursor`) and reads `pageSize`. A cursor
is the last key seen, so a listing that runs while entities change never repeats or
skips one that exists throughout (DESIGN §4).
"""

from __future__ import annotations

import base64
import binascii
import bisect
from collections.abc import Callable, Iterator
from typing import Any

from chainsim.fakebus.errors import Violation, bad_request

MAX_PAGE_SIZE = 200
DEFAULT_PAGE_SIZE = 25
_CURSOR_PREFIX = b"k1:"


def encode_cursor(key: str) -> str:
    """An opaque keyset cursor for "after/before `key`" (URL-safe base64)."""
    return base64.urlsafe_b64encode(_CURSOR_PREFIX + key.encode()).rstrip(b"=").decode()


def decode_cursor(token: str, param: str) -> str:
    """The key inside a cursor; 400 when it is not one of ours."""
    try:
        raw = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True)
        if not raw.startswith(_CURSOR_PREFIX):
            raise ValueError
        return raw[len(_CURSOR_PREFIX) :].decode()
    except (binascii.Error, ValueError):
        raise bad_request(
            f"{param}: not a valid page cursor", [Violation("invalid.value", "bad cursor", param)]
        ) from None


def page_size(raw: str | None) -> int:
    """`pageSize` as an int in 1..200 (default 25); 400 otherwise."""
    if raw is None or raw == "":
        return DEFAULT_PAGE_SIZE
    try:
        size = int(raw)
    except ValueError:
        size = 0
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise bad_request(
            f"pageSize must be an integer from 1 to {MAX_PAGE_SIZE}",
            [Violation("invalid.value", "out of range", "pageSize")],
        )
    return size


class SortedKeys:
    """Keys kept sorted, for keyset pages (`after`/`before` a key)."""

    def __init__(self) -> None:
        self._keys: list[str] = []

    def add(self, key: str) -> None:
        """Insert `key` (no-op if present)."""
        i = bisect.bisect_left(self._keys, key)
        if i == len(self._keys) or self._keys[i] != key:
            self._keys.insert(i, key)

    def discard(self, key: str) -> None:
        """Remove `key` if present."""
        i = bisect.bisect_left(self._keys, key)
        if i < len(self._keys) and self._keys[i] == key:
            del self._keys[i]

    def clear(self) -> None:
        """Remove every key."""
        self._keys.clear()

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._keys))

    def __len__(self) -> int:
        return len(self._keys)

    def after(self, key: str | None, count: int) -> tuple[list[str], bool]:
        """Up to `count` keys greater than `key`, and whether more follow."""
        i = 0 if key is None else bisect.bisect_right(self._keys, key)
        return self._keys[i : i + count], i + count < len(self._keys)

    def before(self, key: str, count: int) -> tuple[list[str], bool]:
        """Up to `count` keys less than `key` (ascending), and whether more precede."""
        j = bisect.bisect_left(self._keys, key)
        i = max(0, j - count)
        return self._keys[i:j], i > 0

    def has_before(self, key: str) -> bool:
        """True when some key is less than `key`."""
        return bool(self._keys) and self._keys[0] < key

    def has_after(self, key: str) -> bool:
        """True when some key is greater than `key`."""
        return bool(self._keys) and self._keys[-1] > key


Page = tuple[list[Any], str | None, str | None]


def keyset_page(
    keys: SortedKeys,
    size: int,
    after: str | None,
    before: str | None,
    load: Callable[[str], Any] = lambda k: k,
) -> Page:
    """A page by key: entities, the next page's `after` key, the previous page's `before` key."""
    if before is not None and after is None:
        page, _ = keys.before(before, size)
    else:
        page, _ = keys.after(after, size)
    nxt = page[-1] if page and keys.has_after(page[-1]) else None
    prev = page[0] if page and keys.has_before(page[0]) else None
    return [load(k) for k in page], nxt, prev

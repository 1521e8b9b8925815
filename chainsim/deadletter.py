"""Dead letters: a failed update goes to the plan's endpoint, else to a durable local spool.

A dead letter is JSON: the rule id, the payload that could not be written, the fields
chainsim meant to change, the error's status and Genesys code, a trace id and a
timestamp. `DeadLetterSink.send` POSTs it to the dead-letter URL; if there is no URL
or the POST fails in any way, the letter is appended to the spool (JSONL, flushed and
fsync'd before `send` returns). Nothing is dropped. `rewrite_spool` replaces the spool
atomically (temp file, fsync, rename) after a redrive removed what succeeded.
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import httpx

from chainsim.durable import append_line, atomic_write_text
from chainsim.model import InputError

DEFAULT_SPOOL = ".chainsim/deadletter.jsonl"


@dataclass(frozen=True)
class DeadLetter:
    """One update that could not be applied."""

    rule_id: str
    payload: dict[str, Any]
    status: int | None
    code: str | None
    message: str
    trace_id: str
    timestamp: str = field(
        default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    )
    fields: list[str] = field(default_factory=list)
    operation: str = "apply"

    def to_json(self) -> dict[str, Any]:
        """The letter as a JSON object."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DeadLetter:
        """Read a letter back (unknown keys ignored)."""
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


@dataclass(frozen=True)
class Delivery:
    """Where a letter went: `posted` to the URL or `spooled` (with why the POST failed)."""

    rule_id: str
    where: Literal["posted", "spooled"]
    error: str | None = None


def _line(letter: DeadLetter) -> str:
    return json.dumps(letter.to_json(), sort_keys=True, separators=(",", ":")) + "\n"


def append_spool(path: str | Path, letter: DeadLetter) -> None:
    """Append one letter to the spool as a JSON line, flushed and fsync'd."""
    append_line(path, _line(letter))


def read_spool(path: str | Path) -> list[DeadLetter]:
    """Every letter in the spool, in order (an absent spool is empty)."""
    path = Path(path)
    if not path.exists():
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except IsADirectoryError:
        raise InputError(str(path), "", "is a directory, expected a file") from None
    except UnicodeDecodeError:
        raise InputError(str(path), "", "is not UTF-8 text") from None
    except OSError as exc:
        raise InputError(str(path), "", f"cannot be read ({exc.strerror})") from None
    letters: list[DeadLetter] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
            letters.append(DeadLetter.from_json(data))
        except (ValueError, TypeError):
            raise InputError(str(path), f"line {number}", "not a dead-letter JSON line") from None
    return letters


def rewrite_spool(path: str | Path, letters: list[DeadLetter]) -> None:
    """Replace the spool with `letters`, atomically (temp file + fsync + rename)."""
    atomic_write_text(path, "".join(_line(letter) for letter in letters))


def _post(http: httpx.Client | None, url: str, body: Any, timeout: float) -> httpx.Response:
    if http is not None:
        return http.post(url, json=body, timeout=timeout)
    with httpx.Client() as client:
        return client.post(url, json=body, timeout=timeout)


class DeadLetterSink:
    """Sends letters to the dead-letter URL, falling back to the local spool."""

    def __init__(
        self,
        *,
        url: str | None,
        spool: str | Path = DEFAULT_SPOOL,
        http: httpx.Client | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.url = url
        self.spool = Path(spool)
        self._http = http
        self.timeout = timeout
        self._lock = threading.Lock()
        self.deliveries: list[Delivery] = []

    def send(self, letter: DeadLetter, *, timeout: float | None = None) -> Delivery:
        """POST the letter; on no URL or any failure, spool it. Returns where it went.

        `timeout` (seconds) overrides the sink's own; at or below 0 the letter is spooled
        without a POST (the caller's total deadline has passed).
        """
        error: str | None = "no dead-letter URL"
        timeout = self.timeout if timeout is None else min(timeout, self.timeout)
        if self.url and timeout <= 0:
            error = "dead-letter deadline passed"
        elif self.url:
            try:
                response = _post(self._http, self.url, letter.to_json(), timeout)
                error = None if response.is_success else f"HTTP {response.status_code}"
            except Exception as exc:
                error = type(exc).__name__
        if error is None:
            delivery = Delivery(letter.rule_id, "posted")
        else:
            with self._lock:
                append_spool(self.spool, letter)
            delivery = Delivery(letter.rule_id, "spooled", error)
        with self._lock:
            self.deliveries.append(delivery)
        return delivery

    def __repr__(self) -> str:
        return f"DeadLetterSink(url={self.url!r}, spool={str(self.spool)!r})"

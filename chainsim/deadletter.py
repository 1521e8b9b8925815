"""Dead letters: a failed update goes to the plan's endpoint, else to a durable local spool.

A dead letter is JSON: the rule id, the payload that could not be written, the fields
chainsim meant to change, the error's status and Genesys code, a trace id, a timestamp,
and the run it came from (`run_id`, and whether that run was `atomic`, so a redrive can
tell letters of a rolled-back atomic run apart) with that run's whole plan: `plan_file`
(`<spool dir>/runs/<run_id>.plan.json`, written by the run before its letters are sent)
and `plan_digest` (`sha256:<hex>` of that file's bytes), so a redrive can apply the
whole plan again instead of one piece of it. `DeadLetterSink.send` POSTs it to the
dead-letter URL, signed like the callback (`X-Chainsim-Signature: t=...,v1=...`, see
`chainsim.callbacks`) when the plan names `dead_letter.secret_env`; if there is no URL
or the POST fails in any way, the letter is appended to the spool (JSONL, flushed and
fsync'd before `send` returns). Nothing is dropped. `rewrite_spool` replaces the spool
atomically (temp file, fsync, rename) after a redrive removed what succeeded. Every
spool line is read through the guarded loader and checked against `SpoolRecord`.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from chainsim.callbacks import encode, signed_headers
from chainsim.durable import append_line, atomic_write_text
from chainsim.loader import DEFAULT_MAX_BYTES, iter_jsonl, validate_record

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
    run_id: str | None = None
    atomic: bool | None = None
    plan_file: str | None = None
    plan_digest: str | None = None

    @property
    def name(self) -> str:
        """The rule's (or trigger's) name from the payload, or "" when it has none."""
        name = self.payload.get("name")
        return name if isinstance(name, str) else ""

    def to_json(self) -> dict[str, Any]:
        """The letter as a JSON object."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DeadLetter:
        """Read a letter back (unknown keys ignored; types as `SpoolRecord` checks them)."""
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


class SpoolRecord(BaseModel):
    """The schema of one spool line (a `DeadLetter`); unknown keys are ignored."""

    model_config = ConfigDict(extra="ignore")

    rule_id: StrictStr = Field(min_length=1)
    payload: dict[StrictStr, Any]
    status: StrictInt | None = Field(ge=100, le=599)
    code: StrictStr | None
    message: StrictStr
    trace_id: StrictStr
    timestamp: StrictStr
    fields: list[StrictStr] = Field(default_factory=list)
    operation: StrictStr = "apply"
    run_id: StrictStr | None = None
    atomic: StrictBool | None = None
    plan_file: StrictStr | None = None
    plan_digest: StrictStr | None = None


def run_plan_path(spool: str | Path, run_id: str) -> Path:
    """Where a run's whole plan is kept for redrive: `<spool dir>/runs/<run_id>.plan.json`."""
    return Path(spool).parent / "runs" / f"{run_id}.plan.json"


def bytes_digest(data: bytes) -> str:
    """`sha256:<hex>` of `data` (the digest a letter carries of its run's plan file)."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def write_run_plan(path: str | Path, text: str) -> str:
    """Write a run's plan JSON to `path` atomically; returns its digest."""
    atomic_write_text(path, text)
    return bytes_digest(text.encode("utf-8"))


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


def read_spool(
    path: str | Path, *, missing_ok: bool = True, max_bytes: int = DEFAULT_MAX_BYTES
) -> list[DeadLetter]:
    """Every letter in the spool, in order (an absent spool is empty when `missing_ok`).

    A line that is not JSON, nests too deeply, or does not match `SpoolRecord` raises
    one `InputError` line: `spool.jsonl: line 3: status: Input should be a valid integer`.
    """
    path = Path(path)
    if missing_ok and not path.exists() and not path.is_symlink():
        return []
    letters: list[DeadLetter] = []
    for number, data in iter_jsonl(path, max_bytes=max_bytes):
        record = validate_record(str(path), f"line {number}", SpoolRecord, data)
        letters.append(DeadLetter(**record.model_dump()))
    return letters


def rewrite_spool(path: str | Path, letters: list[DeadLetter]) -> None:
    """Replace the spool with `letters`, atomically (temp file + fsync + rename)."""
    atomic_write_text(path, "".join(_line(letter) for letter in letters))


def remove_letters(path: str | Path, gone: list[DeadLetter]) -> list[DeadLetter]:
    """Remove each of `gone` once from the spool as it is now; returns what is left.

    The spool is read again first, so letters appended meanwhile (e.g. by a redrive's
    own run) are kept; the file is replaced atomically.
    """
    left = read_spool(path)
    for letter in gone:
        if letter in left:
            left.remove(letter)
    rewrite_spool(path, left)
    return left


def _post(
    http: httpx.Client | None, url: str, body: bytes, headers: dict[str, str], timeout: float
) -> httpx.Response:
    if http is not None:
        return http.post(url, content=body, headers=headers, timeout=timeout)
    with httpx.Client() as client:
        return client.post(url, content=body, headers=headers, timeout=timeout)


def post_letter(
    letter: DeadLetter,
    url: str,
    *,
    http: httpx.Client | None = None,
    timeout: float = 10.0,
    secret: str | None = None,
    now: Callable[[], float] = time.time,
) -> str | None:
    """POST one letter to `url` (signed when `secret`); None when delivered, else why not."""
    try:
        body = encode(letter.to_json())
        headers = {"Content-Type": "application/json"}
        if secret:
            headers = signed_headers(body, secret, now)
        response = _post(http, url, body, headers, timeout)
    except Exception as exc:
        return type(exc).__name__
    return None if response.is_success else f"HTTP {response.status_code}"


class DeadLetterSink:
    """Sends letters to the dead-letter URL, falling back to the local spool."""

    def __init__(
        self,
        *,
        url: str | None,
        spool: str | Path = DEFAULT_SPOOL,
        http: httpx.Client | None = None,
        timeout: float = 10.0,
        secret: str | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self.spool = Path(spool)
        self._http = http
        self.timeout = timeout
        self._secret = secret or None  # signs the POST (as callbacks are) when given
        self._now = now  # unix seconds for the signature's timestamp
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
            error = post_letter(
                letter,
                self.url,
                http=self._http,
                timeout=timeout,
                secret=self._secret,
                now=self._now,
            )
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
        return f"DeadLetterSink(url={self.url!r}, spool={str(self.spool)!r})"  # no secret

"""The Bus protocol and the one place where HTTP answers become chainsim errors.

Both dialects (EventBridge rules over httpx, Process Automation triggers through the
Genesys SDK) raise the same `BusError` hierarchy, built here by `error_from_http`, so
the orchestrator's retry and rollback logic never looks at a status code itself.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:
    from chainsim.clock import Clock
    from chainsim.model import Rule


class BusError(Exception):
    """An answer from the bus that is not a success, or no answer at all."""

    status: ClassVar[int | None] = None

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        context_id: str | None = None,
        details: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status  # type: ignore[misc]
        self.code = code
        self.context_id = context_id
        self.details = details

    @property
    def retryable(self) -> bool:
        """True when repeating the same (versioned) request may succeed."""
        return False

    def __str__(self) -> str:
        where = f" [{self.code}]" if self.code else ""
        ctx = f" (contextId {self.context_id})" if self.context_id else ""
        status = f"{self.status} " if self.status is not None else ""
        return f"{status}{self.message}{where}{ctx}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class BadRequest(BusError):
    """400: the bus rejected the body (malformed, or attributes the source lacks)."""

    status = 400


class Unauthorized(BusError):
    """401: no valid bearer token."""

    status = 401


class Forbidden(BusError):
    """403: the OAuth client lacks a permission."""

    status = 403


class NotFound(BusError):
    """404: no such rule or route."""

    status = 404


class Conflict(BusError):
    """409: the version sent is not the stored version."""

    status = 409


class Unprocessable(BusError):
    """422: the bus's own chain constraints refuse the write."""

    status = 422


class RateLimited(BusError):
    """429: over the rate limit; `retry_after` is the server's hint in seconds."""

    status = 429

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        """A 429 is always worth retrying after the wait."""
        return True


class ServerError(BusError):
    """5xx: the bus failed; a versioned request is safe to repeat."""

    status = 500

    @property
    def retryable(self) -> bool:
        """Server errors are transient by assumption."""
        return True


class TransportError(BusError):
    """No HTTP answer: connection refused, reset, timed out."""

    status = None

    @property
    def retryable(self) -> bool:
        """The request may never have arrived; a versioned request is safe to repeat."""
        return True


@contextmanager
def translate_transport_errors(
    where: str, on_error: Callable[[], object] | None = None
) -> Iterator[None]:
    """Turn an httpx failure inside the block (no HTTP answer: refused, reset, timed out)
    into `TransportError("<where>: <httpx error class>")`, the httpx error kept as its cause.

    `on_error` runs first (a client reports the failed exchange with it). The one place
    where chainsim maps transport errors; the REST bus, the token fetch and the SDK's
    httpx client all send through it.
    """
    try:
        yield
    except Exception as exc:
        import httpx  # the caller sends with httpx: already loaded, free to import here

        if not isinstance(exc, httpx.HTTPError):
            raise
        if on_error is not None:
            on_error()
        # one short line (what the CLI prints); the httpx error, with its detail, is the cause
        raise TransportError(f"{where}: {type(exc).__name__}") from exc


Credential = TypeVar("Credential")
Result = TypeVar("Result")


def reauthorized(
    authorize: Callable[[], Credential],
    call: Callable[[Credential], Result],
    renew: Callable[[Credential], object],
) -> Result:
    """`call(authorize())`; after a 401 (`Unauthorized`), `renew(credential)` and call once more.

    A token can be refused before its `expires_in` (revoked, or the org's clock ahead of
    ours); a new one makes the same request valid. The Genesys SDK does the same for its
    code-authorization tokens: on a 401 it refreshes once and repeats the call
    (`ApiClient.__call_api` -> `handle_expired_access_token`). A second 401 reaches the
    caller as `Unauthorized`; a refused token request (from `authorize`) is not retried.
    The one re-auth rule, for the REST bus and the SDK's triggers bus.
    """
    credential = authorize()
    try:
        return call(credential)
    except Unauthorized:
        renew(credential)
    return call(authorize())


_BY_STATUS: dict[int, type[BusError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    422: Unprocessable,
    429: RateLimited,
}


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """The `Retry-After` header in seconds, or None when absent or unreadable."""
    if not headers:
        return None
    for key, value in headers.items():
        if key.lower() == "retry-after":
            try:
                seconds = float(value)
            except (TypeError, ValueError):
                return None
            return max(0.0, seconds) if math.isfinite(seconds) else None
    return None


def error_from_http(
    status: int, body: str | bytes | Mapping[str, Any] | None, headers: Mapping[str, str] | None
) -> BusError:
    """Map one non-2xx HTTP answer to its `BusError`, keeping Genesys' code and contextId."""
    parsed: Mapping[str, Any] = {}
    if isinstance(body, Mapping):
        parsed = body
    elif body:
        try:
            loaded = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            loaded = None
        if isinstance(loaded, dict):
            parsed = loaded
    message = str(parsed.get("message") or f"HTTP {status}")
    kw: dict[str, Any] = {
        "status": status,
        "code": parsed.get("code"),
        "context_id": parsed.get("contextId"),
        "details": parsed.get("details"),
    }
    if status == 429:
        return RateLimited(message, retry_after=parse_retry_after(headers), **kw)
    if status >= 500:
        return ServerError(message, **kw)
    return _BY_STATUS.get(status, BusError)(message, **kw)


@dataclass(frozen=True)
class Exchange:
    """One HTTP request/answer as a bus client saw it, for metrics and pacing."""

    method: str
    path: str
    status: int | None  # None: transport error
    started: float  # on the injected clock
    elapsed: float  # seconds on the injected clock
    wall_elapsed: float  # real seconds
    headers: Mapping[str, str] = field(default_factory=dict)


ExchangeObserver = Callable[[Exchange], None]

MAX_PAGES = 100_000  # a listing is bounded: a bus that never ends it fails instead

PageFetcher = Callable[[str | None], "tuple[list[Rule], str | None]"]


def follow_pages(fetch_page: PageFetcher, what: str) -> Iterator[Rule]:
    """Every rule of a paged listing: `fetch_page(token)` from None until no next token.

    Bounded: a bus that repeats a token or lists more than `MAX_PAGES` pages is a
    `BusError` naming `what` (the listing), never an endless loop.
    """
    token: str | None = None
    seen: set[str] = set()
    for _ in range(MAX_PAGES):
        page, token = fetch_page(token)
        yield from page
        if token is None:
            return
        if token in seen:
            raise BusError(f"{what}: the bus repeated a page token")
        seen.add(token)
    raise BusError(f"{what}: more than {MAX_PAGES} pages")


class ExchangeObservers:
    """The observers of one client's HTTP exchanges, and the timing of each exchange."""

    def __init__(self, clock: Clock, observer: ExchangeObserver | None = None) -> None:
        self._clock = clock
        self._observers: list[ExchangeObserver] = [observer] if observer else []

    def add(self, observer: ExchangeObserver) -> None:
        """Also report each exchange to `observer`."""
        self._observers.append(observer)

    def start(self) -> tuple[float, float]:
        """The start of an exchange: (clock time, wall time), to pass to `report`."""
        return self._clock.now(), time.perf_counter()

    def report(
        self,
        method: str,
        path: str,
        status: int | None,
        start: tuple[float, float],
        headers: Mapping[str, str],
    ) -> None:
        """Tell every observer about one finished exchange (`status` None: no answer)."""
        if not self._observers:
            return
        started, wall = start
        exchange = Exchange(
            method=method,
            path=path,
            status=status,
            started=started,
            elapsed=self._clock.now() - started,
            wall_elapsed=time.perf_counter() - wall,
            headers=dict(headers.items()),  # one pass: dict(httpx.Headers) is O(n^2)
        )
        for observer in self._observers:
            observer(exchange)


@runtime_checkable
class Bus(Protocol):
    """A store of rules: both dialects and the fake bus speak it."""

    def list_rules(self) -> Iterator[Rule]:
        """Every rule, following every page."""
        ...

    def list_page(self, token: str | None = None, /) -> tuple[list[Rule], str | None]:
        """One page of rules and the token of the next page (None on the last page)."""
        ...

    def add_observer(self, observer: ExchangeObserver) -> None:
        """Report every later HTTP exchange (API and token) to `observer` too."""
        ...

    def get_rule(self, rule_id: str) -> Rule:
        """One rule by id (NotFound if absent)."""
        ...

    def put_rule(self, rule: Rule) -> Rule:
        """Replace a rule; `rule.version` is the version expected (Conflict if stale)."""
        ...

    def create_rule(self, rule: Rule) -> Rule:
        """Create a rule; returns it as stored (with its id and version)."""
        ...

    def delete_rule(self, rule_id: str) -> None:
        """Delete a rule by id."""
        ...

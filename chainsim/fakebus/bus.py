"""`FakeBus`: one fake Genesys org (state + faults + rate limiter + clock) and its doors."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from chainsim.clock import Clock, VirtualClock
from chainsim.fakebus.errors import FakeError
from chainsim.fakebus.faults import FaultDice, FaultPlan
from chainsim.fakebus.http import Front, RequestRecord
from chainsim.fakebus.oauth import OAuth
from chainsim.fakebus.ratelimit import Quota, RateLimiter
from chainsim.fakebus.state import FakeState
from chainsim.model import InputError, Rule, format_place, load_inventory, read_document

if TYPE_CHECKING:
    import respx

DEFAULT_API_HOST = "https://api.mypurecloud.com"
DEFAULT_LOGIN_HOST = "https://login.mypurecloud.com"
DEFAULT_CLIENT = ("chainsim", "chainsim-secret")  # client id, secret
DEFAULT_CLIENTS = dict([DEFAULT_CLIENT])


class FakeBus:
    """A fake Genesys org answering both dialects and `/oauth/token` through one handler.

    Fault windows are measured in seconds since the bus started (creation or `reset`),
    on `clock`. With a `VirtualClock` shared by a client, latency and waits cost no
    real time and the whole exchange is deterministic for a given `faults.seed`.
    """

    def __init__(
        self,
        clock: Clock | None = None,
        faults: FaultPlan | None = None,
        clients: Mapping[str, str] | None = None,
        max_depth: int | None = None,
        *,
        permissions: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self.clock: Clock = clock if clock is not None else VirtualClock()
        self._faults = faults if faults is not None else FaultPlan()
        self._max_depth = max_depth
        self._clients = dict(clients if clients is not None else DEFAULT_CLIENTS)
        self.requests: list[RequestRecord] = []
        self._front = Front(self)
        dice = FaultDice(self._faults)
        self.state = FakeState(max_depth=self._depth(), new_id=dice.new_id)
        self.oauth = OAuth(self._clients, permissions, dice.new_token)
        self._restart()  # the bus's dice, limiter and fault-window origin

    def _depth(self) -> int:
        return self._max_depth if self._max_depth is not None else self._faults.max_depth

    def _restart(self) -> None:
        """New dice, limiter and fault-window origin for the current plan (lock held)."""
        self.dice = FaultDice(self._faults)
        self.state.new_id = self.dice.new_id
        self.state.max_depth = self._depth()
        self.oauth.new_token = self.dice.new_token
        self.limiter = RateLimiter(self._faults.rate_limit)
        self.fresh_quota = Quota(int(self.limiter.capacity), 0, 0, granted=True)
        self.epoch = self.clock.now()

    def __repr__(self) -> str:
        return (
            f"FakeBus(clock={self.clock!r}, rules={len(self.state.rule_ids())},"
            f" requests={len(self.requests)}, seed={self._faults.seed})"
        )

    # ------------------------------------------------------------------ settings

    @property
    def faults(self) -> FaultPlan:
        """The fault plan in force."""
        return self._faults

    @faults.setter
    def faults(self, plan: FaultPlan) -> None:
        """Swap the fault plan: dice, limiter and fault windows restart; state is kept."""
        with self.state.lock:
            self._faults = plan
            self._restart()

    @property
    def max_depth(self) -> int:
        """The bus's own depth constraint (422 above it)."""
        return self.state.max_depth

    # ------------------------------------------------------------------ state

    def seed_rules(self, rules: Iterable[Rule | dict[str, Any]]) -> None:
        """Store EventBridge rules as given (no constraint checks)."""
        self.state.seed_rules(rules)

    def seed_triggers(self, triggers: Iterable[dict[str, Any]]) -> None:
        """Store triggers given in the SDK's wire JSON (camelCase)."""
        self.state.seed_triggers(triggers)

    def rules(self) -> list[Rule]:
        """The current EventBridge rules (copies), sorted by id."""
        return self.state.rules()

    def triggers(self) -> list[dict[str, Any]]:
        """The current triggers (wire JSON copies), sorted by id."""
        return self.state.triggers()

    def reset(self) -> None:
        """Empty state, request log and limiter; fault dice and windows restart.

        Clients and faults stay; tokens already issued stay valid, so a client that
        never refreshes its token (the SDK) keeps working across a reset.
        """
        with self.state.lock:
            self.requests.clear()
            self.state.clear()
            self._restart()

    # ------------------------------------------------------------------ doors

    def handler(self, request: httpx.Request) -> httpx.Response:
        """Answer one HTTP request (both dialects and `/oauth/token`)."""
        return self._front(request)

    @contextmanager
    def mock(
        self, api_host: str = DEFAULT_API_HOST, login_host: str = DEFAULT_LOGIN_HOST
    ) -> Iterator[respx.MockRouter]:
        """Install the handler on respx for `api_host` and `login_host` (nothing else passes)."""
        from chainsim.fakebus.router import fake_router

        with fake_router(self.handler, api_host, login_host) as router:
            yield router

    @contextmanager
    def serve(self, port: int = 0, host: str = "127.0.0.1") -> Iterator[str]:
        """Serve the handler on loopback HTTP; yields the base URL `http://127.0.0.1:N`."""
        from chainsim.fakebus.server import FakeServer

        with FakeServer(self, port=port, host=host) as server:
            yield server.base_url


def load_bus(
    *,
    rules: str | Path | None = None,
    triggers: str | Path | None = None,
    faults: str | Path | None = None,
    clients: Iterable[str] = (),
    clock: Clock | None = None,
) -> FakeBus:
    """A `FakeBus` from the files of `chainsim fake serve`; bad input raises `InputError`."""
    registered: dict[str, str] = {}
    for spec in clients:
        client_id, sep, secret = spec.partition(":")
        if not (sep and client_id and secret):
            raise InputError("--client", "", "expected ID:SECRET (both non-empty)")
        registered[client_id] = secret
    plan = FaultPlan.load(faults) if faults is not None else None
    bus = FakeBus(clock=clock, faults=plan, clients=registered or None)
    if rules is not None:
        bus.seed_rules(load_inventory(rules))
    if triggers is not None:
        data = read_document(triggers)
        prefix: tuple[str, ...] = ()
        if isinstance(data, dict) and "entities" in data:
            data, prefix = data["entities"], ("entities",)
        if not isinstance(data, list):
            raise InputError(str(triggers), "", "expected a list of triggers, or `entities`")
        for index, item in enumerate(data):
            try:
                bus.seed_triggers([item])
            except FakeError as exc:
                place = format_place((*prefix, index))
                raise InputError(str(triggers), place, exc.message) from None
    return bus

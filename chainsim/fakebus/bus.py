"""`FakeBus`: one fake Genesys org (state + faults + rate limiter + clock) and its doors."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from chainsim.clock import Clock, VirtualClock
from chainsim.fakebus.errors import FakeError
from chainsim.fakebus.faults import FaultDice, FaultPlan
from chainsim.fakebus.http import Front, Incoming, Org, Reply, RequestRecord
from chainsim.fakebus.oauth import OAuth
from chainsim.fakebus.ratelimit import Limiter, make_limiter
from chainsim.fakebus.routes import SCHEDULED_PATH, TRIGGERS_PATH, with_self
from chainsim.fakebus.state import FakeState
from chainsim.fakebus.topics import Catalogue, Topics, default_catalogue
from chainsim.fakebus.workflows import Workflow, Workflows, load_workflows
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
        grants: Mapping[str, Iterable[str]] | None = None,
        permissions: Mapping[str, Iterable[str]] | None = None,
        catalogue: Catalogue | None = None,
        workflows: Iterable[Workflow | dict[str, Any]] | None = None,
        run_id: str | None = None,
    ) -> None:
        """`grants`: client id -> permission patterns (`permissions` is its old name);
        `catalogue`: the topic catalogue (default: chainsim's, loaded on first use);
        `workflows`: a closed workflow registry (default: open); `run_id` keys the fresh
        `contextId`s and correlation ids (default: a new random one per bus)."""
        self.clock: Clock = clock if clock is not None else VirtualClock()
        self._faults = faults if faults is not None else FaultPlan()
        self._max_depth = max_depth
        self._clients = dict(clients if clients is not None else DEFAULT_CLIENTS)
        self.run_id = run_id if run_id is not None else uuid.uuid4().hex
        self.requests: list[RequestRecord] = []
        topics = Topics((lambda: catalogue) if catalogue is not None else default_catalogue)
        self.state = FakeState(
            max_depth=self._depth(),
            new_id=lambda: self.dice.new_id(),
            topics=topics,
            workflows=Workflows(workflows),
        )
        self.oauth = OAuth(
            self._clients,
            grants if grants is not None else permissions,
            lambda: self.dice.new_token(),
        )
        self._restart()  # the bus's dice, limiter, fault-window origin and front

    def _depth(self) -> int:
        return self._max_depth if self._max_depth is not None else self._faults.max_depth

    def _restart(self) -> None:
        """New dice, limiter, fault-window origin and front for the current plan."""
        self.dice = FaultDice(self._faults, self.run_id)
        self.state.max_depth = self._depth()
        self.limiter: Limiter = make_limiter(self._faults.rate_limit)
        self.epoch = self.clock.now()
        self._front = Front(
            Org(
                state=self.state,
                oauth=self.oauth,
                limiter=self.limiter,
                dice=self.dice,
                clock=self.clock,
                log=self.requests,
                faults=self._faults,
                epoch=self.epoch,
            )
        )

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
        """The current triggers (wire JSON copies with `selfUri`), sorted by id."""
        return [with_self(TRIGGERS_PATH, t) for t in self.state.triggers()]

    def seed_scheduled(self, items: Iterable[dict[str, Any]]) -> None:
        """Store scheduled triggers given in the SDK's wire JSON (camelCase)."""
        self.state.seed_scheduled(items)

    def scheduled(self) -> list[dict[str, Any]]:
        """The current scheduled triggers (wire JSON copies with `selfUri`), sorted by id."""
        return [with_self(SCHEDULED_PATH, t) for t in self.state.scheduled()]

    def workflows(self) -> list[dict[str, Any]]:
        """The registered workflows (`{id, name, published}`; empty when the registry is open)."""
        return self.state.workflows.registered()

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

    def answer(self, request: Incoming) -> Reply:
        """Answer one request read from the wire (the loopback server's door)."""
        return self._front.answer(request)

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
    grants: Iterable[str] = (),
    workflows: str | Path | None = None,
) -> FakeBus:
    """A `FakeBus` from the files of `chainsim fake serve`; bad input raises `InputError`.

    `grants`: `ID=PERM[,PERM...]` specs (repeatable per client, patterns added up).
    """
    registered: dict[str, str] = {}
    for spec in clients:
        client_id, sep, secret = spec.partition(":")
        if not (sep and client_id and secret):
            raise InputError("--client", "", "expected ID:SECRET (both non-empty)")
        registered[client_id] = secret
    granted = parse_grants(grants)
    plan = FaultPlan.load(faults) if faults is not None else None
    registry = load_workflows(workflows) if workflows is not None else None
    bus = FakeBus(
        clock=clock,
        faults=plan,
        clients=registered or None,
        grants=granted or None,
        workflows=registry,
    )
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


def parse_grants(specs: Iterable[str]) -> dict[str, list[str]]:
    """`ID=PERM[,PERM...]` specs as `{client id: [patterns]}`; bad input raises `InputError`."""
    out: dict[str, list[str]] = {}
    for spec in specs:
        client_id, sep, perms = spec.partition("=")
        patterns = [p.strip() for p in perms.split(",") if p.strip()]
        if not (sep and client_id.strip() and patterns):
            raise InputError("--grant", spec, "expected ID=PERM[,PERM...] (both non-empty)")
        out.setdefault(client_id.strip(), []).extend(patterns)
    return out

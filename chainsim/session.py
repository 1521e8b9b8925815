"""The front hall: "fake or live, dialect, hosts, inventory, faults" -> a ready `Session`.

Every door comes in here: the CLI's runners, `probe`, the pytest plugin (through
`chainsim.testing`). A `Session` holds the dialect object, the Bus client, the one clock
of the run, the httpx client for dead-letter and callback sinks, and the embedded fake
(if any); `Session.sinks_for(plan)` builds the orchestrator's sinks from a plan.

This module is the only reader of environment variables in chainsim:
`GENESYS_CLIENT_ID` / `GENESYS_CLIENT_SECRET` (a live bus), `CHAINSIM_WORKFLOW_ID` (the
workflow live test triggers target), `CHAINSIM_AUDIT_KEY` (the audit log's HMAC key) and
each plan's `callback.secret_env` and `dead_letter.secret_env`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chainsim.dialects import DIALECTS, get_dialect
from chainsim.errors import InputError

if TYPE_CHECKING:
    import ssl

    import httpx

    from chainsim.apply import Orchestrator
    from chainsim.bus.base import Bus, ExchangeObserver
    from chainsim.callbacks import CallbackNotifier
    from chainsim.clock import Clock
    from chainsim.deadletter import DeadLetterSink
    from chainsim.dialects.base import Dialect
    from chainsim.fakebus import FakeBus
    from chainsim.fakebus.faults import FaultPlan
    from chainsim.model import ChainPlan

CREDENTIAL_VARS = ("GENESYS_CLIENT_ID", "GENESYS_CLIENT_SECRET")  # a live bus reads only these
WORKFLOW_VAR = "CHAINSIM_WORKFLOW_ID"
AUDIT_KEY_VAR = "CHAINSIM_AUDIT_KEY"  # turns the audit log's hash chain into an HMAC chain
FAKE_WORKFLOW_ID = "00000000-0000-4000-8000-0000000f1005"
BUSES = ("fake", "live")
HTTP_TIMEOUT = 30.0

Sinks = Callable[["ChainPlan"], "tuple[DeadLetterSink | None, CallbackNotifier | None]"]


class Environment:
    """The process environment, read here and nowhere else (inject a mapping in tests)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    def get(self, name: str) -> str | None:
        """The variable's value, or None when unset or empty."""
        return self._environ.get(name) or None

    def missing_credentials(self) -> list[str]:
        """The credential variables a live run needs that are unset or empty."""
        return [name for name in CREDENTIAL_VARS if not self.get(name)]

    def credentials(self) -> tuple[str, str]:
        """(client id, secret) of a live bus; `InputError` naming the first one missing."""
        for name in CREDENTIAL_VARS:
            if not self.get(name):
                raise InputError(
                    "environment", name, "not set (a live bus needs client credentials)"
                )
        return self._environ[CREDENTIAL_VARS[0]], self._environ[CREDENTIAL_VARS[1]]

    def workflow_id(self) -> str | None:
        """`CHAINSIM_WORKFLOW_ID`: the workflow live test triggers target."""
        return self.get(WORKFLOW_VAR)


@dataclass(frozen=True)
class Target:
    """Where the bus is: `fake` (embedded, seeded, virtual clock) or `live` (HTTP), and how."""

    bus: str = "fake"
    dialect: str = "eventbridge"
    env: str = "mypurecloud.com"
    api_host: str | None = None
    login_host: str | None = None
    inventory: Path | None = None  # seeds the fake (the dialect's wire form)
    faults: Path | None = None  # the fake's faults file

    @property
    def live(self) -> bool:
        """True against a real org."""
        return self.bus == "live"

    def check(self) -> Dialect:
        """The dialect object, after checking the options fit together (else `InputError`)."""
        if self.dialect not in DIALECTS:
            raise InputError("--dialect", "", f"expected one of {', '.join(DIALECTS)}")
        if self.bus not in BUSES:
            raise InputError("--bus", "", "expected fake or live")
        if self.live:
            for name, given in (("--inventory", self.inventory), ("--faults", self.faults)):
                if given is not None:  # an org is neither seeded nor faulted: not ignored
                    raise InputError(
                        name, "", "only with --bus fake (a live bus has its own state)"
                    )
        return get_dialect(self.dialect)

    def hosts(self) -> tuple[str, str]:
        """(api host, login host): the fake's, or the org's from `env` and the overrides."""
        if not self.live:
            from chainsim.fakebus import DEFAULT_API_HOST, DEFAULT_LOGIN_HOST

            return DEFAULT_API_HOST, DEFAULT_LOGIN_HOST
        from chainsim.bus.auth import live_hosts

        return live_hosts(self.env, self.api_host, self.login_host)


@dataclass
class Session:
    """A ready connection: dialect object, Bus client, clock, sinks' http client, the fake."""

    target: Target
    dialect: Dialect
    bus: Bus
    clock: Clock
    http: httpx.Client
    fake: FakeBus | None = None
    environment: Environment = field(default_factory=Environment)

    def callback_secret(self, plan: ChainPlan) -> str | None:
        """The value of the plan's `callback.secret_env` (None when unset or no callback)."""
        return self.environment.get(plan.callback.secret_env) if plan.callback else None

    def sinks_for(
        self, plan: ChainPlan, spool: Path | None = None
    ) -> tuple[DeadLetterSink | None, CallbackNotifier | None]:
        """The plan's dead-letter sink and callback notifier, on this session's http client.

        Spool: `spool`, else the plan's `dead_letter.spool`, else the default spool.
        No notifier when the plan has no callback or its secret is unset (the
        orchestrator reports the callback as not delivered); `require_callback_secret`
        turns the latter into bad input.
        """
        from chainsim.callbacks import CallbackNotifier
        from chainsim.deadletter import DeadLetterSink

        dead = plan.dead_letter
        dead_secret = self.environment.get(dead.secret_env) if dead and dead.secret_env else None
        sink = DeadLetterSink(
            url=dead.url if dead else None,
            spool=spool_path(plan, spool),
            http=self.http,
            secret=dead_secret,
        )
        secret = self.callback_secret(plan)
        notifier = None
        if plan.callback is not None and secret:
            notifier = CallbackNotifier(plan.callback.url, secret, http=self.http)
        return sink, notifier

    def require_callback_secret(self, plan: ChainPlan) -> None:
        """`InputError` when the plan's callback or dead letter names an unset secret."""
        if plan.callback is not None and not self.callback_secret(plan):
            raise InputError(
                "environment",
                plan.callback.secret_env,
                "not set (the plan's callback needs its secret)",
            )
        dead = plan.dead_letter
        if dead is not None and dead.secret_env and not self.environment.get(dead.secret_env):
            raise InputError(
                "environment", dead.secret_env, "not set (the plan's dead_letter needs its secret)"
            )

    def audit_key(self) -> bytes | None:
        """The audit chain's HMAC key from `CHAINSIM_AUDIT_KEY` (None when unset or empty)."""
        return audit_key(self.environment)

    def orchestrator(self, *, sinks: Sinks | None = None, **kwargs: Any) -> Orchestrator:
        """An Orchestrator on this session's bus, clock and dialect merger; kwargs pass on.

        The merger honours the plan's `remove:` links (`plan.plan_merger`).
        `sinks` defaults to `sinks_for` (the plan's sinks on this session's http client).
        """
        from chainsim.plan import plan_merger

        return build_orchestrator(
            self.bus,
            clock=self.clock,
            merger=plan_merger(self.dialect.merger),  # honours the plan's `remove:` links
            sinks=sinks if sinks is not None else self.sinks_for,
            **kwargs,
        )

    def stored(self) -> list[dict[str, Any]] | None:
        """The embedded fake's state in the dialect's wire form (None when live)."""
        return None if self.fake is None else self.dialect.stored(self.fake)


def audit_key(environment: Environment | None = None) -> bytes | None:
    """The audit chain's HMAC key from `CHAINSIM_AUDIT_KEY` (None when unset or empty)."""
    value = (environment or Environment()).get(AUDIT_KEY_VAR)
    return value.encode("utf-8") if value else None


def spool_path(plan: ChainPlan, spool: Path | None = None) -> Path:
    """`spool`, else the plan's `dead_letter.spool`, else the default spool."""
    from chainsim.deadletter import DEFAULT_SPOOL

    dead = plan.dead_letter
    return spool or Path((dead.spool if dead and dead.spool else None) or DEFAULT_SPOOL)


def build_orchestrator(
    bus: Bus, *, clock: Clock, merger: Any, sinks: Sinks, **kwargs: Any
) -> Orchestrator:
    """`Orchestrator(bus, clock=, merger=, sinks=, **kwargs)`: the one place one is built."""
    from chainsim.apply import Orchestrator

    return Orchestrator(bus, clock=clock, merger=merger, sinks=sinks, **kwargs)


def strict_triggers(fake: FakeBus) -> None:
    """Make `fake` refuse a new trigger for what `validate` calls an error (DESIGN §5)."""
    fake.state.topics.strict = True


def new_clock(live: bool) -> Clock:
    """The SystemClock against a live org, a fresh VirtualClock on the fake."""
    from chainsim.clock import SystemClock, VirtualClock

    return SystemClock() if live else VirtualClock()


def new_fake(
    target: Target, dialect: Dialect, clock: Clock, faults: FaultPlan | None = None
) -> Any:
    """A FakeBus on `clock` with the target's faults file (or `faults`) and inventory."""
    from chainsim.fakebus import FakeBus
    from chainsim.fakebus.faults import FaultPlan

    plan = FaultPlan.load(target.faults) if target.faults is not None else faults
    fake = FakeBus(clock=clock, faults=plan)
    strict_triggers(fake)
    if target.inventory is not None:
        dialect.seed(fake, target.inventory)
    return fake


@contextmanager
def open_session(
    target: Target,
    *,
    environ: Mapping[str, str] | None = None,
    clock: Clock | None = None,
    fake: FakeBus | None = None,
    installed: bool = False,
    verify: ssl.SSLContext | bool = True,
    on_exchange: ExchangeObserver | None = None,
) -> Iterator[Session]:
    """A ready Session for the block; its http clients (and a fake it built) close after.

    On `fake`, unless `installed`, a FakeBus is built from the target's inventory and
    faults (or `fake` is used) and reached in-process (`httpx.MockTransport`). With
    `installed` the caller has put the fake on respx: ordinary clients reach it.
    Live: credentials from the environment, hosts from `env` and the overrides.
    Bad input raises `InputError`.
    """
    import httpx

    from chainsim.bus.auth import ClientCredentials

    dialect = target.check()
    environment = Environment(environ)
    if target.live:
        client_id, secret = environment.credentials()
    else:
        from chainsim.fakebus import DEFAULT_CLIENT

        client_id, secret = DEFAULT_CLIENT
    api_host, login_host = target.hosts()
    clock = clock if clock is not None else new_clock(target.live)
    in_process = not target.live and not installed
    if in_process and fake is None:
        fake = new_fake(target, dialect, clock)
    # the bus talks through `api_client`: an httpx.Client that skips parsing answers for
    # cookies when they set none (chainsim.bus.httpclient; the API uses bearer tokens)
    from chainsim.bus.httpclient import api_client

    with ExitStack() as stack:
        http = stack.enter_context(api_client(timeout=HTTP_TIMEOUT, verify=verify))
        bus_http = http
        if in_process and fake is not None:  # only the bus client talks to the embedded fake
            transport = httpx.MockTransport(fake.handler)
            bus_http = stack.enter_context(api_client(transport=transport, timeout=HTTP_TIMEOUT))
        auth = ClientCredentials(
            client_id, secret, login_host=login_host, http=bus_http, clock=clock
        )
        bus = dialect.client(
            bus_http,
            auth,
            api_host=api_host,
            login_host=login_host,
            clock=clock,
            on_exchange=on_exchange,
        )
        yield Session(target, dialect, bus, clock, http, fake, environment)


def workflow_id(target: Target, dialect: Dialect, environ: Mapping[str, str] | None = None) -> str:
    """The workflow test rules target: `CHAINSIM_WORKFLOW_ID` live (when the dialect needs
    one), a fixed id on the fake; `InputError` when a live run lacks it."""
    if target.live and dialect.needs_workflow():
        workflow = Environment(environ).workflow_id()
        if not workflow:
            raise InputError("environment", WORKFLOW_VAR, "not set (live triggers target it)")
        return workflow
    return FAKE_WORKFLOW_ID


__all__ = [
    "CREDENTIAL_VARS",
    "FAKE_WORKFLOW_ID",
    "WORKFLOW_VAR",
    "Environment",
    "Session",
    "Sinks",
    "Target",
    "build_orchestrator",
    "open_session",
    "spool_path",
    "workflow_id",
]

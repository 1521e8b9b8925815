"""The certification harness behind the pytest plugin: backends, chains, latency samples.

Usable without pytest too. `Backend` turns the plugin's options into clocks, fake buses
and `Bus` clients for either dialect through the front hall (`chainsim.session`);
`ChainFactory` builds rules and links from a compact spec such as `"A->B->C, B->D"` and
removes what it created; `LatencyRecorder` gathers one latency sample per apply. Heavy
modules (httpx, respx, the fake, the SDK)
are imported inside the functions that need them, so importing this module is cheap.
"""

from __future__ import annotations

import functools
import itertools
import re
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chainsim.dialects import DIALECTS, get_dialect
from chainsim.errors import InputError
from chainsim.report import LatencySample
from chainsim.session import (
    CREDENTIAL_VARS,
    FAKE_WORKFLOW_ID,
    WORKFLOW_VAR,
    Environment,
    Target,
    build_orchestrator,
    open_session,
)
from chainsim.session import workflow_id as target_workflow_id

if TYPE_CHECKING:
    import ssl

    from chainsim.bus.base import Bus, ExchangeObserver
    from chainsim.clock import Clock
    from chainsim.fakebus import FakeBus
    from chainsim.model import ChainLink, ChainPlan, Rule
    from chainsim.session import Session as FrontSession

    class CallablePlan(ChainPlan):
        """The type of `Chain.plan`: a ChainPlan that, called, gives an overridden copy."""

        def __call__(self, **kwargs: Any) -> ChainPlan: ...


__all__ = ["CREDENTIAL_VARS", "DIALECTS", "FAKE_WORKFLOW_ID", "WORKFLOW_VAR"]  # re-exported

# Real Process Automation topics (the triggers dialect's event types), used round robin.
TOPICS = (
    "v2.detail.events.conversation.{id}.customer.start",
    "v2.detail.events.conversation.{id}.acd.start",
    "v2.detail.events.conversation.{id}.acd.end",
    "v2.detail.events.conversation.{id}.user.start",
    "v2.detail.events.conversation.{id}.user.end",
    "v2.detail.events.conversation.{id}.acw",
    "v2.detail.events.conversation.{id}.customer.end",
)
# Fields every conversation detail event carries (trigger jsonPaths read the event body).
DEFAULT_ATTRIBUTES = ("conversationId", "queueId", "mediaType")

_LABEL = re.compile(r"[A-Za-z0-9_]+")


def missing_credentials(environ: Mapping[str, str] | None = None) -> list[str]:
    """The credential variables a live run needs that are unset or empty."""
    return Environment(environ).missing_credentials()


def only_dialects(*names: str) -> Any:
    """A marker that runs a test in these dialects only (`@only_dialects("eventbridge")`)."""
    import pytest

    unknown = [n for n in names if n not in DIALECTS]
    if unknown or not names:
        raise ValueError(f"unknown dialect(s) {unknown} (expected some of {DIALECTS})")
    return pytest.mark.parametrize("chainsim_dialect", list(names), indirect=True)


def parse_chain_spec(spec: str) -> tuple[list[str], list[tuple[str, str]]]:
    """`"A->B->C, B->D"` -> labels in first-seen order and the edges, in order.

    Chains are separated by commas, semicolons or new lines; a lone label is a rule
    without links. Raises `ValueError` on a malformed spec or a repeated edge.
    """
    labels: list[str] = []
    edges: list[tuple[str, str]] = []
    for part in re.split(r"[,;\n]", spec):
        part = part.strip()
        if not part:
            continue
        names = [name.strip() for name in part.split("->")]
        for name in names:
            if not _LABEL.fullmatch(name):
                raise ValueError(f"chain spec {spec!r}: {name!r} is not a label ([A-Za-z0-9_]+)")
            if name not in labels:
                labels.append(name)
        for source, destination in itertools.pairwise(names):
            if (source, destination) in edges:
                raise ValueError(f"chain spec {spec!r}: {source}->{destination} twice")
            edges.append((source, destination))
    if not labels:
        raise ValueError(f"chain spec {spec!r} names no rule")
    return labels, edges


# --------------------------------------------------------------------------- latency


class LatencyRecorder:
    """Collects apply-latency samples across tests and Hypothesis examples (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.samples: list[LatencySample] = []
        self.scenario = ""

    def record(self, virtual: float, wall: float, scenario: str | None = None) -> None:
        """Add one sample (attributed to the running scenario unless `scenario` is given)."""
        sample = LatencySample(
            float(virtual), float(wall), self.scenario if scenario is None else scenario
        )
        with self._lock:
            self.samples.append(sample)

    @contextmanager
    def measure(self, clock: Clock) -> Iterator[None]:
        """Time the block on `clock` and on the wall clock, and record it (even if it raises)."""
        start_virtual, start_wall = clock.now(), time.perf_counter()
        try:
            yield
        finally:
            self.record(clock.now() - start_virtual, time.perf_counter() - start_wall)

    def drain(self) -> list[LatencySample]:
        """Take every sample recorded so far."""
        with self._lock:
            taken, self.samples = self.samples, []
        return taken


class RecordingOrchestrator:
    """An Orchestrator whose `apply` calls each add a latency sample; the rest passes through."""

    def __init__(self, orchestrator: Any, recorder: LatencyRecorder, clock: Clock) -> None:
        self.wrapped = orchestrator
        self._recorder = recorder
        self._clock = clock

    def apply(self, plan: ChainPlan, *args: Any, **kwargs: Any) -> Any:
        """`Orchestrator.apply`, timed on the run's clock and on the wall clock."""
        with self._recorder.measure(self._clock):
            return self.wrapped.apply(plan, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wrapped, name)

    def __repr__(self) -> str:
        return f"RecordingOrchestrator({self.wrapped!r})"


# --------------------------------------------------------------------------- backend


@dataclass(frozen=True)
class Options:
    """What the run certifies: the backend, the dialects, the org's environment."""

    bus: str = "fake"
    dialects: tuple[str, ...] = DIALECTS
    env: str = "mypurecloud.com"
    api_host: str | None = None
    login_host: str | None = None

    @property
    def live(self) -> bool:
        """True against a real org."""
        return self.bus == "live"


class Backend:
    """Clocks, fake buses and Bus clients for the run's options; one per test session."""

    def __init__(self, options: Options, run_id: str, worker: str = "main") -> None:
        self.options = options
        self.run_id = run_id
        self.worker = worker
        self._counter = itertools.count(1)
        self._lock = threading.Lock()
        self._tls: ssl.SSLContext | None = None

    def new_prefix(self) -> str:
        """A name prefix unique to this run, worker and call: only its owner touches it."""
        with self._lock:
            n = next(self._counter)
        return f"chainsim-{self.run_id}-{self.worker}-{n}"

    def tls(self) -> ssl.SSLContext:
        """One TLS context for every client of the run (loading CA files costs ~0.1 s)."""
        with self._lock:
            if self._tls is None:
                import ssl

                self._tls = ssl.create_default_context()
            return self._tls

    def clock(self) -> Clock:
        """A fresh VirtualClock on the fake; the SystemClock against a live org."""
        from chainsim.clock import SystemClock, VirtualClock

        return SystemClock() if self.options.live else VirtualClock()

    @contextmanager
    def fake(
        self, clock: Clock | None = None, *, faults: Any = None, **kwargs: Any
    ) -> Iterator[FakeBus]:
        """A fresh FakeBus (with `faults`, if any) installed on respx for the block."""
        from chainsim.fakebus import FakeBus

        if faults is not None:
            kwargs["faults"] = faults
        bus = FakeBus(clock=clock if clock is not None else self.clock(), **kwargs)
        with bus.mock():
            yield bus

    def target(self, dialect: str = "eventbridge") -> Target:
        """The front hall's Target for this run's options in `dialect`."""
        o = self.options
        return Target(o.bus, dialect, o.env, o.api_host, o.login_host)

    def hosts(self) -> tuple[str, str]:
        """(api host, login host): the fake's hosts, or the org's from env and overrides."""
        return self.target().hosts()

    def credentials(self) -> tuple[str, str]:
        """(client id, secret): the fake's default client, or the environment's."""
        if not self.options.live:
            from chainsim.fakebus import DEFAULT_CLIENT

            return DEFAULT_CLIENT
        missing = missing_credentials()
        if missing:
            raise RuntimeError(f"a live run needs {' and '.join(missing)} in the environment")
        return Environment().credentials()

    @contextmanager
    def connect(
        self, dialect: str, clock: Clock, *, on_exchange: ExchangeObserver | None = None
    ) -> Iterator[Bus]:
        """A Bus client in `dialect` for the block (on the fake: the fake installed on respx)."""
        with self.open(dialect, clock, on_exchange=on_exchange) as session:
            yield session.bus

    @contextmanager
    def open(
        self,
        dialect: str,
        clock: Clock,
        *,
        fake: FakeBus | None = None,
        on_exchange: ExchangeObserver | None = None,
    ) -> Iterator[FrontSession]:
        """A front-hall Session in `dialect` on `clock`, reaching the fake over respx."""
        if dialect not in DIALECTS:
            raise ValueError(f"unknown dialect {dialect!r} (expected one of {DIALECTS})")
        self.credentials()  # a live run without credentials: RuntimeError, as before
        with open_session(
            self.target(dialect),
            clock=clock,
            fake=fake,
            installed=True,  # the caller installed the fake on respx (`Backend.fake`)
            verify=self.tls(),
            on_exchange=on_exchange,
        ) as session:
            yield session

    def orchestrator(
        self,
        bus: Bus,
        clock: Clock,
        workdir: str | Path,
        recorder: LatencyRecorder | None = None,
        *,
        dialect: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """An Orchestrator on `bus` and `clock`, its files in `workdir`; kwargs override.

        Defaults: the merger of `dialect` (else of the bus's dialect), audit log
        `workdir/audit.jsonl`, journal `workdir/journal.json`, dead letters spooled to
        `workdir/deadletter.jsonl` (no URL). With a `recorder`, each `apply` adds an
        apply-latency sample.
        """
        from chainsim.audit import AuditLog
        from chainsim.dialects import dialect_of

        workdir = Path(workdir)
        kwargs.setdefault("audit", AuditLog(workdir / "audit.jsonl", clock=clock))
        kwargs.setdefault("journal_path", workdir / "journal.json")
        rules_dialect = get_dialect(dialect) if dialect is not None else dialect_of(bus)
        merger = kwargs.pop("merger", None) or rules_dialect.merger
        sinks = kwargs.pop("sinks", None) or _workdir_sinks(workdir)
        orch = build_orchestrator(bus, clock=clock, merger=merger, sinks=sinks, **kwargs)
        return orch if recorder is None else RecordingOrchestrator(orch, recorder, clock)

    @contextmanager
    def session(
        self, dialect: str, *, faults: Any = None, recorder: LatencyRecorder | None = None
    ) -> Iterator[ScenarioSession]:
        """Everything one test or one Hypothesis example needs, torn down at the end.

        A fresh clock; on the fake a fresh FakeBus (with `faults`); a Bus client in
        `dialect`; a ChainFactory under a new prefix whose rules are deleted on exit.
        """
        with ExitStack() as stack:
            clock = self.clock()
            fake = (
                None if self.options.live else stack.enter_context(self.fake(clock, faults=faults))
            )
            front = stack.enter_context(self.open(dialect, clock, fake=fake))
            bus = front.bus
            workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="chainsim-"))
            factory = ChainFactory(
                bus,
                self.new_prefix(),
                dialect=dialect,
                workflow_id=self.workflow_id(dialect),
                clock=clock,
            )
            stack.callback(factory.cleanup)
            yield ScenarioSession(self, dialect, clock, fake, bus, factory, Path(workdir), recorder)

    def workflow_id(self, dialect: str = "triggers") -> str:
        """The workflow a trigger targets: `CHAINSIM_WORKFLOW_ID` live, a fixed id on the fake.

        Only a live triggers run needs the variable; EventBridge rules target no workflow.
        """
        try:
            return target_workflow_id(self.target(dialect), get_dialect(dialect))
        except InputError:
            raise RuntimeError(
                f"a live triggers run needs {WORKFLOW_VAR} in the environment"
            ) from None


@dataclass
class ScenarioSession:
    """One test's bus session: clock, fake (None when live), bus, chain factory, work dir.

    Built by `Backend.session` over a front-hall `chainsim.session.Session`.
    """

    backend: Backend
    dialect: str
    clock: Clock
    fake: FakeBus | None
    bus: Bus
    chains: ChainFactory
    workdir: Path
    recorder: LatencyRecorder | None = None

    def orchestrator(self, *, record: bool = True, **kwargs: Any) -> Any:
        """An Orchestrator on this session's bus (its applies recorded unless `record=False`)."""
        recorder = self.recorder if record else None
        return self.backend.orchestrator(
            self.bus, self.clock, self.workdir, recorder, dialect=self.dialect, **kwargs
        )


def _workdir_sinks(workdir: Path) -> Any:
    """Sinks for a test orchestrator: dead letters spooled in `workdir` (no URL); the
    plan's callback when its secret is set (read through the front hall)."""
    from chainsim.deadletter import DeadLetterSink

    environment = Environment()

    def sinks(plan: ChainPlan) -> tuple[Any, Any]:
        from chainsim.callbacks import CallbackNotifier  # looked up per plan: tests patch it

        sink = DeadLetterSink(url=None, spool=workdir / "deadletter.jsonl")
        secret = environment.get(plan.callback.secret_env) if plan.callback else None
        notifier = CallbackNotifier(plan.callback.url, secret) if plan.callback and secret else None
        return sink, notifier

    return sinks


# --------------------------------------------------------------------------- chains


@dataclass
class Chain:
    """Rules created on the bus for one spec, and the links that would join them."""

    prefix: str
    ids: dict[str, str]
    rules: dict[str, Rule]
    links: list[ChainLink]
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    dialect: str = "eventbridge"

    def __getitem__(self, label: str) -> str:
        return self.ids[label]

    def missing_links(self, rules: Bus | Iterable[Rule]) -> list[ChainLink]:
        """The links `rules` (a Bus, or a bus's current rules) do not realise, in this dialect.

        EventBridge: the source carries an `invokeRule` to the destination preserving
        the link's attributes. Triggers: the destination's criteria require them.
        """
        listing = rules.list_rules() if hasattr(rules, "list_rules") else rules
        by_id = {rule.id: rule for rule in listing}
        realised = get_dialect(self.dialect).link_realised
        return [link for link in self.links if not realised(link, by_id)]

    @property
    def plan(self) -> CallablePlan:
        """A ChainPlan of this chain's links (and settings): `orchestrator.apply(chain.plan)`.

        The plan is also callable: `chain.plan(callback=...)` is a new ChainPlan with those
        fields overridden (`chain.plan()` is the plain plan).
        """
        data: dict[str, Any] = {"links": [link.model_dump() for link in self.links]}
        if self.settings:
            data["rules"] = self.settings
        return _callable_plan_class().model_validate(data)


@functools.cache
def _callable_plan_class() -> type[CallablePlan]:
    """`ChainPlan` that, called with field overrides, gives a new plain ChainPlan (built once)."""
    from chainsim.model import ChainPlan

    class ChainsPlan(ChainPlan):
        """A chain's plan; `plan(**fields)` is a ChainPlan with those fields overridden."""

        def __call__(self, **kwargs: Any) -> ChainPlan:
            """A plain ChainPlan of this plan's fields with `kwargs` overriding them."""
            data = self.model_dump(mode="json", by_alias=True, exclude_unset=True)
            data.update(kwargs)
            return ChainPlan.model_validate(data)

    return ChainsPlan  # type: ignore[return-value]  # the same shape as CallablePlan


class ChainFactory:
    """Builds chains on a bus under one run prefix and deletes all of them on `cleanup()`."""

    def __init__(
        self,
        bus: Bus,
        prefix: str,
        *,
        dialect: str = "eventbridge",
        workflow_id: str = FAKE_WORKFLOW_ID,
        clock: Clock | None = None,
    ) -> None:
        self.bus = bus
        self.prefix = prefix
        self.dialect = dialect
        self.rules_dialect = get_dialect(dialect)
        self.workflow_id = workflow_id
        self.clock = clock
        self.created: list[str] = []
        self._count = itertools.count(1)

    def __call__(
        self,
        spec: str,
        *,
        attributes: Sequence[str] = DEFAULT_ATTRIBUTES,
        event_types: Mapping[str, str] | None = None,
        transform: Mapping[str, str] | None = None,
        linked: bool = False,
        enabled: bool = True,
        description: str | None = None,
    ) -> Chain:
        """Create one rule per label of `spec`; return the Chain with its planned links.

        Every rule carries `attributes`; each link preserves them (and applies
        `transform`). In the triggers dialect a rule that is a link destination starts
        with only the first attribute as criteria (the plan declares the rest), so
        applying the chain adds the `Exists` criteria its links promise.

        `linked=True` also writes the links on the bus (each rule created after its
        destinations), so the chain already exists; otherwise the links are only
        planned, for an orchestrator to apply. Triggers carry no links (workflows
        realise them), so in the triggers dialect `linked` only plans them.
        """
        from chainsim.model import ChainLink

        labels, edges = parse_chain_spec(spec)
        prefix = f"{self.prefix}-{next(self._count)}"
        types = {
            label: (event_types or {}).get(label, TOPICS[i % len(TOPICS)])
            for i, label in enumerate(labels)
        }
        on_rules = self.rules_dialect.links_on_rules
        linked = linked and on_rules  # triggers carry no links
        order = _destinations_first(labels, edges) if linked else labels
        ids: dict[str, str] = {}
        rules: dict[str, Rule] = {}
        for label in order:
            outgoing = [d for s, d in edges if s == label] if linked else []
            carried = list(attributes)
            if not on_rules and any(d == label for _, d in edges):
                carried = carried[:1]  # the plan's links declare the rest
            rule = self._new_rule(
                f"{prefix}-{label}",
                types[label],
                carried,
                [(ids[d], transform) for d in outgoing],
                enabled,
                description,
            )
            stored = self._retrying(lambda rule=rule: self.bus.create_rule(rule))
            self.created.append(stored.id)
            ids[label], rules[label] = stored.id, stored
        links = [
            ChainLink(
                source=ids[s],
                destination=ids[d],
                event_type=types[s],
                transform=dict(transform or {}),
                preserve=list(attributes),
            )
            for s, d in edges
        ]
        settings = self.rules_dialect.plan_settings(
            [ids[label] for label in labels], attributes, self.workflow_id
        )
        return Chain(
            prefix, {lab: ids[lab] for lab in labels}, rules, links, settings, self.dialect
        )

    def _new_rule(
        self,
        name: str,
        event_type: str,
        attributes: Sequence[str],
        links: list[tuple[str, Mapping[str, str] | None]],
        enabled: bool,
        description: str | None,
    ) -> Rule:
        from chainsim.model import Action, Filters, Rule

        extra = self.rules_dialect.rule_extra(self.workflow_id)
        return Rule(
            id=name,
            name=name,
            event_type=event_type,
            enabled=enabled,
            description=description,
            filters=Filters(attributes=list(attributes)),
            actions=[
                Action(
                    type="invokeRule",
                    rule_id=dest,
                    payload_transformation=dict(transform or {}),
                    preserved_attributes=list(attributes),
                )
                for dest, transform in links
            ],
            **extra,
        )

    def cleanup(self) -> list[str]:
        """Delete every rule this factory created (sources first); return what could not go."""
        from chainsim.bus.base import BusError, NotFound

        pending = list(self.created)
        for _ in range(3):  # a rule still invoked by another may be refused until that goes
            left: list[str] = []
            for rule_id in _sources_first(self.bus, pending):
                try:
                    self._retrying(lambda rule_id=rule_id: self.bus.delete_rule(rule_id))
                except NotFound:
                    pass
                except BusError:
                    left.append(rule_id)
            pending = left
            if not pending:
                break
        self.created = pending
        return pending

    def bus_rules(self) -> list[Rule]:
        """Every rule on the bus now (the whole listing retried on 429/5xx, as on a live org)."""
        return self.retry(lambda: list(self.bus.list_rules()))

    def retry(self, call: Any) -> Any:
        """Run `call()` against the bus, waiting out 429s and retrying 5xx (bounded)."""
        return self._retrying(call)

    def _retrying(self, call: Any) -> Any:
        """Run `call`, waiting out 429s and retrying 5xx/transport errors (bounded).

        The one retry policy of chainsim (`chainsim.retry`), on the factory's clock.
        """
        from chainsim.clock import SystemClock
        from chainsim.retry import RetryPolicy, call_with_retry

        policy = RetryPolicy(max_attempts=12, max_delay=60.0, retry_after_cap=60.0)
        clock = self.clock if self.clock is not None else SystemClock()
        return call_with_retry(call, policy=policy, clock=clock, rng=policy.rng("chain_factory"))


def _destinations_first(labels: Sequence[str], edges: Iterable[tuple[str, str]]) -> list[str]:
    """Labels ordered so each comes after every label it links to (the spec is a DAG)."""
    from graphlib import CycleError, TopologicalSorter

    graph: dict[str, set[str]] = {label: set() for label in labels}
    for source, destination in edges:
        graph[source].add(destination)
    try:
        return list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        raise ValueError(f"a linked chain cannot have a cycle: {exc.args[1]}") from None


def _sources_first(bus: Bus, ids: Sequence[str]) -> list[str]:
    """`ids` ordered so a rule that invokes another is deleted before it."""
    from chainsim.bus.base import BusError

    wanted = set(ids)
    graph: dict[str, set[str]] = {rule_id: set() for rule_id in ids}
    try:
        for rule in bus.list_rules():
            if rule.id in wanted:
                for action in rule.links():
                    if action.rule_id in wanted:
                        graph[action.rule_id].add(rule.id)
    except BusError:
        return list(reversed(ids))
    from graphlib import CycleError, TopologicalSorter

    try:
        return list(TopologicalSorter(graph).static_order())
    except CycleError:
        return list(reversed(ids))


# --------------------------------------------------------------------------- certify

DEFAULT_REPORT = ".chainsim/certification.json"


# pytest options whose next argument is a value, not a test path.
_VALUE_OPTIONS = frozenset(
    {
        "-k", "-m", "-p", "-o", "-c", "-n", "-W", "--rootdir", "--basetemp", "--confcutdir",
        "--ignore", "--ignore-glob", "--deselect", "--junitxml", "--junit-xml",
        "--hypothesis-profile", "--hypothesis-seed", "--dist", "--maxfail", "--durations",
        "--chainsim-bus", "--chainsim-dialect", "--chainsim-env", "--chainsim-api-host",
        "--chainsim-report", "--chainsim-plans",
    }
)  # fmt: skip


def certify_args(
    args: Sequence[str],
    *,
    plans: str | Path | None = None,
    bus: str | None = None,
    report: str | Path | None = None,
) -> tuple[list[str], str]:
    """pytest arguments for `chainsim certify [PYTEST ARGS]`, and where the report goes.

    Unless a test path (a directory or a `.py` file, optionally with `::node`) is given,
    the packaged scenarios (`chainsim/certify/`) run with their own ini file and rootdir,
    so the run does not depend on the current directory. `plans` becomes an absolute
    `--chainsim-plans`, `bus` `--chainsim-bus`; the report (absolute) defaults to
    `.chainsim/certification.json` in the current directory unless `report` or
    `--chainsim-report` is given. pytest's cache is off (`-p no:cacheprovider`).
    """
    from chainsim.certify import CERTIFY_DIR, INI

    out = list(args)
    given: str | None = None
    paths = []
    for i, arg in enumerate(out):
        before = out[i - 1] if i else ""
        if arg.startswith("--chainsim-report="):
            given = arg.split("=", 1)[1]
        elif before == "--chainsim-report":
            given = arg
        if not arg.startswith("-") and before not in _VALUE_OPTIONS and _is_test_path(arg):
            paths.append(arg)
    if given is None:
        given = str(Path(report if report is not None else DEFAULT_REPORT).absolute())
        out += ["--chainsim-report", given]
    if plans is not None:
        out += ["--chainsim-plans", str(Path(plans).absolute())]
    if bus is not None:
        out += ["--chainsim-bus", bus]
    if "no:cacheprovider" not in out:
        out += ["-p", "no:cacheprovider"]
    if not paths:
        out[:0] = [str(CERTIFY_DIR), "-c", str(INI), "--rootdir", str(CERTIFY_DIR)]
    return out, given


def _is_test_path(arg: str) -> bool:
    path = Path(arg.split("::", 1)[0])
    return path.is_dir() or (path.suffix == ".py" and path.is_file())

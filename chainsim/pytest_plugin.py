"""chainsim's pytest plugin (entry point `pytest11`): options, fixtures, markers, report.

`pytest scenarios/` certifies chains on the embedded fake bus (default) or on a sandbox
org (`--chainsim-bus live`). Loading the plugin imports only pytest and the standard
library; httpx, respx, the fake bus and the Genesys SDK load when a fixture needs them.

Dialects: with `--chainsim-dialect` every chainsim test runs in that dialect; without
it, tests that use a bus run once per dialect on the fake (`[eventbridge]`,
`[triggers]`) and in the triggers dialect (the real Genesys API) against a live org.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from chainsim.dialects import get_dialect
from chainsim.session import Environment
from chainsim.testing import (
    CREDENTIAL_VARS,
    DIALECTS,
    WORKFLOW_VAR,
    Backend,
    ChainFactory,
    LatencyRecorder,
    Options,
    RecordingOrchestrator,
    missing_credentials,
)

if TYPE_CHECKING:
    from chainsim.bus.base import Bus
    from chainsim.clock import Clock
    from chainsim.fakebus import FakeBus
    from chainsim.fakebus.faults import FaultPlan

MARKERS = ("chainsim_live_safe", "chainsim_fake_only")
_RUN = pytest.StashKey["CertificationRun"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the `chainsim` option group."""
    group = parser.getgroup("chainsim", "chainsim certification")
    group.addoption(
        "--chainsim-bus",
        choices=("fake", "live"),
        default="fake",
        help="run scenarios on the embedded fake bus (default) or a live sandbox org "
        f"(needs {' and '.join(CREDENTIAL_VARS)} in the environment, and for triggers "
        f"{WORKFLOW_VAR}: a workflow the test triggers may target)",
    )
    group.addoption(
        "--chainsim-dialect",
        choices=DIALECTS,
        default=None,
        help="bus dialect: EventBridge rules over httpx, or Process Automation triggers "
        "through the Genesys SDK (default: both on the fake, triggers on a live org)",
    )
    group.addoption(
        "--chainsim-env",
        default="mypurecloud.com",
        help="Genesys Cloud environment of a live org (default mypurecloud.com)",
    )
    group.addoption(
        "--chainsim-api-host",
        default=None,
        help="override the API host URL of a live org (e.g. a loopback fake)",
    )
    group.addoption(
        "--chainsim-report",
        default=None,
        metavar="PATH",
        help="write the certification report to PATH (JSON), PATH with .md (Markdown) "
        "and, with matplotlib installed, .png (apply-latency plot)",
    )


def options_from(config: pytest.Config) -> Options:
    """The run's Options from the command line."""
    bus = config.getoption("chainsim_bus")
    dialect = config.getoption("chainsim_dialect")
    if dialect:
        dialects: tuple[str, ...] = (dialect,)
    else:
        dialects = ("triggers",) if bus == "live" else DIALECTS
    return Options(
        bus=bus,
        dialects=dialects,
        env=config.getoption("chainsim_env"),
        api_host=config.getoption("chainsim_api_host"),
    )


def pytest_configure(config: pytest.Config) -> None:
    """Declare the markers; refuse a live run without credentials; start the run record."""
    config.addinivalue_line(
        "markers", "chainsim_live_safe: may run against a sandbox org (touches only its own rules)"
    )
    config.addinivalue_line(
        "markers", "chainsim_fake_only: needs the fake bus (fault injection); skipped when live"
    )
    options = options_from(config)
    if options.live:
        missing = missing_credentials()
        if missing:
            raise pytest.UsageError(
                f"--chainsim-bus live needs {' and '.join(missing)} in the environment "
                "(the OAuth client-credentials grant of the sandbox org)"
            )
        needs_workflow = any(get_dialect(d).needs_workflow() for d in options.dialects)
        if needs_workflow and not Environment().workflow_id():
            raise pytest.UsageError(
                f"--chainsim-bus live in the triggers dialect needs {WORKFLOW_VAR} in the "
                "environment: the id of a workflow in the sandbox org for the scenarios' "
                "triggers to target"
            )
    report = config.getoption("chainsim_report")
    if report:
        _check_report_path(Path(report))
    run = CertificationRun(config, options)
    config.stash[_RUN] = run
    config.pluginmanager.register(run, "chainsim-run")


def _check_report_path(path: Path) -> None:
    """Refuse, before any test runs, a report path that cannot be written."""
    if path.is_dir():
        raise pytest.UsageError(f"--chainsim-report {path}: is a directory, expected a file path")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise pytest.UsageError(
            f"--chainsim-report {path}: cannot create {path.parent} ({exc.strerror or exc})"
        ) from None


def pytest_report_header(config: pytest.Config) -> str:
    """One header line: the bus, the dialects and the Hypothesis profile."""
    run = config.stash[_RUN]
    o = run.options
    env = f" env={o.env}" if o.live else ""
    return (
        f"chainsim: bus={o.bus} dialect={'+'.join(o.dialects)}{env} "
        f"hypothesis-profile={hypothesis_profile(config)} run-id={run.run_id}"
    )


def hypothesis_profile(config: pytest.Config) -> str | None:
    """The Hypothesis settings profile in force (from its option, else the loaded one)."""
    try:
        chosen = config.getoption("hypothesis_profile")
    except ValueError:
        chosen = None
    if chosen:
        return str(chosen)
    try:
        from hypothesis import settings
    except ImportError:  # pragma: no cover - hypothesis is a dependency
        return None
    return getattr(settings, "_current_profile", None)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run each test that needs a bus once per selected dialect (unless it pins its own)."""
    if "chainsim_dialect" not in metafunc.fixturenames:
        return
    for mark in metafunc.definition.iter_markers("parametrize"):
        names = mark.args[0] if mark.args else mark.kwargs.get("argnames", "")
        if isinstance(names, str):
            names = [n.strip() for n in names.split(",")]
        if "chainsim_dialect" in names:
            return  # the test chose its dialects itself
    dialects = metafunc.config.stash[_RUN].options.dialects
    metafunc.parametrize("chainsim_dialect", dialects, indirect=True, scope="session")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Group each test by its dialect (xdist `loadgroup`); when live, skip fake-only tests.

    With `-n N --dist loadgroup` every triggers test runs on one worker, so only that
    worker pays for importing the Genesys SDK.
    """
    live = config.stash[_RUN].options.live
    grouping = config.pluginmanager.hasplugin("xdist")  # the marker is xdist's own
    skip = pytest.mark.skip(reason="chainsim_fake_only: needs the fake bus (fault injection)")
    for item in items:
        callspec = getattr(item, "callspec", None)
        dialect = callspec.params.get("chainsim_dialect") if callspec is not None else None
        if grouping and dialect is not None and not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group(f"chainsim-{dialect}"))
        if live and item.get_closest_marker("chainsim_fake_only"):
            item.add_marker(skip)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def chainsim_backend(pytestconfig: pytest.Config) -> Backend:
    """The run's Backend: clocks, fake buses and Bus clients for the chosen options."""
    return pytestconfig.stash[_RUN].backend


@pytest.fixture(scope="session")
def chainsim_recorder(pytestconfig: pytest.Config) -> LatencyRecorder:
    """The run's apply-latency recorder (session-wide, safe inside Hypothesis tests)."""
    return pytestconfig.stash[_RUN].recorder


@pytest.fixture(scope="session")
def chainsim_dialect(request: pytest.FixtureRequest) -> str:
    """The dialect this test runs in (`eventbridge` or `triggers`).

    A test may pin its dialects with
    `@pytest.mark.parametrize("chainsim_dialect", ["eventbridge"], indirect=True)`;
    it is skipped in a run that certifies other dialects only.
    """
    selected = request.config.stash[_RUN].options.dialects
    param = getattr(request, "param", None)
    if param is None:
        return selected[0]
    if param not in selected:
        pytest.skip(f"{param} dialect: this run certifies {', '.join(selected)} only")
    return str(param)


@pytest.fixture
def chainsim_clock(chainsim_backend: Backend) -> Clock:
    """A fresh VirtualClock on the fake bus, the SystemClock against a live org."""
    return chainsim_backend.clock()


@pytest.fixture
def chainsim_faults() -> FaultPlan | None:
    """The FaultPlan `fake_bus` starts with (None: no faults); override it in a module."""
    return None


@pytest.fixture
def fake_bus(
    chainsim_backend: Backend, chainsim_clock: Clock, chainsim_faults: FaultPlan | None
) -> Iterator[FakeBus]:
    """A fresh FakeBus on the test's clock, installed on respx; skips the test when live."""
    if chainsim_backend.options.live:
        pytest.skip("fake_bus: this run is against a live org (--chainsim-bus live)")
    with chainsim_backend.fake(chainsim_clock, faults=chainsim_faults) as bus:
        yield bus


@pytest.fixture
def chainsim_bus(
    request: pytest.FixtureRequest,
    chainsim_backend: Backend,
    chainsim_clock: Clock,
    chainsim_dialect: str,
) -> Iterator[Bus]:
    """A Bus for the chosen backend and dialect (on the fake, over the fake_bus)."""
    if not chainsim_backend.options.live:
        request.getfixturevalue("fake_bus")
    with chainsim_backend.connect(chainsim_dialect, chainsim_clock) as bus:
        yield bus


@pytest.fixture
def orchestrator_factory(
    chainsim_backend: Backend,
    chainsim_bus: Bus,
    chainsim_clock: Clock,
    chainsim_dialect: str,
    chainsim_recorder: LatencyRecorder,
    tmp_path: Path,
) -> Callable[..., RecordingOrchestrator]:
    """`orchestrator_factory(**kwargs)`: an Orchestrator on `chainsim_bus` with overrides.

    Its audit log, journal and dead-letter spool live in `tmp_path`; each `apply` adds
    an apply-latency sample to the certification report.
    """

    def build(**kwargs: Any) -> RecordingOrchestrator:
        kwargs.setdefault("dialect", chainsim_dialect)
        return chainsim_backend.orchestrator(
            chainsim_bus, chainsim_clock, tmp_path, chainsim_recorder, **kwargs
        )

    return build


@pytest.fixture
def orchestrator(
    orchestrator_factory: Callable[..., RecordingOrchestrator],
) -> RecordingOrchestrator:
    """An Orchestrator on `chainsim_bus`; each `apply` adds an apply-latency sample."""
    return orchestrator_factory()


@pytest.fixture
def chain_factory(
    chainsim_backend: Backend, chainsim_bus: Bus, chainsim_clock: Clock, chainsim_dialect: str
) -> Iterator[ChainFactory]:
    """`chain_factory("A->B->C", attributes=[...])` creates rules under a unique run prefix.

    Everything it created is deleted at teardown, also when the test fails.
    """
    factory = ChainFactory(
        chainsim_bus,
        chainsim_backend.new_prefix(),
        dialect=chainsim_dialect,
        workflow_id=chainsim_backend.workflow_id(chainsim_dialect),
        clock=chainsim_clock,
    )
    try:
        yield factory
    finally:
        left = factory.cleanup()
        if left:
            pytest.fail(f"chain_factory could not delete {len(left)} rule(s): {', '.join(left)}")


# --------------------------------------------------------------------------- the report


class CertificationRun:
    """Collects outcomes and latency samples; the controller writes the report.

    Under pytest-xdist each worker sends its samples to the controller through
    `workeroutput`; outcomes reach the controller as test reports anyway.
    """

    def __init__(self, config: pytest.Config, options: Options) -> None:
        self.config = config
        self.options = options
        workerinput = getattr(config, "workerinput", None)
        self.is_worker = workerinput is not None
        if workerinput is not None:
            self.run_id = str(workerinput.get("chainsim_run_id") or uuid.uuid4().hex[:8])
            worker = str(workerinput.get("workerid", "w"))
        else:
            self.run_id = uuid.uuid4().hex[:8]
            worker = "main"
        self.backend = Backend(options, self.run_id, worker)
        self.recorder = LatencyRecorder()
        self.results: dict[str, dict[str, Any]] = {}
        self.samples: list[dict[str, Any]] = []
        self.written: list[Path] = []
        self.created = datetime.now(timezone.utc).isoformat(timespec="seconds")

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """xdist controller: give every worker the run id, so prefixes name one run."""
        node.workerinput["chainsim_run_id"] = self.run_id

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: Any) -> Any:
        """Attribute the samples recorded while a test runs to that test."""
        self.recorder.scenario = plain_nodeid(item.nodeid)
        try:
            return (yield)
        finally:
            self.recorder.scenario = ""

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Fold each phase report into the scenario's outcome and duration."""
        if self.is_worker:
            return
        entry = self.results.setdefault(
            plain_nodeid(report.nodeid),
            {"outcome": "passed", "duration": 0.0, "markers": _markers(report), "message": ""},
        )
        entry["duration"] += report.duration
        outcome = _phase_outcome(report)
        if outcome is None:
            return
        if _RANK[outcome] > _RANK[entry["outcome"]]:
            entry["outcome"] = outcome
            entry["message"] = _message(report)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """xdist controller: collect a finished worker's latency samples."""
        output = getattr(node, "workeroutput", None) or {}
        self.samples.extend(output.get("chainsim_samples", []))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Worker: hand samples to the controller. Controller: write the report."""
        taken = [asdict(s) for s in self.recorder.drain()]
        if self.is_worker:
            self.config.workeroutput["chainsim_samples"] = taken  # type: ignore[attr-defined]
            return
        self.samples.extend(taken)
        path = self.config.getoption("chainsim_report")
        if path:
            self.written = self.write(Path(path))

    def build(self) -> Any:
        """The CertificationReport of this run so far."""
        from chainsim.report import CertificationReport, ScenarioResult, samples_from

        scenarios, others = [], dict[str, int]()
        for nodeid, entry in self.results.items():
            if _is_scenario(nodeid, entry["markers"]):
                scenarios.append(ScenarioResult(nodeid=nodeid, **_as_result(entry)))
            else:
                others[entry["outcome"]] = others.get(entry["outcome"], 0) + 1
        return CertificationReport(
            run_id=self.run_id,
            bus=self.options.bus,
            dialect="+".join(self.options.dialects),
            env=self.options.env,
            created=self.created,
            hypothesis_profile=hypothesis_profile(self.config),
            scenarios=scenarios,
            samples=samples_from(self.samples),
            other_tests=others,
        )

    def write(self, path: Path) -> list[Path]:
        """Write the report files (JSON, Markdown, PNG with matplotlib)."""
        from chainsim.report import write_report

        return write_report(self.build(), path)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """Say where the report went."""
        if self.written:
            names = ", ".join(str(p) for p in self.written)
            terminalreporter.write_line(f"chainsim certification report: {names}")


_RANK = {"passed": 0, "skipped": 1, "xfailed": 1, "xpassed": 2, "failed": 3, "error": 4}


def _phase_outcome(report: pytest.TestReport) -> str | None:
    """The outcome one phase contributes (None: nothing to change)."""
    if hasattr(report, "wasxfail"):
        return "xfailed" if report.skipped else "xpassed"
    if report.failed:
        return "failed" if report.when == "call" else "error"
    if report.skipped:
        return "skipped"
    return None


def _message(report: pytest.TestReport) -> str:
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2])
    if report.failed:
        crash = getattr(report.longrepr, "reprcrash", None)
        return str(crash.message) if crash is not None else str(report.longrepr)[:500]
    return ""


def _markers(report: pytest.TestReport) -> list[str]:
    return [name for name in MARKERS if name in report.keywords]


def plain_nodeid(nodeid: str) -> str:
    """A node id without the `@group` suffix pytest-xdist adds under `--dist loadgroup`."""
    return _GROUP_SUFFIX.sub("", nodeid)


_GROUP_SUFFIX = re.compile(r"@[^@\[\]/:]+$")


def _is_scenario(nodeid: str, markers: list[str]) -> bool:
    """A scenario carries a chainsim marker or lives in a `scenarios/` directory."""
    return bool(markers) or nodeid.split("/", 1)[0] == "scenarios" or "/scenarios/" in nodeid


def _as_result(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "outcome": entry["outcome"],
        "duration": round(entry["duration"], 6),
        "markers": tuple(entry["markers"]),
        "message": entry["message"],
    }

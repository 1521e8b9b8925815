"""chainsim's pytest plugin (entry point `pytest11`): options, fixtures, markers, report.

`pytest scenarios/` certifies chains on the embedded fake bus (default) or on a sandbox
org (`--chainsim-bus live`). Loading the plugin imports only pytest and the standard
library; httpx, respx, the fake bus and the Genesys SDK load when a fixture needs them.

Dialects: a test that uses a bus runs once, in the configured dialect: `--chainsim-dialect`,
else the ini setting `chainsim_dialect`, else `triggers` (the real Genesys API). `both`
runs it once per dialect (`[eventbridge]`, `[triggers]`). chainsim's own scenarios (test
files inside the chainsim package or its checkout's `scenarios/`) run in both dialects on
the fake unless a dialect is configured. The outcome aggregation and the certification
report live in `chainsim.certification`.

The plugin registers the Hypothesis profiles `ci` and `deep` (unless already registered)
and loads `ci` unless `--hypothesis-profile` or the user's own code chose another.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from chainsim.certification import (
    CHAINSIM_DIR,
    CertificationRun,
    hypothesis_profile,
)
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

_RUN = pytest.StashKey["CertificationRun"]()
DEFAULT_DIALECT = "triggers"
BOTH = "both"
PROFILES: dict[str, dict[str, Any]] = {
    "ci": {"max_examples": 30, "deadline": None, "derandomize": True},
    "deep": {"max_examples": 1000, "deadline": None},
}


def register_hypothesis_profiles() -> list[str]:
    """Register the `ci` and `deep` Hypothesis profiles where absent; the names registered.

    Hypothesis ships a built-in `ci` profile (`hypothesis/_settings.py`: derandomize, no
    deadline, 100 examples); chainsim's replaces that one, never a profile a user registered.
    """
    from hypothesis import HealthCheck, _settings, settings
    from hypothesis.errors import InvalidArgument

    builtin = getattr(_settings, "CI", None)
    done = []
    for name, values in PROFILES.items():
        try:
            present = settings.get_profile(name)
        except InvalidArgument:
            present = None
        if present is None or (builtin is not None and present is builtin):
            settings.register_profile(
                name,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
                **values,
            )
            done.append(name)
    return done


register_hypothesis_profiles()  # at import: before Hypothesis reads --hypothesis-profile


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
        choices=(*DIALECTS, BOTH),
        default=None,
        help="bus dialect: EventBridge rules over httpx, Process Automation triggers "
        f"through the Genesys SDK, or {BOTH} (each test once per dialect); default: the "
        f"ini setting chainsim_dialect, else {DEFAULT_DIALECT} (chainsim's own scenarios: "
        "both on the fake)",
    )
    parser.addini(
        "chainsim_dialect",
        f"default bus dialect of tests using a bus: {', '.join(DIALECTS)} or {BOTH}",
        default=None,
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
    group.addoption(
        "--chainsim-plans",
        default=None,
        metavar="DIR",
        help="the plans chainsim's packaged scenarios (chainsim.certify) certify: each "
        "NAME.yaml with NAME.inventory.json beside it (default: the shipped examples)",
    )


def configured_dialect(config: pytest.Config) -> str | None:
    """The dialect asked for: `--chainsim-dialect`, else the ini `chainsim_dialect` (or None)."""
    chosen = config.getoption("chainsim_dialect") or config.getini("chainsim_dialect")
    if not chosen:
        return None
    chosen = str(chosen).strip()
    if chosen not in (*DIALECTS, BOTH):
        raise pytest.UsageError(
            f"ini chainsim_dialect = {chosen!r}: expected one of {', '.join((*DIALECTS, BOTH))}"
        )
    return chosen


def options_from(config: pytest.Config) -> Options:
    """The run's Options from the command line and ini (`dialects`: all it may run)."""
    bus = config.getoption("chainsim_bus")
    dialect = configured_dialect(config)
    if dialect == BOTH:
        dialects: tuple[str, ...] = DIALECTS
    elif dialect:
        dialects = (dialect,)
    else:
        dialects = (DEFAULT_DIALECT,) if bus == "live" else DIALECTS
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
    plans = config.getoption("chainsim_plans")
    if plans:
        from chainsim.certify import plans_problem

        problem = plans_problem(plans)
        if problem:
            raise pytest.UsageError(f"--chainsim-plans {problem}")
    report = config.getoption("chainsim_report")
    if report:
        _check_report_path(Path(report))
    chosen = configured_dialect(config)
    default = "+".join(options.dialects) if chosen or options.live else DEFAULT_DIALECT
    run = CertificationRun(config, options, default_dialect=default)
    run.backend = Backend(options, run.run_id, run.worker)
    config.stash[_RUN] = run
    _load_ci_profile(config)
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
    dialect = "+".join(o.dialects)
    if not configured_dialect(config) and not o.live:
        dialect = f"{DEFAULT_DIALECT} (chainsim's own scenarios: {dialect})"
    return (
        f"chainsim: bus={o.bus} dialect={dialect}{env} "
        f"hypothesis-profile={hypothesis_profile(config)} run-id={run.run_id}"
    )


def _load_ci_profile(config: pytest.Config) -> None:
    """Load `ci` unless `--hypothesis-profile` or the user's code loaded another profile."""
    from hypothesis import settings

    try:
        chosen = config.getoption("hypothesis_profile")
    except ValueError:
        chosen = None
    if not chosen and getattr(settings, "_current_profile", "default") in ("default", "ci"):
        settings.load_profile("ci")  # `ci`: Hypothesis loads its built-in one on a CI host


def test_dialects(config: pytest.Config, path: Path) -> tuple[str, ...]:
    """The dialects a test (in file `path`) runs in when it does not pin its own.

    The configured dialect (`both`: each); else chainsim's own scenarios run in every
    dialect of the run, and any other test once, in `triggers`.
    """
    options = config.stash[_RUN].options
    if configured_dialect(config) or options.live:
        return options.dialects
    return DIALECTS if is_chainsim_scenario(path) else (DEFAULT_DIALECT,)


def is_chainsim_scenario(path: Path) -> bool:
    """True for a test file of chainsim itself: in its package or its checkout's `scenarios/`."""
    resolved = Path(path).resolve()
    return CHAINSIM_DIR in resolved.parents or CHAINSIM_DIR.parent / "scenarios" in resolved.parents


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run each test that needs a bus in its dialects (unless it pins its own)."""
    if "chainsim_dialect" not in metafunc.fixturenames:
        return
    for mark in metafunc.definition.iter_markers("parametrize"):
        names = mark.args[0] if mark.args else mark.kwargs.get("argnames", "")
        if isinstance(names, str):
            names = [n.strip() for n in names.split(",")]
        if "chainsim_dialect" in names:
            return  # the test chose its dialects itself
    dialects = test_dialects(metafunc.config, metafunc.definition.path)
    metafunc.parametrize("chainsim_dialect", dialects, indirect=True, scope="session")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Group each test by its dialect (xdist `loadgroup`); when live, skip fake-only tests.

    With `-n N --dist loadgroup` every triggers test runs on one worker, so only that
    worker pays for importing the Genesys SDK.
    """
    run = config.stash[_RUN]
    live = run.options.live
    grouping = config.pluginmanager.hasplugin("xdist")  # the marker is xdist's own
    for item in items:
        callspec = getattr(item, "callspec", None)
        dialect = callspec.params.get("chainsim_dialect") if callspec is not None else None
        if grouping and dialect is not None and not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group(f"chainsim-{dialect}"))
        if live and item.get_closest_marker("chainsim_fake_only"):
            run.skip_when_live(item)


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


@pytest.fixture
def certify_plan(pytestconfig: pytest.Config) -> Callable[[str | Path], Path]:
    """`certify_plan(path)`: record a plan file (its sha256) in the report; returns the path."""
    run = pytestconfig.stash[_RUN]

    def record(path: str | Path) -> Path:
        run.record_plan(path)
        return Path(path)

    return record

"""The certification run behind the pytest plugin: every outcome, skip and sample, one verdict.

`CertificationRun` is registered by the plugin as a pytest plugin object: it folds every
test's phase reports into one outcome, decides for each skip whether chainsim itself
skipped the test (its markers or fixtures, for a stated reason) or the test did, keeps
collection errors, the plans certified (with their sha256 digest) and the apply-latency
samples, and on the controller builds a `CertificationReport` (chainsim/report.py).
Under pytest-xdist, workers hand samples, plans and collected ids to the controller
through `workeroutput`; outcomes reach it as test reports anyway.

Only pytest and the standard library are imported here; the org lookup of a live run
imports httpx and the Genesys SDK when the report is written.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import uuid
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import _pytest
import pytest

import chainsim
from chainsim.testing import LatencyRecorder

if TYPE_CHECKING:
    from chainsim.report import CertificationReport
    from chainsim.testing import Options

MARKERS = ("chainsim_live_safe", "chainsim_fake_only")
FAKE_ONLY_SKIP = "chainsim_fake_only: needs the fake bus (fault injection)"
CHAINSIM_DIR = Path(chainsim.__file__).resolve().parent
PYTEST_DIR = Path(_pytest.__file__).resolve().parent
FAKE_BACKEND = "fake: in-process FakeBus behind respx; no request left this process"
ORG_OPERATION = "GET /api/v2/organizations/me"

_RANK = {"passed": 0, "skipped": 1, "xfailed": 1, "xpassed": 2, "failed": 3, "error": 4}
_GROUP_SUFFIX = re.compile(r"@[^@\[\]/:]+$")


class CertificationRun:
    """Collects outcomes, skips, plans and latency samples; the controller writes the report."""

    def __init__(
        self,
        config: pytest.Config,
        options: Options,
        *,
        default_dialect: str = "",
        read_org: Any = None,
    ) -> None:
        """`default_dialect`: what the report names when no test ran in a dialect.

        `read_org(options) -> dict` replaces the live org lookup (tests inject it).
        """
        self.config = config
        self.options = options
        self.default_dialect = default_dialect or "+".join(options.dialects)
        self.verdict = "NOT CERTIFIED"
        workerinput = getattr(config, "workerinput", None)
        self.is_worker = workerinput is not None
        if workerinput is not None:
            self.run_id = str(workerinput.get("chainsim_run_id") or uuid.uuid4().hex[:8])
            self.worker = str(workerinput.get("workerid", "w"))
        else:
            self.run_id = uuid.uuid4().hex[:8]
            self.worker = "main"
        self.backend: Any = None  # set by the plugin (chainsim_backend fixture)
        self.recorder = LatencyRecorder()
        self.results: dict[str, dict[str, Any]] = {}
        self.collect_errors: dict[str, str] = {}
        self.collected: set[str] = set()
        self.own_skips: dict[str, str] = {}
        self.samples: list[dict[str, Any]] = []
        self.plans: dict[str, str] = {}
        self.exit_status: int | None = None
        self.written: list[Path] = []
        self.created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self._read_org = read_org or read_org_info

    # ------------------------------------------------------------------ recording

    def skip_when_live(self, item: pytest.Item) -> None:
        """Skip a `chainsim_fake_only` test (a live run); the skip counts as chainsim's."""
        item.add_marker(pytest.mark.skip(reason=FAKE_ONLY_SKIP))
        self.own_skips[plain_nodeid(item.nodeid)] = FAKE_ONLY_SKIP

    def record_plan(self, path: str | Path) -> str:
        """Record a plan file as certified by this run; its sha256 hex digest."""
        path = Path(path)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        self.plans[_display_path(path)] = digest
        return digest

    # ------------------------------------------------------------------ hooks

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """xdist controller: give every worker the run id, so prefixes name one run."""
        node.workerinput["chainsim_run_id"] = self.run_id

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Remember every collected test: one that never reports did not pass."""
        self.collected.update(plain_nodeid(item.nodeid) for item in session.items)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        """A collection error blocks the verdict; a module skipped while collected is a skip."""
        if self.is_worker:
            return
        if report.failed:
            self.collect_errors[report.nodeid or "."] = _one_line(str(report.longrepr))
        elif report.skipped and isinstance(report.longrepr, tuple):
            where, _, reason = report.longrepr
            origin = Path(str(where)).resolve()
            self.results[plain_nodeid(report.nodeid)] = {
                "outcome": "skipped",
                "duration": 0.0,
                "markers": [],
                "message": str(reason).removeprefix("Skipped: "),
                "skipped_by": "chainsim" if CHAINSIM_DIR in origin.parents else "test",
            }

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: Any) -> Any:
        """Attribute the samples recorded while a test runs to that test."""
        self.recorder.scenario = plain_nodeid(item.nodeid)
        try:
            return (yield)
        finally:
            self.recorder.scenario = ""

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        """Tag each skip with who skipped: `chainsim` (its markers/fixtures) or `test`."""
        report = yield
        if report.skipped and not hasattr(report, "wasxfail"):
            report.chainsim_skip = self._skip_origin(item, call)
        return report

    def _skip_origin(self, item: pytest.Item, call: pytest.CallInfo[None]) -> str:
        """`chainsim` when chainsim's marker or code raised the skip, else `test`."""
        excinfo = call.excinfo
        if excinfo is None:
            return "test"
        reason = str(getattr(excinfo.value, "msg", "") or "")
        if self.own_skips.get(plain_nodeid(item.nodeid)) == reason:
            return "chainsim"
        for entry in reversed(excinfo.traceback):
            path = Path(str(entry.path)).resolve()
            if PYTEST_DIR in path.parents:
                continue  # pytest.skip itself, the skip-marker evaluation
            return "chainsim" if CHAINSIM_DIR in path.parents else "test"
        return "test"

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Fold each phase report into the test's outcome, duration and reason."""
        if self.is_worker:
            return
        entry = self.results.setdefault(
            plain_nodeid(report.nodeid),
            {
                "outcome": "passed",
                "duration": 0.0,
                "markers": [name for name in MARKERS if name in report.keywords],
                "message": "",
                "skipped_by": "",
            },
        )
        entry["duration"] += report.duration
        outcome = _phase_outcome(report)
        if outcome is None:
            return
        if _RANK[outcome] > _RANK[entry["outcome"]]:
            entry["outcome"] = outcome
            entry["message"] = _message(report)
            entry["skipped_by"] = (
                getattr(report, "chainsim_skip", "test") if outcome == "skipped" else ""
            )

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """xdist controller: collect a finished worker's samples, plans and collected ids."""
        output = getattr(node, "workeroutput", None) or {}
        self.samples.extend(output.get("chainsim_samples", []))
        self.plans.update(output.get("chainsim_plans", {}))
        self.collected.update(output.get("chainsim_collected", []))

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """Worker: hand its records to the controller. Controller: write the report."""
        taken = [asdict(s) for s in self.recorder.drain()]
        if self.is_worker:
            out = self.config.workeroutput  # type: ignore[attr-defined]
            out["chainsim_samples"] = taken
            out["chainsim_plans"] = dict(self.plans)
            out["chainsim_collected"] = sorted(self.collected)
            return
        self.samples.extend(taken)
        self.exit_status = int(exitstatus)
        path = self.config.getoption("chainsim_report")
        if path:
            self.written = self.write(Path(path))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """Say where the report went and what the verdict is."""
        if self.written:
            names = ", ".join(str(p) for p in self.written)
            terminalreporter.write_line(f"chainsim certification report: {names}")
            terminalreporter.write_line(f"chainsim verdict: {self.verdict}")

    # ------------------------------------------------------------------ the report

    def build(self) -> CertificationReport:
        """The CertificationReport of this run so far."""
        from chainsim.report import CertificationReport, ScenarioResult, samples_from

        scenarios: list[ScenarioResult] = []
        others: list[ScenarioResult] = []
        counts: dict[str, int] = {}
        for nodeid, entry in self.results.items():
            result = ScenarioResult(
                nodeid=nodeid,
                outcome=entry["outcome"],
                duration=round(entry["duration"], 6),
                markers=tuple(entry["markers"]),
                message=entry["message"],
                skipped_by=entry["skipped_by"],
            )
            if is_scenario(nodeid, entry["markers"]):
                scenarios.append(result)
            else:
                counts[result.outcome] = counts.get(result.outcome, 0) + 1
                if result.outcome != "passed":
                    others.append(result)
        api_host, backend = api_host_of(self.options)
        report = CertificationReport(
            run_id=self.run_id,
            bus=self.options.bus,
            dialect=self.dialect(),
            env=self.options.env if self.options.live else None,
            api_host=api_host,
            api_backend=backend,
            org=self._read_org(self.options) if self.options.live else fake_org(),
            created=self.created,
            hypothesis_profile=hypothesis_profile(self.config),
            scenarios=scenarios,
            samples=samples_from(self.samples),
            other_tests=counts,
            others=others,
            plans=[{"path": p, "sha256": d} for p, d in sorted(self.plans.items())],
            collection_errors=[
                {"nodeid": n, "message": m} for n, m in sorted(self.collect_errors.items())
            ],
            not_run=sorted(self.collected - set(self.results)),
            exit_status=self.exit_status,
        )
        self.verdict = "CERTIFIED" if report.summary()["certified"] else "NOT CERTIFIED"
        return report

    def dialect(self) -> str:
        """The dialects the tests ran in (from their ids), else the run's selection."""
        from chainsim.report import dialect_of

        seen = {dialect_of(nodeid) for nodeid in self.results}
        ran = [d for d in ("eventbridge", "triggers") if d in seen]
        return "+".join(ran) if ran else self.default_dialect

    def write(self, path: Path) -> list[Path]:
        """Write the report files (JSON, Markdown, PNG with matplotlib)."""
        from chainsim.report import write_report

        return write_report(self.build(), path)


# --------------------------------------------------------------------------- where it ran


def api_host_of(options: Options) -> tuple[str, str]:
    """(the exact API base URL used, what answered it): the fake's host, or the live one."""
    if not options.live:
        from chainsim.fakebus.bus import DEFAULT_API_HOST

        return DEFAULT_API_HOST, FAKE_BACKEND
    from chainsim.bus.auth import live_hosts

    api, _ = live_hosts(options.env, options.api_host, options.login_host)
    host = urlsplit(api).hostname or ""
    if host == "localhost" or _is_loopback(host):
        return api, f"live client against a loopback host ({host}), not a Genesys Cloud region"
    return api, "live: Genesys Cloud API over HTTPS"


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def fake_org() -> dict[str, Any]:
    """The org of a fake run: unknown, and why."""
    return {"id": None, "name": None, "reason": "the fake bus has no organization"}


def read_org_info(options: Options, *, timeout: float = 10.0) -> dict[str, Any]:
    """The live org's id and name (`GET /api/v2/organizations/me`), or why it is unknown.

    Genesys: `OrganizationApi.get_organizations_me` returns the `Organization` of the
    OAuth client (SDK `apis/organization_api.py`). A 401/403 (the client may not read
    it), a network error or a missing credential leaves it unknown with the reason.
    """
    from chainsim.session import Environment

    environment = Environment()
    missing = environment.missing_credentials()
    if missing:
        return {"id": None, "name": None, "reason": f"no {' and '.join(missing)}"}
    try:
        import httpx
        from PureCloudPlatformClientV2 import OrganizationApi

        from chainsim.bus.auth import ClientCredentials, live_hosts
        from chainsim.bus.genesys import TriggersBus
        from chainsim.clock import SystemClock

        api, login = live_hosts(options.env, options.api_host, options.login_host)
        clock = SystemClock()
        with httpx.Client(timeout=timeout) as http:
            client_id, secret = environment.credentials()
            auth = ClientCredentials(client_id, secret, login_host=login, http=http, clock=clock)
            bus = TriggersBus.from_httpx(http, auth, api_host=api, login_host=login, clock=clock)
            org = bus._call(OrganizationApi(bus.api_client).get_organizations_me)
    except Exception as exc:  # any failure only makes the org unknown; the run stands
        return {"id": None, "name": None, "reason": f"{ORG_OPERATION}: {_one_line(str(exc))}"}
    return {"id": org.id, "name": org.name, "reason": ""}


# --------------------------------------------------------------------------- helpers


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


def plain_nodeid(nodeid: str) -> str:
    """A node id without the `@group` suffix pytest-xdist adds under `--dist loadgroup`."""
    return _GROUP_SUFFIX.sub("", nodeid)


def is_scenario(nodeid: str, markers: list[str] | tuple[str, ...]) -> bool:
    """A scenario carries a chainsim marker or lives in a `scenarios/` directory."""
    return bool(markers) or nodeid.split("/", 1)[0] == "scenarios" or "/scenarios/" in nodeid


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
    """The skip reason or the failure's one-line crash message."""
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    if hasattr(report, "wasxfail"):
        return str(report.wasxfail)
    if report.failed:
        crash = getattr(report.longrepr, "reprcrash", None)
        return str(crash.message) if crash is not None else str(report.longrepr)[:500]
    return ""


def _display_path(path: Path) -> str:
    """A plan's path relative to the working directory when under it, else absolute."""
    resolved = path.resolve()
    try:
        return resolved.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return resolved.as_posix()


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"

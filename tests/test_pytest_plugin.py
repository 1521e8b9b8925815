"""The pytest plugin, exercised in throwaway projects with `pytester` (chainsim installed only)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CREDENTIALS = ("GENESYS_CLIENT_ID", "GENESYS_CLIENT_SECRET")


@pytest.fixture(scope="module")
def bus_modules() -> None:
    """Import the fake, the orchestrator and the SDK once (inline runs drop what they import)."""
    import PureCloudPlatformClientV2  # noqa: F401

    import chainsim.apply
    import chainsim.bus.genesys
    import chainsim.fakebus  # noqa: F401


@pytest.fixture(scope="module")
def plotting() -> None:
    """Import matplotlib's Figure once, when it is installed (the report's PNG)."""
    with contextlib.suppress(ImportError):
        import matplotlib.figure  # noqa: F401


@pytest.fixture
def project(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> Iterator[pytest.Pytester]:
    """A throwaway project: no conftest, no ini; chainsim comes in by its entry point.

    An inline run may load another Hypothesis profile (`--hypothesis-profile`) into this
    process's global settings: the profile in force is restored afterwards.
    """
    from hypothesis import settings

    for name in CREDENTIALS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    profile = getattr(settings, "_current_profile", None) or "ci"
    yield pytester
    settings.load_profile(profile)


def test_help_lists_the_options_under_a_chainsim_group(project: pytest.Pytester) -> None:
    """`pytest --help` shows every chainsim option with its help text in the chainsim group."""
    result = project.runpytest("--help")
    out = result.stdout.str()
    group = out[out.index("chainsim certification:") :]
    for option in (
        "--chainsim-bus={fake,live}",
        "--chainsim-dialect={eventbridge,triggers,both}",
        "--chainsim-env",
        "--chainsim-api-host",
        "--chainsim-report=PATH",
    ):
        assert option in group
    assert "GENESYS_CLIENT_ID" in group
    assert "chainsim_live_safe" in project.runpytest("--markers").stdout.str()


def test_options_parse(project: pytest.Pytester) -> None:
    """Every option reaches `config` with the value given on the command line."""
    project.makepyfile(
        """
        def test_options(pytestconfig):
            got = {name: pytestconfig.getoption(name) for name in (
                "chainsim_bus", "chainsim_dialect", "chainsim_env",
                "chainsim_api_host", "chainsim_report")}
            assert got == {
                "chainsim_bus": "fake", "chainsim_dialect": "triggers",
                "chainsim_env": "mypurecloud.de", "chainsim_api_host": "http://127.0.0.1:9",
                "chainsim_report": "out/cert.json"}
        """
    )
    result = project.runpytest(
        "--chainsim-bus=fake",
        "--chainsim-dialect",
        "triggers",
        "--chainsim-env=mypurecloud.de",
        "--chainsim-api-host=http://127.0.0.1:9",
        "--chainsim-report=out/cert.json",
    )
    result.assert_outcomes(passed=1)


def test_a_bad_choice_is_a_usage_error(project: pytest.Pytester) -> None:
    """An unknown bus is refused by the option parser, naming the choices."""
    result = project.runpytest("--chainsim-bus=staging")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "invalid choice: 'staging'" in result.stderr.str()


def test_header_names_bus_dialects_and_hypothesis_profile(project: pytest.Pytester) -> None:
    """The report header says which bus, which dialects and which Hypothesis profile run."""
    project.makepyfile("def test_nothing():\n    pass\n")
    result = project.runpytest("--chainsim-dialect=triggers")
    result.stdout.re_match_lines(
        [r"chainsim: bus=fake dialect=triggers hypothesis-profile=\S+ run-id=[0-9a-f]{8}"]
    )
    result = project.runpytest("--hypothesis-profile=default")
    result.stdout.re_match_lines(
        [
            r"chainsim: bus=fake dialect=triggers \(chainsim's own scenarios: "
            r"eventbridge\+triggers\) hypothesis-profile=default .*"
        ]
    )


def test_live_without_credentials_refuses_to_start(project: pytest.Pytester) -> None:
    """`--chainsim-bus live` with no credentials stops before collection, naming both variables."""
    project.makepyfile("def test_never():\n    raise AssertionError('must not run')\n")
    result = project.runpytest("--chainsim-bus=live")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert "--chainsim-bus live needs GENESYS_CLIENT_ID and GENESYS_CLIENT_SECRET" in err
    assert "must not run" not in result.stdout.str()


def test_live_triggers_needs_a_workflow_id(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With credentials but no CHAINSIM_WORKFLOW_ID, a live triggers run refuses to start."""
    for name in CREDENTIALS:
        monkeypatch.setenv(name, "someone")
    monkeypatch.delenv("CHAINSIM_WORKFLOW_ID", raising=False)
    result = project.runpytest("--chainsim-bus=live")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "needs CHAINSIM_WORKFLOW_ID in the environment" in result.stderr.str()
    result = project.runpytest("--chainsim-bus=live", "--chainsim-dialect=eventbridge")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_live_names_only_the_missing_variable(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With only the client id set, the message names the secret alone."""
    monkeypatch.setenv("GENESYS_CLIENT_ID", "someone")
    result = project.runpytest("--chainsim-bus=live")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "live needs GENESYS_CLIENT_SECRET in the environment" in result.stderr.str()


def test_live_skips_fake_only_tests_and_the_fake_bus(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Against a live org, fake-only tests and the `fake_bus` fixture skip with a reason."""
    for name in (*CREDENTIALS, "CHAINSIM_WORKFLOW_ID"):
        monkeypatch.setenv(name, "not-used")
    project.makepyfile(
        """
        import pytest

        @pytest.mark.chainsim_fake_only
        def test_storm():
            raise AssertionError("must not run live")

        def test_wants_fake(fake_bus):
            raise AssertionError("must not run live")

        def test_dialect(chainsim_dialect, chainsim_clock):
            from chainsim.clock import SystemClock
            assert chainsim_dialect == "triggers"
            assert isinstance(chainsim_clock, SystemClock)
        """
    )
    result = project.runpytest("--chainsim-bus=live", "-rs")
    result.assert_outcomes(passed=1, skipped=2)
    result.stdout.fnmatch_lines(
        [
            "*chainsim_fake_only: needs the fake bus (fault injection)*",
            "*fake_bus: this run is against a live org*",
        ]
    )


def test_a_users_test_runs_once_in_the_configured_dialect(project: pytest.Pytester) -> None:
    """A user's test runs once, in triggers by default; `both` (option or ini) runs each."""
    project.makepyfile(
        """
        def test_dialect(chainsim_dialect):
            assert chainsim_dialect in ("eventbridge", "triggers")

        def test_plain():
            pass
        """
    )
    result = project.runpytest("-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*test_dialect?triggers? PASSED*"])
    assert "eventbridge" not in result.stdout.str().split("collected")[1]
    result = project.runpytest("-v", "--chainsim-dialect=eventbridge")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*test_dialect?eventbridge? PASSED*"])
    result = project.runpytest("-v", "--chainsim-dialect=both")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        ["*test_dialect?eventbridge? PASSED*", "*test_dialect?triggers? PASSED*"]
    )
    project.makeini("[pytest]\nchainsim_dialect = both\n")
    project.runpytest("-v").assert_outcomes(passed=3)
    project.makeini("[pytest]\nchainsim_dialect = eventbridge\n")
    result = project.runpytest("-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*test_dialect?eventbridge? PASSED*"])
    project.makeini("[pytest]\nchainsim_dialect = soap\n")
    result = project.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*ini chainsim_dialect = 'soap': expected one of*"])


REPORT_PROJECT = """
    import pytest
    from chainsim.clock import VirtualClock

    pytestmark = pytest.mark.chainsim_live_safe

    def test_passes(chainsim_recorder):
        clock = VirtualClock()
        for step in (0.1, 0.2, 0.3):
            with chainsim_recorder.measure(clock):
                clock.sleep(step)

    def test_fails():
        assert 1 == 2, "one is not two"

    @pytest.mark.skip(reason="not today")
    def test_skipped():
        pass

    @pytest.mark.chainsim_fake_only
    @pytest.mark.parametrize("n", [1, 2])
    def test_fake(n, chainsim_recorder):
        chainsim_recorder.record(virtual=n, wall=0.001)
"""


def _check_report(path: Path) -> dict:
    doc = json.loads(path.read_text())
    assert doc["schema"] == "chainsim.certification/1"
    assert doc["bus"] == "fake"
    assert doc["dialect"] == "triggers"  # no test used a bus: the default dialect
    assert doc["env"] is None  # the fake is in no Genesys environment
    assert doc["api_host"] == "https://api.mypurecloud.com"
    assert doc["api_backend"].startswith("fake: in-process FakeBus behind respx")
    assert doc["org"]["id"] is None and doc["org"]["reason"]
    assert len(doc["run_id"]) == 8
    assert doc["versions"]["chainsim"]
    outcomes = {s["nodeid"].split("::")[1]: s["outcome"] for s in doc["scenarios"]}
    assert outcomes == {
        "test_passes": "passed",
        "test_fails": "failed",
        "test_skipped": "skipped",
        "test_fake[1]": "passed",
        "test_fake[2]": "passed",
    }
    assert doc["summary"]["certified"] is False
    assert doc["skipped"] == [
        {"nodeid": "test_cert.py::test_skipped", "reason": "not today", "skipped_by": "test"}
    ]
    lat = doc["apply_latency"]
    assert lat["count"] == 5
    assert lat["virtual_seconds"]["max"] == pytest.approx(2.0)
    assert lat["virtual_seconds"]["p50"] == pytest.approx(0.3)
    scenarios = {s["scenario"].split("::")[1] for s in doc["samples"]}
    assert scenarios == {"test_passes", "test_fake[1]", "test_fake[2]"}
    failing = next(s for s in doc["scenarios"] if s["nodeid"].endswith("test_fails"))
    assert "one is not two" in failing["message"]
    assert failing["markers"] == ["chainsim_live_safe"]
    md = path.with_suffix(".md").read_text()
    assert md.startswith("# chainsim certification: NOT CERTIFIED")
    assert "| virtual |" in md
    return doc


def test_report_files_are_written_and_valid(project: pytest.Pytester, plotting: None) -> None:
    """--chainsim-report writes JSON and Markdown (outcomes, latency); JUnit XML still works."""
    project.makepyfile(test_cert=REPORT_PROJECT)
    result = project.runpytest("--chainsim-report=out/cert.json", "--junitxml=out/junit.xml")
    result.assert_outcomes(passed=3, failed=1, skipped=1)
    result.stdout.fnmatch_lines(["chainsim certification report: *out/cert.json, *out/cert.md*"])
    _check_report(project.path / "out" / "cert.json")
    junit = (project.path / "out" / "junit.xml").read_text()
    assert 'tests="5"' in junit and 'failures="1"' in junit


def test_report_under_xdist_combines_the_workers(project: pytest.Pytester, plotting: None) -> None:
    """Under `-n 2` the controller writes one report with every worker's outcomes and samples."""
    project.makepyfile(test_cert=REPORT_PROJECT)
    result = project.runpytest("-n", "2", "--chainsim-report=cert.json")
    result.assert_outcomes(passed=3, failed=1, skipped=1)
    doc = _check_report(project.path / "cert.json")
    assert len({s["scenario"] for s in doc["samples"]}) == 3


def test_report_under_xdist_loadgroup_keeps_plain_node_ids(
    project: pytest.Pytester, plotting: None
) -> None:
    """With `--dist loadgroup` (dialect groups) the report still names tests without `@group`."""
    project.makepyfile(
        test_groups="""
        import pytest

        @pytest.mark.chainsim_live_safe
        def test_each(chainsim_dialect, chainsim_recorder):
            chainsim_recorder.record(virtual=1.0, wall=0.0)
        """
    )
    result = project.runpytest(
        "-n", "2", "--dist", "loadgroup", "--chainsim-dialect=both", "--chainsim-report=c.json"
    )
    result.assert_outcomes(passed=2)
    doc = json.loads((project.path / "c.json").read_text())
    assert sorted(s["nodeid"] for s in doc["scenarios"]) == [
        "test_groups.py::test_each[eventbridge]",
        "test_groups.py::test_each[triggers]",
    ]
    assert sorted(s["scenario"] for s in doc["samples"]) == [
        "test_groups.py::test_each[eventbridge]",
        "test_groups.py::test_each[triggers]",
    ]
    assert doc["summary"]["by_dialect"] == {"eventbridge": {"passed": 1}, "triggers": {"passed": 1}}


def test_loading_the_plugin_imports_nothing_heavy() -> None:
    """Importing the plugin loads neither httpx, respx, pydantic, ssl, the fake bus nor the SDK."""
    code = textwrap.dedent(
        """
        import sys, pytest
        import chainsim.pytest_plugin
        heavy = [m for m in ("httpx", "respx", "pydantic", "chainsim.fakebus", "ssl",
                             "PureCloudPlatformClientV2", "matplotlib") if m in sys.modules]
        print(heavy)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_fixtures_give_a_working_fake_bus_and_orchestrator(
    project: pytest.Pytester, bus_modules: None
) -> None:
    """In a bare project the fixtures build a chain on the fake and apply it, in both dialects."""
    project.makepyfile(
        """
        from chainsim.clock import VirtualClock

        def test_apply(fake_bus, chainsim_clock, chainsim_bus, chain_factory, orchestrator,
                       chainsim_dialect):
            assert isinstance(chainsim_clock, VirtualClock) and fake_bus.clock is chainsim_clock
            chain = chain_factory("A->B->C", attributes=["conversationId", "queueId"])
            assert len(chain.ids) == 3
            assert all(chain.prefix in rule.name for rule in chain.rules.values())
            assert chain.missing_links(chainsim_bus) == chain.links
            result = orchestrator.apply(chain.plan)
            assert result.status == "applied", result.to_report()
            assert chain.missing_links(chainsim_bus) == []
            assert chain.missing_links(chainsim_bus.list_rules()) == []
            stored = fake_bus.rules() if chainsim_dialect == "eventbridge" else fake_bus.triggers()
            assert len(stored) == 3

        def test_fresh_bus_per_test(fake_bus):
            assert fake_bus.rules() == [] and fake_bus.triggers() == []
        """
    )
    result = project.runpytest("-v", "--chainsim-dialect=both", "--chainsim-report=cert.json")
    result.assert_outcomes(passed=3)
    doc = json.loads((project.path / "cert.json").read_text())
    assert doc["apply_latency"]["count"] == 2


TEARDOWN_PROJECT = """
    import json
    import pytest

    @pytest.fixture
    def leftovers(fake_bus, chainsim_dialect, request):
        yield
        stored = fake_bus.rules() if chainsim_dialect == "eventbridge" else fake_bus.triggers()
        name = request.node.name.replace("[", "-").replace("]", "")
        with open(f"left-{name}.json", "w") as handle:
            json.dump(len(stored), handle)

    def test_body_fails(leftovers, chain_factory):
        chain_factory("A->B->C, B->D", linked=True)
        chain_factory("X")
        raise AssertionError("the test body fails")

    def test_body_passes(leftovers, chain_factory, orchestrator):
        chain = chain_factory("A->B->C")
        assert orchestrator.apply(chain.plan()).status == "applied"
"""


def test_chain_factory_removes_everything_even_when_the_test_fails(
    project: pytest.Pytester, bus_modules: None
) -> None:
    """Every rule chain_factory created is deleted at teardown, after a failure too."""
    project.makepyfile(test_teardown=TEARDOWN_PROJECT)
    result = project.runpytest("--chainsim-dialect=both")
    result.assert_outcomes(passed=2, failed=2)
    counts = {p.name: json.loads(p.read_text()) for p in project.path.glob("left-*.json")}
    assert counts == {
        "left-test_body_fails-eventbridge.json": 0,
        "left-test_body_fails-triggers.json": 0,
        "left-test_body_passes-eventbridge.json": 0,
        "left-test_body_passes-triggers.json": 0,
    }


def test_prefixes_are_unique_per_run_worker_and_call(
    project: pytest.Pytester, bus_modules: None
) -> None:
    """Two chains in one test, and two tests, never share a name prefix."""
    project.makepyfile(
        """
        seen = []

        def test_one(chain_factory):
            seen.append(chain_factory("A").prefix)
            seen.append(chain_factory("A").prefix)

        def test_two(chain_factory):
            seen.append(chain_factory("A").prefix)
            assert len(set(seen)) == len(seen)
            assert all(p.startswith("chainsim-") for p in seen)
        """
    )
    project.runpytest("--chainsim-dialect=eventbridge").assert_outcomes(passed=2)


def test_certify_runs_the_scenarios_and_says_where_the_report_went(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`chainsim certify scenarios` runs a given test path with the plugin's options."""
    from typer.testing import CliRunner

    from chainsim.cli import app

    scenarios = project.mkdir("scenarios")
    (scenarios / "test_ok.py").write_text(
        "import pytest\n\n@pytest.mark.chainsim_live_safe\n"
        "def test_ok(chainsim_dialect):\n    assert chainsim_dialect == 'triggers'\n"
    )
    monkeypatch.chdir(project.path)
    runner = CliRunner()
    result = runner.invoke(app, ["certify", "scenarios", "-q", "--chainsim-dialect", "triggers"])
    assert result.exit_code == 0, result.output
    report = project.path / ".chainsim" / "certification.json"
    assert f"certification report: {report}" in result.output
    doc = json.loads((project.path / ".chainsim" / "certification.json").read_text())
    assert doc["dialect"] == "triggers" and doc["summary"]["passed"] == 1

    (scenarios / "test_bad.py").write_text("def test_bad():\n    assert False\n")
    result = runner.invoke(
        app, ["certify", "scenarios", "--chainsim-report=out/c.json", "-p", "no:cacheprovider"]
    )
    assert result.exit_code == 1
    assert "certification report: out/c.json (Markdown: out/c.md)" in result.output


def test_certify_as_a_command_warns_about_nothing(project: pytest.Pytester) -> None:
    """The `chainsim certify` process imports chainsim before pytest, yet prints no warning."""
    import sys

    scenarios = project.mkdir("scenarios")
    (scenarios / "test_ok.py").write_text("def test_ok(chainsim_clock):\n    pass\n")
    result = project.run(
        sys.executable, "-m", "chainsim.cli", "certify", "scenarios", "-p", "no:xdist"
    )
    assert result.ret == 0, result.outlines
    assert "warning" not in result.stdout.str().lower(), result.outlines


def test_a_module_can_give_the_fake_bus_its_faults(
    project: pytest.Pytester, bus_modules: None
) -> None:
    """Overriding `chainsim_faults` in a test module starts `fake_bus` with that FaultPlan."""
    project.makepyfile(
        """
        import pytest
        from chainsim.fakebus.faults import FaultPlan, Storm

        @pytest.fixture
        def chainsim_faults():
            return FaultPlan(seed=42, storms=[Storm(start=0, duration=60, fraction=1.0)])

        def test_storm(fake_bus, chainsim_bus):
            from chainsim.bus.base import RateLimited
            assert fake_bus.faults.seed == 42
            with pytest.raises(RateLimited):
                list(chainsim_bus.list_rules())
        """
    )
    project.runpytest("--chainsim-dialect=eventbridge").assert_outcomes(passed=1)


def test_a_test_can_pin_its_dialects(project: pytest.Pytester) -> None:
    """`only_dialects(...)` runs a test in those dialects only, skipped when the run has none."""
    project.makepyfile(
        """
        from chainsim.testing import only_dialects

        @only_dialects("eventbridge")
        def test_pinned(chainsim_dialect):
            assert chainsim_dialect == "eventbridge"
        """
    )
    project.runpytest().assert_outcomes(passed=1)
    result = project.runpytest("--chainsim-dialect=triggers", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*eventbridge dialect: this run certifies triggers only*"])


def test_dialect_tests_run_without_xdist_and_without_warnings(project: pytest.Pytester) -> None:
    """Without pytest-xdist the plugin adds no `xdist_group` marker, so no unknown-mark warning."""
    project.makepyfile(
        test_dialects="""
        def test_uses_a_dialect(chainsim_dialect):
            assert chainsim_dialect in ("eventbridge", "triggers")
        """
    )
    result = project.runpytest_subprocess(
        "-p", "no:xdist", "-W", "error::pytest.PytestUnknownMarkWarning", "--chainsim-dialect=both"
    )
    result.assert_outcomes(passed=2)


def test_an_unwritable_report_path_is_refused_before_any_test_runs(
    project: pytest.Pytester,
) -> None:
    """A report path that is a directory (or under a file) is a usage error, not a crash."""
    project.makepyfile("def test_ok():\n    pass\n")
    result = project.runpytest("--chainsim-report", str(project.path))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--chainsim-report *: is a directory, expected a file path*"])
    (project.path / "afile").write_text("x")
    result = project.runpytest("--chainsim-report", "afile/r.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--chainsim-report afile/r.json: cannot create afile*"])
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()

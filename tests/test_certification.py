"""The certification verdict and what the report states, from pytester runs of bare projects."""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

import pytest

from chainsim.certification import CHAINSIM_DIR, read_org_info
from chainsim.testing import Options

pytest_plugins = ["pytester"]

CREDENTIALS = ("GENESYS_CLIENT_ID", "GENESYS_CLIENT_SECRET")
ORG_ID = "6d3f0c1e-2b4a-4c5d-9e8f-0a1b2c3d4e5f"


@pytest.fixture(scope="module")
def heavy_modules() -> None:
    """Import the fake, httpx and the SDK once (inline runs drop the modules they import)."""
    import httpx  # noqa: F401
    import PureCloudPlatformClientV2  # noqa: F401

    import chainsim.bus.genesys
    import chainsim.fakebus  # noqa: F401


@pytest.fixture(scope="module")
def plotting() -> None:
    """Import matplotlib and numpy once (numpy cannot be re-imported after an inline run)."""
    with contextlib.suppress(ImportError):
        import matplotlib.figure  # noqa: F401


@pytest.fixture
def project(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, plotting: None
) -> Iterator[pytest.Pytester]:
    """A throwaway project without conftest or ini (the Hypothesis profile is restored after)."""
    from hypothesis import settings

    for name in (*CREDENTIALS, "CHAINSIM_WORKFLOW_ID", "PYTEST_ADDOPTS"):
        monkeypatch.delenv(name, raising=False)
    profile = getattr(settings, "_current_profile", None) or "ci"
    yield pytester
    settings.load_profile(profile)


def _report(project: pytest.Pytester, name: str = "cert.json") -> dict[str, Any]:
    return json.loads((project.path / name).read_text())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------- the verdict


def test_an_unmarked_failing_test_makes_the_run_not_certified(project: pytest.Pytester) -> None:
    """Two passing scenarios and one failing test without a chainsim marker: NOT CERTIFIED."""
    project.makepyfile(
        test_mixed="""
        import pytest

        @pytest.mark.chainsim_live_safe
        def test_scenario_one(chainsim_clock):
            pass

        @pytest.mark.chainsim_live_safe
        def test_scenario_two():
            pass

        def test_users_own(chainsim_clock):
            assert chainsim_clock.now() < 0, "the user's test fails"
        """
    )
    result = project.runpytest("--chainsim-report=cert.json")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["chainsim verdict: NOT CERTIFIED"])
    doc = _report(project)
    assert doc["summary"]["certified"] is False
    assert doc["summary"]["passed"] == 2  # both scenarios passed, yet the run is not certified
    assert doc["exit_status"] == 1
    blockers = doc["summary"]["blockers"]
    assert len(blockers) == 1 and "test_mixed.py::test_users_own" in blockers[0]
    assert "the user's test fails" in blockers[0]
    assert [t["nodeid"] for t in doc["others"]] == ["test_mixed.py::test_users_own"]
    md = (project.path / "cert.md").read_text()
    assert md.startswith("# chainsim certification: NOT CERTIFIED")
    assert "## Why not certified (1)" in md and "test_users_own" in md


def test_a_clean_run_is_certified(project: pytest.Pytester) -> None:
    """Every test passed (marked or not): CERTIFIED, no blockers, exit status 0."""
    project.makepyfile(
        """
        import pytest

        @pytest.mark.chainsim_live_safe
        def test_scenario():
            pass

        def test_plain():
            pass
        """
    )
    result = project.runpytest("--chainsim-report=cert.json")
    result.stdout.fnmatch_lines(["chainsim verdict: CERTIFIED"])
    doc = _report(project)
    assert doc["summary"]["certified"] is True and doc["summary"]["blockers"] == []
    assert doc["exit_status"] == 0 and doc["skipped"] == []


def test_each_skip_is_listed_with_its_reason_and_who_skipped(project: pytest.Pytester) -> None:
    """chainsim's skips keep the run certified; a test's own skip does not; all are listed."""
    project.makepyfile(
        test_skips="""
        import pytest
        from chainsim.testing import only_dialects

        @pytest.mark.chainsim_live_safe
        def test_runs(chainsim_dialect):
            assert chainsim_dialect == "triggers"

        @only_dialects("eventbridge")
        def test_pinned(chainsim_dialect):
            pass
        """
    )
    result = project.runpytest("--chainsim-dialect=triggers", "--chainsim-report=cert.json")
    result.assert_outcomes(passed=1, skipped=1)
    doc = _report(project)
    assert doc["skipped"] == [
        {
            "nodeid": "test_skips.py::test_pinned[eventbridge]",
            "reason": "eventbridge dialect: this run certifies triggers only",
            "skipped_by": "chainsim",
        }
    ]
    assert doc["summary"]["certified"] is True

    project.makepyfile(
        test_own="""
        import pytest

        @pytest.mark.skip(reason="not today")
        def test_marked():
            pass

        def test_called(chainsim_clock):
            pytest.skip("upstream is flaky")
        """
    )
    result = project.runpytest("--chainsim-dialect=triggers", "--chainsim-report=cert.json")
    result.assert_outcomes(passed=1, skipped=3)
    doc = _report(project)
    by = {s["nodeid"]: (s["skipped_by"], s["reason"]) for s in doc["skipped"]}
    assert by == {
        "test_own.py::test_called": ("test", "upstream is flaky"),
        "test_own.py::test_marked": ("test", "not today"),
        "test_skips.py::test_pinned[eventbridge]": (
            "chainsim",
            "eventbridge dialect: this run certifies triggers only",
        ),
    }
    assert doc["summary"]["certified"] is False
    assert len(doc["summary"]["blockers"]) == 2
    md = (project.path / "cert.md").read_text()
    assert "## Skipped tests (3)" in md
    assert "| `test_own.py::test_called` | test | upstream is flaky |" in md
    assert "| `test_skips.py::test_pinned[eventbridge]` | chainsim |" in md


def test_skips_of_chainsim_are_recognised_under_xdist(project: pytest.Pytester) -> None:
    """Under `-n 2` the controller still knows which skips were chainsim's."""
    project.makepyfile(
        """
        import pytest
        from chainsim.testing import only_dialects

        def test_runs(chainsim_dialect):
            pass

        @only_dialects("eventbridge")
        def test_pinned(chainsim_dialect):
            pass

        def test_own():
            pytest.skip("mine")
        """
    )
    result = project.runpytest(
        "-n", "2", "--chainsim-dialect=triggers", "--chainsim-report=cert.json"
    )
    result.assert_outcomes(passed=1, skipped=2)
    by = {s["nodeid"].split("::")[1]: s["skipped_by"] for s in _report(project)["skipped"]}
    assert by == {"test_pinned[eventbridge]": "chainsim", "test_own": "test"}


def test_collection_errors_and_tests_that_never_ran_block_the_verdict(
    project: pytest.Pytester,
) -> None:
    """An import error in a module, or tests left unrun by `-x`, make it NOT CERTIFIED."""
    project.makepyfile(
        test_ok="def test_ok():\n    pass\n", test_broken="import no_such_module_here\n"
    )
    project.runpytest("--chainsim-report=cert.json")
    doc = _report(project)
    assert doc["summary"]["certified"] is False
    assert any("`test_broken.py` collection error" in b for b in doc["summary"]["blockers"])
    assert doc["collection_errors"][0]["nodeid"] == "test_broken.py"

    (project.path / "test_broken.py").unlink()
    project.makepyfile(test_ok="def test_a():\n    assert False\n\ndef test_b():\n    pass\n")
    project.runpytest("-x", "--chainsim-report=cert.json")
    doc = _report(project)
    assert doc["not_run"] == ["test_ok.py::test_b"]
    assert "`test_ok.py::test_b` collected but never ran" in doc["summary"]["blockers"]


def test_a_module_skipped_at_collection_is_listed(project: pytest.Pytester) -> None:
    """`pytest.importorskip` at module level is a skip by the test: listed, NOT CERTIFIED."""
    project.makepyfile(
        test_ok="def test_ok():\n    pass\n",
        test_optional="import pytest\n\npytest.importorskip('no_such_module_here')\n",
    )
    project.runpytest("--chainsim-report=cert.json").assert_outcomes(passed=1, skipped=1)
    doc = _report(project)
    assert doc["skipped"] == [
        {
            "nodeid": "test_optional.py",
            "reason": "could not import 'no_such_module_here': No module named "
            "'no_such_module_here'",
            "skipped_by": "test",
        }
    ]
    assert doc["summary"]["certified"] is False


def test_an_expected_failure_is_not_a_pass(project: pytest.Pytester) -> None:
    """An xfailed test blocks certification: the run did not show the behaviour works."""
    project.makepyfile(
        "import pytest\n\ndef test_ok():\n    pass\n\n"
        "@pytest.mark.xfail(reason='known bug')\ndef test_known():\n    assert False\n"
    )
    project.runpytest("--chainsim-report=cert.json").assert_outcomes(passed=1, xfailed=1)
    doc = _report(project)
    assert doc["summary"]["certified"] is False
    assert doc["others"][0]["message"] == "known bug"


# --------------------------------------------------------------------------- where it ran


def test_a_live_run_reports_the_exact_api_host_used(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, heavy_modules: None
) -> None:
    """`--chainsim-api-host http://127.0.0.1:N` is the api_host reported, never mypurecloud.com."""
    for name in (*CREDENTIALS, "CHAINSIM_WORKFLOW_ID"):
        monkeypatch.setenv(name, "not-used")
    host = f"http://127.0.0.1:{_free_port()}"  # nothing listens: the org stays unknown
    project.makepyfile(
        """
        import pytest

        @pytest.mark.chainsim_live_safe
        def test_ok():
            pass

        @pytest.mark.chainsim_fake_only
        def test_storm():
            raise AssertionError("must not run live")
        """
    )
    result = project.runpytest(
        "--chainsim-bus=live", f"--chainsim-api-host={host}", "--chainsim-report=cert.json"
    )
    result.assert_outcomes(passed=1, skipped=1)
    doc = _report(project)
    assert doc["api_host"] == host
    assert "mypurecloud.com" not in json.dumps({k: doc[k] for k in ("api_host", "api_backend")})
    assert "loopback" in doc["api_backend"]
    assert doc["org"]["id"] is None
    assert doc["org"]["reason"].startswith("GET /api/v2/organizations/me: ")
    assert doc["skipped"][0]["skipped_by"] == "chainsim"
    assert doc["summary"]["certified"] is True
    md = (project.path / "cert.md").read_text()
    assert f"- api_host: {host} (live client against a loopback host" in md
    assert "- org: unknown (GET /api/v2/organizations/me: " in md


class _OrgServer(BaseHTTPRequestHandler):
    """Answers the token grant and `GET /api/v2/organizations/me` (status set on the server)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._send(200, {"access_token": "t", "token_type": "bearer", "expires_in": 86400})

    def do_GET(self) -> None:
        status = self.server.org_status  # type: ignore[attr-defined]
        if self.path.startswith("/api/v2/organizations/me") and status == 200:
            self._send(200, {"id": ORG_ID, "name": "Sandbox Org", "version": 3})
        else:
            self._send(status, {"message": "Missing permission", "code": "missing.permission"})

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def org_server() -> Iterator[ThreadingHTTPServer]:
    """A loopback server standing in for an org's API and login hosts."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OrgServer)
    server.org_status = 200  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_a_live_run_names_the_org_when_the_client_may_read_it(
    project: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    heavy_modules: None,
    org_server: ThreadingHTTPServer,
) -> None:
    """The org's id and name come from `GET /api/v2/organizations/me` on the live client."""
    for name in (*CREDENTIALS, "CHAINSIM_WORKFLOW_ID"):
        monkeypatch.setenv(name, "not-used")
    host = f"http://127.0.0.1:{org_server.server_address[1]}"
    project.makepyfile("def test_ok():\n    pass\n")
    result = project.runpytest(
        "--chainsim-bus=live", f"--chainsim-api-host={host}", "--chainsim-report=cert.json"
    )
    result.assert_outcomes(passed=1)
    doc = _report(project)
    assert doc["org"] == {"id": ORG_ID, "name": "Sandbox Org", "reason": ""}
    assert f"- org: Sandbox Org (`{ORG_ID}`)" in (project.path / "cert.md").read_text()


def test_an_org_the_client_may_not_read_is_unknown_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, heavy_modules: None, org_server: ThreadingHTTPServer
) -> None:
    """A 403 on organizations/me leaves the org unknown, the answer's status in the reason."""
    for name in CREDENTIALS:
        monkeypatch.setenv(name, "not-used")
    org_server.org_status = 403  # type: ignore[attr-defined]
    host = f"http://127.0.0.1:{org_server.server_address[1]}"
    org = read_org_info(Options(bus="live", api_host=host), timeout=5.0)
    assert org["id"] is None and org["name"] is None
    assert org["reason"].startswith("GET /api/v2/organizations/me: ")
    assert "403" in org["reason"] or "permission" in org["reason"].lower()
    monkeypatch.delenv(CREDENTIALS[1])
    assert read_org_info(Options(bus="live", api_host=host))["reason"] == (
        "no GENESYS_CLIENT_SECRET"
    )


def test_plans_certified_are_recorded_with_their_digest(project: pytest.Pytester) -> None:
    """`certify_plan(path)` puts the plan's path and sha256 in the report."""
    plan = project.path / "plans" / "mine.yaml"
    plan.parent.mkdir()
    plan.write_text("links: []\n")
    project.makepyfile(
        """
        def test_my_plan(certify_plan):
            path = certify_plan("plans/mine.yaml")
            assert path.read_text() == "links: []\\n"
        """
    )
    project.runpytest("--chainsim-report=cert.json").assert_outcomes(passed=1)
    digest = hashlib.sha256(b"links: []\n").hexdigest()
    assert _report(project)["plans"] == [{"path": "plans/mine.yaml", "sha256": digest}]
    assert f"`plans/mine.yaml` sha256 `{digest}`" in (project.path / "cert.md").read_text()


def test_versions_name_chainsim_and_the_sdk(project: pytest.Pytester) -> None:
    """The report carries the installed chainsim and SDK versions (package metadata)."""
    from importlib import metadata

    project.makepyfile("def test_ok():\n    pass\n")
    project.runpytest("--chainsim-report=cert.json")
    versions = _report(project)["versions"]
    assert versions == {
        "chainsim": metadata.version("chainsim"),
        "sdk": metadata.version("PureCloudPlatformClientV2"),
    }


# --------------------------------------------------------------------------- dialects, profiles


def test_chainsims_own_scenarios_still_run_in_both_dialects(project: pytest.Pytester) -> None:
    """A scenario file of chainsim itself is collected once per dialect on the fake."""
    candidates = [*CHAINSIM_DIR.parent.glob("scenarios/test_audit.py")]
    candidates += [*CHAINSIM_DIR.glob("**/scenarios/test_audit.py")]
    assert candidates, "chainsim's scenario test_audit.py not found"
    result = project.runpytest("--collect-only", "-q", str(candidates[0]))
    ids = result.stdout.str()
    assert "[eventbridge" in ids and "[triggers" in ids


def test_profiles_ci_by_default_and_deep_on_request(project: pytest.Pytester) -> None:
    """In a bare repo `ci` is loaded and `--hypothesis-profile=deep` works (no INTERNALERROR)."""
    project.makepyfile(
        """
        import sys
        from hypothesis import settings

        def test_profile():
            expected = 1000 if "--hypothesis-profile=deep" in sys.argv else 30
            assert settings.default.max_examples == expected
        """
    )
    result = project.runpytest_subprocess("-p", "no:xdist")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*hypothesis-profile=ci*"])
    result = project.runpytest_subprocess("-p", "no:xdist", "--hypothesis-profile=deep")
    result.assert_outcomes(passed=1)
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


def test_a_users_own_profiles_win(project: pytest.Pytester) -> None:
    """A conftest that registers `ci` itself, or loads its own profile, keeps its settings."""
    project.makeconftest(
        "from hypothesis import settings\nsettings.register_profile('ci', max_examples=7)\n"
    )
    project.makepyfile(
        "from hypothesis import settings\n\ndef test_p():\n"
        "    assert settings.default.max_examples == 7\n"
    )
    project.runpytest_subprocess("-p", "no:xdist").assert_outcomes(passed=1)
    project.makeconftest(
        "from hypothesis import settings\n"
        "settings.register_profile('mine', max_examples=3)\nsettings.load_profile('mine')\n"
    )
    project.makepyfile(
        "from hypothesis import settings\n\ndef test_p():\n"
        "    assert settings.default.max_examples == 3\n"
    )
    project.runpytest_subprocess("-p", "no:xdist").assert_outcomes(passed=1)


def test_profiles_are_registered_only_where_absent() -> None:
    """`register_hypothesis_profiles` leaves a profile the user registered first alone."""
    from hypothesis import settings

    from chainsim.pytest_plugin import register_hypothesis_profiles

    saved = settings.get_profile("ci")
    try:
        settings.register_profile("ci", max_examples=7)
        assert register_hypothesis_profiles() == []
        assert settings.get_profile("ci").max_examples == 7
        assert settings.get_profile("deep").max_examples == 1000
    finally:
        settings.register_profile("ci", parent=saved)
    assert settings.get_profile("ci").max_examples == 30


# --------------------------------------------------------------------------- the README usage

README_USAGE = """
import pytest
from chainsim.fakebus.faults import FaultPlan, ServerErrors


@pytest.mark.chainsim_live_safe
def test_chain_applies(chain_factory, chainsim_bus, orchestrator):
    chain = chain_factory("A->B->C", attributes=["conversationId", "queueId"])
    assert chain.missing_links(chainsim_bus) == chain.links
    result = orchestrator.apply(chain.plan)
    assert result.status == "applied"
    assert chain.missing_links(chainsim_bus) == []


def test_with_overrides(chain_factory, orchestrator_factory, chainsim_clock):
    chain = chain_factory("A->B")
    result = orchestrator_factory(concurrency=2).apply(chain.plan(max_depth=3))
    assert result.status == "applied"


@pytest.mark.chainsim_fake_only
class TestUnderFaults:
    @pytest.fixture
    def chainsim_faults(self):
        return FaultPlan(seed=7, server_errors=[ServerErrors(start=0, duration=5, fraction=0.5)])

    def test_retries_through_503s(self, fake_bus, chain_factory, orchestrator):
        chain = chain_factory("A->B")
        assert orchestrator.apply(chain.plan).status == "applied"
        assert fake_bus.faults.seed == 7


def test_my_plan(certify_plan, chainsim_dialect):
    certify_plan("plans/mine.yaml")
"""


def test_the_readme_usage_works_in_a_bare_project(
    project: pytest.Pytester, heavy_modules: None
) -> None:
    """The plugin section's example (every fixture and helper as documented) passes."""
    (project.path / "plans").mkdir()
    (project.path / "plans" / "mine.yaml").write_text("links: []\n")
    project.makepyfile(test_readme=README_USAGE)
    result = project.runpytest("--chainsim-report=reports/cert.json", "-q")
    result.assert_outcomes(passed=4)
    doc = _report(project, "reports/cert.json")
    assert doc["summary"]["certified"] is True and doc["dialect"] == "triggers"
    assert [p["path"] for p in doc["plans"]] == ["plans/mine.yaml"]


def test_chain_plan_is_a_plan_and_callable_with_overrides() -> None:
    """`chain.plan` is a ChainPlan; `chain.plan(**fields)` a plain copy with those overridden."""
    from chainsim.model import ChainLink, ChainPlan, Filters, Rule
    from chainsim.testing import Chain

    link = ChainLink(source="a", destination="b", event_type="t", preserve=["q"])
    chain = Chain("p", {"A": "a", "B": "b"}, {}, [link], dialect="triggers")
    assert isinstance(chain.plan, ChainPlan) and chain.plan.links == [link]
    again = chain.plan(max_depth=3)
    assert type(again) is ChainPlan and again.max_depth == 3 and again.links == [link]
    assert chain.plan().model_dump() == chain.plan.model_dump()

    class OneBus:
        """Anything with `list_rules()` is read as a bus."""

        def list_rules(self) -> list[Rule]:
            return [Rule(id="b", event_type="t", filters=Filters(attributes=["q"]))]

    assert chain.missing_links(cast(Any, OneBus())) == []
    assert chain.missing_links([]) == [link]


def test_api_host_and_backend_per_kind_of_run() -> None:
    """The fake names its respx host; live names the region's or the override's URL."""
    from chainsim.certification import api_host_of

    host, backend = api_host_of(Options())
    assert host == "https://api.mypurecloud.com" and backend.startswith("fake: ")
    host, backend = api_host_of(Options(bus="live", env="mypurecloud.de"))
    assert host == "https://api.mypurecloud.de" and backend.startswith("live: ")
    host, backend = api_host_of(Options(bus="live", api_host="http://localhost:9/"))
    assert host == "http://localhost:9" and "loopback host (localhost)" in backend

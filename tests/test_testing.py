"""Unit tests for the certification harness (chainsim/testing.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chainsim.clock import VirtualClock
from chainsim.model import Action, ChainLink, Filters, Rule
from chainsim.testing import (
    DEFAULT_REPORT,
    Backend,
    Chain,
    LatencyRecorder,
    Options,
    certify_args,
    missing_credentials,
    parse_chain_spec,
)


def test_parse_chain_spec_reads_chains_and_lone_labels() -> None:
    """Chains split on commas, semicolons and new lines; labels keep first-seen order."""
    labels, edges = parse_chain_spec("A->B->C, B->D; E\nD->F")
    assert labels == ["A", "B", "C", "D", "E", "F"]
    assert edges == [("A", "B"), ("B", "C"), ("B", "D"), ("D", "F")]


@pytest.mark.parametrize("spec", ["", " , ", "A->", "A->B, A->B", "A-B->C d"])
def test_parse_chain_spec_refuses_malformed_specs(spec: str) -> None:
    """An empty spec, a dangling arrow, a repeated edge or a bad label is a ValueError."""
    with pytest.raises(ValueError, match="chain spec"):
        parse_chain_spec(spec)


def test_missing_credentials_names_what_is_unset() -> None:
    """Both variables are needed; empty counts as unset."""
    assert missing_credentials({}) == ["GENESYS_CLIENT_ID", "GENESYS_CLIENT_SECRET"]
    assert missing_credentials({"GENESYS_CLIENT_ID": "x", "GENESYS_CLIENT_SECRET": ""}) == [
        "GENESYS_CLIENT_SECRET"
    ]
    assert missing_credentials({"GENESYS_CLIENT_ID": "x", "GENESYS_CLIENT_SECRET": "y"}) == []


def test_certify_args_runs_the_packaged_scenarios_independent_of_the_cwd() -> None:
    """Without a test path: the package dir with its own ini and rootdir, absolute report."""
    from chainsim.certify import CERTIFY_DIR, INI

    args, report = certify_args(["-q", "-k", "storm"], plans="my/plans", bus="fake")
    assert report == str(Path(DEFAULT_REPORT).absolute())
    assert args == [
        str(CERTIFY_DIR), "-c", str(INI), "--rootdir", str(CERTIFY_DIR), "-q", "-k", "storm",
        "--chainsim-report", report, "--chainsim-plans", str(Path("my/plans").absolute()),
        "--chainsim-bus", "fake", "-p", "no:cacheprovider",
    ]  # fmt: skip


def test_certify_args_keeps_a_given_report_and_test_path(tmp_path: Path) -> None:
    """A given --chainsim-report (either spelling) and an existing test path are kept."""
    target = tmp_path / "test_x.py"
    target.write_text("")
    args, report = certify_args([f"{target}::test_a", "--chainsim-report", "r.json"])
    assert args == [f"{target}::test_a", "--chainsim-report", "r.json", "-p", "no:cacheprovider"]
    assert report == "r.json"
    args, report = certify_args(["--chainsim-report=out/c.json"], report="ignored.json")
    assert args[-3:] == ["--chainsim-report=out/c.json", "-p", "no:cacheprovider"]
    assert report == "out/c.json"
    assert certify_args([], report="r/x.json")[1] == str(Path("r/x.json").absolute())


def test_recorder_measures_virtual_and_wall_time_even_on_error() -> None:
    """`measure` records the virtual time the block took, also when it raises."""
    recorder, clock = LatencyRecorder(), VirtualClock()
    recorder.scenario = "t::one"
    with recorder.measure(clock):
        clock.sleep(1.5)
    with pytest.raises(RuntimeError), recorder.measure(clock):
        clock.sleep(0.25)
        raise RuntimeError
    samples = recorder.drain()
    assert [(s.virtual, s.scenario) for s in samples] == [(1.5, "t::one"), (0.25, "t::one")]
    assert all(s.wall >= 0 for s in samples)
    assert recorder.drain() == []


def test_prefixes_are_unique_and_name_run_and_worker() -> None:
    """Each prefix carries the run id and the worker, and is never handed out twice."""
    backend = Backend(Options(), "abcd1234", "gw1")
    prefixes = {backend.new_prefix() for _ in range(100)}
    assert len(prefixes) == 100
    assert all(p.startswith("chainsim-abcd1234-gw1-") for p in prefixes)


def test_live_hosts_follow_env_and_api_host_override() -> None:
    """Live: hosts from --chainsim-env; an API host override derives the login host (SDK rule)."""
    assert Backend(Options(bus="live", env="mypurecloud.de"), "r").hosts() == (
        "https://api.mypurecloud.de",
        "https://login.mypurecloud.de",
    )
    loopback = Backend(Options(bus="live", api_host="http://127.0.0.1:8080/"), "r")
    assert loopback.hosts() == ("http://127.0.0.1:8080", "http://127.0.0.1:8080")
    proxied = Backend(Options(bus="live", api_host="https://api.example.test"), "r")
    assert proxied.hosts() == ("https://api.example.test", "https://login.example.test")


def test_live_credentials_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Live credentials come from the environment; a missing one is named."""
    backend = Backend(Options(bus="live"), "r")
    monkeypatch.delenv("GENESYS_CLIENT_ID", raising=False)
    monkeypatch.setenv("GENESYS_CLIENT_SECRET", "shh")
    with pytest.raises(RuntimeError, match="needs GENESYS_CLIENT_ID in the environment"):
        backend.credentials()
    monkeypatch.setenv("GENESYS_CLIENT_ID", "me")
    assert backend.credentials() == ("me", "shh")
    assert Backend(Options(), "r").credentials() == ("chainsim", "chainsim-secret")


def _rule(rule_id: str, attrs: list[str], links: list[tuple[str, list[str]]] = ()) -> Rule:
    return Rule(
        id=rule_id,
        event_type="t",
        filters=Filters(attributes=attrs),
        actions=[Action(type="invokeRule", rule_id=d, preserved_attributes=p) for d, p in links],
    )


def test_missing_links_per_dialect() -> None:
    """EventBridge: the source invokes the destination; triggers: the destination requires them."""
    link = ChainLink(source="a", destination="b", event_type="t", preserve=["q"])
    eb = Chain("p", {"A": "a", "B": "b"}, {}, [link], dialect="eventbridge")
    assert eb.missing_links([_rule("a", ["q"]), _rule("b", ["q"])]) == [link]
    assert eb.missing_links([_rule("a", ["q"], [("b", ["q"])]), _rule("b", ["q"])]) == []
    tr = Chain("p", {"A": "a", "B": "b"}, {}, [link], dialect="triggers")
    assert tr.missing_links([_rule("a", ["q"]), _rule("b", ["c"])]) == [link]
    assert tr.missing_links([_rule("a", ["q"]), _rule("b", ["c", "q"])]) == []


@pytest.mark.parametrize("dialect", ["eventbridge", "triggers"])
def test_chain_factory_creates_and_cleans_up_through_a_429_storm(dialect: str) -> None:
    """Rules are created and all deleted again although the bus refuses most requests with 429."""
    from chainsim.fakebus.faults import FaultPlan, Storm

    backend = Backend(Options(), "unit")
    storm = FaultPlan(seed=2, storms=[Storm(start=0, duration=20, fraction=0.7, retry_after=3)])
    with backend.session(dialect, faults=storm) as session:
        chain = session.chains("A->B->C, B->D", linked=True)
        assert len(chain.ids) == 4
        assert session.fake is not None
        stored = session.fake.rules() if dialect == "eventbridge" else session.fake.triggers()
        assert len(stored) == 4
        if dialect == "eventbridge":
            assert chain.missing_links(session.chains.bus_rules()) == []
        left = session.chains.cleanup()
        assert left == []
        stored = session.fake.rules() if dialect == "eventbridge" else session.fake.triggers()
        assert stored == []
        assert any(r.status == 429 for r in session.fake.requests)
        assert session.clock.now() > 0


def test_only_dialects_refuses_unknown_names() -> None:
    """Pinning a dialect that does not exist is a ValueError naming it."""
    from chainsim.testing import only_dialects

    assert only_dialects("triggers").args == ("chainsim_dialect", ["triggers"])
    with pytest.raises(ValueError, match="rest"):
        only_dialects("rest")


def test_only_a_live_triggers_run_needs_a_workflow_id(monkeypatch: pytest.MonkeyPatch) -> None:
    """A live EventBridge run needs no CHAINSIM_WORKFLOW_ID; a live triggers run does."""
    monkeypatch.delenv("CHAINSIM_WORKFLOW_ID", raising=False)
    backend = Backend(Options(bus="live", dialects=("eventbridge",)), "run1")
    assert backend.workflow_id("eventbridge")
    with pytest.raises(RuntimeError, match="CHAINSIM_WORKFLOW_ID"):
        backend.workflow_id("triggers")
    monkeypatch.setenv("CHAINSIM_WORKFLOW_ID", "wf-1")
    assert backend.workflow_id("triggers") == "wf-1"

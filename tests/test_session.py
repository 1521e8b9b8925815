"""Tests for chainsim.session, the front hall: targets, environment, sessions, sinks."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from chainsim.clock import SystemClock, VirtualClock
from chainsim.dialects.eventbridge import EVENTBRIDGE
from chainsim.dialects.triggers import TriggersMerger
from chainsim.errors import InputError
from chainsim.model import ChainPlan
from chainsim.session import (
    FAKE_WORKFLOW_ID,
    Environment,
    Target,
    build_orchestrator,
    open_session,
    spool_path,
    workflow_id,
)

CREDS = {"GENESYS_CLIENT_ID": "me", "GENESYS_CLIENT_SECRET": "shh"}
RULE = {"id": "r1", "name": "R1", "eventType": "t.a", "version": 1}
TRIGGER = {
    "id": "t1",
    "name": "T1",
    "topicName": "v2.detail.events.conversation.{id}.acd.start",
    "enabled": True,
    "version": 1,
    "target": {"type": "Workflow", "id": "wf"},
    "matchCriteria": [],
}


def _plan(**extra: object) -> ChainPlan:
    return ChainPlan.model_validate({"links": [], **extra})


# --------------------------------------------------------------------------- environment


def test_environment_reads_only_the_mapping_it_is_given() -> None:
    """An injected mapping stands for the environment; empty values count as unset."""
    env = Environment({"GENESYS_CLIENT_ID": "me", "GENESYS_CLIENT_SECRET": ""})
    assert env.missing_credentials() == ["GENESYS_CLIENT_SECRET"]
    with pytest.raises(InputError, match="environment: GENESYS_CLIENT_SECRET: not set"):
        env.credentials()
    assert Environment(CREDS).credentials() == ("me", "shh")
    assert Environment({"CHAINSIM_WORKFLOW_ID": "wf"}).workflow_id() == "wf"
    assert Environment({}).workflow_id() is None


def test_session_is_the_only_reader_of_the_environment() -> None:
    """No module of chainsim but session.py reads os.environ or os.getenv."""
    root = Path(__file__).resolve().parent.parent / "chainsim"
    readers = {
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if re.search(r"os\.environ|os\.getenv|getenv\(", path.read_text(encoding="utf-8"))
    }
    # TRANSITION: apply.py's Orchestrator._callback_from goes with branch `orchestrator`.
    assert readers - {"apply.py"} == {"session.py"}


def test_workflow_id_live_triggers_only() -> None:
    """Only a live triggers run needs CHAINSIM_WORKFLOW_ID; the fake uses a fixed id."""
    from chainsim.dialects import get_dialect

    live = Target(bus="live", dialect="triggers")
    assert workflow_id(Target(dialect="triggers"), get_dialect("triggers"), {}) == FAKE_WORKFLOW_ID
    assert workflow_id(live, get_dialect("eventbridge"), {}) == FAKE_WORKFLOW_ID
    assert workflow_id(live, get_dialect("triggers"), {"CHAINSIM_WORKFLOW_ID": "w"}) == "w"
    with pytest.raises(InputError, match="CHAINSIM_WORKFLOW_ID"):
        workflow_id(live, get_dialect("triggers"), {})


# --------------------------------------------------------------------------- target


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (Target(dialect="sqs"), "--dialect: expected one of eventbridge, triggers"),
        (Target(bus="cloud"), "--bus: expected fake or live"),
        (Target(bus="live", inventory=Path("x.json")), "--inventory: only with --bus fake"),
        (Target(bus="live", faults=Path("f.yaml")), "--faults: only with --bus fake"),
    ],
)
def test_target_check_refuses_what_does_not_fit(target: Target, message: str) -> None:
    """A bad dialect or bus, or seeding/faulting a live org, is bad input."""
    with pytest.raises(InputError, match=re.escape(message)):
        target.check()


def test_target_hosts() -> None:
    """The fake's hosts on the fake; a live org's from --env and the overrides."""
    from chainsim.fakebus import DEFAULT_API_HOST, DEFAULT_LOGIN_HOST

    assert Target().hosts() == (DEFAULT_API_HOST, DEFAULT_LOGIN_HOST)
    assert Target(bus="live", api_host="http://127.0.0.1:9/").hosts() == (
        "http://127.0.0.1:9",
        "http://127.0.0.1:9",
    )


# --------------------------------------------------------------------------- sessions


@pytest.mark.parametrize(
    ("dialect", "content", "bus_class"),
    [("eventbridge", [RULE], "RestBus"), ("triggers", [TRIGGER], "TriggersBus")],
)
def test_fake_session_is_seeded_and_ready(
    tmp_path: Path, dialect: str, content: list[dict[str, object]], bus_class: str
) -> None:
    """A fake session: the dialect's client over the seeded fake, on a VirtualClock."""
    inventory = tmp_path / "inv.json"
    inventory.write_text(json.dumps(content))
    with open_session(Target(dialect=dialect, inventory=inventory), environ={}) as session:
        assert type(session.bus).__name__ == bus_class
        assert isinstance(session.clock, VirtualClock)
        assert session.fake is not None and session.dialect.name == dialect
        assert [r.id for r in session.bus.list_rules()] == [content[0]["id"]]
        assert [r["id"] for r in session.stored() or []] == [content[0]["id"]]


def test_live_session_needs_credentials_before_any_request() -> None:
    """A live session without credentials is bad input naming the variable."""
    with (
        pytest.raises(InputError, match="GENESYS_CLIENT_ID: not set"),
        open_session(Target(bus="live"), environ={}),
    ):
        pass  # pragma: no cover


def test_live_session_uses_the_system_clock_and_no_fake() -> None:
    """A live session: credentials from the environment, SystemClock, no fake, nothing stored."""
    target = Target(bus="live", api_host="http://127.0.0.1:9")
    with open_session(target, environ=CREDS) as session:
        assert isinstance(session.clock, SystemClock)
        assert session.fake is None and session.stored() is None


def test_bad_fake_inventory_is_bad_input(tmp_path: Path) -> None:
    """A triggers inventory with a broken trigger is refused before the session opens."""
    inventory = tmp_path / "t.json"
    inventory.write_text(json.dumps([{**TRIGGER, "topicName": ""}]))
    with (
        pytest.raises(InputError, match=r"t.json: \[0\]"),
        open_session(Target(dialect="triggers", inventory=inventory)),
    ):
        pass  # pragma: no cover


# --------------------------------------------------------------------------- sinks


def test_sinks_follow_the_plan_and_the_spool_option(tmp_path: Path) -> None:
    """Dead letters: --spool, else the plan's spool, else the default; the plan's URL kept."""
    from chainsim.deadletter import DEFAULT_SPOOL

    plan = _plan(dead_letter={"url": "https://dl.example/x", "spool": str(tmp_path / "p.jsonl")})
    with open_session(Target(), environ={}) as session:
        sink, notifier = session.sinks_for(plan)
        assert sink is not None and sink.url == "https://dl.example/x"
        assert sink.spool == tmp_path / "p.jsonl" and notifier is None
        sink, _ = session.sinks_for(plan, spool=tmp_path / "o.jsonl")
        assert sink is not None and sink.spool == tmp_path / "o.jsonl"
        sink, _ = session.sinks_for(_plan())
        assert sink is not None and sink.url is None and sink.spool == Path(DEFAULT_SPOOL)
    assert spool_path(_plan(), tmp_path / "s") == tmp_path / "s"


def test_callback_secret_comes_from_the_plans_variable() -> None:
    """The notifier uses `secret_env`'s value; unset: no notifier (bad input when required)."""
    plan = _plan(callback={"url": "https://cb.example/x", "secret_env": "CB"})
    with open_session(Target(), environ={"CB": "k"}) as session:
        _, notifier = session.sinks_for(plan)
        assert notifier is not None and notifier.url == "https://cb.example/x"
        session.require_callback_secret(plan)
    with open_session(Target(), environ={}) as session:
        assert session.sinks_for(plan)[1] is None
        with pytest.raises(InputError, match="environment: CB: not set"):
            session.require_callback_secret(plan)
        session.require_callback_secret(_plan())  # no callback: nothing required


@pytest.mark.parametrize(
    ("dialect", "merger"), [("eventbridge", None), ("triggers", TriggersMerger)]
)
def test_session_orchestrator_uses_the_dialects_merger(dialect: str, merger: type | None) -> None:
    """Orchestrators built by the session carry the dialect's merger, honouring `remove:`."""
    from chainsim.plan import PlanMerger

    with open_session(Target(dialect=dialect), environ={}) as session:
        orch = session.orchestrator()
        assert isinstance(orch.merger, PlanMerger)
        if merger is None:
            assert orch.merger.base is EVENTBRIDGE
        else:
            assert isinstance(orch.merger.base, merger)


def test_build_orchestrator_hands_the_plans_sinks_over(tmp_path: Path) -> None:
    """The sinks callable decides the orchestrator's dead-letter sink for the plan."""
    from chainsim.deadletter import DeadLetterSink

    seen: list[ChainPlan] = []
    sink = DeadLetterSink(url=None, spool=tmp_path / "d.jsonl")

    def sinks(plan: ChainPlan) -> tuple[DeadLetterSink, None]:
        seen.append(plan)
        return sink, None

    plan = _plan()
    with open_session(Target(), environ={}) as session:
        orch = build_orchestrator(session.bus, clock=session.clock, merger=EVENTBRIDGE, sinks=sinks)
        assert orch.apply(plan).status in ("applied", "unchanged")
    assert seen and seen[0] is plan

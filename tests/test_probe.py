"""Trigger test mode: chainsim's verdict per hop beside the org's, via the API and the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from chainsim.cli import app
from chainsim.clock import VirtualClock
from chainsim.fakebus import FakeBus
from chainsim.model import ChainPlan, Event
from chainsim.probe import HopProbe, ProbeReport, chainsim_verdict, probe, topic_verdict

pytest.importorskip("PureCloudPlatformClientV2")

from chainsim.bus.genesys import SdkCredentials, TriggersBus

START = "v2.detail.events.conversation.{id}.customer.start"
ACD = "v2.detail.events.conversation.{id}.acd.start"
END = "v2.detail.events.conversation.{id}.acd.end"
TARGET = {"type": "Workflow", "id": "wf-1", "workflowTargetSettings": {"dataFormat": "Json"}}


def exists(path: str) -> dict[str, Any]:
    return {"jsonPath": path, "operator": "Exists", "value": True}


TRIGGERS = [
    {
        "id": "t-a",
        "name": "A",
        "topicName": START,
        "version": 1,
        "enabled": True,
        "target": TARGET,
        "matchCriteria": [exists("queueId"), exists("callerId")],
    },
    {
        "id": "t-b",
        "name": "B",
        "topicName": ACD,
        "version": 1,
        "enabled": True,
        "target": TARGET,
        "matchCriteria": [{"jsonPath": "mediaType", "operator": "Equal", "value": "VOICE"}],
    },
    {
        "id": "t-c",
        "name": "C",
        "topicName": END,
        "version": 1,
        "enabled": True,
        "target": TARGET,
        "matchCriteria": [exists("queueId")],
    },
]

PLAN = {
    "links": [
        {
            "source": "t-a",
            "destination": "t-b",
            "event_type": START,
            "preserve": ["queueId"],
            "transform": {"mediaType": "$.metadata.mediaType"},
        },
        {"source": "t-b", "destination": "t-c", "event_type": ACD, "preserve": ["queueId"]},
    ],
    "rules": {"t-a": {"attributes": ["mediaType"]}, "t-b": {"attributes": ["queueId"]}},
}
EVENT = {
    "eventType": START,
    "metadata": {"queueId": "q1", "callerId": "+1555", "mediaType": "VOICE"},
}


@pytest.fixture
def fake() -> Iterator[FakeBus]:
    bus = FakeBus(clock=VirtualClock())
    bus.seed_triggers(TRIGGERS)
    with bus.mock():
        yield bus


def triggers_bus(fake: FakeBus, api_host: str = "https://api.mypurecloud.com") -> TriggersBus:
    credentials = SdkCredentials("chainsim", "chainsim-secret", clock=fake.clock)
    return TriggersBus(httpx.Client(), credentials, api_host=api_host, clock=fake.clock)


def with_preserve(*names: str) -> ChainPlan:
    plan = json.loads(json.dumps(PLAN))
    plan["links"][1]["preserve"] = list(names)
    return ChainPlan.model_validate(plan)


def test_every_hop_agrees_with_the_org(fake):
    """When the org's triggers already hold what the plan wants, every hop agrees."""
    report = probe(triggers_bus(fake), ChainPlan.model_validate(PLAN), Event.model_validate(EVENT))
    assert report.ok
    assert [(h.source, h.destination, h.depth) for h in report.hops] == [
        ("t-a", "t-b", 1),
        ("t-b", "t-c", 2),
    ]
    assert all(h.simulated and h.trigger_matches and h.topic_matched for h in report.hops)
    assert report.hops[0].event["metadata"] == {"queueId": "q1", "mediaType": "VOICE"}


def test_unapplied_plan_is_a_disagreement_until_applied(fake):
    """A preserved attribute the hop cannot deliver: chainsim says no match, the org (not yet
    holding the Exists criterion) says match; after apply the org agrees."""
    from chainsim.apply import Orchestrator

    plan = with_preserve("queueId", "callerId")
    bus = triggers_bus(fake)
    before = probe(bus, plan, Event.model_validate(EVENT))
    assert not before.ok
    hop = before.hops[1]
    assert (hop.simulated, hop.trigger_matches, hop.topic_matched) == (False, True, True)
    assert hop.failed_criteria == ("callerId Exists true",)
    assert Orchestrator(bus, clock=fake.clock).apply(plan).status == "applied"
    after = probe(bus, plan, Event.model_validate(EVENT), clock=fake.clock)
    assert after.ok
    assert after.hops[1].trigger_matches is False


def test_destination_missing_on_the_org_is_a_disagreement(fake):
    """A hop whose destination the org does not have is reported with the org's error."""
    rules = [r for r in triggers_bus(fake).list_rules()]
    fake.state.delete_trigger("t-c")
    report = probe(
        triggers_bus(fake), ChainPlan.model_validate(PLAN), Event.model_validate(EVENT), rules=rules
    )
    assert not report.ok
    assert report.hops[1].error is not None and "404" in report.hops[1].error


def test_probe_over_loopback():
    """The same probe through the SDK over real loopback HTTP agrees hop for hop."""
    fake = FakeBus(clock=VirtualClock())
    fake.seed_triggers(TRIGGERS)
    with fake.serve() as base_url:
        report = probe(
            triggers_bus(fake, base_url),
            ChainPlan.model_validate(PLAN),
            Event.model_validate(EVENT),
        )
    assert report.ok and len(report.hops) == 2
    posted = [r.path for r in fake.requests if r.method == "POST" and r.path.endswith("/test")]
    assert posted == [
        "/api/v2/processautomation/triggers/t-b/test",
        f"/api/v2/processautomation/triggers/topics/{ACD}/test",
        "/api/v2/processautomation/triggers/t-c/test",
        f"/api/v2/processautomation/triggers/topics/{END}/test",
    ]


def test_verdict_helpers():
    """chainsim's verdict reads every criterion and the target; topic results name the trigger."""
    trigger = {
        "target": TARGET,
        "matchCriteria": [exists("a"), {"jsonPath": "b", "operator": "Equal", "value": 1}],
    }
    assert chainsim_verdict(trigger, {"a": 1, "b": 1}) == (True, [])
    assert chainsim_verdict(trigger, {"a": 1, "b": 2}) == (False, ["b Equal 1"])
    results = {
        "triggerMatchValidation": {
            "matchedTriggers": [{"id": "x"}],
            "unmatchedTriggers": [{"id": "y"}],
        }
    }
    assert (
        topic_verdict(results, "x"),
        topic_verdict(results, "y"),
        topic_verdict(results, "z"),
    ) == (
        True,
        False,
        None,
    )


def test_report_shapes():
    """The JSON report names every field; text ends with the agreement count."""
    hop = HopProbe("a", "b", 1, {"eventType": "t", "metadata": {}}, True, False, None)
    report = ProbeReport((hop,))
    assert not hop.agree and not report.ok
    assert set(report.to_json()["hops"][0]) == {
        "source",
        "destination",
        "depth",
        "event",
        "simulated",
        "trigger_matches",
        "topic_matched",
        "agree",
        "failed_criteria",
        "missing",
        "error",
    }
    assert report.to_text().splitlines()[-1] == "0/1 hops agree"


# --------------------------------------------------------------------------- CLI


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    out = {
        "triggers": tmp_path / "triggers.json",
        "plan": tmp_path / "plan.json",
        "bad_plan": tmp_path / "bad.json",
        "event": tmp_path / "event.json",
    }
    out["triggers"].write_text(json.dumps(TRIGGERS))
    out["plan"].write_text(json.dumps(PLAN))
    bad = json.loads(json.dumps(PLAN))
    bad["links"][1]["preserve"] = ["queueId", "callerId"]
    out["bad_plan"].write_text(json.dumps(bad))
    out["event"].write_text(json.dumps(EVENT))
    return out


def run(*args: Any) -> Any:
    return CliRunner().invoke(app, [str(a) for a in args])


def test_cli_exit_0_when_all_agree(files):
    """`chainsim probe --bus fake --triggers FILE` prints each hop and exits 0 when all agree."""
    result = run(
        "probe",
        files["plan"],
        "--event",
        files["event"],
        "--bus",
        "fake",
        "--triggers",
        files["triggers"],
    )
    assert result.exit_code == 0, result.output
    assert "2/2 hops agree" in result.output


def test_cli_exit_1_on_disagreement_json(files):
    """A disagreement exits 1; --format json carries ok=false and the per-hop verdicts."""
    result = run(
        "probe",
        files["bad_plan"],
        "--event",
        files["event"],
        "--bus",
        "fake",
        "--triggers",
        files["triggers"],
        "--format",
        "json",
    )
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    assert report["ok"] is False
    assert [h["agree"] for h in report["hops"]] == [True, False]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--dialect", "eventbridge"], "--dialect"),
        (["--format", "yaml"], "--format"),
        ([], "--triggers"),
    ],
)
def test_cli_bad_input_exits_2(files, extra, message):
    """Bad options or files print one line naming the problem and exit 2."""
    result = run("probe", files["plan"], "--event", files["event"], "--bus", "fake", *extra)
    if message != "--triggers":
        result = run(
            "probe",
            files["plan"],
            "--event",
            files["event"],
            "--bus",
            "fake",
            "--triggers",
            files["triggers"],
            *extra,
        )
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def test_cli_live_needs_credentials(files, monkeypatch):
    """A live probe without GENESYS_CLIENT_ID/SECRET is bad input (exit 2), nothing sent."""
    monkeypatch.delenv("GENESYS_CLIENT_ID", raising=False)
    monkeypatch.delenv("GENESYS_CLIENT_SECRET", raising=False)
    result = run(
        "probe", files["plan"], "--event", files["event"], "--bus", "live", "--env", "us_west_2"
    )
    assert result.exit_code == 2
    assert "GENESYS_CLIENT_ID" in result.output


def test_test_endpoints_receive_the_event_body_as_a_json_object():
    """The event body is posted as a JSON object (DESIGN §4), exactly the hop's metadata."""
    fake = FakeBus(clock=VirtualClock())
    fake.seed_triggers(TRIGGERS)
    with fake.mock() as router:
        bus = triggers_bus(fake)
        bus.test_trigger("t-b", {"queueId": "q1"})
        bus.test_topic(ACD, {})
        calls = [c.request for c in router.calls if c.request.url.path.endswith("/test")]
    assert [json.loads(r.content) for r in calls] == [{"queueId": "q1"}, {}]


def test_importing_the_triggers_modules_does_not_load_the_sdk():
    """chainsim.probe and chainsim.bus.genesys import without the SDK (it loads on first use)."""
    import subprocess
    import sys

    code = (
        "import sys, chainsim.probe, chainsim.bus.genesys, chainsim.cli; "
        "sys.exit(any(m.startswith('PureCloudPlatformClientV2') for m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_probe_judges_with_chainsim_own_matcher_not_the_fakes():
    """chainsim.probe loads neither the fake org's matcher nor any of the fake."""
    import subprocess
    import sys

    code = (
        "import sys, chainsim.probe, chainsim.runners; "
        "sys.exit(any(m.startswith('chainsim.fakebus') for m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_load_triggers_detects_the_files_dialect(tmp_path):
    """A triggers file and a rules file both load; the dialect comes from the file itself."""
    from chainsim.probe import load_triggers

    triggers = tmp_path / "t.json"
    triggers.write_text(
        json.dumps({"entities": [{"id": "t", "name": "t", "topicName": "a.b", "version": 1}]})
    )
    rules = tmp_path / "r.json"
    rules.write_text(json.dumps([{"id": "r", "name": "r", "eventType": "a.b"}]))
    assert [(r.id, r.event_type) for r in load_triggers(triggers)] == [("t", "a.b")]
    assert [(r.id, r.event_type) for r in load_triggers(rules)] == [("r", "a.b")]

"""`chainsim capacity`: workflow invocations through every chain against the org limits."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from chainsim.bus.genesys import trigger_to_rule
from chainsim.capacity import (
    PER_HOUR,
    PER_MINUTE,
    TARGET_RATIO,
    Limits,
    capacity,
    make_limits,
    number,
    parse_rates,
)
from chainsim.cli import app
from chainsim.errors import InputError
from chainsim.model import ChainPlan, Rule

PLANS = Path(__file__).resolve().parents[1] / "scenarios" / "plans"
END = "v2.detail.events.conversation.{id}.customer.end"
ATTRS = "v2.detail.events.conversation.{id}.attributes"
ACW = "v2.detail.events.conversation.{id}.acw"
ACD = "v2.detail.events.conversation.{id}.acd.start"
ROOMY = Limits(per_minute=10**9, per_hour=10**12, target_ratio=1.0)  # nothing is ever over

runner = CliRunner()


def trigger(tid: str, topic: str, workflow: str | None, **extra: Any) -> Rule:
    """A trigger in SDK wire form, as chainsim reads it."""
    wire: dict[str, Any] = {"id": tid, "name": tid.upper(), "topicName": topic, "enabled": True}
    if workflow is not None:
        wire["target"] = {"type": "Workflow", "id": workflow}
    wire.update(extra)
    return trigger_to_rule(wire)


def plan(workflows: dict[str, Any], **rest: Any) -> ChainPlan:
    """A plan from its parts; each workflow given as a list of emitted topics (or a dict)."""
    spec = {
        wf: value if isinstance(value, dict) else {"emits": [{"topic": t} for t in value]}
        for wf, value in workflows.items()
    }
    return ChainPlan.model_validate({"workflows": spec, **rest})


def loads(report: Any) -> dict[str, float]:
    """Per-minute invocations per workflow id."""
    return {load.workflow: load.per_minute for load in report.workflows}


# ------------------------------------------------------------------ the model


def test_defaults_are_genesys_limits() -> None:
    """The defaults are Genesys's documented org limits (6,000/min, 36,000/h, 80%)."""
    assert (PER_MINUTE, PER_HOUR, TARGET_RATIO) == (6_000, 36_000, 0.8)
    assert Limits().per_target_per_minute == 4_800
    assert Limits().to_json()["event.orchestration.workflow.invocations.per.hour"] == 36_000


def test_a_trigger_invokes_its_workflow_at_the_topic_rate() -> None:
    """r events/min on a trigger's topic invoke its workflow r/min and 60r/hour."""
    report = capacity(plan({}), [trigger("x", END, "wf")], {END: 90}, ROOMY)
    [load] = report.workflows
    assert (load.workflow, load.per_minute, load.per_hour) == ("wf", 90, 5_400)
    assert report.ok and report.total_per_minute == 90 and report.total_per_hour == 5_400


def test_invocations_propagate_through_workflow_emits() -> None:
    """A workflow's emits fire the triggers on those topics, hop after hop."""
    rules = [
        trigger("x", END, "wf-a"),
        trigger("y", ATTRS, "wf-b"),
        trigger("z", ACD, "wf-c"),
        trigger("y2", ATTRS, "wf-c"),
    ]
    report = capacity(plan({"wf-a": [ATTRS], "wf-b": [ACD, ACD]}), rules, {END: 10}, ROOMY)
    # wf-b is invoked by y (10); it emits ACD twice -> z fires 20 -> wf-c; y2 adds 10
    assert loads(report) == {"wf-a": 10, "wf-b": 10, "wf-c": 30}
    wf_c = next(w for w in report.workflows if w.workflow == "wf-c")
    assert wf_c.chains[0].ids == ("x", "y", "z") and wf_c.chains[0].per_minute == 20
    assert wf_c.chains[0].text == (
        f"topic {END} at 10/min -> trigger 'X' -> workflow 'wf-a' -> topic {ATTRS} -> "
        f"trigger 'Y' -> workflow 'wf-b' -> topic {ACD} -> trigger 'Z' -> workflow 'wf-c'"
    )
    assert [w.workflow for w in report.workflows] == ["wf-c", "wf-a", "wf-b"]


def test_paths_meeting_at_a_trigger_add_and_the_heaviest_is_named() -> None:
    """Chains meeting at a trigger on one hop: rates add; the heaviest (tie: first) is named."""
    rules = [
        trigger("x", END, "wf-a"),
        trigger("y", ACW, "wf-b"),
        trigger("z", ATTRS, "wf-c"),
    ]
    report = capacity(plan({"wf-a": [ATTRS], "wf-b": [ATTRS]}), rules, {END: 5, ACW: 7}, ROOMY)
    wf_c = next(w for w in report.workflows if w.workflow == "wf-c")
    [chain] = wf_c.chains
    assert chain.per_minute == 12 and chain.ids == ("y", "z")
    assert chain.text.startswith(f"topic {ACW} at 7/min -> trigger 'Y'")
    assert chain.text.endswith("(heaviest of 2 paths)")
    swapped = capacity(plan({"wf-a": [ATTRS], "wf-b": [ATTRS]}), rules, {END: 9, ACW: 7}, ROOMY)
    assert next(w for w in swapped.workflows if w.workflow == "wf-c").chains[0].ids == ("x", "z")
    tied = capacity(plan({"wf-a": [ATTRS], "wf-b": [ATTRS]}), rules, {END: 7, ACW: 7}, ROOMY)
    assert next(w for w in tied.workflows if w.workflow == "wf-c").chains[0].ids == ("x", "z")


def test_rates_on_several_topics_add_up() -> None:
    """Two rated topics feeding one workflow add; explicit `links:` propagate too."""
    rules = [trigger("x", END, "wf"), trigger("y", ACW, "wf"), trigger("z", ATTRS, "wf2")]
    link = {"source": "y", "destination": "z", "event_type": ACW}
    report = capacity(plan({}, links=[link]), rules, {END: 5, ACW: 7}, ROOMY)
    assert loads(report) == {"wf": 12, "wf2": 7}


def test_disabled_triggers_invoke_nothing() -> None:
    """A disabled trigger (after the plan's settings) does not count."""
    rules = [trigger("x", END, "wf", enabled=False), trigger("y", END, "wf2")]
    report = capacity(plan({}, rules={"y": {"enabled": False}}), rules, {END: 5}, ROOMY)
    assert report.workflows == () and report.ok


def test_chains_past_max_depth_are_not_counted() -> None:
    """Propagation stops after max_depth hops (deeper hops are validate's `depth`)."""
    topics = [f"v2.detail.events.conversation.{{id}}.t{i}" for i in range(4)]
    rules = [trigger(f"t{i}", topics[i], f"wf{i}") for i in range(4)]
    workflows = {f"wf{i}": [topics[i + 1]] for i in range(3)}
    deep = capacity(plan(workflows, max_depth=3), rules, {topics[0]: 1}, ROOMY)
    assert loads(deep) == {"wf0": 1, "wf1": 1, "wf2": 1, "wf3": 1}
    shallow = capacity(plan(workflows, max_depth=2), rules, {topics[0]: 1}, ROOMY)
    assert loads(shallow) == {"wf0": 1, "wf1": 1, "wf2": 1}


def test_a_loop_is_unbounded_not_looped() -> None:
    """A loop reachable from a rated topic makes its workflows unbounded: one finding each."""
    rules = [trigger("entry", END, "wf"), trigger("sync", ATTRS, "wf"), trigger("t", ACD, "w2")]
    p = plan({"wf": {"name": "Set-Callback-Attributes", "emits": [{"topic": ATTRS}]}})
    p.workflows["wf"].emits.append(p.workflows["wf"].emits[0].model_copy(update={"topic": ACD}))
    report = capacity(p, rules, {END: 1})
    assert math.isinf(loads(report)["wf"]) and math.isinf(loads(report)["w2"])
    assert not report.ok and [f.code for f in report.findings] == ["capacity", "capacity"]
    first = report.findings[1]  # equal (unbounded) loads: by workflow id, 'w2' < 'wf'
    assert "workflow 'Set-Callback-Attributes' would be invoked without bound" in first.message
    assert "trigger 'SYNC' -> workflow 'Set-Callback-Attributes'" in first.message
    assert first.rule_ids[:2] == ("entry", "sync")
    wf = next(w for w in report.workflows if w.workflow == "wf")
    assert [c.ids for c in wf.chains] == [("entry", "sync", "sync"), ("entry",)]
    as_json = report.to_json()
    assert as_json["total"]["per_minute"] is None and as_json["workflows"][0]["unbounded"]


def test_a_two_trigger_loop_names_its_chain() -> None:
    """A loop through two workflows: the chain runs in, once round the loop, and on."""
    rules = [
        trigger("x", END, "wf-a"),
        trigger("y", ATTRS, "wf-b"),
        trigger("z", ACD, "wf-a"),
        trigger("after", ACW, "wf-c"),
    ]
    p = plan({"wf-a": [ATTRS], "wf-b": [ACD, ACW]})
    report = capacity(p, rules, {END: 2})
    assert {w for w, rate in loads(report).items() if math.isinf(rate)} == {"wf-a", "wf-b", "wf-c"}
    wf_c = next(w for w in report.workflows if w.workflow == "wf-c")
    assert wf_c.chains[0].ids == ("x", "y", "z", "y", "after")
    assert len(report.findings) == 3


def test_a_loop_nothing_feeds_costs_nothing() -> None:
    """A loop on a topic with no rate (and no chain into it) invokes nothing."""
    rules = [trigger("x", END, "wf"), trigger("sync", ATTRS, "loop")]
    report = capacity(plan({"loop": [ATTRS]}), rules, {END: 3})
    assert loads(report) == {"wf": 3} and report.ok


def test_one_workflow_over_the_target_ratio() -> None:
    """More than 80% of the per-minute limit to one workflow is a finding with its chain."""
    rules = [trigger("x", END, "wf")]
    limits = Limits(per_hour=10**9)
    assert capacity(plan({}), rules, {END: 4_800}, limits).ok
    report = capacity(plan({"wf": {"name": "Callback"}}), rules, {END: 4_801}, limits)
    [finding] = report.findings
    assert finding.code == "capacity" and finding.severity == "error"
    assert finding.rule_ids == ("x",)
    assert "workflow 'Callback' would be invoked 4,801/min" in finding.message
    assert "distinct.target.ratio 80%" in finding.message and "4,800/min" in finding.message
    assert f"topic {END} at 4,801/min -> trigger 'X' -> workflow 'Callback'" in finding.message


def test_org_per_minute_limit_over() -> None:
    """The sum over workflows above the per-minute limit names the heaviest workflows."""
    rules = [trigger("x", END, "wf-a"), trigger("y", ACW, "wf-b")]
    limits = Limits(per_hour=10**9)
    assert capacity(plan({}), rules, {END: 3_000, ACW: 3_000}, limits).ok
    report = capacity(plan({}), rules, {END: 3_000, ACW: 3_001}, limits)
    [finding] = report.findings
    assert "6,001/min, over event.orchestration.workflow.invocations.per.minute 6,000" in (
        finding.message
    )
    assert "workflow 'wf-b' 3,001/min via" in finding.message and "'wf-a'" in finding.message
    assert set(finding.rule_ids) == {"x", "y"}


def test_org_per_hour_limit_over() -> None:
    """A steady rate above per_hour/60 exceeds the hourly limit, though the minute is fine."""
    rules = [trigger("x", END, "wf")]
    assert capacity(plan({}), rules, {END: 600}).ok
    report = capacity(plan({}), rules, {END: 601})
    [finding] = report.findings
    assert "36,060/hour, over event.orchestration.workflow.invocations.per.hour 36,000" in (
        finding.message
    )
    assert "workflow 'wf' 36,060/hour via" in finding.message


def test_overridden_limits_are_used() -> None:
    """Limits given by the caller replace Genesys's defaults."""
    rules = [trigger("x", END, "wf")]
    assert not capacity(plan({}), rules, {END: 50}, Limits(40, 10**6, 1.0)).ok
    assert not capacity(plan({}), rules, {END: 50}, Limits(100, 10**6, 0.4)).ok
    assert not capacity(plan({}), rules, {END: 50}, Limits(100, 2_999, 1.0)).ok
    assert capacity(plan({}), rules, {END: 50}, Limits(100, 3_000, 0.5)).ok


def test_rated_topic_without_trigger_is_idle() -> None:
    """A rate on a topic no enabled trigger listens to invokes nothing and is listed idle."""
    report = capacity(plan({}), [trigger("x", END, "wf")], {ACW: 10, END: 0})
    assert report.idle_topics == (ACW,) and loads(report) == {}


def test_number_formatting() -> None:
    """Rates print with thousands separators; fractions keep two decimals; inf is unbounded."""
    assert (number(6000), number(12.5), number(math.inf)) == ("6,000", "12.50", "unbounded")


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("items", "problem"),
    [
        ([], "expected at least one --rate"),
        (["v2.x"], "expected TOPIC=N"),
        (["=5"], "expected TOPIC=N"),
        ([f"{END}=many"], "expected TOPIC=N"),
        ([f"{END}=-1"], "expected TOPIC=N"),
        ([f"{END}=nan"], "expected TOPIC=N"),
        ([f"{END}=inf"], "expected TOPIC=N"),
        (["conversation.end=5"], "unknown topic 'conversation.end'"),
        ([f"{END}=1", f"{END}=2"], "is given twice"),
    ],
)
def test_bad_rates_are_input_errors(items: list[str], problem: str) -> None:
    """A malformed TOPIC=N, an unknown topic or a repeated one is one InputError line."""
    with pytest.raises(InputError) as caught:
        parse_rates(items, [trigger("x", END, "wf")])
    assert problem in str(caught.value) and str(caught.value).startswith("--rate")


def test_rates_accept_trigger_topics_and_topic_names() -> None:
    """A topic a trigger is on, a workflow emits, or a `v2.` name is accepted."""
    rules = [trigger("x", "custom.topic", "wf")]
    p = plan({"wf": {"emits": [{"topic": ACW}]}})
    rates = parse_rates(["custom.topic=2.5", f"{END}=0", f"{ACW} = 1"], rules, p)
    assert rates == {"custom.topic": 2.5, END: 0.0, ACW: 1.0}


@pytest.mark.parametrize(
    ("args", "option"),
    [((0, 1, 0.5), "--per-minute"), ((1, 0, 0.5), "--per-hour"), ((1, 1, 0), "--target-ratio")],
)
def test_absurd_limits_are_input_errors(args: tuple[int, int, float], option: str) -> None:
    """Non-positive limits and a ratio outside (0, 1] are refused."""
    with pytest.raises(InputError, match=option):
        make_limits(*args)
    assert make_limits(1, 1, 1.0) == Limits(1, 1, 1.0)


# ------------------------------------------------------------------ the command


def run(*args: str | Path) -> tuple[int, str, str]:
    """Invoke the CLI; never a traceback."""
    result = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    return result.exit_code, result.stdout, result.stderr


CALLBACK = PLANS / "customer_end_callback.yaml"
CALLBACK_INV = PLANS / "customer_end_callback.inventory.json"
LOOP = PLANS / "invalid" / "attributes_loop.yaml"
LOOP_INV = PLANS / "invalid" / "attributes_loop.inventory.json"


def test_cli_within_limits_exits_0() -> None:
    """Within the limits: a table per workflow, totals, OK, exit 0."""
    code, out, _ = run("capacity", CALLBACK, "--inventory", CALLBACK_INV, "--rate", f"{END}=150")
    assert code == 0
    assert (
        "Create-Callback" in out
        and "9,000" in out
        and out.rstrip().endswith("OK  within the limits")
    )
    assert "total 450/min (limit 6,000), 27,000/hour (limit 36,000)" in out


def test_cli_over_a_limit_exits_1_naming_workflow_and_chain() -> None:
    """Over the per-workflow share: exit 1, JSON findings naming the workflow and the chain."""
    code, out, _ = run(
        "capacity", CALLBACK, "--inventory", CALLBACK_INV, "--rate", f"{END}=5000",
        "--per-hour", "1000000", "--format", "json",
    )  # fmt: skip
    assert code == 1
    data = json.loads(out)
    assert data["ok"] is False
    messages = [f["message"] for f in data["findings"]]
    assert all(f["code"] == "capacity" for f in data["findings"])
    assert any("workflow 'Create-Callback' would be invoked 5,000/min" in m for m in messages)
    assert any(
        "trigger 'Customer-End-Callback' -> workflow 'Create-Callback'" in m for m in messages
    )
    assert data["limits"]["event.orchestration.workflow.invocations.per.minute"] == 6000
    assert data["workflows"][0]["per_hour"] == 300_000


def test_cli_target_ratio_option_is_used() -> None:
    """`--per-minute` / `--target-ratio` override the limits (150/min > 10% of 1,000)."""
    args: list[str | Path] = [
        "capacity",
        CALLBACK,
        "--inventory",
        CALLBACK_INV,
        "--rate",
        f"{END}=150",
    ]
    assert run(*args, "--per-minute", "1000", "--target-ratio", "0.1")[0] == 1
    assert run(*args, "--per-minute", "1000", "--target-ratio", "0.2")[0] == 0


def test_cli_loop_is_unbounded_exit_1() -> None:
    """The attributes loop makes its workflow unbounded: exit 1."""
    code, out, _ = run("capacity", LOOP, "--inventory", LOOP_INV, "--rate", f"{END}=1")
    assert code == 1 and "unbounded" in out and "without bound" in out


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        (["--rate", "nonsense"], "chainsim: --rate: nonsense: expected TOPIC=N"),
        (["--rate", "conversation.end=5"], "unknown topic 'conversation.end'"),
        ([], "expected at least one --rate"),
        (["--rate", f"{END}=1", "--format", "xml"], "chainsim: --format: expected one of"),
        (["--rate", f"{END}=1", "--target-ratio", "2"], "chainsim: --target-ratio:"),
    ],
)
def test_cli_bad_input_exits_2(extra: list[str], problem: str) -> None:
    """A bad --rate, format or limit is one line on stderr, exit 2."""
    code, out, err = run("capacity", CALLBACK, "--inventory", CALLBACK_INV, *extra)
    assert code == 2 and out == "" and problem in err and err.count("\n") == 1


def test_cli_malformed_workflows_block_exits_2(tmp_path: Path) -> None:
    """A plan whose `workflows:` is malformed is one line naming file and place, exit 2."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("workflows: {wf: {emits: [{topic: customer.end}]}}\n", encoding="utf-8")
    code, _, err = run("capacity", bad, "--inventory", CALLBACK_INV, "--rate", f"{END}=1")
    assert code == 2 and f"{bad}: workflows.wf.emits[0].topic:" in err and err.count("\n") == 1

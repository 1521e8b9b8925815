"""`remove:` links and `chainsim destroy`, in both dialects, on the embedded fake."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from chainsim.cli import app
from tests.orchestrator_rig import make_rule

runner = CliRunner()
START = "v2.detail.events.conversation.{id}.acd.start"  # both carry queueId and mediaType
END = "v2.detail.events.conversation.{id}.acd.end"


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def _trigger(trigger_id: str, topic: str, criteria: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": trigger_id,
        "name": trigger_id.upper(),
        "topicName": topic,
        "enabled": True,
        "version": 1,
        "target": {"type": "Workflow", "id": "wf-1"},
        "matchCriteria": criteria,
    }


EB_INVENTORY = [
    make_rule("a"),
    make_rule("b", enabled=False),
    make_rule("c", actions=[{"type": "notify", "target": "ops"}]),
    make_rule("d"),
]
EB_PLAN = {
    "links": [
        {"source": "a", "destination": "b", "event_type": "type.a", "preserve": ["queueId"]},
        {"source": "c", "destination": "d", "event_type": "type.c"},
    ],
    "rules": {"b": {"enabled": True}},
}
TR_INVENTORY = [
    _trigger("t-1", START, [{"jsonPath": "queueId", "operator": "Exists", "value": True}]),
    _trigger("t-2", END, [{"jsonPath": "$.mediaType", "operator": "Equal", "value": "VOICE"}]),
]
TR_PLAN = {"links": [{"source": "t-1", "destination": "t-2", "event_type": START,
                      "preserve": ["queueId"]}]}  # fmt: skip
CASES = {
    "eventbridge": (EB_INVENTORY, EB_PLAN),
    "triggers": (TR_INVENTORY, TR_PLAN),
}


def _deploy(work: Path, command: str, dialect: str, inventory: str, plan: str) -> Any:
    """Run `command` on the fake seeded from `inventory`; the final bus content (wire form)."""
    code, out = _run(
        command, plan, "--bus", "fake", "--dialect", dialect, "--inventory", inventory,
        "--report", "r.json",
    )  # fmt: skip
    assert code == 0, out
    report = json.loads((work / "r.json").read_text())
    return report, out


def _content(dialect: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rules in the dialect's normal wire form, without what every write changes."""
    from chainsim.dialects import get_dialect

    chosen = get_dialect(dialect)
    wire = [chosen.to_wire(rule) for rule in chosen.parse("bus", items)]
    return [{k: v for k, v in w.items() if k not in ("version", "selfUri")} for w in wire]


@pytest.mark.parametrize("dialect", sorted(CASES))
def test_destroy_after_apply_restores_the_bus_and_twice_is_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dialect: str
) -> None:
    """apply then destroy leaves the pre-apply content (but `rules:` settings); again: unchanged."""
    monkeypatch.chdir(tmp_path)
    inventory, plan = CASES[dialect]
    (tmp_path / "inv.json").write_text(json.dumps(inventory))
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(plan))
    applied, _ = _deploy(tmp_path, "apply", dialect, "inv.json", "plan.yaml")
    assert applied["status"] == "applied"
    (tmp_path / "applied.json").write_text(json.dumps(applied["final_rules"]))
    destroyed, out = _deploy(tmp_path, "destroy", dialect, "applied.json", "plan.yaml")
    assert destroyed["status"] == "applied" and "chainsim destroy: applied" in out
    expected = _content(dialect, inventory)
    if dialect == "eventbridge":  # the plan's `rules:` settings are left as applied
        expected[1]["enabled"] = True
    assert _content(dialect, destroyed["final_rules"]) == expected
    assert _content(dialect, applied["final_rules"]) != _content(dialect, inventory)
    (tmp_path / "destroyed.json").write_text(json.dumps(destroyed["final_rules"]))
    again, _ = _deploy(tmp_path, "destroy", dialect, "destroyed.json", "plan.yaml")
    assert again["status"] == "unchanged"
    assert again["metrics"]["requests"] <= 2  # token and one listing: nothing written


def test_remove_links_on_eventbridge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`remove:` takes the invokeRule action off its source; other actions stay."""
    monkeypatch.chdir(tmp_path)
    a = make_rule(
        "a",
        actions=[
            {"type": "invokeRule", "ruleId": "b"},
            {"type": "notify", "target": "ops"},
            {"type": "invokeRule", "ruleId": "c"},
        ],
    )
    (tmp_path / "inv.json").write_text(json.dumps([a, make_rule("b"), make_rule("c")]))
    plan = {"remove": [{"source": "a", "destination": "b", "event_type": "type.a"}]}
    (tmp_path / "rm.yaml").write_text(yaml.safe_dump(plan))
    code, out = _run("plan", "rm.yaml", "--inventory", "inv.json")
    assert code == 0 and "- link -> Rule b (b)" in out, out
    report, _ = _deploy(tmp_path, "apply", "eventbridge", "inv.json", "rm.yaml")
    final = {r["id"]: r for r in _content("eventbridge", report["final_rules"])}
    assert [(x["type"], x.get("ruleId")) for x in final["a"]["actions"]] == [
        ("notify", None),
        ("invokeRule", "c"),
    ]
    assert final["b"] == _content("eventbridge", [make_rule("b")])[0]


def test_removing_an_absent_link_is_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `remove:` link the bus does not have: a `remove_absent` warning, exit 0, no write."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "inv.json").write_text(json.dumps([make_rule("a"), make_rule("b")]))
    plan = {"remove": [{"source": "a", "destination": "b", "event_type": "type.a"}]}
    (tmp_path / "rm.yaml").write_text(yaml.safe_dump(plan))
    code, out = _run("plan", "rm.yaml", "--inventory", "inv.json", "--format", "json")
    assert code == 0, out
    assert [f["code"] for f in json.loads(out)["findings"]] == ["remove_absent"]
    report, out = _deploy(tmp_path, "apply", "eventbridge", "inv.json", "rm.yaml")
    assert report["status"] == "unchanged" and "warning remove_absent: link a -> b" in out


def test_a_link_both_added_and_removed_is_bad_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same link under `links:` and `remove:` exits 2 naming `remove[0]`."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "inv.json").write_text(json.dumps([make_rule("a"), make_rule("b")]))
    link = {"source": "a", "destination": "b", "event_type": "type.a"}
    (tmp_path / "p.yaml").write_text(yaml.safe_dump({"links": [link], "remove": [link]}))
    code, out = _run("apply", "p.yaml", "--bus", "fake", "--inventory", "inv.json")
    assert code == 2 and out.startswith("chainsim: p.yaml: remove[0]: link a -> b"), out
    assert not (tmp_path / ".chainsim").exists() or not any((tmp_path / ".chainsim").iterdir())


def test_remove_links_on_triggers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`remove:` drops the destination's `Exists` criteria for the link; others stay."""
    monkeypatch.chdir(tmp_path)
    dest = _trigger(
        "t-2",
        END,
        [
            {"jsonPath": "$.mediaType", "operator": "Equal", "value": "voice"},
            {"jsonPath": "queueId", "operator": "Exists", "value": True},
        ],
    )
    (tmp_path / "inv.json").write_text(json.dumps([TR_INVENTORY[0], dest]))
    plan = {"remove": TR_PLAN["links"]}
    (tmp_path / "rm.yaml").write_text(yaml.safe_dump(plan))
    report, _ = _deploy(tmp_path, "apply", "triggers", "inv.json", "rm.yaml")
    final = {t["id"]: t for t in _content("triggers", report["final_rules"])}
    assert final["t-2"]["matchCriteria"] == dest["matchCriteria"][:1]
    assert final["t-1"] == _content("triggers", TR_INVENTORY[:1])[0]


def test_destroy_detects_the_dialect_from_the_inventory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`destroy` without --dialect reads a trigger inventory as triggers, like apply does."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "inv.json").write_text(json.dumps(TR_INVENTORY))
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(TR_PLAN))
    args = ("plan.yaml", "--bus", "fake", "--inventory", "inv.json", "--report", "r.json")
    code, out = _run("destroy", *args)
    assert code == 0, out
    assert all("topicName" in t for t in json.loads(Path("r.json").read_text())["final_rules"])

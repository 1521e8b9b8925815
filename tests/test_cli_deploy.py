"""CLI tests of the deploy workflow: saved plans, drift, --detailed-exitcode, the live gate."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from chainsim.cli import app
from chainsim.fakebus import FakeBus
from tests.orchestrator_rig import make_rule

runner = CliRunner()
LINKS = [
    {"source": "a", "destination": "b", "event_type": "type.a", "preserve": ["queueId"]},
    {"source": "b", "destination": "c", "event_type": "type.b"},
]
WRITES = {"PUT", "POST", "PATCH", "DELETE"}


def _run(*args: str, stdin: str | None = None) -> tuple[int, str]:
    result = runner.invoke(app, list(args), input=stdin)
    return result.exit_code, result.output


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A work dir with an inventory of rules a..d and a two-link plan."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "inventory.json").write_text(json.dumps([make_rule(x) for x in "abcd"]))
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump({"links": LINKS}))
    return tmp_path


@pytest.fixture
def live(work: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeBus, list[str]]]:
    """A fake served on loopback HTTP, and the CLI options that reach it as `--bus live`."""
    from chainsim.clock import SystemClock

    fake = FakeBus(clock=SystemClock(), clients={"live-id": "live-secret"})
    fake.seed_rules([make_rule(x) for x in "abcd"])
    monkeypatch.setenv("GENESYS_CLIENT_ID", "live-id")
    monkeypatch.setenv("GENESYS_CLIENT_SECRET", "live-secret")
    with fake.serve(port=0) as base:
        live = ["--bus", "live", "--api-host", base, "--login-host", base]
        yield fake, [*live, "--dialect", "eventbridge"]  # a live bus defaults to triggers


def _api_writes(fake: FakeBus, since: int = 0) -> list[str]:
    """Every write the fake received after request number `since` (token requests aside)."""
    return [
        f"{r.method} {r.path}"
        for r in fake.requests[since:]
        if r.method in WRITES and "oauth" not in r.path
    ]


# --------------------------------------------------------------------------- --detailed-exitcode


def test_detailed_exitcode_is_3_with_changes_and_0_without(work: Path) -> None:
    """`plan --detailed-exitcode` exits 3 when changes are pending, 0 once applied."""
    code, out = _run("plan", "plan.yaml", "--inventory", "inventory.json", "--detailed-exitcode")
    assert code == 3, out
    assert _run("plan", "plan.yaml", "--inventory", "inventory.json")[0] == 0
    code, out = _run(
        "apply", "plan.yaml", "--bus", "fake", "--inventory", "inventory.json", "--report", "r.json"
    )
    assert code == 0, out
    (work / "after.json").write_text(
        json.dumps(json.loads(Path("r.json").read_text())["final_rules"])
    )
    code, out = _run("plan", "plan.yaml", "--inventory", "after.json", "--detailed-exitcode")
    assert code == 0, out


def test_detailed_exitcode_keeps_1_for_findings_and_2_for_bad_input(work: Path) -> None:
    """Findings still exit 1 and bad input 2 under --detailed-exitcode."""
    cycle = [*LINKS, {"source": "c", "destination": "a", "event_type": "type.c"}]
    (work / "cycle.yaml").write_text(yaml.safe_dump({"links": cycle}))
    args = ("--inventory", "inventory.json", "--detailed-exitcode")
    assert _run("plan", "cycle.yaml", *args)[0] == 1
    assert _run("plan", "missing.yaml", *args)[0] == 2


# --------------------------------------------------------------------------- saved plans


def test_saved_plan_round_trip_on_the_fake(work: Path) -> None:
    """`plan --out` saves a recognisable plan; `apply FILE` applies exactly it."""
    fake = ("--bus", "fake", "--inventory", "inventory.json")
    code, out = _run("plan", "plan.yaml", *fake, "--out", "saved.json")
    assert code == 0, out
    assert "saved plan: saved.json" in out
    saved = json.loads((work / "saved.json").read_text())
    assert next(iter(saved)) == "chainsim_saved_plan" and saved["chainsim_saved_plan"] == 1
    assert saved["target"]["dialect"] == "eventbridge" and saved["target"]["bus"] == "fake"
    assert [(r["id"], r["change"], r["version"]) for r in saved["rules"]] == [
        ("a", "update", 1),
        ("b", "update", 1),
    ]
    assert all(r["digest"].startswith("sha256:") for r in saved["rules"])
    code, out = _run("apply", "saved.json", *fake, "--report", "r.json")
    assert code == 0, out
    final = {r["id"]: r for r in json.loads((work / "r.json").read_text())["final_rules"]}
    for planned in saved["rules"]:
        body = {k: v for k, v in planned["desired"].items() if k != "version"}
        assert {k: v for k, v in final[planned["id"]].items() if k != "version"} == body


def test_a_saved_plan_made_for_another_dialect_is_bad_input(work: Path) -> None:
    """A saved eventbridge plan applied with --dialect triggers exits 2 naming the file."""
    fake = ("--bus", "fake", "--inventory", "inventory.json")
    assert _run("plan", "plan.yaml", *fake, "--out", "saved.json")[0] == 0
    code, out = _run("apply", "saved.json", *fake, "--dialect", "triggers")
    # the EventBridge inventory contradicts --dialect before the saved target is compared
    assert code == 2 and out == (
        "chainsim: inventory.json: is in the eventbridge dialect, but --dialect says triggers\n"
    )


def test_plan_out_needs_a_bus(work: Path) -> None:
    """`plan --inventory F --out S` (offline) is bad input: a saved plan needs a bus."""
    code, out = _run("plan", "plan.yaml", "--inventory", "inventory.json", "--out", "s.json")
    assert code == 2 and "--out" in out and not (work / "s.json").exists()


@pytest.mark.parametrize("how", ["version", "content"])
def test_drift_refuses_naming_the_rule_and_writes_nothing(
    live: tuple[FakeBus, list[str]], how: str
) -> None:
    """A planned rule changed on the bus since `plan --out`: exit 1 naming it, no write sent."""
    fake, args = live
    assert _run("plan", "plan.yaml", *args, "--out", "saved.json")[0] == 0
    changed = make_rule("b", description="edited elsewhere")
    if how == "version":
        changed["version"] = 9
    fake.seed_rules([changed])
    before = len(fake.requests)
    code, out = _run("apply", "saved.json", *args)
    assert code == 1, out
    assert "drifted: b:" in out and "drifted: a" not in out
    assert ("version 1 -> 9" in out) == (how == "version")
    assert _api_writes(fake, before) == []
    assert [len(r.links()) for r in fake.rules()] == [0, 0, 0, 0]


def test_saved_plan_on_a_live_bus_is_approved_without_a_terminal(
    live: tuple[FakeBus, list[str]],
) -> None:
    """A saved plan counts as approved: `apply FILE --bus live` runs without a terminal."""
    fake, args = live
    assert _run("plan", "plan.yaml", *args, "--out", "saved.json")[0] == 0
    code, out = _run("apply", "saved.json", *args)
    assert code == 0, out
    assert {r.id: len(r.links()) for r in fake.rules()} == {"a": 1, "b": 1, "c": 0, "d": 0}


# --------------------------------------------------------------------------- the live gate


@pytest.mark.parametrize("command", ["apply", "destroy"])
def test_live_without_a_terminal_refuses_with_no_write(
    live: tuple[FakeBus, list[str]], command: str
) -> None:
    """`apply`/`destroy --bus live` with no terminal and no --auto-approve: exit 2, no write."""
    fake, args = live
    code, out = _run(command, "plan.yaml", *args)
    assert code == 2, out
    assert "--auto-approve" in out and len(out.splitlines()) == 1
    assert _api_writes(fake) == []


def test_auto_approve_applies_on_a_live_bus(live: tuple[FakeBus, list[str]]) -> None:
    """`--auto-approve` lets a live apply run without a terminal."""
    fake, args = live
    code, out = _run("apply", "plan.yaml", *args, "--auto-approve")
    assert code == 0, out
    assert _api_writes(fake) == [
        "PUT /api/v2/eventbridge/rules/a",
        "PUT /api/v2/eventbridge/rules/b",
    ]


@pytest.mark.parametrize(("answer", "code", "links"), [("y\n", 0, 2), ("n\n", 1, 0)])
def test_confirmation_on_a_terminal(
    live: tuple[FakeBus, list[str]],
    monkeypatch: pytest.MonkeyPatch,
    answer: str,
    code: int,
    links: int,
) -> None:
    """On a terminal the plan is shown and a question asked: yes applies, no writes nothing."""
    monkeypatch.setattr("chainsim.cli.stdin_is_terminal", lambda: True)
    fake, args = live
    got, out = _run("apply", "plan.yaml", *args, stdin=answer)
    assert got == code, out
    assert "2 to update" in out and "Apply these changes to http://127.0.0.1:" in out
    assert sum(len(r.links()) for r in fake.rules()) == links
    if answer == "n\n":
        assert "apply cancelled: nothing changed" in out and _api_writes(fake) == []


def test_confirmed_destroy_on_a_terminal(
    live: tuple[FakeBus, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`destroy --bus live` asks too; after yes the plan's links are gone."""
    monkeypatch.setattr("chainsim.cli.stdin_is_terminal", lambda: True)
    fake, args = live
    assert _run("apply", "plan.yaml", *args, "--auto-approve")[0] == 0
    code, out = _run("destroy", "plan.yaml", *args, stdin="y\n")
    assert code == 0, out
    assert "Destroy these changes" in out and "- link -> Rule b (b)" in out
    assert sum(len(r.links()) for r in fake.rules()) == 0


def test_nothing_to_change_on_a_terminal_asks_nothing(
    live: tuple[FakeBus, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A live apply with nothing to change says so, asks nothing and exits 0."""
    monkeypatch.setattr("chainsim.cli.stdin_is_terminal", lambda: True)
    fake, args = live
    assert _run("apply", "plan.yaml", *args, "--auto-approve")[0] == 0
    before = len(fake.requests)
    code, out = _run("apply", "plan.yaml", *args)
    assert code == 0 and "apply: nothing to change" in out and "?" not in out
    assert _api_writes(fake, before) == []


# --------------------------------------------------------------------------- CLI habits (deploy)


@pytest.mark.parametrize("command", ["plan", "apply", "destroy"])
def test_bus_fake_without_an_inventory_is_bad_input(work: Path, command: str) -> None:
    """`--bus fake` without `--inventory` exits 2 with one line, before anything runs."""
    code, out = _run(command, "plan.yaml", "--bus", "fake")
    assert code == 2 and out == (
        "chainsim: --inventory: --bus fake needs --inventory FILE (the fake's rules)\n"
    )
    assert not (work / ".chainsim").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["apply", "missing.yaml", "--bus", "fake", "--inventory", "inventory.json"],
        [
            "destroy",
            "plan.yaml",
            "--bus",
            "fake",
            "--inventory",
            "inventory.json",
            "--dialect",
            "x",
        ],
        ["apply", "--bus", "fake", "--inventory", "inventory.json"],
    ],
)
def test_bad_input_creates_no_files(work: Path, args: list[str]) -> None:
    """Bad input (a missing plan, a bad option, no PLAN without --resume) leaves no `.chainsim/`."""
    code, out = _run(*args)
    assert code == 2 and len(out.splitlines()) == 1, out
    assert not (work / ".chainsim").exists()


def test_apply_resume_without_plan_finishes_the_journals_run(work: Path) -> None:
    """`apply --resume` with no PLAN finishes the unfinished run recorded in the journal."""
    rule = make_rule("a")
    target = {**rule, "actions": [{"type": "invokeRule", "ruleId": "b"}]}
    journal = work / ".chainsim" / "journal.json"
    journal.parent.mkdir()
    plan = {"links": [{"source": "a", "destination": "b", "event_type": "type.a"}]}
    journal.with_suffix(".plan.json").write_text(json.dumps(plan))
    entry = {"state": "writing", "base": rule, "fields": ["actions"], "target": target}
    head = {"version": 2, "run_id": "r1", "status": "applying", "atomic": True, "order": []}
    journal.write_text(json.dumps({**head, "rules": {"a": entry}}))
    fake = ("--bus", "fake", "--inventory", "inventory.json")
    code, out = _run("apply", "--resume", *fake, "--report", "r.json")
    assert code == 0, out
    final = {r["id"]: r for r in json.loads((work / "r.json").read_text())["final_rules"]}
    assert [x["ruleId"] for x in final["a"]["actions"]] == ["b"]


@pytest.mark.parametrize(("error", "code"), [(KeyboardInterrupt, 130), ("term", 143)])
def test_an_interrupted_apply_says_it_is_resumable(
    work: Path, monkeypatch: pytest.MonkeyPatch, error: object, code: int
) -> None:
    """SIGINT (or SIGTERM) during apply prints one line naming `--resume`, exit 130 (143)."""
    from chainsim import runners

    def interrupted(self: object, plan: object) -> None:
        if error == "term":
            raise runners._Terminated
        raise KeyboardInterrupt

    monkeypatch.setattr("chainsim.apply.Orchestrator.apply", interrupted)
    got, out = _run("apply", "plan.yaml", "--bus", "fake", "--inventory", "inventory.json")
    assert got == code
    assert out == (
        "chainsim: apply interrupted; the run is resumable: chainsim apply --resume --bus fake\n"
    )


def test_a_plan_with_errors_is_not_saved(work: Path) -> None:
    """`plan --out` of a plan with error findings exits 1 and writes no file."""
    cycle = [*LINKS, {"source": "c", "destination": "a", "event_type": "type.c"}]
    (work / "cycle.yaml").write_text(yaml.safe_dump({"links": cycle}))
    fake = ("--bus", "fake", "--inventory", "inventory.json")
    code, out = _run("plan", "cycle.yaml", *fake, "--out", "saved.json")
    assert code == 1 and "saved.json not saved: the plan has errors" in out
    assert not (work / "saved.json").exists()


def test_saved_plan_round_trip_in_the_triggers_dialect(work: Path) -> None:
    """A saved triggers plan applies exactly; a destroy plan saved after undoes it."""
    from tests.test_destroy import TR_INVENTORY, TR_PLAN

    (work / "tr.json").write_text(json.dumps(TR_INVENTORY))
    (work / "tr.yaml").write_text(yaml.safe_dump(TR_PLAN))
    fake = ("--bus", "fake", "--dialect", "triggers", "--inventory", "tr.json")
    assert _run("plan", "tr.yaml", *fake, "--out", "saved.json")[0] == 0
    saved = json.loads((work / "saved.json").read_text())
    assert saved["target"]["dialect"] == "triggers"
    assert [(r["id"], r["change"]) for r in saved["rules"]] == [("t-2", "update")]
    code, out = _run("apply", "saved.json", *fake, "--report", "r.json")
    assert code == 0, out
    final = {t["id"]: t for t in json.loads((work / "r.json").read_text())["final_rules"]}
    assert final["t-2"]["matchCriteria"] == saved["rules"][0]["desired"]["matchCriteria"]
    assert {"jsonPath": "queueId", "operator": "Exists", "value": True} in final["t-2"][
        "matchCriteria"
    ]
    (work / "after.json").write_text(json.dumps(list(final.values())))
    after = ("--bus", "fake", "--dialect", "triggers", "--inventory", "after.json")
    assert _run("plan", "tr.yaml", *after, "--destroy", "--out", "undo.json")[0] == 0
    code, out = _run("destroy", "undo.json", *after, "--report", "d.json")
    assert code == 0, out
    undone = json.loads((work / "d.json").read_text())["final_rules"]
    assert [t["matchCriteria"] for t in undone] == [t["matchCriteria"] for t in TR_INVENTORY]
    code, out = _run("destroy", "saved.json", *after)
    assert code == 2 and "a saved apply plan" in out

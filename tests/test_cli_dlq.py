"""CLI tests for `chainsim dlq list|redrive|forward` on the README's shallow.yaml example."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import pytest
import respx
from typer.testing import CliRunner

from chainsim.cli import app
from chainsim.fakebus import FakeBus
from chainsim.fakebus.faults import FaultPlan

PLANS = Path(__file__).resolve().parent.parent / "scenarios" / "plans"
PLAN, INVENTORY = "inbound_callback.yaml", "inbound_callback.inventory.json"
OFFER = "7a1e9c44-2f3b-4d8e-b6a5-0c9d8e7f6a52"  # Callback-Offer: the second hop
ROUTER = "3f6c2a9e-8b1d-4e57-9a0c-5d2e7f81b4a6"  # Inbound-Call-Router: the first hop
SURVEY = "b52d8f17-6c4e-4a39-8e21-9f0a3b7c5d14"  # Wrap-Up-Survey
SPOOL = Path(".chainsim/deadletter.jsonl")
URL = "https://dlq.example.com/letters"
runner = CliRunner()


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "250"})
    return result.exit_code, result.output


@pytest.fixture
def rolled_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The README example: a bus allowing one hop rolls the two-hop chain back, one letter."""
    monkeypatch.chdir(tmp_path)
    for name in (PLAN, INVENTORY):
        shutil.copy(PLANS / name, tmp_path / name)
    (tmp_path / "shallow.yaml").write_text("max_depth: 1\n")
    code, out = _run(
        "apply", PLAN, "--bus", "fake", "--inventory", INVENTORY, "--faults", "shallow.yaml"
    )
    assert code == 1 and "rolled_back" in out, out
    return tmp_path


def test_dlq_list_shows_name_message_and_run(rolled_back: Path) -> None:
    """`dlq list` shows the rule's name beside its short id, the bus's message, the run."""
    code, out = _run("dlq", "list")
    assert code == 0, out
    assert "Callback-Offer (7a1e9c44…)" in out
    assert "breaks a chain constraint" in out and "atomic" in out and "422" in out
    (letter,) = json.loads(_run("dlq", "list", "--format", "json")[1])
    assert letter["rule_id"] == OFFER and letter["atomic"] is True and letter["run_id"]
    assert Path(letter["plan_file"]).is_file()


@pytest.mark.parametrize("faults", [[], ["--faults", "shallow.yaml"]])
def test_fake_redrive_is_a_rehearsal_that_keeps_the_spool(
    rolled_back: Path, faults: list[str]
) -> None:
    """`dlq redrive --bus fake` says it rehearsed and leaves the spool byte-identical."""
    before = SPOOL.read_bytes()
    runs = sorted(p.name for p in (rolled_back / ".chainsim" / "runs").iterdir())
    audit = (rolled_back / ".chainsim" / "audit.jsonl").read_bytes()
    code, out = _run("dlq", "redrive", "--bus", "fake", "--inventory", INVENTORY, *faults)
    assert "rehearsal" in out and "kept as it is" in out
    assert "whole plan" in out
    assert code == (1 if faults else 0), out
    assert SPOOL.read_bytes() == before
    assert sorted(p.name for p in (rolled_back / ".chainsim" / "runs").iterdir()) == runs
    assert (rolled_back / ".chainsim" / "audit.jsonl").read_bytes() == audit


def test_fake_redrive_needs_an_inventory(rolled_back: Path) -> None:
    """`dlq redrive --bus fake` without --inventory is bad input: exit 2, spool unchanged."""
    before = SPOOL.read_bytes()
    code, out = _run("dlq", "redrive", "--bus", "fake")
    assert code == 2 and "--inventory" in out
    assert SPOOL.read_bytes() == before


def test_forward_posts_and_removes_only_delivered(rolled_back: Path) -> None:
    """`dlq forward --url` removes a delivered letter; a refused one stays (exit 1)."""
    with respx.mock() as router:
        router.post(URL).mock(return_value=httpx.Response(503))
        code, out = _run("dlq", "forward", "--url", URL)
    assert code == 1 and "HTTP 503" in out and "1 left" in out
    assert len(SPOOL.read_text().splitlines()) == 1
    with respx.mock() as router:
        route = router.post(URL).mock(return_value=httpx.Response(202))
        code, out = _run("dlq", "forward", "--url", URL)
    assert code == 0, out
    assert json.loads(route.calls.last.request.content)["rule_id"] == OFFER
    assert SPOOL.read_text() == ""


def test_forward_without_a_url_keeps_the_letters(rolled_back: Path) -> None:
    """With no --url and no dead_letter.url in the run's plan, nothing is sent or removed."""
    before = SPOOL.read_bytes()
    code, out = _run("dlq", "forward")
    assert code == 1 and "--url" in out
    assert SPOOL.read_bytes() == before


def test_forward_refuses_a_bad_url(rolled_back: Path) -> None:
    """`dlq forward --url ftp://...` is bad input: exit 2, one line."""
    code, out = _run("dlq", "forward", "--url", "ftp://x")
    assert code == 2 and "--url" in out


def _chain_on(fake: FakeBus) -> dict[str, set[str]]:
    """The links (destinations) of the plan's two sources as the bus holds them."""
    rules = {rule.id: rule for rule in fake.rules()}
    return {s: {a.rule_id for a in rules[s].links() if a.rule_id} for s in (ROUTER, OFFER)}


def test_live_redrive_applies_the_whole_chain_or_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`dlq redrive --bus live`: rolled back again while the bus is shallow, whole once deep."""
    from chainsim.clock import SystemClock

    monkeypatch.chdir(tmp_path)
    shutil.copy(PLANS / PLAN, tmp_path / PLAN)
    fake = FakeBus(clock=SystemClock(), faults=FaultPlan(max_depth=1), clients={"i": "s"})
    fake.seed_rules(json.loads((PLANS / INVENTORY).read_text()))
    monkeypatch.setenv("GENESYS_CLIENT_ID", "i")
    monkeypatch.setenv("GENESYS_CLIENT_SECRET", "s")
    none: dict[str, set[str]] = {ROUTER: set(), OFFER: set()}
    with fake.serve(port=0) as base:
        live = ["--bus", "live", "--api-host", base, "--login-host", base]
        live += ["--dialect", "eventbridge"]  # a live bus defaults to triggers
        assert _run("apply", PLAN, *live, "--auto-approve")[0] == 1
        (first,) = json.loads(_run("dlq", "list", "--format", "json")[1])
        assert _chain_on(fake) == none
        code, out = _run("dlq", "redrive", *live)
        assert code == 1 and "rolled_back" in out and "rehearsal" not in out
        assert _chain_on(fake) == none  # never the second hop alone
        (again,) = json.loads(_run("dlq", "list", "--format", "json")[1])
        assert again["run_id"] != first["run_id"] and again["rule_id"] == OFFER
        fake.faults = FaultPlan(max_depth=5)
        code, out = _run("dlq", "redrive", *live)
        assert code == 0 and "applied" in out, out
        assert _chain_on(fake) == {ROUTER: {OFFER}, OFFER: {SURVEY}}
    assert json.loads(_run("dlq", "list", "--format", "json")[1]) == []

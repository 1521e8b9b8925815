"""CLI tests: failures say why, names beside ids, a compact plan, --format json, --version, -h."""

from __future__ import annotations

import json
import shutil
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from chainsim import render
from chainsim.cli import app
from chainsim.render import rule_label
from tests.orchestrator_rig import make_rule

PLANS = Path(__file__).resolve().parent.parent / "scenarios" / "plans"
PLAN, INVENTORY = "inbound_callback.yaml", "inbound_callback.inventory.json"
runner = CliRunner()


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "250"})
    return result.exit_code, result.output


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A work dir with the inbound_callback plan, its inventory and the README's shallow.yaml."""
    monkeypatch.chdir(tmp_path)
    for name in (PLAN, INVENTORY):
        shutil.copy(PLANS / name, tmp_path / name)
    (tmp_path / "shallow.yaml").write_text("max_depth: 1\n")
    return tmp_path


def test_rule_label_puts_the_name_beside_a_short_id() -> None:
    """A named rule reads `Name (first8…)`; an unnamed or short id is shown whole."""
    assert rule_label("7a1e9c44-2f3b-4d8e-b6a5-0c9d8e7f6a52", "Callback-Offer") == (
        "Callback-Offer (7a1e9c44…)"
    )
    assert rule_label("7a1e9c44-2f3b-4d8e-b6a5-0c9d8e7f6a52") == (
        "7a1e9c44-2f3b-4d8e-b6a5-0c9d8e7f6a52"
    )
    assert rule_label("b", "Rule b") == "Rule b (b)"


def test_failed_apply_table_says_why(work: Path) -> None:
    """The apply table has a reason column: status, Genesys code and the bus's message."""
    code, out = _run(
        "apply", PLAN, "--bus", "fake", "--inventory", INVENTORY, "--faults", "shallow.yaml"
    )
    assert code == 1
    assert "reason" in out
    (row,) = [line for line in out.splitlines() if "Callback-Offer (7a1e9c44…)" in line]
    assert "failed" in row and "422 unprocessable.entity: Rule 7a1e9c44" in row
    assert "Inbound-Call-Router (3f6c2a9e…)" in out


def test_apply_format_json_prints_the_report(work: Path) -> None:
    """`apply --format json` prints exactly the `--report` JSON on stdout, with reasons."""
    code, out = _run(
        "apply",
        PLAN,
        "--bus",
        "fake",
        "--inventory",
        INVENTORY,
        "--faults",
        "shallow.yaml",
        "--format",
        "json",
        "--report",
        "r.json",
    )
    assert code == 1
    report = json.loads(out)
    assert report == json.loads((work / "r.json").read_text())
    failed = [r for r in report["rules"] if r["outcome"] == "failed"]
    assert failed[0]["reason"].startswith("422 unprocessable.entity: ")
    assert failed[0]["name"] == "Callback-Offer"


def test_apply_format_is_checked(work: Path) -> None:
    """`apply --format xml` is bad input (exit 2) and creates no files."""
    code, out = _run("apply", PLAN, "--bus", "fake", "--inventory", INVENTORY, "--format", "xml")
    assert code == 2 and "--format" in out
    assert not (work / ".chainsim").exists()


def test_large_apply_table_is_cut_with_a_count(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past ROWS_SHOWN rows the apply table stops and says how many more rules there are."""
    monkeypatch.setattr(render, "ROWS_SHOWN", 1)
    code, out = _run("apply", PLAN, "--bus", "fake", "--inventory", INVENTORY)
    assert code == 0, out
    assert "... 1 more rule(s) not shown" in out
    assert out.count("(3f6c2a9e…)") + out.count("(7a1e9c44…)") == 1


def test_cut_apply_table_shows_failures_first(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """When the table is cut, the failed rule (second in order) is the row shown."""
    monkeypatch.setattr(render, "ROWS_SHOWN", 1)
    code, out = _run(
        "apply", PLAN, "--bus", "fake", "--inventory", INVENTORY, "--faults", "shallow.yaml"
    )
    assert code == 1
    assert "Callback-Offer (7a1e9c44…)" in out and "Inbound-Call-Router" not in out


def test_plan_prints_summary_first_then_one_line_per_rule(work: Path) -> None:
    """`plan` opens with the summary, shows one line per rule, and no diff without --diff."""
    code, out = _run("plan", PLAN, "--inventory", INVENTORY)
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0] == "plan: 2 to update, 0 unchanged"
    assert lines[1].startswith("Inbound-Call-Router (3f6c2a9e…)") and "update" in lines[1]
    assert lines[2].startswith("Callback-Offer (7a1e9c44…)")
    assert "~ enabled: false -> true" in lines[2]
    assert "+ link -> Wrap-Up-Survey (b52d8f17…)" in lines[2]  # destinations named too
    assert "@@" not in out and "--diff" in out
    code, full = _run("plan", PLAN, "--inventory", INVENTORY, "--diff")
    assert code == 0 and full.startswith(out.splitlines()[0])
    assert "@@" in full and '+  "enabled": true' in full


def test_plan_of_a_thousand_links_stays_short(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1,000 links: the summary is line 1 and the output stays near ROWS_SHOWN lines."""
    monkeypatch.chdir(tmp_path)
    n = 1000
    rules = [make_rule(f"s{i}") for i in range(n)] + [make_rule(f"d{i}") for i in range(n)]
    links = [
        {"source": f"s{i}", "destination": f"d{i}", "event_type": f"type.s{i}"} for i in range(n)
    ]
    (tmp_path / "inv.json").write_text(json.dumps(rules))
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump({"links": links}))
    code, out = _run("plan", "plan.yaml", "--inventory", "inv.json")
    assert code == 0, out[:500]
    lines = out.splitlines()
    assert lines[0] == "plan: 1000 to update, 0 unchanged"
    assert len(lines) <= render.ROWS_SHOWN + 5
    assert "... 950 more rule(s) not shown (--format json lists every one)" in out


def test_version_prints_the_package_version() -> None:
    """`chainsim --version` prints chainsim's installed version and exits 0."""
    code, out = _run("--version")
    assert code == 0 and out.strip() == f"chainsim {version('chainsim')}"


@pytest.mark.parametrize(
    "command", [[], ["plan"], ["apply"], ["dlq"], ["dlq", "forward"], ["audit", "verify"]]
)
def test_dash_h_is_help_everywhere(command: list[str]) -> None:
    """`-h` prints the same help as `--help`, exit 0, for the app and its commands."""
    code, short = _run(*command, "-h")
    assert code == 0 and "Usage:" in short
    assert short == _run(*command, "--help")[1]

"""`chainsim certify` from any directory, over the user's own plans (issue 12 item 2)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chainsim.cli import app

SHIPPED = Path(__file__).resolve().parent.parent / "chainsim" / "certify" / "plans"
PLANS = ("inbound_callback", "acw_survey")  # one EventBridge plan, one triggers plan


def _copy(plans: Path, names: tuple[str, ...] = PLANS) -> Path:
    plans.mkdir()
    for name in names:
        for path in SHIPPED.glob(f"{name}.*"):
            shutil.copy(path, plans / path.name)
    return plans


def _certify(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["certify", *args, "-q"])
    return result.exit_code, result.output


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A scratch directory outside the chainsim checkout, as the current directory."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_certify_own_plans_from_a_scratch_dir(scratch: Path) -> None:
    """Both plans certified: exit 0, each listed with its sha256, report in ./.chainsim/."""
    plans = _copy(scratch / "plans")
    code, output = _certify("--plans", "plans")
    report = scratch / ".chainsim" / "certification.json"
    assert code == 0, output
    assert f"certification report: {report}" in output
    data = json.loads(report.read_text())
    assert data["summary"]["certified"] is True
    listed = {Path(p["path"]).name: p["sha256"] for p in data["plans"]}
    assert set(listed) == {f"{name}.yaml" for name in PLANS}
    import hashlib

    digest = hashlib.sha256((plans / "acw_survey.yaml").read_bytes()).hexdigest()
    assert listed["acw_survey.yaml"] == digest
    assert "CERTIFIED" in (scratch / ".chainsim" / "certification.md").read_text()


def test_certify_a_failing_plan_is_not_certified(scratch: Path) -> None:
    """An inventory that makes the plan fail validation and apply: exit 1, NOT CERTIFIED."""
    plans = _copy(scratch / "plans", ("inbound_callback",))
    inventory = plans / "inbound_callback.inventory.json"
    rules = json.loads(inventory.read_text())
    inventory.write_text(json.dumps(rules[:1]))  # the plan's destinations are gone
    code, output = _certify("--plans", str(plans), "--report", "out/r.json")
    assert code == 1, output
    data = json.loads((scratch / "out" / "r.json").read_text())
    assert data["summary"]["certified"] is False
    assert "NOT CERTIFIED" in output


def test_certify_missing_plans_dir_is_bad_input(scratch: Path) -> None:
    """`--plans missing`: one line naming it, exit 2, no report and no .chainsim/."""
    code, output = _certify("--plans", "missing")
    assert code == 2
    assert output.strip().count("\n") == 0 and "missing" in output
    assert not (scratch / ".chainsim").exists()


def test_certify_without_plans_runs_the_shipped_examples(scratch: Path) -> None:
    """No --plans from a scratch dir: the shipped example plans are certified, exit 0."""
    code, output = _certify("-k", "validates or simulates")
    assert code == 0, output
    data = json.loads((scratch / ".chainsim" / "certification.json").read_text())
    names = {Path(p["path"]).name for p in data["plans"]}
    assert {f"{p.stem}.yaml" for p in SHIPPED.glob("*.yaml")} == names


def test_plans_problem_names_what_is_wrong(tmp_path: Path) -> None:
    """A missing dir, an empty dir and a plan without its inventory each get one line."""
    from chainsim.certify import plans_problem

    assert "not a directory" in str(plans_problem(tmp_path / "nope"))
    assert "no plans" in str(plans_problem(tmp_path))
    (tmp_path / "mine.yaml").write_text("links: []\n")
    assert "mine.inventory.json" in str(plans_problem(tmp_path))
    _copy(tmp_path / "ok", ("acw_survey",))
    assert plans_problem(tmp_path / "ok") is None


def test_plugin_option_refuses_an_empty_plans_dir(
    scratch: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--chainsim-plans EMPTY` is a pytest usage error (exit 4) with one clear line."""
    from chainsim.certify import CERTIFY_DIR, INI

    (scratch / "empty").mkdir()
    args = [str(CERTIFY_DIR), "-c", str(INI), "-p", "no:cacheprovider", "-q"]
    code = pytest.main([*args, "--chainsim-plans", str(scratch / "empty")])
    assert code == pytest.ExitCode.USAGE_ERROR
    assert "--chainsim-plans" in capsys.readouterr().err


def test_certify_bus_must_be_fake_or_live(scratch: Path) -> None:
    """`--bus bogus`: one line, exit 2, before pytest runs."""
    code, output = _certify("--bus", "bogus")
    assert code == 2 and "--bus" in output and not (scratch / ".chainsim").exists()


def test_shipped_example_plans_match_the_checkout_scenarios() -> None:
    """chainsim/certify/plans/ is an exact copy of the valid plans of scenarios/plans/."""
    checkout = SHIPPED.parent.parent.parent / "scenarios" / "plans"
    names = sorted(p.name for p in checkout.iterdir() if p.is_file())
    assert sorted(p.name for p in SHIPPED.iterdir() if p.is_file()) == names
    for name in names:
        assert (SHIPPED / name).read_bytes() == (checkout / name).read_bytes(), name

"""Certifies the example chain plans in scenarios/plans/ with the packaged checks
(`chainsim.certify`): each validates with no error finding against its inventory, its
example event crosses every planned link, and on the fake it applies and re-applies
unchanged. The broken variants under plans/invalid/ fail with exactly the findings they
were written to show.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chainsim.certify import plan_files, plan_report
from chainsim.certify.test_plans import (  # noqa: F401  (collected here over PLANS_DIR)
    pytest_generate_tests,
    test_plan_applies_on_the_fake_and_again_changes_nothing,
    test_plan_simulates,
    test_plan_validates,
)
from chainsim.model import load_plan
from chainsim.probe import load_triggers as load_inventory  # rules or triggers wire JSON
from chainsim.validate import validate_plan

PLANS_DIR = Path(__file__).parent / "plans"
INVALID = {
    "callback_loop.yaml": ("inbound_callback", ["attribute", "transform", "cycle"]),
}


def test_there_are_example_plans() -> None:
    """The scenario set is not empty: at least two example chains ship with chainsim."""
    assert len(plan_files(PLANS_DIR)) >= 2


@pytest.mark.parametrize(
    "name", [p.stem for p in plan_files(PLANS_DIR) if '"topicName"' not in
             p.with_suffix(".inventory.json").read_text()]
)  # fmt: skip
def test_rule_plan_has_no_finding_at_all(name: str) -> None:
    """An EventBridge example plan has no finding at all (not even a warning)."""
    assert plan_report(PLANS_DIR / f"{name}.yaml").findings == ()


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_plan_fails_as_documented(name: str) -> None:
    """A broken variant fails validation with exactly the findings it demonstrates."""
    stem, codes = INVALID[name]
    plan = load_plan(PLANS_DIR / "invalid" / name)
    rules = load_inventory(PLANS_DIR / f"{stem}.inventory.json")
    report = validate_plan(plan, rules)
    assert not report.ok and report.codes() == codes

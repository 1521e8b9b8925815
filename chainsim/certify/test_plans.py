"""Certifies a directory of plans (`--chainsim-plans DIR`, default the shipped examples).

For every `NAME.yaml` with its `NAME.inventory.json` beside it: the plan validates with no
error finding, its example event (`NAME.event.json`, else one generated from the first
trigger's topic) travels the chain within `max_depth`, and on the fake seeded with the
inventory the plan applies and applying it again changes nothing. Each plan is recorded
in the certification report with its sha256.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from chainsim.certify import EXAMPLE_PLANS, apply_twice, plan_files, plan_report, simulate_plan


def plans_dir(config: pytest.Config) -> Path:
    """The plans directory of the run: `--chainsim-plans`, else the shipped examples."""
    chosen = config.getoption("chainsim_plans", None)
    return Path(chosen) if chosen else EXAMPLE_PLANS


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Each test taking `plan_path` runs once per plan of the run's plans directory."""
    if "plan_path" in metafunc.fixturenames:
        directory = getattr(metafunc.module, "PLANS_DIR", None) or plans_dir(metafunc.config)
        plans = plan_files(directory)
        metafunc.parametrize("plan_path", plans, ids=[p.stem for p in plans])


@pytest.mark.chainsim_live_safe
def test_plan_validates(plan_path: Path, certify_plan: Callable[[Path], Path]) -> None:
    """No error finding: what `chainsim validate PLAN --inventory INV` exits 0 on."""
    certify_plan(plan_path)
    report = plan_report(plan_path)
    assert report.ok, report.to_json()


@pytest.mark.chainsim_live_safe
def test_plan_simulates(plan_path: Path) -> None:
    """The plan's event crosses the chain within max_depth, no link missing."""
    simulate_plan(plan_path)


@pytest.mark.chainsim_fake_only
def test_plan_applies_on_the_fake_and_again_changes_nothing(
    plan_path: Path, tmp_path: Path
) -> None:
    """Seeded from the inventory, the fake takes the plan; a second apply is `unchanged`."""
    first, second, _ = apply_twice(plan_path, tmp_path)
    assert first.status in ("applied", "unchanged"), first.to_report()
    assert second.status == "unchanged", second.to_report()

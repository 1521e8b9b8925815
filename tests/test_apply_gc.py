"""The apply run's garbage-collector setting: raised for the run, restored after."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from chainsim.apply import GC_YOUNG_THRESHOLD, Orchestrator, fewer_collections
from tests.orchestrator_rig import make_rule, plan_of, rig


@pytest.fixture
def default_gc() -> Iterator[tuple[int, int, int]]:
    """CPython's default thresholds for the test, whatever they were before."""
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield gc.get_threshold()
    gc.set_threshold(*before)


def test_fewer_collections_raises_the_young_threshold_and_restores_it(default_gc) -> None:
    """Inside: the raised young threshold, older generations as they were; after: as before."""
    with fewer_collections():
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, 10, 10)
    assert gc.get_threshold() == default_gc


def test_fewer_collections_restores_after_an_exception_and_keeps_a_higher_setting(
    default_gc,
) -> None:
    """An exception still restores the setting; a threshold already above is not lowered."""
    with pytest.raises(KeyError), fewer_collections():
        raise KeyError("boom")
    assert gc.get_threshold() == default_gc
    gc.set_threshold(50_000, 3, 4)
    with fewer_collections():
        assert gc.get_threshold() == (50_000, 3, 4)
    assert gc.get_threshold() == (50_000, 3, 4)


def test_the_orchestrator_runs_with_fewer_collections(
    tmp_path: Path, default_gc, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every step of a run sees the raised threshold; the caller's setting is back after."""
    seen: list[tuple[int, int, int]] = []
    steps = Orchestrator._steps

    def spy(self: Orchestrator, *args, **kwargs):
        seen.append(gc.get_threshold())
        return steps(self, *args, **kwargs)

    monkeypatch.setattr(Orchestrator, "_steps", spy)
    with rig(tmp_path, [make_rule(x) for x in "ab"]) as r:
        assert r.orchestrator().apply(plan_of(("a", "b"))).status == "applied"
    assert seen == [(GC_YOUNG_THRESHOLD, 10, 10)] and gc.get_threshold() == default_gc


@pytest.mark.parametrize("verb", ["apply", "destroy"])
def test_the_cli_runners_read_run_and_report_with_fewer_collections(
    verb: str, default_gc, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`chainsim apply`/`destroy` load the plan and deploy under the raised threshold."""
    from chainsim import runners
    from chainsim.model import ChainPlan
    from chainsim.session import Target

    seen: list[tuple[str, tuple[int, int, int]]] = []

    def load(*_: object) -> tuple[ChainPlan, None]:
        seen.append(("load", gc.get_threshold()))
        return ChainPlan(links=[]), None

    def deploy(*_: object) -> int:
        seen.append(("deploy", gc.get_threshold()))
        return 0

    monkeypatch.setattr(runners, "_load_for_deploy", load)
    monkeypatch.setattr(runners, "_deploy", deploy)
    run = runners.run_apply if verb == "apply" else runners.run_destroy
    assert run(Path("plan.yaml"), Target(), runners.ApplyOptions()) == 0
    raised = (GC_YOUNG_THRESHOLD, 10, 10)
    assert seen == [("load", raised), ("deploy", raised)] and gc.get_threshold() == default_gc

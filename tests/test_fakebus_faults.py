"""FaultPlan: the faults file of DESIGN §9 and its seeded dice."""

from __future__ import annotations

from pathlib import Path

import pytest

from chainsim.fakebus.faults import FaultDice, FaultPlan, Latency, ServerErrors, Storm
from chainsim.model import InputError

DESIGN_EXAMPLE = """\
seed: 7
rate_limit: {requests: 300, per_seconds: 60}
storms: [{start: 0, duration: 30, fraction: 0.8, retry_after: 5}]
conflicts: {fraction: 0.3}      # a concurrent writer edits the rule's description first
server_errors: [{start: 0, duration: 10, fraction: 0.2, status: 503}]
latency: {mean_ms: 80, jitter_ms: 20}
token_ttl_seconds: 86400
max_depth: 5                    # the bus's own constraint (422 above it)
"""


def test_design_example_loads(tmp_path: Path) -> None:
    """The faults file shown in DESIGN §9 loads into the matching FaultPlan."""
    path = tmp_path / "faults.yaml"
    path.write_text(DESIGN_EXAMPLE)
    plan = FaultPlan.load(path)
    assert plan.seed == 7
    assert plan.storms == [Storm(start=0, duration=30, fraction=0.8, retry_after=5)]
    assert plan.server_errors[0].status == 503
    assert plan.conflicts.fraction == 0.3
    assert plan.latency == Latency(mean_ms=80, jitter_ms=20)


def test_every_key_is_optional(tmp_path: Path) -> None:
    """An empty file is the no-fault plan with the Genesys default rate limit."""
    path = tmp_path / "empty.yaml"
    path.write_text("")
    plan = FaultPlan.load(path)
    assert plan == FaultPlan()
    assert (plan.rate_limit.requests, plan.rate_limit.per_seconds) == (300, 60)
    assert (plan.token_ttl_seconds, plan.max_depth) == (86400, 5)


@pytest.mark.parametrize(
    ("text", "place"),
    [
        ("stroms: []", "stroms"),
        ("storms: [{start: 0, duration: 5, fraction: 1.5}]", "storms[0].fraction"),
        ("server_errors: [{duration: 5, status: 404}]", "server_errors[0].status"),
        ("rate_limit: {requests: 0}", "rate_limit.requests"),
        ("latency: {mean_ms: 10, jitter_ms: 20}", "latency"),
        ("- 1", ""),
        ("seed: [", "line"),
        # absurd sizes and non-finite numbers would overflow waits and the report
        ("rate_limit: {requests: 300, per_seconds: .inf}", "rate_limit.per_seconds"),
        ("latency: {mean_ms: 1e308}", "latency.mean_ms"),
        ("latency: {mean_ms: .inf}", "latency.mean_ms"),
        ("storms: [{duration: .nan}]", "storms[0].duration"),
        ("storms: [{duration: 5, retry_after: 99999999999999999}]", "storms[0].retry_after"),
        ("token_ttl_seconds: 99999999999999999999", "token_ttl_seconds"),
        ("max_depth: 99999999999999", "max_depth"),
        # mistyped values are refused, not coerced
        ("conflicts: {fraction: true}", "conflicts.fraction"),
        ('seed: "7"', "seed"),
    ],
)
def test_bad_files_raise_input_error_naming_the_place(
    tmp_path: Path, text: str, place: str
) -> None:
    """A bad faults file is one InputError naming the file and the place."""
    path = tmp_path / "faults.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        FaultPlan.load(path)
    assert str(err.value).startswith(str(path))
    assert place in str(err.value)


def test_missing_file_is_input_error(tmp_path: Path) -> None:
    """A faults file that does not exist is an InputError."""
    with pytest.raises(InputError):
        FaultPlan.load(tmp_path / "nope.yaml")


def test_dice_are_deterministic_per_seed_and_independent_per_kind() -> None:
    """Same seed, same draws; latency draws never change which requests a storm hits."""
    plan = FaultPlan(seed=4, storms=[Storm(duration=100, fraction=0.5)])
    noisy = plan.model_copy(update={"latency": Latency(mean_ms=50, jitter_ms=50)})
    a, b, c = FaultDice(plan), FaultDice(plan), FaultDice(noisy)
    storms_a = [a.storm(1.0) is not None for _ in range(50)]
    assert storms_a == [b.storm(1.0) is not None for _ in range(50)]
    storms_c = []
    for _ in range(50):
        c.latency_seconds()
        storms_c.append(c.storm(1.0) is not None)
    assert storms_c == storms_a
    assert FaultDice(FaultPlan(seed=5)).new_id() != FaultDice(plan).new_id()


def test_windows_are_half_open() -> None:
    """A window covers [start, start + duration)."""
    burst = ServerErrors(start=2, duration=3)
    assert [burst.covers(t) for t in (1.99, 2, 4.99, 5)] == [False, True, True, False]
    dice = FaultDice(FaultPlan(server_errors=[burst]))
    assert dice.server_error(1) is None and dice.server_error(2) == 503


def test_the_pacer_stays_near_the_ideal_of_the_default_window(tmp_path: Path) -> None:
    """Against the one-minute window, apply finishes within 5% of the window ideal, <= 1% 429s."""
    import math

    from tests.orchestrator_rig import make_rule, plan_of, rig

    rules = [make_rule(f"s{i:03d}") for i in range(650)] + [make_rule("sink")]
    plan = plan_of(*[(f"s{i:03d}", "sink") for i in range(650)])
    with rig(tmp_path, rules) as r:
        result = r.orchestrator(journal_path=None, audit=None).apply(plan)
        api = [rec for rec in r.fake.requests if rec.path.startswith("/api/")]
    granted = [rec for rec in api if rec.status != 429]
    ideal = (math.ceil(len(granted) / 300) - 1) * 60.0  # when the last window opens
    assert result.status == "applied"
    assert len(api) - len(granted) <= 0.01 * len(api)
    assert ideal <= r.clock.now() <= 1.05 * ideal

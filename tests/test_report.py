"""Unit tests for the certification report (chainsim/report.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chainsim.report import (
    SCHEMA,
    CertificationReport,
    LatencySample,
    ScenarioResult,
    dialect_of,
    distribution,
    latency_bins,
    latency_figure,
    load_report,
    sibling,
    write_report,
)


def _report(samples: int = 10) -> CertificationReport:
    return CertificationReport(
        run_id="abc123",
        bus="fake",
        dialect="eventbridge+triggers",
        created="2026-01-01T00:00:00+00:00",
        hypothesis_profile="ci",
        scenarios=[
            ScenarioResult(
                "scenarios/test_a.py::test_ok[triggers]", "passed", 0.5, ("chainsim_live_safe",)
            ),
            ScenarioResult(
                "scenarios/test_b.py::test_storm", "failed", 1.25, ("chainsim_fake_only",), "boom"
            ),
            ScenarioResult("scenarios/test_c.py::test_live", "skipped", 0.0, (), "live only"),
        ],
        samples=[
            LatencySample(virtual=i * 0.1, wall=i * 0.001, scenario="s")
            for i in range(1, samples + 1)
        ],
        other_tests={"passed": 4, "failed": 1},
        others=[ScenarioResult("tests/test_x.py::test_y", "failed", 0.1, (), "user bug")],
        api_host="https://api.mypurecloud.com",
        api_backend="fake: in-process FakeBus behind respx; no request left this process",
        org={"id": None, "name": None, "reason": "the fake bus has no organization"},
        plans=[{"path": "plans/a.yaml", "sha256": "ab" * 32}],
        exit_status=1,
    )


def test_distribution_of_nothing_is_empty() -> None:
    """An empty sample gives count 0 and no percentiles."""
    assert distribution([]) == {
        "count": 0,
        "p50": None,
        "p95": None,
        "p99": None,
        "max": None,
        "mean": None,
    }


def test_distribution_of_one_value() -> None:
    """A single sample is every percentile, the max and the mean."""
    d = distribution([0.25])
    assert d["count"] == 1
    assert d["p50"] == d["p95"] == d["p99"] == d["max"] == d["mean"] == 0.25


def test_distribution_percentiles_are_interpolated_and_ordered() -> None:
    """For 1..100 the inclusive percentiles are 50.5, 95.05, 99.01 and max is 100."""
    d = distribution([float(v) for v in range(100, 0, -1)])
    assert d["count"] == 100
    assert d["p50"] == pytest.approx(50.5)
    assert d["p95"] == pytest.approx(95.05)
    assert d["p99"] == pytest.approx(99.01)
    assert d["max"] == 100.0
    values = [d[k] for k in ("p50", "p95", "p99", "max")]
    assert values == sorted(float(v or 0) for v in values)


def test_summary_counts_outcomes_and_verdict() -> None:
    """A failed scenario makes the run not certified; skips do not."""
    summary = _report().summary()
    assert summary["total"] == 3
    assert (summary["passed"], summary["failed"], summary["skipped"]) == (1, 1, 1)
    assert summary["duration"] == pytest.approx(1.75)
    assert summary["certified"] is False
    passed = ScenarioResult("p", "passed", 0)
    ours = ScenarioResult("t", "skipped", 0, (), "live only", skipped_by="chainsim")
    ok = CertificationReport("r", "fake", "eventbridge", scenarios=[passed, ours])
    assert ok.summary()["certified"] is True
    theirs = ScenarioResult("t", "skipped", 0, (), "not today", skipped_by="test")
    user_skip = CertificationReport("r", "fake", "eventbridge", scenarios=[passed, theirs])
    assert user_skip.summary()["certified"] is False
    only_skips = CertificationReport("r", "fake", "eventbridge", scenarios=[ours])
    assert only_skips.summary()["blockers"] == ["no test passed"]


def test_a_run_without_scenarios_is_not_certified() -> None:
    """Nothing ran, nothing is certified."""
    assert CertificationReport("r", "fake", "eventbridge", "e").summary()["certified"] is False


def test_json_round_trip_keeps_everything() -> None:
    """to_dict -> from_dict gives back an equal report."""
    report = _report()
    again = CertificationReport.from_dict(json.loads(json.dumps(report.to_dict())))
    assert again.to_dict() == report.to_dict()


def test_from_dict_refuses_other_documents() -> None:
    """A JSON document without the certification schema is refused with its schema named."""
    with pytest.raises(ValueError, match="not a chainsim certification report"):
        CertificationReport.from_dict({"schema": "other"})


def test_json_document_has_the_documented_fields() -> None:
    """The JSON carries run id, bus, dialect, env, versions, scenarios and the latency block."""
    doc = _report().to_dict()
    assert doc["schema"] == SCHEMA
    assert {
        "run_id",
        "bus",
        "dialect",
        "env",
        "versions",
        "summary",
        "apply_latency",
        "scenarios",
    } <= set(doc)
    assert set(doc["versions"]) == {"chainsim", "sdk"}
    lat = doc["apply_latency"]
    assert lat["count"] == 10
    assert set(lat["virtual_seconds"]) == {"count", "p50", "p95", "p99", "max", "mean"}
    assert lat["virtual_seconds"]["max"] == pytest.approx(1.0)
    assert lat["wall_seconds"]["max"] == pytest.approx(0.01)
    assert [s["nodeid"] for s in doc["scenarios"]] == sorted(s["nodeid"] for s in doc["scenarios"])


def test_versions_are_read_without_importing_the_sdk() -> None:
    """The chainsim and SDK versions come from the installed package metadata."""
    report = _report()
    assert report.chainsim_version
    assert report.sdk_version is not None and report.sdk_version[0].isdigit()


def test_markdown_has_verdict_latency_table_and_rows() -> None:
    """The Markdown names the verdict, the p50/p95/p99 table and one row per scenario."""
    md = _report().to_markdown(plot="cert.png")
    assert md.startswith("# chainsim certification: NOT CERTIFIED")
    assert "| clock | p50 | p95 | p99 | max | mean |" in md
    assert "| virtual |" in md and "| wall |" in md
    assert "`scenarios/test_a.py::test_ok[triggers]` | passed" in md
    assert "![apply latency](cert.png)" in md
    assert "- `scenarios/test_b.py::test_storm` (failed): boom" in md
    assert "other tests in the same run: 1 failed, 4 passed" in md


def test_markdown_head_states_where_the_run_ran() -> None:
    """The head names bus, dialect, api_host and backend, org, versions, plans and blockers."""
    report = _report()
    head = report.to_markdown().split("## Summary")[0]
    assert "- bus: fake; dialect: eventbridge+triggers\n" in head  # no env on the fake
    assert (
        "- api_host: https://api.mypurecloud.com (fake: in-process FakeBus behind respx; "
        "no request left this process)" in head
    )
    assert "- org: unknown (the fake bus has no organization)" in head
    assert f"- chainsim {report.chainsim_version}; PureCloudPlatformClientV2 " in head
    assert f"  - `plans/a.yaml` sha256 `{'ab' * 32}`" in head
    assert "## Why not certified (3)" in head
    assert "- `tests/test_x.py::test_y` failed: user bug" in head
    assert "- `scenarios/test_c.py::test_live` skipped by the test, not by chainsim" in head
    report.bus, report.env, report.org = "live", "mypurecloud.de", {"id": "o-1", "name": "Acme"}
    live = report.to_markdown()
    assert "- bus: live; dialect: eventbridge+triggers; env: mypurecloud.de" in live
    assert "- org: Acme (`o-1`)" in live


def test_every_skip_is_listed_with_reason_and_origin() -> None:
    """`skipped` in the JSON and the Markdown table list each skip, its reason and who."""
    report = _report()
    report.scenarios.append(
        ScenarioResult("scenarios/test_e.py::test_pinned", "skipped", 0, (), "why", "chainsim")
    )
    assert report.to_dict()["skipped"] == [
        {"nodeid": "scenarios/test_c.py::test_live", "reason": "live only", "skipped_by": "test"},
        {"nodeid": "scenarios/test_e.py::test_pinned", "reason": "why", "skipped_by": "chainsim"},
    ]
    md = report.to_markdown()
    assert "## Skipped tests (2)" in md
    assert "| `scenarios/test_e.py::test_pinned` | chainsim | why |" in md


def test_blockers_cover_every_way_a_run_fails() -> None:
    """Failures, errors, xpasses, xfails, a test's own skip, a skip without reason, unrun tests."""
    ok = ScenarioResult("a", "passed", 0)
    cases = {
        ScenarioResult("b", "failed", 0, (), "boom"): "failed: boom",
        ScenarioResult("b", "error", 0): "error",
        ScenarioResult("b", "xpassed", 0): "xpassed",
        ScenarioResult("b", "xfailed", 0, (), "bug"): "xfailed",
        ScenarioResult("b", "skipped", 0, (), "mine", "test"): "skipped by the test",
        ScenarioResult("b", "skipped", 0, (), " ", "chainsim"): "skipped without a reason",
    }
    for result, why in cases.items():
        report = CertificationReport("r", "fake", "triggers", others=[result], scenarios=[ok])
        assert report.summary()["certified"] is False
        assert report.blockers()[0].startswith(f"`b` {why}")
    fine = CertificationReport("r", "fake", "triggers", scenarios=[ok])
    assert fine.blockers() == [] and fine.summary()["certified"] is True
    fine.not_run = ["c"]
    assert fine.blockers() == ["`c` collected but never ran"]
    fine.not_run, fine.exit_status = [], 3
    assert fine.blockers() == ["pytest exited with status 3"]
    fine.exit_status = 0
    fine.collection_errors = [{"nodeid": "t.py", "message": "ImportError: x"}]
    assert fine.blockers() == ["`t.py` collection error: ImportError: x"]


def test_latency_bins_hold_every_sample_including_zeros() -> None:
    """Bins cover zeros and the long tail, so no sample is left out of the histogram."""
    for values in ([0.0, 0.0, 1.0, 2.0, 500.0], [0.0, 1.0, 2.0, 3.0], [5.0], [0.0, 0.0]):
        edges, _ = latency_bins(values)
        assert edges[0] <= min(values) and max(values) <= edges[-1]
        assert edges == sorted(edges)
    assert latency_bins([0.0, 1.0, 500.0])[1] == "symlog"
    assert latency_bins([1.0, 2.0])[1] == "linear"


def test_plot_shows_all_samples_and_marks_p95() -> None:
    """Each histogram counts every sample (zeros too, none only in a title) and marks p95."""
    pytest.importorskip("matplotlib")
    report = _report(samples=0)
    report.samples = [LatencySample(v, 0.0) for v in (0.0, 0.0, 0.1, 0.2, 30.0)]
    fig = latency_figure(report)
    for ax in fig.axes:
        assert sum(patch.get_height() for patch in ax.patches) == 5
        labels = [line.get_label() for line in ax.get_lines()]
        assert any(label.startswith("p95 ") for label in labels)
        assert "at 0 ms" not in ax.get_title() and "5 samples" in ax.get_title()


def test_markdown_without_samples_says_so() -> None:
    """With no apply recorded, the latency section says so instead of a table."""
    md = _report(samples=0).to_markdown()
    assert "No apply was recorded." in md


def test_sibling_paths() -> None:
    """`cert.json` -> `cert.md`; a path without a suffix gets one appended."""
    assert sibling("out/cert.json", ".md") == Path("out/cert.md")
    assert sibling("out/cert", ".md") == Path("out/cert.md")


def test_write_report_writes_json_markdown_and_png(tmp_path: Path) -> None:
    """write_report writes valid JSON, the Markdown beside it and a PNG when matplotlib is there."""
    path = tmp_path / "reports" / "cert.json"
    written = write_report(_report(), path)
    assert written[:2] == [path, tmp_path / "reports" / "cert.md"]
    assert load_report(path).run_id == "abc123"
    assert (tmp_path / "reports" / "cert.md").read_text().startswith("# chainsim certification")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert len(written) == 2
    else:
        png = tmp_path / "reports" / "cert.png"
        assert written[2] == png
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_write_report_without_png(tmp_path: Path) -> None:
    """png=False writes only the JSON and the Markdown."""
    written = write_report(_report(), tmp_path / "cert.json", png=False)
    assert [p.name for p in written] == ["cert.json", "cert.md"]
    assert not (tmp_path / "cert.png").exists()


def test_markdown_names_the_system_clock_on_a_live_run() -> None:
    """Against a live org the run's clock is the system clock, and the table says so."""
    report = _report()
    report.bus = "live"
    md = report.to_markdown()
    assert "| system clock |" in md and "| virtual |" not in md


def test_summary_counts_outcomes_per_dialect() -> None:
    """Scenarios are counted per dialect from their parameter id; others under `any`."""
    by = _report().summary()["by_dialect"]
    assert by == {"any": {"failed": 1, "skipped": 1}, "triggers": {"passed": 1}}
    assert dialect_of("s.py::t[eventbridge-500]") == "eventbridge"
    assert dialect_of("s.py::t[3-triggers]") == "triggers"
    assert dialect_of("s.py::t[x]") == dialect_of("s.py::t") == "any"
    assert "- triggers: 1 passed" in _report().to_markdown()


def test_markdown_rows_survive_pipes_and_backticks_in_node_ids() -> None:
    """A node id with `|` or a backtick stays inside its table cell."""
    report = _report()
    report.scenarios.append(
        ScenarioResult("scenarios/test_d.py::test_x[a|b-`c`]", "passed", 0.1, ())
    )
    row = next(line for line in report.to_markdown().splitlines() if "test_d.py" in line)
    assert row.replace("\\|", "").count("|") == 5
    assert row.startswith("| `` scenarios/test_d.py::test_x[a\\|b-`c`] `` | passed |")

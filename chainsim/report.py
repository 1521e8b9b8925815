"""The certification report: each scenario's outcome and the apply-latency distribution.

Plain data and the standard library only (the pytest plugin loads it at startup), so
building a report costs nothing; matplotlib is imported only to draw the optional PNG
(extra `report`). `write_report(report, "cert.json")` writes `cert.json`, `cert.md`
and, when matplotlib is installed, `cert.png`.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from chainsim.bus import DIALECTS

SCHEMA = "chainsim.certification/1"
OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")


@dataclass(frozen=True)
class ScenarioResult:
    """One scenario as it ended: pytest node id, outcome, seconds, markers, short reason."""

    nodeid: str
    outcome: str
    duration: float
    markers: tuple[str, ...] = ()
    message: str = ""
    skipped_by: str = ""  # a skip: `chainsim` (its markers/fixtures) or `test` (anything else)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScenarioResult:
        """Rebuild from the JSON form."""
        return cls(
            nodeid=str(data["nodeid"]),
            outcome=str(data["outcome"]),
            duration=float(data["duration"]),
            markers=tuple(data.get("markers", ())),
            message=str(data.get("message", "")),
            skipped_by=str(data.get("skipped_by", "")),
        )

    def blocker(self) -> str | None:
        """Why this test keeps the run from being certified (None: it does not)."""
        if self.outcome in ("failed", "error", "xpassed"):
            return f"{self.outcome}: {self.message}" if self.message else self.outcome
        if self.outcome == "xfailed":
            return "xfailed (an expected failure is not a pass)"
        if self.outcome == "skipped" and self.skipped_by != "chainsim":
            return f"skipped by the test, not by chainsim: {self.message or 'no reason given'}"
        if self.outcome == "skipped" and not self.message.strip():
            return "skipped without a reason"
        return None


@dataclass(frozen=True)
class LatencySample:
    """How long one apply took: seconds on the run's clock (virtual on the fake) and real."""

    virtual: float
    wall: float
    scenario: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LatencySample:
        """Rebuild from the JSON form."""
        return cls(float(data["virtual"]), float(data["wall"]), str(data.get("scenario", "")))


def distribution(values: Sequence[float]) -> dict[str, float | int | None]:
    """Count, p50, p95, p99, max and mean of `values` (percentiles interpolated, inclusive)."""
    data = sorted(float(v) for v in values)
    if not data:
        return {"count": 0, "p50": None, "p95": None, "p99": None, "max": None, "mean": None}
    if len(data) == 1:
        p50 = p95 = p99 = data[0]
    else:
        cuts = statistics.quantiles(data, n=100, method="inclusive")
        p50, p95, p99 = cuts[49], cuts[94], cuts[98]
    return {
        "count": len(data),
        "p50": p50,
        "p95": p95,
        "p99": p99,
        "max": data[-1],
        "mean": statistics.fmean(data),
    }


def package_version(name: str) -> str | None:
    """An installed distribution's version without importing it (None if absent)."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


@dataclass
class CertificationReport:
    """A certification run: where it ran, every test's outcome and skip, apply latencies.

    `api_host` is the exact API base URL used and `api_backend` says what answered it (the
    in-process fake, or a live client); `org` is the live org's id and name, or None
    with the reason; `plans` the plan files certified with their sha256; `others` the
    tests outside the scenarios that did not pass; `not_run` tests collected but never
    reported (say after `-x`); `exit_status` pytest's exit status.
    """

    run_id: str
    bus: str
    dialect: str
    env: str | None = None
    created: str = ""
    api_host: str = ""
    api_backend: str = ""
    org: dict[str, Any] = field(
        default_factory=lambda: {"id": None, "name": None, "reason": "not recorded"}
    )
    hypothesis_profile: str | None = None
    chainsim_version: str | None = field(default_factory=lambda: package_version("chainsim"))
    sdk_version: str | None = field(
        default_factory=lambda: package_version("PureCloudPlatformClientV2")
    )
    scenarios: list[ScenarioResult] = field(default_factory=list)
    samples: list[LatencySample] = field(default_factory=list)
    other_tests: dict[str, int] = field(default_factory=dict)
    others: list[ScenarioResult] = field(default_factory=list)
    plans: list[dict[str, str]] = field(default_factory=list)
    collection_errors: list[dict[str, str]] = field(default_factory=list)
    not_run: list[str] = field(default_factory=list)
    exit_status: int | None = None

    def blockers(self) -> list[str]:
        """Every reason the run is not certified, one line each (empty: nothing blocks)."""
        found = [
            f"{_code(t.nodeid)} {why}"
            for t in sorted([*self.scenarios, *self.others], key=lambda t: t.nodeid)
            if (why := t.blocker()) is not None
        ]
        found += [
            f"{_code(e['nodeid'])} collection error: {_one_line(e['message'])}"
            for e in self.collection_errors
        ]
        found += [f"{_code(n)} collected but never ran" for n in self.not_run]
        if self.exit_status not in (None, 0) and not found:
            found.append(f"pytest exited with status {self.exit_status}")
        if not any(s.outcome == "passed" for s in self.scenarios) and not self.other_tests.get(
            "passed"
        ):
            found.append("no test passed")
        return found

    @property
    def ok(self) -> bool:
        """True when nothing blocks the verdict (see `blockers`)."""
        return not self.blockers()

    def skips(self) -> list[dict[str, str]]:
        """Every skipped test: node id, reason and who skipped it (`chainsim` or `test`)."""
        return [
            {"nodeid": t.nodeid, "reason": t.message, "skipped_by": t.skipped_by or "test"}
            for t in sorted([*self.scenarios, *self.others], key=lambda t: t.nodeid)
            if t.outcome == "skipped"
        ]

    def summary(self) -> dict[str, Any]:
        """Outcome counts (overall and per dialect), total scenario seconds, the verdict.

        `certified` is true only when every test of the run passed or was skipped by
        chainsim for a stated reason, and at least one passed.
        """
        counts = Counter(s.outcome for s in self.scenarios)
        by_dialect: dict[str, Counter[str]] = {}
        for s in self.scenarios:
            by_dialect.setdefault(dialect_of(s.nodeid), Counter())[s.outcome] += 1
        return {
            "total": len(self.scenarios),
            **{name: counts.get(name, 0) for name in OUTCOMES},
            "duration": round(sum(s.duration for s in self.scenarios), 6),
            "certified": self.ok,
            "blockers": self.blockers(),
            "by_dialect": {d: dict(sorted(c.items())) for d, c in sorted(by_dialect.items())},
        }

    def latency(self) -> dict[str, Any]:
        """The apply-latency distribution in seconds, virtual and wall, over every sample."""
        return {
            "count": len(self.samples),
            "virtual_seconds": distribution([s.virtual for s in self.samples]),
            "wall_seconds": distribution([s.wall for s in self.samples]),
        }

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (schema `chainsim.certification/1`)."""
        return {
            "schema": SCHEMA,
            "run_id": self.run_id,
            "created": self.created,
            "bus": self.bus,
            "dialect": self.dialect,
            "env": self.env,
            "api_host": self.api_host,
            "api_backend": self.api_backend,
            "org": dict(self.org),
            "hypothesis_profile": self.hypothesis_profile,
            "versions": {"chainsim": self.chainsim_version, "sdk": self.sdk_version},
            "plans": [dict(p) for p in self.plans],
            "exit_status": self.exit_status,
            "summary": self.summary(),
            "skipped": self.skips(),
            "apply_latency": self.latency(),
            "scenarios": [
                {**asdict(s), "markers": list(s.markers)}
                for s in sorted(self.scenarios, key=lambda s: s.nodeid)
            ],
            "other_tests": dict(sorted(self.other_tests.items())),
            "others": [
                {**asdict(t), "markers": list(t.markers)}
                for t in sorted(self.others, key=lambda t: t.nodeid)
            ],
            "collection_errors": [dict(e) for e in self.collection_errors],
            "not_run": list(self.not_run),
            "samples": [asdict(s) for s in self.samples],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CertificationReport:
        """Rebuild a report from its JSON document."""
        if data.get("schema") != SCHEMA:
            raise ValueError(f"not a chainsim certification report (schema {data.get('schema')!r})")
        versions = data.get("versions", {})
        return cls(
            run_id=data["run_id"],
            bus=data["bus"],
            dialect=data["dialect"],
            env=data.get("env"),
            created=data.get("created", ""),
            api_host=data.get("api_host", ""),
            api_backend=data.get("api_backend", ""),
            org=dict(data.get("org") or {"id": None, "name": None, "reason": "not recorded"}),
            hypothesis_profile=data.get("hypothesis_profile"),
            chainsim_version=versions.get("chainsim"),
            sdk_version=versions.get("sdk"),
            scenarios=[ScenarioResult.from_dict(s) for s in data.get("scenarios", [])],
            samples=[LatencySample.from_dict(s) for s in data.get("samples", [])],
            other_tests=dict(data.get("other_tests", {})),
            others=[ScenarioResult.from_dict(t) for t in data.get("others", [])],
            plans=[dict(p) for p in data.get("plans", [])],
            collection_errors=[dict(e) for e in data.get("collection_errors", [])],
            not_run=list(data.get("not_run", [])),
            exit_status=data.get("exit_status"),
        )

    def clock_labels(self) -> tuple[str, str]:
        """Names of the two clocks: the run's clock (virtual on the fake) and the wall clock."""
        return ("system clock" if self.bus == "live" else "virtual", "wall")

    def to_markdown(self, *, plot: str | None = None) -> str:
        """The report as Markdown: header, verdict, latency table, one row per scenario."""
        summary = self.summary()
        verdict = "CERTIFIED" if summary["certified"] else "NOT CERTIFIED"
        env = f"; env: {self.env}" if self.env else ""
        lines = [
            f"# chainsim certification: {verdict}",
            "",
            f"- run id: `{self.run_id}`",
            f"- created: {self.created or 'n/a'}",
            f"- bus: {self.bus}; dialect: {self.dialect}{env}",
            f"- api_host: {self.api_host or 'n/a'} ({self.api_backend or 'n/a'})",
            f"- org: {self.org_line()}",
            f"- chainsim {self.chainsim_version or 'n/a'}; "
            f"PureCloudPlatformClientV2 {self.sdk_version or 'n/a'}",
            f"- Hypothesis profile: {self.hypothesis_profile or 'n/a'}",
        ]
        if self.plans:
            lines.append(f"- plans certified ({len(self.plans)}):")
            lines += [f"  - {_code(p['path'])} sha256 `{p['sha256']}`" for p in self.plans]
        else:
            lines.append("- plans certified: none recorded")
        blockers = summary["blockers"]
        if blockers:
            lines += ["", f"## Why not certified ({len(blockers)})", ""]
            lines += [f"- {_one_line(b, 300)}" for b in blockers[:50]]
            if len(blockers) > 50:
                lines.append(f"- ... and {len(blockers) - 50} more (see the JSON report)")
        lines += [
            "",
            "## Summary",
            "",
            f"{summary['total']} scenarios: "
            + ", ".join(f"{summary[o]} {o}" for o in OUTCOMES if summary[o])
            + f" in {summary['duration']:.2f} s",
        ]
        for dialect, counts in summary["by_dialect"].items():
            done = ", ".join(f"{n} {o}" for o, n in counts.items())
            lines.append(f"- {dialect}: {done}")
        if self.other_tests:
            others = ", ".join(f"{n} {o}" for o, n in sorted(self.other_tests.items()))
            lines.append(f"(other tests in the same run: {others})")
        lines += ["", "## Apply latency", ""]
        lat = self.latency()
        if lat["count"]:
            lines += [
                f"{lat['count']} applies (gathered across Hypothesis examples and scenarios).",
                "",
                "| clock | p50 | p95 | p99 | max | mean |",
                "|---|---:|---:|---:|---:|---:|",
            ]
            for clock, label in zip(
                ("virtual_seconds", "wall_seconds"), self.clock_labels(), strict=True
            ):
                d = lat[clock]
                cells = " | ".join(_fmt_seconds(d[k]) for k in ("p50", "p95", "p99", "max", "mean"))
                lines.append(f"| {label} | {cells} |")
            if plot:
                lines += ["", f"![apply latency]({plot})"]
        else:
            lines.append("No apply was recorded.")
        lines += ["", "## Scenarios", "", "| scenario | outcome | seconds | markers |"]
        lines.append("|---|---|---:|---|")
        for s in sorted(self.scenarios, key=lambda s: s.nodeid):
            marks = ", ".join(s.markers)
            lines.append(f"| {_code(s.nodeid)} | {s.outcome} | {s.duration:.2f} | {marks} |")
        skips = self.skips()
        lines += ["", f"## Skipped tests ({len(skips)})", ""]
        if skips:
            lines += ["| test | skipped by | reason |", "|---|---|---|"]
            for skip in skips:
                reason = _one_line(skip["reason"]).replace("|", "\\|") or "(no reason given)"
                lines.append(f"| {_code(skip['nodeid'])} | {skip['skipped_by']} | {reason} |")
        else:
            lines.append("None.")
        failures = [
            s
            for s in [*self.scenarios, *self.others]
            if s.message and s.outcome not in ("skipped", "passed")
        ]
        if failures:
            lines += ["", "## Failures", ""]
            for s in sorted(failures, key=lambda s: s.nodeid):
                lines.append(f"- {_code(s.nodeid)} ({s.outcome}): {_one_line(s.message)}")
        return "\n".join(lines) + "\n"

    def org_line(self) -> str:
        """The org as one line: `name (id)`, or `unknown (reason)`."""
        if self.org.get("id"):
            return f"{self.org.get('name') or 'n/a'} (`{self.org['id']}`)"
        return f"unknown ({self.org.get('reason') or 'no reason recorded'})"


def dialect_of(nodeid: str) -> str:
    """The dialect a test ran in, from its parameter id (`test_x[triggers-500]`), or `any`."""
    if not nodeid.endswith("]") or "[" not in nodeid:
        return "any"
    params = nodeid[nodeid.rindex("[") + 1 : -1].split("-")
    return next((p for p in params if p in DIALECTS), "any")


def _code(text: str) -> str:
    """`text` as inline code in a Markdown table cell (pipes escaped, backticks fenced)."""
    text = text.replace("|", "\\|")
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def _fmt_seconds(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.3f} s"


def _one_line(text: str, limit: int = 200) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def sibling(path: str | Path, suffix: str) -> Path:
    """`report.json` -> `report.md` (a path without a suffix gets one appended)."""
    path = Path(path)
    return path.with_suffix(suffix) if path.suffix else path.with_name(path.name + suffix)


def latency_bins(values: Sequence[float], count: int = 30) -> tuple[list[float], str]:
    """Histogram edges covering every value (zeros included) and the x scale to draw them on.

    A long tail (max over 50 times the smallest positive value) gets geometric edges on
    a symlog axis, plus a narrow first bin at 0, so instant applies are counted too.
    """
    data = sorted(float(v) for v in values)
    if not data:
        return [0.0, 1.0], "linear"
    low, high = data[0], data[-1]
    positive = [v for v in data if v > 0]
    n = min(count, max(5, len(data) // 3))
    if positive and high > 50 * positive[0]:
        first = positive[0]
        edges = [first * (high / first) ** (i / n) for i in range(n + 1)]
        edges[-1] = high  # no float drift past the largest sample
        if low < first:  # instant applies: a narrow bar at 0, an empty gap up to `first`
            edges[:0] = [min(0.0, low), first / 10]
        return edges, "symlog"
    if high == low:
        return [low - 0.5, high + 0.5], "linear"
    step = (high - low) / n
    edges = [low + i * step for i in range(n)] + [high]
    return edges, "linear"


def latency_figure(report: CertificationReport) -> Any:
    """A matplotlib Figure: one histogram per clock of every sample, p50/p95/p99 marked."""
    from matplotlib.figure import Figure  # no pyplot: no global backend or figure state

    fig = Figure(figsize=(10, 3.6))
    axes = fig.subplots(1, 2)
    titles = [
        f"{label} clock" if label != "system clock" else label for label in report.clock_labels()
    ]
    for ax, attr, title in zip(axes, ("virtual", "wall"), titles, strict=True):
        values = [getattr(s, attr) * 1000 for s in report.samples]
        if values:
            edges, scale = latency_bins(values)
            ax.hist(values, bins=edges, color="#3b6ea5", label=f"{len(values)} applies")
            if scale == "symlog":
                ax.set_xscale("symlog", linthresh=min(v for v in values if v > 0))
            stats = distribution(values)
            for q, style, width in (("p50", ":", 1.0), ("p95", "-", 2.0), ("p99", "--", 1.0)):
                at = float(stats[q] or 0)
                ax.axvline(
                    at,
                    color="#c0392b",
                    linestyle=style,
                    linewidth=width,
                    label=f"{q} {_fmt_seconds(at / 1000)}",
                )
            ax.legend(fontsize="small")
        ax.set_title(f"apply latency, {title} ({len(values)} samples)")
        ax.set_xlabel("ms")
        ax.set_ylabel("applies")
    fig.tight_layout()
    return fig


def plot_latency(report: CertificationReport, path: str | Path) -> Path | None:
    """Draw the apply-latency histograms (virtual and wall) to PNG; None without matplotlib."""
    try:
        fig = latency_figure(report)
    except ImportError:
        return None
    path = Path(path)
    fig.savefig(path, dpi=100)
    return path


def write_report(report: CertificationReport, path: str | Path, *, png: bool = True) -> list[Path]:
    """Write `path` (JSON), `path` with `.md` and, if matplotlib is there, `.png`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    written = [path]
    plot = plot_latency(report, sibling(path, ".png")) if png and report.samples else None
    path.write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
    md = sibling(path, ".md")
    md.write_text(report.to_markdown(plot=plot.name if plot else None), encoding="utf-8")
    written.append(md)
    if plot:
        written.append(plot)
    return written


def load_report(path: str | Path) -> CertificationReport:
    """Read a report written by `write_report`."""
    return CertificationReport.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def samples_from(rows: Iterable[Mapping[str, Any]]) -> list[LatencySample]:
    """Latency samples from their JSON form (as passed between xdist workers)."""
    return [LatencySample.from_dict(row) for row in rows]

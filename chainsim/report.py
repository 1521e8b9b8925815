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

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScenarioResult:
        """Rebuild from the JSON form."""
        return cls(
            nodeid=str(data["nodeid"]),
            outcome=str(data["outcome"]),
            duration=float(data["duration"]),
            markers=tuple(data.get("markers", ())),
            message=str(data.get("message", "")),
        )


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
    """A certification run: where it ran, every scenario's outcome, apply latencies."""

    run_id: str
    bus: str
    dialect: str
    env: str
    created: str = ""
    hypothesis_profile: str | None = None
    chainsim_version: str | None = field(default_factory=lambda: package_version("chainsim"))
    sdk_version: str | None = field(
        default_factory=lambda: package_version("PureCloudPlatformClientV2")
    )
    scenarios: list[ScenarioResult] = field(default_factory=list)
    samples: list[LatencySample] = field(default_factory=list)
    other_tests: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when no scenario failed or errored (skips are allowed)."""
        return not any(s.outcome in ("failed", "error", "xpassed") for s in self.scenarios)

    def summary(self) -> dict[str, Any]:
        """Outcome counts (overall and per dialect), total scenario seconds, the verdict."""
        counts = Counter(s.outcome for s in self.scenarios)
        by_dialect: dict[str, Counter[str]] = {}
        for s in self.scenarios:
            by_dialect.setdefault(dialect_of(s.nodeid), Counter())[s.outcome] += 1
        return {
            "total": len(self.scenarios),
            **{name: counts.get(name, 0) for name in OUTCOMES},
            "duration": round(sum(s.duration for s in self.scenarios), 6),
            "certified": self.ok and bool(self.scenarios),
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
            "hypothesis_profile": self.hypothesis_profile,
            "versions": {"chainsim": self.chainsim_version, "sdk": self.sdk_version},
            "summary": self.summary(),
            "apply_latency": self.latency(),
            "scenarios": [
                {**asdict(s), "markers": list(s.markers)}
                for s in sorted(self.scenarios, key=lambda s: s.nodeid)
            ],
            "other_tests": dict(sorted(self.other_tests.items())),
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
            env=data["env"],
            created=data.get("created", ""),
            hypothesis_profile=data.get("hypothesis_profile"),
            chainsim_version=versions.get("chainsim"),
            sdk_version=versions.get("sdk"),
            scenarios=[ScenarioResult.from_dict(s) for s in data.get("scenarios", [])],
            samples=[LatencySample.from_dict(s) for s in data.get("samples", [])],
            other_tests=dict(data.get("other_tests", {})),
        )

    def clock_labels(self) -> tuple[str, str]:
        """Names of the two clocks: the run's clock (virtual on the fake) and the wall clock."""
        return ("system clock" if self.bus == "live" else "virtual", "wall")

    def to_markdown(self, *, plot: str | None = None) -> str:
        """The report as Markdown: header, verdict, latency table, one row per scenario."""
        summary = self.summary()
        verdict = "CERTIFIED" if summary["certified"] else "NOT CERTIFIED"
        lines = [
            f"# chainsim certification: {verdict}",
            "",
            f"- run id: `{self.run_id}`",
            f"- created: {self.created or 'n/a'}",
            f"- bus: {self.bus}; dialect: {self.dialect}; env: {self.env}",
            f"- Hypothesis profile: {self.hypothesis_profile or 'n/a'}",
            f"- chainsim {self.chainsim_version or 'n/a'}; "
            f"PureCloudPlatformClientV2 {self.sdk_version or 'n/a'}",
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
        failures = [s for s in self.scenarios if s.message]
        if failures:
            lines += ["", "## Failures and skips", ""]
            for s in sorted(failures, key=lambda s: s.nodeid):
                lines.append(f"- {_code(s.nodeid)} ({s.outcome}): {_one_line(s.message)}")
        return "\n".join(lines) + "\n"


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


def plot_latency(report: CertificationReport, path: str | Path) -> Path | None:
    """Draw the apply-latency histogram (virtual and wall) to PNG; None without matplotlib."""
    try:
        from matplotlib.figure import Figure  # no pyplot: no global backend or figure state
    except ImportError:
        return None
    path = Path(path)
    fig = Figure(figsize=(10, 3.6))
    axes = fig.subplots(1, 2)
    titles = [
        f"{label} clock" if label != "system clock" else label for label in report.clock_labels()
    ]
    for ax, attr, title in zip(axes, ("virtual", "wall"), titles, strict=True):
        everything = [getattr(s, attr) * 1000 for s in report.samples]
        values = [v for v in everything if v > 0]
        bins: Any = min(30, max(5, len(values) // 3))
        if values and max(values) > 50 * min(values):  # long tail (storms): log scale
            import numpy as np  # a matplotlib dependency

            bins = np.geomspace(min(values), max(values), bins + 1)
            ax.set_xscale("log")
        if len(values) < len(everything):
            title += f" (+{len(everything) - len(values)} at 0 ms)"
        if values:
            ax.hist(values, bins=bins, color="#3b6ea5")
            stats = distribution(everything)
            for q, style in (("p50", "-"), ("p95", "--"), ("p99", ":")):
                ax.axvline(float(stats[q] or 0), color="#c0392b", linestyle=style, label=q)
            ax.legend()
        ax.set_title(f"apply latency, {title}")
        ax.set_xlabel("ms")
        ax.set_ylabel("applies")
    fig.tight_layout()
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

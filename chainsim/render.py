"""Rendering for the CLI: rich tables for humans, JSON for machines; nothing else.

Runners (`chainsim.runners`) compute; these functions only print. Ids and messages are
data, never read as rich markup (an id may contain "[/b]").
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from chainsim.model import ChainPlan, Rule
from chainsim.textsafe import MESSAGE_LIMIT, printable, printable_lines

PATH_SHOWN = 20  # a longer path of rule ids is elided in text output (JSON keeps it whole)
HOPS_SHOWN = 200  # simulate's text table shows this many hops (JSON keeps them all)
NOTES_SHOWN = 20  # warnings on stderr beside JSON output, then a count of the rest
ROWS_SHOWN = 50  # plan/apply/dlq tables show this many rows, then a count (JSON has all)
ID_SHOWN = 8  # a long id beside a name is cut to this many characters
LINK_TARGET = re.compile(r"-> (\S+)")  # a link's destination in `Change.summary()` lines
LABEL_WIDTH = 48  # plan's one-line-per-rule layout pads rule labels up to this width


def rule_label(rule_id: str, name: str = "") -> str:
    """A rule as people know it: `Callback-Offer (7a1e9c44…)`; the whole id when unnamed."""
    rule_id = printable(rule_id)
    if not name:
        return rule_id
    short = rule_id if len(rule_id) <= ID_SHOWN + 4 else rule_id[:ID_SHOWN] + "…"
    return f"{printable(name, MESSAGE_LIMIT)} ({short})"


def _shown(rows: list[Any], first: Any = None) -> list[Any]:
    """At most ROWS_SHOWN rows; when cut, the rows `first(row)` picks come first."""
    if len(rows) <= ROWS_SHOWN:
        return rows
    if first is not None:
        rows = [r for r in rows if first(r)] + [r for r in rows if not first(r)]
    return rows[:ROWS_SHOWN]


def _more(total: int, what: str, where: str) -> str | None:
    """The count line under a cut table, or None when every row was shown."""
    hidden = total - ROWS_SHOWN
    if hidden <= 0:
        return None
    return f"... {hidden:,} more {what} not shown ({where} lists every one)"


def console(err: bool = False) -> Console:
    """A console that prints ids, paths and messages as they are (no rich markup in data)."""
    return Console(highlight=False, soft_wrap=True, stderr=err, markup=False)


def print_json(data: Any) -> None:
    """`data` as indented JSON on stdout."""
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def path_text(ids: list[str]) -> str:
    """Rule ids joined by arrows, the middle elided past PATH_SHOWN."""
    ids = [printable(rule_id) for rule_id in ids]
    if len(ids) <= PATH_SHOWN:
        return " -> ".join(ids)
    half = PATH_SHOWN // 2
    hidden = len(ids) - 2 * half
    return " -> ".join([*ids[:half], f"... {hidden} more ...", *ids[-half:]])


def print_findings(plan_path: Path, plan: ChainPlan, rules: list[Rule], report: Any) -> None:
    """`chainsim validate`'s findings as a table, or one OK line (`plan_path`: what was read)."""
    out = console()
    summary = (
        f"{plan_path}: {len(plan.links)} links, {len(rules)} rules, max_depth {plan.max_depth}"
    )
    if not report.findings:
        out.print(f"OK  {summary}: no findings")
        return
    table = Table(title=f"chainsim validate — {summary}", show_lines=True)
    table.add_column("#", justify="right")
    table.add_column("severity")
    table.add_column("code")
    table.add_column("rule ids (path order)", overflow="fold")
    table.add_column("what to do", overflow="fold")
    for n, finding in enumerate(report.findings, 1):
        style = "red" if finding.severity == "error" else "yellow"
        table.add_row(
            str(n),
            Text(finding.severity, style=style),
            finding.code,
            path_text(list(finding.rule_ids)),
            printable(finding.message, MESSAGE_LIMIT),
        )
    out.print(table)
    errors, warnings = len(report.errors), len(report.warnings)
    verdict = "FAILED" if errors else "OK"
    out.print(f"{verdict}  {errors} error(s), {warnings} warning(s)")


def print_trace_warnings(trace: Any) -> None:
    """Missing attributes, skipped links and truncation as warnings on stderr (bounded)."""
    notes = [
        f"warning: depth {miss.depth} {miss.source} -> {miss.destination}: "
        f"source event lacks {miss.attribute}"
        for miss in trace.missing[: NOTES_SHOWN + 1]
    ]
    notes += [
        f"warning: {source} -> {dest}: skipped, rule {dest!r} is not in the inventory"
        for source, dest in trace.skipped[: NOTES_SHOWN + 1]
    ]
    total = len(trace.missing) + len(trace.skipped)
    err = console(err=True)
    for note in notes[:NOTES_SHOWN]:
        err.print(printable(note, MESSAGE_LIMIT))
    if total > NOTES_SHOWN:
        err.print(f"warning: ... and {total - NOTES_SHOWN} more")
    if trace.truncated:
        err.print(f"warning: trace truncated after {len(trace.hops)} hops (too many paths)")


def print_trace(event_type: str, trace: Any, max_depth: int) -> None:
    """`chainsim simulate`'s hops as a table with a summary line."""
    out = console()
    if not trace.starts:
        shown = printable(repr(event_type))
        out.print(f"no rule in the inventory has eventType {shown}: nothing fires")
        return
    table = Table(
        title=f"chainsim simulate — {printable(event_type)} starts at "
        + ", ".join(printable(start) for start in trace.starts[:HOPS_SHOWN]),
        show_lines=True,
    )
    table.add_column("depth", justify="right")
    table.add_column("source -> destination", overflow="fold")
    table.add_column("event delivered", overflow="fold")
    table.add_column("missing", overflow="fold")
    for hop in trace.hops[:HOPS_SHOWN]:
        table.add_row(
            str(hop.depth),
            f"{printable(hop.source)}\n-> {printable(hop.destination)}",
            printable(json.dumps(hop.event, sort_keys=False), MESSAGE_LIMIT),
            "\n".join(printable(name) for name in hop.missing) or "-",
        )
    out.print(table)
    notes = [f"{len(trace.hops)} hop(s), deepest {trace.max_depth_reached} (max_depth {max_depth})"]
    if len(trace.hops) > HOPS_SHOWN:
        notes.append(f"first {HOPS_SHOWN} shown (--format json prints every hop)")
    if trace.missing:
        notes.append(f"{len(trace.missing)} missing attribute(s)")
    if trace.skipped:
        gone = ", ".join(f"{printable(s)} -> {printable(d)}" for s, d in trace.skipped[:5])
        notes.append(f"skipped links to rules not in the inventory: {gone}")
    if trace.truncated:
        notes.append("trace truncated (too many hops)")
    out.print("; ".join(notes))


def _named_links(line: str, names: dict[str, str]) -> str:
    """`+ link -> <id> ...` with the destination's name beside its short id."""
    return LINK_TARGET.sub(lambda m: "-> " + rule_label(m[1], names.get(m[1], "")), line)


def print_changes(
    changes: Any,
    findings: list[dict[str, Any]],
    diff: bool = False,
    names: dict[str, str] | None = None,
) -> None:
    """`chainsim plan`: the summary first, findings, one line per rule; diffs with `diff`.

    The table shows at most ROWS_SHOWN rules (updates first), then a count line, so a
    plan of thousands of links still fits a screen; `--format json` has every change.
    `names` (rule id -> name) labels link destinations too.
    """
    names = names or {}
    out = console()
    counts = changes.counts()
    errors = sum(1 for f in findings if f["severity"] == "error")
    summary = f"plan: {counts['update']} to update, {counts['no-op']} unchanged"
    if findings:
        summary += f"; {errors} error(s), {len(findings) - errors} warning(s)"
    out.print(summary)
    for f in findings:
        colour = "red" if f["severity"] == "error" else "yellow"
        message = printable(f["message"], MESSAGE_LIMIT)
        out.print(Text.assemble((f["severity"], colour), f" {f['code']}: {message}"))
    if not changes.changes:
        return
    shown = _shown(list(changes.changes), lambda c: c.kind == "update")
    labels = [rule_label(c.rule_id, c.after.name or c.before.name) for c in shown]
    width = min(max(len(label) for label in labels), LABEL_WIDTH)
    for label, change in zip(labels, shown, strict=True):
        style = {"update": "yellow", "no-op": "dim"}[change.kind]
        what = "; ".join(
            printable(_named_links(line, names), MESSAGE_LIMIT) for line in change.summary()
        )
        out.print(
            Text.assemble(f"{label:<{width}}  ", (f"{change.kind:<6}", style), f"  {what or '-'}")
        )
    more = _more(len(changes.changes), "rule(s)", "--format json")
    if more:
        out.print(more)
    if not diff:
        if changes.updates:
            out.print("(--diff shows each update in full)")
        return
    for change in changes.updates:
        label = rule_label(change.rule_id, change.after.name or change.before.name)
        out.print(Text("\n" + label, style="bold"))
        out.print(printable_lines(change.diff()))


@contextmanager
def progress() -> Iterator[Any]:
    """A progress hook drawing a rich bar on stderr, or a no-op when stderr is no terminal."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    if not console.is_terminal:
        yield None
        return
    with Progress(
        TextColumn("applying"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("apply", total=None)

        def hook(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield hook


def print_saved(path: Path, saved: Any, err: bool = False) -> None:
    """Where `plan --out` saved the plan and how to apply it (stderr beside JSON output)."""
    verb = "destroy" if saved.operation == "destroy" else "apply"
    console(err=err).print(
        f"saved plan: {path} ({saved.plan_digest[:19]}); "
        f"`chainsim {verb} {path} --bus {saved.target.bus} ...` applies exactly it"
    )


def print_drift(plan_path: str, drifted: list[str], verb: str = "apply") -> None:
    """The rules that changed on the bus since the plan was made: one line each, stderr."""
    err = console(err=True)
    err.print(
        f"chainsim: {verb}: {printable(plan_path)}: the bus changed since the plan was "
        f"made ({len(drifted)} rule(s)); nothing was written. Plan again."
    )
    for line in drifted:
        err.print(f"  drifted: {printable(line, MESSAGE_LIMIT)}")


def print_notes(findings: list[dict[str, Any]], err: bool = False) -> None:
    """Warnings (e.g. `remove_absent`) as one line each (on stderr beside JSON output)."""
    out = console(err=err)
    for f in findings:
        colour = "red" if f["severity"] == "error" else "yellow"
        message = printable(f["message"], MESSAGE_LIMIT)
        out.print(Text.assemble((f["severity"], colour), f" {f['code']}: {message}"))


def print_apply_result(result: Any, verb: str = "apply") -> None:
    """`chainsim apply`'s (or `destroy`'s) outcome per rule with why, findings, a status line.

    At most ROWS_SHOWN rows (failures first when cut), then a count line: drawing a rich
    table of thousands of rows costs seconds and shows nobody anything.
    """
    out = console()
    if result.rules:
        table = Table(title=f"chainsim {verb}: {result.status}")
        table.add_column("rule", no_wrap=True, overflow="ellipsis", max_width=LABEL_WIDTH)
        for column in ("outcome", "attempts", "version"):
            table.add_column(column, no_wrap=True)
        table.add_column("reason", overflow="fold")
        for row in _shown(list(result.rules), lambda r: bool(r.reason or r.error)):
            version = f"{row.version_before} -> {row.version_after}"
            reason = printable(row.reason or row.error or "", MESSAGE_LIMIT)
            table.add_row(
                rule_label(row.id, row.name), row.outcome, str(row.attempts), version, reason
            )
        out.print(table)
        more = _more(len(result.rules), "rule(s)", "--format json or --report FILE")
        if more:
            out.print(more)
    for f in result.findings:
        if f["severity"] == "error":
            message = printable(f["message"], MESSAGE_LIMIT)
            out.print(Text.assemble(("error", "red"), f" {f['code']}: {message}"))
    m = result.metrics
    out.print(
        f"status: {result.status}; {m['requests']} requests, {m['status_409']} x 409, "
        f"{m['status_429']} x 429, {m['status_5xx']} x 5xx; "
        f"{m['virtual_seconds']:.2f} s on the bus clock; dead letters: {result.dead_letters}"
    )
    if result.callback is not None:
        cb = result.callback
        state = "delivered" if cb["delivered"] else "not delivered"
        out.print(f"callback: {state} ({cb['error'] or cb['status']})")
    if result.error:
        out.print(f"error: {printable(result.error, MESSAGE_LIMIT)}")


def print_dead_letters(spool: Path, letters: list[Any]) -> None:
    """`chainsim dlq list`: one row per spooled dead letter, with the bus's message."""
    table = Table(title=f"dead letters in {spool}: {len(letters)}")
    table.add_column("rule", min_width=14)
    table.add_column("operation", no_wrap=True)
    table.add_column("run", no_wrap=True)
    table.add_column("error", min_width=10, overflow="fold")
    table.add_column("message", overflow="fold", min_width=24, ratio=1)
    table.add_column("time (UTC)", no_wrap=True)
    for x in _shown(list(letters)):
        run = "-"
        if x.run_id:
            run = printable(x.run_id[:ID_SHOWN]) + (" atomic" if x.atomic else "")
        error = " ".join(part for part in (str(x.status or ""), x.code or "") if part)
        table.add_row(
            rule_label(x.rule_id, x.name),
            printable(x.operation),
            run,
            printable(error),
            printable(x.message, MESSAGE_LIMIT),
            printable(x.timestamp[:19].replace("T", " ")),
        )
    out = console()
    out.print(table)
    more = _more(len(letters), "letter(s)", "--format json")
    if more:
        out.print(more)


def print_redrive(spool: Path, report: Any, rehearsal: bool, verb: str = "redriven") -> None:
    """`chainsim dlq redrive`/`forward`: each letter's or run's outcome, then what is left."""
    out = console()
    for line in _shown(list(report.lines), lambda x: x.outcome not in ("applied", "delivered")):
        if line.subject == "run":
            what = f"run {printable(line.key)} (whole plan"
            what += f", {line.name}" if line.name else ""
            what += f", {len(line.letters)} letter(s))"
        else:
            what = rule_label(line.key, line.name)
        detail = f": {printable(line.detail, MESSAGE_LIMIT)}" if line.detail else ""
        out.print(f"{what}: {line.outcome}{detail}")
    more = _more(len(report.lines), "line(s)", "`chainsim dlq list`")
    if more:
        out.print(more)
    done = len(report.cleared) - report.replaced
    would = "would be " if rehearsal else ""
    replaced = (
        f", {report.replaced} {would}replaced by the new run's letters" if report.replaced else ""
    )
    if rehearsal:
        out.print(
            f"rehearsal on the fake bus: {done} of {report.total} would go through{replaced}; "
            f"the spool {spool} is kept as it is"
        )
    else:
        out.print(f"{verb} {done} of {report.total}{replaced}; {report.kept} left in {spool}")


def print_line(text: str, *, err: bool = False) -> None:
    """One plain line on stdout (stderr with `err`)."""
    print(text, file=sys.stderr if err else sys.stdout)

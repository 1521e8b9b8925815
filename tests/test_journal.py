"""The append-only resume journal: never rewritten, O(1) per record, documented fsyncs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chainsim.journal import Applied, Journal, applied_from_journal
from chainsim.model import ChainPlan, InputError, Rule
from tests.orchestrator_rig import make_rule, plan_of, rig

PLAN = plan_of(("a", "b"))


def _rule(rule_id: str, version: int = 1, **extra: object) -> Rule:
    return Rule.model_validate(make_rule(rule_id, version=version, **extra))


def _target(rule: Rule) -> Rule:
    return rule.model_copy(update={"description": "changed"})


def test_records_only_ever_append(tmp_path: Path) -> None:
    """Each record leaves every byte written before it unchanged (append-only)."""
    path = tmp_path / "journal.json"
    j = Journal(path)
    j.begin("run-1", PLAN, atomic=True)
    seen = path.read_bytes()
    a, c = _rule("a"), _rule("c")
    steps = [
        lambda: j.intend([(a, ["description"], _target(a))]),
        lambda: j.writing("c", c, ["description"], _target(c)),
        lambda: j.applied(Applied("a", a, ["description"])),
        lambda: j.failed("c"),
        lambda: j.status("rolling_back"),
        lambda: j.writing("a", a, ["description"], a),
        lambda: j.restored("a"),
        lambda: j.status("rolled_back"),
    ]
    for step in steps:
        step()
        now = path.read_bytes()
        assert now.startswith(seen) and len(now) > len(seen)
        assert now.count(b"\n") == seen.count(b"\n") + 1  # one line per record
        seen = now
    j.close()
    data = Journal(path).load() or {}
    assert data["status"] == "rolled_back" and data["order"] == ["a"]
    assert data["rules"]["a"]["state"] == "restored" and data["rules"]["c"]["state"] == "failed"
    assert ChainPlan.model_validate(data["plan"]) == PLAN


def test_record_cost_does_not_grow_with_the_journal(tmp_path: Path) -> None:
    """The bytes one record adds are the same after 10 records as after 1,000."""
    j = Journal(tmp_path / "journal.json")
    j.begin("run-1", PLAN, atomic=True)
    sizes = []
    for i in range(1000):
        before = j.path.stat().st_size  # type: ignore[union-attr]
        j.applied(Applied(f"r{i:04d}", _rule(f"r{i:04d}"), ["description"]))
        sizes.append(j.path.stat().st_size - before)  # type: ignore[union-attr]
    j.close()
    assert sizes[10] == sizes[999]


def test_fsync_policy_as_documented(tmp_path: Path, fsynced: list[str]) -> None:
    """begin, status and a new write-ahead fsync; intents share one; marks ride along."""
    calls = fsynced
    j = Journal(tmp_path / "journal.json")
    j.begin("run-1", PLAN, atomic=True)
    assert calls  # the file (and its directory entry)
    calls.clear()
    rules = [_rule(x) for x in "abc"]
    j.intend((r, ["description"], _target(r)) for r in rules)
    assert len(calls) == 1  # one fsync for every intent
    j.writing("a", rules[0], ["description"], _target(rules[0]))
    assert len(calls) == 1  # the first attempt matches its intent: nothing to write
    fresh = _rule("b", version=2)
    j.writing("b", fresh, ["description"], _target(fresh))
    assert len(calls) == 2  # a re-merge onto a fresh copy: its own durable record
    j.applied(Applied("a", rules[0], ["description"]))
    j.failed("c")
    j.restored("a")
    assert len(calls) == 2
    j.status("rolling_back")
    assert len(calls) == 3
    j.close()


def test_a_torn_last_line_is_ignored_and_a_broken_middle_line_is_damage(tmp_path: Path) -> None:
    """A write cut short by a kill was never acknowledged; damage elsewhere is bad input."""
    path = tmp_path / "journal.json"
    j = Journal(path)
    j.begin("run-1", PLAN, atomic=True)
    j.applied(Applied("a", _rule("a"), ["description"]))
    j.close()
    whole = path.read_text()
    path.write_text(whole + '{"k":"status","stat')
    data = Journal(path).load() or {}
    assert data["status"] == "applying" and data["order"] == ["a"]
    lines = whole.splitlines()
    path.write_text("\n".join([lines[0], "{broken", *lines[1:]]) + "\n")
    with pytest.raises(InputError, match="line 2"):
        Journal(path).load()


def test_applied_records_keep_the_snapshot_for_rollback(tmp_path: Path) -> None:
    """A replayed journal gives back each applied rule's snapshot, oldest first."""
    j = Journal(tmp_path / "journal.json")
    j.begin("run-1", PLAN, atomic=True)
    a, b = _rule("a", description="before a"), _rule("b", description="before b")
    j.intend([(a, ["description"], _target(a))])
    j.applied(Applied("a", a, ["description"]))  # slim record: the intent has the base
    j.applied(Applied("b", b, ["description"]))  # no intent: the record carries the base
    j.close()
    items = applied_from_journal(Journal(tmp_path / "journal.json").load() or {})
    assert [(x.rule_id, x.base.description, x.fields) for x in items] == [
        ("a", "before a", ["description"]),
        ("b", "before b", ["description"]),
    ]


def test_a_version_2_journal_is_resumed_and_continued_append_only(tmp_path: Path) -> None:
    """A run killed under the old whole-file format resumes; the file is then JSONL."""
    rules = [make_rule(f"r{i}") for i in range(4)]
    plan = plan_of(("r0", "r1"), ("r2", "r3"))
    with rig(tmp_path, rules) as r:
        first = r.orchestrator().apply(plan_of(("r0", "r1")))
        assert first.status == "applied"
        applied = next(x for x in r.fake.rules() if x.id == "r0")
        before = Rule.model_validate(make_rule("r0"))
        path = tmp_path / "journal.json"
        entry = {
            "state": "applied",
            "base": {"id": "r0", "eventType": "type.r0", "version": 1, "actions": []},
            "fields": ["actions"],
        }
        head = {"version": 2, "run_id": "old", "status": "applying", "atomic": True}
        path.write_text(json.dumps({**head, "order": ["r0"], "rules": {"r0": entry}}))
        path.with_suffix(".plan.json").write_text(plan.model_dump_json(exclude_none=True))
        result = r.orchestrator().resume()
        final = {x.id: x for x in r.fake.rules()}
    assert result.status == "applied" and applied.version == 2 and before.version == 1
    assert {row.id: row.outcome for row in result.rules} == {"r0": "applied", "r2": "applied"}
    assert final["r2"].links() and final["r0"].links()
    first_line = json.loads(path.read_text().splitlines()[0])
    assert first_line["k"] == "begin" and first_line["run_id"] == "old"
    assert (Journal(path).load() or {})["status"] == "applied"


def test_resume_checks_every_pending_rule_against_one_listing(tmp_path: Path) -> None:
    """A run killed after its intents: resume reads the bus once, not one GET per rule."""
    from tests.test_apply import KillAfter, Killed

    rules = [make_rule(f"r{i}") for i in range(20)]
    plan = plan_of(*[(f"r{i}", f"r{i + 1}") for i in range(0, 19, 2)])
    with rig(tmp_path, rules) as r:
        with pytest.raises(Killed):
            r.orchestrator(KillAfter(r.bus(), 3)).apply(plan)
        seen = len(r.fake.requests)
        result = r.orchestrator().resume()
        gets = [x for x in r.fake.requests[seen:] if x.method == "GET" and "/rules/" in x.path]
        puts = [x for x in r.fake.requests[seen:] if x.method == "PUT"]
    assert result.status == "applied"
    assert gets == [] and len(puts) == 7


def test_resume_records_a_landed_put_with_its_versions_in_the_journal(tmp_path: Path) -> None:
    """A PUT that landed before the kill: reported applied 1 -> 2, journaled after the first."""
    from tests.test_apply import KillAfter, Killed

    rules = [make_rule(f"r{i}") for i in range(6)]
    plan = plan_of(*[(f"r{i}", f"r{i + 1}") for i in range(0, 5, 2)])
    with rig(tmp_path, rules) as r:
        with pytest.raises(Killed):
            r.orchestrator(KillAfter(r.bus(), 1, after_landing=True)).apply(plan)
        seen = len(r.fake.requests)
        result = r.orchestrator().resume()
        sent = [(x.method, x.path.rsplit("/", 1)[-1]) for x in r.fake.requests[seen:]]
    assert sorted((x.id, x.outcome, x.version_before, x.version_after) for x in result.rules) == [
        ("r0", "applied", 1, 2),
        ("r2", "applied", 1, 2),
        ("r4", "applied", 1, 2),
    ]
    assert [x for x in sent if x[0] == "PUT"] == [("PUT", "r4")]
    data = Journal(tmp_path / "journal.json").load() or {}
    assert data["order"] == ["r0", "r2", "r4"]
    assert {k: v["state"] for k, v in data["rules"].items()} == dict.fromkeys(
        ("r0", "r2", "r4"), "applied"
    )


def test_reconcile_records_every_landed_write_and_lists_only_when_needed(tmp_path: Path) -> None:
    """`reconcile`: a pending rule not on the bus is skipped, a later landed one recorded."""
    from chainsim.results import RuleOutcome
    from chainsim.resume import reconcile

    j = Journal(tmp_path / "journal.json")
    j.begin("run-1", PLAN, atomic=True)
    a, b = _rule("a"), _rule("b")
    j.intend([(a, ["description"], _target(a)), (b, ["description"], _target(b))])
    calls: list[int] = []

    def listing() -> list[Rule]:
        calls.append(1)
        landed = _target(b).model_copy(update={"version": 2})
        return [a, landed]  # a still holds its base; b holds its target

    outcomes: dict[str, RuleOutcome] = {}
    prior = reconcile(j, [], outcomes, listing)
    assert [(x.rule_id, x.base.version, x.fields) for x in prior] == [("b", 1, ["description"])]
    assert [(r.id, r.outcome, r.version_before, r.version_after) for r in outcomes.values()] == [
        ("b", "applied", 1, 2)
    ]
    assert calls == [1] and j.entries["b"]["state"] == "applied"
    again = reconcile(j, prior, outcomes, listing)  # a is pending still: one more listing
    assert calls == [1, 1] and [x.rule_id for x in again] == ["b"]
    j.failed("a")
    reconcile(j, prior, outcomes, listing)  # nothing pending: the bus is not listed
    assert calls == [1, 1]
    j.close()


def _load_error(path: Path) -> str:
    """The one-line message a journal at `path` is refused with."""
    with pytest.raises(InputError) as caught:
        Journal(path).load()
    return str(caught.value)


def test_a_bad_journal_is_refused_with_file_place_and_problem(tmp_path: Path) -> None:
    """Broken JSON, a foreign file, a damaged line: each one exact line naming the file."""
    path = tmp_path / "journal.json"
    path.write_text("{not json")
    assert _load_error(path) == f"{path}: the journal is not valid JSON"
    path.write_text(json.dumps({"version": 2, "run_id": "old"}))
    assert _load_error(path) == f"{path}: not a chainsim journal"
    path.write_text("[1, 2]")
    path.with_suffix(".plan.json").write_text(PLAN.model_dump_json())
    assert _load_error(path) == f"{path}: not a chainsim journal"
    begin = json.dumps({"k": "begin", "version": 3, "run_id": "r"})
    path.write_text(begin + "\n")
    assert _load_error(path) == f"{path}: not a chainsim journal"
    path.write_text(begin + '\n{"k":"bogus"}\n')
    assert _load_error(path) == f"{path}: line 2: the journal is damaged"


def test_a_journal_whose_only_line_is_torn_is_not_a_journal(tmp_path: Path) -> None:
    """A begin record cut before its newline was never acknowledged: no run is recorded."""
    path = tmp_path / "journal.json"
    path.write_text(json.dumps({"k": "begin", "version": 3, "run_id": "r", "status": "applying"}))
    assert _load_error(path) == f"{path}: not a chainsim journal"


def test_the_replayed_picture_is_exactly_what_the_run_held(tmp_path: Path) -> None:
    """load() gives the documented keys, and every rule entry as the journal held it."""
    path = tmp_path / "journal.json"
    j = Journal(path)
    j.begin("run 1", PLAN, atomic=False)  # a space in the first line
    a, b = _rule("a"), _rule("b")
    j.intend([(a, ["description"], _target(a))])
    j.applied(Applied("b", b, ["description"]))
    j.failed("x")  # a rule the journal never saw before
    j.close()
    data = Journal(path).load() or {}
    assert set(data) == {"version", "run_id", "status", "atomic", "order", "rules", "plan"}
    assert (data["version"], data["run_id"], data["status"], data["atomic"]) == (
        3,
        "run 1",
        "applying",
        False,
    )
    assert data["rules"] == j.entries
    assert data["rules"]["x"] == {"state": "failed"}
    assert set(data["rules"]["a"]) == {"state", "base", "fields", "target"}


def test_a_blank_line_inside_the_journal_is_skipped(tmp_path: Path) -> None:
    """An empty line between records is not the end: later records still count."""
    path = tmp_path / "journal.json"
    j = Journal(path)
    j.begin("run-1", PLAN, atomic=True)
    j.close()
    path.write_text(path.read_text() + '\n{"k":"status","status":"applied"}\n')
    assert (Journal(path).load() or {})["status"] == "applied"


def test_marks_are_kept_in_memory_for_any_rule(tmp_path: Path) -> None:
    """`failed` and `restored` set the rule's state, even for a rule never written."""
    j = Journal(tmp_path / "journal.json")
    j.begin("run-1", PLAN, atomic=True)
    j.failed("new")
    j.restored("other")
    assert j.entries == {"new": {"state": "failed"}, "other": {"state": "restored"}}
    j.close()


def _v2(**extra: object) -> dict[str, object]:
    """A version-2 journal's picture (as `load` returns it), plan included."""
    entry = {
        "state": "applied",
        "base": {"id": "a", "eventType": "type.a", "version": 1, "actions": []},
        "fields": ["actions"],
    }
    data: dict[str, object] = {
        "version": 2,
        "run_id": "old",
        "status": "rolling_back",
        "atomic": False,
        "order": ["a"],
        "rules": {"a": entry},
        "plan": json.loads(PLAN.model_dump_json(exclude_none=True)),
    }
    data.update(extra)
    return data


def test_adopting_a_version_2_journal_rewrites_it_with_everything_kept(tmp_path: Path) -> None:
    """Run id, status, atomic, order, entries and plan survive the rewrite to JSONL."""
    path = tmp_path / "journal.json"
    j = Journal(path)
    j.adopt(_v2())
    j.close()
    data = Journal(path).load() or {}
    old = _v2()
    assert data == {**old, "version": 3}
    assert applied_from_journal(data)[0].base.version == 1


def test_adopting_a_version_2_journal_without_order_or_rules(tmp_path: Path) -> None:
    """A run killed before any write has no order and no rules: adopted as empty."""
    path = tmp_path / "journal.json"
    j = Journal(path)
    data = _v2()
    del data["order"], data["rules"]
    j.adopt(data)
    j.close()
    assert (Journal(path).load() or {})["rules"] == {}
    assert j.entries == {}


def test_adopting_a_version_3_journal_appends_to_it_unchanged(tmp_path: Path) -> None:
    """A JSONL journal is continued where it ends, never rewritten."""
    path = tmp_path / "journal.json"
    j = Journal(path)
    j.begin("run-1", PLAN, atomic=True)
    j.applied(Applied("a", _rule("a"), ["description"]))
    j.close()
    before = path.read_bytes()
    again = Journal(path)
    again.adopt(Journal(path).load() or {})
    assert path.read_bytes() == before
    again.status("applied")
    again.close()
    assert path.read_bytes().startswith(before)
    assert (Journal(path).load() or {})["status"] == "applied"


def test_adopting_without_a_file_or_without_a_run_writes_nothing(tmp_path: Path) -> None:
    """No journal path: the run is held in memory only; an empty picture adopts nothing."""
    memory = Journal(None)
    memory.adopt(_v2(version=3))
    assert memory.active and memory.entries["a"]["state"] == "applied"
    path = tmp_path / "journal.json"
    empty = Journal(path)
    empty.adopt({})
    assert not empty.active and not path.exists()


def test_applied_from_journal_of_a_picture_without_rules() -> None:
    """Missing order, rules or entries give no applied updates, not an error."""
    assert applied_from_journal({}) == []
    assert applied_from_journal({"order": ["a"]}) == []
    assert applied_from_journal({"order": ["a"], "rules": {}}) == []


def test_a_journal_in_a_new_directory_is_private_and_restartable(tmp_path: Path) -> None:
    """Missing parent directories are made; the file is 0600; a second begin starts afresh."""
    path = tmp_path / "state" / "runs" / "journal.json"
    j = Journal(path)
    j.begin("run-1", PLAN, atomic=True)
    assert path.stat().st_mode & 0o777 == 0o600
    j.applied(Applied("a", _rule("a"), ["description"]))
    j.begin("run-2", PLAN, atomic=False)
    j.close()
    data = Journal(path).load() or {}
    assert data["run_id"] == "run-2" and data["order"] == [] and data["atomic"] is False


def test_a_record_after_close_reopens_the_file_and_appends(tmp_path: Path) -> None:
    """close() then another record: the record is appended, nothing before it is lost."""
    path = tmp_path / "journal.json"
    j = Journal(path)
    j.begin("run-1", PLAN, atomic=True)
    j.close()
    j.applied(Applied("a", _rule("a"), ["description"]))
    j.close()
    data = Journal(path).load() or {}
    assert data["run_id"] == "run-1" and data["order"] == ["a"]


def test_nothing_new_to_write_costs_no_fsync(tmp_path: Path, fsynced: list[str]) -> None:
    """A sync with every record already on disk does not fsync again."""
    calls = fsynced
    j = Journal(tmp_path / "journal.json")
    j.begin("run-1", PLAN, atomic=True)
    calls.clear()
    j.intend([])
    assert calls == []
    j.close()


def test_an_applied_record_carries_its_base_only_when_the_intent_does_not(tmp_path: Path) -> None:
    """Slim `applied` line when it matches the rule's `writing` record; else base and fields."""
    path = tmp_path / "journal.json"
    j = Journal(path)
    j.begin("run-1", PLAN, atomic=True)
    a, b, c = _rule("a"), _rule("b"), _rule("c")
    j.intend([(r, ["description"], _target(r)) for r in (a, b, c)])
    j.applied(Applied("a", a, ["description"]))  # as intended
    j.applied(Applied("b", _rule("b", version=2), ["description"]))  # re-merged onto v2
    j.applied(Applied("c", c, ["description", "name"]))  # other fields
    j.close()
    records = [json.loads(line) for line in path.read_text().splitlines()]
    applied = {r["id"]: r for r in records if r["k"] == "applied"}
    assert applied["a"] == {"k": "applied", "id": "a"}
    assert applied["b"]["base"]["version"] == 2 and applied["b"]["fields"] == ["description"]
    assert applied["c"]["fields"] == ["description", "name"]
    rules = (Journal(path).load() or {})["rules"]
    assert rules["b"]["base"]["version"] == 2 and rules["c"]["fields"] == ["description", "name"]


def test_intents_skip_rules_a_killed_run_already_applied(tmp_path: Path) -> None:
    """On resume, intend() leaves applied, restoring and restored entries with their snapshot."""
    path = tmp_path / "journal.json"
    j = Journal(path)
    j.begin("run-1", PLAN, atomic=True)
    rules = {x: _rule(x) for x in "abcd"}
    for x in "abc":
        j.applied(Applied(x, rules[x], ["description"]))
    j.writing("b", rules["b"], ["description"], rules["b"])  # b's restore has begun
    j.restored("c")
    j.close()
    resumed = Journal(path)
    resumed.adopt(Journal(path).load() or {})
    kept = resumed.entries
    resumed.intend((r, ["name"], _target(r)) for r in rules.values())
    after = resumed.entries
    resumed.close()
    assert {x: after[x] for x in "abc"} == {x: kept[x] for x in "abc"}
    assert [after[x]["state"] for x in "abcd"] == ["applied", "restoring", "restored", "writing"]
    data = Journal(path).load() or {}
    assert data["rules"] == after


def test_a_restores_writes_keep_the_snapshot_and_mark_restoring_once(tmp_path: Path) -> None:
    """Rollback PUTs of an applied rule: one `restoring` mark, the entry keeps its snapshot."""
    path = tmp_path / "journal.json"
    j = Journal(path)
    j.begin("run-1", PLAN, atomic=True)
    a, b = _rule("a", description="before a"), _rule("b", description="before b")
    j.applied(Applied("a", a, ["description"]))
    j.applied(Applied("b", b, ["description"]))
    snapshot = j.entries
    fresh = _rule("a", version=3)
    j.writing("a", _rule("a", version=2), ["description"], a)  # the restore's PUT
    j.writing("a", fresh, ["description"], fresh)  # again, re-merged after a 409
    j.restored("b")
    j.writing("b", b, ["description"], b)  # a restore of a rule found restored already
    j.close()
    kinds = [json.loads(line)["k"] for line in path.read_text().splitlines()]
    assert kinds.count("restoring") == 2 and "writing" not in kinds
    entries = j.entries
    assert entries["a"] == {**snapshot["a"], "state": "restoring"}
    assert entries["b"] == {**snapshot["b"], "state": "restoring"}
    assert (Journal(path).load() or {})["rules"] == entries


def test_a_new_run_removes_a_version_2_plan_left_beside_the_journal(tmp_path: Path) -> None:
    """begin() deletes `journal.plan.json` (another run's plan) and keeps its plan compact."""
    path = tmp_path / "journal.json"
    leftover = path.with_suffix(".plan.json")
    leftover.write_text(plan_of(("x", "y")).model_dump_json())
    j = Journal(path)
    j.begin("run-1", PLAN, atomic=True)
    j.close()
    assert not leftover.exists()
    assert (Journal(path).load() or {})["plan"] == json.loads(
        PLAN.model_dump_json(exclude_none=True)
    )


def test_an_unreadable_journal_is_bad_input(tmp_path: Path) -> None:
    """Bytes that are not UTF-8: one line naming the file, not a traceback."""
    path = tmp_path / "journal.json"
    path.write_bytes(b'{"k":"begin"}\n\xff\xfe\n')
    assert _load_error(path) == f"{path}: the journal cannot be read"


def test_a_journal_with_no_run_is_inactive_and_empty() -> None:
    """Before begin or adopt: nothing active, no entries, and records are ignored."""
    j = Journal(None)
    assert not j.active and j.entries == {}
    j.applied(Applied("a", _rule("a"), ["description"]))
    j.status("applied")
    assert not j.active and j.entries == {}

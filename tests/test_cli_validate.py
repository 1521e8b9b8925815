"""`chainsim validate` / `chainsim simulate`: exit codes, exact JSON, one-line bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chainsim.cli import app

PLANS = Path(__file__).resolve().parents[1] / "scenarios" / "plans"
CALLBACK = PLANS / "inbound_callback.yaml"
CALLBACK_INV = PLANS / "inbound_callback.inventory.json"
CALLBACK_EVENT = PLANS / "inbound_callback.event.json"
LOOP = PLANS / "invalid" / "callback_loop.yaml"

runner = CliRunner()


def run(*args: str | Path) -> tuple[int, str, str]:
    result = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    return result.exit_code, result.stdout, result.stderr


def write(tmp_path: Path, name: str, data: object) -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def test_validate_ok_plan_exits_0() -> None:
    """A valid plan prints OK and exits 0."""
    code, out, _ = run("validate", CALLBACK, "--inventory", CALLBACK_INV)
    assert code == 0 and out.startswith("OK")


def test_validate_failure_prints_each_finding_with_its_path() -> None:
    """Error findings exit 1; each is printed with its code and its path of rule ids."""
    code, out, _ = run("validate", LOOP, "--inventory", CALLBACK_INV)
    assert code == 1
    for text in ("attribute", "transform", "cycle", "FAILED  3 error(s)"):
        assert text in out
    assert "3f6c2a9e-8b1d-4e57-9a0c" in out


def test_validate_json_has_exactly_the_documented_shape() -> None:
    """--format json prints {"ok", "findings": [{"code","severity","rule_ids","message"}]}."""
    code, out, _ = run("validate", LOOP, "--inventory", CALLBACK_INV, "--format", "json")
    data = json.loads(out)
    assert code == 1 and set(data) == {"ok", "findings"} and data["ok"] is False
    assert [f["code"] for f in data["findings"]] == ["attribute", "transform", "cycle"]
    assert all(set(f) == {"code", "severity", "rule_ids", "message"} for f in data["findings"])
    assert data["findings"][2]["rule_ids"][0] == data["findings"][2]["rule_ids"][-1]


def test_warnings_alone_exit_0(tmp_path: Path) -> None:
    """A plan touching a disabled rule warns but exits 0."""
    plan = write(tmp_path, "p.json", {"links": [{
        "source": "3f6c2a9e-8b1d-4e57-9a0c-5d2e7f81b4a6",
        "destination": "7a1e9c44-2f3b-4d8e-b6a5-0c9d8e7f6a52",
        "event_type": "routing.queue.member.added"}]})  # fmt: skip
    code, out, _ = run("validate", plan, "--inventory", CALLBACK_INV, "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["ok"] is True
    assert [f["code"] for f in data["findings"]] == ["disabled_rule"]


def _as_triggers(tmp_path: Path) -> Path:
    """The callback inventory rewritten as triggers (topicName, `Exists` criteria, a target)."""
    rules = json.loads(CALLBACK_INV.read_text())
    triggers = [
        {
            "id": r["id"],
            "name": r["name"],
            "topicName": r["eventType"],
            "enabled": r["enabled"],
            "target": {"id": "wf-1", "type": "Workflow"},
            "matchCriteria": [
                {"jsonPath": a, "operator": "Exists", "value": True}
                for a in r["filters"]["attributes"]
            ],
        }
        for r in rules
    ]
    path = tmp_path / "triggers.json"
    path.write_text(json.dumps(triggers))
    return path


def test_triggers_dialect_turns_unproven_attributes_into_warnings(tmp_path: Path) -> None:
    """Triggers: attributes the source cannot prove are warnings, not errors."""
    inventory = _as_triggers(tmp_path)
    code, out, _ = run("validate", LOOP, "--inventory", inventory, "--format", "json")
    chain = {"unverified_attribute", "cycle", "attribute", "transform"}
    codes = [(f["code"], f["severity"]) for f in json.loads(out)["findings"]]
    assert code == 1  # lint: these made-up topics are no Genesys topics
    unverified = ("unverified_attribute", "warning")
    # triggers carry no actions: the bus's own EventBridge link (hence the cycle) is gone
    assert [c for c in codes if c[0] in chain] == [unverified, unverified]
    assert ("unknown_topic", "error") in codes


def test_simulate_text_and_json() -> None:
    """simulate exits 0; JSON has exactly {"hops": [{"source","destination","depth","event"}]}."""
    code, out, _ = run("simulate", CALLBACK, "--inventory", CALLBACK_INV, "--event", CALLBACK_EVENT)
    assert code == 0 and "3 hop(s), deepest 3" in out
    code, out, _ = run(
        "simulate",
        CALLBACK,
        "--inventory",
        CALLBACK_INV,
        "--event",
        CALLBACK_EVENT,
        "--format",
        "json",
    )
    hops = json.loads(out)["hops"]
    assert code == 0 and [h["depth"] for h in hops] == [1, 2, 3]
    assert all(set(h) == {"source", "destination", "depth", "event"} for h in hops)
    assert hops[-1]["event"]["eventType"] == "quality.survey.dispatched"


def test_simulate_reports_missing_attributes_on_stderr_in_json_mode(tmp_path: Path) -> None:
    """Missing source attributes become warnings on stderr; stdout stays exact JSON."""
    event = write(tmp_path, "e.json", {"eventType": "routing.queue.member.added", "metadata": {}})
    code, out, err = run(
        "simulate", CALLBACK, "--inventory", CALLBACK_INV, "--event", event, "--format", "json"
    )
    assert code == 0 and json.loads(out)["hops"]
    assert "warning: depth 1" in err and "lacks conversationId" in err


LINK = {"source": "a", "destination": "b", "event_type": "t"}


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"plan": None}, "p.yaml: no such file"),
        ({"plan": "links: [\n"}, "p.yaml: line"),
        ({"plan": {"links": [LINK], "extra": 1}}, "p.yaml: extra: unknown field"),
        (
            {"plan": {"links": [{**LINK, "preserve": "x"}]}},
            "links[0].preserve: expected a list of strings",
        ),
        ({"plan": {"links": [{**LINK, "source": ""}]}}, "links[0].source: must not be empty"),
        (
            {"plan": {"links": [{**LINK, "transform": {"k": 5}}]}},
            "links[0].transform.k: expected a string",
        ),
        ({"plan": {"links": "nope"}}, "links: expected a list"),
        ({"inventory": None}, "i.json: no such file"),
        ({"inventory": "[{"}, "i.json: line 1"),
        ({"inventory": [{"id": "a"}]}, "i.json: [0].eventType: required field is missing"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path: Path, files: dict, expected: str) -> None:
    """Bad input of any kind prints one line naming file and place, exit 2, no traceback."""
    inventory = [{"id": "a", "eventType": "t"}, {"id": "b", "eventType": "u"}]
    plan = write(tmp_path, "p.yaml", json.dumps({"links": [LINK]}))
    inv = write(tmp_path, "i.json", inventory)
    for key, path in (("plan", plan), ("inventory", inv)):
        if key in files:
            if files[key] is None:
                path.unlink()
            else:
                write(tmp_path, path.name, files[key])
    code, out, err = run("validate", plan, "--inventory", inv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and expected in err, err


_BOMB = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]\n" for i in range(1, 10)
)


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("dir.yaml", None, "dir.yaml: is a directory"),
        ("garbage.yaml", b"\xff\xfe\x00\x9c" * 1000, "garbage.yaml: is not UTF-8 text"),
        ("deep.json", "[" * 100_000 + "]" * 100_000, "deep.json: invalid JSON: nested too deeply"),
        ("deep.yaml", "[" * 100_000 + "]" * 100_000, "deep.yaml: line 1"),
        ("bomb.yaml", _BOMB, "bomb.yaml: invalid YAML: aliases expand to more than"),
        ("loop.yaml", "links: &l [*l]\n", "loop.yaml: invalid YAML: an alias refers to its own"),
    ],
)
@pytest.mark.parametrize("role", ["plan", "inventory", "event"])
def test_hostile_files_are_one_line_exit_2(
    tmp_path: Path, name: str, content: str | bytes | None, expected: str, role: str
) -> None:
    """A directory, binary garbage, a deeply nested or alias-bomb document: one line, exit 2."""
    bad = tmp_path / name
    if content is None:
        bad.mkdir()
    elif isinstance(content, bytes):
        bad.write_bytes(content)
    else:
        bad.write_text(content, encoding="utf-8")
    files = {"plan": CALLBACK, "inventory": CALLBACK_INV, "event": CALLBACK_EVENT, role: bad}
    code, out, err = run(
        "simulate", files["plan"], "--inventory", files["inventory"], "--event", files["event"]
    )
    if role == "inventory" and content is None:  # an inventory may be a directory of pages
        expected = "dir.yaml: directory holds no .json/.yaml inventory pages"
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and expected in err, err


@pytest.mark.parametrize(
    "args",
    [
        ("validate", CALLBACK, "--inventory", CALLBACK_INV, "--format", "xml"),
        ("validate", CALLBACK, "--inventory", CALLBACK_INV, "--dialect", "soap"),
        ("simulate", CALLBACK, "--inventory", CALLBACK_INV, "--event", "missing.json"),
    ],
)
def test_bad_options_exit_2(args: tuple) -> None:
    """A bad --format, --dialect or a missing event file is one line, exit 2."""
    code, _, err = run(*args)
    assert code == 2 and err.count("\n") == 1


def test_simulate_bad_jsonpath_is_bad_input(tmp_path: Path) -> None:
    """simulate cannot run an unparsable JSONPath: one line naming the link, exit 2."""
    plan = write(tmp_path, "p.json", {"links": [{
        "source": "3f6c2a9e-8b1d-4e57-9a0c-5d2e7f81b4a6",
        "destination": "7a1e9c44-2f3b-4d8e-b6a5-0c9d8e7f6a52",
        "event_type": "routing.queue.member.added", "transform": {"k": "$["}}]})  # fmt: skip
    code, _, err = run("simulate", plan, "--inventory", CALLBACK_INV, "--event", CALLBACK_EVENT)
    assert code == 2 and "links[0].transform.k: invalid JSONPath" in err and err.count("\n") == 1


def chain_files(tmp_path: Path, hops: int, max_depth: int) -> tuple[Path, Path, Path]:
    rules = [
        {"id": f"r{i}", "eventType": f"t{i}", "filters": {"attributes": ["a"]}}
        for i in range(hops + 1)
    ]
    links = [
        {"source": f"r{i}", "destination": f"r{i + 1}", "event_type": f"t{i}", "preserve": ["a"]}
        for i in range(hops)
    ]
    return (
        write(tmp_path, "plan.json", {"max_depth": max_depth, "links": links}),
        write(tmp_path, "inv.json", rules),
        write(tmp_path, "event.json", {"eventType": "t0", "metadata": {"a": "x"}}),
    )


def test_ten_thousand_hop_chain(tmp_path: Path) -> None:
    """A 10,000-hop chain: a depth finding at max_depth 5, valid and simulated at 10,000."""
    plan, inv, event = chain_files(tmp_path, 10_000, 5)
    code, out, _ = run("validate", plan, "--inventory", inv)
    assert code == 1 and "depth" in out and "10000 hops" in out
    plan, inv, event = chain_files(tmp_path, 10_000, 10_000)
    assert run("validate", plan, "--inventory", inv)[0] == 0
    code, out, _ = run("simulate", plan, "--inventory", inv, "--event", event, "--format", "json")
    hops = json.loads(out)["hops"]
    assert code == 0 and len(hops) == 10_000 and hops[-1]["event"]["metadata"] == {"a": "x"}


def test_hundred_thousand_links(tmp_path: Path) -> None:
    """A plan of 100,000 links (25,000 rules, 4 out of each) gives findings, not a crash."""
    n = 25_000
    rules = [{"id": f"r{i}", "eventType": f"t{i}"} for i in range(n + 4)]
    links = [
        {"source": f"r{i}", "destination": f"r{i + k}", "event_type": f"t{i}"}
        for i in range(n)
        for k in (1, 2, 3, 4)
    ]
    plan = write(tmp_path, "plan.json", {"links": links})
    inv = write(tmp_path, "inv.json", rules)
    code, out, _ = run("validate", plan, "--inventory", inv, "--format", "json")
    data = json.loads(out)
    assert code == 1 and [f["code"] for f in data["findings"]] == ["depth"]
    assert len(data["findings"][0]["rule_ids"]) == n + 1  # r0 .. r24999, then r25003


def test_ids_that_look_like_rich_markup_print_as_they_are(tmp_path: Path) -> None:
    """Rule ids and attributes with [brackets] are printed literally, never as markup."""
    inv = write(tmp_path, "i.json", [
        {"id": "x[/b]", "eventType": "start", "filters": {"attributes": ["a"]}},
        {"id": "[bold]y", "eventType": "t2", "filters": {"attributes": ["a"]}}])  # fmt: skip
    plan = write(tmp_path, "p.json", {"links": [
        {"source": "x[/b]", "destination": "[bold]y", "event_type": "start",
         "preserve": ["a", "[/z]"]},
        {"source": "x[/b]", "destination": "nope[/i]", "event_type": "start"}]})  # fmt: skip
    event = write(tmp_path, "e.json", {"eventType": "start", "metadata": {}})
    code, out, _ = run("validate", plan, "--inventory", inv)
    assert code == 1 and "nope[/i]" in out and "[/z]" in out
    code, out, _ = run("simulate", plan, "--inventory", inv, "--event", event)
    assert code == 0 and "x[/b]" in out and "-> [bold]y" in out
    code, out, err = run("simulate", plan, "--inventory", inv, "--event", event, "--format", "json")
    assert code == 0 and json.loads(out)["hops"][0]["destination"] == "[bold]y"
    assert "lacks [/z]" in err
    assert "x[/b] -> nope[/i]: skipped, rule 'nope[/i]' is not in the inventory" in err


def test_simulate_text_shows_the_first_hops_of_a_huge_trace(tmp_path: Path) -> None:
    """A trace of thousands of hops prints a bounded table and says JSON has them all."""
    plan, inv, event = chain_files(tmp_path, 1_000, 1_000)
    code, out, _ = run("simulate", plan, "--inventory", inv, "--event", event)
    assert code == 0 and "1000 hop(s)" in out
    assert "first 200 shown (--format json prints every hop)" in out
    assert "│   201 │" not in out and "│   200 │" in out


def test_json_warnings_are_bounded_and_truncation_is_said(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Beside JSON output, stderr holds at most 20 warnings, a count, and any truncation."""
    from chainsim.render import print_trace_warnings as _warn_beside_json
    from chainsim.simulate import Hop, Trace

    hops = [Hop("a", "b", 1, {}, ("k",)) for _ in range(50)]
    _warn_beside_json(Trace(event={}, hops=hops, truncated=True))
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 22 and lines[20] == "warning: ... and 30 more"
    assert lines[21] == "warning: trace truncated after 50 hops (too many paths)"

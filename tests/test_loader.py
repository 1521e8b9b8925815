"""Tests for the guarded loader, and the hostile-input holes it closes, through the CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from pydantic import BaseModel, StrictInt

from chainsim.cli import main
from chainsim.errors import InputError
from chainsim.loader import (
    DEFAULT_MAX_BYTES,
    MAX_DEPTH,
    iter_jsonl,
    nesting_depth,
    parse_json,
    parse_yaml,
    read_bytes,
    read_document,
    validate_record,
)

RULES = [
    {"id": "a", "eventType": "t.a", "filters": {"attributes": ["x"]}},
    {"id": "b", "eventType": "t.a"},
]


def _main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_.value.code or 0), out, err


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A work dir with a two-rule inventory, a one-link plan and an event."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "inv.json").write_text(json.dumps(RULES))
    (tmp_path / "plan.yaml").write_text(
        "links: [{source: a, destination: b, event_type: t.a, preserve: [x]}]\n"
    )
    (tmp_path / "event.json").write_text(json.dumps({"eventType": "t.a", "metadata": {"x": 1}}))
    return tmp_path


# --------------------------------------------------------------------------- files


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    """A FIFO with no writer is refused at once (opening it for read would block forever)."""
    fifo = tmp_path / "plan.yaml"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="is a FIFO, expected a regular file"):
        read_document(fifo)


@pytest.mark.parametrize(
    ("path", "problem"), [("/dev/zero", "is a character device"), ("/dev/null", "character")]
)
def test_devices_are_refused(path: str, problem: str) -> None:
    """/dev/zero (endless) and other devices are refused before a byte is read."""
    with pytest.raises(InputError, match=problem):
        read_bytes(path)


def test_a_directory_and_a_missing_file_keep_their_messages(tmp_path: Path) -> None:
    """A directory and a missing file say what they did before the loader existed."""
    with pytest.raises(InputError, match="is a directory, expected a file"):
        read_document(tmp_path)
    with pytest.raises(InputError, match="no such file"):
        read_document(tmp_path / "none.yaml")


def test_the_size_limit_is_a_parameter(tmp_path: Path) -> None:
    """A file over `max_bytes` is refused naming the limit; the default is 64 MiB."""
    path = tmp_path / "p.yaml"
    path.write_text("links: []\n" + "#" * 100)
    assert DEFAULT_MAX_BYTES == 64 * 1024 * 1024
    assert read_document(path) == {"links": []}
    with pytest.raises(InputError, match="larger than the input limit of 50 bytes"):
        read_document(path, max_bytes=50)


def test_a_bom_is_dropped_and_non_utf8_refused(tmp_path: Path) -> None:
    """A UTF-8 BOM is ignored; bytes that are not UTF-8 are one InputError."""
    path = tmp_path / "p.json"
    path.write_bytes(b"\xef\xbb\xbf" + b'{"links": []}')
    assert read_document(path) == {"links": []}
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(InputError, match="is not UTF-8 text"):
        read_document(path)


@pytest.mark.parametrize("name", ["p.json", "p.yaml"])
@pytest.mark.parametrize("content", ["", "\n  \n"])
def test_an_empty_document_is_none_in_both_formats(tmp_path: Path, name: str, content: str) -> None:
    """An empty or blank file reads as None, JSON or YAML alike."""
    path = tmp_path / name
    path.write_text(content)
    assert read_document(path) is None


# --------------------------------------------------------------------------- limits


@pytest.mark.parametrize("text", ["9" * 5000, "-" + "9" * 101, '{"seed": ' + "1" * 4301 + "}"])
def test_huge_json_integers_are_input_errors(text: str) -> None:
    """More than 100 digits is refused (Python itself raises ValueError past 4,300)."""
    with pytest.raises(InputError, match="an integer of more than 100 digits"):
        parse_json(text, "f.json")


def test_a_long_but_sane_integer_passes() -> None:
    """A 100-digit integer is still read."""
    assert parse_json("9" * 100, "f.json") == int("9" * 100)


@pytest.mark.parametrize("text", ["seed: " + "9" * 5000, "seed: 0x" + "f" * 5000])
def test_huge_yaml_integers_are_input_errors(text: str) -> None:
    """A YAML integer of thousands of digits is one InputError naming line and column."""
    with pytest.raises(InputError, match="line 1, column 7: invalid YAML: an integer of more"):
        parse_yaml(text, "f.yaml")


@pytest.mark.parametrize(
    ("text", "parse"),
    [
        ("[" * 100_000 + "]" * 100_000, parse_json),
        ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), parse_json),
        ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), parse_yaml),
    ],
)
def test_deep_nesting_is_an_input_error(text: str, parse) -> None:
    """Nesting past MAX_DEPTH is refused, never a RecursionError."""
    with pytest.raises(InputError, match="nested too deeply"):
        parse(text, "f")


def test_nesting_depth_is_iterative() -> None:
    """nesting_depth counts levels without recursing (and stops early past the limit)."""
    assert nesting_depth(1) == 0 and nesting_depth({"a": [1, {"b": []}]}) == 4
    deep: list = []
    for _ in range(10_000):
        deep = [deep]
    assert nesting_depth(deep) > MAX_DEPTH


def test_duplicate_json_keys_are_refused() -> None:
    """A JSON object naming a key twice is refused."""
    with pytest.raises(InputError, match="duplicate key 'a'"):
        parse_json('{"a": 1, "a": 2}', "f.json")


# --------------------------------------------------------------------------- JSONL


class _Record(BaseModel):
    n: StrictInt


def test_jsonl_lines_are_numbered_and_blank_lines_skipped(tmp_path: Path) -> None:
    """iter_jsonl yields (line number, value), skipping blank lines."""
    path = tmp_path / "x.jsonl"
    path.write_text('{"n": 1}\n\n{"n": 2}\n')
    assert list(iter_jsonl(path)) == [(1, {"n": 1}), (3, {"n": 2})]


def test_a_bad_jsonl_line_names_its_number(tmp_path: Path) -> None:
    """A line that is not JSON is `file: line N: invalid JSON: ...`."""
    path = tmp_path / "x.jsonl"
    path.write_text('{"n": 1}\n{oops\n')
    with pytest.raises(InputError, match=r"x.jsonl: line 2: invalid JSON"):
        list(iter_jsonl(path))


def test_a_record_error_is_one_line_naming_the_field() -> None:
    """validate_record turns a pydantic error into `source: line N: field: what`."""
    with pytest.raises(InputError) as caught:
        validate_record("x.jsonl", "line 4", _Record, {"n": "1"})
    assert str(caught.value) == "x.jsonl: line 4: n: Input should be a valid integer"


# --------------------------------------------------------------------------- CLI holes


@pytest.mark.parametrize(
    ("plan", "problem"),
    [
        ("max_depth: " + "9" * 5000 + "\n", "an integer of more than 100 digits"),
        ("links: " + "[" * 2000 + "]" * 2000 + "\n", "nest"),
    ],
)
def test_validate_refuses_hostile_plans_in_one_line(
    work: Path, capsys: pytest.CaptureFixture[str], plan: str, problem: str
) -> None:
    """A 5,000-digit max_depth or a deeply nested plan exits 2 with one line."""
    (work / "p.yaml").write_text(plan)
    code, out, err = _main(capsys, "validate", "p.yaml", "--inventory", "inv.json")
    assert code == 2 and problem in err and err.count("\n") == 1 and out == ""


def test_a_faults_file_with_a_huge_seed_is_bad_input(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--faults` with a 5,000-digit seed exits 2 instead of a ValueError traceback."""
    (work / "faults.yaml").write_text("seed: " + "7" * 5000 + "\n")
    code, _, err = _main(
        capsys, "plan", "plan.yaml", "--bus", "fake", "--inventory", "inv.json", "--faults",
        "faults.yaml",
    )  # fmt: skip
    assert code == 2 and "faults.yaml: line 1, column 7" in err and err.count("\n") == 1


@pytest.mark.parametrize("special", ["fifo", "/dev/zero", "dir"])
def test_validate_refuses_special_files_at_once(
    work: Path, capsys: pytest.CaptureFixture[str], special: str
) -> None:
    """A FIFO, /dev/zero or a directory as the plan exits 2 at once (no hang, no MemoryError)."""
    if special == "fifo":
        os.mkfifo(work / "fifo")
    elif special == "dir":
        (work / "dir").mkdir()
    code, _, err = _main(capsys, "validate", special, "--inventory", "inv.json")
    assert code == 2 and err.count("\n") == 1 and ("expected a" in err)


@pytest.mark.parametrize("name", ["empty.json", "empty.yaml"])
def test_empty_plans_are_the_same_in_json_and_yaml(
    work: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    """An empty JSON plan, like an empty YAML plan, is an empty plan (exit 0, no findings)."""
    (work / name).write_text("")
    code, out, _ = _main(capsys, "validate", name, "--inventory", "inv.json")
    assert code == 0 and "0 links" in out


def test_apply_with_an_unparseable_jsonpath_is_bad_input_before_any_request(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A transform that is not a JSONPath exits 2 naming the place; nothing is written."""
    (work / "p.yaml").write_text(
        "links: [{source: a, destination: b, event_type: t.a, transform: {y: '$.[[['}}]\n"
    )
    code, _, err = _main(
        capsys, "apply", "p.yaml", "--bus", "fake", "--inventory", "inv.json", "--audit", "a.jsonl"
    )
    assert code == 2 and "p.yaml: links[0].transform.y: invalid JSONPath" in err
    assert not (work / "a.jsonl").exists()


def test_control_characters_in_ids_are_escaped_in_text_output(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`plan` and `simulate` print an id holding ESC[2J as `\\x1b[2J`, never the raw escape."""
    rules = [RULES[0], {"id": "b\x1b[2J", "eventType": "t.a"}]
    (work / "inv.json").write_text(json.dumps(rules))
    (work / "p.yaml").write_text(
        'links: [{source: a, destination: "b\\e[2J", event_type: t.a, preserve: [x]}]\n'
    )
    for args in (
        ("plan", "p.yaml", "--inventory", "inv.json"),
        ("simulate", "p.yaml", "--inventory", "inv.json", "--event", "event.json"),
    ):
        code, out, _ = _main(capsys, *args)
        assert code == 0 and "\x1b" not in out and "b\\x1b[2J" in out


def test_a_five_megabyte_rule_id_prints_shortened(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`plan` and `simulate` shorten a 5 MB id with an ellipsis (it took 76 s to render)."""
    big = "r" * 5_000_000
    rules = [{**RULES[0], "id": big}, RULES[1]]
    (work / "inv.json").write_text(json.dumps(rules))
    (work / "p.yaml").write_text(
        f"links: [{{source: {big}, destination: b, event_type: t.a, preserve: [x]}}]\n"
    )
    for args in (
        ("plan", "p.yaml", "--inventory", "inv.json"),
        ("simulate", "p.yaml", "--inventory", "inv.json", "--event", "event.json"),
    ):
        code, out, _ = _main(capsys, *args)
        assert code == 0 and "r" * 79 + "…" in out and len(out) < 100_000


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('{"rule_id": ["x"], "payload": {}, "status": null, "code": null, "message": "m", '
         '"trace_id": "t", "timestamp": "now"}', "spool.jsonl: line 1: rule_id: "),
        ("[" * 100_000 + "]" * 100_000, "spool.jsonl: line 1: invalid JSON: nested too deeply"),
        ('{"status": ' + "9" * 5000 + "}", "an integer of more than 100 digits"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("command", ["list", "redrive"])
def test_dlq_refuses_hostile_spool_lines_in_one_line(
    work: Path, capsys: pytest.CaptureFixture[str], line: str, problem: str, command: str
) -> None:
    """Wrong types, deep nesting or a huge integer in the spool: exit 2, one line."""
    (work / "spool.jsonl").write_text(line + "\n")
    extra = ["--bus", "fake", "--inventory", "inv.json"] if command == "redrive" else []
    code, out, err = _main(capsys, "dlq", command, "--spool", "spool.jsonl", *extra)
    assert code == 2 and problem in err and err.count("\n") == 1 and out == ""


def test_dlq_list_of_a_named_missing_spool_is_bad_input(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`dlq list --spool missing.jsonl` exits 2; without --spool an absent spool is empty."""
    code, _, err = _main(capsys, "dlq", "list", "--spool", "missing.jsonl")
    assert code == 2 and err == "chainsim: missing.jsonl: no such file\n"
    assert _main(capsys, "dlq", "list", "--format", "json")[:2] == (0, "[]\n")


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda p: p.mkdir(), "is a directory, expected a file"),
        (lambda p: p.write_text("just text\n"), "is not a chainsim audit log"),
    ],
)
def test_audit_verify_of_what_is_no_audit_log_exits_2(
    work: Path, capsys: pytest.CaptureFixture[str], make, problem: str
) -> None:
    """`audit verify DIR` or a file that is no audit log exits 2 (not "no such file")."""
    make(work / "x")
    code, _, err = _main(capsys, "audit", "verify", "x")
    assert code == 2 and problem in err and err.count("\n") == 1


def test_audit_verify_head_option_and_key(
    work: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--head` must be reached (exit 1 when cut); CHAINSIM_AUDIT_KEY keys apply and verify."""
    from chainsim.audit import head_path

    monkeypatch.setenv("CHAINSIM_AUDIT_KEY", "k3y")
    code, out, _ = _main(
        capsys,
        "apply",
        "plan.yaml",
        "--bus",
        "fake",
        "--inventory",
        "inv.json",
        "--audit",
        "a.jsonl",
    )
    assert code == 0, out
    lines = (work / "a.jsonl").read_text().splitlines(keepends=True)
    assert all(json.loads(line)["mac"] == "hmac-sha256" for line in lines)
    head = json.loads(head_path(work / "a.jsonl").read_text())["digest"]
    assert _main(capsys, "audit", "verify", "a.jsonl", "--head", head)[0] == 0
    (work / "a.jsonl").write_text("".join(lines[:-1]))
    head_path(work / "a.jsonl").unlink()
    code, out, _ = _main(capsys, "audit", "verify", "a.jsonl", "--head", head)
    assert code == 1 and "ends before head" in out
    monkeypatch.delenv("CHAINSIM_AUDIT_KEY")
    code, out, _ = _main(capsys, "audit", "verify", "a.jsonl")
    assert code == 1 and "CHAINSIM_AUDIT_KEY" in out

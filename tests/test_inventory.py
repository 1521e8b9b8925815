"""One inventory form per dialect: detection, listings, directories of pages, normalising,
and the public trigger examples loading into every command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chainsim.cli import app
from chainsim.dialects import get_dialect
from chainsim.dialects.catalogue import load_catalogue
from chainsim.dialects.inventory import read_inventory, resolve_dialect
from chainsim.errors import InputError
from chainsim.fakebus import FakeBus

ROOT = Path(__file__).resolve().parents[1]
PUBLIC = ROOT / "tests" / "data" / "public_triggers"
PUBLIC_FILES = sorted(PUBLIC.glob("*.json"))
EVENTBRIDGE_INV = ROOT / "scenarios" / "plans" / "inbound_callback.inventory.json"
TOPIC = "v2.detail.events.conversation.{id}.customer.end"
# The lint each public example shows (tests/data/public_triggers/README.md): true findings.
EXPECTED = {"disconnected_call_callback": ["criteria_shape", "criteria_shape"]}

runner = CliRunner()


def run(*args: str | Path) -> tuple[int, str, str]:
    """Invoke the CLI; no traceback ever."""
    result = runner.invoke(app, [str(a) for a in args])
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    return result.exit_code, result.stdout, result.stderr


def trigger(number: int, **extra: object) -> dict[str, object]:
    """A valid trigger on the customer.end topic."""
    return {
        "id": f"t-{number}",
        "name": f"Trigger {number}",
        "topicName": TOPIC,
        "enabled": True,
        "target": {"id": "wf-1", "type": "Workflow"},
        "matchCriteria": [{"jsonPath": "mediaType", "operator": "Equal", "value": "VOICE"}],
        **extra,
    }


def write(path: Path, data: object) -> Path:
    """Write `data` as JSON (a str as it is) and return the path."""
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def test_the_dialect_is_detected_from_the_file(tmp_path: Path) -> None:
    """`topicName` -> triggers, `eventType` -> eventbridge, with no --dialect."""
    triggers = write(tmp_path / "t.json", {"entities": [trigger(1)]})
    assert read_inventory(triggers).dialect_name == "triggers"
    assert read_inventory(EVENTBRIDGE_INV).dialect_name == "eventbridge"


def test_a_file_contradicting_the_dialect_is_bad_input_naming_it(tmp_path: Path) -> None:
    """--dialect eventbridge on a triggers file: one line naming the file and both dialects."""
    triggers = write(tmp_path / "t.json", [trigger(1)])
    with pytest.raises(InputError) as caught:
        read_inventory(triggers, "eventbridge")
    assert (
        str(caught.value)
        == f"{triggers}: is in the triggers dialect, but --dialect says eventbridge"
    )


def test_live_defaults_to_triggers_and_an_inventory_wins() -> None:
    """No --dialect: a live bus is triggers, the fake eventbridge, an inventory says its own."""
    assert resolve_dialect(None, None, live=True) == "triggers"
    assert resolve_dialect(None, None, live=False) == "eventbridge"
    assert resolve_dialect(None, PUBLIC / "terraform_example.json") == "triggers"


def test_a_directory_of_saved_pages_is_one_inventory(tmp_path: Path) -> None:
    """Each file a listing, read in file-name order, as one inventory."""
    pages = tmp_path / "pages"
    pages.mkdir()
    write(pages / "page-2.json", {"entities": [trigger(3)]})
    write(pages / "page-1.json", {"entities": [trigger(1), trigger(2)]})
    inventory = read_inventory(pages)
    assert [r.id for r in inventory.rules] == ["t-1", "t-2", "t-3"]


def test_an_id_on_two_pages_is_bad_input_naming_the_second(tmp_path: Path) -> None:
    """A trigger id repeated across pages: the later page and place are named."""
    pages = tmp_path / "pages"
    pages.mkdir()
    write(pages / "a.json", [trigger(1)])
    second = write(pages / "b.json", {"entities": [trigger(1)]})
    with pytest.raises(InputError) as caught:
        read_inventory(pages)
    assert str(caught.value).startswith(f"{second}: entities[0].id: duplicate id 't-1'")


def test_numeric_strings_in_integer_fields_are_read_as_integers(tmp_path: Path) -> None:
    """`"eventTTLSeconds": "120"` is 120, as the platform's JSON binding reads it."""
    path = write(tmp_path / "t.json", [trigger(1, eventTTLSeconds="120", version="3")])
    inventory = read_inventory(path)
    assert inventory.wire[0]["eventTTLSeconds"] == 120
    assert inventory.rules[0].version == 3
    assert get_dialect("triggers").to_wire(inventory.rules[0])["eventTTLSeconds"] == 120


def test_a_trigger_without_id_gets_the_same_id_offline_and_on_the_fake(tmp_path: Path) -> None:
    """Create bodies (no id) get `trigger-<n>` by place, both read offline and seeded."""
    body = {k: v for k, v in trigger(1).items() if k != "id"}
    path = write(tmp_path / "t.json", [trigger(7), body])
    assert [r.id for r in read_inventory(path).rules] == ["t-7", "trigger-2"]
    fake = FakeBus()
    get_dialect("triggers").seed(fake, path)
    assert sorted(t["id"] for t in fake.triggers()) == ["t-7", "trigger-2"]


def test_a_trigger_file_that_is_not_json_is_one_line_exit_2(tmp_path: Path) -> None:
    """Bad input: not JSON -> one line naming the file, exit 2."""
    bad = write(tmp_path / "bad.json", "{not json")
    for args in (
        ("validate", "--inventory", bad),
        ("export", "--bus", "fake", "--inventory", bad),
        ("plan", "p.yaml", "--bus", "fake", "--inventory", bad),
    ):
        code, out, err = run(*args)
        assert code == 2 and out == "" and err.count("\n") == 1, err
        assert err.startswith(f"chainsim: {bad}: ")


def test_an_unknown_example_topic_is_one_line_exit_2_with_the_nearest() -> None:
    """`simulate --example` with a misspelt topic: one line, exit 2, the nearest suggested."""
    code, out, err = run("simulate", "--example", "v2.detail.events.conversation.{id}.acv")
    assert code == 2 and out == ""
    assert err == (
        "chainsim: --example: unknown topic 'v2.detail.events.conversation.{id}.acv' "
        "(did you mean 'v2.detail.events.conversation.{id}.acw'?)\n"
    )


def test_example_prints_a_schema_valid_event() -> None:
    """`simulate --example TOPIC`: JSON the topic's schema accepts."""
    code, out, _ = run("simulate", "--example", TOPIC)
    assert code == 0
    event = json.loads(out)
    assert event and load_catalogue().validate_event(TOPIC, event) == []


@pytest.mark.parametrize("path", PUBLIC_FILES, ids=lambda p: p.stem)
def test_public_examples_validate_with_true_findings_only(path: Path) -> None:
    """Each public example validates without a plan: clean, or the documented findings."""
    code, out, _ = run("validate", "--inventory", path, "--format", "json")
    report = json.loads(out)
    assert [f["code"] for f in report["findings"]] == EXPECTED.get(path.stem, [])
    assert code == 0 and report["ok"]


@pytest.mark.parametrize("path", PUBLIC_FILES, ids=lambda p: p.stem)
def test_public_examples_load_into_every_command(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """plan (offline and on the fake), apply --bus fake, export, simulate: none is bad input."""
    monkeypatch.chdir(tmp_path)  # apply's journal lands here
    plan = write(tmp_path / "plan.yaml", "links: []\nrules:\n  trigger-1: {enabled: false}\n")
    event = write(tmp_path / "e.json", {"eventType": "x", "metadata": {}})
    out_file = tmp_path / "export.json"
    for args in (
        ("plan", plan, "--inventory", path),
        ("plan", plan, "--bus", "fake", "--inventory", path),
        ("simulate", plan, "--inventory", path, "--event", event),
        ("export", "--bus", "fake", "--inventory", path, "-o", out_file),
        ("apply", plan, "--bus", "fake", "--inventory", path, "--audit", tmp_path / "a.jsonl"),
    ):
        code, out, err = run(*args)
        assert code == 0, (args, out, err)
    exported = json.loads(out_file.read_text())["entities"]
    assert len(exported) == len(read_inventory(path).rules)


def test_plan_shows_the_put_body_of_a_trigger(tmp_path: Path) -> None:
    """Offline triggers plan: the JSON carries the PUT body and a diff of wire bodies."""
    inventory = write(tmp_path / "t.json", [trigger(1)])
    plan = write(
        tmp_path / "p.yaml", "links: []\nrules:\n  t-1: {enabled: false, workflow: wf-2}\n"
    )
    code, out, _ = run("plan", plan, "--inventory", inventory, "--format", "json")
    change = json.loads(out)["changes"][0]
    assert code == 0 and change["change"] == "update"
    assert change["body"] == {
        "version": 1,
        "enabled": False,
        "target": {"id": "wf-2", "type": "Workflow"},
        "matchCriteria": trigger(1)["matchCriteria"],
        "name": "Trigger 1",
        "topicName": TOPIC,
    }
    assert '-  "enabled": true,' in change["diff"] and '+  "enabled": false,' in change["diff"]
    assert "filters" not in change["diff"] and "eventType" not in change["diff"]
    assert change["summary"] == [
        "~ enabled: true -> false",
        '~ target: {"id": "wf-1", "type": "Workflow"} -> {"id": "wf-2", "type": "Workflow"}',
    ]


def test_fake_serve_seeds_triggers_through_the_dialect(tmp_path: Path) -> None:
    """`fake serve --triggers DIR` reads the one inventory form (here a directory of pages)."""
    pages = tmp_path / "pages"
    pages.mkdir()
    write(pages / "1.json", {"entities": [trigger(1, eventTTLSeconds="60")]})
    fake = FakeBus()
    get_dialect("triggers").seed(fake, pages)
    assert [(t["id"], t["eventTTLSeconds"]) for t in fake.triggers()] == [("t-1", 60)]


def test_pages_of_two_dialects_are_bad_input_naming_the_odd_page(tmp_path: Path) -> None:
    """A directory mixing trigger and rule pages: the first page that differs is named."""
    pages = tmp_path / "pages"
    pages.mkdir()
    write(pages / "1.json", [trigger(1)])
    odd = write(pages / "2.json", json.loads(EVENTBRIDGE_INV.read_text()))
    with pytest.raises(InputError) as caught:
        read_inventory(pages)
    expected = "is in the eventbridge dialect, the pages before it in triggers"
    assert str(caught.value) == f"{odd}: {expected}"


def test_a_trigger_missing_its_topic_is_named_by_place(tmp_path: Path) -> None:
    """Detection leans on the items that fit; the parser names the bad one."""
    broken = {k: v for k, v in trigger(2).items() if k != "topicName"}
    path = write(tmp_path / "t.json", {"entities": [trigger(1), broken]})
    with pytest.raises(InputError) as caught:
        read_inventory(path)
    assert str(caught.value) == f"{path}: entities[1]: trigger 't-2' has no topicName"


def test_simulate_without_plan_or_example_is_one_line_exit_2() -> None:
    """`simulate` with neither a plan nor --example: one line, exit 2."""
    code, out, err = run("simulate")
    assert code == 2 and out == ""
    assert err == "chainsim: simulate: PLAN is required (or give --example TOPIC)\n"


def test_a_trigger_field_of_the_wrong_type_is_named(tmp_path: Path) -> None:
    """`"enabled": "yes"`: one line naming the trigger's place and the field."""
    path = write(tmp_path / "t.json", [trigger(1, enabled="yes")])
    with pytest.raises(InputError) as caught:
        read_inventory(path)
    assert str(caught.value) == f"{path}: [0].enabled: Input should be a valid boolean"


def test_a_wrapping_merger_keeps_the_trigger_terms() -> None:
    """A merger wrapping the triggers merger (as `base`) still shows PUT bodies."""
    from chainsim.plan import wire_form

    class Wrapper:
        def __init__(self, base: object) -> None:
            self.base = base

    merger = get_dialect("triggers").merger
    assert wire_form(Wrapper(merger)) == merger.wire
    assert wire_form(Wrapper(get_dialect("eventbridge").merger)) is None

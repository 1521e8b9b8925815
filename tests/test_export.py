"""`chainsim export`: every trigger of the org, all pages, in wire form; read back by every
command unchanged; the org's own topic catalogue when readable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chainsim.bus.base import BusError
from chainsim.cli import app
from chainsim.dialects import get_dialect
from chainsim.dialects.catalogue import load_catalogue

ROOT = Path(__file__).resolve().parents[1]
PUBLIC = ROOT / "tests" / "data" / "public_triggers"
TOPIC = "v2.detail.events.conversation.{id}.acw"

runner = CliRunner()


def run(*args: str | Path) -> tuple[int, str, str]:
    """Invoke the CLI; no traceback ever."""
    result = runner.invoke(app, [str(a) for a in args])
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    return result.exit_code, result.stdout, result.stderr


def many_triggers(count: int) -> list[dict[str, object]]:
    """`count` valid triggers on the acw topic."""
    return [
        {
            "id": f"t-{n:03d}",
            "name": f"After-call work {n}",
            "topicName": TOPIC,
            "enabled": n % 2 == 0,
            "target": {"id": "wf-1", "type": "Workflow"},
            "matchCriteria": [{"jsonPath": "mediaType", "operator": "Equal", "value": "VOICE"}],
            "eventTTLSeconds": 60,
        }
        for n in range(count)
    ]


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A work dir (apply's journal lands here) holding 450 triggers (3 pages of up to 200)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "seed.json").write_text(json.dumps(many_triggers(450)))
    return tmp_path


def test_export_writes_every_page_to_stdout(work: Path) -> None:
    """All 450 triggers (3 pages of the SDK client), in wire form, as `{"entities": [...]}`."""
    code, out, _ = run("export", "--bus", "fake", "--inventory", "seed.json")
    assert code == 0
    entities = json.loads(out)["entities"]
    assert [t["id"] for t in entities] == [f"t-{n:03d}" for n in range(450)]
    first = entities[0]
    assert first["topicName"] == TOPIC and first["target"]["type"] == "Workflow"
    assert "eventType" not in first and "filters" not in first
    assert first["selfUri"] == "/api/v2/processautomation/triggers/t-000"


def test_an_export_is_read_back_by_every_command_unchanged(work: Path) -> None:
    """export -> validate/simulate/plan/apply --bus fake -> export again: the same triggers."""
    assert run("export", "--bus", "fake", "--inventory", "seed.json", "-o", "org.json")[0] == 0
    (work / "plan.yaml").write_text("links: []\n")
    (work / "e.json").write_text(json.dumps({"eventType": TOPIC, "metadata": {}}))
    for args in (
        ("validate", "--inventory", "org.json"),
        ("validate", "plan.yaml", "--inventory", "org.json"),
        ("simulate", "plan.yaml", "--inventory", "org.json", "--event", "e.json"),
        ("plan", "plan.yaml", "--inventory", "org.json"),
        ("plan", "plan.yaml", "--bus", "fake", "--inventory", "org.json"),
        ("apply", "plan.yaml", "--bus", "fake", "--inventory", "org.json"),
        ("export", "--bus", "fake", "--inventory", "org.json", "-o", "again.json"),
    ):
        code, out, err = run(*args)
        assert code == 0, (args, out, err)
    first = json.loads((work / "org.json").read_text())
    assert json.loads((work / "again.json").read_text()) == first


def test_export_to_a_directory_is_bad_input_before_reading(work: Path) -> None:
    """`-o DIR`: one line, exit 2, nothing written."""
    (work / "out").mkdir()
    code, out, err = run("export", "--bus", "fake", "--inventory", "seed.json", "-o", "out")
    assert code == 2 and out == "" and err == "chainsim: out: -o: is a directory, expected a file\n"
    assert list((work / "out").iterdir()) == []


def test_export_of_an_eventbridge_fake_writes_rules(work: Path) -> None:
    """The inventory's dialect decides: EventBridge rules come back as rules."""
    rules = [{"id": "a", "eventType": "t.a", "version": 2, "filters": {"attributes": []}}]
    (work / "rules.json").write_text(json.dumps(rules))
    code, out, _ = run("export", "--bus", "fake", "--inventory", "rules.json")
    assert code == 0 and [r["id"] for r in json.loads(out)["entities"]] == ["a"]


def test_live_export_keeps_the_sdk_wire_form(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--bus live` (default dialect triggers) over loopback HTTP: the SDK's full wire JSON."""
    from chainsim.clock import SystemClock
    from chainsim.fakebus import FakeBus

    fake = FakeBus(clock=SystemClock(), clients={"live-id": "live-secret"})
    fake.seed_triggers(many_triggers(30))
    monkeypatch.setenv("GENESYS_CLIENT_ID", "live-id")
    monkeypatch.setenv("GENESYS_CLIENT_SECRET", "live-secret")
    with fake.serve(port=0) as base:
        code, out, err = run("export", "--bus", "live", "--api-host", base, "--login-host", base)
    assert code == 0, err
    entities = json.loads(out)["entities"]
    assert entities == fake.triggers()


def test_the_live_catalogue_comes_from_the_org() -> None:
    """A bus that lists its topics gives the catalogue; the offline one is not used."""

    class Org:
        def available_topics(self) -> dict[str, object]:
            schema = {"type": "object", "properties": {"x": {"type": "string"}}}
            return {"entities": [{"id": "v2.custom.{id}.topic", "schema": schema}]}

    catalogue = get_dialect("triggers").catalogue(Org())
    assert catalogue.names() == ["v2.custom.{id}.topic"]


def test_an_unreadable_live_catalogue_falls_back_and_says_so(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """403 on availabletopics: the offline catalogue, one line on stderr."""

    class Org:
        def available_topics(self) -> dict[str, object]:
            raise BusError("GET /api/v2/notifications/availabletopics: 403 Forbidden")

    catalogue = get_dialect("triggers").catalogue(Org())
    assert catalogue.names() == load_catalogue().names()
    err = capsys.readouterr().err
    assert err.startswith("chainsim: the org's topic catalogue is not readable (")
    assert err.count("\n") == 1 and "offline catalogue" in err


def test_plan_on_the_fake_lints_with_the_orgs_catalogue(work: Path) -> None:
    """plan --bus fake (triggers) lints the org's triggers against its availabletopics."""
    bad = many_triggers(1)
    bad[0]["matchCriteria"] = [{"jsonPath": "mediaTyp", "operator": "Exists", "value": True}]
    (work / "bad.json").write_text(json.dumps(bad))
    (work / "plan.yaml").write_text("links: []\n")
    code, out, _ = run(
        "plan", "plan.yaml", "--bus", "fake", "--inventory", "bad.json", "--format", "json"
    )
    codes = [f["code"] for f in json.loads(out)["findings"]]
    assert code == 1 and codes == ["unknown_path"]

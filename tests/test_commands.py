"""CLI tests for `plan`, `apply`, `audit verify` and `dlq` on the embedded fake."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from chainsim.cli import app
from tests.orchestrator_rig import make_rule

runner = CliRunner()
LINKS = [
    {"source": "a", "destination": "b", "event_type": "type.a", "preserve": ["queueId"]},
    {"source": "c", "destination": "d", "event_type": "type.c", "preserve": ["queueId"]},
    {
        "source": "b",
        "destination": "c",
        "event_type": "type.b",
        "transform": {"caller": "$.metadata.callerId"},
    },
]


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A work dir holding an inventory of rules a..e and a three-link plan."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "inventory.json").write_text(json.dumps([make_rule(x) for x in "abcde"]))
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump({"links": LINKS}))
    return tmp_path


def _closed_port() -> int:
    """A loopback port nobody listens on (a connection is refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_plan_prints_the_changeset_and_changes_nothing(work: Path) -> None:
    """`plan --inventory` lists each rule's change and exits 0 for a valid plan."""
    code, out = _run("plan", "plan.yaml", "--inventory", "inventory.json")
    assert code == 0, out
    assert "3 to update" in out and "+ link -> Rule b (b)" in out


def test_plan_json_and_exit_codes(work: Path) -> None:
    """JSON output lists changes; a cycle exits 1; a missing file exits 2 with one line."""
    code, out = _run(
        "plan", "plan.yaml", "--bus", "fake", "--inventory", "inventory.json", "--format", "json"
    )
    assert code == 0 and [c["change"] for c in json.loads(out)["changes"]] == ["update"] * 3
    (work / "cycle.yaml").write_text(
        yaml.safe_dump(
            {"links": [*LINKS, {"source": "c", "destination": "a", "event_type": "type.c"}]}
        )
    )
    assert _run("plan", "cycle.yaml", "--inventory", "inventory.json")[0] == 1
    code, out = _run("plan", "nope.yaml", "--inventory", "inventory.json")
    assert code == 2 and out.strip().endswith("no such file")


def test_apply_on_the_fake_writes_the_report_with_final_rules(work: Path) -> None:
    """`apply --bus fake --report` exits 0 and reports status, rules, metrics, final_rules."""
    code, out = _run(
        "apply", "plan.yaml", "--bus", "fake", "--inventory", "inventory.json", "--report", "r.json"
    )
    assert code == 0, out
    report = json.loads((work / "r.json").read_text())
    assert report["status"] == "applied" and report["dead_letters"] == 0
    assert {
        "requests",
        "status_409",
        "status_429",
        "status_5xx",
        "virtual_seconds",
        "wall_seconds",
    } <= set(report["metrics"])
    assert set(report["metrics"]["latency_ms"]) == {"p50", "p95", "p99"}
    final = {r["id"]: r for r in report["final_rules"]}
    assert final["a"]["actions"][0]["ruleId"] == "b"
    assert _run("audit", "verify", ".chainsim/audit.jsonl")[0] == 0


def test_failed_apply_rolls_back_spools_and_redrive_rehearses(work: Path) -> None:
    """A 422 exits 1 rolled back; dlq list shows the letter; a fake redrive keeps the spool."""
    (work / "faults.yaml").write_text("max_depth: 2\n")
    code, out = _run(
        "apply",
        "plan.yaml",
        "--bus",
        "fake",
        "--inventory",
        "inventory.json",
        "--faults",
        "faults.yaml",
        "--report",
        "r.json",
    )
    assert code == 1, out
    assert json.loads((work / "r.json").read_text())["status"] == "rolled_back"
    code, out = _run("dlq", "list", "--format", "json")
    assert code == 0 and [x["rule_id"] for x in json.loads(out)] == ["b"]
    code, out = _run("dlq", "redrive", "--bus", "fake", "--inventory", "inventory.json")
    assert code == 0, out  # the whole plan would apply on a deeper bus: a rehearsal only
    assert [x["rule_id"] for x in json.loads(_run("dlq", "list", "--format", "json")[1])] == ["b"]


def test_no_atomic_exits_1_with_a_partial_report(work: Path) -> None:
    """`--no-atomic` keeps what succeeded and reports `partial`."""
    (work / "faults.yaml").write_text("max_depth: 2\n")
    code, _ = _run(
        "apply",
        "plan.yaml",
        "--bus",
        "fake",
        "--inventory",
        "inventory.json",
        "--faults",
        "faults.yaml",
        "--no-atomic",
        "--report",
        "r.json",
    )
    assert code == 1
    assert json.loads((work / "r.json").read_text())["status"] == "partial"


def test_callback_secret_must_be_set_and_never_leaks(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A callback without its secret env var is bad input (2); with it, no artefact holds it."""
    plan = {
        "links": LINKS[:2],
        "callback": {"url": f"http://127.0.0.1:{_closed_port()}/x", "secret_env": "CB_SECRET"},
    }
    (work / "cb.yaml").write_text(yaml.safe_dump(plan))
    code, out = _run("apply", "cb.yaml", "--bus", "fake", "--inventory", "inventory.json")
    assert code == 2 and "CB_SECRET" in out
    monkeypatch.setenv("CB_SECRET", "cb-very-secret")
    code, out = _run(
        "apply", "cb.yaml", "--bus", "fake", "--inventory", "inventory.json", "--report", "r.json"
    )
    assert code == 0, out  # the unreachable callback is recorded, not fatal
    report = json.loads((work / "r.json").read_text())
    assert report["callback"]["delivered"] is False
    blobs = [p.read_text() for p in work.rglob("*") if p.is_file()] + [out]
    for secret in ("cb-very-secret", "chainsim-secret"):
        assert not any(secret in blob for blob in blobs)


def test_audit_verify_exit_codes(work: Path) -> None:
    """audit verify: 1 naming the line when edited, 2 when the file is missing."""
    _run("apply", "plan.yaml", "--bus", "fake", "--inventory", "inventory.json")
    path = work / ".chainsim" / "audit.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    lines[1] = lines[1].replace('"step":"inventory"', '"step":"inventorY"')
    path.write_text("".join(lines))
    code, out = _run("audit", "verify", str(path))
    assert code == 1 and "line 2" in out
    assert _run("audit", "verify", "missing.jsonl")[0] == 2


def test_resume_without_an_unfinished_run_is_bad_input(work: Path) -> None:
    """`apply --resume` with no journal exits 2."""
    code, out = _run(
        "apply", "plan.yaml", "--bus", "fake", "--inventory", "inventory.json", "--resume"
    )
    assert code == 2 and "no unfinished run" in out


def test_live_apply_over_loopback_http(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--bus live` with --api-host/--login-host talks real HTTP to a loopback fake."""
    from chainsim.clock import SystemClock
    from chainsim.fakebus import FakeBus

    fake = FakeBus(clock=SystemClock(), clients={"live-id": "live-secret"})
    fake.seed_rules([make_rule(x) for x in "abcde"])
    monkeypatch.setenv("GENESYS_CLIENT_ID", "live-id")
    monkeypatch.setenv("GENESYS_CLIENT_SECRET", "live-secret")
    with fake.serve(port=0) as base:
        args = ["--bus", "live", "--api-host", base, "--login-host", base]
        args += ["--dialect", "eventbridge"]  # a live bus defaults to triggers
        code, out = _run("apply", "plan.yaml", *args, "--auto-approve", "--report", "r.json")
        assert code == 0, out
        assert _run("plan", "plan.yaml", *args)[1].count("no-op") == 3
    assert {r.id: len(r.links()) for r in fake.rules()} == {"a": 1, "b": 1, "c": 1, "d": 0, "e": 0}
    assert "final_rules" not in json.loads((work / "r.json").read_text())


def test_live_without_credentials_is_bad_input(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--bus live` without GENESYS_CLIENT_ID exits 2 naming the variable."""
    monkeypatch.delenv("GENESYS_CLIENT_ID", raising=False)
    code, out = _run("apply", "plan.yaml", "--bus", "live")
    assert code == 2 and "GENESYS_CLIENT_ID" in out


def test_plan_and_apply_honour_the_plans_enabled_setting(work: Path) -> None:
    """A link into a disabled rule that the plan enables raises no `disabled_rule` warning."""
    inventory = [make_rule(x) for x in "abcde"]
    inventory[1]["enabled"] = False
    (work / "inventory.json").write_text(json.dumps(inventory))
    plan = {"links": LINKS, "rules": {"b": {"enabled": True}}}
    (work / "plan.yaml").write_text(yaml.safe_dump(plan))
    code, out = _run("plan", "plan.yaml", "--inventory", "inventory.json", "--format", "json")
    assert code == 0
    assert json.loads(out)["findings"] == []
    code, _ = _run(
        "apply",
        "plan.yaml",
        "--bus",
        "fake",
        "--inventory",
        "inventory.json",
        "--report",
        "report.json",
    )
    report = json.loads((work / "report.json").read_text())
    assert code == 0
    assert report.get("findings", []) == []
    assert {r["id"]: r["enabled"] for r in report["final_rules"]}["b"] is True


def test_plan_naming_a_rule_not_on_the_bus_is_one_finding(work: Path) -> None:
    """A `rules.<id>` missing from the bus gives exactly one `unknown_rule` finding, exit 1."""
    (work / "plan.yaml").write_text(yaml.safe_dump({"links": LINKS, "rules": {"zz": {}}}))
    code, out = _run("plan", "plan.yaml", "--inventory", "inventory.json", "--format", "json")
    assert code == 1
    findings = json.loads(out)["findings"]
    assert [(f["code"], f["rule_ids"]) for f in findings] == [("unknown_rule", ["zz"])]


@pytest.mark.parametrize("option", ["--audit", "--report", "--spool"])
def test_an_unusable_output_path_is_bad_input_and_the_bus_is_untouched(
    work: Path, option: str
) -> None:
    """An output path that is a directory exits 2 with one line before any PUT is sent."""
    (work / "outdir").mkdir()
    code, out = _run(
        "apply", "plan.yaml", "--bus", "fake", "--inventory", "inventory.json", option, "outdir"
    )
    assert code == 2, out
    assert out.strip() == f"chainsim: outdir: {option}: is a directory, expected a file"
    assert not (work / ".chainsim" / "journal.json").exists()


def test_an_output_path_under_a_file_is_bad_input(work: Path) -> None:
    """An audit path whose parent is a file exits 2 naming the path, no traceback."""
    code, out = _run(
        "apply", "plan.yaml", "--bus", "fake", "--inventory", "inventory.json",
        "--audit", "inventory.json/audit.jsonl",
    )  # fmt: skip
    assert code == 2, out
    assert (
        out.startswith("chainsim: inventory.json/audit.jsonl: --audit: ") and out.count("\n") == 1
    )


@pytest.mark.parametrize(
    "command", [["plan", "plan.yaml", "--inventory", "inventory.json"], ["dlq", "list"]]
)
def test_an_unknown_format_is_bad_input(work: Path, command: list[str]) -> None:
    """`--format xml` exits 2 with one line instead of silently printing text."""
    code, out = _run(*command, "--format", "xml")
    assert code == 2 and out.strip() == "chainsim: --format: expected one of text, json, got 'xml'"


@pytest.mark.parametrize(
    ("content", "problem"),
    [(b"\xff\xfe", "is not UTF-8 text"), (None, "is a directory, expected a file")],
)
def test_an_unreadable_spool_is_bad_input(work: Path, content: bytes | None, problem: str) -> None:
    """`dlq list` on a binary file or a directory exits 2 with one line, no traceback."""
    spool = work / "spool.jsonl"
    if content is None:
        spool.mkdir()
    else:
        spool.write_bytes(content)
    code, out = _run("dlq", "list", "--spool", "spool.jsonl")
    assert code == 2 and out.strip() == f"chainsim: spool.jsonl: {problem}"


@pytest.mark.parametrize(
    ("content", "line"),
    [
        ([{"name": "no topic"}], "chainsim: triggers.json: [0]: topicName: Field required"),
        ({"a": 1}, "chainsim: triggers.json: expected a list of triggers, or `entities`"),
    ],
)
def test_a_bad_triggers_inventory_for_the_fake_is_bad_input(
    work: Path, content: object, line: str
) -> None:
    """`--bus fake --dialect triggers` with a bad inventory exits 2 with one line naming it."""
    (work / "triggers.json").write_text(json.dumps(content))
    code, out = _run(
        "plan",
        "plan.yaml",
        "--bus",
        "fake",
        "--dialect",
        "triggers",
        "--inventory",
        "triggers.json",
    )
    assert code == 2 and out.strip() == line


def test_final_rules_of_a_triggers_run_are_the_fakes_triggers(work: Path) -> None:
    """`apply --bus fake --dialect triggers --report` lists the fake's triggers as final_rules."""
    trigger = {
        "id": "t-1",
        "name": "T1",
        "topicName": "v2.detail.events.conversation.{id}.customer.start",
        "enabled": True,
        "version": 1,
        "target": {"type": "Workflow", "id": "wf-1"},
        "matchCriteria": [{"jsonPath": "queueId", "operator": "Exists"}],
    }
    (work / "triggers.json").write_text(json.dumps([trigger]))
    (work / "settings.yaml").write_text(yaml.safe_dump({"rules": {"t-1": {"enabled": False}}}))
    code, out = _run(
        "apply", "settings.yaml", "--bus", "fake", "--dialect", "triggers",
        "--inventory", "triggers.json", "--report", "r.json",
    )  # fmt: skip
    assert code == 0, out
    final = json.loads((work / "r.json").read_text())["final_rules"]
    assert [(t["id"], t["enabled"], t["topicName"]) for t in final] == [
        ("t-1", False, trigger["topicName"])
    ]


def test_plan_on_an_unreachable_live_bus_is_one_line_exit_1(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`plan --bus live` against a dead host exits 1 with one line naming the failure."""
    monkeypatch.setenv("GENESYS_CLIENT_ID", "id")
    monkeypatch.setenv("GENESYS_CLIENT_SECRET", "plan-secret-value")
    monkeypatch.setattr("chainsim.clock.SystemClock.sleep", lambda self, seconds: None)
    port = _closed_port()
    live = ["--bus", "live", "--dialect", "eventbridge", "--api-host", f"http://127.0.0.1:{port}"]
    code, out = _run("plan", "plan.yaml", *live)
    assert code == 1, out
    assert out == "chainsim: plan: reading the bus failed: POST /oauth/token: ConnectError\n"


def test_resume_on_an_unreachable_bus_keeps_the_journal_for_a_later_resume(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A killed run resumed while the bus is down: one line, exit 1, journal still unfinished."""
    from chainsim.apply import Journal

    rule = {"id": "a", "eventType": "type.a", "version": 1, "actions": []}
    target = {**rule, "actions": [{"type": "invokeRule", "ruleId": "b"}]}
    journal = work / ".chainsim" / "journal.json"
    journal.parent.mkdir()
    plan = {"links": [{"source": "a", "destination": "b", "event_type": "type.a"}]}
    journal.with_suffix(".plan.json").write_text(json.dumps(plan))
    entry = {"state": "writing", "base": rule, "fields": ["actions"], "target": target}
    head = {"version": 2, "run_id": "r1", "status": "applying", "atomic": True, "order": []}
    journal.write_text(json.dumps({**head, "rules": {"a": entry}}))
    (work / "p.yaml").write_text(yaml.safe_dump(plan))
    monkeypatch.setenv("GENESYS_CLIENT_ID", "id")
    monkeypatch.setenv("GENESYS_CLIENT_SECRET", "resume-secret-value")
    monkeypatch.setattr("chainsim.clock.SystemClock.sleep", lambda self, seconds: None)
    port = _closed_port()
    live = ["--bus", "live", "--dialect", "eventbridge", "--api-host", f"http://127.0.0.1:{port}"]
    code, out = _run("apply", "p.yaml", *live, "--resume")
    assert code == 1, out
    assert out == "chainsim: apply: the bus failed: POST /oauth/token: ConnectError\n"
    assert (Journal(journal).load() or {})["status"] == "applying"


def test_on_the_fake_bus_dead_letters_and_callbacks_reach_real_endpoints(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--bus fake` keeps the fake in-process: the DLQ and callback URLs get real POSTs."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from chainsim.callbacks import SIGNATURE_HEADER, verify_signature

    received: list[tuple[str, bytes, str | None]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, body, self.headers.get(SIGNATURE_HEADER)))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    plan = {
        "links": LINKS[:1],
        "dead_letter": {"url": f"{base}/dlq"},
        "callback": {"url": f"{base}/cb", "secret_env": "CB_SECRET"},
    }
    (work / "p.yaml").write_text(yaml.safe_dump(plan))
    (work / "faults.yaml").write_text("conflicts: {fraction: 1.0}\n")
    monkeypatch.setenv("CB_SECRET", "cb-secret")
    try:
        code, out = _run(
            "apply", "p.yaml", "--bus", "fake", "--inventory", "inventory.json",
            "--faults", "faults.yaml", "--report", "r.json",
        )  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
    assert code == 1, out
    assert [path for path, _, _ in received] == ["/dlq", "/cb"]
    assert verify_signature(received[1][1], received[1][2], "cb-secret")
    report = json.loads((work / "r.json").read_text())
    assert report["callback"]["delivered"] is True
    assert not (work / ".chainsim" / "deadletter.jsonl").exists()


def test_offline_plan_does_not_ignore_the_dialect(work: Path) -> None:
    """`plan --inventory F --dialect triggers` on EventBridge rules: bad input naming the file."""
    code, out = _run("plan", "plan.yaml", "--inventory", "inventory.json", "--dialect", "triggers")
    assert code == 2 and out.count("\n") == 1
    line = "chainsim: inventory.json: is in the eventbridge dialect, but --dialect says triggers\n"
    assert out == line


@pytest.mark.parametrize("option", ["--inventory", "--faults"])
def test_fake_only_options_with_a_live_bus_are_bad_input(work: Path, option: str) -> None:
    """`apply --bus live --faults F` is refused (exit 2) instead of silently ignoring F."""
    (work / "faults.yaml").write_text("seed: 1\n")
    value = "inventory.json" if option == "--inventory" else "faults.yaml"
    code, out = _run("apply", "plan.yaml", "--bus", "live", option, value)
    assert (
        code == 2
        and out == f"chainsim: {option}: only with --bus fake (a live bus has its own state)\n"
    )


def test_ids_with_square_brackets_print_literally(work: Path) -> None:
    """Rule ids that look like rich markup are printed as they are by `plan` and `apply`."""
    odd = ["x[i]", "[bold]y"]
    (work / "inventory.json").write_text(json.dumps([make_rule(x) for x in odd]))
    link = {"source": odd[0], "destination": odd[1], "event_type": f"type.{odd[0]}"}
    (work / "plan.yaml").write_text(yaml.safe_dump({"links": [link]}))
    code, out = _run("plan", "plan.yaml", "--inventory", "inventory.json")
    assert code == 0, out
    assert "x[i]" in out
    assert "[bold]y" in out
    code, out = _run("apply", "plan.yaml", "--bus", "fake", "--inventory", "inventory.json")
    assert code == 0, out
    assert "x[i]" in out

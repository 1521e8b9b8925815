"""The unmodified Genesys SDK against the fake: loopback (urllib3) and respx (httpx) doors.

Importing the SDK costs seconds, so every SDK test lives here, behind module-scoped
fixtures: one `chainsim fake serve` subprocess and one SDK import for the module.
"""

from __future__ import annotations

import ast
import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from chainsim.fakebus import DEFAULT_API_HOST, FakeBus

TOPIC = "v2.detail.events.conversation.{id}.customer.start"
SEEDED = [
    {
        "id": f"trigger-{i:02d}",
        "name": f"Inbound {i}",
        "topicName": TOPIC,
        "enabled": i % 3 != 0,
        "target": {
            "type": "Workflow",
            "id": "wf-1",
            "workflowTargetSettings": {"dataFormat": "Json"},
        },
        "matchCriteria": [
            {"jsonPath": "mediaType", "operator": "Equal", "value": "VOICE" if i % 2 else "CHAT"}
        ],
    }
    for i in range(8)
]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def sdk() -> ModuleType:
    """The Genesys SDK, imported once for this module."""
    import PureCloudPlatformClientV2

    return PureCloudPlatformClientV2


@pytest.fixture(scope="module")
def server_process(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """`chainsim fake serve` started in a subprocess on a free port, seeded with triggers."""
    triggers = tmp_path_factory.mktemp("fake") / "triggers.json"
    triggers.write_text(json.dumps(SEEDED))
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chainsim.cli",
            "fake",
            "serve",
            "--port",
            str(port),
            "--triggers",
            str(triggers),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        yield proc, port
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0, "fake serve did not exit cleanly on SIGTERM"


@pytest.fixture(scope="module")
def served(server_process: tuple[subprocess.Popen[str], int], sdk: ModuleType) -> str:
    """The base URL once the server printed its line (the SDK imports meanwhile)."""
    proc, port = server_process
    line = proc.stdout.readline().strip() if proc.stdout else ""
    assert line == f"listening on http://127.0.0.1:{port}", (
        proc.stderr.read() if proc.stderr else line
    )
    return f"http://127.0.0.1:{port}"


def _after(next_uri: str) -> str:
    return parse_qs(urlsplit(next_uri).query)["after"][0]


def sdk_script(sdk: ModuleType, api_client: Any) -> list[Any]:
    """List, get, create, put, stale put, both tests, topics, delete: every answer as data."""
    from PureCloudPlatformClientV2.rest import ApiException

    api = sdk.ProcessAutomationApi(api_client)
    out: list[Any] = []

    ids: list[str] = []
    page = api.get_processautomation_triggers(page_size="3")
    pages = 1
    while True:
        assert isinstance(page, sdk.TriggerEntityListing)
        assert all(isinstance(t, sdk.Trigger) for t in page.entities)
        ids += [t.id for t in page.entities]
        out.append(page.to_dict())
        if not page.next_uri:
            break
        page = api.get_processautomation_triggers(page_size="3", after=_after(page.next_uri))
        pages += 1
    assert ids == [t["id"] for t in SEEDED] and pages == 3

    got = api.get_processautomation_trigger("trigger-01")
    assert isinstance(got, sdk.Trigger) and isinstance(got.target, sdk.TriggerTarget)
    assert isinstance(got.match_criteria[0], sdk.MatchCriteria)
    out.append(got.to_dict())

    target = sdk.TriggerTarget()
    target.type, target.id = "Workflow", "wf-2"
    criterion = sdk.MatchCriteria()
    criterion.json_path, criterion.operator, criterion.value = "$.dnis", "Exists", True
    create = sdk.CreateTriggerRequest()
    create.name, create.topic_name, create.enabled, create.target = "Created", TOPIC, True, target
    create.match_criteria, create.event_ttl_seconds = [criterion], 60
    created = api.post_processautomation_triggers(create)
    assert isinstance(created, sdk.Trigger) and created.version == 1
    out.append(created.to_dict())

    update = sdk.UpdateTriggerRequest()
    update.version, update.name, update.topic_name = 1, "Renamed", TOPIC
    update.enabled, update.target, update.description = False, target, "renamed"
    updated = api.put_processautomation_trigger(created.id, update)
    assert isinstance(updated, sdk.Trigger) and updated.version == 2 and updated.name == "Renamed"
    out.append(updated.to_dict())

    with pytest.raises(ApiException) as stale:
        api.put_processautomation_trigger(created.id, update)
    assert stale.value.status == 409
    assert "does not match the current version" in json.loads(stale.value.body)["message"]
    out.append((stale.value.status, json.loads(stale.value.body)))

    tested = api.post_processautomation_trigger_test(
        "trigger-01", body=json.dumps({"mediaType": "VOICE"})
    )
    assert isinstance(tested, sdk.TestModeResults) and tested.trigger_matches is True
    assert isinstance(tested.json_path_validation, sdk.TestMatchesOperation)
    assert isinstance(tested.json_path_validation.details[0], sdk.MatchCriteriaTestResult)
    out.append(tested.to_dict())

    by_topic = api.post_processautomation_triggers_topic_test(
        TOPIC, body=json.dumps({"mediaType": "CHAT"})
    )
    assert isinstance(by_topic, sdk.TestModeEventResults)
    matched = by_topic.trigger_match_validation.matched_triggers
    assert all(isinstance(t, sdk.TestModeTrigger) for t in matched)
    # CHAT triggers are 00, 02, 04, 06; 00 and 06 are disabled and skipped, as is the
    # created one (updated to disabled)
    assert sorted(t.id for t in matched) == ["trigger-02", "trigger-04"]
    unmatched = by_topic.trigger_match_validation.unmatched_triggers
    assert sorted(t.id for t in unmatched) == ["trigger-01", "trigger-05", "trigger-07"]
    out.append(by_topic.to_dict())

    topics = api.get_processautomation_triggers_topics()
    assert isinstance(topics, sdk.TopicCursorEntityListing) and TOPIC in topics.entities
    out.append(topics.to_dict())

    assert api.delete_processautomation_trigger(created.id) is None
    with pytest.raises(ApiException) as gone:
        api.get_processautomation_trigger(created.id)
    assert gone.value.status == 404
    out.append((gone.value.status, json.loads(gone.value.body)))
    return out


@pytest.fixture(scope="module")
def loopback_answers(sdk: ModuleType, served: str) -> list[Any]:
    """The SDK script's answers from the loopback fake through the stock urllib3 client."""
    config = sdk.Configuration()
    saved = config.host
    config.host = served
    try:
        api_client = sdk.api_client.ApiClient().get_client_credentials_token(
            "chainsim", "chainsim-secret"
        )
        assert type(api_client.get_http_client()).__name__ == "DefaultHttpClient"
        return sdk_script(sdk, api_client)
    finally:
        config.host = saved


def test_stock_sdk_runs_every_call_against_the_loopback_fake(loopback_answers: list[Any]) -> None:
    """The unmodified SDK (urllib3) gets a token and every call deserialises into its models."""
    assert len(loopback_answers) == 11


def test_stock_sdk_with_a_wrong_secret_gets_401(sdk: ModuleType, served: str) -> None:
    """A wrong client secret is refused with 401 at the token endpoint."""
    from PureCloudPlatformClientV2.rest import ApiException

    client = sdk.api_client.ApiClient(host=served)
    with pytest.raises(ApiException) as err:
        client.get_client_credentials_token("chainsim", "wrong")
    assert err.value.status == 401


def test_respx_door_gives_the_sdk_the_same_answers(
    sdk: ModuleType, loopback_answers: list[Any]
) -> None:
    """The same SDK script through chainsim's httpx client on respx answers identically."""
    from chainsim.bus.sdk_http import HttpxClient

    bus = FakeBus()
    bus.seed_triggers(SEEDED)
    with bus.mock(), httpx.Client() as http:
        api_client = sdk.api_client.ApiClient(host=DEFAULT_API_HOST)
        api_client.set_http_client(HttpxClient(http))
        api_client.get_client_credentials_token("chainsim", "chainsim-secret")
        assert _without_ids(sdk_script(sdk, api_client)) == _without_ids(loopback_answers)
    assert bus.requests[0].path == "/oauth/token"


def _without_ids(answers: list[Any]) -> list[Any]:
    """The answers with each error's `contextId` blanked (fresh per run, by design)."""
    out: list[Any] = []
    for answer in answers:
        if isinstance(answer, tuple) and isinstance(answer[1], dict):
            answer = (answer[0], {**answer[1], "contextId": "*"})
        out.append(answer)
    return out


def test_served_bus_refuses_api_calls_without_a_bearer(served: str) -> None:
    """The loopback server answers 401 with Genesys headers and body when no token is sent."""
    response = httpx.get(f"{served}/api/v2/processautomation/triggers")
    assert response.status_code == 401
    assert response.headers["inin-ratelimit-allowed"] == "300"
    assert response.json()["code"] == "authentication.required"


def test_served_bus_serves_the_token_endpoint_on_the_api_port(served: str) -> None:
    """`/oauth/token` answers on the same port, as the SDK expects for a loopback host."""
    response = httpx.post(
        f"{served}/oauth/token",
        auth=("chainsim", "chainsim-secret"),
        data={"grant_type": "client_credentials"},
    )
    assert response.status_code == 200 and response.json()["token_type"] == "bearer"


def test_triggers_file_is_checked(tmp_path: Path) -> None:
    """A bad triggers file makes `fake serve` exit 2 with one line naming the place."""
    bad = tmp_path / "triggers.json"
    bad.write_text(json.dumps([{**SEEDED[0], "delayBySeconds": 5}]))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "chainsim.cli",
            "fake",
            "serve",
            "--port",
            "0",
            "--triggers",
            str(bad),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and f"{bad}: [0]:" in result.stderr


def test_the_fake_knows_exactly_the_sdks_match_criteria_operators() -> None:
    """Every operator the fake evaluates is one the SDK's `MatchCriteria` accepts, and back."""
    from PureCloudPlatformClientV2.models.match_criteria import MatchCriteria

    from chainsim.fakebus.triggers import OPERATORS

    def accepted(operator: str) -> bool:
        criteria = MatchCriteria()
        criteria.operator = operator
        return criteria.operator == operator

    assert all(accepted(op) for op in OPERATORS)
    assert not accepted("Matches")
    source = Path(sys.modules[MatchCriteria.__module__].__file__ or "").read_text()
    # the SDK lists the enum in the `operator` setter; read that list, not a copy of it
    listed = re.search(r"allowed_values = (\[[^\]]*\])\s+if operator", source)
    assert listed is not None
    assert set(ast.literal_eval(listed.group(1))) == set(OPERATORS)

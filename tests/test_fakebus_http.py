"""The fake bus over HTTP: OAuth, rate limits, faults, error bodies, doors, inspection."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
import respx

from chainsim.clock import VirtualClock
from chainsim.fakebus import DEFAULT_API_HOST, DEFAULT_LOGIN_HOST, FakeBus, FaultPlan
from chainsim.fakebus.faults import Conflicts, Latency, RateLimit, ServerErrors, Storm

RULES = "/api/v2/eventbridge/rules"
GENESYS_KEYS = {"message", "code", "status", "contextId", "details", "errors"}
QUOTA_HEADERS = ("inin-ratelimit-allowed", "inin-ratelimit-count", "inin-ratelimit-reset")


def rule(rule_id: str, **extra: Any) -> dict[str, Any]:
    """A minimal wire rule carrying attribute `a`."""
    return {"id": rule_id, "eventType": "e", "filters": {"attributes": ["a"]}, **extra}


class Api:
    """An httpx client on the bus's handler, holding one bearer token."""

    def __init__(self, bus: FakeBus, client_id: str = "chainsim", secret: str = "chainsim-secret"):
        self.bus = bus
        self.http = httpx.Client(
            transport=httpx.MockTransport(bus.handler), base_url=DEFAULT_API_HOST
        )
        self.token = self.login(client_id, secret).json().get("access_token")

    def login(
        self, client_id: str, secret: str, grant: str = "client_credentials"
    ) -> httpx.Response:
        """POST /oauth/token with HTTP Basic credentials."""
        return self.http.post(
            f"{DEFAULT_LOGIN_HOST}/oauth/token",
            auth=(client_id, secret),
            data={"grant_type": grant},
        )

    def __call__(self, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        headers.update(kw.pop("headers", {}))
        return self.http.request(method, path, headers=headers, **kw)


@pytest.fixture
def bus() -> FakeBus:
    """A fresh fake bus on a virtual clock with three rules."""
    fake = FakeBus(clock=VirtualClock())
    fake.seed_rules([rule("r1"), rule("r2"), rule("r3")])
    return fake


# --------------------------------------------------------------------------- OAuth


def test_token_endpoint_issues_a_bearer_for_valid_client_credentials(bus: FakeBus) -> None:
    """POST /oauth/token with Basic id:secret answers access_token, bearer, expires_in."""
    api = Api(bus)
    body = api.login("chainsim", "chainsim-secret").json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == bus.faults.token_ttl_seconds
    assert api("GET", f"{RULES}/r1").status_code == 200


@pytest.mark.parametrize(
    ("auth", "grant", "status"),
    [
        (("chainsim", "wrong"), "client_credentials", 401),
        (("nobody", "chainsim-secret"), "client_credentials", 401),
        (("chainsim", "chainsim-secret"), "password", 400),
    ],
)
def test_token_endpoint_refuses_bad_credentials_or_grant(
    bus: FakeBus, auth: tuple[str, str], grant: str, status: int
) -> None:
    """Wrong credentials give 401, another grant type 400, both with Genesys bodies."""
    response = Api(bus).login(*auth, grant=grant)
    assert response.status_code == status
    assert response.json().keys() >= GENESYS_KEYS
    assert "chainsim-secret" not in response.text


def test_token_endpoint_without_basic_auth_is_401(bus: FakeBus) -> None:
    """A token request with no Basic header is refused."""
    http = httpx.Client(transport=httpx.MockTransport(bus.handler))
    response = http.post(
        f"{DEFAULT_LOGIN_HOST}/oauth/token", data={"grant_type": "client_credentials"}
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


@pytest.mark.parametrize("header", [None, "Bearer not-a-token", "Basic Y2hhaW5zaW06eA=="])
def test_api_calls_need_a_valid_bearer(bus: FakeBus, header: str | None) -> None:
    """No bearer, an unknown bearer or another scheme gives 401 with a Genesys body."""
    http = httpx.Client(transport=httpx.MockTransport(bus.handler), base_url=DEFAULT_API_HOST)
    response = http.get(RULES, headers={"Authorization": header} if header else {})
    assert response.status_code == 401
    assert response.json().keys() >= GENESYS_KEYS


def test_tokens_expire_on_the_bus_clock() -> None:
    """A token is refused once token_ttl_seconds have passed on the bus's clock."""
    clock = VirtualClock()
    bus = FakeBus(clock=clock, faults=FaultPlan(token_ttl_seconds=60))
    api = Api(bus)
    clock.advance(59.9)
    assert api("GET", RULES).status_code == 200
    clock.advance(0.1)
    expired = api("GET", RULES)
    assert expired.status_code == 401
    assert "expired" in expired.json()["message"]


def test_missing_permission_is_403(bus: FakeBus) -> None:
    """A client limited to view permissions may read but not write (403)."""
    limited = FakeBus(clients={"viewer": "s"}, permissions={"viewer": ["eventbridge:rule:view"]})
    limited.seed_rules([rule("r1")])
    api = Api(limited, "viewer", "s")
    assert api("GET", f"{RULES}/r1").status_code == 200
    refused = api("PUT", f"{RULES}/r1", json=rule("r1", version=1))
    assert refused.status_code == 403
    assert refused.json()["code"] == "missing.permissions"


# --------------------------------------------------------------------------- rate limit


def test_rate_limiter_allows_exactly_its_budget_then_refills() -> None:
    """Bucket model, 10 per 60 s: ten pass, the eleventh gets 429 with Retry-After 6 s."""
    clock = VirtualClock()
    limit = RateLimit(requests=10, per_seconds=60, model="bucket")
    bus = FakeBus(clock=clock, faults=FaultPlan(rate_limit=limit))
    api = Api(bus)
    counts = [api("GET", RULES).headers["inin-ratelimit-count"] for _ in range(10)]
    assert counts == [str(n) for n in range(1, 11)]
    refused = api("GET", RULES)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "6"
    assert refused.json()["code"] == "too.many.requests.retry.after"
    assert refused.json()["message"] == (
        "Rate limit exceeded the maximum. Retry the request in [6] seconds"
    )
    assert refused.headers["inin-ratelimit-allowed"] == "10"
    assert refused.headers["inin-ratelimit-reset"] == "60"
    clock.advance(6)
    assert api("GET", RULES).status_code == 200
    assert api("GET", RULES).status_code == 429


def test_window_is_the_default_and_counts_since_the_window_began() -> None:
    """Window model (default): count rises per request, reset counts down to the window's end."""
    clock = VirtualClock()
    bus = FakeBus(clock=clock, faults=FaultPlan(rate_limit=RateLimit(requests=3, per_seconds=60)))
    api = Api(bus)
    first = api("GET", RULES)
    assert (first.headers["inin-ratelimit-count"], first.headers["inin-ratelimit-reset"]) == (
        "1",
        "60",
    )
    clock.advance(20.5)
    second = api("GET", RULES)
    assert (second.headers["inin-ratelimit-count"], second.headers["inin-ratelimit-reset"]) == (
        "2",
        "40",
    )
    api("GET", RULES)
    refused = api("GET", RULES)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "40" and refused.headers["inin-ratelimit-count"] == "3"
    clock.advance(39.4)
    assert api("GET", RULES).status_code == 429, "the window has not ended yet"
    clock.advance(0.2)
    fresh = api("GET", RULES)
    assert fresh.status_code == 200
    assert (fresh.headers["inin-ratelimit-count"], fresh.headers["inin-ratelimit-reset"]) == (
        "1",
        "60",
    )


def test_an_idle_bucket_never_holds_more_than_its_size() -> None:
    """Bucket model: after a long idle time a client bursts exactly `requests`, not more."""
    clock = VirtualClock()
    limit = RateLimit(requests=5, per_seconds=60, model="bucket")
    bus = FakeBus(clock=clock, faults=FaultPlan(rate_limit=limit))
    api = Api(bus)
    assert api("GET", RULES).status_code == 200
    clock.advance(3600)
    statuses = [api("GET", RULES).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]


def test_rate_limit_model_is_checked() -> None:
    """A faults file naming another model is bad input."""
    with pytest.raises(ValueError):
        RateLimit.model_validate({"model": "leaky"})


def test_correlation_id_is_echoed_or_fresh(bus: FakeBus) -> None:
    """Every answer carries ININ-Correlation-Id: the request's own, else a new one each time."""
    api = Api(bus)
    mine = api("GET", f"{RULES}/r1", headers={"ININ-Correlation-Id": "abc-123"})
    assert mine.headers["ININ-Correlation-Id"] == "abc-123"
    first, second = api("GET", f"{RULES}/nope"), api("GET", RULES)
    assert first.headers["ININ-Correlation-Id"] != second.headers["ININ-Correlation-Id"]
    token = api.login("chainsim", "wrong")
    assert token.headers["ININ-Correlation-Id"]


def test_context_ids_are_fresh_per_error_and_per_run() -> None:
    """Each error has its own contextId; a new run id gives new ones; the same run id replays."""

    def context_ids(run_id: str | None) -> list[str]:
        bus = FakeBus(run_id=run_id)
        api = Api(bus)
        return [api("GET", f"{RULES}/missing").json()["contextId"] for _ in range(3)]

    one = context_ids(None)
    assert len(set(one)) == 3
    assert set(one).isdisjoint(context_ids(None))
    assert context_ids("fixed") == context_ids("fixed")


def test_token_requests_do_not_count_against_the_limit() -> None:
    """/oauth/token is not rate-limited and takes nothing from the client's bucket."""
    bus = FakeBus(faults=FaultPlan(rate_limit=RateLimit(requests=2, per_seconds=60)))
    api = Api(bus)
    for _ in range(5):
        assert api.login("chainsim", "chainsim-secret").status_code == 200
    assert [api("GET", RULES).status_code for _ in range(3)] == [200, 200, 429]


def test_buckets_are_per_client() -> None:
    """One client's exhausted bucket does not refuse another client."""
    bus = FakeBus(
        clients={"a": "x", "b": "y"},
        faults=FaultPlan(rate_limit=RateLimit(requests=1, per_seconds=60)),
    )
    first, second = Api(bus, "a", "x"), Api(bus, "b", "y")
    assert first("GET", RULES).status_code == 200
    assert first("GET", RULES).status_code == 429
    assert second("GET", RULES).status_code == 200


def test_every_response_carries_the_quota_headers(bus: FakeBus) -> None:
    """200, 401, 404 and token answers all carry the inin-ratelimit headers."""
    api = Api(bus)
    answers = [
        api("GET", RULES),
        api("GET", f"{RULES}/missing"),
        api.login("chainsim", "wrong"),
        api.http.get(RULES),
        api("GET", "/nowhere"),
    ]
    assert [a.status_code for a in answers] == [200, 404, 401, 401, 404]
    for answer in answers:
        assert all(h in answer.headers for h in QUOTA_HEADERS)


# --------------------------------------------------------------------------- faults


def test_storm_refuses_only_inside_its_window_with_retry_after() -> None:
    """A storm at [10, 15) s answers 429 + Retry-After there and nowhere else."""
    clock = VirtualClock()
    plan = FaultPlan(storms=[Storm(start=10, duration=5, fraction=1.0, retry_after=3)])
    bus = FakeBus(clock=clock, faults=plan)
    api = Api(bus)
    statuses = {}
    for second in range(20):
        response = api("GET", RULES)
        statuses[second] = response.status_code
        if response.status_code == 429:
            assert response.headers["Retry-After"] == "3"
            assert "[3] seconds" in response.json()["message"]
        clock.advance(1)
    assert {s for s, code in statuses.items() if code == 429} == set(range(10, 15))


def test_partial_storm_refuses_a_fraction_inside_the_window_only() -> None:
    """A storm with fraction 0.5 refuses some, not all, and only within its window."""
    clock = VirtualClock()
    bus = FakeBus(
        clock=clock, faults=FaultPlan(seed=3, storms=[Storm(start=0, duration=50, fraction=0.5)])
    )
    api = Api(bus)
    inside = []
    for _ in range(50):
        inside.append(api("GET", RULES).status_code)
        clock.advance(1)
    assert 10 < inside.count(429) < 40
    assert {api("GET", RULES).status_code for _ in range(20)} == {200}


def test_server_error_burst_answers_5xx_and_applies_nothing() -> None:
    """A 5xx burst answers its status with a Genesys body and the write is not applied."""
    clock = VirtualClock()
    plan = FaultPlan(server_errors=[ServerErrors(start=0, duration=1, fraction=1.0, status=502)])
    bus = FakeBus(clock=clock, faults=plan)
    bus.seed_rules([rule("r1")])
    api = Api(bus)
    failed = api("PUT", f"{RULES}/r1", json=rule("r1", version=1, description="new"))
    assert failed.status_code == 502
    assert failed.json().keys() >= GENESYS_KEYS
    clock.advance(1)
    assert api("GET", f"{RULES}/r1").json()["version"] == 1
    assert api("PUT", f"{RULES}/r1", json=rule("r1", version=1)).status_code == 200


def test_latency_is_charged_to_the_bus_clock() -> None:
    """Latency of 80 ms per request advances a shared virtual clock by 80 ms each."""
    clock = VirtualClock()
    bus = FakeBus(clock=clock, faults=FaultPlan(latency=Latency(mean_ms=80)))
    api = Api(bus)
    for _ in range(3):
        api("GET", RULES)
    assert clock.now() == pytest.approx(0.32)
    assert [r.at for r in bus.requests] == pytest.approx([0.08, 0.16, 0.24, 0.32])


def test_concurrent_writer_really_edits_and_bumps_the_version() -> None:
    """With conflicts fraction 1, a PUT with the right version meets a real 409."""
    bus = FakeBus(faults=FaultPlan(conflicts=Conflicts(fraction=1.0)))
    bus.seed_rules([rule("r1", description="mine")])
    api = Api(bus)
    response = api("PUT", f"{RULES}/r1", json=rule("r1", version=1, enabled=False))
    assert response.status_code == 409
    assert "does not match the current version" in response.json()["message"]
    stored = api("GET", f"{RULES}/r1").json()
    assert stored["description"] == "edited by concurrent writer"
    assert stored["version"] == 2
    assert stored["enabled"] is True


def _script(bus: FakeBus, clock: VirtualClock) -> list[tuple[int, str, dict[str, str], float]]:
    api = Api(bus)
    answers = []
    for step in range(60):
        if step % 3 == 0:
            got = api("GET", f"{RULES}/r1")
            version = got.json().get("version", 1) if got.status_code == 200 else 1
            response = api("PUT", f"{RULES}/r1", json=rule("r1", version=version, name=str(step)))
        else:
            response = api("GET", RULES, params={"pageSize": 2})
        answers.append((response.status_code, response.text, dict(response.headers), clock.now()))
        clock.advance(0.5)
    return answers


def test_same_seed_gives_the_same_answers() -> None:
    """Two buses with one faults plan and seed answer one script byte for byte alike."""

    def run(seed: int) -> list[tuple[int, str, dict[str, str], float]]:
        clock = VirtualClock()
        plan = FaultPlan(
            seed=seed,
            storms=[Storm(start=5, duration=10, fraction=0.4, retry_after=2)],
            server_errors=[ServerErrors(start=0, duration=30, fraction=0.2)],
            conflicts=Conflicts(fraction=0.5),
            latency=Latency(mean_ms=50, jitter_ms=20),
        )
        bus = FakeBus(clock=clock, faults=plan, run_id="replay")
        bus.seed_rules([rule("r1"), rule("r2"), rule("r3")])
        return _script(bus, clock)

    first = run(7)
    assert run(7) == first
    assert run(8) != first
    assert {status for status, *_ in first} >= {200, 409, 429, 503}


def test_faults_can_be_swapped_from_python(bus: FakeBus) -> None:
    """Assigning bus.faults takes effect at once; state is kept."""
    api = Api(bus)
    bus.faults = FaultPlan(storms=[Storm(start=0, duration=10, fraction=1.0)])
    assert api("GET", RULES).status_code == 429
    bus.faults = FaultPlan()
    assert len(api("GET", RULES).json()["entities"]) == 3


# --------------------------------------------------------------------------- errors & routes


def test_unknown_routes_methods_and_rules(bus: FakeBus) -> None:
    """Unknown path 404, wrong method 405, unknown rule 404, all with Genesys bodies."""
    api = Api(bus)
    answers = {
        404: api("GET", "/api/v2/nothing"),
        405: api("PATCH", f"{RULES}/r1", json={}),
    }
    answers[0] = api("GET", f"{RULES}/nope")
    assert answers[404].status_code == 404
    assert answers[405].status_code == 405
    assert answers[0].status_code == 404
    for response in answers.values():
        assert response.json().keys() >= GENESYS_KEYS


@pytest.mark.parametrize("content", [b"", b"{not json", b"[1, 2]"])
def test_malformed_bodies_are_400(bus: FakeBus, content: bytes) -> None:
    """An empty, unparsable or non-object body is 400."""
    api = Api(bus)
    response = api("PUT", f"{RULES}/r1", content=content)
    assert response.status_code == 400
    assert response.json()["status"] == 400


def test_page_size_and_cursor_are_checked(bus: FakeBus) -> None:
    """pageSize outside 1..200 or a foreign page token is 400."""
    api = Api(bus)
    for params in (
        {"pageSize": 0},
        {"pageSize": 201},
        {"pageSize": "x"},
        {"pageToken": "garbage!"},
    ):
        assert api("GET", RULES, params=params).status_code == 400, params
    assert (
        api("GET", RULES, params={"pageToken": base64.b64encode(b"r1").decode()}).status_code == 400
    )


def test_request_log_and_reset(bus: FakeBus) -> None:
    """The log records method, path, status and time; reset empties state, log and limiter."""
    api = Api(bus)
    api("GET", f"{RULES}/r1")
    api("DELETE", f"{RULES}/r2")
    assert [(r.method, r.path, r.status) for r in bus.requests] == [
        ("POST", "/oauth/token", 200),
        ("GET", f"{RULES}/r1", 200),
        ("DELETE", f"{RULES}/r2", 204),
    ]
    assert [r.id for r in bus.rules()] == ["r1", "r3"]
    bus.reset()
    assert bus.requests == [] and bus.rules() == []
    listing = api("GET", RULES)
    assert listing.status_code == 200, "tokens survive a reset"
    assert listing.headers["inin-ratelimit-count"] == "1"


# --------------------------------------------------------------------------- doors


def test_respx_door_serves_both_hosts_and_nothing_else(bus: FakeBus) -> None:
    """bus.mock() answers the API and login hosts and refuses any other host."""
    with bus.mock(), httpx.Client() as http:
        token = http.post(
            f"{DEFAULT_LOGIN_HOST}/oauth/token",
            auth=("chainsim", "chainsim-secret"),
            data={"grant_type": "client_credentials"},
        ).json()["access_token"]
        listing = http.get(
            f"{DEFAULT_API_HOST}{RULES}", headers={"Authorization": f"Bearer {token}"}
        )
        assert [r["id"] for r in listing.json()["entities"]] == ["r1", "r2", "r3"]
        with pytest.raises(respx.models.AllMockedAssertionError):
            http.get("https://example.com/")


def test_loopback_door_answers_like_the_handler() -> None:
    """The loopback server and the in-process handler give the same answers."""

    def run(through_server: bool) -> list[tuple[int, Any]]:
        bus = FakeBus(run_id="same")
        bus.seed_rules([rule("r1"), rule("r2")])
        if not through_server:
            return _small_script(
                httpx.Client(transport=httpx.MockTransport(bus.handler), base_url=DEFAULT_API_HOST)
            )
        with bus.serve() as base_url, httpx.Client(base_url=base_url) as http:
            assert base_url.startswith("http://127.0.0.1:")
            return _small_script(http)

    assert run(True) == run(False)


def _small_script(http: httpx.Client) -> list[tuple[int, Any]]:
    token = http.post(
        "/oauth/token",
        auth=("chainsim", "chainsim-secret"),
        data={"grant_type": "client_credentials"},
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    answers = [
        http.get(RULES, params={"pageSize": 1}, headers=headers),
        http.put(f"{RULES}/r1", json=rule("r1", version=1, name="n"), headers=headers),
        http.put(f"{RULES}/r1", json=rule("r1", version=1), headers=headers),
        http.delete(f"{RULES}/r2", headers=headers),
        http.get(f"{RULES}/r2", headers=headers),
    ]
    return [(a.status_code, a.json() if a.content else None) for a in answers]


def test_loopback_server_is_thread_safe() -> None:
    """Eight threads racing versioned PUTs on one rule lose no update and see no 5xx."""
    import threading

    bus = FakeBus(faults=FaultPlan(rate_limit=RateLimit(requests=10_000, per_seconds=60)))
    bus.seed_rules([rule("r1")])
    successes: list[int] = []
    statuses: set[int] = set()
    with bus.serve() as base_url:
        token = httpx.post(
            f"{base_url}/oauth/token",
            auth=("chainsim", "chainsim-secret"),
            data={"grant_type": "client_credentials"},
        ).json()["access_token"]

        def writer() -> None:
            with httpx.Client(
                base_url=base_url, headers={"Authorization": f"Bearer {token}"}
            ) as http:
                for _ in range(10):
                    stored = http.get(f"{RULES}/r1").json()
                    answer = http.put(f"{RULES}/r1", json=stored)
                    statuses.add(answer.status_code)
                    if answer.status_code == 200:
                        successes.append(answer.json()["version"])

        threads = [threading.Thread(target=writer) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert statuses <= {200, 409}
    assert sorted(successes) == list(range(2, 2 + len(successes)))
    assert bus.rules()[0].version == 1 + len(successes)

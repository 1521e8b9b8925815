"""The fake's state: keyset paging, versions and the bus's own write constraints."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chainsim.fakebus import DEFAULT_API_HOST, FakeBus
from chainsim.fakebus.errors import FakeError
from chainsim.fakebus.paging import decode_cursor, encode_cursor
from chainsim.fakebus.state import FakeState

RULES = "/api/v2/eventbridge/rules"
TRIGGERS = "/api/v2/processautomation/triggers"


def rule(rule_id: str, attrs: tuple[str, ...] = ("a", "b"), **extra: Any) -> dict[str, Any]:
    """A wire rule carrying `attrs`."""
    return {"id": rule_id, "eventType": "e", "filters": {"attributes": list(attrs)}, **extra}


def link(dest: str, **extra: Any) -> dict[str, Any]:
    """An invokeRule action to `dest`."""
    return {"type": "invokeRule", "ruleId": dest, **extra}


def state(*rules: dict[str, Any], max_depth: int = 5) -> FakeState:
    """A state seeded with `rules`."""
    counter = iter(range(10**6))
    fake = FakeState(max_depth=max_depth, new_id=lambda: f"new-{next(counter)}")
    fake.seed_rules(rules)
    return fake


def put(fake: FakeState, rule_id: str, **changes: Any) -> dict[str, Any]:
    """PUT the stored rule with `changes` at its current version."""
    body = {**fake.get_rule(rule_id), **changes}
    return fake.put_rule(rule_id, body)


def status_of(call: Any) -> int:
    """The HTTP status a state call ends in (200 when it succeeds)."""
    try:
        call()
    except FakeError as err:
        return err.status
    return 200


# --------------------------------------------------------------------------- cursors


@given(st.text(min_size=1))
def test_cursors_round_trip(key: str) -> None:
    """Property: any key survives encode/decode."""
    assert decode_cursor(encode_cursor(key), "after") == key


@pytest.mark.parametrize("token", ["", "!!!", "cjE", "a" * 5])
def test_foreign_cursors_are_400(token: str) -> None:
    """A token that is not one of the bus's cursors is 400."""
    with pytest.raises(FakeError) as err:
        decode_cursor(token, "pageToken")
    assert err.value.status == 400


def test_rules_list_walks_pages_in_id_order() -> None:
    """Pages of 2 over 5 rules give ids in order and a null token at the end."""
    fake = state(*(rule(f"r{i}") for i in range(5)))
    seen: list[str] = []
    after: str | None = None
    while True:
        keys, after = fake.rule_page(2, after)
        seen += keys
        if after is None:
            break
    assert seen == ["r0", "r1", "r2", "r3", "r4"]


# --------------------------------------------------------------------------- versions


def test_put_bumps_the_version_and_stale_put_is_409() -> None:
    """A PUT at the stored version stores version+1; the same PUT again is 409."""
    fake = state(rule("r1"))
    body = {**fake.get_rule("r1"), "name": "x"}
    assert fake.put_rule("r1", body)["version"] == 2
    with pytest.raises(FakeError) as err:
        fake.put_rule("r1", body)
    assert err.value.status == 409
    assert "does not match the current version" in err.value.message


def test_put_without_version_is_409_and_id_mismatch_is_400() -> None:
    """A PUT lacking `version` conflicts; a body id differing from the path is 400."""
    fake = state(rule("r1"), rule("r2"))
    body = {k: v for k, v in fake.get_rule("r1").items() if k != "version"}
    assert status_of(lambda: fake.put_rule("r1", body)) == 409
    assert status_of(lambda: fake.put_rule("r1", {**fake.get_rule("r2")})) == 400


def test_create_assigns_id_and_version_one_and_refuses_duplicates() -> None:
    """POST stores version 1 under a new id (or the body's), an existing id is 409."""
    fake = state(rule("r1"))
    created = fake.create_rule({"eventType": "e", "version": 9})
    assert created["version"] == 1 and created["id"] == "new-0"
    assert fake.create_rule(rule("mine"))["id"] == "mine"
    assert status_of(lambda: fake.create_rule(rule("r1"))) == 409


def test_unknown_fields_are_kept() -> None:
    """Fields the bus does not know survive a write (wire extras)."""
    fake = state(rule("r1", owner="team-x"))
    assert put(fake, "r1", name="n")["owner"] == "team-x"


# --------------------------------------------------------------------------- constraints

CASES = [
    ("valid link", [rule("s"), rule("d")], {"actions": [link("d")]}, 200),
    ("malformed type", [rule("s")], {"enabled": "yes"}, 400),
    ("invokeRule without ruleId", [rule("s")], {"actions": [{"type": "invokeRule"}]}, 400),
    (
        "preserved attribute not carried",
        [rule("s"), rule("d")],
        {"actions": [link("d", preservedAttributes=["zz"])]},
        400,
    ),
    (
        "transform path reads another attribute",
        [rule("s"), rule("d")],
        {"actions": [link("d", payloadTransformation={"x": "$.metadata.zz"})]},
        400,
    ),
    (
        "transform path outside metadata",
        [rule("s"), rule("d")],
        {"actions": [link("d", payloadTransformation={"x": "$.eventType"})]},
        400,
    ),
    (
        "transform path does not parse",
        [rule("s"), rule("d")],
        {"actions": [link("d", payloadTransformation={"x": "$.metadata.[["})]},
        400,
    ),
    (
        "transform path deeper than the key is fine",
        [rule("s"), rule("d")],
        {
            "actions": [
                link(
                    "d",
                    payloadTransformation={"x": "$.metadata.a.inner", "y": "$['metadata']['b']"},
                )
            ]
        },
        200,
    ),
    ("unknown destination", [rule("s")], {"actions": [link("ghost")]}, 422),
    ("self link", [rule("s")], {"actions": [link("s")]}, 422),
    ("six links", [rule("s"), rule("d")], {"actions": [link("d")] * 6}, 422),
    ("five links", [rule("s"), rule("d")], {"actions": [link("d")] * 5}, 200),
    (
        "two-rule cycle",
        [rule("s"), rule("d", actions=[link("s")])],
        {"actions": [link("d")]},
        422,
    ),
    (
        "other actions are not links",
        [rule("s")],
        {"actions": [{"type": "notify", "ruleId": "ghost"}]},
        200,
    ),
]


@pytest.mark.parametrize(
    ("rules", "changes", "status"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_write_constraints(
    rules: list[dict[str, Any]], changes: dict[str, Any], status: int
) -> None:
    """Each documented constraint maps to its status (400 malformed/attributes, 422 graph)."""
    fake = state(*rules)
    assert status_of(lambda: put(fake, "s", **changes)) == status


def _chain(n: int) -> list[dict[str, Any]]:
    """Rules c0 -> c1 -> ... -> c{n-1} (n-1 hops)."""
    return [rule(f"c{i}", actions=[link(f"c{i + 1}")] if i + 1 < n else []) for i in range(n)]


def test_depth_counts_hops_on_both_sides_of_the_written_rule() -> None:
    """A path of exactly max_depth hops is accepted; one more hop is 422."""
    fake = state(
        *_chain(3), *[rule(f"t{i}", actions=[link(f"t{i + 1}")] if i < 2 else []) for i in range(3)]
    )
    # c0 -> c1 -> c2 (2 hops) + c2 -> t0 (1) + t0 -> t1 -> t2 (2) = 5 hops
    assert status_of(lambda: put(fake, "c2", actions=[link("t0")])) == 200
    fake = state(
        *_chain(4), *[rule(f"t{i}", actions=[link(f"t{i + 1}")] if i < 2 else []) for i in range(3)]
    )
    with pytest.raises(FakeError) as err:
        put(fake, "c3", actions=[link("t0")])
    assert err.value.status == 422
    assert err.value.violations[0].code == "chain.depth"


def test_bus_max_depth_is_configurable() -> None:
    """With max_depth 1 a second hop is refused."""
    fake = state(*_chain(2), rule("x"), max_depth=1)
    assert status_of(lambda: put(fake, "c1", actions=[link("x")])) == 422
    assert status_of(lambda: put(fake, "x", actions=[link("c0")])) == 422
    assert status_of(lambda: put(fake, "x", actions=[link("c1")])) == 200


def test_every_violation_is_listed_and_400_wins_over_422() -> None:
    """A write breaking several constraints lists them all; attribute problems make it 400."""
    fake = state(rule("s"))
    with pytest.raises(FakeError) as err:
        put(fake, "s", actions=[link("s", preservedAttributes=["zz"]), link("ghost")])
    assert err.value.status == 400
    codes = [v.code for v in err.value.violations]
    assert codes == ["attribute.not.carried", "chain.self.link", "chain.unknown.rule"]
    body = err.value.body("ctx")
    assert [e["code"] for e in body["errors"]] == codes


def test_delete_leaves_links_dangling_but_later_writes_ignore_them() -> None:
    """Deleting an invoked rule is allowed; the graph skips the missing node."""
    fake = state(rule("s", actions=[link("d")]), rule("d"), rule("x"))
    fake.delete_rule("d")
    assert status_of(lambda: put(fake, "x", actions=[link("s")])) == 200
    assert status_of(lambda: fake.get_rule("d")) == 404


def test_concurrent_edit_changes_description_and_version() -> None:
    """The concurrent writer's edit is a real change on the stored rule."""
    fake = state(rule("r1"))
    assert fake.concurrent_edit_rule("r1")
    assert fake.get_rule("r1")["description"] == "edited by concurrent writer"
    assert fake.get_rule("r1")["version"] == 2
    assert not fake.concurrent_edit_rule("missing")


# --------------------------------------------------------------------------- paging + writes


def _client(bus: FakeBus) -> httpx.Client:
    http = httpx.Client(transport=httpx.MockTransport(bus.handler), base_url=DEFAULT_API_HOST)
    token = http.post(
        "/oauth/token",
        auth=("chainsim", "chainsim-secret"),
        data={"grant_type": "client_credentials"},
    ).json()["access_token"]
    http.headers["Authorization"] = f"Bearer {token}"
    return http


_WRITE = st.tuples(st.sampled_from(["create", "delete", "put"]), st.integers(0, 10**6))


@given(
    initial=st.sets(st.text("abcdefgh", min_size=1, max_size=4), min_size=1, max_size=25),
    size=st.integers(1, 6),
    writes=st.lists(st.lists(_WRITE, max_size=4), max_size=12),
)
def test_paging_interleaved_with_writes_sees_each_surviving_rule_once(
    initial: set[str], size: int, writes: list[list[tuple[str, int]]]
) -> None:
    """Property: a listing interleaved with creates, deletes and puts returns every
    pre-existing rule that survives exactly once and never repeats any id."""
    bus = FakeBus()
    bus.seed_rules([rule(i) for i in sorted(initial)])
    http = _client(bus)
    deleted: set[str] = set()
    seen: list[str] = []
    token: str | None = None
    for page_no in range(10_000):
        params: dict[str, Any] = {"pageSize": size}
        if token:
            params["pageToken"] = token
        page = http.get(RULES, params=params).json()
        seen += [r["id"] for r in page["entities"]]
        for op, n in writes[page_no] if page_no < len(writes) else []:
            ids = [r.id for r in bus.rules()]
            target = ids[n % len(ids)] if ids else None
            if op == "create":
                http.post(RULES, json=rule(f"{'abcdefgh'[n % 8]}{n}"))
            elif op == "delete" and target is not None:
                http.delete(f"{RULES}/{target}")
                deleted.add(target)
            elif op == "put" and target is not None:
                stored = http.get(f"{RULES}/{target}").json()
                http.put(f"{RULES}/{target}", json={**stored, "name": str(n)})
        token = page["nextPageToken"]
        if token is None:
            break
    assert len(seen) == len(set(seen)), "a rule was listed twice"
    assert initial - deleted <= set(seen)


@given(
    initial=st.sets(st.integers(0, 99), min_size=1, max_size=20),
    size=st.integers(1, 5),
    deletes=st.lists(st.integers(0, 99), max_size=10),
)
def test_trigger_paging_with_deletes_follows_next_uri(
    initial: set[int], size: int, deletes: list[int]
) -> None:
    """Property: following nextUri while triggers are deleted lists every survivor once."""
    bus = FakeBus()
    bus.seed_triggers([_trigger(f"t{i:02d}") for i in sorted(initial)])
    http = _client(bus)
    seen: list[str] = []
    uri: str | None = f"{TRIGGERS}?pageSize={size}"
    pending = list(deletes)
    while uri:
        page = http.get(uri).json()
        seen += [t["id"] for t in page["entities"]]
        if pending:
            http.delete(f"{TRIGGERS}/t{pending.pop():02d}")
        uri = page.get("nextUri")
    survivors = {t["id"] for t in bus.triggers()}
    assert len(seen) == len(set(seen))
    assert survivors <= set(seen)


def _trigger(trigger_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": trigger_id,
        "name": trigger_id,
        "topicName": "v2.topic",
        "enabled": True,
        "target": {"type": "Workflow", "id": "wf"},
        **extra,
    }


def test_trigger_listing_links_previous_pages_and_filters() -> None:
    """previousUri walks back; topicName/enabled/hasDelayBy filter and stay in the links."""
    bus = FakeBus()
    bus.seed_triggers(
        [
            _trigger(f"t{i}", enabled=i % 2 == 0, topicName="v2.a" if i < 4 else "v2.b")
            for i in range(6)
        ]
        + [_trigger("t6", delayBySeconds=60)]
    )
    http = _client(bus)
    first = http.get(TRIGGERS, params={"pageSize": 2}).json()
    assert "previousUri" not in first
    second = http.get(first["nextUri"]).json()
    assert [t["id"] for t in second["entities"]] == ["t2", "t3"]
    back = http.get(second["previousUri"]).json()
    assert [t["id"] for t in back["entities"]] == ["t0", "t1"]
    on_a = http.get(TRIGGERS, params={"topicName": "v2.a", "enabled": "true", "pageSize": 1}).json()
    assert [t["id"] for t in on_a["entities"]] == ["t0"]
    assert "topicName=v2.a" in on_a["nextUri"] and "enabled=true" in on_a["nextUri"]
    assert [t["id"] for t in http.get(on_a["nextUri"]).json()["entities"]] == ["t2"]
    delayed = http.get(TRIGGERS, params={"hasDelayBy": "True"}).json()
    assert [t["id"] for t in delayed["entities"]] == ["t6"]

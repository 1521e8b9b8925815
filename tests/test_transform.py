"""The transformation matrix: JSONPath compiled by python-jsonpath, evaluated on events."""

from __future__ import annotations

import pytest

from chainsim.transform import (
    PathCompiler,
    PathError,
    apply_transform,
    destination_event,
    metadata_key,
    transform_metadata,
)

EVENT = {
    "eventType": "routing.queue.member.added",
    "metadata": {
        "callerId": "+13175550142",
        "queueId": "q-1",
        "participants": [{"id": "p1"}, {"id": "p2"}],
        "routing": {"skill": "billing"},
    },
}


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("$.metadata.callerId", "callerId"),
        ("$['metadata']['queueId']", "queueId"),
        ("$.metadata.routing.skill", "routing"),
        ("$.metadata.participants[*].id", "participants"),
        ("$.metadata['a b']", "a b"),
    ],
)
def test_metadata_key_from_parsed_segments(path: str, key: str) -> None:
    """The key a path reads comes from the library's parsed segments, in any notation."""
    assert metadata_key(path) == key


@pytest.mark.parametrize(
    "path", ["$..callerId", "$.eventType", "$.metadata", "$.metadata.*", "$[0]"]
)
def test_paths_not_reading_one_metadata_key(path: str) -> None:
    """Recursive descent, other roots and wildcards read no single metadata key."""
    assert metadata_key(path) is None
    kind, problem = PathCompiler().path_problem(path, {"callerId"})
    assert kind == "syntax" and "$.metadata.<attribute>" in problem


@pytest.mark.parametrize(
    "path", ["metadata.callerId", "", " $.metadata.a", "$[", "$.metadata.a | $.x"]
)
def test_strict_parsing_refuses(path: str) -> None:
    """RFC 9535 strict mode: a path must start at $, with no stray whitespace or unions."""
    with pytest.raises(PathError, match="invalid JSONPath"):
        PathCompiler().compile(path)


def test_check_names_the_uncarried_attribute() -> None:
    """A parsing path on an attribute the source lacks is an `attribute` problem."""
    compiler = PathCompiler()
    assert compiler.check("$.metadata.callerId", {"callerId"}) is None
    kind, problem = compiler.path_problem("$.metadata.ani", {"callerId"})
    assert kind == "attribute" and "'ani'" in problem


def test_compiler_caches_per_text() -> None:
    """The same text compiles once per compiler; errors are cached too."""
    compiler = PathCompiler()
    assert compiler.compile("$.metadata.a") is compiler.compile("$.metadata.a")
    for _ in range(2):
        with pytest.raises(PathError):
            compiler.compile("$[")


def test_apply_transform_singular_and_multiple() -> None:
    """A singular path yields its value; a wildcard path yields the list of matches."""
    out = apply_transform(
        {"caller": "$.metadata.callerId", "ids": "$.metadata.participants[*].id"}, EVENT
    )
    assert out == {"caller": "+13175550142", "ids": ["p1", "p2"]}


def test_missing_paths_are_left_out_and_reported() -> None:
    """A path that selects nothing leaves its key out; the miss is listed, nothing raised."""
    applied = transform_metadata(
        {"caller": "$.metadata.callerId", "ani": "$.metadata.ani"},
        EVENT,
        preserve=["queueId", "dnis"],
    )
    assert applied.metadata == {"queueId": "q-1", "caller": "+13175550142"}
    assert applied.missing == ["dnis", "ani <- $.metadata.ani"]


def test_destination_event_preserves_first_then_matrix() -> None:
    """Preserved attributes are copied unchanged first; matrix entries are applied after."""
    event, missing = destination_event(
        EVENT,
        "conversation.callback.offered",
        {"queueId": "$.metadata.routing.skill", "number": "$.metadata.callerId"},
        ["queueId", "routing"],
    )
    assert event == {
        "eventType": "conversation.callback.offered",
        "metadata": {
            "queueId": "billing",
            "routing": {"skill": "billing"},
            "number": "+13175550142",
        },
    }
    assert list(event["metadata"]) == ["queueId", "routing", "number"]
    assert event["metadata"]["routing"] is EVENT["metadata"]["routing"]
    assert missing == []

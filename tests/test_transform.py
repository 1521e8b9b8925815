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


# ------------------------------------------------- mutation testing (issue 13)


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("$[", "unexpected end of query"),
        (" $.metadata.a", "unexpected leading whitespace"),
        ("", "expected 'TOKEN_ROOT', found 'TOKEN_EOF'"),  # the library's str() fails here
    ],
)
def test_a_syntax_problem_quotes_the_library_first_line(path: str, problem: str) -> None:
    """A path that does not parse: `check` names it and quotes the library's first line."""
    compiler = PathCompiler()
    assert compiler.check(path, {"a"}) == f"invalid JSONPath {path!r}: {problem}"
    assert compiler.path_problem(path, {"a"}) == ("syntax", f"invalid JSONPath {path!r}: {problem}")


def test_check_reports_every_kind_of_problem_and_nothing_for_a_fine_path() -> None:
    """`check` returns the problem of a syntax or attribute miss, None (and "") when fine."""
    compiler = PathCompiler()
    assert compiler.check("$.metadata.ani", {"callerId"}) == (
        "JSONPath '$.metadata.ani' reads attribute 'ani'"
    )
    assert compiler.check("$.eventType", {"callerId"}) == (
        "JSONPath '$.eventType' must start with $.metadata.<attribute>"
    )
    assert compiler.path_problem("$.metadata.callerId", {"callerId"}) == (None, "")


def test_the_given_compiler_is_the_one_used() -> None:
    """`apply_transform` and `destination_event` evaluate with the caller's compiler."""
    from jsonpath import JSONPathEnvironment

    lenient = PathCompiler(env=JSONPathEnvironment(strict=False))  # accepts a path without $
    matrix = {"caller": "metadata.callerId"}
    assert apply_transform(matrix, EVENT, compiler=lenient) == {"caller": "+13175550142"}
    event, missing = destination_event(EVENT, "x", matrix, compiler=lenient)
    assert event["metadata"] == {"caller": "+13175550142"} and missing == []
    with pytest.raises(PathError):
        apply_transform(matrix, EVENT)


@pytest.mark.parametrize(
    "path",
    ["$.data.callerId", "$.eventType.callerId", "$..metadata.callerId", "$['metadata','x'].y"],
)
def test_only_a_metadata_child_then_one_name_reads_a_key(path: str) -> None:
    """`$.<other>.<key>`, a descendant `..metadata` or a union selector reads no metadata key."""
    assert metadata_key(path) is None
    assert PathCompiler().path_problem(path, {"callerId", "y"})[0] == "syntax"


def test_a_path_that_is_not_a_string_is_refused_by_type() -> None:
    """A non-string JSONPath is a `PathError` naming the type it got."""
    with pytest.raises(PathError, match=r"^JSONPath must be a string, got int$"):
        PathCompiler().compile(42)  # type: ignore[arg-type]


def test_a_compound_path_is_refused_even_by_a_lenient_compiler() -> None:
    """A union of paths (accepted by a non-strict environment) is still a `PathError`."""
    from jsonpath import JSONPathEnvironment

    lenient = PathCompiler(env=JSONPathEnvironment(strict=False))
    with pytest.raises(PathError, match=r"compound paths are not supported$"):
        lenient.compile("$.metadata.a | $.metadata.b")


def test_a_compiled_path_keeps_its_text_key_and_singularity() -> None:
    """`compile` returns the path's own text, the metadata key and whether it is singular."""
    compiled = PathCompiler().compile("$.metadata.participants[*].id")
    assert (compiled.text, compiled.key, compiled.singular) == (
        "$.metadata.participants[*].id",
        "participants",
        False,
    )
    assert PathCompiler().compile("$.metadata.callerId").singular is True


class _Unprintable(ValueError):
    """A library error whose message cannot be rendered (as jsonpath's can fail to)."""

    def __str__(self) -> str:
        raise RuntimeError("no message")


class _RaisingEnv:
    """A JSONPath environment whose `compile` raises the given error."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def compile(self, text: str) -> object:
        """Raise the error."""
        raise self.error


@pytest.mark.parametrize(
    ("error", "problem"),
    [
        (ValueError(), "ValueError"),
        (ValueError("  \n"), "ValueError"),
        (_Unprintable(), "_Unprintable"),
        (_Unprintable("first line\nsecond"), "first line"),
    ],
)
def test_a_library_error_without_a_message_is_named_by_its_type(
    error: Exception, problem: str
) -> None:
    """An error with no (printable) message is named by its type, else by its first line."""
    compiler = PathCompiler(env=_RaisingEnv(error))  # type: ignore[arg-type]
    assert compiler.check("$.metadata.a", {"a"}) == f"invalid JSONPath '$.metadata.a': {problem}"

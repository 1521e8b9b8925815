"""The topic catalogue: shipped schemas, paths, validation and the live listing."""

from __future__ import annotations

import json
import sys
from importlib import resources

import pytest

from chainsim.dialects.catalogue import (
    TopicCatalogue,
    from_available_topics,
    load_catalogue,
    normalize_path,
)

CUSTOMER_END = "v2.detail.events.conversation.{id}.customer.end"
ATTRIBUTES = "v2.detail.events.conversation.{id}.attributes"
ACTIVITY = "v2.users.{id}.activity"


def test_regenerating_from_installed_sdk_changes_nothing_slow() -> None:
    """Slow-ish (imports the SDK, ~4 s): catalogue_gen reproduces topics.json byte for byte."""
    from chainsim.dialects import catalogue_gen

    shipped = resources.files("chainsim.dialects").joinpath("topics.json").read_text("utf-8")
    assert catalogue_gen.render() == shipped


def test_loading_the_catalogue_never_imports_the_sdk() -> None:
    """The offline catalogue is read without PureCloudPlatformClientV2 being imported."""
    import subprocess

    code = (
        "import sys; from chainsim.dialects.catalogue import load_catalogue; "
        f"load_catalogue().validate_event({CUSTOMER_END!r}, {{}}); "
        "print('PureCloudPlatformClientV2' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_shipped_file_records_sdk_version_and_documented_topics() -> None:
    """topics.json names the SDK version and carries the topics Genesys documents."""
    document = json.loads(
        resources.files("chainsim.dialects").joinpath("topics.json").read_text("utf-8")
    )
    assert document["sdk"]["package"] == "PureCloudPlatformClientV2"
    assert document["sdk"]["version"].count(".") == 2
    names = load_catalogue().names()
    for suffix in (
        "acd.start",
        "acd.end",
        "acw",
        "wrapup",
        "attributes",
        "customer.start",
        "customer.end",
        "outbound",
        "user.start",
        "user.end",
        "voicemail.start",
        "voicemail.end",
        "contact",
        "flow.start",
        "flow.end",
        "flow.outcome",
    ):
        assert f"v2.detail.events.conversation.{{id}}.{suffix}" in names
    assert ACTIVITY in names and "v2.quality.evaluations" in names
    assert names == sorted(names)
    assert load_catalogue().sdk_version == document["sdk"]["version"]


def test_schema_fields_types_and_enums_come_from_the_sdk_model() -> None:
    """customer.end's schema has mediaType as an enum of upper-case values, eventTime integer."""
    schema = load_catalogue().schema(CUSTOMER_END)
    assert schema is not None
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    props = schema["properties"]
    assert props["eventTime"] == {"type": "integer"}
    assert "VOICE" in props["mediaType"]["enum"]
    assert "outdated_sdk_version" not in props["mediaType"]["enum"]
    assert props["callbackNumbers"] == {"type": "array", "items": {"type": "string"}}
    assert load_catalogue().schema("v2.nope") is None


def test_map_fields_are_objects_with_additional_properties() -> None:
    """A `dict(str, str)` field becomes an object with additionalProperties."""
    schema = load_catalogue().schema(ATTRIBUTES)
    assert schema is not None
    assert schema["properties"]["attributes"] == {
        "type": "object",
        "additionalProperties": {"type": "string"},
    }


def test_field_paths_are_dotted_and_mark_maps() -> None:
    """Nested fields are dotted, array items `[*]`, map keys `.*`."""
    catalogue = load_catalogue()
    assert "presence.presenceDefinition.systemPresence" in catalogue.field_paths(ACTIVITY)
    paths = catalogue.field_paths(ATTRIBUTES)
    assert {"attributes", "attributes.*", "communications[*].mediaType"} <= paths
    assert catalogue.field_paths("v2.nope") == set()


def test_classify_and_field_schema() -> None:
    """A field is a field, a map key unverifiable, a typo unknown; `$.` and [0] are accepted."""
    catalogue = load_catalogue()
    assert catalogue.classify(CUSTOMER_END, "$.mediaType")[0] == "field"
    assert catalogue.classify(ATTRIBUTES, "attributes.anything")[0] == "unverifiable"
    assert catalogue.classify(ATTRIBUTES, "communications[0].mediaType")[0] == "field"
    assert catalogue.classify(CUSTOMER_END, "mediaTyp")[0] == "unknown"
    assert catalogue.field_schema(ATTRIBUTES, "attributes.x") == {"type": "string"}
    assert catalogue.field_schema(CUSTOMER_END, "direction") == {
        "type": "string",
        "enum": ["UNKNOWN", "INBOUND", "OUTBOUND"],
    }
    assert catalogue.field_schema(CUSTOMER_END, "nope") is None


def test_normalize_path_forms() -> None:
    """`$.a.b`, `$['a']['b']` and `a[3].b` normalise to catalogue paths."""
    assert normalize_path("$.a.b") == "a.b"
    assert normalize_path("$['a']['b']") == "a.b"
    assert normalize_path("a[3].b") == "a[*].b"
    assert normalize_path("mediaType") == "mediaType"


def test_nearest_topic_and_path() -> None:
    """Typos get the closest topic or field; nonsense gets None."""
    catalogue = load_catalogue()
    assert catalogue.nearest("v2.detail.events.conversation.{id}.customer.ends") == CUSTOMER_END
    assert catalogue.nearest("zzz") is None
    assert catalogue.nearest_path(CUSTOMER_END, "mediaTyp") == "mediaType"


def test_validate_event_reports_each_problem_with_its_place() -> None:
    """jsonschema errors come back as `$.field: message`, sorted; a valid body gives none."""
    catalogue = load_catalogue()
    assert catalogue.validate_event(CUSTOMER_END, {"mediaType": "VOICE", "eventTime": 1}) == []
    errors = catalogue.validate_event(CUSTOMER_END, {"mediaType": "voice", "eventTime": "x"})
    assert errors[0].startswith("$.eventTime: ")
    assert errors[1].startswith("$.mediaType: 'voice' is not one of")
    assert catalogue.validate_event("v2.nope", {}) == ["unknown topic 'v2.nope'"]


def test_from_available_topics_reads_the_live_listing() -> None:
    """The availabletopics answer becomes a catalogue; the URN id is dropped, no-schema skipped."""
    listing = {
        "entities": [
            {
                "id": "v2.custom.{id}.thing",
                "schema": {
                    "id": "urn:jsonschema:com:inin:thing",
                    "type": "object",
                    "properties": {
                        "kind": {"type": "string", "enum": ["A", "B"]},
                        "extra": {"type": "object", "additionalProperties": {"type": "string"}},
                    },
                },
            },
            {"id": "v2.no.schema"},
        ]
    }
    catalogue = from_available_topics(listing)
    assert isinstance(catalogue, TopicCatalogue)
    assert catalogue.names() == ["v2.custom.{id}.thing"]
    assert catalogue.source == "live"
    schema = catalogue.schema("v2.custom.{id}.thing")
    assert schema is not None and "id" not in schema
    assert catalogue.validate_event("v2.custom.{id}.thing", {"kind": "C"})
    assert catalogue.classify("v2.custom.{id}.thing", "extra.k")[0] == "unverifiable"


@pytest.mark.parametrize("listing", [{}, {"entities": {}}, {"entities": [{"schema": {}}]}])
def test_from_available_topics_refuses_malformed_listings(listing: dict) -> None:
    """A listing without an entities list or with an entity lacking its id is a ValueError."""
    with pytest.raises(ValueError, match="availabletopics"):
        from_available_topics(listing)


def test_load_catalogue_is_cached_per_process() -> None:
    """load_catalogue returns the same object twice, usable as a cache key."""
    assert load_catalogue() is load_catalogue()
    assert {load_catalogue(): 1}[load_catalogue()] == 1

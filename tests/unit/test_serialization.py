"""Single-object encoding: errors are clear SerializationErrors, never crashes."""

from __future__ import annotations

import pytest

from cmo.adapters.avro import SingleObjectSerializer
from cmo.events import QueryReceived
from cmo.exceptions import SerializationError, UnknownSchemaError
from producers.samples import sample_events


def _query() -> QueryReceived:
    return QueryReceived(event_id="e1", event_time=1, correlation_id="q1", service="ui",
                         session_id="s", user_id="u", query_text="NMR vs LC-MS?")


@pytest.mark.parametrize("data, message", [
    (b"", "single-object"),
    (b"garbage bytes that are not avro", "single-object"),
    (b"\xc3\x01" + b"\x00" * 8 + b"\x02", "unknown writer schema"),
])
def test_bad_bytes_raise_serialization_error(serializer: SingleObjectSerializer, data: bytes,
                                             message: str) -> None:
    with pytest.raises(SerializationError, match=message):
        serializer.decode(data, "t")


def test_unknown_fingerprint_is_its_own_error(serializer: SingleObjectSerializer) -> None:
    with pytest.raises(UnknownSchemaError):
        serializer.decode(b"\xc3\x01" + b"\x01" * 8 + b"\x00", "t")


def test_truncated_body_raises(serializer: SingleObjectSerializer) -> None:
    data = serializer.encode(_query(), "t")
    with pytest.raises(SerializationError, match="cannot decode QueryReceived"):
        serializer.decode(data[:-6], "t")


def test_wrong_record_type_for_topic(serializer: SingleObjectSerializer) -> None:
    alert = [e for e in sample_events(1) if type(e).__name__ == "Alert"][0]
    with pytest.raises(SerializationError, match="expected a QueryReceived record, got Alert"):
        serializer.decode(serializer.encode(alert, "t"), "t", "QueryReceived")


def test_event_that_breaks_its_schema_is_refused(serializer: SingleObjectSerializer) -> None:
    bad = QueryReceived(event_id="e", event_time="not-a-number", correlation_id="q",  # type: ignore[arg-type]
                        service="ui", session_id="s", user_id="u", query_text="x")
    with pytest.raises(SerializationError, match="does not match its schema"):
        serializer.encode(bad, "t")


def test_encoding_is_deterministic(serializer: SingleObjectSerializer) -> None:
    assert serializer.encode(_query(), "t") == serializer.encode(_query(), "t")

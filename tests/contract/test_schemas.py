"""Every .avsc parses, matches its event dataclass, and every event round-trips."""

from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path

import pytest

from cmo.adapters.avro import SchemaStore, SingleObjectSerializer, crc64_avro, fingerprint
from cmo.adapters.factory import schema_dir
from cmo.events import REGISTRY, Event, from_record, to_record
from cmo.schema_versions import check
from producers.samples import sample_events

SCHEMAS = sorted(schema_dir().glob("*.avsc"))


def test_one_schema_per_event_type() -> None:
    assert {p.stem for p in SCHEMAS} == set(REGISTRY)
    assert len(REGISTRY) == 12


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: p.stem)
def test_schema_matches_dataclass(path: Path) -> None:
    raw = json.loads(path.read_text())
    cls = REGISTRY[path.stem]
    dc_fields = dataclasses.fields(cls)
    assert [f["name"] for f in raw["fields"]] == [f.name for f in dc_fields]
    hints = typing.get_type_hints(cls)
    for avro_field, dc_field in zip(raw["fields"], dc_fields):
        nullable = isinstance(avro_field["type"], list) and "null" in avro_field["type"]
        assert nullable == (type(None) in typing.get_args(hints[dc_field.name])), dc_field.name
        has_dc_default = (dc_field.default is not dataclasses.MISSING
                          or dc_field.default_factory is not dataclasses.MISSING)
        assert ("default" in avro_field) == has_dc_default, dc_field.name
        if dc_field.default is not dataclasses.MISSING:
            default = dc_field.default
            assert avro_field["default"] == (list(default) if isinstance(default, tuple) else default)


def test_committed_schemas_pass_the_evolution_check() -> None:
    assert check(schema_dir()) == []


def test_crc64_avro_reference_vectors() -> None:
    # Fingerprints from the Avro specification's test suite (lang/py schema_normalization).
    assert crc64_avro(b'"int"') == 0x7275D51A3F395C8F
    assert crc64_avro(b'"string"') == 0x8F014872634503C7
    assert fingerprint("int").hex() == (0x7275D51A3F395C8F).to_bytes(8, "little").hex()


@pytest.mark.parametrize("event", sample_events(1_795_660_458_000), ids=lambda e: type(e).__name__)
def test_every_event_round_trips(event: Event, serializer: SingleObjectSerializer) -> None:
    data = serializer.encode(event, "t")
    assert data[:2] == b"\xc3\x01"
    assert serializer.decode(data, "t", type(event).__name__) == event
    assert from_record(type(event), to_record(event)) == event


def test_old_writer_schema_is_read_with_current_reader(tmp_path: Path) -> None:
    """Data written with v1 (no `channel` field) decodes with v2, the default filled in."""
    new = json.loads((schema_dir() / "QueryReceived.avsc").read_text())
    old = {**new, "fields": [f for f in new["fields"] if f["name"] != "channel"]}
    (tmp_path / "versions" / "QueryReceived").mkdir(parents=True)
    (tmp_path / "versions" / "QueryReceived" / "v1.avsc").write_text(json.dumps(old))
    (tmp_path / "QueryReceived.avsc").write_text(json.dumps(new))
    (tmp_path / "OldOnly.avsc").write_text("")  # ignored? no: must fail loudly
    with pytest.raises(Exception, match="OldOnly"):
        SchemaStore(tmp_path)
    (tmp_path / "OldOnly.avsc").unlink()
    store = SchemaStore(tmp_path)
    import io

    import fastavro

    record = {"event_id": "e", "event_time": 5, "correlation_id": "q", "service": "ui",
              "session_id": "s", "user_id": "u", "query_text": "what is NMR?", "mode": "local",
              "language": None}
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(old), record)
    old_bytes = b"\xc3\x01" + fingerprint(old) + buf.getvalue()
    event = SingleObjectSerializer(store).decode(old_bytes, "t", "QueryReceived")
    assert event == REGISTRY["QueryReceived"](**record, channel="api")

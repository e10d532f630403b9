"""Avro serialization of events with fastavro.

Default wire format: the Avro specification's *single-object encoding*::

    0xC3 0x01 | CRC-64-AVRO fingerprint of the writer schema's Parsing Canonical Form
              (8 bytes, little-endian) | Avro binary body

No registry server is needed: writer schemas are looked up by fingerprint in the
:class:`SchemaStore` (the current ``schemas/*.avsc`` plus every committed earlier
version under ``schemas/versions/<Name>/v<N>.avsc``), and data written with an older
schema is resolved against the current (reader) schema.
"""

from __future__ import annotations

import copy
import io
import json
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import fastavro
import fastavro.schema

from cmo.events import Event, event_type, from_record, to_record
from cmo.exceptions import SchemaError, SerializationError, UnknownSchemaError

MAGIC = b"\xc3\x01"
_HEADER = 10
_EMPTY64 = 0xC15D213AA4D7A795
_TABLE: list[int] = []
for _i in range(256):
    _fp = _i
    for _ in range(8):
        _fp = (_fp >> 1) ^ (_EMPTY64 & -(_fp & 1))
    _TABLE.append(_fp)


def crc64_avro(data: bytes) -> int:
    """The Avro specification's 64-bit Rabin fingerprint (CRC-64-AVRO)."""
    fp = _EMPTY64
    for byte in data:
        fp = (fp >> 8) ^ _TABLE[(fp ^ byte) & 0xFF]
    return fp


def fingerprint(schema: Any) -> bytes:
    """8-byte little-endian CRC-64-AVRO of the schema's Parsing Canonical Form."""
    canonical = fastavro.schema.to_parsing_canonical_form(schema)
    return struct.pack("<Q", crc64_avro(canonical.encode("utf-8")))


def _strip_logical(schema: Any) -> Any:
    """Copy without logicalType: values stay ints/strings (binary encoding is identical)."""
    if isinstance(schema, dict):
        return {k: _strip_logical(v) for k, v in schema.items() if k != "logicalType"}
    if isinstance(schema, list):
        return [_strip_logical(v) for v in schema]
    return schema


@dataclass(frozen=True)
class StoredSchema:
    """One version of one record schema."""

    name: str
    version: int | None  # None = the current schemas/<Name>.avsc
    raw: Any
    parsed: Any
    fingerprint: bytes


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SchemaError(f"{path}: cannot read schema: {exc}") from exc


def _stored(name: str, version: int | None, raw: Any, source: Path) -> StoredSchema:
    try:
        parsed = fastavro.parse_schema(_strip_logical(copy.deepcopy(raw)), _force=True)
    except Exception as exc:  # fastavro raises several exception types for bad schemas
        raise SchemaError(f"{source}: invalid Avro schema: {exc}") from exc
    return StoredSchema(name, version, raw, parsed, fingerprint(raw))


class SchemaStore:
    """Current and historic event schemas, by record name and by fingerprint."""

    def __init__(self, schema_dir: Path) -> None:
        self.schema_dir = schema_dir
        if not schema_dir.is_dir():
            raise SchemaError(f"schema directory not found: {schema_dir}")
        self.current: dict[str, StoredSchema] = {}
        self.history: dict[str, list[StoredSchema]] = {}
        self._by_fp: dict[bytes, StoredSchema] = {}
        for path in sorted(schema_dir.glob("*.avsc")):
            raw = _load_json(path)
            name = raw.get("name") if isinstance(raw, dict) else None
            if name != path.stem:
                raise SchemaError(f"{path}: record name {name!r} must equal the file name")
            self.current[path.stem] = stored = _stored(path.stem, None, raw, path)
            self._by_fp[stored.fingerprint] = stored
        for name in self.current:
            versions = []
            for path in sorted((schema_dir / "versions" / name).glob("v*.avsc"), key=_vnum):
                versions.append(_stored(name, _vnum(path), _load_json(path), path))
            self.history[name] = versions
            for stored in versions:
                self._by_fp.setdefault(stored.fingerprint, stored)

    def schema(self, name: str) -> StoredSchema:
        try:
            return self.current[name]
        except KeyError:
            raise SchemaError(f"no schema {name}.avsc in {self.schema_dir}") from None

    def by_fingerprint(self, fp: bytes) -> StoredSchema:
        try:
            return self._by_fp[fp]
        except KeyError:
            raise UnknownSchemaError(
                f"unknown writer schema fingerprint {fp.hex()} (not a current or committed "
                f"earlier version in {self.schema_dir})"
            ) from None


def _vnum(path: Path) -> int:
    match = re.fullmatch(r"v(\d+)", path.stem)
    if not match:
        raise SchemaError(f"{path}: version files must be named v<N>.avsc")
    return int(match.group(1))


class EventSerializer(Protocol):
    """Port: turns events into message values and back."""

    def encode(self, event: Event, topic: str) -> bytes: ...

    def decode(self, data: bytes, topic: str, expected: str | None = None) -> Event: ...


class SingleObjectSerializer:
    """Avro single-object encoding against a :class:`SchemaStore` (the default)."""

    def __init__(self, store: SchemaStore) -> None:
        self.store = store
        self._writers = {n: (s.parsed, MAGIC + s.fingerprint) for n, s in store.current.items()}

    def encode(self, event: Event, topic: str = "") -> bytes:
        name = type(event).__name__
        try:
            parsed, header = self._writers[name]
        except KeyError:
            raise SerializationError(f"no schema for event type {name}") from None
        buf = io.BytesIO()
        buf.write(header)
        try:
            fastavro.schemaless_writer(buf, parsed, to_record(event))
        except (ValueError, TypeError, AttributeError) as exc:
            raise SerializationError(f"{name} does not match its schema: {exc}") from exc
        return buf.getvalue()

    def decode(self, data: bytes, topic: str = "", expected: str | None = None) -> Event:
        name, record = self.decode_record(data, topic, expected)
        try:
            return from_record(event_type(name), record)
        except Exception as exc:  # any failure here means the bytes are not a valid event
            raise SerializationError(f"cannot decode {name}: {exc}") from exc

    def decode_record(self, data: bytes, topic: str = "",
                      expected: str | None = None) -> tuple[str, dict[str, Any]]:
        """The event's type name and its Avro record (read with the current schema), without
        building the event object: for hot paths that need a few fields."""
        if len(data) < _HEADER or data[:2] != MAGIC:
            raise SerializationError("not Avro single-object encoded (missing 0xC3 0x01 marker)")
        writer = self.store.by_fingerprint(data[2:_HEADER])
        if expected is not None and writer.name != expected:
            raise SerializationError(f"expected a {expected} record, got {writer.name}")
        reader = self.store.schema(writer.name)
        try:
            record = fastavro.schemaless_reader(
                io.BytesIO(data[_HEADER:]),
                writer.parsed,
                None if writer is reader else reader.parsed,
            )
        except Exception as exc:  # any failure here means the bytes are not a valid event
            raise SerializationError(f"cannot decode {writer.name}: {exc}") from exc
        if not isinstance(record, dict):
            raise SerializationError(f"cannot decode {writer.name}: not a record")
        return writer.name, record

"""Confluent wire format through a Schema Registry (used when SCHEMA_REGISTRY_URL is set).

Magic byte 0, 4-byte schema id, Avro body — produced and read by confluent_kafka's
schema-registry serializers, subjects named ``<topic>-value`` (TopicNameStrategy).
Schemas are registered from ``schemas/*.avsc`` on first use; the registry's own
compatibility setting then guards evolution as ``cmo schemas check`` does locally.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from cmo.adapters.avro import SchemaStore
from cmo.events import Event, event_type, from_record, to_record
from cmo.exceptions import SerializationError
from cmo.topics import event_for_topic


def _plain(record: dict[str, Any]) -> dict[str, Any]:
    """The registry deserializer applies logical types; events keep ints and strings."""
    for key, value in record.items():
        if isinstance(value, datetime):
            record[key] = int(value.timestamp() * 1000)
        elif isinstance(value, UUID):
            record[key] = str(value)
    return record


class RegistrySerializer:
    """EventSerializer speaking the Confluent wire format."""

    def __init__(self, url: str, store: SchemaStore, topic_prefix: str = "cmo",
                 client_config: dict[str, Any] | None = None) -> None:
        self.store = store
        self.topic_prefix = topic_prefix
        self.client = SchemaRegistryClient({"url": url, **(client_config or {})})
        self._ser: dict[str, AvroSerializer] = {}
        self._de: dict[str, AvroDeserializer] = {}

    def _schema_str(self, name: str) -> str:
        return json.dumps(self.store.schema(name).raw)

    def encode(self, event: Event, topic: str) -> bytes:
        name = type(event).__name__
        ser = self._ser.get(name)
        if ser is None:
            ser = self._ser[name] = AvroSerializer(
                self.client, self._schema_str(name), lambda e, ctx: to_record(e),
                conf={"auto.register.schemas": True})
        try:
            data = ser(event, SerializationContext(topic, MessageField.VALUE))
        except Exception as exc:  # registry or schema mismatch
            raise SerializationError(f"cannot encode {name} for {topic}: {exc}") from exc
        return bytes(data or b"")

    def decode(self, data: bytes, topic: str, expected: str | None = None) -> Event:
        name = expected or event_for_topic(self.topic_prefix, topic)
        de = self._de.get(name)
        if de is None:
            cls = event_type(name)
            de = self._de[name] = AvroDeserializer(
                self.client, self._schema_str(name), lambda rec, ctx: from_record(cls, _plain(rec)))
        if not data or data[0] != 0:
            raise SerializationError("not in the Confluent wire format (missing magic byte 0)")
        try:
            event = de(data, SerializationContext(topic, MessageField.VALUE))
        except Exception as exc:
            raise SerializationError(f"cannot decode {name} from {topic}: {exc}") from exc
        if not isinstance(event, Event):
            raise SerializationError(f"decoded value from {topic} is not an event")
        return event

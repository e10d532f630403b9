"""Build adapters from settings (the one place that picks implementations)."""

from __future__ import annotations

import os
from pathlib import Path

from cmo.adapters.avro import EventSerializer, SchemaStore, SingleObjectSerializer
from cmo.adapters.publisher import DurableProducer
from cmo.config import Settings


def schema_dir() -> Path:
    """``CMO_SCHEMA_DIR`` or the repository's ``schemas/``."""
    return Path(os.environ.get("CMO_SCHEMA_DIR") or Path(__file__).resolve().parents[2] / "schemas")


def make_serializer(settings: Settings, store: SchemaStore | None = None) -> EventSerializer:
    """Single-object Avro by default; Confluent wire format when SCHEMA_REGISTRY_URL is set."""
    store = store or SchemaStore(schema_dir())
    if settings.schema_registry_url:
        from cmo.adapters.registry_serde import RegistrySerializer

        return RegistrySerializer(settings.schema_registry_url, store, settings.kafka_topic_prefix)
    return SingleObjectSerializer(store)


def make_producer(settings: Settings, service: str,
                  serializer: EventSerializer | None = None) -> DurableProducer:
    """A durable producer with this service's own outbox file."""
    outbox = settings.outbox_path
    if settings.cmo_outbox_path is None:
        outbox = settings.cmo_home / f"outbox-{service}.db"
    return DurableProducer(settings.kafka_bootstrap_servers, serializer or make_serializer(settings),
                           outbox, settings.kafka_topic_prefix, settings.kafka_message_timeout_ms)

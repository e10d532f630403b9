"""Shared fixtures: the real Kafka broker (started once per test session) and settings."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cmo.adapters.avro import SchemaStore, SingleObjectSerializer
from cmo.adapters.factory import schema_dir
from cmo.adapters.kafka_admin import create_topics
from cmo.adapters.local_broker import LocalBroker, default_libs_dir
from cmo.config import Settings
from cmo.topics import topic_specs

REPO = Path(__file__).resolve().parents[1]
PUBMEDQA = REPO.parent / "shared" / "data" / "pubmedqa" / "pqal_dev.json"


def free_port() -> int:
    """A free loopback port with a free successor (the broker's controller port)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with socket.socket() as s2:
            try:
                s2.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return int(port)
    raise RuntimeError("no free port pair")


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    """A real Apache Kafka 4 broker (KRaft) for the whole test session."""
    port = free_port()
    kafka = LocalBroker(tmp_path_factory.mktemp("kafka"), default_libs_dir(), port=port,
                        controller_port=port + 1)
    kafka.start(timeout=120)
    yield kafka
    kafka.stop()


@pytest.fixture(scope="session")
def schema_store() -> SchemaStore:
    return SchemaStore(schema_dir())


@pytest.fixture(scope="session")
def serializer(schema_store: SchemaStore) -> SingleObjectSerializer:
    return SingleObjectSerializer(schema_store)


@pytest.fixture
def settings(broker: LocalBroker, tmp_path: Path) -> Settings:
    """Settings on the test broker with a fresh topic prefix (topics created) per test."""
    s = Settings(_env_file=None, cmo_home=tmp_path / "home",  # type: ignore[call-arg]
                 kafka_bootstrap_servers=broker.bootstrap_servers,
                 kafka_topic_prefix=f"t{uuid.uuid4().hex[:10]}", kafka_partitions=2,
                 kafka_message_timeout_ms=60_000)
    create_topics(s.kafka_bootstrap_servers,
                  topic_specs(s.kafka_topic_prefix, s.kafka_partitions, s.kafka_retention_ms))
    return s

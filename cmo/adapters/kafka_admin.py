"""Topic administration on the real broker: create (idempotent) and list."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from cmo.exceptions import BrokerUnavailableError
from cmo.topics import TopicSpec

logger = logging.getLogger(__name__)


@contextmanager
def mapped_kafka_errors(what: str) -> Iterator[None]:
    """Translate librdkafka errors into project exceptions (one place)."""
    try:
        yield
    except KafkaException as exc:
        raise BrokerUnavailableError(f"{what}: {exc}") from exc


@dataclass(frozen=True)
class TopicInfo:
    name: str
    partitions: int


def admin_client(bootstrap_servers: str) -> AdminClient:
    conf: dict[str, Any] = {"bootstrap.servers": bootstrap_servers,
                        "socket.connection.setup.timeout.ms": 3000, "log_level": 3,
                        "logger": logging.getLogger("librdkafka")}
    return AdminClient(conf)


def list_topics(bootstrap_servers: str, timeout: float = 5.0) -> list[TopicInfo]:
    with mapped_kafka_errors(f"cannot reach Kafka at {bootstrap_servers}"):
        meta = admin_client(bootstrap_servers).list_topics(timeout=timeout)
    return sorted((TopicInfo(name, len(t.partitions)) for name, t in meta.topics.items()
                   if not name.startswith("__")), key=lambda t: t.name)


def create_topics(bootstrap_servers: str, specs: Iterable[TopicSpec],
                  timeout: float = 30.0) -> dict[str, str]:
    """Create missing topics; returns name -> 'created' | 'exists'. Idempotent."""
    admin = admin_client(bootstrap_servers)
    new = [NewTopic(s.name, num_partitions=s.partitions, replication_factor=1, config=s.config)
           for s in specs]
    with mapped_kafka_errors(f"cannot create topics on {bootstrap_servers}"):
        futures = admin.create_topics(new, request_timeout=timeout, operation_timeout=timeout)
        result: dict[str, str] = {}
        for name, future in futures.items():
            try:
                future.result()
                result[name] = "created"
                logger.info("created topic %s", name)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise
                result[name] = "exists"
    return result

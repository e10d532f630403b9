"""Helpers for integration tests: read a topic back until a condition holds."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable

from confluent_kafka import Consumer, Message

from cmo.adapters.avro import EventSerializer
from cmo.adapters.consumer import Consumed, EventConsumer
from cmo.adapters.publisher import DurableProducer


def consume_events(bootstrap: str, topics: Iterable[str], serializer: EventSerializer,
                   dead_letters: DurableProducer, prefix: str, until: Callable[[list[Consumed]], bool],
                   timeout: float = 30.0) -> list[Consumed]:
    got: list[Consumed] = []
    with EventConsumer(bootstrap, f"test-{uuid.uuid4()}", topics, serializer, dead_letters,
                       prefix) as consumer:
        deadline = time.monotonic() + timeout
        while not until(got) and time.monotonic() < deadline:
            got.extend(consumer.poll(0.5))
    return got


def consume_raw(bootstrap: str, topic: str, count: int, timeout: float = 30.0) -> list[Message]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"raw-{uuid.uuid4()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    out: list[Message] = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) < count and time.monotonic() < deadline:
            for msg in consumer.consume(100, 0.5):
                if msg.error() is None:
                    out.append(msg)
    finally:
        consumer.close()
    return out

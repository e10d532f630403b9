"""Consumer helper: decode events, dead-letter what cannot be decoded, go on.

One processing-error policy: an undecodable or schema-invalid record is logged as
``topic[partition]@offset``, copied byte for byte to ``<topic>.dlq`` with headers
naming its origin and the error, and consumption continues. Offsets are stored only
after a record was handed to the caller (or dead-lettered), and committed explicitly
with :meth:`EventConsumer.commit` or periodically by librdkafka (at-least-once).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from cmo.adapters.avro import EventSerializer
from cmo.adapters.publisher import DurableProducer
from cmo.events import Event
from cmo.exceptions import BrokerUnavailableError, SerializationError
from cmo.topics import dlq_name, event_for_topic

logger = logging.getLogger(__name__)

DLQ_HEADERS = ("dlq.source.topic", "dlq.source.partition", "dlq.source.offset",
               "dlq.error", "dlq.error.class")


@dataclass(frozen=True, slots=True)
class Consumed:
    """A decoded event and where it came from."""

    event: Event
    topic: str
    partition: int
    offset: int
    timestamp_ms: int


def consumer_config(bootstrap_servers: str, group_id: str, from_beginning: bool = True,
                    extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    conf: dict[str, Any] = {
        "bootstrap.servers": bootstrap_servers,
        "group.id": group_id,
        "auto.offset.reset": "earliest" if from_beginning else "latest",
        "enable.auto.commit": True,
        "enable.auto.offset.store": False,
        "isolation.level": "read_committed",
        "log_level": 3,
        "logger": logging.getLogger("librdkafka"),
    }
    conf.update(extra or {})
    return conf


class EventConsumer:
    """Subscribes to event topics and yields decoded events; bad records go to the DLQ."""

    def __init__(self, bootstrap_servers: str, group_id: str, topics: Iterable[str],
                 serializer: EventSerializer, dead_letters: DurableProducer,
                 topic_prefix: str = "cmo", from_beginning: bool = True,
                 extra_config: Mapping[str, Any] | None = None) -> None:
        self.serializer = serializer
        self.dead_letters = dead_letters
        self.topics = list(topics)
        self._expected = {t: event_for_topic(topic_prefix, t) for t in self.topics}
        self._consumer = Consumer(consumer_config(bootstrap_servers, group_id, from_beginning,
                                                  extra_config))
        self._consumer.subscribe(self.topics)
        self.dead_lettered = 0

    def poll(self, timeout: float = 1.0, max_records: int = 500) -> list[Consumed]:
        """Up to max_records decoded events (bad ones are dead-lettered, not returned)."""
        try:
            messages = self._consumer.consume(max_records, timeout)
        except KafkaException as exc:
            raise BrokerUnavailableError(f"consume failed: {exc}") from exc
        out: list[Consumed] = []
        for msg in messages:
            error = msg.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    logger.warning("consumer error: %s", error)
                continue
            consumed = self._decode(msg)
            if consumed is not None:
                out.append(consumed)
            self._consumer.store_offsets(message=msg)
        return out

    def _decode(self, msg: Message) -> Consumed | None:
        topic, partition, offset = msg.topic() or "", msg.partition() or 0, msg.offset() or 0
        try:
            event = self.serializer.decode(msg.value() or b"", topic, self._expected.get(topic))
        except SerializationError as exc:
            self._dead_letter(msg, exc)
            return None
        return Consumed(event, topic, partition, offset, msg.timestamp()[1])

    def _dead_letter(self, msg: Message, exc: Exception) -> None:
        topic, partition, offset = msg.topic() or "", msg.partition(), msg.offset()
        logger.warning("dead-lettering %s[%s]@%s: %s", topic, partition, offset, exc)
        values = (topic, str(partition), str(offset), str(exc), type(exc).__name__)
        headers = [(k, v.encode()) for k, v in zip(DLQ_HEADERS, values)]
        original = msg.headers()
        if isinstance(original, list):
            headers += [(str(h[0]), h[1]) for h in original if isinstance(h[1], bytes)]
        self.dead_letters.publish_raw(dlq_name(topic), msg.key(), msg.value() or b"", headers)
        self.dead_lettered += 1

    def run(self, handler: Callable[[Consumed], None], should_stop: Callable[[], bool],
            timeout: float = 0.5) -> None:
        """Call handler for each event until should_stop() is true."""
        while not should_stop():
            for consumed in self.poll(timeout):
                handler(consumed)

    def commit(self) -> None:
        """Synchronously commit stored offsets (for sinks that commit after writing)."""
        try:
            self._consumer.commit(asynchronous=False)
        except KafkaException as exc:
            if exc.args and exc.args[0].code() == KafkaError._NO_OFFSET:
                return
            raise BrokerUnavailableError(f"commit failed: {exc}") from exc

    def positions(self) -> list[TopicPartition]:
        return list(self._consumer.position(self._consumer.assignment()))

    def close(self) -> None:
        self._consumer.close()

    def __enter__(self) -> EventConsumer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""Durable event producer: idempotent confluent-kafka producer behind a SQLite outbox.

``publish()`` never blocks and never fails because of the broker: the encoded event
is appended to the :class:`~cmo.adapters.outbox.Outbox`, then handed to librdkafka
(idempotent, ``acks=all``, lz4, keyed by correlation id). A background thread serves
delivery reports and deletes acknowledged rows. When the local queue is full or
deliveries fail (broker down), the producer switches to *draining*: new events only go
to the outbox; once every message handed to librdkafka has resolved, the thread re-sends
the outbox in id order, batch by batch (per-key order kept). Rows left by a crashed process are re-sent at the next start.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from cmo.adapters.avro import EventSerializer
from cmo.adapters.outbox import Headers, Outbox
from cmo.events import Event
from cmo.topics import topic_name

logger = logging.getLogger(__name__)


def producer_config(bootstrap_servers: str, message_timeout_ms: int = 0,
                    extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """librdkafka settings for durable, ordered, compressed delivery."""
    conf: dict[str, Any] = {
        "bootstrap.servers": bootstrap_servers,
        "enable.idempotence": True,
        "acks": "all",
        "compression.type": "lz4",
        "linger.ms": 5,
        "message.timeout.ms": message_timeout_ms,
        "queue.buffering.max.messages": 200_000,
        "socket.connection.setup.timeout.ms": 3000,
        "reconnect.backoff.max.ms": 1000,
        "log_level": 3,  # errors only: an unreachable broker is expected and handled
        "logger": logging.getLogger("librdkafka"),
    }
    conf.update(extra or {})
    return conf


def _permanent(err: KafkaError) -> bool:
    """Errors no retry can fix (unknown topic, too large, not authorized...)."""
    if err.code() in (KafkaError._MSG_TIMED_OUT, KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN):
        return False
    return bool(err.fatal()) or not err.retriable()


class DurableProducer:
    """Publishes events; accepted events reach Kafka eventually, even across crashes."""

    def __init__(self, bootstrap_servers: str, serializer: EventSerializer, outbox_path: Path,
                 topic_prefix: str = "cmo", message_timeout_ms: int = 0,
                 extra_config: Mapping[str, Any] | None = None) -> None:
        self.serializer = serializer
        self.topic_prefix = topic_prefix
        self.outbox = Outbox(outbox_path)
        self._producer = Producer(producer_config(bootstrap_servers, message_timeout_ms, extra_config))
        self._lock = threading.Lock()
        self._acked: list[int] = []
        self._failed: list[int] = []
        self._poisoned: list[int] = []
        self._inflight: set[int] = set()
        self._cursor = 0  # rows with id <= cursor were handed to librdkafka
        self._draining = self.outbox.count() > 0  # rows left by an earlier process
        self._retry_at = 0.0
        self._closed = threading.Event()
        if self._draining:
            logger.info("outbox %s holds %d undelivered events; re-sending",
                        outbox_path, self.outbox.count())
        self._thread = threading.Thread(target=self._run, name="cmo-producer", daemon=True)
        self._thread.start()

    # -- accepting -------------------------------------------------------------------
    def publish(self, event: Event) -> None:
        """Accept one event; raises only SerializationError for an event that breaks its schema."""
        topic = topic_name(self.topic_prefix, event)
        self.publish_raw(topic, event.key.encode(), self.serializer.encode(event, topic))

    def publish_many(self, events: Sequence[Event]) -> None:
        """Accept several events atomically (one outbox transaction: faster for batches)."""
        messages = []
        for event in events:
            topic = topic_name(self.topic_prefix, event)
            messages.append((topic, event.key.encode(), self.serializer.encode(event, topic)))
        with self._lock:
            ids = self.outbox.append_many(messages)
            if not self._draining:
                for row_id, (topic, key, value) in zip(ids, messages):
                    if not self._send(row_id, topic, key, value, None):
                        break

    def publish_raw(self, topic: str, key: bytes | None, value: bytes,
                    headers: Headers | None = None) -> None:
        """Accept already-encoded bytes (used for dead letters)."""
        with self._lock:
            row_id = self.outbox.append(topic, key, value, headers)
            if not self._draining:
                self._send(row_id, topic, key, value, headers)

    def _send(self, row_id: int, topic: str, key: bytes | None, value: bytes,
              headers: Headers | None) -> bool:
        """Hand one row to librdkafka; on a full queue switch to draining. Caller holds the lock."""
        self._inflight.add(row_id)  # before produce: the delivery report may come at once
        try:
            self._producer.produce(topic, value, key, headers=headers,  # type: ignore[arg-type]
                                   on_delivery=partial(self._on_delivery, row_id))
        except (BufferError, KafkaException) as exc:
            self._inflight.discard(row_id)
            if not self._draining:
                logger.warning("producer queue refused event (%s); buffering in the outbox", exc)
            self._draining = True
            self._cursor = min(self._cursor, row_id - 1)
            return False
        self._cursor = max(self._cursor, row_id)
        return True

    def _on_delivery(self, row_id: int, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            self._acked.append(row_id)
        elif _permanent(err):
            logger.error("event for %s can never be delivered (%s); kept aside in the outbox's "
                         "dead table", msg.topic(), err)
            self._poisoned.append(row_id)
        else:
            self._failed.append(row_id)
        self._inflight.discard(row_id)

    # -- background: delivery reports, deletes, draining -----------------------------
    def _run(self) -> None:
        while not self._closed.is_set():
            self._producer.poll(0.05)
            self._settle()
            self._drain_step()

    def _settle(self) -> None:
        acked, self._acked = self._acked, []
        self.outbox.delete(acked)
        if self._poisoned:
            poisoned, self._poisoned = self._poisoned, []
            self.outbox.set_aside(poisoned)
        if self._failed:
            failed, self._failed = self._failed, []
            with self._lock:
                if not self._draining:
                    logger.warning("%d deliveries failed (broker unreachable?); buffering in "
                                   "the outbox and retrying", len(failed))
                self._draining = True
                self._cursor = min(self._cursor, min(failed) - 1)
                self._retry_at = time.monotonic() + 1.0

    def _drain_step(self) -> None:
        if not self._draining or time.monotonic() < self._retry_at:
            return
        if self._inflight:
            # Resend only once every earlier message has resolved: a message still queued in
            # librdkafka may yet fail, and resending newer rows first would reorder a key.
            return
        rows = self.outbox.after(self._cursor, limit=1000)
        with self._lock:
            for row in rows:
                if row.id in self._inflight:
                    self._cursor = max(self._cursor, row.id)
                    continue
                if not self._send(row.id, row.topic, row.key, row.value, row.headers):
                    self._retry_at = time.monotonic() + 0.2
                    return
            if not rows or not self.outbox.after(self._cursor, limit=1):
                self._draining = False
                logger.info("outbox drained; publishing directly again")

    # -- lifecycle -------------------------------------------------------------------
    @property
    def pending(self) -> int:
        """Events accepted but not yet acknowledged by the broker."""
        return self.outbox.count()

    def flush(self, timeout: float = 10.0) -> int:
        """Wait until every accepted event is acknowledged or timeout; returns pending count."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._producer.flush(min(0.2, max(0.0, deadline - time.monotonic())))
            if not self._thread.is_alive():
                self._settle()
            if self.pending == 0:
                return 0
            time.sleep(0.01)
        return self.pending

    def close(self, timeout: float = 10.0) -> int:
        """Flush, stop the background thread, close the outbox; returns events left in it."""
        left = self.flush(timeout)
        self._closed.set()
        self._thread.join()
        self._settle()
        left = self.outbox.count()
        if left:
            logger.warning("%d events remain in the outbox %s; they are sent at next start",
                           left, self.outbox.path)
        self.outbox.close()
        return left

    def __enter__(self) -> DurableProducer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

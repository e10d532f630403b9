"""Faust application factory and the bridge from raw Kafka records to our events.

Stream processors run as Faust agents on the same broker and topics as the rest of the
system. Faust only carries bytes (``raw`` key and value codecs): decoding is ours,
through the project's :class:`~cmo.adapters.avro.EventSerializer`, so the Avro schemas
and the dead-letter policy stay identical to :mod:`cmo.adapters.consumer`:

* an undecodable or wrong-schema record is logged as ``topic[partition]@offset``,
  copied byte for byte to ``<topic>.dlq`` (same ``dlq.*`` headers, original headers
  kept) through a :class:`~cmo.adapters.publisher.DurableProducer`, and skipped;
* our event topics are created by ``cmo topics create`` and never declared by Faust
  (they are not *internal* channels); Faust declares only its own internal topics
  (the leader topic ``<app_id>-__assignor-__leader``, table changelogs), through the
  admin API, so it works with ``auto.create.topics.enable=false``.

Faust reads no environment variables here (``env={}``): every setting comes from
:class:`~cmo.config.Settings` plus explicit overrides.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import faust
from faust.sensors import Monitor as _Monitor
from faust.types import EventT, TopicT

from cmo.adapters.avro import EventSerializer
from cmo.adapters.consumer import DLQ_HEADERS
from cmo.adapters.publisher import DurableProducer
from cmo.config import Settings
from cmo.events import Event
from cmo.events.records import to_record
from cmo.exceptions import SerializationError
from cmo.topics import dlq_name, event_for_topic, topic_name

logger = logging.getLogger(__name__)

DEFAULT_APP_ID = "cmo-processors"
DEFAULT_WEB_PORT = 6066
LOOPBACK = "127.0.0.1"

Headers = list[tuple[str, bytes]]


def broker_urls(bootstrap_servers: str) -> list[str]:
    """``host:port,host:port`` -> Faust broker URLs (``kafka://host:port`` each)."""
    urls = [f"kafka://{part.strip()}" for part in bootstrap_servers.split(",") if part.strip()]
    if not urls:
        raise ValueError("KAFKA_BOOTSTRAP_SERVERS is empty")
    return urls


def app_datadir(settings: Settings, app_id: str) -> Path:
    """Faust's local state folder for one app: ``<cmo_home>/faust/<app_id>``."""
    return settings.cmo_home / "faust" / app_id


class CountingMonitor(_Monitor):
    """Faust's monitor with cheap per-event hooks: counts only.

    The stock monitor stringifies streams, takes several clock readings and stores timing
    dicts for every record (a noticeable share of a worker's CPU at thousands of events/s);
    this one keeps the counters the health/stats endpoints show and drops per-event timing.
    """

    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        self.messages_received_total += 1
        self.messages_active += 1
        self.tp_read_offsets[tp] = offset

    def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> None:
        self.events_total += 1

    def on_stream_event_out(self, tp: Any, offset: int, stream: Any, event: Any,
                            state: Any = None) -> None:
        return None

    def on_message_out(self, tp: Any, offset: int, message: Any) -> None:
        self.messages_active -= 1


def create_app(settings: Settings, app_id: str = DEFAULT_APP_ID, *, store: str = "memory://",
               web_enabled: bool = False, web_port: int = DEFAULT_WEB_PORT,
               **overrides: Any) -> faust.App:
    """A Faust app on our broker; ``app_id`` is also the consumer group id.

    Args:
        settings: broker address, partitions and ``cmo_home`` come from here.
        app_id: Faust app id = Kafka consumer group = prefix of Faust's internal topics.
        store: table store URL, ``memory://`` or ``rocksdb://`` (needs the rocksdict extra).
        web_enabled: serve Faust's web endpoints (health/stats) on ``127.0.0.1:web_port``.
        web_port: loopback port of that web server.
        overrides: any other :class:`faust.Settings` option; wins over the defaults here.
    """
    datadir = app_datadir(settings, app_id)
    datadir.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {
        "broker": broker_urls(settings.kafka_bootstrap_servers),
        "store": store,
        "datadir": str(datadir),
        "topic_partitions": settings.kafka_partitions,
        "topic_replication_factor": 1,
        # Only Faust's internal topics (leader, changelogs) are declared, via the admin API;
        # our event topics are plain (non-internal) channels and are never declared.
        "topic_allow_declare": True,
        "key_serializer": "raw",
        "value_serializer": "raw",
        "consumer_auto_offset_reset": "earliest",
        "web_enabled": web_enabled,
        "web_host": LOOPBACK,
        "web_bind": LOOPBACK,
        "web_port": web_port,
        "env": {},  # settings come from cmo Settings only, never from Faust's env names
        # Faust declares its internal topics while the consumer joins its group; with the
        # default 5-minute metadata age a topic created a moment after the first metadata
        # fetch stays "missing" (unassigned) for 5 minutes. Refresh every few seconds.
        "Monitor": CountingMonitor,
        "consumer_metadata_max_age_ms": 5_000,
        "producer_metadata_max_age_ms": 5_000,
    }
    options.update(overrides)
    app = faust.App(app_id, **options)
    logger.debug("faust app %s on %s (store %s, datadir %s)", app_id,
                 settings.kafka_bootstrap_servers, store, datadir)
    return app


def event_topic(app: faust.App, settings: Settings, event: type[Event]) -> TopicT:
    """The Faust topic of an event stream (``<prefix>.<stream>``), raw bytes key and value."""
    return app.topic(topic_name(settings.kafka_topic_prefix, event), key_type=bytes,
                     value_type=bytes, key_serializer="raw", value_serializer="raw",
                     partitions=settings.kafka_partitions)


def _headers(raw: Mapping[str, bytes] | Iterable[tuple[str, bytes]] | None) -> Headers:
    """Faust message headers (a list of pairs or a mapping) as a list of bytes pairs."""
    if raw is None:
        return []
    pairs = raw.items() if isinstance(raw, Mapping) else raw
    return [(str(k), v) for k, v in pairs if isinstance(v, bytes)]


class EventDecoder:
    """Turns the raw value of the current Faust event into one of our events.

    Undecodable records (garbage bytes, unknown schema, the wrong record type for the
    topic) are dead-lettered exactly as :class:`cmo.adapters.consumer.EventConsumer`
    does and yield ``None``; the caller skips them and the stream goes on.
    """

    def __init__(self, serializer: EventSerializer, dead_letters: DurableProducer,
                 topic_prefix: str) -> None:
        self.serializer = serializer
        self.dead_letters = dead_letters
        self.topic_prefix = topic_prefix
        self.dead_lettered = 0
        self._types: dict[str, str | None] = {}

    def _expected(self, topic: str) -> str | None:
        """The record type a topic carries (cached: it is asked once per record)."""
        try:
            return self._types[topic]
        except KeyError:
            pass
        try:
            expected: str | None = event_for_topic(self.topic_prefix, topic)
        except KeyError:
            expected = None
        self._types[topic] = expected
        return expected

    def decode(self, value: bytes | None, event: EventT[Any] | None = None) -> Event | None:
        """Decode ``value``; ``event`` defaults to :func:`faust.current_event`.

        Raises:
            RuntimeError: called outside a stream (no current event to locate the record).
        """
        current = event if event is not None else faust.current_event()
        if current is None:
            raise RuntimeError("EventDecoder.decode needs the stream's current event")
        topic = current.message.topic
        try:
            return self.serializer.decode(value or b"", topic, self._expected(topic))
        except SerializationError as exc:
            self._dead_letter(current, value or b"", exc)
            return None

    def decode_record(self, value: bytes | None, event: EventT[Any]
                      ) -> tuple[str, Mapping[str, Any]] | None:
        """Like :meth:`decode`, but the type name and Avro record, without building the event
        (hot paths); serializers without ``decode_record`` fall back to :meth:`decode`."""
        fast = getattr(self.serializer, "decode_record", None)
        if fast is None:
            decoded = self.decode(value, event)
            return None if decoded is None else (type(decoded).__name__, to_record(decoded))
        topic = event.message.topic
        try:
            name, record = fast(value or b"", topic, self._expected(topic))
        except SerializationError as exc:
            self._dead_letter(event, value or b"", exc)
            return None
        return str(name), record

    def _dead_letter(self, current: EventT[Any], value: bytes, exc: Exception) -> None:
        message = current.message
        topic, partition, offset = message.topic, message.partition, message.offset
        logger.warning("dead-lettering %s[%s]@%s: %s", topic, partition, offset, exc)
        values = (topic, str(partition), str(offset), str(exc), type(exc).__name__)
        headers: Headers = [(k, v.encode()) for k, v in zip(DLQ_HEADERS, values)]
        headers += _headers(message.headers)
        key = message.key if isinstance(message.key, bytes) else None
        original = message.value if isinstance(message.value, bytes) else value
        self.dead_letters.publish_raw(dlq_name(topic), key, original, headers)
        self.dead_lettered += 1


async def changelog_ready(app: faust.App, table: Any) -> None:
    """Wait until the producer knows the partitions of ``table``'s changelog topic.

    A table with ``use_partitioner=True`` hashes keys with the producer's metadata; aiokafka
    fails with ``TypeError`` (partitions of an unknown topic are ``None``) while a just-created
    changelog topic is not in that metadata yet. Cheap once known; call before writing.
    """
    producer = app.producer._ensure_producer()  # type: ignore[attr-defined]  # aiokafka
    await producer.partitions_for(table.changelog_topic.get_topic_name())

"""The history sink: every event topic -> typed ClickHouse tables, exactly once in results.

Batches by size (``CMO_HISTORY_BATCH_SIZE``) and age (``CMO_HISTORY_BATCH_MS``), inserts
(one batch in a worker thread while the next is read), and only after the insert succeeded
commits that batch's offsets, explicitly (auto-commit and offset storing are off). A crash between insert and
commit re-delivers the batch: :class:`~cmo.history.batch_writer.RawBatchWriter` looks up
every record at or below the highest offset already stored for its partition and skips
the events already there; the ReplacingMergeTree tables, read through ``FINAL`` views,
collapse anything that still slips through (e.g. a producer's re-send at a new offset).
So a redelivery or a full replay never shows a row twice. Undecodable records go to
``<topic>.dlq`` with EventConsumer's headers, and consumption goes on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Self

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from cmo.adapters.consumer import EventConsumer
from cmo.adapters.factory import make_producer, make_serializer
from cmo.config import Settings
from cmo.events import REGISTRY
from cmo.exceptions import BrokerUnavailableError
from cmo.history.batch_writer import RawBatchWriter, RawRecord
from cmo.history.client import HistoryStore
from cmo.history.rows import WriteResult
from cmo.topics import topic_name

logger = logging.getLogger(__name__)

DEFAULT_GROUP = "cmo-history"
#: Offsets are committed by the sink after each insert, never by librdkafka; a crashed
#: sink's partitions move to a restarted one after 10 s instead of the default 45 s;
#: end-of-partition events tell ``--once`` when everything has been read.
SINK_CONSUMER_CONFIG = {"enable.auto.commit": False, "enable.auto.offset.store": False,
                        "session.timeout.ms": 10_000,
                        "enable.partition.eof": True}


@dataclass
class SinkStats:
    consumed: int = 0
    inserted: int = 0
    skipped: int = 0
    dead_lettered: int = 0
    batches: int = 0
    first_event_at: float = 0.0  # time.monotonic() of the first consumed event
    last_flush_at: float = 0.0   # time.monotonic() after the last committed batch


class _SinkConsumer(EventConsumer):
    """EventConsumer handing out raw records (decoded later, in batches) and its lag."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._at_end: set[tuple[str, int]] = set()

    def poll_raw(self, timeout: float, max_records: int) -> list[RawRecord]:
        try:
            messages = self._consumer.consume(max_records, timeout)
        except KafkaException as exc:
            raise BrokerUnavailableError(f"consume failed: {exc}") from exc
        out: list[RawRecord] = []
        for msg in messages:
            error = msg.error()
            topic, partition, offset = msg.topic() or "", msg.partition() or 0, msg.offset() or 0
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    self._at_end.add((topic, partition))
                else:
                    logger.warning("consumer error: %s", error)
                continue
            self._at_end.discard((topic, partition))
            out.append(RawRecord(topic, partition, offset, msg.value() or b"",
                                 self._expected.get(topic), msg))
        return out

    def commit_offsets(self, offsets: list[TopicPartition]) -> None:
        """Synchronously commit exactly these positions (the next offset to read)."""
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            # e.g. the partitions moved to another sink meanwhile: it re-reads the batch and
            # skips what is stored, so nothing is lost or shown twice.
            logger.warning("offset commit failed (batch will be re-read and skipped): %s", exc)

    def dead_letter(self, record: RawRecord, exc: Exception) -> None:
        self._dead_letter(record.message, exc)

    def caught_up(self) -> bool:
        """Every assigned partition has reported end-of-partition since its last record."""
        assignment = self._consumer.assignment()
        return bool(assignment) and all((tp.topic, tp.partition) in self._at_end for tp in assignment)


class HistorySink:
    """Consumes every event topic into the history store."""

    def __init__(self, settings: Settings, store: HistoryStore, group_id: str = DEFAULT_GROUP,
                 after_insert: Callable[[WriteResult], None] | None = None,
                 batch_size: int | None = None, batch_ms: int | None = None) -> None:
        self.settings = settings
        self.after_insert = after_insert  # test hook: runs between insert and offset commit
        self.batch_size = batch_size or settings.cmo_history_batch_size
        self.batch_ms = batch_ms or settings.cmo_history_batch_ms
        serializer = make_serializer(settings)
        self.writer = RawBatchWriter(store, serializer)
        self.dead_letters = make_producer(settings, "history", serializer)
        prefix = settings.kafka_topic_prefix
        self.topics = sorted(topic_name(prefix, name) for name in REGISTRY)
        self.consumer = _SinkConsumer(settings.kafka_bootstrap_servers, group_id, self.topics,
                                      serializer, self.dead_letters, prefix, from_beginning=True,
                                      extra_config=SINK_CONSUMER_CONFIG)
        self.stats = SinkStats()
        self._buffer: list[RawRecord] = []
        self._first_at = 0.0
        self._inserter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="history-insert")
        self._pending: tuple[Future[WriteResult], list[TopicPartition], int] | None = None

    def run(self, should_stop: Callable[[], bool] = lambda: False, once: bool = False,
            poll_timeout: float = 0.5) -> SinkStats:
        """Consume until should_stop() (or, with once, until caught up); flushes on the way out."""
        try:
            while not should_stop():
                room = max(1, self.batch_size - len(self._buffer))
                got = self.consumer.poll_raw(poll_timeout, room)
                self.stats.consumed += len(got)
                if got and not self._buffer:
                    self._first_at = time.monotonic()
                    self.stats.first_event_at = self.stats.first_event_at or self._first_at
                self._buffer.extend(got)
                aged = bool(self._buffer) and (time.monotonic() - self._first_at) * 1000 >= self.batch_ms
                idle = not got and bool(self._buffer)
                if len(self._buffer) >= self.batch_size or aged or idle:
                    self.flush(wait=False)
                elif self._pending is not None and self._pending[0].done():
                    self._finish()
                if once and not got and self._pending is None and self.consumer.caught_up():
                    break
            self.flush()
        finally:
            self.stats.dead_lettered = self.consumer.dead_lettered
        return self.stats

    def flush(self, wait: bool = True) -> None:
        """Insert the buffered events, then commit their offsets.

        One insert runs in a worker thread while the next batch is read (chDB and the
        HTTP client release the GIL); its offsets are committed here, on the consumer's
        thread, only once it has succeeded. With wait=False the call returns as soon as
        the insert started (it waits for the previous one first).
        """
        self._finish()
        if self._buffer:
            batch, self._buffer = self._buffer, []
            offsets: dict[tuple[str, int], int] = {}
            for record in batch:
                key = (record.topic, record.partition)
                offsets[key] = max(offsets.get(key, 0), record.offset + 1)
            commit = [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
            self._pending = (self._inserter.submit(self._insert, batch), commit, len(batch))
        if wait:
            self._finish()

    def _insert(self, batch: list[RawRecord]) -> WriteResult:
        result = self.writer.write(batch, self.consumer.dead_letter)
        if self.after_insert is not None:
            self.after_insert(result)
        return result

    def _finish(self) -> None:
        """Wait for the insert in flight (its error propagates), then commit its offsets."""
        if self._pending is None:
            return
        future, commit, size = self._pending
        self._pending = None
        result = future.result()
        self.consumer.commit_offsets(commit)
        self.stats.inserted += result.rows
        self.stats.skipped += sum(result.skipped.values())
        self.stats.batches += 1
        self.stats.last_flush_at = time.monotonic()
        logger.info("history batch: %d events, %d rows inserted, %d already stored",
                    size, result.rows, sum(result.skipped.values()))

    def close(self) -> None:
        try:
            self._inserter.shutdown(wait=True)
            self.consumer.close()
        finally:
            self.dead_letters.flush(10)
            self.dead_letters.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

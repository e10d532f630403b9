"""The sink's write path: raw Kafka records -> history tables, exactly once, dead letters out.

For the default wire format (single-object Avro) records of the current schema version go
the fast way: the header is checked here (marker, known fingerprint, the record type the
topic carries), ``event_id``/``event_time`` are read for deduplication, and the bodies
are handed to ClickHouse as one Avro container per table (see :mod:`avro_batch`).
Everything else (an older writer schema, the registry wire format, or a group ClickHouse
could not read) is decoded record by record through the serializer, so a corrupt record
is dead-lettered on its own and its neighbours still land.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cmo.adapters.avro import MAGIC, EventSerializer, SingleObjectSerializer, StoredSchema
from cmo.adapters.consumer import Consumed
from cmo.exceptions import SerializationError
from cmo.history.avro_batch import EnvelopeError, container, meta_suffix, read_envelope, with_meta
from cmo.history.client import HistoryStore
from cmo.history.errors import HistoryError
from cmo.history.rows import HistoryWriter, WriteResult, stored_ids
from cmo.history.schema_map import META_COLUMNS

logger = logging.getLogger(__name__)

_HEADER = 10


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One Kafka record as the sink got it."""

    topic: str
    partition: int
    offset: int
    value: bytes
    expected: str | None  # record name the topic carries
    message: Any = None   # the confluent_kafka Message, for dead-lettering


OnBad = Callable[[RawRecord, Exception], None]


def _raise(record: RawRecord, exc: Exception) -> None:
    raise exc


_Item = tuple[RawRecord, str, int]  # record, event_id, event_time


class RawBatchWriter:
    """Writes raw records; undecodable ones go to ``on_bad`` (the sink dead-letters them)."""

    def __init__(self, store: HistoryStore, serializer: EventSerializer) -> None:
        self.store = store
        self.serializer = serializer
        self.rows = HistoryWriter(store)
        self._fast = isinstance(serializer, SingleObjectSerializer)
        self._extended: dict[str, dict[str, Any]] = {}
        self._writers: dict[bytes, StoredSchema] = {}
        self._marks: dict[tuple[str, int], int] | None = None
        if isinstance(serializer, SingleObjectSerializer):
            self._writers = {s.fingerprint: s for s in serializer.store.current.values()}

    def write(self, records: Sequence[RawRecord], on_bad: OnBad = _raise) -> WriteResult:
        result = WriteResult()
        if not self._fast:
            self._merge(result, self.rows.write(self._decode(list(records), on_bad)))
            return result
        marks = self._stored_marks()
        slow: list[RawRecord] = []
        new: dict[str, list[RawRecord]] = {}
        seen: dict[str, list[_Item]] = {}
        writers = self._writers
        for record in records:  # the hot loop: keep it tight
            value = record.value
            writer = writers.get(value[2:_HEADER]) if value[:2] == MAGIC else None
            if writer is None or writer.name != record.expected:
                try:
                    writer = self._writer(record)
                except SerializationError as exc:
                    on_bad(record, exc)
                    continue
                if writer is None:
                    slow.append(record)  # an older writer version: Avro defaults need the codec
                    continue
            if record.offset > marks.get((record.topic, record.partition), -1):
                new.setdefault(writer.name, []).append(record)  # past anything stored: no lookup
                continue
            try:  # at or below the stored high-water offset: a redelivery or a replay
                event_id, event_time = read_envelope(value[_HEADER:])
            except EnvelopeError as exc:
                on_bad(record, SerializationError(f"cannot decode {record.expected}: {exc}"))
                continue
            seen.setdefault(writer.name, []).append((record, event_id, event_time))
        for name in {*new, *seen}:
            group_new, group_seen = new.get(name, []), seen.get(name, [])
            if not self._insert_fast(name, group_new, group_seen, result):
                slow.extend(group_new)
                slow.extend(item[0] for item in group_seen)
        if slow:
            self._merge(result, self.rows.write(self._decode(slow, on_bad)))
        return result

    def _stored_marks(self) -> dict[tuple[str, int], int]:
        """Highest stored offset per (topic, partition), read once from the tables."""
        if self._marks is None:
            parts = [f"SELECT _topic, _partition, max(_offset) FROM {p.spec.table} "
                     "GROUP BY _topic, _partition" for p in self.rows.plans.values()]
            rows = self.store.query(" UNION ALL ".join(parts)).result_rows
            self._marks = {(str(t), int(p)): int(o) for t, p, o in rows}
        return self._marks

    def _writer(self, record: RawRecord) -> StoredSchema | None:
        """The current schema of the record's type, None for an older version; raises if bad."""
        data = record.value
        assert isinstance(self.serializer, SingleObjectSerializer)
        if len(data) < _HEADER or data[:2] != MAGIC:
            raise SerializationError("not Avro single-object encoded (missing 0xC3 0x01 marker)")
        writer = self.serializer.store.by_fingerprint(data[2:_HEADER])
        if record.expected is not None and writer.name != record.expected:
            raise SerializationError(f"expected a {record.expected} record, got {writer.name}")
        return writer if writer.version is None else None

    def _insert_fast(self, name: str, new: list[RawRecord], seen: list[_Item],
                     result: WriteResult) -> bool:
        spec = self.rows.plans[name].spec
        unique: dict[str, _Item] = {}
        for item in seen:
            unique.setdefault(item[1], item)
        stored = stored_ids(self.store, spec, list(unique), [i[2] for i in unique.values()])
        fresh = new + [i[0] for eid, i in unique.items() if eid not in stored]
        skipped = len(seen) - (len(fresh) - len(new))
        if fresh:
            schema = self._extended.get(name)
            if schema is None:
                assert isinstance(self.serializer, SingleObjectSerializer)
                schema = self._extended[name] = with_meta(self.serializer.store.schema(name).raw)
            blob = container(schema, [r.value[_HEADER:] + meta_suffix(r.topic, r.partition, r.offset)
                                      for r in fresh])
            columns = [c.name for c in spec.columns] + [n for n, _ in META_COLUMNS]
            try:
                self.store.insert_avro(spec.table, columns, blob)
            except HistoryError as exc:
                logger.warning("ClickHouse could not read a %s batch (%s); decoding one by one",
                               name, exc)
                return False
            result.inserted[spec.table] = result.inserted.get(spec.table, 0) + len(fresh)
            marks = self._stored_marks()
            for r in fresh:
                key = (r.topic, r.partition)
                if r.offset > marks.get(key, -1):
                    marks[key] = r.offset
        if skipped:
            result.skipped[spec.table] = result.skipped.get(spec.table, 0) + skipped
        return True

    def _decode(self, records: list[RawRecord], on_bad: OnBad) -> list[Consumed]:
        out: list[Consumed] = []
        for record in records:
            try:
                event = self.serializer.decode(record.value, record.topic, record.expected)
            except SerializationError as exc:
                on_bad(record, exc)
                continue
            out.append(Consumed(event, record.topic, record.partition, record.offset, 0))
        return out

    @staticmethod
    def _merge(into: WriteResult, more: WriteResult) -> None:
        for table, n in more.inserted.items():
            into.inserted[table] = into.inserted.get(table, 0) + n
        for table, n in more.skipped.items():
            into.skipped[table] = into.skipped.get(table, 0) + n

"""The sink's write path in real chDB: ClickHouse-decoded rows equal the Python view of each
event, corrupt records are dead-lettered alone, older writer versions get Avro defaults."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fastavro
import pytest

from cmo.adapters.avro import MAGIC, SchemaStore, SingleObjectSerializer
from cmo.adapters.consumer import Consumed
from cmo.adapters.factory import schema_dir
from cmo.events import QueryReceived, ResponseGenerated, to_record
from cmo.history.batch_writer import RawBatchWriter, RawRecord
from cmo.history.client import HistoryStore, open_chdb
from cmo.history.migrations import migrate
from cmo.history.rows import row_plans
from tests.history_seed import as_records, seed_events

pytestmark = pytest.mark.integration
SER = SingleObjectSerializer(SchemaStore(schema_dir()))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[HistoryStore]:
    with open_chdb(tmp_path / "history") as s:
        migrate(s)
        yield s


def _stored_rows(store: HistoryStore, table: str, columns: list[str]) -> dict[str, list[Any]]:
    select = ", ".join(f"toUnixTimestamp64Milli(`{c}`)" if c in ("event_time", "window_start", "window_end")
                       else f"`{c}`" for c in columns)
    rows = store.read(f"SELECT {select} FROM {table}").result_rows
    return {row[0]: list(row) for row in rows}


def test_clickhouse_decoded_rows_equal_the_python_rows(store: HistoryStore) -> None:
    events = seed_events()
    records = as_records(events)
    result = RawBatchWriter(store, SER).write(records)
    assert result.rows == len(events)
    plans = row_plans()
    for name, plan in plans.items():
        mine = [Consumed(e, r.topic, r.partition, r.offset, 0)
                for e, r in zip(events, records) if type(e).__name__ == name]
        assert mine, name
        stored = _stored_rows(store, plan.spec.view, plan.spec.column_names)
        for consumed in mine:
            assert stored[consumed.event.event_id] == plan.row(consumed), name


def _event(i: int) -> QueryReceived:
    return QueryReceived(event_id=f"e-{i}", event_time=1_767_225_600_000 + i, correlation_id=f"q{i}",
                         service="t", session_id="s", user_id="u", query_text=f"question {i}")


def test_a_corrupt_record_is_dead_lettered_alone(store: HistoryStore) -> None:
    good = [RawRecord("p.queries", 0, i, SER.encode(_event(i)), "QueryReceived") for i in range(5)]
    header = SER.encode(_event(99))[:10]
    corrupt = RawRecord("p.queries", 0, 5, header + b"\x02", "QueryReceived")  # valid header, cut body
    wrong = RawRecord("p.queries", 0, 6, SER.encode(ResponseGenerated(
        event_id="r", event_time=1, correlation_id="q", service="t", backend="b", mode="m",
        answer="", citations=(), latency_ms=1.0)), "QueryReceived")
    bad: list[tuple[int, str]] = []
    result = RawBatchWriter(store, SER).write(good[:3] + [corrupt, wrong] + good[3:],
                                              lambda r, exc: bad.append((r.offset, str(exc))))
    assert [offset for offset, _ in bad] == [6, 5]  # the wrong type at once, the cut one on decode
    assert "expected a QueryReceived record" in bad[0][1]
    assert result.rows == 5
    ids = {r[0] for r in store.read("SELECT event_id FROM query_received").result_rows}
    assert ids == {f"e-{i}" for i in range(5)}


def test_an_older_writer_version_is_resolved_by_the_codec(store: HistoryStore,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    old = SER.store.history["ResponseGenerated"][0]
    assert old.fingerprint != SER.store.current["ResponseGenerated"].fingerprint
    event = ResponseGenerated(event_id="r-old", event_time=1_767_225_600_000, correlation_id="q",
                              service="t", backend="lightrag", mode="hybrid", answer="a",
                              citations=(), latency_ms=12.5, cached=True)
    fields = {f["name"] for f in old.raw["fields"]}
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, old.parsed, {k: v for k, v in to_record(event).items() if k in fields})
    record = RawRecord("p.responses", 0, 0, MAGIC + old.fingerprint + buf.getvalue(), "ResponseGenerated")
    fast: list[str] = []
    monkeypatch.setattr(store, "insert_avro", lambda table, *a: fast.append(table))
    assert RawBatchWriter(store, SER).write([record]).rows == 1
    assert fast == []  # not handed to ClickHouse as Avro: the codec resolved the old version
    plan = row_plans()["ResponseGenerated"]
    decoded = SER.decode(record.value, record.topic, record.expected)
    stored = _stored_rows(store, plan.spec.view, plan.spec.column_names)
    assert stored["r-old"] == plan.row(Consumed(decoded, record.topic, 0, 0, 0))

"""History schema: every event field has a typed column; migrations; dashboards are well formed."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from cmo.adapters.factory import schema_dir
from cmo.events import REGISTRY
from cmo.history.avro_batch import avro_string, read_envelope, zigzag
from cmo.history.client import HistoryStore, open_chdb, redact_url
from cmo.history.dashboards import DASHBOARD_DIR, DASHBOARDS, run_dashboard
from cmo.history.errors import HistoryUnavailableError, MigrationError
from cmo.history.migrations import MIGRATIONS_DIR, load_migrations, migrate, schema_problems
from cmo.history.rows import time_ranges
from cmo.history.schema_map import clickhouse_type, load_specs, snake, table_spec


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HistoryStore]:
    with open_chdb(Path(tmp_path_factory.mktemp("history"))) as s:
        migrate(s)
        yield s


def test_every_schema_field_has_a_typed_column(store: HistoryStore) -> None:
    specs = load_specs(schema_dir())
    assert set(specs) == set(REGISTRY)  # one table per event type
    for path in schema_dir().glob("*.avsc"):
        fields = [f["name"] for f in json.loads(path.read_text())["fields"]]
        assert {c.field for c in specs[path.stem].columns} == set(fields)
    assert schema_problems(store) == []


def test_a_new_schema_field_without_a_migration_is_reported(store: HistoryStore) -> None:
    schema = json.loads((schema_dir() / "QueryReceived.avsc").read_text())
    schema["fields"].append({"name": "referrer", "type": ["null", "string"], "default": None})
    problems = schema_problems(store, {"QueryReceived": table_spec(schema)})
    assert problems == ["QueryReceived.referrer: no column raw_query_received.referrer"]


def test_tables_replace_on_event_id_partitioned_by_month(store: HistoryStore) -> None:
    rows = store.read("SELECT name, engine, partition_key, sorting_key FROM system.tables "
                      "WHERE database = currentDatabase() AND name LIKE 'raw\\_%'").result_rows
    assert {r[0] for r in rows} == {f"raw_{snake(n)}" for n in REGISTRY}
    for _, engine, partition_key, sorting_key in rows:
        assert engine == "ReplacingMergeTree"
        assert partition_key == "toYYYYMM(event_time)"
        assert "event_id" in sorting_key.split(", ")


def test_migrations_are_idempotent_and_edits_are_refused(store: HistoryStore, tmp_path: Path) -> None:
    assert migrate(store) == []
    edited = tmp_path / "migrations"
    edited.mkdir()
    for path in MIGRATIONS_DIR.glob("*.sql"):
        (edited / path.name).write_text(path.read_text())
    first = min(edited.glob("*.sql"))
    first.write_text(first.read_text() + "\n-- edited\n")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        migrate(store, load_migrations(edited))


@pytest.mark.parametrize(("avro", "field", "expected"), [
    ("string", "answer", "String"),
    ("string", "backend", "LowCardinality(String)"),
    (["null", "string"], "variant", "LowCardinality(Nullable(String))"),
    (["null", "int"], "bucket", "Nullable(Int32)"),
    ("long", "requests", "Int64"),
    ("boolean", "cached", "Bool"),
    ({"type": "long", "logicalType": "timestamp-millis"}, "window_start", "DateTime64(3, 'UTC')"),
    ({"type": "map", "values": "double"}, "metrics", "Map(String, Float64)"),
    ({"type": "array", "items": "string"}, "issues", "Array(LowCardinality(String))"),
])
def test_avro_to_clickhouse_types(avro: object, field: str, expected: str) -> None:
    assert clickhouse_type(avro, field) == expected


def test_dashboards_are_the_sql_files_and_chart_real_columns(store: HistoryStore) -> None:
    from datetime import UTC, datetime

    assert sorted(d.name for d in DASHBOARDS) == sorted(p.stem for p in DASHBOARD_DIR.glob("*.sql"))
    for dash in DASHBOARDS:
        assert {"start", "end"} <= dash.parameters
        assert re.search(r"\{start:DateTime64\(3\)\}", dash.sql)
        out = run_dashboard(store, dash, datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC),
                            {"daily_budget": 1.0, "monthly_budget": 2.0})
        charted = {dash.chart.x, dash.chart.y} | ({dash.chart.color} if dash.chart.color else set())
        assert charted <= set(out.columns), dash.name


def test_one_process_owns_the_data_directory(store: HistoryStore) -> None:
    path = Path(store.where.removeprefix("chDB "))
    with pytest.raises(HistoryUnavailableError, match="in use by pid"):
        open_chdb(path)


def test_envelope_and_time_ranges() -> None:
    for eid in ("", "a", "x" * 64, "00000000-0000-4000-8000-000000000001"):
        for t in (0, 1_767_225_600_000, -5):
            assert read_envelope(avro_string(eid) + zigzag(t) + b"rest") == (eid, t)
    assert time_ranges([50_000, 1, 5_000, 100_000]) == [(1, 5_000), (50_000, 50_000), (100_000, 100_000)]


def test_redact_url_hides_the_password() -> None:
    assert redact_url("https://ops:s3cret@ch.example:8443/cmo") == "https://ops:***@ch.example:8443/cmo"
    assert redact_url("http://ch:8123") == "http://ch:8123"

"""How every Avro event maps to a typed ClickHouse table (derived from ``schemas/*.avsc``).

One storage table per event type, ``raw_<snake_name>`` (ReplacingMergeTree keyed by
``(event_time, event_id)``, partitioned by month), and one deduplicating view
``<snake_name>`` over it. Columns follow the schema fields:

* ``string`` -> ``String`` (``LowCardinality(String)`` for the few-valued fields in
  :data:`LOW_CARDINALITY`), ``int`` -> ``Int32``, ``long`` -> ``Int64``, ``double`` ->
  ``Float64``, ``boolean`` -> ``Bool``, ``timestamp-millis`` -> ``DateTime64(3, 'UTC')``;
* ``["null", T]`` -> ``Nullable(T)``; arrays -> ``Array(T)``; maps -> ``Map(String, T)``;
* an array of records (``citations``) -> one ``Array`` column per record field, named
  ``<field>.<subfield>`` (ClickHouse ``Nested``).

The versioned migrations in ``cmo/history/migrations/`` hold the actual DDL; a unit test
checks that every schema field has its column there, so a new field needs a migration.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Sink bookkeeping columns every table has after the event's own fields.
META_COLUMNS: tuple[tuple[str, str], ...] = (
    ("_topic", "LowCardinality(String)"),
    ("_partition", "Int32"),
    ("_offset", "Int64"),
)

#: String fields with few distinct values (dictionary-encoded).
LOW_CARDINALITY = frozenset({
    "service", "backend", "mode", "channel", "language", "reason", "cohort", "variant",
    "shadow_backend", "error_kind", "index_version", "scorer", "model", "operation", "status",
    "command", "controller", "from_phase", "to_phase", "action", "window_kind",
    "serving_backend", "source", "severity", "kind", "issues",
})

_PRIMITIVES = {"string": "String", "int": "Int32", "long": "Int64", "double": "Float64",
               "float": "Float32", "boolean": "Bool"}


@dataclass(frozen=True)
class Column:
    """One ClickHouse column fed from one schema field (or one sub-field of a record array)."""

    name: str
    type: str
    field: str
    subfield: str | None = None
    default: Any = None


@dataclass(frozen=True)
class TableSpec:
    """The table and view of one event type."""

    event: str
    view: str
    columns: tuple[Column, ...]

    @property
    def table(self) -> str:
        return f"raw_{self.view}"

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns] + [name for name, _ in META_COLUMNS]


def snake(name: str) -> str:
    """``QueryReceived`` -> ``query_received``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def clickhouse_type(avro: Any, field: str) -> str:
    """ClickHouse type of one Avro field type (see the module doc for the rules)."""
    if isinstance(avro, list):
        rest = [t for t in avro if t != "null"]
        if len(rest) != 1:
            raise ValueError(f"{field}: only [null, T] unions are supported, got {avro}")
        inner = clickhouse_type(rest[0], field)
        if inner.startswith("LowCardinality("):
            return f"LowCardinality(Nullable({inner[15:-1]}))"
        return f"Nullable({inner})" if "null" in avro else inner
    if isinstance(avro, dict):
        kind = avro.get("type")
        if avro.get("logicalType") == "timestamp-millis":
            return "DateTime64(3, 'UTC')"
        if kind == "array":
            return f"Array({clickhouse_type(avro['items'], field)})"
        if kind == "map":
            return f"Map(String, {clickhouse_type(avro['values'], field)})"
        return clickhouse_type(kind, field)
    if avro in _PRIMITIVES:
        base = _PRIMITIVES[avro]
        return f"LowCardinality({base})" if base == "String" and field in LOW_CARDINALITY else base
    raise ValueError(f"{field}: unsupported Avro type {avro!r}")


def _columns(field: Mapping[str, Any]) -> list[Column]:
    name, avro = field["name"], field["type"]
    items = avro.get("items") if isinstance(avro, dict) and avro.get("type") == "array" else None
    if isinstance(items, dict) and items.get("type") == "record":
        return [Column(f"{name}.{sub['name']}", f"Array({clickhouse_type(sub['type'], sub['name'])})",
                       name, sub["name"]) for sub in items["fields"]]
    return [Column(name, clickhouse_type(avro, name), name, None, field.get("default"))]


def table_spec(schema: Mapping[str, Any]) -> TableSpec:
    """The table of one record schema (a parsed .avsc)."""
    columns = [col for field in schema["fields"] for col in _columns(field)]
    return TableSpec(schema["name"], snake(schema["name"]), tuple(columns))


def load_specs(schema_dir: Path) -> dict[str, TableSpec]:
    """Record name -> table spec, for every ``<Name>.avsc`` in the directory."""
    specs: dict[str, TableSpec] = {}
    for path in sorted(schema_dir.glob("*.avsc")):
        specs[path.stem] = table_spec(json.loads(path.read_text(encoding="utf-8")))
    return specs


def create_table_sql(spec: TableSpec) -> str:
    """DDL of a storage table (used to write migrations; the migrations are the truth)."""
    cols = [f"    `{c.name}` {c.type}" for c in spec.columns]
    cols += [f"    `{name}` {kind}" for name, kind in META_COLUMNS]
    return (f"CREATE TABLE IF NOT EXISTS {spec.table}\n(\n" + ",\n".join(cols) + "\n)\n"
            "ENGINE = ReplacingMergeTree\nPARTITION BY toYYYYMM(event_time)\n"
            "ORDER BY (event_time, event_id);\n")

"""Read-only SQL: run on the read-only session and render as JSON-safe rows, a table, CSV or JSON.

Writes are refused by ClickHouse itself (the reader session is ``readonly``), never by
looking at the SQL text: whatever the statement, the server decides.
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from ipaddress import IPv4Address, IPv6Address
from typing import Any, Literal
from uuid import UUID

from cmo.history.client import HistoryStore
from cmo.history.errors import QueryRefusedError

OutputFormat = Literal["table", "csv", "json"]
MAX_SQL_CHARS = 100_000


@dataclass(frozen=True)
class QueryOutput:
    """A query's result: column names, JSON-safe rows, and how long it took."""

    columns: list[str]
    rows: list[list[Any]]
    elapsed_ms: float

    def as_dict(self) -> dict[str, Any]:
        return {"columns": self.columns, "rows": self.rows, "elapsed_ms": self.elapsed_ms}


def json_safe(value: Any) -> Any:
    """Datetimes as ISO 8601 UTC strings, dates as ISO dates, NaN/inf as null, and so on."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime):
        aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return aware.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (Decimal, UUID, IPv4Address, IPv6Address)):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [json_safe(v) for v in value]
    return str(value)


def run_readonly(store: HistoryStore, sql: str, parameters: dict[str, Any] | None = None) -> QueryOutput:
    """Run one statement on the read-only session; QueryRefusedError when ClickHouse refuses."""
    text = sql.strip().rstrip(";").strip()
    if not text:
        raise QueryRefusedError("empty SQL")
    if len(text) > MAX_SQL_CHARS:
        raise QueryRefusedError(f"SQL longer than {MAX_SQL_CHARS} characters")
    started = time.perf_counter()
    result = store.read(text, parameters)
    elapsed = (time.perf_counter() - started) * 1000
    rows = [[json_safe(v) for v in row] for row in result.result_rows]
    columns = list(result.column_names)
    if not columns and not rows:  # an empty result carries no header on chDB: ask ClickHouse
        try:
            columns = [str(r[0]) for r in store.read(f"DESCRIBE ({text})", parameters).result_rows]
        except QueryRefusedError:
            columns = []  # not a SELECT (e.g. SHOW ...): nothing to describe
    return QueryOutput(columns, rows, round(elapsed, 3))


def render(output: QueryOutput, fmt: OutputFormat) -> str:
    """CSV (with header), JSON (``{"columns", "rows", "elapsed_ms"}``) or an aligned text table."""
    if fmt == "json":
        return json.dumps(output.as_dict(), ensure_ascii=False)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(output.columns)
        writer.writerows([_cell(v) for v in row] for row in output.rows)
        return buf.getvalue()
    cells = [output.columns] + [[_cell(v) for v in row] for row in output.rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(output.columns))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines) + f"\n({len(output.rows)} rows, {output.elapsed_ms:.1f} ms)\n"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)

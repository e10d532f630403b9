"""Generate ``infra/grafana/dashboards/cmo.json`` from the history dashboards' SQL files.

The history service's own page (``cmo dashboard``) and Grafana show the same views: each
:data:`cmo.history.dashboards.DASHBOARDS` entry becomes one panel whose query is the text of
``cmo/history/dashboards/<name>.sql`` with the ClickHouse query parameters
``{start:DateTime64(3)}`` / ``{end:DateTime64(3)}`` replaced by the ClickHouse data source's
time-range macros (``$__fromTime_ms`` / ``$__toTime_ms``, the DateTime64(3) forms of
``$__fromTime`` / ``$__toTime``). The values the history service fills in from its settings
(:func:`cmo.history.dashboards.server_parameters`, e.g. the budgets) become dashboard
text-box variables, defaulting to the settings' defaults and quoted by Grafana
(``toFloat64(${daily_budget:sqlstring})``); any other query parameter is an error.
Non-table panels keep only the chart's x, y and colour columns, one series per colour value.

Usage::

    .venv/bin/python scripts/make_grafana_dashboard.py           # write the JSON
    .venv/bin/python scripts/make_grafana_dashboard.py --check   # exit 1 if it is stale

The output is deterministic, and a unit test asserts the committed file equals it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OUTPUT = REPO / "infra" / "grafana" / "dashboards" / "cmo.json"
DATASOURCE = {"type": "grafana-clickhouse-datasource", "uid": "cmo-clickhouse"}

# ClickHouse query parameter: {name:Type}, the type possibly with arguments (a Grafana
# variable ${name:format} is not one).
PARAMETER_RE = re.compile(r"(?<!\$)\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*:\s*([^{}]+?)\s*\}")
MACROS = {"start": "$__fromTime_ms", "end": "$__toTime_ms"}
TIME_TYPE_RE = re.compile(r"^DateTime64\(\s*3\s*(,\s*'UTC'\s*)?\)$")
NUMERIC_TYPE_RE = re.compile(r"^(U?Int(8|16|32|64)|Float(32|64))$")

# Column names the charts use for time buckets (the page detects time values at run time).
TIME_NAMES = {"t", "ts", "time", "bucket", "minute", "hour", "day", "week", "month", "date"}
TIME_SUFFIXES = ("_time", "_at", "_bucket", "_minute", "_hour", "_day", "_week", "_date")

GRID_WIDTH = 24
PANEL_HEIGHT = 8


def translate_sql(name: str, sql: str, variables: Iterable[str] = ()) -> str:
    """The query with ``{start:...}``/``{end:...}`` as Grafana macros and the parameters named
    in ``variables`` as quoted dashboard variables; any other parameter fails."""
    known = set(variables)

    def replace(match: re.Match[str]) -> str:
        param, type_ = match.group(1), match.group(2)
        if param in MACROS:
            if not TIME_TYPE_RE.match(type_):
                raise ValueError(f"{name}.sql: {{{param}:{type_}}} must be DateTime64(3)")
            return MACROS[param]
        if param in known and NUMERIC_TYPE_RE.match(type_):
            return f"to{type_}(${{{param}:sqlstring}})"
        if param in known and type_ == "String":
            return f"${{{param}:sqlstring}}"
        raise ValueError(f"{name}.sql: query parameter {{{param}:{type_}}} has no Grafana macro")

    return PARAMETER_RE.sub(replace, sql).strip()


def default_variables() -> dict[str, Any]:
    """The values the history service fills in, at the settings' defaults (not the env)."""
    from cmo.config import Settings
    from cmo.history.dashboards import server_parameters

    return dict(server_parameters(Settings.model_construct()))


def _textbox(name: str, value: Any) -> dict[str, Any]:
    text = str(value)
    return {"type": "textbox", "name": name, "label": name.replace("_", " "),
            "query": text, "current": {"text": text, "value": text},
            "options": [{"selected": True, "text": text, "value": text}], "hide": 0}


def is_time_column(column: str, sql: str) -> bool:
    """Whether the chart's x column holds time buckets (by name or by a toStartOf... alias)."""
    lowered = column.lower()
    if lowered in TIME_NAMES or lowered.endswith(TIME_SUFFIXES):
        return True
    alias = re.compile(rf"\b(toStartOf\w+|toDate|toDateTime\w*|date_trunc)\s*\(.*?\)\s+AS\s+"
                       rf"[`\"]?{re.escape(column)}[`\"]?\b", re.IGNORECASE | re.DOTALL)
    return bool(alias.search(sql))


def _target(sql: str) -> dict[str, Any]:
    """The query as a table (format 1); panels shape it with transformations."""
    return {
        "datasource": DATASOURCE,
        "editorType": "sql",
        "format": 1,
        "queryType": "table",
        "rawSql": sql,
        "refId": "A",
    }


def _timeseries(kind: str, stacked: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    custom: dict[str, Any] = {
        "drawStyle": "bars" if kind == "bar" else "line",
        "lineWidth": 2,
        "fillOpacity": {"area": 35, "bar": 80}.get(kind, 0),
        "showPoints": "auto",
        "spanNulls": False,
        "stacking": {"group": "A", "mode": "normal" if stacked else "none"},
    }
    options = {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
               "tooltip": {"mode": "multi", "sort": "desc"}}
    return {"defaults": {"custom": custom}, "overrides": []}, options


def panel(dashboard: Any, panel_id: int, grid: dict[str, int], sql: str) -> dict[str, Any]:
    """One Grafana panel for one history dashboard."""
    chart = dashboard.chart
    base: dict[str, Any] = {
        "id": panel_id,
        "title": dashboard.title,
        "description": dashboard.description,
        "datasource": DATASOURCE,
        "gridPos": grid,
    }
    if chart.kind == "table":
        return {**base, "type": "table", "targets": [_target(sql)],
                "fieldConfig": {"defaults": {}, "overrides": []},
                "options": {"showHeader": True, "cellHeight": "sm"}}
    columns = [c for c in (chart.x, chart.y, chart.color) if c]
    keep = {"id": "filterFieldsByName", "options": {"include": {"names": columns}}}
    if chart.kind in ("line", "area") or is_time_column(chart.x, sql):
        stacked = chart.kind in ("area", "bar") and chart.color is not None
        field_config, options = _timeseries(chart.kind, stacked)
        transformations = [keep]
        if chart.color:  # one series per colour value
            transformations.append({"id": "partitionByValues", "options": {
                "fields": [chart.color], "keepFields": False, "naming": {"asLabels": True}}})
        return {**base, "type": "timeseries", "targets": [_target(sql)],
                "transformations": transformations, "fieldConfig": field_config,
                "options": options}
    # Bars over categories: a bar chart of the table; series by colour become columns.
    transformations = [keep]
    if chart.color:
        transformations.append({"id": "groupingToMatrix", "options": {
            "columnField": chart.color, "rowField": chart.x, "valueField": chart.y}})
    return {**base, "type": "barchart", "targets": [_target(sql)],
            "transformations": transformations,
            "fieldConfig": {"defaults": {"custom": {"fillOpacity": 80}}, "overrides": []},
            "options": {"orientation": "horizontal", "xField": chart.x,
                        "stacking": "normal" if chart.color else "none",
                        "legend": {"displayMode": "list", "placement": "bottom",
                                   "showLegend": chart.color is not None}}}


def build_dashboard(dashboards: Iterable[Any],
                    variables: dict[str, Any] | None = None) -> dict[str, Any]:
    """The Grafana dashboard model: tables full width, charts two to a row."""
    variables = default_variables() if variables is None else variables
    panels: list[dict[str, Any]] = []
    used: set[str] = set()
    x = y = 0
    for panel_id, dashboard in enumerate(dashboards, start=1):
        sql = translate_sql(dashboard.name, dashboard.sql, variables)
        used |= {name for name in variables if f"${{{name}:" in sql}
        width = GRID_WIDTH if dashboard.chart.kind == "table" else GRID_WIDTH // 2
        if x + width > GRID_WIDTH:
            x, y = 0, y + PANEL_HEIGHT
        panels.append(panel(dashboard, panel_id, {"h": PANEL_HEIGHT, "w": width, "x": x, "y": y},
                            sql))
        x += width
    return {
        "uid": "cmo-history",
        "title": "CMO history",
        "description": "Generated by scripts/make_grafana_dashboard.py from "
                       "cmo/history/dashboards/*.sql; do not edit by hand.",
        "tags": ["cmo"],
        "timezone": "browser",
        "editable": False,
        "graphTooltip": 1,
        "refresh": "30s",
        "time": {"from": "now-24h", "to": "now"},
        "timepicker": {"refresh_intervals": ["10s", "30s", "1m", "5m", "15m"]},
        "schemaVersion": 39,
        "version": 1,
        "templating": {"list": [_textbox(name, variables[name]) for name in sorted(used)]},
        "annotations": {"list": []},
        "links": [],
        "panels": panels,
    }


def render(dashboards: Iterable[Any], variables: dict[str, Any] | None = None) -> str:
    """The dashboard JSON text exactly as committed."""
    return json.dumps(build_dashboard(dashboards, variables), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUTPUT)
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if the file differs from what would be written")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    from cmo.history.dashboards import DASHBOARDS

    text = render(DASHBOARDS)
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if current != text:
            print(f"{args.out} is stale: run scripts/make_grafana_dashboard.py", file=sys.stderr)
            return 1
        print(f"{args.out} is up to date ({len(DASHBOARDS)} panels)")
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out} ({len(DASHBOARDS)} panels)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""SQL dashboards: one versioned ``dashboards/<name>.sql`` file each, plus how to chart it.

Every query reads the deduplicated views and takes ``{start:DateTime64(3)}`` and
``{end:DateTime64(3)}`` (UTC, end exclusive). A few take values the service fills in
from settings (:func:`server_parameters`), e.g. the budgets of ``budget_burn``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from cmo.config import Settings
from cmo.history.client import HistoryStore
from cmo.history.errors import QueryRefusedError
from cmo.history.readonly import QueryOutput, run_readonly

DASHBOARD_DIR = Path(__file__).with_name("dashboards")
_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*):")


@dataclass(frozen=True)
class ChartSpec:
    """How the page draws a result: x, y and optional colour are result column names."""

    kind: Literal["line", "bar", "area", "table"]
    x: str
    y: str
    color: str | None = None


@dataclass(frozen=True)
class Dashboard:
    name: str
    title: str
    description: str
    sql: str
    chart: ChartSpec

    @property
    def parameters(self) -> set[str]:
        return set(_PARAM.findall(self.sql))


def _dash(name: str, title: str, description: str, chart: ChartSpec) -> Dashboard:
    sql = (DASHBOARD_DIR / f"{name}.sql").read_text(encoding="utf-8")
    return Dashboard(name, title, description, sql, chart)


DASHBOARDS: tuple[Dashboard, ...] = (
    _dash("traffic", "Traffic and routing", "Routed queries per hour by backend and routing reason.",
          ChartSpec("bar", "hour", "requests", "series")),
    _dash("error_rate", "Error rate", "Share of failed answers per hour and backend (shadow excluded).",
          ChartSpec("line", "hour", "error_rate", "backend")),
    _dash("latency", "Latency percentiles", "p50 / p95 / p99 answer latency per hour and backend.",
          ChartSpec("line", "hour", "p95_ms", "backend")),
    _dash("quality_trend", "Quality trend",
          "Mean relevance, accuracy, factual and composite score per day and backend.",
          ChartSpec("line", "day", "composite", "backend")),
    _dash("cost_daily", "Cost per day", "Spend per day by backend and model.",
          ChartSpec("bar", "day", "usd", "series")),
    _dash("budget_burn", "Budget burn-down",
          "Daily spend, month-to-date spend and what is left of the monthly budget.",
          ChartSpec("line", "day", "remaining_usd", None)),
    _dash("rollout_history", "Rollout and controller decisions",
          "Controller decisions, newest first: rollout stages, breaker, A/B and budget actions.",
          ChartSpec("table", "time", "to_phase", "controller")),
    _dash("shadow_comparison", "Shadow comparisons",
          "Agreement, latency and quality of shadow answers against the serving backend.",
          ChartSpec("bar", "day", "mean_similarity", "pair")),
    _dash("top_queries", "Top queries", "The twenty most asked questions.",
          ChartSpec("bar", "query_text", "queries", None)),
    _dash("feedback_ratio", "Feedback ratio", "Thumbs up and down per day and the positive share.",
          ChartSpec("line", "day", "positive_ratio", None)),
    _dash("ingestion_status", "Ingestion status", "Documents ingested per day by outcome.",
          ChartSpec("bar", "day", "documents", "status")),
)
BY_NAME = {d.name: d for d in DASHBOARDS}


def server_parameters(settings: Settings) -> dict[str, Any]:
    """Values the service supplies to dashboards that ask for them."""
    return {"daily_budget": settings.lightrag_daily_budget,
            "monthly_budget": settings.lightrag_monthly_budget}


def sql_time(value: datetime) -> str:
    """A UTC datetime as a ``DateTime64(3)`` parameter value (naive input counts as UTC)."""
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return aware.strftime("%Y-%m-%d %H:%M:%S.") + f"{aware.microsecond // 1000:03d}"


def run_dashboard(store: HistoryStore, dashboard: Dashboard, start: datetime, end: datetime,
                  extra: dict[str, Any] | None = None) -> QueryOutput:
    """Run one dashboard on the read-only session for ``[start, end)``."""
    if end <= start:
        raise QueryRefusedError("end must be after start")
    params: dict[str, Any] = {"start": sql_time(start), "end": sql_time(end)}
    params.update({k: v for k, v in (extra or {}).items() if k in dashboard.parameters})
    missing = dashboard.parameters - set(params)
    if missing:
        raise QueryRefusedError(f"dashboard {dashboard.name} needs parameters: {sorted(missing)}")
    return run_readonly(store, dashboard.sql, params)

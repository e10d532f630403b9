"""HTTP API of the history service: dashboards as JSON, read-only SQL, health, and the page.

``GET /api/dashboards`` lists the dashboards; ``GET /api/dashboards/{name}?start=&end=``
runs one (ISO 8601, UTC when no zone is given; default the last 24 hours);
``POST /api/sql`` runs read-only SQL (``{"sql": "...", "format": "json"|"csv"}``);
``GET /health``. The page in ``cmo/history/static/`` is served at ``/`` when present.
Refused or bad queries are 400 with ``{"detail": ...}``; an unreachable database is 503.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from cmo.history.client import HistoryStore
from cmo.history.dashboards import BY_NAME, DASHBOARDS, run_dashboard
from cmo.history.errors import HistoryError, HistoryUnavailableError, QueryRefusedError
from cmo.history.readonly import MAX_SQL_CHARS, render, run_readonly

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).with_name("static")
DEFAULT_WINDOW = timedelta(hours=24)


class SqlRequest(BaseModel):
    sql: str = Field(min_length=1, max_length=MAX_SQL_CHARS)
    format: Literal["json", "csv"] = "json"


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def create_history_app(store: HistoryStore, dashboard_params: dict[str, Any] | None = None,
                       static_dir: Path | None = STATIC_DIR,
                       status: Callable[[], dict[str, Any]] | None = None,
                       now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> FastAPI:
    """The app over one store; ``status`` adds e.g. the sink's counters to ``/health``."""
    app = FastAPI(title="CMO history", docs_url="/api/docs", openapi_url="/api/openapi.json")
    extra = dict(dashboard_params or {})

    @app.exception_handler(QueryRefusedError)
    async def _refused(_: Request, exc: QueryRefusedError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(HistoryUnavailableError)
    async def _unavailable(_: Request, exc: HistoryUnavailableError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503)

    @app.exception_handler(HistoryError)
    async def _history(_: Request, exc: HistoryError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.get("/health")
    def health() -> dict[str, Any]:
        started = time.perf_counter()
        store.read("SELECT 1")
        body: dict[str, Any] = {"status": "ok", "store": store.where,
                                "ping_ms": round((time.perf_counter() - started) * 1000, 3)}
        if status is not None:
            body.update(status())
        return body

    @app.get("/api/dashboards")
    def list_dashboards() -> list[dict[str, Any]]:
        return [{"name": d.name, "title": d.title, "description": d.description,
                 "chart": {"kind": d.chart.kind, "x": d.chart.x, "y": d.chart.y,
                           "color": d.chart.color}} for d in DASHBOARDS]

    @app.get("/api/dashboards/{name}")
    def get_dashboard(name: str, start: Annotated[datetime | None, Query(description="ISO 8601")] = None,
                      end: Annotated[datetime | None, Query(description="ISO 8601")] = None,
                      ) -> dict[str, Any]:
        dashboard = BY_NAME.get(name)
        if dashboard is None:
            raise HTTPException(404, f"no dashboard {name!r}; known: {', '.join(BY_NAME)}")
        stop = _utc(end) if end is not None else now()
        begin = _utc(start) if start is not None else stop - DEFAULT_WINDOW
        if stop <= begin:
            raise HTTPException(400, "end must be after start")
        output = run_dashboard(store, dashboard, begin, stop, extra)
        return {"name": name, **output.as_dict()}

    @app.post("/api/sql", response_model=None)
    def sql(request: SqlRequest) -> dict[str, Any] | Response:
        output = run_readonly(store, request.sql)
        if request.format == "csv":
            return PlainTextResponse(render(output, "csv"), media_type="text/csv")
        return output.as_dict()

    if static_dir is not None and static_dir.is_dir():
        app.mount("/", StaticFiles(directory=static_dir, html=True), name="static")
    return app

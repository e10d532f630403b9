"""History HTTP API on seeded events in real chDB (FastAPI TestClient)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cmo.events import RoutingDecision
from cmo.history.api import create_history_app
from cmo.history.client import HistoryStore, open_chdb
from cmo.history.dashboards import BY_NAME, DASHBOARDS, run_dashboard
from cmo.history.migrations import migrate
from tests.history_seed import Seeded, seed_history

pytestmark = pytest.mark.integration
BUDGETS = {"daily_budget": 2.0, "monthly_budget": 50.0}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HistoryStore, Seeded]]:
    with open_chdb(Path(tmp_path_factory.mktemp("history"))) as store:
        migrate(store)
        yield store, seed_history(store)


@pytest.fixture(scope="module")
def client(seeded: tuple[HistoryStore, Seeded], tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    store, s = seeded
    static = tmp_path_factory.mktemp("static")
    (static / "index.html").write_text("<html><body>history page</body></html>")
    now = datetime.fromtimestamp(s.end_ms / 1000, UTC)
    app = create_history_app(store, BUDGETS, static_dir=static, status=lambda: {"sink": {"running": False}},
                             now=lambda: now)
    return TestClient(app)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def test_lists_every_dashboard_with_its_chart(client: TestClient) -> None:
    body = client.get("/api/dashboards").json()
    assert [d["name"] for d in body] == [d.name for d in DASHBOARDS]
    for item, dash in zip(body, DASHBOARDS):
        assert item == {"name": dash.name, "title": dash.title, "description": dash.description,
                        "chart": {"kind": dash.chart.kind, "x": dash.chart.x, "y": dash.chart.y,
                                  "color": dash.chart.color}}


def test_dashboard_rows_for_a_window(client: TestClient, seeded: tuple[HistoryStore, Seeded]) -> None:
    _, s = seeded
    lo, hi = s.start_ms + 3_600_000, s.start_ms + 20 * 3_600_000
    resp = client.get("/api/dashboards/traffic", params={"start": _iso(lo), "end": _iso(hi)})
    assert resp.status_code == 200
    body = resp.json()
    assert set(body) == {"name", "columns", "rows", "elapsed_ms"} and body["name"] == "traffic"
    requests = sum(row[body["columns"].index("requests")] for row in body["rows"])
    assert requests == sum(lo <= e.event_time < hi for e in s.of(RoutingDecision))
    hour = body["rows"][0][body["columns"].index("hour")]
    assert hour.endswith("Z") and datetime.fromisoformat(hour).tzinfo is not None


def test_default_window_is_the_last_24_hours(client: TestClient, seeded: tuple[HistoryStore, Seeded]) -> None:
    store, s = seeded
    end = datetime.fromtimestamp(s.end_ms / 1000, UTC)
    want = run_dashboard(store, BY_NAME["budget_burn"], end - timedelta(hours=24), end, BUDGETS)
    body = client.get("/api/dashboards/budget_burn").json()
    assert body["rows"] == want.rows and body["columns"] == want.columns
    assert body["rows"] and body["rows"][0][body["columns"].index("monthly_budget_usd")] == 50.0


def test_bad_dashboard_requests_are_4xx(client: TestClient) -> None:
    missing = client.get("/api/dashboards/nope")
    assert missing.status_code == 404 and "traffic" in missing.json()["detail"]
    backwards = client.get("/api/dashboards/traffic",
                           params={"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"})
    assert backwards.status_code == 400
    assert client.get("/api/dashboards/traffic", params={"start": "yesterday"}).status_code == 422


def test_sql_reads_and_refuses_writes(client: TestClient, seeded: tuple[HistoryStore, Seeded]) -> None:
    store, s = seeded
    ok = client.post("/api/sql", json={"sql": "SELECT backend, count() AS n FROM routing_decision "
                                              "GROUP BY backend ORDER BY backend"})
    assert ok.status_code == 200
    want = sorted({e.backend for e in s.of(RoutingDecision)})
    assert ok.json()["columns"] == ["backend", "n"]
    assert ok.json()["rows"] == [[b, sum(e.backend == b for e in s.of(RoutingDecision))] for b in want]
    csv = client.post("/api/sql", json={"sql": "SELECT 1 AS one", "format": "csv"})
    assert csv.text == "one\n1\n"
    before = store.read("SELECT count() FROM raw_alert").result_rows
    for sql in ("INSERT INTO raw_alert (event_id) VALUES ('x')", "DROP TABLE raw_alert",
                "SELECT 1 SETTINGS readonly = 0"):
        refused = client.post("/api/sql", json={"sql": sql})
        assert refused.status_code == 400, sql
        assert "readonly" in refused.json()["detail"].lower(), refused.json()
    assert store.read("SELECT count() FROM raw_alert").result_rows == before
    bad = client.post("/api/sql", json={"sql": "SELEC nonsense"})
    assert bad.status_code == 400 and "Syntax error" in bad.json()["detail"]
    assert client.post("/api/sql", json={"sql": ""}).status_code == 422


def test_health_and_page(client: TestClient) -> None:
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["store"].startswith("chDB ")
    assert health["sink"] == {"running": False}
    page = client.get("/")
    assert page.status_code == 200 and "history page" in page.text

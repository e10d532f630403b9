"""The history dashboard page in Debian chromium, against the real history app (uvicorn in a
thread) on a real chDB store, migrated and seeded with every event type.

Every card renders its chart (one mark per row), the time-range selector and auto-refresh
refetch, a failing query shows its error on its card, the SQL box answers and refuses
writes, the Grafana panels run the same queries, and nothing leaves loopback. Screenshots:
test-artifacts/dashboard.png and dashboard-empty.png.
"""

from __future__ import annotations

import importlib.util
import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import uvicorn

from cmo.config import Settings
from cmo.history.api import create_history_app
from cmo.history.client import HistoryStore, open_chdb
from cmo.history.dashboards import DASHBOARDS, run_dashboard, server_parameters
from cmo.history.migrations import migrate
from cmo.history.readonly import run_readonly
from tests.browser import BrowserSession, browser_session, require_chromium
from tests.conftest import REPO, free_port
from tests.history_seed import Seeded, seed_history

pytestmark = pytest.mark.integration

PARAMS = server_parameters(Settings.model_construct())  # the budgets, at their defaults

SETTLED = ("document.querySelectorAll('.card').length > 0 && [...document.querySelectorAll('.card')]"
           ".every(c => c.dataset.state !== 'loading')")


def load_grafana_maker() -> ModuleType:
    path = REPO / "scripts" / "make_grafana_dashboard.py"
    spec = importlib.util.spec_from_file_location("make_grafana_dashboard_it", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HistoryStore, Seeded]]:
    with open_chdb(tmp_path_factory.mktemp("history") / "chdb") as history:
        migrate(history)
        yield history, seed_history(history)


@pytest.fixture(scope="module")
def base_url(store: tuple[HistoryStore, Seeded]) -> Iterator[str]:
    """The real history app served by uvicorn on a free loopback port, in a thread."""
    port = free_port()
    config = uvicorn.Config(create_history_app(store[0], PARAMS), host="127.0.0.1", port=port,
                            log_level="warning", ws="none", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="history-app", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the history app did not start")
        time.sleep(0.05)
    yield url
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def session() -> Iterator[BrowserSession]:
    """A fresh headless chromium page (no JavaScript errors allowed on it)."""
    require_chromium()
    with browser_session(viewport=(1366, 768)) as browser:
        errors: list[str] = []
        browser.page.on("pageerror", lambda exc: errors.append(str(exc)))
        yield browser
        assert errors == [], f"JavaScript errors on the page: {errors}"


def open_seeded(session: BrowserSession, base_url: str, seeded: Seeded) -> None:
    """Open the page on the seeded time range (a custom range in the URL) and let it load."""
    session.page.goto(f"{base_url}/#range=custom&from={_iso(seeded.start_ms)}"
                      f"&to={_iso(seeded.end_ms)}")
    session.page.wait_for_function(SETTLED, timeout=15_000)


def _cards(session: BrowserSession) -> list[dict[str, Any]]:
    return session.page.eval_on_selector_all(".card", """cards => cards.map(c => ({
        name: c.dataset.name, kind: c.dataset.kind, state: c.dataset.state,
        text: c.innerText, marks: c.querySelectorAll('svg .role-mark > *').length,
        graphics: c.querySelectorAll('svg, canvas').length,
        tableRows: c.querySelectorAll('table tbody tr').length }))""")


def _poll(session: BrowserSession, done: Callable[[], bool], timeout_s: float = 10) -> None:
    """Wait until ``done()`` (the page's events are handled meanwhile)."""
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, "timed out"
        session.page.wait_for_timeout(50)


def _dashboard_requests(session: BrowserSession) -> list[dict[str, list[str]]]:
    return [parse_qs(urlsplit(url).query) for url in session.requests
            if re.search(r"/api/dashboards/[^/?]+\?", url)]


def test_every_card_renders_its_chart(session: BrowserSession, base_url: str,
                                      store: tuple[HistoryStore, Seeded]) -> None:
    seeded = store[1]
    open_seeded(session, base_url, seeded)
    cards = _cards(session)
    assert len(cards) == len(DASHBOARDS)
    assert [c["name"] for c in cards] == [d.name for d in DASHBOARDS]
    empty = [c["name"] for c in cards if c["state"] == "empty"]
    failed = {c["name"]: c["text"] for c in cards if c["state"] == "error"}
    assert not failed, f"cards whose query failed: {failed}"
    assert not empty, f"the seed leaves these dashboards empty: {empty}"
    params = {"start": _iso(seeded.start_ms), "end": _iso(seeded.end_ms)}
    for card, dashboard in zip(cards, DASHBOARDS, strict=True):
        api = httpx.get(f"{base_url}/api/dashboards/{dashboard.name}", params=params).json()
        rows = len(api["rows"])
        assert f"{rows} row" in card["text"], (dashboard.name, card["text"])
        chart = dashboard.chart
        if chart.kind == "table":
            assert card["tableRows"] == min(rows, 200), dashboard.name
            continue
        assert card["graphics"] >= 1, f"{dashboard.name}: no svg or canvas"
        if chart.kind == "bar":  # one bar per row
            assert card["marks"] == rows, dashboard.name
        elif chart.kind == "line":  # one line per series, one point per row (up to 60)
            color = api["columns"].index(chart.color) if chart.color else None
            series = len({r[color] for r in api["rows"]}) if color is not None else 1
            points = rows if rows <= 60 else 0
            assert card["marks"] == series + points, dashboard.name
        else:
            assert card["marks"] >= 1, f"{dashboard.name}: no chart drawn"
    session.page.evaluate("window.scrollTo(0, 0)")
    shot = session.screenshot("dashboard")
    assert shot.stat().st_size > 20_000
    assert session.external_requests == []


def test_sql_box_answers_and_refuses_writes(session: BrowserSession, base_url: str,
                                            store: tuple[HistoryStore, Seeded]) -> None:
    page = session.page
    seeded = store[1]
    open_seeded(session, base_url, seeded)
    queries = len([e for e in seeded.events if type(e).__name__ == "QueryReceived"])
    page.fill("#sql", "SELECT count() AS n FROM query_received")
    page.click("#sql-run")
    page.wait_for_selector("#sql-result[data-state='rendered'] table")
    assert page.inner_text("#sql-result tbody td").strip() == str(queries)

    page.fill("#sql", "INSERT INTO raw_alert (event_id) VALUES ('x')")
    page.click("#sql-run")
    page.wait_for_selector("#sql-result[data-state='error'] .error")
    assert page.inner_text("#sql-result .error").strip() != ""
    assert page.query_selector("#sql-result table") is None
    count = store[0].read("SELECT count() FROM raw_alert WHERE event_id = 'x'").result_rows[0][0]
    assert count == 0
    assert session.external_requests == []


def test_time_range_selector_refetches(session: BrowserSession, base_url: str,
                                       store: tuple[HistoryStore, Seeded]) -> None:
    page = session.page
    open_seeded(session, base_url, store[1])
    before = len(_dashboard_requests(session))
    with page.expect_request(re.compile(r"/api/dashboards/[^/?]+\?")):
        page.select_option("#range", "1h")
    page.wait_for_function(SETTLED, timeout=15_000)
    new = _dashboard_requests(session)[before:]
    assert len(new) >= len(DASHBOARDS)
    new = new[-len(DASHBOARDS):]  # an auto-refresh may have fired before the change
    now = datetime.now(UTC)
    for params in new:
        start = datetime.fromisoformat(params["start"][0])
        end = datetime.fromisoformat(params["end"][0])
        assert end - start == timedelta(hours=1)
        assert abs(now - end) < timedelta(minutes=5)
    # The seed lies outside the last hour: every time-filtered card shows its empty state.
    cards = {c["name"]: c for c in _cards(session)}
    for dashboard in DASHBOARDS:
        if "{start:" in dashboard.sql:
            assert cards[dashboard.name]["state"] == "empty", dashboard.name
            assert "No data" in cards[dashboard.name]["text"]
    assert "range=1h" in page.url
    page.evaluate("window.scrollTo(0, 0)")
    session.screenshot("dashboard-empty")
    assert session.external_requests == []


def test_grafana_panels_run_the_same_queries(store: tuple[HistoryStore, Seeded]) -> None:
    """The generated Grafana SQL, with the macros expanded as the data source plugin expands
    them, returns exactly what the page's query returns for the same range."""
    maker = load_grafana_maker()
    history, seeded = store
    start = datetime.fromtimestamp(seeded.start_ms / 1000, UTC)
    end = datetime.fromtimestamp(seeded.end_ms / 1000, UTC)
    for dashboard in DASHBOARDS:
        grafana_sql = (maker.translate_sql(dashboard.name, dashboard.sql, PARAMS)
                       .replace("$__fromTime_ms", f"fromUnixTimestamp64Milli({seeded.start_ms})")
                       .replace("$__toTime_ms", f"fromUnixTimestamp64Milli({seeded.end_ms})"))
        for name, value in PARAMS.items():  # Grafana's :sqlstring format
            grafana_sql = grafana_sql.replace(f"${{{name}:sqlstring}}", f"'{value}'")
        page_rows = run_dashboard(history, dashboard, start, end, PARAMS).rows
        grafana_rows = run_readonly(history, grafana_sql).rows
        assert grafana_rows == page_rows, dashboard.name
        assert grafana_rows, f"{dashboard.name}: no rows for the seeded range"


def test_a_failing_query_shows_its_error_on_its_card(session: BrowserSession, base_url: str,
                                                     store: tuple[HistoryStore, Seeded]) -> None:
    """With the view feedback_ratio reads dropped, ClickHouse fails that query for real: its
    card shows the error, every other card still renders."""
    history, seeded = store
    page = session.page
    history.command("DROP VIEW user_feedback")
    try:
        open_seeded(session, base_url, seeded)
        cards = {c["name"]: c for c in _cards(session)}
    finally:
        history.command("CREATE VIEW IF NOT EXISTS user_feedback AS "
                        "SELECT * FROM raw_user_feedback FINAL")
    broken = cards.pop("feedback_ratio")
    assert broken["state"] == "error"
    assert "Query failed" in broken["text"] and "user_feedback" in broken["text"]
    assert {c["state"] for c in cards.values()} == {"rendered"}
    assert page.is_hidden("#page-error")
    assert session.external_requests == []


def test_auto_refresh_refetches_on_its_interval_until_switched_off(
        session: BrowserSession, base_url: str, store: tuple[HistoryStore, Seeded]) -> None:
    """Playwright's clock moves the page's timers forward: 30 s (the default interval) after
    loading every card is fetched again; with the toggle off nothing is."""
    page = session.page
    page.clock.install()
    open_seeded(session, base_url, store[1])
    assert page.input_value("#refresh-interval") == "30"
    assert page.is_checked("#auto-refresh")
    loaded = len(_dashboard_requests(session))
    assert loaded == len(DASHBOARDS)
    stamp = page.inner_text("#last-updated")

    page.clock.fast_forward(29_000)
    page.wait_for_timeout(300)
    assert len(_dashboard_requests(session)) == loaded
    page.clock.fast_forward(2_000)
    _poll(session, lambda: len(_dashboard_requests(session)) >= 2 * loaded)
    page.wait_for_function(SETTLED, timeout=15_000)
    assert len(_dashboard_requests(session)) == 2 * loaded
    page.wait_for_function("s => document.getElementById('last-updated').textContent !== s",
                           arg=stamp)

    page.uncheck("#auto-refresh")
    page.clock.fast_forward(65_000)
    page.wait_for_timeout(300)
    assert len(_dashboard_requests(session)) == 2 * loaded
    assert session.external_requests == []

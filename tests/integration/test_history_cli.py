"""``cmo history migrate``, ``cmo sql`` (writes refused by ClickHouse) and ``cmo dashboard``
(sink thread + API in one process) through the real CLI, broker and chDB."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from cmo.adapters.factory import make_producer
from cmo.cli.main import app
from cmo.config import Settings
from cmo.events import RoutingDecision
from cmo.history.client import open_chdb
from tests.conftest import free_port
from tests.history_seed import SEED_SPAN_MS, seed_events, seed_history
from tests.integration.worker_process import spawn, worker_env

pytestmark = pytest.mark.integration
CLI = [sys.executable, "-c", "from cmo.cli.main import main; main()"]


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CMO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CLICKHOUSE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "home"


def test_migrate_then_sql_in_every_format(home: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["history", "migrate"])
    assert first.exit_code == 0, first.output
    assert "applied 0001_event_tables" in first.output and "applied 0002_dedup_views" in first.output
    again = runner.invoke(app, ["history", "migrate"])
    assert "applied" not in again.output and "up to date" in again.output
    with open_chdb(home / "history") as store:
        seeded = seed_history(store)
    n = len(seeded.of(RoutingDecision))
    sql = "SELECT count() AS n FROM routing_decision"
    assert runner.invoke(app, ["sql", sql, "--format", "csv"]).output == f"n\n{n}\n"
    as_json = json.loads(runner.invoke(app, ["sql", sql, "-f", "json"]).output)
    assert as_json["columns"] == ["n"] and as_json["rows"] == [[n]]
    table = runner.invoke(app, ["sql", sql]).output.splitlines()
    assert table[0] == "n" and table[2] == str(n) and table[3].startswith("(1 rows")


def test_a_write_through_cmo_sql_is_refused_by_clickhouse(home: Path) -> None:
    assert CliRunner().invoke(app, ["history", "migrate"]).exit_code == 0
    env = {"CMO_HOME": str(home), "PATH": "/usr/bin:/bin"}
    for sql in ("INSERT INTO raw_alert (event_id, event_time) VALUES ('x', now64(3))",
                "ALTER TABLE raw_alert DELETE WHERE 1", "SET readonly = 0"):
        proc = subprocess.run([*CLI, "sql", sql], env=env, capture_output=True, text=True,
                              timeout=120, check=False)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "error:" in proc.stderr and "readonly" in proc.stderr.lower(), proc.stderr
    with open_chdb(home / "history") as store:
        assert store.read("SELECT count() FROM raw_alert").result_rows == [(0,)]
    bad = CliRunner().invoke(app, ["sql", "SELECT 1", "--format", "xml"])
    assert bad.exit_code != 0 and "--format" in str(bad.exception)


def test_dashboard_process_sinks_and_serves(settings: Settings, tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "dashboard.log"
    worker = spawn([*CLI, "dashboard", "--port", str(port)], worker_env(settings), log)
    try:
        start_ms = int(time.time() * 1000) - 20 * 3_600_000
        events = seed_events(start_ms)
        window = {"start": _iso(start_ms), "end": _iso(start_ms + SEED_SPAN_MS)}
        with make_producer(settings, "seeder") as producer:
            producer.publish_many(events)
            assert producer.flush(30) == 0
        want = sum(isinstance(e, RoutingDecision) for e in events)
        deadline, got = time.monotonic() + 90, -1
        while time.monotonic() < deadline and got != want and not worker.dead:
            time.sleep(1)
            try:
                body = httpx.get(f"http://127.0.0.1:{port}/api/dashboards/traffic", params=window,
                                 timeout=10).json()
            except httpx.HTTPError:
                continue
            got = sum(row[body["columns"].index("requests")] for row in body["rows"])
        assert got == want, log.read_text()[-3000:]
        deadline = time.monotonic() + 10  # the counters move when the batch's offsets are committed
        while True:
            health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=10).json()
            if health["sink"]["inserted"] == len(events) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert health["sink"]["running"] and health["sink"]["inserted"] == len(events), health
    finally:
        assert worker.stop() == 0, log.read_text()[-3000:]


def test_history_sink_once_catches_up_and_exits(settings: Settings) -> None:
    events = seed_events()
    with make_producer(settings, "seeder") as producer:
        producer.publish_many(events)
        assert producer.flush(30) == 0
    env = worker_env(settings)
    proc = subprocess.run([*CLI, "history", "sink", "--once"], env=env, capture_output=True,
                          text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stderr
    assert f"consumed {len(events)}, inserted {len(events)}, already stored 0" in proc.stdout
    count = subprocess.run([*CLI, "sql", "SELECT count() FROM routing_decision", "-f", "csv"], env=env,
                           capture_output=True, text=True, timeout=120, check=True)
    assert count.stdout.splitlines()[1] == str(sum(isinstance(e, RoutingDecision) for e in events))

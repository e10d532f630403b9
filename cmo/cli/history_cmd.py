"""History commands: ``cmo history migrate|sink``, ``cmo sql``, ``cmo dashboard``.

Embedded chDB lets one process own its data directory, so ``cmo dashboard`` is the one
process that runs the sink (background thread) and serves the API and page; with
CLICKHOUSE_URL set every command talks to the server instead.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

import typer

from cmo.cli.common import console, err_console, settings

app = typer.Typer(help="Event history in ClickHouse (chDB by default).", no_args_is_help=True)


@app.command("migrate")
def migrate_command() -> None:
    """Apply pending history migrations (tables, views)."""
    from cmo.history.client import open_store
    from cmo.history.migrations import migrate_and_check

    with open_store(settings()) as store:
        ran = migrate_and_check(store)
        where = store.where
    if ran:
        for m in ran:
            console.print(f"applied {m.version:04d}_{m.name}")
    console.print(f"history schema up to date ({where})", highlight=False)


@app.command("sink")
def sink_command(once: bool = typer.Option(False, "--once", help="Stop when caught up with every topic."),
                 group: str = typer.Option("cmo-history", help="Kafka consumer group.")) -> None:
    """Consume every event topic into the history tables (migrates first)."""
    from cmo.history.client import open_store
    from cmo.history.migrations import migrate_and_check
    from cmo.history.sink import HistorySink

    s = settings()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with open_store(s) as store:
        migrate_and_check(store)
        err_console.print(f"history sink: {s.kafka_bootstrap_servers} -> {store.where} "
                          f"(group {group}){', until caught up' if once else '; Ctrl-C stops'}",
                          highlight=False)
        with HistorySink(s, store, group_id=group) as sink:
            try:
                stats = sink.run(stop.is_set, once=once)
            except KeyboardInterrupt:
                sink.flush()
                stats = sink.stats
    console.print(f"consumed {stats.consumed}, inserted {stats.inserted}, already stored "
                  f"{stats.skipped}, dead-lettered {stats.dead_lettered}, batches {stats.batches}")


def sql_command(query: str = typer.Argument(..., help="One read-only statement, e.g. \"SELECT ...\"."),
                fmt: str = typer.Option("table", "--format", "-f", help="table, csv or json.")) -> None:
    """Run read-only SQL on the history (ClickHouse refuses writes: the session is readonly)."""
    from cmo.exceptions import ConfigError
    from cmo.history.client import open_store
    from cmo.history.readonly import render, run_readonly

    if fmt not in ("table", "csv", "json"):
        raise ConfigError([f"--format: must be table, csv or json (got {fmt!r})"])
    with open_store(settings(), create_database=False) as store:
        output = run_readonly(store, query)
    typer.echo(render(output, fmt), nl=False)  # type: ignore[arg-type]


def dashboard_command(host: str = typer.Option("127.0.0.1", help="Bind address."),
                      port: int = typer.Option(8700, help="Port."),
                      sink: bool = typer.Option(True, "--sink/--no-sink",
                                                help="Run the Kafka sink in this process.")) -> None:
    """Serve the dashboards, JSON API and read-only SQL; runs the sink in a background thread."""
    import uvicorn

    from cmo.history.api import create_history_app
    from cmo.history.client import open_store
    from cmo.history.dashboards import server_parameters
    from cmo.history.migrations import migrate_and_check

    s = settings()
    with open_store(s) as store:
        migrate_and_check(store)
        runner = _SinkThread(s, store) if sink else None
        app = create_history_app(store, server_parameters(s),
                                 status=runner.status if runner else None)
        if runner:
            runner.start()
        console.print(f"history dashboard on http://{host}:{port}/ ({store.where}); "
                      f"sink {'on' if runner else 'off'}", highlight=False)
        # uvicorn re-raises the SIGTERM it handled once it has shut down; with a handler of our
        # own installed that lands here instead of killing the process before the sink stops.
        signal.signal(signal.SIGTERM, lambda *_: None)
        try:
            uvicorn.run(app, host=host, port=port, log_level="warning")
        finally:
            if runner:
                runner.stop()


class _SinkThread:
    """The sink in a background thread of the dashboard process."""

    def __init__(self, s: Any, store: Any) -> None:
        self.settings, self.store = s, store
        self.error: str | None = None
        self.sink: Any = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="history-sink", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        from cmo.history.sink import HistorySink

        try:
            with HistorySink(self.settings, self.store) as self.sink:
                self.sink.run(self._stop.is_set)
        except Exception as exc:  # noqa: BLE001 - reported on /health; the API keeps serving
            self.error = f"{type(exc).__name__}: {exc}"
            err_console.print(f"[red]history sink stopped:[/red] {self.error}", highlight=False)

    def status(self) -> dict[str, Any]:
        stats = self.sink.stats if self.sink is not None else None
        return {"sink": {"running": self._thread.is_alive(), "error": self.error,
                         "consumed": stats.consumed if stats else 0,
                         "inserted": stats.inserted if stats else 0,
                         "dead_lettered": self.sink.consumer.dead_lettered if self.sink else 0}}

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

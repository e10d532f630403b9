"""``cmo workers start|stop|status``: the Faust stream-processing workers."""

from __future__ import annotations

import typer
from rich.table import Table

from cmo.adapters.workers import KINDS, WorkerManager, WorkerStatus
from cmo.cli.common import console, settings

app = typer.Typer(help="Run the Faust workers (quality, metrics, controllers, alerts).", no_args_is_help=True)


def _manager() -> WorkerManager:
    s = settings()
    return WorkerManager(s.cmo_home, s.cmo_workers_base_port)


def _table(states: list[WorkerStatus]) -> None:
    table = Table("worker", "pid", "running", "healthy", "health endpoint", "log")
    for s in states:
        table.add_row(s.name, str(s.pid or "-"), str(s.running), str(s.healthy),
                      f"http://127.0.0.1:{s.web_port}/", str(s.log_file))
    console.print(table)


@app.command()
def start(kinds: list[str] = typer.Argument(None, help=f"Which ({', '.join(KINDS)}); default all."),
          instances: int = typer.Option(1, help="Processes per kind (they share the partitions)."),
          timeout: float = typer.Option(90.0, help="Seconds to wait until every worker is healthy.")) -> None:
    """Start workers in the background (idempotent) and wait until they report healthy."""
    _table(_manager().start(list(kinds or KINDS), instances, timeout))


@app.command()
def stop() -> None:
    """Stop every worker started by `cmo workers start`."""
    stopped = _manager().stop()
    console.print(f"stopped: {', '.join(stopped) or 'none were running'}")


@app.command()
def status() -> None:
    """Running and health state of each worker; exits 1 when one is down."""
    states = _manager().status()
    _table(states)
    if not states or not all(s.running and s.healthy for s in states):
        raise typer.Exit(1)

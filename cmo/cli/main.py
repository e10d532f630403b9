"""The ``cmo`` command: ``cmo --help`` lists every group."""

from __future__ import annotations

import sys

import typer

from cmo.cli import (
    broker_cmd,
    config_cmd,
    flags_cmd,
    schemas_cmd,
    topics_cmd,
    users_cmd,
    workers_cmd,
)
from cmo.cli.common import err_console, setup_logging
from cmo.cli.demo_cmd import demo
from cmo.cli.eval_cmd import eval_command
from cmo.cli.history_cmd import app as history_app
from cmo.cli.history_cmd import dashboard_command, sql_command
from cmo.cli.kb_cmd import ask, documents_app, ingest, serve
from cmo.cli.replay_cmd import replay_command
from cmo.cli.ui_cmd import ui
from cmo.exceptions import CMOError

app = typer.Typer(help="Clinical Metabolomics Oracle: cited answers, event-sourced on Kafka.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
app.add_typer(broker_cmd.app, name="broker")
app.add_typer(topics_cmd.app, name="topics")
app.add_typer(schemas_cmd.app, name="schemas")
app.add_typer(config_cmd.app, name="config")
app.add_typer(flags_cmd.app, name="flags")
app.add_typer(workers_cmd.app, name="workers")
app.command()(flags_cmd.rollback)
app.command()(demo)
app.command()(ingest)
app.command()(ask)
app.command()(serve)
app.command("eval")(eval_command)
app.command("replay")(replay_command)
app.add_typer(history_app, name="history")
app.command("sql")(sql_command)
app.command("dashboard")(dashboard_command)
app.add_typer(documents_app, name="documents")
app.add_typer(users_cmd.app, name="users")
app.command("ui")(ui)


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging.")) -> None:
    setup_logging(verbose)


def main() -> None:
    """Console entry point: project errors become one clear message and exit code 1."""
    try:
        app()
    except CMOError as exc:
        err_console.print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
        sys.exit(1)

"""``cmo config check|show``."""

from __future__ import annotations

import typer
from pydantic import SecretStr
from rich.table import Table

from cmo.cli.common import console, err_console
from cmo.config import check_settings, load_settings
from cmo.exceptions import ConfigError
from cmo.history.client import redact_url

app = typer.Typer(help="Inspect and validate the configuration.", no_args_is_help=True)


@app.command()
def check() -> None:
    """Report every configuration problem in one message; exit 1 if there is any."""
    try:
        problems = check_settings(load_settings())
    except ConfigError as exc:
        problems = exc.problems
    if problems:
        err_console.print(str(ConfigError(problems)), markup=False)
        raise typer.Exit(1)
    console.print("configuration OK")


@app.command()
def show() -> None:
    """Print the effective settings (secrets shown only as set/unset)."""
    s = load_settings()
    table = Table("variable", "value")
    for name in type(s).model_fields:
        value = getattr(s, name)
        shown = ("(set)" if value else "(unset)") if isinstance(value, SecretStr) or (
            value is None and name.endswith("_key")) else str(value)
        if name.endswith("_url") and isinstance(value, str):
            shown = redact_url(value)  # a server URL may carry user:password
        table.add_row(name.upper(), shown)
    console.print(table)

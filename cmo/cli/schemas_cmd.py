"""``cmo schemas check|freeze``."""

from __future__ import annotations

from pathlib import Path

import typer

from cmo import schema_versions
from cmo.adapters.factory import schema_dir
from cmo.cli.common import console, err_console

app = typer.Typer(help="Guard Avro schema evolution (BACKWARD_TRANSITIVE).", no_args_is_help=True)

DirOption = typer.Option(None, "--dir", help="Schema directory (default: the repository's schemas/).")


@app.command()
def check(directory: Path = DirOption) -> None:
    """Fail when a schema breaks compatibility with any committed earlier version."""
    target = directory or schema_dir()
    problems = schema_versions.check(target)
    if problems:
        err_console.print(f"[red]{len(problems)} schema problem(s) in {target}:[/red]")
        for problem in problems:
            err_console.print(f"  - {problem}")
        raise typer.Exit(1)
    console.print(f"schemas OK: {target}")


@app.command()
def freeze(directory: Path = DirOption) -> None:
    """Record every changed schema as its next version (after check passes)."""
    target = directory or schema_dir()
    try:
        written = schema_versions.freeze(target)
    except ValueError as exc:
        err_console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    for path in written:
        console.print(f"wrote {path}")
    if not written:
        console.print("no schema changed since its last version")

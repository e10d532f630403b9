"""``cmo users add|list|remove``: the chat's password logins (bcrypt hashes, file mode 0600)."""

from __future__ import annotations

import sys

import typer

from cmo.cli.common import console, settings
from cmo.users import UsersError, UsersFile

app = typer.Typer(help="Chat logins (bcrypt hashes in CMO_USERS_FILE, default $CMO_HOME/users.json).",
                  no_args_is_help=True)


def users_file() -> UsersFile:
    return UsersFile(settings().users_path)


def read_password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = typer.prompt("Password", hide_input=True)
    second = typer.prompt("Repeat password", hide_input=True)
    if first != second:
        raise UsersError("the passwords do not match")
    return str(first)


@app.command("add")
def add(name: str = typer.Argument(..., help="Login name."),
        password_stdin: bool = typer.Option(False, "--password-stdin",
                                            help="Read the password from the first line of stdin.")) -> None:
    """Add a user (or set a new password); prompts for the password twice."""
    users = users_file()
    new = users.add(name, read_password(password_stdin))
    console.print(f"{'added' if new else 'updated'} user {name} in {users.path}")


@app.command("list")
def list_users() -> None:
    """List the logins (never the hashes)."""
    for name in users_file().names():
        console.print(name)


@app.command("remove")
def remove(name: str = typer.Argument(..., help="Login name.")) -> None:
    """Remove a user."""
    users = users_file()
    users.remove(name)
    console.print(f"removed user {name} from {users.path}")

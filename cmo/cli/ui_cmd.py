"""``cmo ui``: the Chainlit chat, run from a prepared app root with auth on."""

from __future__ import annotations

import os
import subprocess
import sys

import typer

from cmo.cli.common import console, settings
from cmo.exceptions import ConfigError


def ui(host: str = typer.Option(None, help="Listen address (default CMO_UI_HOST, loopback)."),
       port: int = typer.Option(None, help="Port (default CMO_UI_PORT)."),
       check: bool = typer.Option(False, "--check", help="Only check the settings, then exit.")) -> None:
    """Start the chat (needs CHAINLIT_AUTH_SECRET, CMO_USER_ID_KEY and a way to log in)."""
    from ui.startup import APP, environment_problems, prepare_app_root

    s = settings()
    problems = environment_problems(s, os.environ)
    if problems:
        raise ConfigError(problems)
    if check:
        console.print("chat settings ok")
        return
    root = prepare_app_root(s.cmo_home / "ui")
    host = host or s.cmo_ui_host
    port = port or s.cmo_ui_port
    env = {**os.environ, "CHAINLIT_APP_ROOT": str(root)}
    console.print(f"chat on http://{host}:{port} (answers from {s.rag_service_url})")
    cmd = [sys.executable, "-m", "chainlit", "run", str(APP), "--headless", "--host", host,
           "--port", str(port)]
    raise typer.Exit(subprocess.call(cmd, cwd=root, env=env))

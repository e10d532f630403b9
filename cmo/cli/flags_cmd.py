"""``cmo flags ...`` and ``cmo rollback``: ops change routing through signed control commands."""

from __future__ import annotations

import getpass
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from cmo.adapters.control_state import ControlState
from cmo.adapters.control_writer import build_commands, write_commands
from cmo.adapters.factory import make_producer, make_serializer
from cmo.cli.common import console, settings
from cmo.config import Settings
from cmo.control_config import control_key, initial_state
from cmo.domain.control import state_from_mapping
from cmo.domain.flags import Availability, FlagContext, FlagState, explain, route

app = typer.Typer(help="Show and change the routing flags (signed commands on the control topic).",
                  no_args_is_help=True)
canary_app = typer.Typer(help="Canary: start N, abort, promote.", no_args_is_help=True)
ab_app = typer.Typer(help="A/B experiment: start, stop.", no_args_is_help=True)
app.add_typer(canary_app, name="canary")
app.add_typer(ab_app, name="ab")

REASON = typer.Option(..., "--reason", "-r", help="Why (recorded with the command).")
ACTOR = typer.Option(None, "--actor", help="Who (default: your login).")


def read_state(s: Settings) -> FlagState:
    with ControlState(s.kafka_bootstrap_servers, make_serializer(s), s.kafka_topic_prefix,
                      control_key(s), initial_state(s), service="cli") as control:
        return control.start(timeout=30)


def print_state(state: FlagState) -> None:
    table = Table("flag", "value", title=f"Routing flags (version {state.version})")
    for name, value in asdict(state).items():
        if name != "version":
            table.add_row(name, json.dumps(_plain(value)))
    console.print(table)


def _plain(value: Any) -> Any:
    if isinstance(value, frozenset):
        return sorted(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _write(verb: str, argument: Any, reason: str, actor: str | None) -> None:
    s = settings()
    commands = build_commands(verb, argument, actor or getpass.getuser(), reason, control_key(s))
    with make_producer(s, "cli") as producer:
        write_commands(producer, commands)
    for c in commands:
        console.print(f"wrote {c.target} = {c.value} (signed, by {c.actor})")
    print_state(read_state(s))


@app.command()
def show(as_json: bool = typer.Option(False, "--json")) -> None:
    """The current state, as replayed from the control topic."""
    state = read_state(settings())
    if as_json:
        print(json.dumps(_plain(asdict(state)), indent=2))
    else:
        print_state(state)


@app.command("set")
def set_(name: str = typer.Argument(..., help="Flag, e.g. lightrag.rollout_percentage."),
         value: str = typer.Argument(..., help="JSON value, e.g. 25, true, [\"u1\"], null."),
         reason: str = REASON, actor: str = ACTOR) -> None:
    """Set one flag to a JSON value."""
    _write("set", (name, json.loads(value)), reason, actor)


@app.command()
def enable(reason: str = REASON, actor: str = ACTOR) -> None:
    """Enable LightRAG (and clear the kill switch)."""
    _write("enable", None, reason, actor)


@app.command()
def disable(reason: str = REASON, actor: str = ACTOR) -> None:
    """Disable LightRAG (LIGHTRAG_ENABLED off)."""
    _write("disable", None, reason, actor)


@app.command()
def kill(reason: str = REASON, actor: str = ACTOR) -> None:
    """Kill switch: no LightRAG traffic at all until `cmo flags enable`."""
    _write("kill", None, reason, actor)


@app.command()
def rollout(percentage: float = typer.Argument(..., help="0-100"), reason: str = REASON,
            actor: str = ACTOR) -> None:
    """Route this percentage of users (Unleash buckets) to LightRAG."""
    _write("rollout", percentage, reason, actor)


@canary_app.command("start")
def canary_start(percentage: float = typer.Argument(..., help="0-100"), reason: str = REASON,
                 actor: str = ACTOR) -> None:
    """Start a canary at this percentage."""
    _write("canary-start", percentage, reason, actor)


@canary_app.command("abort")
def canary_abort(reason: str = REASON, actor: str = ACTOR) -> None:
    """Abort the canary: LightRAG back to 0 at once."""
    _write("canary-abort", None, reason, actor)


@canary_app.command("promote")
def canary_promote(reason: str = REASON, actor: str = ACTOR) -> None:
    """Promote the canary: LightRAG to 100%."""
    _write("canary-promote", None, reason, actor)


@app.command()
def shadow(state: str = typer.Argument(..., help="on or off"), reason: str = REASON,
           actor: str = ACTOR) -> None:
    """Shadow mode: the other backend also answers, off the user's path."""
    if state not in ("on", "off"):
        raise typer.BadParameter("on or off")
    _write("shadow", state == "on", reason, actor)


@ab_app.command("start")
def ab_start(name: str = typer.Argument(..., help="Experiment name (its bucketing group)."),
             variant: list[str] = typer.Option(..., "--variant", "-v",
                                               help="NAME:WEIGHT:BACKEND, e.g. kb:50:lightrag"),
             reason: str = REASON, actor: str = ACTOR) -> None:
    """Start an A/B experiment with weighted variants."""
    variants = []
    for spec in variant:
        parts = spec.split(":")
        if len(parts) != 3 or not parts[1].isdigit():
            raise typer.BadParameter(f"{spec!r}: use NAME:WEIGHT:BACKEND")
        variants.append({"name": parts[0], "weight": int(parts[1]), "backend": parts[2]})
    _write("ab-start", {"name": name, "variants": variants}, reason, actor)


@ab_app.command("stop")
def ab_stop(reason: str = REASON, actor: str = ACTOR) -> None:
    """Stop the A/B experiment."""
    _write("ab-stop", None, reason, actor)


@app.command("explain")
def explain_command(user_id: str = typer.Option(None, "--user-id"),
                    session_id: str = typer.Option(None, "--session-id"),
                    flags: Path = typer.Option(None, "--flags", help="Flag file (JSON) to try instead of the live state."),
                    as_json: bool = typer.Option(False, "--json")) -> None:
    """Each rule's verdict for this user and the resulting backend (like Unleash's playground)."""
    s = settings()
    state = (state_from_mapping(json.loads(flags.read_text()), initial_state(s)) if flags
             else read_state(s))
    ctx = FlagContext(user_id=user_id, session_id=session_id)
    available = Availability(perplexity=s.perplexity_api_key is not None)
    decided = route(state, ctx, available)
    rows = explain(state, ctx, available)
    if as_json:
        print(json.dumps({"version": state.version, "rules": rows, "result": asdict(decided)}, indent=2))
        return
    table = Table("rule", "bucket", "matched", "backend", "variant",
                  title=f"flags version {state.version}, user {user_id or '-'}")
    for row in rows:
        table.add_row(*(str(row[k]) if row[k] is not None else "-" for k in
                        ("rule", "bucket", "matched", "backend", "variant")))
    console.print(table)
    console.print(f"→ {decided.backend} ({decided.reason}"
                  f"{', variant ' + decided.variant if decided.variant else ''}"
                  f"{', shadow ' + decided.shadow_backend if decided.shadow_backend else ''})")


def rollback(reason: str = REASON, actor: str = ACTOR) -> None:
    """Emergency rollback: LightRAG traffic to 0 at once (rollout, canary and experiment cleared),
    answer caches cleared by every rag_service that applies it, and an incident Alert recorded."""
    import time
    import uuid

    from cmo.events import Alert

    _write("rollback", None, reason, actor)
    s = settings()
    with make_producer(s, "cli") as producer:
        producer.publish(Alert(event_id=str(uuid.uuid4()), event_time=int(time.time() * 1000),
                               correlation_id=f"incident-{uuid.uuid4()}", service="cli",
                               severity="critical", kind="incident",
                               message=f"Emergency rollback of LightRAG by {actor or getpass.getuser()}: {reason}",
                               details={"actor": actor or getpass.getuser(), "action": "rollback"}))
        producer.flush(15)
    console.print("[red]incident recorded[/red]: LightRAG traffic is 0")

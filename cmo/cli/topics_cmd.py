"""``cmo topics create|list``."""

from __future__ import annotations

import typer
from rich.table import Table

from cmo.adapters.kafka_admin import create_topics, list_topics
from cmo.cli.common import console, settings
from cmo.topics import topic_specs

app = typer.Typer(help="Create and list the event topics.", no_args_is_help=True)


@app.command()
def create() -> None:
    """Create every event topic and its dead-letter topic (idempotent)."""
    s = settings()
    specs = topic_specs(s.kafka_topic_prefix, s.kafka_partitions, s.kafka_retention_ms)
    result = create_topics(s.kafka_bootstrap_servers, specs)
    table = Table("topic", "partitions", "config", "result")
    for spec in specs:
        config = ", ".join(f"{k}={v}" for k, v in spec.config.items())
        table.add_row(spec.name, str(spec.partitions), config, result.get(spec.name, "?"))
    console.print(table)


@app.command("list")
def list_() -> None:
    """List the topics on the broker."""
    s = settings()
    table = Table("topic", "partitions")
    for info in list_topics(s.kafka_bootstrap_servers):
        table.add_row(info.name, str(info.partitions))
    console.print(table)

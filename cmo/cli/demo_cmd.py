"""``cmo demo``: the main job on the embedded default (local broker, no API key)."""

from __future__ import annotations

import typer
from rich.table import Table

from cmo.adapters.kafka_admin import create_topics
from cmo.cli.broker_cmd import local_broker
from cmo.cli.common import console, settings
from cmo.cli.kb_cmd import print_answer
from cmo.config import Settings
from cmo.events import to_record
from cmo.topics import topic_specs


def demo(no_broker: bool = typer.Option(False, "--no-broker",
                                        help="Do not start the local broker (use KAFKA_BOOTSTRAP_SERVERS as is).")) -> None:
    """Start the local broker, stream one event of every type through Kafka, then ingest the
    sample papers and answer questions with page citations (offline unless OPENAI_API_KEY)."""
    from producers.demo import stream_samples

    s = settings()
    if not no_broker:
        status = local_broker(s).start()
        console.print(f"[green]✓[/green] Kafka broker at {status.bootstrap_servers} (pid {status.pid})")
    create_topics(s.kafka_bootstrap_servers,
                  topic_specs(s.kafka_topic_prefix, s.kafka_partitions, s.kafka_retention_ms))
    console.print("[green]✓[/green] topics ready")
    table = Table("event", "topic[partition]@offset", "key", "fields", title="Events read back from Kafka")
    for consumed in stream_samples(s):
        record = to_record(consumed.event)
        extra = {k: v for k, v in record.items() if k not in ("event_id", "event_time", "correlation_id", "service")}
        summary = ", ".join(f"{k}={v!r}" for k, v in list(extra.items())[:3])
        table.add_row(type(consumed.event).__name__,
                      f"{consumed.topic}[{consumed.partition}]@{consumed.offset}",
                      consumed.event.key[:12], summary[:90])
    console.print(table)
    console.print("[green]✓[/green] every event type round-tripped through Kafka as Avro")
    _knowledge_base_demo(s)


DEMO_QUESTIONS = (
    "What is the difference between targeted and untargeted metabolomics?",
    "Why do GC-MS analyses need derivatization?",
    "How is phenylketonuria detected in newborn screening?",
)


def _knowledge_base_demo(s: Settings) -> None:
    """Ingest the sample papers and answer a few questions with page citations."""
    import asyncio

    from rag_service.context import KnowledgeBase

    async def run() -> None:
        kb = await KnowledgeBase.open(s, service="demo")
        try:
            report = await kb.ingest.ingest(s.lightrag_papers_dir, progress=True)
            console.print(f"[green]✓[/green] knowledge base: {len(report.indexed)} papers indexed, "
                          f"{len(report.unchanged)} unchanged ({s.lightrag_papers_dir})")
            for question in DEMO_QUESTIONS:
                console.rule(f"[bold]{question}")
                print_answer(await kb.query.answer(question))
        finally:
            await kb.close()

    asyncio.run(run())

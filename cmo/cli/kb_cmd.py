"""Knowledge-base commands: ``cmo ingest``, ``cmo documents ...``, ``cmo ask``."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.markup import escape
from rich.table import Table

from cmo.cli.common import console, err_console, settings

T = TypeVar("T")

documents_app = typer.Typer(help="List, show and delete indexed documents.", no_args_is_help=True)


def _with_kb(work: Callable[..., Awaitable[T]]) -> T:
    from rag_service.context import KnowledgeBase

    async def run() -> T:
        kb = await KnowledgeBase.open(settings(), service="cli")
        try:
            return await work(kb)
        finally:
            await kb.close()

    return asyncio.run(run())


def ingest(path: Path = typer.Argument(None, help="File or folder (default: LIGHTRAG_PAPERS_DIR)."),
           progress: bool = typer.Option(True, help="Show a progress bar.")) -> None:
    """Index papers (PDF, text, Markdown) incrementally: changed files re-indexed, deleted ones removed."""
    target = path or settings().lightrag_papers_dir

    async def work(kb):  # type: ignore[no-untyped-def]
        return await kb.ingest.ingest(target, progress=progress and sys.stderr.isatty())

    report = _with_kb(work)
    console.print(f"indexed {len(report.indexed)}, unchanged {len(report.unchanged)}, "
                  f"deleted {len(report.deleted)}, failed {len(report.failed)} "
                  f"({report.pages} pages, {report.chunks} chunks) in {report.seconds:.1f}s")
    for failed, reason in report.failed.items():
        err_console.print(f"[yellow]failed[/yellow] {escape(failed)}: {escape(reason)}")


@documents_app.command("list")
def documents_list(as_json: bool = typer.Option(False, "--json", help="JSON output.")) -> None:
    """Every known document with its status."""
    from rag_service.manifest import Manifest

    manifest = Manifest(settings().lightrag_working_dir / "cmo_manifest.db")
    records = manifest.all()
    if as_json:
        print(json.dumps([asdict(r) for r in records], indent=2))
        return
    table = Table("doc id", "status", "title", "pages", "chunks", "path")
    for r in records:
        table.add_row(r.doc_id, r.status, escape(r.title or ""), str(r.pages), str(r.chunks),
                      escape(r.path if r.status == "indexed" else f"{r.path} ({r.reason})"))
    console.print(table)


@documents_app.command("show")
def documents_show(doc: str = typer.Argument(..., help="Document id or path.")) -> None:
    """All fields of one document."""
    from rag_service.manifest import Manifest

    record = Manifest(settings().lightrag_working_dir / "cmo_manifest.db").get(doc)
    if record is None:
        err_console.print(f"no document {doc!r}")
        raise typer.Exit(1)
    print(json.dumps(asdict(record), indent=2))


@documents_app.command("delete")
def documents_delete(doc: str = typer.Argument(..., help="Document id or path.")) -> None:
    """Remove a document from the graph and vector stores."""

    async def work(kb):  # type: ignore[no-untyped-def]
        return await kb.ingest.delete(doc)

    record = _with_kb(work)
    if record is None:
        err_console.print(f"no document {doc!r}")
        raise typer.Exit(1)
    console.print(f"deleted {record.doc_id} ({escape(record.path)})")


def ask(question: str = typer.Argument(..., help="The question."),
        mode: str = typer.Option("hybrid", help="naive, local, global, hybrid or mix."),
        top_k: int = typer.Option(5, help="Passages to retrieve."),
        as_json: bool = typer.Option(False, "--json", help="All fields as JSON.")) -> None:
    """Answer a question from the knowledge base, with citations (paper, page, quoted passage)."""

    async def work(kb):  # type: ignore[no-untyped-def]
        return await kb.query.answer(question, mode=mode, top_k=top_k)

    answer = _with_kb(work)
    if as_json:
        print(json.dumps(asdict(answer), indent=2, default=str))
        return
    print_answer(answer)


def print_answer(answer: Any) -> None:
    """An answer as a person reads it: text, numbered citations with page and quote."""
    if answer.label:
        console.print(f"[dim]{escape(answer.label)}[/dim]")
    console.print(escape(answer.text) if answer.text else "[yellow]No answer found in the knowledge base.[/yellow]")
    for n, c in enumerate(answer.citations, 1):
        console.print(f"\n[bold][{n}][/bold] {escape(c.title)}, page {c.page} ({c.document_id})\n"
                      f"    \"{escape(c.quote)}\"")
    console.print(f"\n[dim]{answer.mode} mode, {answer.latency_ms:.0f} ms"
                  f"{', cached' if answer.cached else ''}, model {answer.model}[/dim]")


def serve(host: str = typer.Option("127.0.0.1", help="Bind address."),
          port: int = typer.Option(0, help="Port (default: the port of RAG_SERVICE_URL).")) -> None:
    """Run the knowledge-base HTTP service (FastAPI; OpenAPI at /openapi.json)."""
    from urllib.parse import urlparse

    import uvicorn

    from rag_service.api import create_app

    s = settings()
    uvicorn.run(create_app(s), host=host, port=port or urlparse(s.rag_service_url).port or 8600,
                log_level="info")

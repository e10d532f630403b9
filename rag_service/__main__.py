"""``python -m rag_service``: the knowledge-base HTTP service (same as ``cmo serve``)."""

from cmo.cli.kb_cmd import serve
import typer

typer.run(serve)

"""``python -m rag_service``: the knowledge-base HTTP service (same as ``cmo serve``)."""

import typer

from cmo.cli.kb_cmd import serve

typer.run(serve)

"""Incremental ingestion plan: what to index, re-index, skip or remove.

Pure: compares the files found now (path -> content hash) with what the manifest says
was indexed, so a re-run only touches changed files and a run that was interrupted
resumes where it stopped (documents not recorded as indexed are simply indexed again).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum


class Action(Enum):
    INDEX = "index"
    """New file (or never finished indexing): index it."""
    REINDEX = "reindex"
    """Content changed: remove the old chunks, entities and relations, then index."""
    SKIP = "skip"
    """Same content as already indexed."""
    RETRY = "retry"
    """Failed last time with the same content: try again (the reader may have improved)."""
    DELETE = "delete"
    """File gone from the folder: remove it from graph and vector stores."""


@dataclass(frozen=True)
class Known:
    """What the manifest holds about one path."""

    doc_id: str
    content_hash: str
    status: str  # indexed | failed


@dataclass(frozen=True)
class Step:
    path: str
    action: Action
    previous_doc_id: str | None = None


def plan(found: Mapping[str, str], known: Mapping[str, Known], prune_missing: bool = True) -> list[Step]:
    """Steps in a stable order: deletions first, then files by path."""
    steps: list[Step] = []
    if prune_missing:
        steps += [Step(p, Action.DELETE, k.doc_id) for p, k in sorted(known.items()) if p not in found]
    for path, digest in sorted(found.items()):
        prev = known.get(path)
        if prev is None:
            steps.append(Step(path, Action.INDEX))
        elif prev.content_hash != digest:
            steps.append(Step(path, Action.REINDEX, prev.doc_id))
        elif prev.status == "indexed":
            steps.append(Step(path, Action.SKIP, prev.doc_id))
        else:
            steps.append(Step(path, Action.RETRY, prev.doc_id))
    return steps

"""Ingestion service: a folder (or file) of papers into the knowledge store, incrementally.

For each file: hash its bytes; unchanged files are skipped, changed ones re-indexed
(old chunks, entities and relations removed first), files gone from the folder removed,
unreadable ones recorded as failed with a human-readable reason while the batch goes on.
Every file produces one DocumentIngested event. The manifest marks a document indexed
only once it is fully stored, so an interrupted run resumes where it stopped.

Stored documents are committed in batches (every ``commit_every_s`` seconds or
``commit_every_docs`` documents, at the end of a run and when it is interrupted): LightRAG's
file backends rewrite whole files on every commit, which per document made ingestion
quadratic in the corpus size. A document enters the manifest (and its event is published)
only after its batch is committed, so a crash loses at most the uncommitted batch, which
the next run indexes again.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from cmo.domain.ingest_plan import Action, Step, plan
from cmo.events import DocumentIngested
from cmo.ports import EventPublisher
from rag_service.chunking import chunk_document
from rag_service.documents import DocumentError, iter_documents, read_document
from rag_service.lightrag_store import KnowledgeStore
from rag_service.manifest import DocumentRecord, Manifest

logger = logging.getLogger(__name__)


Pending = tuple[DocumentRecord, int, float]
"""A stored, uncommitted document: its record, page count and ``perf_counter`` start."""


def now_ms() -> int:
    return int(time.time() * 1000)


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class IngestReport:
    """What one run did, file by file."""

    indexed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    pages: int = 0
    chunks: int = 0
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.indexed or self.deleted)


class IngestService:
    def __init__(self, store: KnowledgeStore, manifest: Manifest, events: EventPublisher,
                 service: str = "rag_service", clock: Callable[[], int] = now_ms,
                 chunk_tokens: int = 300, commit_every_s: float = 10.0,
                 commit_every_docs: int = 100) -> None:
        self.store = store
        self.manifest = manifest
        self.events = events
        self.service = service
        self.clock = clock
        self.chunk_tokens = chunk_tokens
        self.commit_every_s = commit_every_s
        self.commit_every_docs = commit_every_docs

    async def ingest(self, root: Path, progress: bool = False) -> IngestReport:
        """Bring the store in line with ``root`` (a folder, pruned of deleted files, or one file)."""
        started = time.perf_counter()
        root = root.resolve()
        if not root.exists():
            raise DocumentError(root, "unreadable", f"{root} does not exist")
        files = iter_documents(root)
        found: dict[str, str] = {}
        for path in files:
            try:
                found[str(path)] = file_hash(path)
            except OSError as exc:
                found[str(path)] = f"unreadable:{exc}"
        under = {p: k for p, k in self.manifest.known().items()
                 if root.is_dir() and Path(p).is_relative_to(root) or p == str(root)}
        steps = plan(found, under, prune_missing=root.is_dir())
        report = IngestReport()
        bar = tqdm(steps, desc="ingesting", unit="file", disable=not progress, leave=False)
        pending: list[Pending] = []  # stored, not yet committed (per run: runs may overlap)
        committed_at = time.monotonic()
        try:
            for step in bar:
                bar.set_postfix_str(Path(step.path).name[:30])
                await self._apply(step, found.get(step.path, ""), report, pending)
                if (len(pending) >= self.commit_every_docs
                        or time.monotonic() - committed_at >= self.commit_every_s):
                    await self._commit(pending, report)
                    committed_at = time.monotonic()
        finally:  # also on Ctrl-C: what is stored so far is committed and recorded
            await self._commit(pending, report)
        report.seconds = time.perf_counter() - started
        return report

    async def _commit(self, pending: list[Pending], report: IngestReport) -> None:
        """Commit the stored batch, then record its documents in the manifest and events."""
        if not pending:
            return
        await self.store.flush()
        batch = pending[:]
        pending.clear()
        for record, pages, started in batch:
            self.manifest.put(record)
            report.indexed.append(record.path)
            report.pages += pages
            report.chunks += record.chunks
            self._emit(record.path, "indexed", record.content_hash, record, started)
            logger.info("indexed %s as %s: %d pages, %d chunks", record.path, record.doc_id,
                        pages, record.chunks)
        self.manifest.bump_version()

    async def _apply(self, step: Step, digest: str, report: IngestReport,
                     pending: list[Pending]) -> None:
        started = time.perf_counter()
        if step.action is Action.DELETE:
            await self._remove(step.path, step.previous_doc_id or "", report)
            return
        if step.action is Action.SKIP:
            record = self.manifest.get(step.path)
            report.unchanged.append(step.path)
            self._emit(step.path, "unchanged", digest, record, started)
            return
        try:
            doc = read_document(Path(step.path))
        except DocumentError as exc:
            self._fail(step.path, digest, exc.detail, report, started)
            return
        chunks = chunk_document(doc, max_tokens=self.chunk_tokens)
        if step.previous_doc_id and step.previous_doc_id != doc.doc_id and not self._shared(
                step.previous_doc_id, step.path):
            await self.store.delete_document(step.previous_doc_id)
        stored = await self.store.insert_chunks(
            doc.doc_id, doc.title or Path(step.path).stem,
            [{"chunk_id": c.chunk_id, "text": c.text, "page": c.page} for c in chunks],
            commit=False)
        record = DocumentRecord(
            doc_id=doc.doc_id, path=step.path, content_hash=doc.content_hash, status="indexed",
            title=doc.title, doi=doc.doi, pages=len(doc.pages), chunks=stored,
            updated_ms=self.clock(), chunk_ids=tuple(c.chunk_id for c in chunks))
        pending.append((record, len(doc.pages), started))

    async def _remove(self, path: str, doc_id: str, report: IngestReport) -> None:
        started = time.perf_counter()
        record = self.manifest.get(path)
        if doc_id and not self._shared(doc_id, path):
            await self.store.delete_document(doc_id)
        self.manifest.remove(path)
        self.manifest.bump_version()
        report.deleted.append(path)
        self._emit(path, "deleted", record.content_hash if record else "", record, started)
        logger.info("removed %s (%s)", path, doc_id)

    async def delete(self, doc_id_or_path: str) -> DocumentRecord | None:
        """Remove one document by id or path; returns what was removed (None if unknown)."""
        record = self.manifest.get(doc_id_or_path)
        if record is None:
            return None
        await self._remove(record.path, record.doc_id, IngestReport())
        return record

    def _shared(self, doc_id: str, path: str) -> bool:
        """Another path holds identical content (same doc_id): keep the stored document."""
        return any(other != path for other in self.manifest.indexed_paths(doc_id))

    def _fail(self, path: str, digest: str, reason: str, report: IngestReport, started: float) -> None:
        record = DocumentRecord(doc_id="doc-" + digest[:16] if digest else "doc-unreadable",
                                path=path, content_hash=digest, status="failed", reason=reason,
                                updated_ms=self.clock())
        self.manifest.put(record)
        report.failed[path] = reason
        self._emit(path, "failed", digest, record, started)
        logger.warning("failed to ingest %s: %s", path, reason)

    def _emit(self, path: str, status: str, digest: str, record: DocumentRecord | None,
              started: float) -> None:
        self.events.publish(DocumentIngested(
            event_id=str(uuid.uuid4()), event_time=self.clock(),
            correlation_id=record.doc_id if record else "doc-unknown", service=self.service,
            path=path, status=status, content_hash=digest if not digest.startswith("unreadable") else "",
            title=record.title if record else None, doi=record.doi if record else None,
            pages=record.pages if record else 0, chunks=record.chunks if record else 0,
            reason=record.reason if record and status == "failed" else None,
            duration_ms=(time.perf_counter() - started) * 1000))

"""The document manifest: which file was indexed as which document, with what result.

A small SQLite table under the LightRAG working dir. A document is recorded as
``indexed`` only after all its chunks, entities and relations were stored, so an
interrupted ingestion re-indexes exactly the documents it had not finished.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from cmo.domain.ingest_plan import Known


@dataclass(frozen=True)
class DocumentRecord:
    doc_id: str
    path: str
    content_hash: str
    status: str               # indexed | failed
    title: str | None = None
    doi: str | None = None
    pages: int = 0
    chunks: int = 0
    reason: str | None = None
    updated_ms: int = 0
    chunk_ids: tuple[str, ...] = ()


_COLUMNS = ("doc_id", "path", "content_hash", "status", "title", "doi", "pages", "chunks",
            "reason", "updated_ms", "chunk_ids")


class Manifest:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS documents (path TEXT PRIMARY KEY, doc_id TEXT NOT NULL, "
            "content_hash TEXT NOT NULL, status TEXT NOT NULL, title TEXT, doi TEXT, "
            "pages INTEGER, chunks INTEGER, reason TEXT, updated_ms INTEGER, chunk_ids TEXT)")
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        self._lock = threading.Lock()

    @property
    def index_version(self) -> str:
        """Changes whenever a document is indexed or removed (answer-cache key)."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = 'index_version'").fetchone()
        return f"idx-{row[0] if row else 0}"

    def bump_version(self) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES ('index_version', '1') ON CONFLICT(key) "
                "DO UPDATE SET value = CAST(value AS INTEGER) + 1")

    def put(self, record: DocumentRecord) -> None:
        row = asdict(record)
        row["chunk_ids"] = json.dumps(list(record.chunk_ids))
        with self._lock:
            self._db.execute(
                f"INSERT OR REPLACE INTO documents ({', '.join(_COLUMNS)}) "
                f"VALUES ({', '.join('?' for _ in _COLUMNS)})", [row[c] for c in _COLUMNS])

    def remove(self, path: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM documents WHERE path = ?", (path,))

    def all(self) -> list[DocumentRecord]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM documents ORDER BY path").fetchall()
        return [self._record(r) for r in rows]

    def get(self, doc_id_or_path: str) -> DocumentRecord | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM documents WHERE doc_id = ? OR path = ? "
                "ORDER BY status = 'indexed' DESC LIMIT 1", (doc_id_or_path, doc_id_or_path)).fetchone()
        return self._record(row) if row else None

    def indexed_paths(self, doc_id: str) -> list[str]:
        """Paths whose content is indexed as ``doc_id`` (identical files share a document)."""
        with self._lock:
            rows = self._db.execute("SELECT path FROM documents WHERE doc_id = ? AND status = 'indexed'",
                                    (doc_id,)).fetchall()
        return [str(r[0]) for r in rows]

    def known(self) -> dict[str, Known]:
        return {r.path: Known(r.doc_id, r.content_hash, r.status) for r in self.all()}

    @staticmethod
    def _record(row: tuple[object, ...]) -> DocumentRecord:
        values = dict(zip(_COLUMNS, row))
        values["chunk_ids"] = tuple(json.loads(str(values["chunk_ids"] or "[]")))
        return DocumentRecord(**values)  # type: ignore[arg-type]

    def close(self) -> None:
        with self._lock:
            self._db.close()

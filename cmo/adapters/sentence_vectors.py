"""Persistent sentence vectors: the extractive answerer's per-sentence embeddings, computed
once when a paper is indexed instead of on every question.

A SQLite file keyed by the SHA-256 of the sentence text (content-addressed: a changed or
deleted paper needs no invalidation, its old sentences are simply never asked for again) and
by the embedding model's name, so vectors of another model are never mixed in.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

Vector = npt.NDArray[np.float32]


def _key(model: str, text: str) -> bytes:
    return hashlib.sha256(f"{model}\x1f{text}".encode()).digest()


class SentenceVectorStore:
    """Vectors by sentence text, shared by threads (one connection behind a lock)."""

    def __init__(self, path: Path, model: str, dim: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.model = model
        self.dim = dim
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, vec BLOB)")

    def get_many(self, texts: Iterable[str]) -> dict[str, Vector]:
        """The stored vectors of those texts that have one."""
        keys = {_key(self.model, t): t for t in texts}
        found: dict[str, Vector] = {}
        items = list(keys)
        with self._lock:
            for i in range(0, len(items), 500):
                part = items[i:i + 500]
                rows = self._db.execute(
                    f"SELECT key, vec FROM vectors WHERE key IN ({','.join('?' * len(part))})",
                    part).fetchall()
                for key, blob in rows:
                    vec = np.frombuffer(blob, dtype=np.float32)
                    if vec.shape == (self.dim,):
                        found[keys[key]] = vec
        return found

    def put_many(self, texts: Sequence[str], vectors: Vector) -> None:
        """Store one vector per text (rows of ``vectors``, in order)."""
        rows = [(_key(self.model, t), np.asarray(v, dtype=np.float32).tobytes())
                for t, v in zip(texts, vectors)]
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?)", rows)
            self._db.execute("COMMIT")

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM vectors").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()

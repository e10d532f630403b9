"""Durable local outbox (SQLite) in front of the Kafka producer.

Every accepted message is appended here *before* it is handed to librdkafka and
deleted once the broker acknowledged it, so an accepted event survives a process
crash, a broker outage or a full producer queue. Rows are replayed in id order, which
keeps per-key order. One process owns an outbox file (an exclusive ``flock``).

WAL journal with ``synchronous=NORMAL``: a committed row survives the process dying
at any point; the OS must crash too to lose the last transactions.
"""

from __future__ import annotations

import fcntl
import json
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from cmo.exceptions import CMOError

Headers = list[tuple[str, bytes]]


class OutboxLockedError(CMOError):
    """Another process owns this outbox file."""


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    topic: str
    key: bytes | None
    value: bytes
    headers: Headers | None


def _encode_headers(headers: Headers | None) -> str | None:
    if not headers:
        return None
    return json.dumps([[k, v.hex()] for k, v in headers])


def _decode_headers(text: str | None) -> Headers | None:
    if not text:
        return None
    return [(k, bytes.fromhex(v)) for k, v in json.loads(text)]


class Outbox:
    """Append-only queue of messages not yet acknowledged by Kafka."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lockfile: IO[str] = open(path.with_suffix(path.suffix + ".lock"), "w")
        try:
            fcntl.flock(self._lockfile, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lockfile.close()
            raise OutboxLockedError(
                f"outbox {path} is in use by another process; give each process its own "
                "CMO_OUTBOX_PATH"
            ) from None
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, "
            "topic TEXT NOT NULL, key BLOB, value BLOB NOT NULL, headers TEXT)"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS dead (id INTEGER PRIMARY KEY, topic TEXT NOT NULL, "
            "key BLOB, value BLOB NOT NULL, headers TEXT)")
        self._lock = threading.Lock()

    def set_aside(self, ids: Sequence[int]) -> None:
        """Move messages that can never be delivered to the ``dead`` table (kept for inspection)."""
        with self._lock:
            self._db.execute("BEGIN")
            for i in ids:
                self._db.execute("INSERT OR REPLACE INTO dead SELECT id, topic, key, value, headers "
                                 "FROM outbox WHERE id = ?", (i,))
                self._db.execute("DELETE FROM outbox WHERE id = ?", (i,))
            self._db.execute("COMMIT")

    def dead_count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM dead").fetchone()[0])

    def append(self, topic: str, key: bytes | None, value: bytes, headers: Headers | None = None) -> int:
        """Store one message durably; returns its id (ids grow monotonically)."""
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO outbox (topic, key, value, headers) VALUES (?, ?, ?, ?)",
                (topic, key, value, _encode_headers(headers)),
            )
        return cur.lastrowid or 0

    def append_many(self, messages: Sequence[tuple[str, bytes | None, bytes]]) -> list[int]:
        """Store several messages in one transaction (all or none); returns their ids."""
        ids: list[int] = []
        with self._lock:
            self._db.execute("BEGIN")
            try:
                for topic, key, value in messages:
                    cur = self._db.execute(
                        "INSERT INTO outbox (topic, key, value) VALUES (?, ?, ?)", (topic, key, value))
                    ids.append(cur.lastrowid or 0)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        return ids

    def delete(self, ids: Sequence[int]) -> None:
        """Forget acknowledged messages (one transaction)."""
        if not ids:
            return
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])
            self._db.execute("COMMIT")

    def after(self, after_id: int, limit: int = 500) -> list[OutboxRow]:
        """Rows with id > after_id, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, topic, key, value, headers FROM outbox WHERE id > ? ORDER BY id LIMIT ?",
                (after_id, limit),
            ).fetchall()
        return [OutboxRow(r[0], r[1], r[2], r[3], _decode_headers(r[4])) for r in rows]

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
        fcntl.flock(self._lockfile, fcntl.LOCK_UN)
        self._lockfile.close()

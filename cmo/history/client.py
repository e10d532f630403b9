"""The history database: embedded chDB (default) or a ClickHouse server over HTTP.

Both go through clickhouse-connect and run the same SQL. A :class:`HistoryStore` holds
two clients: a writer (migrations, sink inserts) and a reader whose *session* is
read-only (``readonly=1`` set on the chDB connection handle, ``readonly=2`` sent with
every HTTP request); ClickHouse itself refuses writes and setting changes there, so
ad-hoc SQL needs no string checks. chDB lets one process own a data directory: the
store takes an exclusive lock file there and says who holds it.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Self
from urllib.parse import urlsplit, urlunsplit

from clickhouse_connect import get_client
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError, DatabaseError
from clickhouse_connect.driver.query import QueryResult

from cmo.config import Settings
from cmo.history.errors import HistoryUnavailableError, QueryRefusedError

logger = logging.getLogger(__name__)

#: Limits applied to the read-only session before it is made read-only.
READER_LIMITS = {"max_execution_time": 60, "max_result_rows": 1_000_000,
                 "result_overflow_mode": "break", "session_timezone": "UTC"}
#: Both sessions read parameters and write results in UTC, whatever the host's zone.
WRITER_SETTINGS = {"session_timezone": "UTC"}


def redact_url(url: str) -> str:
    """The URL with any password replaced by ``***`` (safe to print or log)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


@contextmanager
def mapped_errors(what: str) -> Iterator[None]:
    """ClickHouse errors as project errors: refused queries vs. unreachable databases."""
    try:
        yield
    except DatabaseError as exc:
        raise QueryRefusedError(f"{what}: {_first_line(exc)}") from exc
    except ClickHouseError as exc:
        raise HistoryUnavailableError(f"{what}: {_first_line(exc)}") from exc


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class HistoryStore:
    """Writer and read-only reader on one ClickHouse database."""

    def __init__(self, writer: Client, reader: Client, database: str, where: str,
                 lock: IO[str] | None = None) -> None:
        self.writer = writer
        self.reader = reader
        self.database = database
        self.where = where  # printable location (URL redacted)
        self._lock = lock

    @property
    def embedded(self) -> bool:
        return self._lock is not None

    def command(self, sql: str) -> None:
        with mapped_errors("history command failed"):
            self.writer.command(sql)

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> QueryResult:
        """Run a query on the writer session (internal queries of the sink and migrations)."""
        with mapped_errors("history query failed"):
            return self.writer.query(sql, parameters=parameters)

    def read(self, sql: str, parameters: dict[str, Any] | None = None) -> QueryResult:
        """Run a query on the read-only session: ClickHouse refuses any write."""
        with mapped_errors("query refused"):
            return self.reader.query(sql, parameters=parameters)

    def insert(self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> None:
        with mapped_errors(f"insert into {table} failed"):
            self.writer.insert(table, rows, column_names=list(columns), database=self.database)

    def insert_avro(self, table: str, columns: Sequence[str], container: bytes) -> None:
        """Insert an Avro object container file; ClickHouse decodes it (fields matched by name)."""
        with mapped_errors(f"Avro insert into {table} failed"):
            self.writer.raw_insert(table, list(columns), container, fmt="Avro")

    def close(self) -> None:
        for client in (self.reader, self.writer):
            try:
                client.close()
            except Exception:  # closing is best effort; the lock below must still go
                logger.debug("closing history client failed", exc_info=True)
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_store(settings: Settings, create_database: bool = True) -> HistoryStore:
    """The server at CLICKHOUSE_URL when set, else embedded chDB at the history path."""
    if settings.clickhouse_url:
        return open_server(settings.clickhouse_url, settings.clickhouse_database, create_database)
    return open_chdb(settings.history_path, settings.clickhouse_database)


def open_chdb(path: Path, database: str = "cmo") -> HistoryStore:
    """Embedded chDB with a persistent data directory owned by this process."""
    path.mkdir(parents=True, exist_ok=True)
    lock = _lock_dir(path)
    try:
        with mapped_errors(f"cannot open chDB at {path}"):
            writer = get_client(interface="chdb", path=str(path), settings=WRITER_SETTINGS)
            writer.command(f"CREATE DATABASE IF NOT EXISTS `{database}`")
            writer.database = database
            reader = get_client(interface="chdb", path=str(path), database=database,
                                settings={**READER_LIMITS, "readonly": 1})
    except Exception:
        lock.close()
        raise
    return HistoryStore(writer, reader, database, f"chDB {path}", lock)


def open_server(url: str, database: str = "cmo", create_database: bool = True) -> HistoryStore:
    """A ClickHouse server over HTTP(S); credentials may ride in the URL."""
    shown = redact_url(url)
    with mapped_errors(f"cannot reach ClickHouse at {shown}"):
        writer = get_client(dsn=url, settings=WRITER_SETTINGS)
        db = writer.database if writer.database not in (None, "", "default") else database
        if create_database:
            writer.command(f"CREATE DATABASE IF NOT EXISTS `{db}`")
        writer.database = db
        reader = get_client(dsn=url, database=db, settings={**READER_LIMITS, "readonly": 2})
    return HistoryStore(writer, reader, db, f"ClickHouse {shown}")


def _lock_dir(path: Path) -> IO[str]:
    handle = open(path / ".cmo-history.lock", "a+", encoding="utf-8")  # noqa: SIM115 (held open)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "another process"
        handle.close()
        raise HistoryUnavailableError(
            f"the history data directory {path} is in use by {owner}; chDB allows one process "
            "per directory: stop it, or use the process that owns it (`cmo dashboard` serves "
            "SQL at /api/sql), or set CLICKHOUSE_URL") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}")
    handle.flush()
    return handle

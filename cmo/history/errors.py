"""Errors of the history store::

    CMOError
    └── HistoryError              the history database cannot do what was asked
        ├── HistoryUnavailableError   chDB path busy / server unreachable (retriable)
        ├── MigrationError            a migration failed or an applied one was edited
        └── QueryRefusedError         bad SQL, or a write through the read-only path
"""

from __future__ import annotations

from cmo.exceptions import CMOError


class HistoryError(CMOError):
    """The history database cannot do what was asked."""


class HistoryUnavailableError(HistoryError):
    """chDB's data directory is owned by another process, or the server is unreachable."""

    retriable = True


class MigrationError(HistoryError):
    """A migration failed, or an already applied migration file was changed."""


class QueryRefusedError(HistoryError):
    """ClickHouse refused a query (syntax, unknown table, or a write in read-only mode)."""

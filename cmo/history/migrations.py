"""Versioned DDL: ``cmo/history/migrations/NNNN_<what>.sql``, applied in order at start.

Each file is a run of statements ending in ``;`` at the end of a line. Applied versions
are recorded in ``schema_migrations`` with a checksum of the file; an applied file that
changed afterwards is an error (write a new migration instead). Statements use
``IF NOT EXISTS`` so a migration interrupted half-way can simply run again.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from cmo.adapters.factory import schema_dir
from cmo.history.client import HistoryStore
from cmo.history.errors import MigrationError
from cmo.history.schema_map import TableSpec, load_specs

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

_LEDGER = """CREATE TABLE IF NOT EXISTS schema_migrations
(
    version UInt32,
    name String,
    checksum String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY version"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str = field(repr=False)

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()

    def statements(self) -> list[str]:
        """The file's statements (``--`` comment lines dropped, split at ``;`` line ends)."""
        text = "\n".join(line for line in self.sql.splitlines() if not line.lstrip().startswith("--"))
        return [s.strip() for s in re.split(r";\s*$", text, flags=re.MULTILINE) if s.strip()]


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    out: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migrations are named NNNN_<what>.sql")
        out.append(Migration(int(match.group(1)), match.group(2), path.read_text(encoding="utf-8")))
    versions = [m.version for m in out]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration versions in {directory}")
    return out


def applied(store: HistoryStore) -> dict[int, str]:
    """Applied version -> checksum."""
    store.command(_LEDGER)
    rows = store.query("SELECT version, checksum FROM schema_migrations FINAL").result_rows
    return {int(v): str(c) for v, c in rows}


def migrate(store: HistoryStore, migrations: list[Migration] | None = None) -> list[Migration]:
    """Apply every pending migration in order; returns those applied now."""
    todo = load_migrations() if migrations is None else migrations
    done = applied(store)
    ran: list[Migration] = []
    for migration in todo:
        if migration.version in done:
            if done[migration.version] != migration.checksum:
                raise MigrationError(
                    f"migration {migration.version:04d}_{migration.name} was changed after it was "
                    "applied; add a new migration instead of editing an applied one")
            continue
        for statement in migration.statements():
            try:
                store.command(statement)
            except Exception as exc:
                raise MigrationError(f"migration {migration.version:04d}_{migration.name} "
                                     f"failed: {exc}") from exc
        store.insert("schema_migrations", [[migration.version, migration.name, migration.checksum]],
                     ["version", "name", "checksum"])
        logger.info("applied history migration %04d_%s", migration.version, migration.name)
        ran.append(migration)
    return ran


def schema_problems(store: HistoryStore, specs: dict[str, TableSpec] | None = None) -> list[str]:
    """Schema fields without a column of the right type in the migrated tables (empty = fine)."""
    specs = specs if specs is not None else load_specs(schema_dir())
    rows = store.query("SELECT table, name, type FROM system.columns WHERE database = currentDatabase()"
                       ).result_rows
    have = {(str(t), str(n)): str(k) for t, n, k in rows}
    problems = []
    for name, spec in sorted(specs.items()):
        for column in spec.columns:
            found = have.get((spec.table, column.name))
            if found is None:
                problems.append(f"{name}.{column.field}: no column {spec.table}.{column.name}")
            elif found != column.type:
                problems.append(f"{name}.{column.field}: {spec.table}.{column.name} is {found}, "
                                f"the schema needs {column.type}")
    return problems


def migrate_and_check(store: HistoryStore) -> list[Migration]:
    """:func:`migrate`, then refuse to go on when a schema field has no column."""
    ran = migrate(store)
    problems = schema_problems(store)
    if problems:
        raise MigrationError("the history tables lack schema fields; add a migration "
                             "(ALTER TABLE ... ADD COLUMN): " + "; ".join(problems))
    return ran

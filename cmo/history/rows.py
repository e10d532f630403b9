"""Events to table rows, and the exactly-once insert the sink and the seeder share.

:class:`HistoryWriter.write` groups consumed events by table, drops duplicates within
the batch and events already stored (looked up by ``event_id`` within the batch's
``event_time`` range, which the table's sorting key makes cheap), then inserts.
Together with the ReplacingMergeTree tables and the ``FINAL`` views, a redelivered or
replayed event never shows twice in query results.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cmo.adapters.consumer import Consumed
from cmo.adapters.factory import schema_dir
from cmo.events import Event
from cmo.history.client import HistoryStore
from cmo.history.schema_map import Column, TableSpec, load_specs

logger = logging.getLogger(__name__)

_Getter = Callable[[Event], Any]
_RANGES_PER_QUERY = 500


def _getter(column: Column) -> _Getter:
    name, sub, default = column.field, column.subfield, column.default
    if sub is not None:
        return lambda ev: [getattr(item, sub) for item in getattr(ev, name)]
    if column.type.startswith("Array("):
        return lambda ev: list(getattr(ev, name, default or ()))
    if column.type.startswith("Map("):
        return lambda ev: dict(getattr(ev, name, default or {}))
    return lambda ev: getattr(ev, name, default)


@dataclass(frozen=True)
class RowPlan:
    """How to turn events of one type into rows of its table."""

    spec: TableSpec
    getters: tuple[_Getter, ...]

    def row(self, consumed: Consumed) -> list[Any]:
        event = consumed.event
        return [get(event) for get in self.getters] + [consumed.topic, consumed.partition,
                                                       consumed.offset]


def row_plans(specs: dict[str, TableSpec] | None = None) -> dict[str, RowPlan]:
    """Record name -> row plan for every event schema."""
    specs = specs if specs is not None else load_specs(schema_dir())
    return {name: RowPlan(spec, tuple(_getter(c) for c in spec.columns)) for name, spec in specs.items()}


@dataclass
class WriteResult:
    """What one :meth:`HistoryWriter.write` did, per table."""

    inserted: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(self.inserted.values())


class HistoryWriter:
    """Writes consumed events into their tables, skipping ones already stored."""

    def __init__(self, store: HistoryStore, plans: dict[str, RowPlan] | None = None) -> None:
        self.store = store
        self.plans = plans if plans is not None else row_plans()

    def write(self, batch: Iterable[Consumed]) -> WriteResult:
        result = WriteResult()
        for name, items in _by_type(batch).items():
            plan = self.plans[name]
            fresh = self._not_stored(plan.spec, items)
            skipped = len(items) - len(fresh)
            if fresh:
                self.store.insert(plan.spec.table, [plan.row(c) for c in fresh],
                                  plan.spec.column_names)
                result.inserted[plan.spec.table] = len(fresh)
            if skipped:
                result.skipped[plan.spec.table] = skipped
                logger.info("skipped %d already stored %s events", skipped, name)
        return result

    def _not_stored(self, spec: TableSpec, items: Sequence[Consumed]) -> list[Consumed]:
        unique: dict[str, Consumed] = {}
        for consumed in items:
            unique.setdefault(consumed.event.event_id, consumed)
        stored = stored_ids(self.store, spec, list(unique), [c.event.event_time for c in unique.values()])
        return [c for eid, c in unique.items() if eid not in stored]


def time_ranges(times: Iterable[int], gap_ms: int = 10_000) -> list[tuple[int, int]]:
    """Sorted event times grouped into ``[first, last]`` ranges split wherever two are gap_ms apart."""
    ranges: list[list[int]] = []
    for t in sorted(times):
        if ranges and t - ranges[-1][1] <= gap_ms:
            ranges[-1][1] = t
        else:
            ranges.append([t, t])
    return [(a, b) for a, b in ranges]


def stored_ids(store: HistoryStore, spec: TableSpec, ids: list[str], times: list[int]) -> set[str]:
    """Which of these event ids the table already holds.

    Asks only for the ids stored in the narrow time ranges the events fall in (the sorting
    key makes that a cheap range read) and intersects here: no id list to send or parse.
    """
    wanted = set(ids)
    found: set[str] = set()
    ranges = time_ranges(times)
    for i in range(0, len(ranges), _RANGES_PER_QUERY):
        where = " OR ".join(
            f"event_time BETWEEN fromUnixTimestamp64Milli({int(a)}, 'UTC') "
            f"AND fromUnixTimestamp64Milli({int(b)}, 'UTC')" for a, b in ranges[i:i + _RANGES_PER_QUERY])
        rows = store.query(f"SELECT event_id FROM {spec.table} WHERE {where}").result_rows
        found.update(r[0] for r in rows if r[0] in wanted)
    return found


def _by_type(batch: Iterable[Consumed]) -> dict[str, list[Consumed]]:
    groups: dict[str, list[Consumed]] = {}
    for consumed in batch:
        groups.setdefault(type(consumed.event).__name__, []).append(consumed)
    return groups

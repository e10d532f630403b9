"""Conversion between event dataclasses and Avro-ready plain records (dicts).

Kept separate from the codec so that anything (Avro, JSON, ClickHouse rows) can use
the same plain-record view of an event. Conversions are precomputed per class, as
this sits on the hot path of every produced and consumed event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any

from cmo.events.base import Event, event_type
from cmo.events.models import Citation

Record = dict[str, Any]
_Out = Callable[[Any], Any]

_CITATION_FIELDS = tuple(f.name for f in fields(Citation))


def _citations_out(value: Any) -> Any:
    return [{n: getattr(c, n) for n in _CITATION_FIELDS} for c in value]


def _citations_in(value: Any) -> Any:
    return tuple(Citation(**c) for c in value)


def _tuple_in(value: Any) -> Any:
    return tuple(value)


def _list_out(value: Any) -> Any:
    return list(value)


def _dict_io(value: Any) -> Any:
    return dict(value)


# field name -> (to record, from record) for fields that are not plain scalars
_SPECIAL: dict[str, tuple[_Out, _Out]] = {
    "citations": (_citations_out, _citations_in),
    "issues": (_list_out, _tuple_in),
    "metrics": (_dict_io, _dict_io),
    "details": (_dict_io, _dict_io),
}

_PLANS: dict[type[Event], tuple[tuple[str, ...], tuple[tuple[str, _Out, _Out], ...]]] = {}


def _plan(cls: type[Event]) -> tuple[tuple[str, ...], tuple[tuple[str, _Out, _Out], ...]]:
    plan = _PLANS.get(cls)
    if plan is None:
        names = tuple(f.name for f in fields(cls))
        special = tuple((n, *_SPECIAL[n]) for n in names if n in _SPECIAL)
        plain = tuple(n for n in names if n not in _SPECIAL)
        plan = _PLANS[cls] = (plain, special)
    return plan


def to_record(event: Event) -> Record:
    """Plain dict of the event's fields, nested values as lists/dicts (Avro-ready)."""
    plain, special = _plan(type(event))
    record = {n: getattr(event, n) for n in plain}
    for name, out, _ in special:
        record[name] = out(getattr(event, name))
    return record


def from_record(name_or_cls: str | type[Event], record: Record) -> Event:
    """Build the event from a plain record; unknown keys (newer writers) are ignored."""
    cls = event_type(name_or_cls) if isinstance(name_or_cls, str) else name_or_cls
    plain, special = _plan(cls)
    kwargs = {n: record[n] for n in plain if n in record}
    for name, _, into in special:
        if name in record:
            kwargs[name] = into(record[name])
    return cls(**kwargs)

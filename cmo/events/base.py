"""The event envelope shared by every event, and the name -> class registry.

Every event is a frozen, slotted dataclass whose class name equals the Avro record
name in ``schemas/<Name>.avsc``. The envelope fields come first:

* ``event_id``: UUID4 string, unique per event; consumers deduplicate on it.
* ``event_time``: milliseconds since the epoch (Avro ``timestamp-millis``).
* ``correlation_id``: the query_id / doc_id the event belongs to (Kafka key).
* ``service``: the producing service.

Pure: nothing here reads the clock or generates ids; callers pass them in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, TypeVar

E = TypeVar("E", bound="Event")

REGISTRY: dict[str, type[Event]] = {}


@dataclass(frozen=True, kw_only=True, slots=True)
class Event:
    """Envelope of every event. Subclasses add their own fields."""

    event_id: str
    event_time: int
    correlation_id: str
    service: str

    #: Topic suffix of the stream this event type lives on (``<prefix>.<stream>``).
    stream: ClassVar[str] = ""

    def __init_subclass__(cls) -> None:
        # No zero-argument super(): dataclass(slots=True) re-creates the class, so the
        # last class registered under a name is the final, slotted one.
        if cls.stream:
            REGISTRY[cls.__name__] = cls

    @property
    def key(self) -> str:
        """Kafka message key: events of one query/document stay in order on one partition."""
        return self.correlation_id


def event_type(name: str) -> type[Event]:
    """Look up an event class by its record name; raises KeyError with the known names."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown event type {name!r}; known: {', '.join(sorted(REGISTRY))}") from None

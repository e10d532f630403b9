"""Ports: the roles adapters play for the application services (Protocols)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from cmo.events import Event


class EventPublisher(Protocol):
    """Accepts events for Kafka; never blocks or fails the caller because of the broker."""

    def publish(self, event: Event) -> None: ...

    def publish_many(self, events: Sequence[Event]) -> None: ...


class Clock(Protocol):
    """Milliseconds since the epoch (injected so services stay testable)."""

    def __call__(self) -> int: ...


class IdFactory(Protocol):
    def __call__(self) -> str: ...

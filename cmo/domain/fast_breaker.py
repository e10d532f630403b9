"""Per-process fast-path circuit breaker: protects users before the stream controller reacts.

Opens after ``threshold`` consecutive failures of a backend, stays open for ``cooldown_ms``,
then lets one probe through (half-open): success closes it, failure opens it again.
Pure: one frozen status per backend and functions taking ``now_ms``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum


class Phase(Enum):
    CLOSED = "closed"
    """Traffic flows; consecutive failures are counted."""
    OPEN = "open"
    """Traffic is refused until the cool-down has passed."""
    HALF_OPEN = "half-open"
    """One probe request is allowed; its outcome decides."""


@dataclass(frozen=True)
class BreakerStatus:
    phase: Phase = Phase.CLOSED
    failures: int = 0
    opened_at_ms: int = 0
    probing: bool = False


def allows(status: BreakerStatus, now_ms: int, cooldown_ms: int) -> tuple[bool, BreakerStatus]:
    """Whether a request may go to the backend now, and the status after admitting it."""
    # Closed: everything passes.
    if status.phase is Phase.CLOSED:
        return True, status
    # Open, cool-down not over: refuse.
    if status.phase is Phase.OPEN and now_ms - status.opened_at_ms < cooldown_ms:
        return False, status
    # Cool-down over (or half-open without a probe in flight): admit one probe.
    if not status.probing:
        return True, replace(status, phase=Phase.HALF_OPEN, probing=True)
    return False, status


def record(status: BreakerStatus, ok: bool, now_ms: int, threshold: int) -> BreakerStatus:
    """The status after a request's outcome."""
    # Success closes (a successful probe ends half-open).
    if ok:
        return BreakerStatus()
    # A failed probe re-opens at once.
    if status.phase is Phase.HALF_OPEN:
        return BreakerStatus(Phase.OPEN, status.failures + 1, now_ms)
    failures = status.failures + 1
    # Too many consecutive failures open the breaker.
    if failures >= threshold:
        return BreakerStatus(Phase.OPEN, failures, now_ms)
    return replace(status, failures=failures)

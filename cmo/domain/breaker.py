"""Stream circuit-breaker controller, one per backend. Pure.

The fast-path breaker (``fast_breaker.py``) protects each process within a few requests; this
controller watches the windowed error rate of a backend across all processes and writes the
breaker flag (``breaker.lightrag`` / ``breaker.perplexity``) everyone routes by::

    CLOSED --error_rate >= threshold, requests >= min_requests--> OPEN
    OPEN   --cooldown_ms elapsed---------------------------------> HALF_OPEN (probe %)
    HALF_OPEN --successes_to_close good probe windows------------> CLOSED
    HALF_OPEN --one bad probe window-----------------------------> OPEN (cool-down restarts)

Half-open is judged by probe *windows*: a window with at least ``probe_min_requests``
requests and an error rate below the threshold is good, one at or above it is bad, and a
window with too few probe requests counts as neither. Only windows that ended after the
breaker went half-open count, and each window is judged once (by ``window_end_ms``).
The probe percentage is a LightRAG flag (``lightrag.probe_percentage``); for Perplexity
half-open writes only the breaker phase.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum
from typing import Literal

from cmo.domain.rollout_metrics import (
    BREAKER_TARGETS,
    PROBE,
    Action,
    Decision,
    WindowStats,
    Write,
    is_fresh,
)

Backend = Literal["lightrag", "perplexity"]


class BreakerPhase(Enum):
    """Where the breaker of one backend stands (values are the flag values written)."""

    CLOSED = "closed"
    """Traffic flows; each window's error rate is watched."""
    OPEN = "open"
    """The backend gets no traffic until the cool-down has passed."""
    HALF_OPEN = "half-open"
    """A probe percentage of traffic is let through; probe windows decide."""


@dataclass(frozen=True)
class BreakerConfig:
    """Thresholds (defaults: 50 % errors over >= 10 requests, 30 s cool-down, 10 % probe,
    3 good probe windows to close)."""

    threshold: float = 0.5
    min_requests: int = 10
    cooldown_ms: int = 30_000
    probe_percentage: float = 10.0
    successes_to_close: int = 3
    probe_min_requests: int = 1


@dataclass(frozen=True)
class BreakerStatus:
    """The whole state of one backend's breaker controller."""

    backend: Backend = "lightrag"
    phase: BreakerPhase = BreakerPhase.CLOSED
    since_ms: int = 0
    """When the current phase began (for OPEN: when the cool-down started)."""
    good_probes: int = 0
    """Good probe windows counted in the current half-open phase."""
    last_window_end_ms: int = -1
    """End of the last window judged; older or repeated windows are ignored."""


def cooldown_over(status: BreakerStatus, now_ms: int, config: BreakerConfig) -> bool:
    """True once an open breaker has waited its cool-down."""
    return now_ms - status.since_ms >= config.cooldown_ms


def trips(metrics: WindowStats, config: BreakerConfig) -> bool:
    """True for a window that opens a closed breaker."""
    return metrics.requests >= config.min_requests and metrics.error_rate >= config.threshold


def probe_judged(metrics: WindowStats, config: BreakerConfig) -> bool:
    """True when a half-open window carries enough probe traffic to be judged."""
    return metrics.requests >= max(1, config.probe_min_requests)


def phase_writes(backend: Backend, phase: BreakerPhase, config: BreakerConfig) -> list[Write]:
    """The flag settings that put ``backend``'s breaker in ``phase``."""
    writes: list[Write] = [(BREAKER_TARGETS[backend], phase.value)]
    if phase is BreakerPhase.HALF_OPEN and backend == "lightrag":
        writes.append((PROBE, config.probe_percentage))
    return writes


def decide(status: BreakerStatus, metrics: WindowStats, now_ms: int,
           config: BreakerConfig = BreakerConfig()) -> Decision[BreakerStatus]:
    """One tick: at most one transition of the breaker, given the latest window."""
    s, c = status, config
    # Open and cooled down: let a probe percentage through.
    if s.phase is BreakerPhase.OPEN and cooldown_over(s, now_ms, c):
        return _move(s, BreakerPhase.HALF_OPEN, now_ms, c, "half-open",
                     f"cool-down of {c.cooldown_ms} ms over; probing {c.probe_percentage:g}%")
    # Open, still cooling down: nothing to judge.
    if s.phase is BreakerPhase.OPEN:
        return Decision(s, reason="cooling down")
    # A window already judged (or from before half-open began): ignore it.
    if not is_fresh(metrics, max(s.last_window_end_ms, _judged_since(s))):
        return Decision(s, reason="no new window")
    seen = replace(s, last_window_end_ms=metrics.window_end_ms)
    # Closed and failing: open.
    if s.phase is BreakerPhase.CLOSED and trips(metrics, c):
        return _move(seen, BreakerPhase.OPEN, now_ms, c, "open",
                     f"error rate {metrics.error_rate:.2f} >= {c.threshold:g} "
                     f"over {metrics.requests} requests")
    # Closed and healthy (or too little traffic to tell): stay closed.
    if s.phase is BreakerPhase.CLOSED:
        return Decision(seen, reason=f"error rate {metrics.error_rate:.2f} over "
                                     f"{metrics.requests} requests")
    # Half-open without probe traffic: neither good nor bad.
    if not probe_judged(metrics, c):
        return Decision(seen, reason=f"only {metrics.requests} probe requests")
    # Half-open and the probe failed: open again, cool-down restarts.
    if metrics.error_rate >= c.threshold:
        return _move(seen, BreakerPhase.OPEN, now_ms, c, "open",
                     f"probe error rate {metrics.error_rate:.2f} >= {c.threshold:g}")
    # Half-open and enough good probes: close.
    if s.good_probes + 1 >= c.successes_to_close:
        return _move(seen, BreakerPhase.CLOSED, now_ms, c, "close",
                     f"{s.good_probes + 1} good probe windows")
    # Half-open, a good probe: count it.
    return Decision(replace(seen, good_probes=s.good_probes + 1),
                    reason=f"good probe window {s.good_probes + 1}/{c.successes_to_close}")


def _judged_since(status: BreakerStatus) -> int:
    """Windows must end after this to count (half-open judges only its own windows)."""
    return status.since_ms if status.phase is BreakerPhase.HALF_OPEN else -1


def _move(status: BreakerStatus, phase: BreakerPhase, now_ms: int, config: BreakerConfig,
          action: Action, reason: str) -> Decision[BreakerStatus]:
    new = replace(status, phase=phase, since_ms=now_ms, good_probes=0)
    return Decision(new, action, f"{status.backend}: {reason}", True,
                    phase_writes(status.backend, phase, config))

"""Automatic rollback of LightRAG on sustained bad metrics. Pure.

A :class:`Trigger` is a condition on one metric of a window (error rate, p95 latency,
quality mean) and a duration. It *fires* when the condition has held in every window of an
unbroken run of windows spanning at least the duration. A run spans from the start of its
first window (``window_end_ms - window_ms``) to the end of its latest; it breaks when a
window does not meet the condition (a window without the metric, or with fewer than the
trigger's ``min_requests`` requests, does not meet it) or when a window is missing (the
next window ends more than ``window_ms`` after the previous one).

Defaults: error rate >= 0.1 for 5 min, p95 latency >= 10 s for 5 min, quality < 0.7 for
10 min. Firing rolls LightRAG back to 0 (canary None, rollout 0) with a *critical* alert;
error rate and latency are critical from the start. Quality escalates: once its condition
has held for ``warn_after_ms`` (default 5 min) a *warning* alert is sent (no rollback), and
only at the full 10 min does it roll back with a critical alert::

    WATCHING --quality held 5 min--> WARNING --cleared--> WATCHING
    WATCHING / WARNING --a trigger held its duration--> ROLLED_BACK (rollback, critical)
    ROLLED_BACK --every condition cleared--> WATCHING

A trigger fires once: after a rollback nothing more is written until every condition has
cleared, and each trigger warns at most once per episode.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Literal

from cmo.domain.rollout import rollback_writes
from cmo.domain.rollout_metrics import (
    Action,
    Alert,
    Decision,
    Severity,
    WindowStats,
    Write,
    is_fresh,
)

Metric = Literal["error_rate", "latency_p95_ms", "quality_mean"]
MINUTE_MS = 60_000


class AutoRollbackPhase(Enum):
    """Where the auto-rollback watcher stands."""

    WATCHING = "watching"
    """Armed; no trigger has warned or fired."""
    WARNING = "warning"
    """A trigger held past its warning time; a warning alert was sent."""
    ROLLED_BACK = "rolled-back"
    """A trigger fired and LightRAG was rolled back; re-arms when every condition clears."""


@dataclass(frozen=True)
class Trigger:
    """A sustained-condition trigger: ``metric >= threshold`` (``above``) or ``< threshold``."""

    name: str
    metric: Metric
    threshold: float
    above: bool
    duration_ms: int
    severity: Severity = "critical"
    warn_after_ms: int | None = None
    """Send a warning alert once the condition has held this long (None: no warning)."""
    min_requests: int = 1


DEFAULT_TRIGGERS: tuple[Trigger, ...] = (
    Trigger("error_rate", "error_rate", 0.1, True, 5 * MINUTE_MS, min_requests=10),
    Trigger("latency", "latency_p95_ms", 10_000.0, True, 5 * MINUTE_MS),
    Trigger("quality", "quality_mean", 0.7, False, 10 * MINUTE_MS, warn_after_ms=5 * MINUTE_MS),
)


@dataclass(frozen=True)
class AutoRollbackConfig:
    """The triggers (checked in order) and the length of one window."""

    triggers: tuple[Trigger, ...] = DEFAULT_TRIGGERS
    window_ms: int = MINUTE_MS


@dataclass(frozen=True)
class AutoRollbackStatus:
    """The whole state of the watcher."""

    phase: AutoRollbackPhase = AutoRollbackPhase.WATCHING
    since_ms: int = 0
    """When the current phase began."""
    runs: Mapping[str, int] = field(default_factory=dict)
    """Trigger name -> start of its unbroken run of bad windows; replaced, never mutated."""
    warned: frozenset[str] = frozenset()
    """Triggers that have warned in the current episode."""
    fired: str | None = None
    """The trigger that caused the current rollback."""
    last_window_end_ms: int = -1


def breached(trigger: Trigger, metrics: WindowStats) -> bool:
    """True when the window meets the trigger's bad condition."""
    value = getattr(metrics, trigger.metric)
    if value is None or metrics.requests < trigger.min_requests:
        return False
    return bool(value >= trigger.threshold if trigger.above else value < trigger.threshold)


def next_runs(status: AutoRollbackStatus, metrics: WindowStats,
              config: AutoRollbackConfig) -> dict[str, int]:
    """The runs after this window: extended, started, or dropped per trigger."""
    adjacent = metrics.window_end_ms - status.last_window_end_ms <= config.window_ms
    runs: dict[str, int] = {}
    for trigger in config.triggers:
        if not breached(trigger, metrics):
            continue
        start = status.runs.get(trigger.name)
        runs[trigger.name] = (start if start is not None and adjacent
                              else metrics.window_end_ms - config.window_ms)
    return runs


def held_ms(runs: Mapping[str, int], trigger: Trigger, window_end_ms: int) -> int:
    """How long the trigger's condition has held (0 when it does not hold)."""
    start = runs.get(trigger.name)
    return 0 if start is None else window_end_ms - start


def decide(status: AutoRollbackStatus, metrics: WindowStats, now_ms: int,
           config: AutoRollbackConfig = AutoRollbackConfig()) -> Decision[AutoRollbackStatus]:
    """One tick: update the runs with the latest window, then at most one transition."""
    # A window already judged: nothing new.
    if not is_fresh(metrics, status.last_window_end_ms):
        return Decision(status, reason="no new window")
    runs = next_runs(status, metrics, config)
    s = replace(status, runs=runs, last_window_end_ms=metrics.window_end_ms)
    end = metrics.window_end_ms
    fired = [t for t in config.triggers if held_ms(runs, t, end) >= t.duration_ms]
    # Rolled back and every condition cleared: re-arm.
    if s.phase is AutoRollbackPhase.ROLLED_BACK and not runs:
        return _go(s, AutoRollbackPhase.WATCHING, now_ms, "none", "conditions cleared; re-armed")
    # Rolled back, conditions persist: fire no more.
    if s.phase is AutoRollbackPhase.ROLLED_BACK:
        return Decision(s, reason=f"rolled back ({s.fired}); "
                                  f"waiting for {', '.join(runs)} to clear")
    # A condition held for its duration: roll back to 0.
    if fired:
        t = fired[0]
        why = f"{_condition(t)} for {held_ms(runs, t, end) // 1000} s"
        return _go(replace(s, fired=t.name), AutoRollbackPhase.ROLLED_BACK, now_ms, "rollback",
                   f"auto-rollback: {why}", rollback_writes(),
                   Alert(t.severity, f"auto-rollback:{t.name}", f"LightRAG rolled back: {why}"))
    warn = [t for t in config.triggers if t.warn_after_ms is not None
            and held_ms(runs, t, end) >= t.warn_after_ms and t.name not in s.warned]
    # A condition held past its warning time: warn once.
    if warn:
        t = warn[0]
        why = f"{_condition(t)} for {held_ms(runs, t, end) // 1000} s"
        return _go(replace(s, warned=s.warned | {t.name}), AutoRollbackPhase.WARNING, now_ms,
                   "alert", f"warning: {why}", [],
                   Alert("warning", f"auto-rollback:{t.name}",
                         f"{why}; rollback at {t.duration_ms // 1000} s"))
    # Warning and its conditions cleared: back to watching.
    if s.phase is AutoRollbackPhase.WARNING and not s.warned & runs.keys():
        return _go(s, AutoRollbackPhase.WATCHING, now_ms, "none", "warning cleared")
    return Decision(s, reason=f"conditions holding: {', '.join(runs) or 'none'}")


def _go(status: AutoRollbackStatus, phase: AutoRollbackPhase, now_ms: int, action: Action,
        reason: str, planned: list[Write] | None = None,
        alert: Alert | None = None) -> Decision[AutoRollbackStatus]:
    new = replace(status, phase=phase, since_ms=now_ms)
    if phase is AutoRollbackPhase.WATCHING:
        new = replace(new, warned=frozenset(), fired=None)
    return Decision(new, action, reason, True, planned or [], alert=alert)


def _condition(trigger: Trigger) -> str:
    return f"{trigger.metric} {'>=' if trigger.above else '<'} {trigger.threshold:g}"

"""Auto-rollback on sustained bad metrics, one one-minute window per tick."""

from __future__ import annotations

from cmo.domain.auto_rollback import (
    AutoRollbackConfig,
    AutoRollbackPhase,
    AutoRollbackStatus,
    Trigger,
    breached,
    decide,
)
from cmo.domain.rollout_metrics import Decision, WindowStats

MIN = 60_000
T0 = 1_714_521_600_000
ROLLBACK = [("lightrag.canary_percentage", None), ("lightrag.rollout_percentage", 0.0)]


def window(minute: int, errors: int = 0, p95: float = 800.0, quality: float = 0.9) -> WindowStats:
    return WindowStats.of(100, errors, window_end_ms=T0 + minute * MIN, latency_p95_ms=p95,
                          quality_mean=quality, quality_count=20)


class Watch:
    def __init__(self) -> None:
        self.status = AutoRollbackStatus()
        self.decisions: list[Decision[AutoRollbackStatus]] = []

    def tick(self, metrics: WindowStats) -> Decision[AutoRollbackStatus]:
        d = decide(self.status, metrics, metrics.window_end_ms, AutoRollbackConfig())
        self.status = d.status
        self.decisions.append(d)
        return d

    def phase(self) -> AutoRollbackPhase:
        return self.status.phase


def test_error_rate_for_4_minutes_does_nothing_5_minutes_fires_once() -> None:
    w = Watch()
    w.tick(window(0))
    for minute in range(1, 5):                                   # 4 bad one-minute windows
        d = w.tick(window(minute, errors=15))
        assert w.phase() is AutoRollbackPhase.WATCHING and not d.changed and d.writes == []
    d = w.tick(window(5, errors=15))                             # 5 minutes of errors: fire
    assert w.phase() is AutoRollbackPhase.ROLLED_BACK and d.action == "rollback"
    assert d.writes == ROLLBACK and w.status.fired == "error_rate"
    assert d.alert is not None and d.alert.severity == "critical"
    for minute in range(6, 10):                                  # still bad: no second firing
        d = w.tick(window(minute, errors=15))
        assert w.phase() is AutoRollbackPhase.ROLLED_BACK and not d.changed
    assert sum(1 for x in w.decisions if x.action == "rollback") == 1
    d = w.tick(window(10))                                       # cleared: re-armed
    assert w.phase() is AutoRollbackPhase.WATCHING and d.changed and d.writes == []
    for minute in range(11, 16):                                 # a new episode fires again
        d = w.tick(window(minute, p95=12_000.0))
    assert w.phase() is AutoRollbackPhase.ROLLED_BACK and w.status.fired == "latency"


def test_a_good_window_or_a_gap_breaks_the_run() -> None:
    w = Watch()
    for minute in (1, 2, 3, 4):
        w.tick(window(minute, errors=15))
    w.tick(window(5))                                            # recovered for a minute
    for minute in (6, 7, 8, 9):
        d = w.tick(window(minute, errors=15))
    assert w.phase() is AutoRollbackPhase.WATCHING
    w.tick(window(11, errors=15))                                # minute 10 missing
    assert w.status.runs["error_rate"] == T0 + 10 * MIN
    d = w.tick(window(12, errors=15))
    assert w.phase() is AutoRollbackPhase.WATCHING and not d.changed


def test_quality_warns_at_5_minutes_and_rolls_back_at_10() -> None:
    w = Watch()
    for minute in range(1, 5):
        d = w.tick(window(minute, quality=0.6))
        assert w.phase() is AutoRollbackPhase.WATCHING
    d = w.tick(window(5, quality=0.6))
    assert w.phase() is AutoRollbackPhase.WARNING and d.action == "alert"
    assert d.alert is not None and d.alert.severity == "warning" and d.writes == []
    for minute in range(6, 10):
        d = w.tick(window(minute, quality=0.6))
        assert w.phase() is AutoRollbackPhase.WARNING and not d.changed and d.alert is None
    d = w.tick(window(10, quality=0.6))
    assert w.phase() is AutoRollbackPhase.ROLLED_BACK and d.writes == ROLLBACK
    assert d.alert is not None and d.alert.severity == "critical"


def test_quality_warning_clears() -> None:
    w = Watch()
    for minute in range(1, 6):
        w.tick(window(minute, quality=0.6))
    assert w.phase() is AutoRollbackPhase.WARNING
    d = w.tick(window(6))
    assert w.phase() is AutoRollbackPhase.WATCHING and d.changed and not w.status.warned


def test_windows_without_enough_data_do_not_breach() -> None:
    errors = Trigger("error_rate", "error_rate", 0.1, True, 5 * MIN, min_requests=10)
    quality = Trigger("quality", "quality_mean", 0.7, False, 10 * MIN)
    assert not breached(errors, WindowStats.of(5, 5, window_end_ms=1))
    assert breached(errors, WindowStats.of(10, 1, window_end_ms=1))
    assert not breached(quality, WindowStats.of(100, 0, window_end_ms=1))
    assert breached(quality, WindowStats.of(100, 0, window_end_ms=1, quality_mean=0.69))

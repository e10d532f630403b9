"""The LightRAG canary rollout controller, one tick at a time (cf. Flagger's scheduler tests)."""

from __future__ import annotations

import pytest

from cmo.domain.rollout import (
    Command,
    RolloutConfig,
    RolloutPhase,
    RolloutStatus,
    decide,
    next_step_weight,
)
from cmo.domain.rollout_metrics import Criteria, Decision, Verdict, WindowStats, check_window

SEC = 1000
CFG = RolloutConfig(interval_ms=60 * SEC)


def good(end_s: int) -> WindowStats:
    return WindowStats.of(100, 1, window_end_ms=end_s * SEC, latency_p95_ms=1200.0,
                          quality_mean=0.9, quality_count=40)


def bad(end_s: int) -> WindowStats:
    return WindowStats.of(100, 20, window_end_ms=end_s * SEC, latency_p95_ms=1200.0,
                          quality_mean=0.9, quality_count=40)


def empty(end_s: int) -> WindowStats:
    return WindowStats(window_end_ms=end_s * SEC)


class Run:
    """Feeds one window per tick (at the window's end) and keeps the latest decision."""

    def __init__(self, config: RolloutConfig = CFG) -> None:
        self.config = config
        self.status = RolloutStatus()
        self.decisions: list[Decision[RolloutStatus]] = []

    def tick(self, metrics: WindowStats, command: Command | None = None) -> Decision[RolloutStatus]:
        d = decide(self.status, metrics, metrics.window_end_ms, self.config, command)
        self.status = d.status
        self.decisions.append(d)
        return d

    def phase(self) -> RolloutPhase:
        return self.status.phase


def test_next_step_weight() -> None:
    stages = (10.0, 25.0, 50.0, 75.0, 100.0)
    assert next_step_weight(stages, -1) == 10.0
    assert next_step_weight(stages, 1) == 50.0
    assert next_step_weight(stages, 4) is None


@pytest.mark.parametrize(("metrics", "verdict"), [
    (good(1), Verdict.PASS),
    (bad(1), Verdict.FAIL),
    (WindowStats.of(100, 0, window_end_ms=1, latency_p95_ms=6000.0, quality_mean=0.9),
     Verdict.FAIL),
    (WindowStats.of(100, 0, window_end_ms=1, latency_p95_ms=100.0, quality_mean=0.79),
     Verdict.FAIL),
    (WindowStats.of(100, 0, window_end_ms=1, latency_p95_ms=100.0, quality_mean=0.8),
     Verdict.PASS),
    (WindowStats.of(9, 0, window_end_ms=1, latency_p95_ms=100.0, quality_mean=0.9),
     Verdict.INCONCLUSIVE),
    (WindowStats.of(100, 0, window_end_ms=1, latency_p95_ms=100.0), Verdict.INCONCLUSIVE),
    (empty(1), Verdict.INCONCLUSIVE),
])
def test_check_window(metrics: WindowStats, verdict: Verdict) -> None:
    assert check_window(metrics, Criteria()).verdict is verdict


def test_good_metrics_promote_through_every_stage_to_succeeded() -> None:
    run = Run()
    d = run.tick(empty(0))
    assert run.phase() is RolloutPhase.PROGRESSING and d.action == "promote"
    assert d.writes == [("lightrag.canary_percentage", 10.0)]
    d = run.tick(good(30))                                       # passes, interval not over
    assert run.phase() is RolloutPhase.PROGRESSING and not d.changed and d.writes == []
    for end_s, weight in ((60, 25.0), (120, 50.0), (180, 75.0), (240, 100.0)):
        d = run.tick(good(end_s))
        assert run.phase() is RolloutPhase.PROGRESSING and run.status.canary_weight == weight
        assert d.writes == [("lightrag.canary_percentage", weight)]
    d = run.tick(good(300))                                      # last stage passed
    assert run.phase() is RolloutPhase.PROMOTING and d.action == "promote"
    assert d.writes == [("lightrag.rollout_percentage", 100.0)]
    d = run.tick(good(310))
    assert run.phase() is RolloutPhase.SUCCEEDED
    assert d.writes == [("lightrag.canary_percentage", None)]
    assert run.status.canary_weight is None and run.status.rollout_weight == 100.0
    d = run.tick(good(360))                                      # terminal: nothing more
    assert run.phase() is RolloutPhase.SUCCEEDED and not d.changed and d.writes == []


def test_promotes_at_most_once_per_interval() -> None:
    run = Run()
    run.tick(empty(0))
    weights = []
    for end_s in range(10, 181, 10):                             # a passing window every 10 s
        run.tick(good(end_s))
        weights.append(run.status.canary_weight)
    assert weights[:5] == [10.0] * 5 and weights[5] == 25.0      # first step at 60 s
    assert weights[11] == 50.0 and weights[17] == 75.0
    assert len({w for w in weights}) == 4


def test_bad_metrics_roll_back_to_zero() -> None:
    run = Run()
    run.tick(empty(0))
    run.tick(good(60))
    assert run.status.canary_weight == 25.0
    for n, end_s in enumerate((70, 80), start=1):
        d = run.tick(bad(end_s))
        assert run.phase() is RolloutPhase.PROGRESSING and run.status.consecutive_failures == n
        assert not d.changed and d.writes == []
    d = run.tick(bad(90))                                        # third in a row: roll back
    assert run.phase() is RolloutPhase.FAILED and d.action == "rollback"
    assert d.writes == [("lightrag.canary_percentage", None), ("lightrag.rollout_percentage", 0.0)]
    assert run.status.canary_weight is None and run.status.rollout_weight == 0.0
    d = run.tick(good(150))                                      # stays failed
    assert run.phase() is RolloutPhase.FAILED and not d.changed


def test_total_failure_limit_rolls_back_even_when_not_consecutive() -> None:
    run = Run(RolloutConfig(interval_ms=600 * SEC, failure_limit=3, consecutive_failure_limit=9))
    run.tick(empty(0))
    for end_s in (10, 20, 30, 40):                               # bad, good, bad, good
        run.tick(bad(end_s) if end_s % 20 else good(end_s))
        assert run.phase() is RolloutPhase.PROGRESSING
    assert run.status.failed_checks == 2 and run.status.consecutive_failures == 0
    d = run.tick(bad(50))
    assert run.phase() is RolloutPhase.FAILED and d.action == "rollback"


def test_no_traffic_pauses_and_never_promotes() -> None:
    run = Run()
    run.tick(empty(0))
    d = run.tick(empty(60))
    assert run.phase() is RolloutPhase.PAUSED and d.action == "pause" and d.writes == []
    for end_s in range(120, 600, 60):                            # long after the interval
        d = run.tick(empty(end_s))
        assert run.phase() is RolloutPhase.PAUSED and not d.changed
        assert run.status.canary_weight == 10.0
    d = run.tick(good(600))                                      # traffic back: resume only
    assert run.phase() is RolloutPhase.PROGRESSING and d.changed and d.writes == []
    assert run.status.canary_weight == 10.0
    d = run.tick(good(660))                                      # next passing tick steps
    assert run.status.canary_weight == 25.0


def test_manual_gate_waits_for_approve() -> None:
    run = Run(RolloutConfig(interval_ms=60 * SEC, gates=frozenset({50.0})))
    run.tick(empty(0))
    run.tick(good(60))
    assert run.status.canary_weight == 25.0
    d = run.tick(good(120))                                      # 50 % is gated
    assert run.phase() is RolloutPhase.WAITING_PROMOTION and d.writes == []
    for end_s in (180, 240, 300):
        d = run.tick(good(end_s))
        assert run.phase() is RolloutPhase.WAITING_PROMOTION and run.status.canary_weight == 25.0
    d = run.tick(good(310), "approve")
    assert run.phase() is RolloutPhase.PROGRESSING and run.status.canary_weight == 50.0
    assert d.writes == [("lightrag.canary_percentage", 50.0)]
    d = run.tick(good(320), "approve")                           # nothing to approve now
    assert run.status.canary_weight == 50.0 and not d.changed


def test_approve_is_refused_after_a_failed_check() -> None:
    run = Run(RolloutConfig(interval_ms=60 * SEC, gates=frozenset({25.0})))
    run.tick(empty(0))
    run.tick(good(60))
    assert run.phase() is RolloutPhase.WAITING_PROMOTION
    run.tick(bad(70))
    d = run.tick(good(80), "approve")                            # window judged, not approved
    assert run.phase() is RolloutPhase.WAITING_PROMOTION and run.status.canary_weight == 10.0
    d = run.tick(good(90), "approve")
    assert run.phase() is RolloutPhase.PROGRESSING and d.writes == [
        ("lightrag.canary_percentage", 25.0)]


def test_abort_twice_is_one_change_and_retry_restarts_from_first_stage() -> None:
    run = Run()
    run.tick(empty(0))
    run.tick(good(60))
    run.tick(good(120))
    assert run.status.canary_weight == 50.0
    d = run.tick(good(130), "abort")
    assert run.phase() is RolloutPhase.ABORTED and d.action == "abort" and d.changed
    assert d.writes == [("lightrag.canary_percentage", None), ("lightrag.rollout_percentage", 0.0)]
    d = run.tick(good(140), "abort")
    assert run.phase() is RolloutPhase.ABORTED and not d.changed and d.writes == []
    assert sum(1 for x in run.decisions if x.action == "abort") == 1
    d = run.tick(good(150))                                      # aborted stays aborted
    assert run.phase() is RolloutPhase.ABORTED and not d.changed
    d = run.tick(good(160), "retry")
    assert run.phase() is RolloutPhase.PROGRESSING and run.status.stage == 0
    assert d.writes == [("lightrag.canary_percentage", 10.0)]
    assert run.status.failed_checks == 0 and run.status.iterations == 0
    d = run.tick(good(190))                                      # interval restarts too
    assert run.status.canary_weight == 10.0
    d = run.tick(good(220))
    assert run.status.canary_weight == 25.0


def test_retry_is_ignored_while_progressing() -> None:
    run = Run()
    run.tick(empty(0))
    d = run.tick(good(10), "retry")
    assert run.phase() is RolloutPhase.PROGRESSING and run.status.canary_weight == 10.0
    assert not d.changed


def test_dry_run_writes_nothing_but_records() -> None:
    run = Run(RolloutConfig(interval_ms=60 * SEC, dry_run=True))
    d = run.tick(empty(0))
    assert d.dry_run and d.writes == [] and d.planned == [("lightrag.canary_percentage", 10.0)]
    assert run.phase() is RolloutPhase.PROGRESSING and run.status.dry_run
    assert run.status.canary_weight == 10.0
    d = run.tick(good(60))
    assert d.writes == [] and d.planned == [("lightrag.canary_percentage", 25.0)]
    d = run.tick(bad(70), "abort")
    assert run.phase() is RolloutPhase.ABORTED and d.changed and d.writes == []
    assert d.planned == [("lightrag.canary_percentage", None), ("lightrag.rollout_percentage", 0.0)]
    assert all(x.writes == [] for x in run.decisions)


def test_repeated_window_is_not_judged_twice() -> None:
    run = Run()
    run.tick(empty(0))
    run.tick(bad(10))
    d = decide(run.status, bad(10), 20 * SEC, CFG)
    assert d.status == run.status and not d.changed


def test_stages_must_be_increasing_percentages() -> None:
    with pytest.raises(ValueError):
        RolloutConfig(stages=(50.0, 25.0))
    with pytest.raises(ValueError):
        RolloutConfig(stages=(10.0, 120.0))

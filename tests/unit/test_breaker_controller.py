"""The stream breaker controller, one tick at a time."""

from __future__ import annotations

from cmo.domain.breaker import BreakerConfig, BreakerPhase, BreakerStatus, decide
from cmo.domain.rollout_metrics import Decision, WindowStats

CFG = BreakerConfig()  # threshold 0.5, min 10 requests, cool-down 30 s, probe 10 %, 3 to close
SEC = 1000


def window(end_s: int, requests: int, errors: int) -> WindowStats:
    return WindowStats.of(requests, errors, window_end_ms=end_s * SEC)


def tick(status: BreakerStatus, end_s: int, requests: int,
         errors: int) -> Decision[BreakerStatus]:
    return decide(status, window(end_s, requests, errors), end_s * SEC, CFG)


def test_opens_half_opens_closes() -> None:
    s = BreakerStatus("lightrag")
    d = tick(s, 10, 100, 10)                                    # 10 % errors: healthy
    assert d.status.phase is BreakerPhase.CLOSED and not d.changed and d.writes == []
    d = tick(d.status, 20, 5, 5)                                # 100 % but only 5 requests
    assert d.status.phase is BreakerPhase.CLOSED and not d.changed
    d = tick(d.status, 30, 20, 10)                              # 50 % over 20: open
    assert d.status.phase is BreakerPhase.OPEN and d.changed and d.action == "open"
    assert d.writes == [("breaker.lightrag", "open")]
    d = tick(d.status, 40, 0, 0)                                # cooling down
    assert d.status.phase is BreakerPhase.OPEN and not d.changed
    d = tick(d.status, 59, 0, 0)
    assert d.status.phase is BreakerPhase.OPEN
    d = tick(d.status, 60, 0, 0)                                # 30 s later: half-open
    assert d.status.phase is BreakerPhase.HALF_OPEN and d.action == "half-open"
    assert d.writes == [("breaker.lightrag", "half-open"), ("lightrag.probe_percentage", 10.0)]
    d = tick(d.status, 70, 0, 0)                                # no probe traffic: inconclusive
    assert d.status.phase is BreakerPhase.HALF_OPEN and d.status.good_probes == 0
    for n, end in enumerate((80, 90), start=1):                  # good probe windows
        d = tick(d.status, end, 4, 0)
        assert d.status.phase is BreakerPhase.HALF_OPEN and d.status.good_probes == n
        assert not d.changed
    d = tick(d.status, 100, 4, 1)                               # third good window: close
    assert d.status.phase is BreakerPhase.CLOSED and d.action == "close"
    assert d.writes == [("breaker.lightrag", "closed")] and d.status.good_probes == 0


def test_bad_probe_reopens_and_cooldown_restarts() -> None:
    s = BreakerStatus("lightrag", BreakerPhase.OPEN, since_ms=0)
    d = tick(s, 30, 0, 0)
    assert d.status.phase is BreakerPhase.HALF_OPEN
    d = tick(d.status, 40, 3, 0)
    assert d.status.good_probes == 1
    d = tick(d.status, 50, 3, 2)                                # bad probe: open again
    assert d.status.phase is BreakerPhase.OPEN and d.action == "open"
    assert d.status.since_ms == 50 * SEC and d.status.good_probes == 0
    d = tick(d.status, 70, 0, 0)
    assert d.status.phase is BreakerPhase.OPEN                  # a fresh 30 s cool-down
    d = tick(d.status, 80, 0, 0)
    assert d.status.phase is BreakerPhase.HALF_OPEN


def test_one_transition_per_tick_and_repeated_window_ignored() -> None:
    s = BreakerStatus("lightrag", BreakerPhase.OPEN, since_ms=0)
    d = tick(s, 30, 10, 0)                   # cool-down over: half-open only, window not judged
    assert d.status.phase is BreakerPhase.HALF_OPEN and d.status.good_probes == 0
    d = tick(d.status, 40, 10, 0)
    assert d.status.good_probes == 1
    again = decide(d.status, window(40, 10, 0), 41 * SEC, CFG)  # the same window re-delivered
    assert again.status == d.status and not again.changed


def test_perplexity_breaker_writes_only_its_phase() -> None:
    d = tick(BreakerStatus("perplexity"), 10, 10, 9)
    assert d.writes == [("breaker.perplexity", "open")]
    d = tick(d.status, 40, 0, 0)
    assert d.writes == [("breaker.perplexity", "half-open")]

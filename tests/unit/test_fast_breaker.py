"""The fast-path breaker, one tick at a time."""

from __future__ import annotations

from cmo.domain.fast_breaker import BreakerStatus, Phase, allows, record


def test_opens_after_consecutive_failures_then_probes_and_closes() -> None:
    s = BreakerStatus()
    for t in range(2):
        s = record(s, False, t, threshold=3)
        assert s.phase is Phase.CLOSED
    s = record(s, True, 2, threshold=3)                     # a success resets the count
    assert s.failures == 0
    for t in range(3, 6):
        s = record(s, False, t, threshold=3)
    assert s.phase is Phase.OPEN and s.opened_at_ms == 5
    ok, s = allows(s, 1000, cooldown_ms=2000)
    assert not ok and s.phase is Phase.OPEN                  # cooling down
    ok, s = allows(s, 2005, cooldown_ms=2000)
    assert ok and s.phase is Phase.HALF_OPEN                 # one probe
    ok2, s = allows(s, 2006, cooldown_ms=2000)
    assert not ok2                                           # only one probe in flight
    s = record(s, True, 2010, threshold=3)
    assert s == BreakerStatus()


def test_failed_probe_reopens() -> None:
    s = BreakerStatus(Phase.OPEN, 3, 0)
    ok, s = allows(s, 5000, cooldown_ms=1000)
    assert ok and s.phase is Phase.HALF_OPEN
    s = record(s, False, 5001, threshold=3)
    assert s.phase is Phase.OPEN and s.opened_at_ms == 5001

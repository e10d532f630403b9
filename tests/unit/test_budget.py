"""The budget controller, one tick at a time: alert once at 80 %, stop at 100 %, reset."""

from __future__ import annotations

import pytest

from cmo.domain.budget import (
    BudgetConfig,
    BudgetPhase,
    BudgetStatus,
    Spend,
    accumulate,
    decide,
    usage_percent,
    utc_day,
    utc_month,
)
from cmo.domain.rollout_metrics import WindowStats

HOUR = 3_600_000
MAY_1 = 1_714_521_600_000          # 2024-05-01T00:00:00Z
DAILY = BudgetConfig(daily_limit_usd=10.0)


def cost(at_ms: int, usd: float) -> WindowStats:
    return WindowStats(cost_usd=usd, window_end_ms=at_ms)


def test_utc_periods_come_from_the_timestamp() -> None:
    assert utc_day(MAY_1) == "2024-05-01" and utc_month(MAY_1) == "2024-05"
    assert utc_day(MAY_1 - 1) == "2024-04-30" and utc_month(MAY_1 - 1) == "2024-04"


def test_accumulate_by_day_and_month() -> None:
    s = accumulate(Spend(), MAY_1 + HOUR, 2.0)
    s = accumulate(s, MAY_1 + 2 * HOUR, 3.0)
    assert (s.day, s.day_usd, s.month_usd) == ("2024-05-01", 5.0, 5.0)
    s = accumulate(s, MAY_1 + 25 * HOUR, 1.0)                    # next day
    assert (s.day, s.day_usd, s.month_usd) == ("2024-05-02", 1.0, 6.0)
    s = accumulate(s, MAY_1 + 3 * HOUR, 4.0)                     # late record, earlier day
    assert (s.day_usd, s.month_usd) == (1.0, 10.0)
    s = accumulate(s, MAY_1 - HOUR, 100.0)                       # a closed month: dropped
    assert s.month_usd == 10.0
    s = accumulate(s, MAY_1 + 31 * 24 * HOUR, 2.0)               # June
    assert (s.month, s.day_usd, s.month_usd) == ("2024-06", 2.0, 2.0)


def test_usage_is_the_tighter_of_day_and_month() -> None:
    spend = Spend("2024-05-01", "2024-05", 5.0, 90.0)
    assert usage_percent(spend, BudgetConfig(10.0, 100.0)) == pytest.approx(90.0)
    assert usage_percent(spend, BudgetConfig(daily_limit_usd=10.0)) == pytest.approx(50.0)
    assert usage_percent(spend, BudgetConfig()) == 0.0


def test_alert_once_at_80_stop_at_100_reset_next_day() -> None:
    s = BudgetStatus()
    d = decide(s, cost(MAY_1 + HOUR, 5.0), MAY_1 + HOUR, DAILY)
    assert d.status.phase is BudgetPhase.NORMAL and not d.changed
    d = decide(d.status, cost(MAY_1 + 2 * HOUR, 3.0), MAY_1 + 2 * HOUR, DAILY)   # 80 %
    assert d.status.phase is BudgetPhase.ALERTED and d.action == "alert"
    assert d.alert is not None and d.alert.severity == "warning" and d.writes == []
    alerts = 1
    for h in (3, 4):                                             # 85 %, 90 %: no second alert
        d = decide(d.status, cost(MAY_1 + h * HOUR, 0.5), MAY_1 + h * HOUR, DAILY)
        assert d.status.phase is BudgetPhase.ALERTED and not d.changed and d.alert is None
        alerts += d.alert is not None
    assert alerts == 1
    d = decide(d.status, cost(MAY_1 + 5 * HOUR, 1.0), MAY_1 + 5 * HOUR, DAILY)    # 100 %
    assert d.status.phase is BudgetPhase.STOPPED and d.action == "stop"
    assert d.writes == [("budget.stop", True)] and d.alert is not None
    assert d.alert.severity == "critical"
    d = decide(d.status, cost(MAY_1 + 6 * HOUR, 2.0), MAY_1 + 6 * HOUR, DAILY)
    assert d.status.phase is BudgetPhase.STOPPED and not d.changed and d.writes == []
    d = decide(d.status, cost(MAY_1 + 23 * HOUR, 0.0), MAY_1 + 23 * HOUR, DAILY)
    assert d.status.phase is BudgetPhase.STOPPED                # same day: still stopped
    d = decide(d.status, cost(MAY_1 + 24 * HOUR, 0.0), MAY_1 + 24 * HOUR + 1, DAILY)  # next day
    assert d.status.phase is BudgetPhase.NORMAL and d.action == "close"
    assert d.writes == [("budget.stop", False)] and d.status.spend.day == "2024-05-02"
    d = decide(d.status, cost(MAY_1 + 25 * HOUR, 8.5), MAY_1 + 25 * HOUR, DAILY)  # new day's alert
    assert d.status.phase is BudgetPhase.ALERTED and d.action == "alert"


def test_jump_past_both_thresholds_stops_at_once() -> None:
    d = decide(BudgetStatus(), cost(MAY_1, 12.0), MAY_1, DAILY)
    assert d.status.phase is BudgetPhase.STOPPED and d.writes == [("budget.stop", True)]


def test_new_day_under_the_monthly_alert_lifts_the_stop_into_alerted() -> None:
    cfg = BudgetConfig(daily_limit_usd=10.0, monthly_limit_usd=12.0)
    d = decide(BudgetStatus(), cost(MAY_1, 10.0), MAY_1, cfg)
    assert d.status.phase is BudgetPhase.STOPPED
    d = decide(d.status, cost(MAY_1 + 24 * HOUR, 0.0), MAY_1 + 24 * HOUR, cfg)  # month at 83 %
    assert d.status.phase is BudgetPhase.ALERTED and d.writes == [("budget.stop", False)]
    assert d.alert is None
    d = decide(d.status, cost(MAY_1 + 31 * 24 * HOUR, 0.0), MAY_1 + 31 * 24 * HOUR, cfg)  # June
    assert d.status.phase is BudgetPhase.NORMAL and d.writes == []


def test_new_day_without_any_cost_window_still_resets() -> None:
    d = decide(BudgetStatus(), cost(MAY_1, 9.0), MAY_1, DAILY)
    assert d.status.phase is BudgetPhase.ALERTED
    d = decide(d.status, cost(MAY_1, 9.0), MAY_1 + 24 * HOUR, DAILY)   # same window re-delivered
    assert d.status.phase is BudgetPhase.NORMAL and d.status.spend.day_usd == 0.0

"""Spend controller: daily and monthly budgets for the paid backends. Pure.

Costs arrive in USD (the price table lookup is ``pricing.py``'s job) either one record at a
time (:func:`accumulate`) or as the ``cost_usd`` of a :class:`WindowStats`, counted at its
``window_end_ms``. Days and months are UTC calendar periods computed from the timestamps;
nothing here reads the clock. A record from an earlier day of the current month counts
toward the month only; one from an earlier month is dropped.

Usage is the larger of day spend / daily limit and month spend / monthly limit (a None limit
is not enforced)::

    NORMAL   --usage >= alert_percent (80)------> ALERTED  (one warning alert)
    NORMAL / ALERTED --usage >= stop_percent----> STOPPED  (budget.stop true, critical alert)
    STOPPED  --usage back under stop_percent----> NORMAL, or ALERTED if still over the alert
                                                  threshold (budget.stop false)
    ALERTED  --usage back under alert_percent---> NORMAL

Usage only falls when a new day or month starts (or a limit is raised), so the warning is
sent at most once per period. Crossing both thresholds in one window goes straight to
STOPPED: spending is stopped without waiting a tick for the warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import Enum

from cmo.domain.rollout_metrics import (
    BUDGET_STOP,
    Action,
    Alert,
    Decision,
    WindowStats,
    Write,
    is_fresh,
)


class BudgetPhase(Enum):
    """How spending stands against the budgets."""

    NORMAL = "normal"
    """Below the alert threshold in every period."""
    ALERTED = "alerted"
    """Over the alert threshold; the warning for this period was sent."""
    STOPPED = "stopped"
    """At or over a limit; ``budget.stop`` is set and paid backends get no traffic."""


@dataclass(frozen=True)
class BudgetConfig:
    """Limits in USD (None: not enforced) and thresholds in percent of a limit."""

    daily_limit_usd: float | None = None
    monthly_limit_usd: float | None = None
    alert_percent: float = 80.0
    stop_percent: float = 100.0


@dataclass(frozen=True)
class Spend:
    """Spend so far in the current UTC day and month ("YYYY-MM-DD", "YYYY-MM")."""

    day: str = ""
    month: str = ""
    day_usd: float = 0.0
    month_usd: float = 0.0


@dataclass(frozen=True)
class BudgetStatus:
    """The whole state of the budget controller."""

    phase: BudgetPhase = BudgetPhase.NORMAL
    spend: Spend = field(default_factory=Spend)
    since_ms: int = 0
    """When the current phase began."""
    last_window_end_ms: int = -1
    """End of the last window whose cost was added (re-deliveries are not counted twice)."""


def utc_day(timestamp_ms: int) -> str:
    """The UTC calendar day of a timestamp, "YYYY-MM-DD"."""
    return datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC).strftime("%Y-%m-%d")


def utc_month(timestamp_ms: int) -> str:
    """The UTC calendar month of a timestamp, "YYYY-MM"."""
    return utc_day(timestamp_ms)[:7]


def accumulate(spend: Spend, timestamp_ms: int, cost_usd: float) -> Spend:
    """The spend after one cost record; a record in a later period starts that period."""
    day, month = utc_day(timestamp_ms), utc_month(timestamp_ms)
    # A later month: both totals start again.
    if month > spend.month:
        return Spend(day, month, cost_usd, cost_usd)
    # A month already over: dropped.
    if month < spend.month:
        return spend
    # A later day of this month: the day total starts again.
    if day > spend.day:
        return Spend(day, month, cost_usd, spend.month_usd + cost_usd)
    # An earlier day of this month: counts toward the month only.
    if day < spend.day:
        return replace(spend, month_usd=spend.month_usd + cost_usd)
    return replace(spend, day_usd=spend.day_usd + cost_usd, month_usd=spend.month_usd + cost_usd)


def roll_to(spend: Spend, now_ms: int) -> Spend:
    """The spend as seen at ``now_ms``: a day or month that has ended no longer counts."""
    return accumulate(spend, now_ms, 0.0)


def usage_percent(spend: Spend, config: BudgetConfig) -> float:
    """The larger of the day and month spend as a percentage of its limit (0 without limits)."""
    pairs = ((spend.day_usd, config.daily_limit_usd), (spend.month_usd, config.monthly_limit_usd))
    shares = [100.0 * used / limit for used, limit in pairs if limit is not None and limit > 0]
    return max(shares, default=0.0)


def decide(status: BudgetStatus, metrics: WindowStats, now_ms: int,
           config: BudgetConfig = BudgetConfig()) -> Decision[BudgetStatus]:
    """One tick: add the window's cost, then at most one transition."""
    s, c = status, config
    spend = s.spend
    if is_fresh(metrics, s.last_window_end_ms):
        spend = accumulate(spend, metrics.window_end_ms, metrics.cost_usd)
        s = replace(s, last_window_end_ms=metrics.window_end_ms)
    s = replace(s, spend=roll_to(spend, now_ms))
    usage = usage_percent(s.spend, c)
    summary = _summary(s.spend, c, usage)
    # At or over a limit: stop paid traffic.
    if usage >= c.stop_percent and s.phase is not BudgetPhase.STOPPED:
        return _go(s, BudgetPhase.STOPPED, now_ms, "stop", f"budget exhausted: {summary}",
                   [(BUDGET_STOP, True)],
                   Alert("critical", "budget", f"spending stopped: {summary}"))
    # Stopped and still over: stay stopped.
    if s.phase is BudgetPhase.STOPPED and usage >= c.stop_percent:
        return Decision(s, reason=f"stopped: {summary}")
    # Stopped, a new period under the limit: lift the stop.
    if s.phase is BudgetPhase.STOPPED:
        after = BudgetPhase.ALERTED if usage >= c.alert_percent else BudgetPhase.NORMAL
        return _go(s, after, now_ms, "close", f"new period under the limit: {summary}",
                   [(BUDGET_STOP, False)])
    # Over the alert threshold for the first time this period: warn once.
    if usage >= c.alert_percent and s.phase is BudgetPhase.NORMAL:
        return _go(s, BudgetPhase.ALERTED, now_ms, "alert", f"budget alert: {summary}", [],
                   Alert("warning", "budget", f"{usage:.0f}% of budget spent: {summary}"))
    # Alerted, a new period under the alert threshold: back to normal.
    if s.phase is BudgetPhase.ALERTED and usage < c.alert_percent:
        return _go(s, BudgetPhase.NORMAL, now_ms, "none", f"new period: {summary}", [])
    return Decision(s, reason=summary)


def _go(status: BudgetStatus, phase: BudgetPhase, now_ms: int, action: Action, reason: str,
        planned: list[Write], alert: Alert | None = None) -> Decision[BudgetStatus]:
    return Decision(replace(status, phase=phase, since_ms=now_ms), action, reason, True, planned,
                    alert=alert)


def _summary(spend: Spend, config: BudgetConfig, usage: float) -> str:
    day = f"day {spend.day} ${spend.day_usd:.2f}"
    if config.daily_limit_usd is not None:
        day += f" of ${config.daily_limit_usd:.2f}"
    month = f"month {spend.month} ${spend.month_usd:.2f}"
    if config.monthly_limit_usd is not None:
        month += f" of ${config.monthly_limit_usd:.2f}"
    return f"{day}, {month} ({usage:.0f}%)"

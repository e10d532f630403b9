"""What the stream controllers read and what they decide. Pure.

Every controller (breaker, rollout, budget, auto-rollback) is a function
``decide(status, metrics, now_ms, config) -> Decision``:

* ``metrics`` is one :class:`WindowStats`, the aggregate of one tumbling window for the
  traffic the controller watches (the caller picks the backend / cohort);
* the returned :class:`Decision` holds the next status (store it every tick, even when
  ``changed`` is False: counters move without a transition), a one-word ``action``, a plain
  ``reason``, the flag settings to write to the control topic and, for alerting controllers,
  an :class:`Alert`.

Flag settings are ``(target, value)`` pairs on the control topic's targets
(``cmo.domain.control.TARGETS``), in the order they must be written. In dry-run mode
``planned`` still holds them but ``writes`` is empty, so a caller that writes
``decision.writes`` can never change traffic by mistake.

The canary analysis (:func:`check_window`) lives here too: it is the metric side of the
rollout controller and is shared by anything that judges one window against thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Generic, Literal, TypeVar

Action = Literal["open", "half-open", "close", "promote", "pause", "abort", "rollback",
                 "alert", "stop", "none"]
"""What a decision does, in one word ("none": no transition, or one without a verb)."""

FlagValue = str | float | bool | None
Write = tuple[str, FlagValue]
Severity = Literal["info", "warning", "critical"]

BREAKER_TARGETS = {"lightrag": "breaker.lightrag", "perplexity": "breaker.perplexity"}
PROBE = "lightrag.probe_percentage"
CANARY = "lightrag.canary_percentage"
ROLLOUT = "lightrag.rollout_percentage"
BUDGET_STOP = "budget.stop"


@dataclass(frozen=True)
class WindowStats:
    """One closed window of traffic: counts, rates and the time the window ended.

    ``error_rate`` is errors / requests as computed by the aggregator (timeouts are
    expected to be counted in ``errors`` too; they are reported separately for display).
    ``latency_p95_ms`` and ``quality_mean`` are None when the window has no such samples.
    """

    requests: int = 0
    errors: int = 0
    timeouts: int = 0
    error_rate: float = 0.0
    latency_p95_ms: float | None = None
    quality_mean: float | None = None
    quality_count: int = 0
    cost_usd: float = 0.0
    window_end_ms: int = 0

    @classmethod
    def of(cls, requests: int, errors: int, *, window_end_ms: int, timeouts: int = 0,
           latency_p95_ms: float | None = None, quality_mean: float | None = None,
           quality_count: int | None = None, cost_usd: float = 0.0) -> WindowStats:
        """A window from counts: ``error_rate`` computed, ``quality_count`` defaulting to
        ``requests`` when a quality mean is given."""
        if quality_count is None:
            quality_count = requests if quality_mean is not None else 0
        return cls(requests, errors, timeouts, errors / requests if requests else 0.0,
                   latency_p95_ms, quality_mean, quality_count, cost_usd, window_end_ms)


@dataclass(frozen=True)
class Alert:
    """A notification for humans (the caller routes it to the alert topic / pager)."""

    severity: Severity
    source: str
    message: str


S = TypeVar("S")


@dataclass(frozen=True)
class Decision(Generic[S]):
    """The outcome of one tick of a controller.

    ``changed`` is True when the tick made a transition (the phase moved or flags are to be
    written); ``planned`` holds the flag settings the transition stands for and ``writes``
    the ones to actually write (the same, or nothing when ``dry_run``).
    """

    status: S
    action: Action = "none"
    reason: str = ""
    changed: bool = False
    planned: list[Write] = field(default_factory=list)
    dry_run: bool = False
    alert: Alert | None = None

    @property
    def writes(self) -> list[Write]:
        """The (target, value) pairs to write to the control topic now, in order."""
        return [] if self.dry_run else list(self.planned)


def is_fresh(metrics: WindowStats, last_window_end_ms: int) -> bool:
    """True for a window the controller has not judged yet (re-deliveries are ignored)."""
    return metrics.window_end_ms > last_window_end_ms


# --- canary analysis -----------------------------------------------------------------------


class Verdict(Enum):
    """The outcome of judging one window against the success criteria."""

    PASS = "pass"
    """Enough traffic and every criterion met."""
    FAIL = "fail"
    """Enough traffic and at least one criterion missed."""
    INCONCLUSIVE = "inconclusive"
    """Too little traffic (or a required metric missing) to judge either way."""


@dataclass(frozen=True)
class Criteria:
    """Success criteria for one analysis window; a None threshold disables its criterion.

    Defaults: error_rate < 0.05, p95 latency < 5000 ms, quality mean >= 0.8, judged only
    when the window has at least ``min_requests`` requests (and, for quality, at least
    ``min_quality_count`` scored answers). An enabled criterion whose metric is missing
    makes the window inconclusive.
    """

    max_error_rate: float | None = 0.05
    max_latency_p95_ms: float | None = 5000.0
    min_quality: float | None = 0.8
    min_requests: int = 10
    min_quality_count: int = 1


@dataclass(frozen=True)
class Check:
    """A verdict and the plain-words reason for it."""

    verdict: Verdict
    reason: str


def check_window(metrics: WindowStats, criteria: Criteria) -> Check:
    """Judge one window: inconclusive without enough data, else pass or fail with reasons."""
    m, c = metrics, criteria
    # Too little traffic: inconclusive, never a pass.
    if m.requests < c.min_requests:
        return Check(Verdict.INCONCLUSIVE, f"only {m.requests} requests (< {c.min_requests})")
    # A required metric is missing: inconclusive.
    if c.max_latency_p95_ms is not None and m.latency_p95_ms is None:
        return Check(Verdict.INCONCLUSIVE, "no latency samples")
    if c.min_quality is not None and (m.quality_mean is None
                                      or m.quality_count < c.min_quality_count):
        return Check(Verdict.INCONCLUSIVE, f"only {m.quality_count} quality scores")
    failures = _missed_criteria(m, c)
    if failures:
        return Check(Verdict.FAIL, "; ".join(failures))
    return Check(Verdict.PASS, f"all criteria met over {m.requests} requests")


def _missed_criteria(m: WindowStats, c: Criteria) -> list[str]:
    missed = []
    if c.max_error_rate is not None and m.error_rate >= c.max_error_rate:
        missed.append(f"error rate {m.error_rate:.3f} >= {c.max_error_rate:g}")
    if (c.max_latency_p95_ms is not None and m.latency_p95_ms is not None
            and m.latency_p95_ms >= c.max_latency_p95_ms):
        missed.append(f"p95 {m.latency_p95_ms:.0f} ms >= {c.max_latency_p95_ms:g} ms")
    if c.min_quality is not None and m.quality_mean is not None and m.quality_mean < c.min_quality:
        missed.append(f"quality {m.quality_mean:.3f} < {c.min_quality:g}")
    return missed

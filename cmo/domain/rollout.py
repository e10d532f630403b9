"""LightRAG canary rollout controller (Flagger / Argo Rollouts analysis semantics). Pure.

The canary weight (``lightrag.canary_percentage``) climbs through ``stages`` (default
10, 25, 50, 75, 100 %). Each tick judges the latest window with
:func:`cmo.domain.rollout_metrics.check_window`; at most one transition happens per tick::

    INITIALIZING --------------------------------> PROGRESSING (first stage)
    PROGRESSING --pass, interval over------------> PROGRESSING (next stage)
                --pass, next stage gated---------> WAITING_PROMOTION --approve--> next stage
                --pass at the last stage---------> PROMOTING --> SUCCEEDED
                --too little traffic-------------> PAUSED --pass--> PROGRESSING
                --failure limit reached----------> FAILED   (canary None, rollout 0)
    any phase   --abort--------------------------> ABORTED  (canary None, rollout 0)
    FAILED / ABORTED --retry---------------------> PROGRESSING (first stage, counters reset)

Rules:

* A weight is raised at most once per ``interval_ms`` (measured from ``last_step_ms``), and
  only on a passing window that ended after the current weight was set.
* An inconclusive window (fewer than ``criteria.min_requests`` requests, or a required
  metric missing) pauses the rollout; it never promotes.
* Failed checks are counted in total (``failure_limit``) and in a row
  (``consecutive_failure_limit``); reaching either rolls LightRAG back to 0.
* ``gates`` lists stage weights that need an explicit ``approve`` command before the canary
  moves to them. An approve in any other phase is ignored (there is no pre-approval).
* ``abort`` is accepted in every phase and is idempotent: aborting an aborted rollout
  writes nothing. ``retry`` is accepted only after a rollback or an abort.
* ``dry_run``: the status advances as if the flags had been written (and is marked
  ``dry_run``), the decision lists them in ``planned`` but ``writes`` stays empty.

Promotion writes ``rollout_percentage`` 100 first (the canary still routes) and clears the
canary on the next tick, so no user is ever routed away from LightRAG in between.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Literal

from cmo.domain.rollout_metrics import (
    CANARY,
    ROLLOUT,
    Action,
    Criteria,
    Decision,
    Verdict,
    WindowStats,
    Write,
    check_window,
    is_fresh,
)

Command = Literal["approve", "abort", "retry"]


class RolloutPhase(Enum):
    """Where the canary rollout stands."""

    INITIALIZING = "initializing"
    """Created; no traffic moved yet. The next tick sets the first stage."""
    PROGRESSING = "progressing"
    """The canary holds a stage weight and each window is analysed."""
    PAUSED = "paused"
    """Windows are inconclusive (too little traffic); no promotion until one passes."""
    WAITING_PROMOTION = "waiting-promotion"
    """The next stage is behind a manual gate; waiting for an ``approve`` command."""
    PROMOTING = "promoting"
    """Every stage passed; rollout is set to 100 %, the canary is dropped next tick."""
    SUCCEEDED = "succeeded"
    """LightRAG serves the whole rollout; the canary is cleared. Terminal."""
    FAILED = "failed"
    """Analysis failed too often; LightRAG was rolled back to 0. Terminal until retry."""
    ABORTED = "aborted"
    """An operator aborted; LightRAG was set to 0 at once. Terminal until retry."""


FINISHED = frozenset({RolloutPhase.SUCCEEDED, RolloutPhase.FAILED, RolloutPhase.ABORTED})
RESTARTABLE = frozenset({RolloutPhase.FAILED, RolloutPhase.ABORTED})


@dataclass(frozen=True)
class RolloutConfig:
    """Stages, analysis interval, criteria, limits, manual gates and dry-run."""

    stages: tuple[float, ...] = (10.0, 25.0, 50.0, 75.0, 100.0)
    interval_ms: int = 60_000
    criteria: Criteria = field(default_factory=Criteria)
    failure_limit: int = 5
    """Total failed checks in one run that roll back."""
    consecutive_failure_limit: int = 3
    """Failed checks in a row that roll back."""
    gates: frozenset[float] = frozenset()
    """Stage weights that wait for an ``approve`` before the canary moves to them."""
    dry_run: bool = False

    def __post_init__(self) -> None:
        if not self.stages or any(not 0 < w <= 100 for w in self.stages):
            raise ValueError(f"stages must be percentages in (0, 100], got {self.stages}")
        if list(self.stages) != sorted(self.stages):
            raise ValueError(f"stages must increase, got {self.stages}")


@dataclass(frozen=True)
class RolloutStatus:
    """The whole state of one rollout (compare Flagger's ``CanaryStatus``)."""

    phase: RolloutPhase = RolloutPhase.INITIALIZING
    stage: int = -1
    """Index into ``stages`` of the current canary weight (-1 before the first)."""
    canary_weight: float | None = None
    """The canary percentage set (in dry run: that would have been set)."""
    rollout_weight: float = 0.0
    failed_checks: int = 0
    consecutive_failures: int = 0
    iterations: int = 0
    """Windows judged in this run."""
    last_step_ms: int = -1
    """When the canary weight last changed."""
    last_window_end_ms: int = -1
    since_ms: int = 0
    """When the current phase began."""
    dry_run: bool = False
    """True when the weights above were simulated, not written."""


def next_step_weight(stages: tuple[float, ...], stage: int) -> float | None:
    """The canary weight after stage index ``stage`` (None past the last stage)."""
    return stages[stage + 1] if stage + 1 < len(stages) else None


def interval_elapsed(status: RolloutStatus, now_ms: int, config: RolloutConfig) -> bool:
    """True when the current weight has been held for a full analysis interval."""
    return now_ms - status.last_step_ms >= config.interval_ms


def over_failure_limit(status: RolloutStatus, config: RolloutConfig) -> bool:
    """True when the failed-check counters reached either limit."""
    return (status.failed_checks >= config.failure_limit
            or status.consecutive_failures >= config.consecutive_failure_limit)


def rollback_writes() -> list[Write]:
    """The flag settings that take LightRAG to 0: canary dropped, rollout 0."""
    return [(CANARY, None), (ROLLOUT, 0.0)]


def decide(status: RolloutStatus, metrics: WindowStats, now_ms: int,
           config: RolloutConfig = RolloutConfig(),
           command: Command | None = None) -> Decision[RolloutStatus]:
    """One tick: at most one transition, given the latest canary window and an optional
    operator command."""
    s, c = status, config
    # Abort, repeated: already at 0, nothing new to write.
    if command == "abort" and s.phase is RolloutPhase.ABORTED:
        return _stay(s, c, "already aborted")
    # Abort: LightRAG to 0 at once.
    if command == "abort":
        return _go(s, _zeroed(s, RolloutPhase.ABORTED), now_ms, c, "abort",
                   "aborted by operator", rollback_writes())
    # Retry after a rollback or an abort: start over from the first stage.
    if command == "retry" and s.phase in RESTARTABLE:
        fresh = RolloutStatus(last_window_end_ms=s.last_window_end_ms)
        return _step(s, fresh, 0, now_ms, c, "retry: restarting from the first stage")
    # Finished: nothing to do until a retry.
    if s.phase in FINISHED:
        return _stay(s, c, f"rollout {s.phase.value}")
    # Initializing: send the first stage of traffic to the canary.
    if s.phase is RolloutPhase.INITIALIZING:
        return _step(s, s, 0, now_ms, c, "starting canary")
    # Promoting: rollout is at 100 %, drop the canary.
    if s.phase is RolloutPhase.PROMOTING:
        done = replace(s, phase=RolloutPhase.SUCCEEDED, canary_weight=None)
        return _go(s, done, now_ms, c, "promote", "promotion finished", [(CANARY, None)])
    # At a manual gate, approved and the last check did not fail: advance.
    if (s.phase is RolloutPhase.WAITING_PROMOTION and command == "approve"
            and s.consecutive_failures == 0):
        return _step(s, s, s.stage + 1, now_ms, c, "approved")
    # A window already judged, or from before the current weight: nothing new.
    if not is_fresh(metrics, max(s.last_window_end_ms, s.last_step_ms)):
        return _stay(s, c, "no new window")
    check = check_window(metrics, c.criteria)
    judged = replace(s, last_window_end_ms=metrics.window_end_ms, iterations=s.iterations + 1)
    failed = replace(judged, failed_checks=s.failed_checks + 1,
                     consecutive_failures=s.consecutive_failures + 1)
    # Failed check reaching a limit: roll back to 0.
    if check.verdict is Verdict.FAIL and over_failure_limit(failed, c):
        return _go(s, _zeroed(failed, RolloutPhase.FAILED), now_ms, c, "rollback",
                   f"rolled back after {failed.failed_checks} failed checks "
                   f"({failed.consecutive_failures} in a row): {check.reason}", rollback_writes())
    # Failed check under the limits: count it, hold the weight.
    if check.verdict is Verdict.FAIL:
        return _stay(failed, c, f"check failed ({failed.failed_checks}/{c.failure_limit}): "
                                f"{check.reason}")
    # Too little traffic while progressing: pause, never promote.
    if check.verdict is Verdict.INCONCLUSIVE and s.phase is RolloutPhase.PROGRESSING:
        paused = replace(judged, phase=RolloutPhase.PAUSED, since_ms=now_ms)
        return _go(s, paused, now_ms, c, "pause", f"inconclusive: {check.reason}")
    # Still inconclusive: hold.
    if check.verdict is Verdict.INCONCLUSIVE:
        return _stay(judged, c, f"inconclusive: {check.reason}")
    passed = replace(judged, consecutive_failures=0)
    # Paused and a window passes again: resume analysis.
    if s.phase is RolloutPhase.PAUSED:
        resumed = replace(passed, phase=RolloutPhase.PROGRESSING, since_ms=now_ms)
        return _go(s, resumed, now_ms, c, "none", f"resumed: {check.reason}")
    # At a manual gate: keep waiting for approval.
    if s.phase is RolloutPhase.WAITING_PROMOTION:
        gate = _pct(next_step_weight(c.stages, s.stage))
        return _stay(passed, c, f"waiting for approval before {gate}")
    # Weight held for less than an interval: keep watching.
    if not interval_elapsed(s, now_ms, c):
        return _stay(passed, c, f"passed, holding {_pct(s.canary_weight)} until the interval ends")
    weight = next_step_weight(c.stages, s.stage)
    # Last stage passed: promote (rollout 100 % first, canary dropped next tick).
    if weight is None:
        promoting = replace(passed, phase=RolloutPhase.PROMOTING, rollout_weight=100.0)
        return _go(s, promoting, now_ms, c, "promote", "all stages passed; promoting",
                   [(ROLLOUT, 100.0)])
    # Next stage behind a manual gate: wait for approval.
    if weight in c.gates:
        waiting = replace(passed, phase=RolloutPhase.WAITING_PROMOTION, since_ms=now_ms)
        return _go(s, waiting, now_ms, c, "pause", f"manual gate before {weight:g}%")
    # Passed for a full interval: next stage.
    return _step(s, passed, s.stage + 1, now_ms, c, check.reason)


def _pct(weight: float | None) -> str:
    return "no canary" if weight is None else f"{weight:g}%"


def _zeroed(status: RolloutStatus, phase: RolloutPhase) -> RolloutStatus:
    return replace(status, phase=phase, canary_weight=None, rollout_weight=0.0)


def _step(old: RolloutStatus, base: RolloutStatus, stage: int, now_ms: int,
          config: RolloutConfig, reason: str) -> Decision[RolloutStatus]:
    weight = config.stages[stage]
    new = replace(base, phase=RolloutPhase.PROGRESSING, stage=stage, canary_weight=weight,
                  last_step_ms=now_ms)
    return _go(old, new, now_ms, config, "promote", f"canary to {weight:g}%: {reason}",
               [(CANARY, weight)])


def _go(old: RolloutStatus, new: RolloutStatus, now_ms: int, config: RolloutConfig,
        action: Action, reason: str, planned: list[Write] | None = None) -> Decision[RolloutStatus]:
    """A transition: phase start time stamped, dry-run marked."""
    if new.phase is not old.phase:
        new = replace(new, since_ms=now_ms)
    new = replace(new, dry_run=config.dry_run)
    return Decision(new, action, reason, True, planned or [], config.dry_run)


def _stay(status: RolloutStatus, config: RolloutConfig, reason: str) -> Decision[RolloutStatus]:
    return Decision(status, "none", reason, False, [], config.dry_run)

"""Rollout agent: LightRAG's canary rollout (:mod:`cmo.domain.rollout`) as Faust agents.

A rollout is started, aborted and approved by humans on the control topic; the agent reads
every *signed* :class:`~cmo.events.ControlCommand` (verified with CMO_CONTROL_KEY; commands
of ``controller:*`` actors, unsigned ones and ones older than ``max_command_age_ms`` are
ignored, so a fresh consumer group replaying the compacted topic starts nothing) and maps it
to a signal (:func:`operator_signal`):

* ``lightrag.canary_percentage`` set to a number (``canary-start N`` or ``flags set``) while
  the rollout is idle (never started, or finished) -> a new rollout at the first stage;
* ``canary-abort`` or ``rollback`` -> the ``abort`` command;
* ``canary-promote`` -> ``approve`` when a manual gate is waiting: the rollout goes on at
  the next stage and its writes supersede the ones of the CLI (the canary is routed before
  the rollout percentage). Outside a gate the operator has promoted by hand: the rollout
  ends ``succeeded`` and the agent writes nothing. (``flags set rollout.approve`` is no
  control target, hence this verb.)

Verbs that expand into several commands act once, on the command for one target.

Flow (one writer per status, like :mod:`processors.controller_agent`)::

    control --------rollout-commands--> <app_id>-rollout-input (key: lightrag) --> decide
    window-metrics --rollout-windows--> same topic (tumbling, backend lightrag, no variant)
    timer (every tick_interval_s) ----> same topic, a tick while a rollout is active

The status lives in the ``rollout-status`` table (JSON, changelogged). The timer re-runs
:func:`~cmo.domain.rollout.decide` with the last window (promoting -> succeeded needs no
window) and, when no window at all came for ``no_traffic_ms``, with an empty one, so a
rollout without traffic pauses instead of waiting silently. Transitions are published by
:class:`~processors.controller_agent.DecisionPublisher` (actor ``controller:rollout``); a
rollback raises a critical alert, an abort a warning.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import replace
from typing import Any, Literal

import faust
from faust.types import AgentT

from cmo.adapters.avro import EventSerializer
from cmo.adapters.factory import make_serializer
from cmo.adapters.publisher import DurableProducer
from cmo.config import Settings
from cmo.domain import rollout
from cmo.domain.control import verify
from cmo.domain.rollout import FINISHED, RolloutConfig, RolloutPhase, RolloutStatus
from cmo.domain.rollout_metrics import CANARY, ROLLOUT, Alert, Criteria, Decision, WindowStats
from cmo.events import ControlCommand, WindowMetrics
from processors.controller_agent import (
    DEFAULT_TICK_S,
    DecisionPublisher,
    from_plain,
    internal_topic,
    require_control_key,
    stats_metrics,
    status_table,
    to_plain,
    wall_clock_ms,
    watched,
    window_stats,
)
from processors.faust_app import EventDecoder, event_topic

logger = logging.getLogger(__name__)

CONTROLLER = "rollout"
SUBJECT = "lightrag"
COMMAND_AGENT = "rollout-commands"
WINDOW_AGENT = "rollout-windows"
DECIDE_AGENT = "rollout-decide"
DEFAULT_MAX_COMMAND_AGE_MS = 300_000
IDLE = "idle"
DEFAULT_ROLLOUT = RolloutConfig()

Signal = Literal["start", "abort", "approve"]
VERB_SIGNALS: Mapping[tuple[str, str], Signal] = {
    ("canary-abort", CANARY): "abort",
    ("rollback", ROLLOUT): "abort",
    ("canary-promote", ROLLOUT): "approve",
}
"""(verb, target) -> signal: a multi-command verb acts on exactly one of its commands."""
START_VERBS = frozenset({"canary-start", "set"})


# -- pure mapping -------------------------------------------------------------------------
def operator_signal(cmd: ControlCommand, key: bytes, now_ms: int,
                    max_age_ms: int = DEFAULT_MAX_COMMAND_AGE_MS) -> Signal | None:
    """What a control command asks of the rollout (None: nothing)."""
    # Unsigned or signed with another key: routers ignore it, so do we.
    if not verify(cmd, key):
        return None
    # A controller's own write (ours included): not an operator's request.
    if cmd.actor.startswith("controller:"):
        return None
    # Replayed history (a new consumer group reads the compacted topic from the start).
    if now_ms - cmd.event_time > max_age_ms:
        return None
    if (cmd.command, cmd.target) in VERB_SIGNALS:
        return VERB_SIGNALS[(cmd.command, cmd.target)]
    if cmd.command in START_VERBS and cmd.target == CANARY and json.loads(cmd.value) is not None:
        return "start"
    return None


def is_idle(status: RolloutStatus | None) -> bool:
    """True when no rollout runs: never started, or finished (succeeded, failed, aborted)."""
    return status is None or status.phase in FINISHED


def with_alert(decision: Decision[RolloutStatus], before: RolloutPhase | None
               ) -> Decision[RolloutStatus]:
    """The decision with an alert for humans when it rolled back or aborted the canary."""
    phase = decision.status.phase
    if not decision.changed or phase is before:
        return decision
    if phase is RolloutPhase.FAILED:
        return replace(decision, alert=Alert("critical", CONTROLLER,
                                             f"LightRAG canary rolled back: {decision.reason}"))
    if phase is RolloutPhase.ABORTED:
        return replace(decision, alert=Alert("warning", CONTROLLER,
                                             f"LightRAG canary aborted: {decision.reason}"))
    return decision


def operator_promoted(status: RolloutStatus, now_ms: int, config: RolloutConfig
                      ) -> Decision[RolloutStatus]:
    """The rollout after a human promoted outside a gate: succeeded, nothing to write."""
    done = replace(status, phase=RolloutPhase.SUCCEEDED, canary_weight=None,
                   rollout_weight=100.0, since_ms=now_ms)
    return Decision(done, "promote", "promoted by operator (canary-promote)", True, [],
                    config.dry_run)


def decision_metrics(status: RolloutStatus, stats: WindowStats | None) -> dict[str, float]:
    """The numbers behind a rollout decision (window, stage and weights)."""
    metrics = stats_metrics(stats) if stats is not None else {}
    metrics.update(stage=float(status.stage), rollout_percentage=status.rollout_weight,
                   failed_checks=float(status.failed_checks))
    if status.canary_weight is not None:
        metrics["canary_percentage"] = status.canary_weight
    return metrics


# -- the handler (no Faust) ---------------------------------------------------------------
class RolloutProcessor:
    """Runs the canary rollout over operator signals, windows and timer ticks.

    ``table`` maps the subject to ``{"status", "stats", "seen_ms"}``: the status, the last
    window (None before the first) and when a window (or the silence check) last came.
    """

    def __init__(self, publisher: DecisionPublisher, table: MutableMapping[str, Any],
                 config: RolloutConfig, *, clock: Callable[[], int] = wall_clock_ms,
                 no_traffic_ms: int | None = None) -> None:
        self.publisher = publisher
        self.table = table
        self.config = config
        self.clock = clock
        self.no_traffic_ms = no_traffic_ms if no_traffic_ms is not None else 2 * config.interval_ms

    def status(self) -> RolloutStatus | None:
        entry = self.table.get(SUBJECT)
        return from_plain(RolloutStatus, entry["status"]) if entry else None

    def _stats(self) -> WindowStats | None:
        entry = self.table.get(SUBJECT)
        return from_plain(WindowStats, entry["stats"]) if entry and entry["stats"] else None

    def active(self) -> bool:
        """True while a rollout runs (the timer only ticks then)."""
        return not is_idle(self.status())

    def on_signal(self, signal: Signal, cause: str) -> None:
        """An operator's start / abort / approve (see :func:`operator_signal`)."""
        before, stats, now = self.status(), self._stats(), self.clock()
        if signal == "start" and is_idle(before):
            fresh = RolloutStatus(last_window_end_ms=before.last_window_end_ms if before else -1)
            self._apply(before, rollout.decide(fresh, stats or WindowStats(), now, self.config),
                        stats, cause, seen_ms=now)
        elif before is None or is_idle(before):
            logger.info("rollout %s: %s ignored, no rollout running (cause %s)", SUBJECT,
                        signal, cause)
        elif signal == "start":
            logger.info("rollout %s: start ignored, rollout already %s (cause %s)", SUBJECT,
                        before.phase.value, cause)
        elif signal == "approve" and before.phase is not RolloutPhase.WAITING_PROMOTION:
            self._apply(before, operator_promoted(before, now, self.config), stats, cause)
        else:
            decision = rollout.decide(before, stats or WindowStats(), now, self.config,
                                      "abort" if signal == "abort" else "approve")
            self._apply(before, decision, stats, cause)

    def on_window(self, stats: WindowStats, cause: str) -> None:
        """One closed tumbling window of LightRAG traffic (ignored while idle)."""
        before = self.status()
        if before is None or is_idle(before):
            return
        decision = rollout.decide(before, stats, self.clock(), self.config)
        self._apply(before, decision, stats, cause, seen_ms=self.clock())

    def on_tick(self) -> None:
        """Timer: re-decide with the last window, or an empty one after a silence."""
        before, stats, now = self.status(), self._stats(), self.clock()
        entry = self.table.get(SUBJECT)
        if before is None or entry is None or is_idle(before):
            return
        if now - int(entry.get("seen_ms", now)) >= self.no_traffic_ms:
            empty = WindowStats(window_end_ms=max(before.last_window_end_ms,
                                                  before.last_step_ms) + 1)
            self._apply(before, rollout.decide(before, empty, now, self.config), stats,
                        "timer: no window", seen_ms=now)
            return
        self._apply(before, rollout.decide(before, stats or WindowStats(), now, self.config),
                    stats, "timer")

    def _apply(self, before: RolloutStatus | None, decision: Decision[RolloutStatus],
               stats: WindowStats | None, cause: str, seen_ms: int | None = None) -> None:
        entry = self.table.get(SUBJECT) or {}
        seen = seen_ms if seen_ms is not None else entry.get("seen_ms", self.clock())
        if before is not None and decision.status == before and seen_ms is None:
            return  # nothing moved: no changelog write
        decision = with_alert(decision, before.phase if before else None)
        self.table[SUBJECT] = {"status": to_plain(decision.status),
                               "stats": to_plain(stats) if stats else None, "seen_ms": seen}
        if decision.changed:
            self.publisher.publish(CONTROLLER, SUBJECT, before.phase.value if before else IDLE,
                                   decision.status.phase.value, decision,
                                   decision_metrics(decision.status, stats), cause)


# -- the Faust adapter --------------------------------------------------------------------
def register_rollout_agent(app: faust.App, settings: Settings, producer: DurableProducer,
                           config: RolloutConfig = DEFAULT_ROLLOUT, *,
                           clock: Callable[[], int] = wall_clock_ms,
                           tick_interval_s: float = DEFAULT_TICK_S, dry_run: bool = False,
                           max_command_age_ms: int = DEFAULT_MAX_COMMAND_AGE_MS,
                           no_traffic_ms: int | None = None,
                           serializer: EventSerializer | None = None) -> list[AgentT[Any]]:
    """Add the canary rollout agents and their timer to ``app``.

    Args:
        app: from :func:`processors.faust_app.create_app` (may hold other controllers).
        settings: topic prefix, partitions and CMO_CONTROL_KEY (required: it verifies the
            operators' commands and signs the agent's own).
        producer: publishes decisions, alerts, signed commands and dead letters.
        config: stages, interval, criteria, limits, gates and dry run.
        clock: milliseconds since the epoch (the controller's ``now_ms``).
        tick_interval_s: how often the timer re-evaluates an active rollout.
        dry_run: publish decisions but write no control commands (as ``config.dry_run``).
        max_command_age_ms: older operator commands are history, not requests.
        no_traffic_ms: a silence this long is judged as an empty window (default 2 intervals).
        serializer: decodes the input events; defaults to :func:`make_serializer`.

    Raises:
        ConfigError: CMO_CONTROL_KEY is not set.
    """
    key = require_control_key(settings)
    publisher = DecisionPublisher(producer, key, dry_run=dry_run, clock=clock)
    decoder = EventDecoder(serializer or make_serializer(settings), producer,
                           settings.kafka_topic_prefix)
    inputs = internal_topic(app, settings, "rollout-input")
    processor = RolloutProcessor(publisher, status_table(app, settings, "rollout-status"),
                                 config, clock=clock, no_traffic_ms=no_traffic_ms)
    subject_key = SUBJECT.encode()

    async def forward_commands(stream: faust.StreamT[bytes]) -> None:
        async for value in stream:
            event = decoder.decode(value, stream.current_event)
            if not isinstance(event, ControlCommand):
                continue
            signal = operator_signal(event, key, clock(), max_command_age_ms)
            if signal is not None:
                await inputs.send(key=subject_key, value={"signal": signal,
                                                          "cause": event.event_id})

    async def forward_windows(stream: faust.StreamT[bytes]) -> None:
        async for value in stream:
            event = decoder.decode(value, stream.current_event)
            if isinstance(event, WindowMetrics) and watched(event) and event.backend == SUBJECT:
                await inputs.send(key=subject_key, value={"window": to_plain(window_stats(event)),
                                                          "cause": event.event_id})

    async def decide(stream: faust.StreamT[Any]) -> None:
        async for message in stream:
            if "signal" in message:
                processor.on_signal(message["signal"], str(message.get("cause", "?")))
            elif "window" in message:
                processor.on_window(from_plain(WindowStats, message["window"]),
                                    str(message.get("cause", "?")))
            else:
                processor.on_tick()

    async def rollout_timer() -> None:
        if processor.active():
            await inputs.send(key=subject_key, value={"tick": clock()})

    commands = event_topic(app, settings, ControlCommand)
    windows = event_topic(app, settings, WindowMetrics)
    agents: list[AgentT[Any]] = [app.agent(commands, name=COMMAND_AGENT)(forward_commands),
                                 app.agent(windows, name=WINDOW_AGENT)(forward_windows),
                                 app.agent(inputs, name=DECIDE_AGENT)(decide)]
    app.timer(tick_interval_s, name="rollout-tick")(rollout_timer)
    logger.info("rollout agent registered on %s and %s (stages %s, interval %d ms, "
                "min requests %d, gates %s, tick %.1fs%s)", commands.get_topic_name(),
                windows.get_topic_name(), ",".join(f"{w:g}" for w in config.stages),
                config.interval_ms, config.criteria.min_requests,
                sorted(config.gates) or "none", tick_interval_s,
                ", dry run" if dry_run or config.dry_run else "")
    return agents


# -- command line options (used by ``python -m processors controllers``) -----------------
def _stages(raw: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in raw.split(",") if part.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"stages are comma-separated numbers: {raw!r}") from exc


def add_rollout_arguments(parser: argparse.ArgumentParser) -> None:
    """Rollout stages, interval, minimum traffic and dry run as command-line options."""
    d = RolloutConfig()
    parser.add_argument("--rollout-stages", type=_stages, default=d.stages,
                        help="canary percentages, comma-separated (default "
                             f"{','.join(f'{w:g}' for w in d.stages)})")
    parser.add_argument("--rollout-interval-ms", type=int, default=d.interval_ms,
                        help="hold each stage at least this long (default %(default)s)")
    parser.add_argument("--rollout-min-requests", type=int, default=d.criteria.min_requests,
                        help="requests a window needs to be judged (default %(default)s)")
    parser.add_argument("--rollout-dry-run", action="store_true",
                        help="decide the rollout but write no canary/rollout flags")


def rollout_config_from(args: argparse.Namespace) -> RolloutConfig:
    """The :class:`RolloutConfig` the options of :func:`add_rollout_arguments` ask for."""
    try:
        return RolloutConfig(stages=tuple(args.rollout_stages),
                             interval_ms=args.rollout_interval_ms,
                             criteria=Criteria(min_requests=args.rollout_min_requests),
                             dry_run=args.rollout_dry_run)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None

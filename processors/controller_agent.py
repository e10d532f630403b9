"""Controller agent: the stream circuit breakers and LightRAG's auto-rollback, as Faust agents.

Consumes ``<prefix>.window-metrics``; every *tumbling*, per-backend (``variant`` None)
:class:`~cmo.events.WindowMetrics` becomes a :class:`~cmo.domain.rollout_metrics.WindowStats`
and is judged by the pure controllers: :func:`cmo.domain.breaker.decide` for its backend and,
for LightRAG, :func:`cmo.domain.auto_rollback.decide`. A decision that ``changed`` is published
as a :class:`~cmo.events.ControllerDecision`, its ``writes`` become *signed*
:class:`~cmo.events.ControlCommand` records on the control topic (actor ``controller:<name>``;
routers apply nothing unsigned, so the agent refuses to start without CMO_CONTROL_KEY), and
its alert becomes an :class:`~cmo.events.Alert`.

Flow (one writer per controller status, so the status tables stay consistent)::

    window-metrics --forward-windows--> <app_id>-controller-input (key: backend) --> decide
    timer (every tick_interval_s) -----> same topic, a tick for each cooled-down open breaker

Statuses live in Faust tables (``breaker-status`` keyed by backend, ``auto-rollback-status``
keyed by ``"lightrag"``), JSON in compacted changelogs, so a restarted worker carries on where
the last one stopped. Open -> half-open depends on time only: the timer re-evaluates the
breaker with the last window it saw, so it half-opens after its cool-down with no new window.

Delivery is at-least-once: a window re-processed after a crash is ignored by the controllers
(each judges a window once, by its end time); a transition re-made after a crash writes the
same flag values again.
"""

from __future__ import annotations

import argparse
import logging
import time
import uuid
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import fields, is_dataclass, replace
from enum import Enum
from typing import TYPE_CHECKING, Any, TypeVar, cast, get_type_hints

import faust
from faust.types import AgentT, TopicT

from cmo.adapters.avro import EventSerializer
from cmo.adapters.control_writer import build_commands
from cmo.adapters.factory import make_serializer
from cmo.adapters.publisher import DurableProducer
from cmo.config import Settings
from cmo.control_config import control_key
from cmo.domain import auto_rollback, breaker
from cmo.domain.auto_rollback import AutoRollbackConfig, AutoRollbackStatus
from cmo.domain.breaker import Backend, BreakerConfig, BreakerPhase, BreakerStatus
from cmo.domain.rollout_metrics import BREAKER_TARGETS, Decision, WindowStats
from cmo.events import Alert, ControllerDecision, WindowMetrics
from cmo.exceptions import ConfigError
from cmo.ports import EventPublisher
from processors.faust_app import EventDecoder, event_topic

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

logger = logging.getLogger(__name__)

SERVICE = "processors"
OUTBOX = "controllers"
"""Outbox name of the controllers worker (its own file, apart from other workers')."""
WINDOW_AGENT = "controller-windows"
CONTROL_AGENT = "controller-decide"
AUTO_ROLLBACK_SUBJECT = "lightrag"
DEFAULT_TICK_S = 1.0
DEFAULT_BREAKER = BreakerConfig()
DEFAULT_AUTO_ROLLBACK = AutoRollbackConfig()

D = TypeVar("D", bound="DataclassInstance")


def wall_clock_ms() -> int:
    return int(time.time() * 1000)


def _new_id() -> str:
    return str(uuid.uuid4())


# -- table values: the frozen status records as JSON-ready data ---------------------------
def to_plain(value: Any) -> Any:
    """A status/stats record as JSON-ready data (enums by value, sets as sorted lists)."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, frozenset | set):
        return sorted(to_plain(v) for v in value)
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    return value


def from_plain(cls: type[D], data: Mapping[str, Any]) -> D:
    """The inverse of :func:`to_plain`; fields missing from ``data`` take their defaults."""
    hints = get_type_hints(cls)
    values = {f.name: _typed(hints[f.name], data[f.name]) for f in fields(cls) if f.name in data}
    return cls(**values)


def _typed(hint: Any, raw: Any) -> Any:
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(raw)
    if isinstance(hint, type) and is_dataclass(hint):
        return from_plain(hint, raw)
    if getattr(hint, "__origin__", None) is frozenset:
        return frozenset(raw)
    return raw


# -- pure mapping -------------------------------------------------------------------------
def watched(event: WindowMetrics) -> bool:
    """True for the windows the controllers judge: tumbling, per backend (no variant)."""
    return event.window_kind == "tumbling" and event.variant is None


def window_stats(event: WindowMetrics) -> WindowStats:
    """The controllers' view of one window."""
    return WindowStats(requests=event.requests, errors=event.errors, timeouts=event.timeouts,
                       error_rate=event.error_rate, latency_p95_ms=event.latency_p95_ms,
                       quality_mean=event.quality_mean, quality_count=event.quality_count,
                       cost_usd=event.cost_usd, window_end_ms=event.window_end)


def stats_metrics(stats: WindowStats) -> dict[str, float]:
    """The numbers a decision was made on (for ``ControllerDecision.metrics``)."""
    values = {"requests": stats.requests, "errors": stats.errors, "error_rate": stats.error_rate,
              "latency_p95_ms": stats.latency_p95_ms, "quality_mean": stats.quality_mean,
              "cost_usd": stats.cost_usd, "window_end_ms": stats.window_end_ms}
    return {k: float(v) for k, v in values.items() if v is not None}


def breaker_backend(name: str) -> Backend | None:
    """The backend name as the breaker's type (None: no breaker for it)."""
    return cast(Backend, name) if name in BREAKER_TARGETS else None


def require_control_key(settings: Settings) -> bytes:
    """CMO_CONTROL_KEY as bytes; a controller that cannot sign must not start."""
    key = control_key(settings)
    if not key:
        raise ConfigError([("CMO_CONTROL_KEY: not set; controllers write signed control "
                            "commands and routers ignore unsigned ones, so nothing was started")])
    return key


# -- publishing a transition (shared by every controller) ---------------------------------
class DecisionPublisher:
    """Turns one changed :class:`Decision` into signed commands, a decision event and an alert."""

    def __init__(self, producer: EventPublisher, key: bytes, *, dry_run: bool = False,
                 clock: Callable[[], int] = wall_clock_ms, ids: Callable[[], str] = _new_id) -> None:
        self.producer = producer
        self.key = key
        self.dry_run = dry_run
        self.clock = clock
        self.ids = ids

    def publish(self, controller: str, subject: str, from_phase: str, to_phase: str,
                decision: Decision[Any], metrics: Mapping[str, float],
                cause: str) -> ControllerDecision:
        """Write the decision's flags (none in dry run), then the event, then the alert."""
        decision = replace(decision, dry_run=decision.dry_run or self.dry_run)
        actor = f"controller:{controller}"
        commands = [command for write in decision.writes
                    for command in build_commands("set", write, actor, decision.reason, self.key,
                                                  service=SERVICE)]
        event = ControllerDecision(
            event_id=self.ids(), event_time=self.clock(), correlation_id=subject,
            service=SERVICE, controller=controller, subject=subject, from_phase=from_phase,
            to_phase=to_phase, action=decision.action, reason=decision.reason,
            metrics=dict(metrics), dry_run=decision.dry_run)
        for command in commands:
            self.producer.publish(command)
        self.producer.publish(event)
        if decision.alert is not None:
            alert = decision.alert
            self.producer.publish(Alert(
                event_id=self.ids(), event_time=event.event_time, correlation_id=subject,
                service=SERVICE, severity=alert.severity, kind=alert.source,
                message=alert.message,
                details={"controller": controller, "subject": subject,
                         "action": decision.action, "decision_event_id": event.event_id}))
        written = ", ".join(f"{c.target}={c.value} ({c.event_id})" for c in commands)
        logger.info("%s %s: %s -> %s (action %s, decision %s, cause %s%s%s): %s", controller,
                    subject, from_phase, to_phase, decision.action, event.event_id, cause,
                    f"; wrote {written}" if written else "",
                    "; dry run" if decision.dry_run else "", decision.reason)
        return event


# -- the handler (no Faust) ---------------------------------------------------------------
class ControllerProcessor:
    """Runs the breakers and the auto-rollback over windows and timer ticks.

    ``breakers`` and ``rollbacks`` are the status tables (any mutable mapping): values are
    ``{"status": ..., "stats": ...}`` in :func:`to_plain` form.
    """

    def __init__(self, publisher: DecisionPublisher, breakers: MutableMapping[str, Any],
                 rollbacks: MutableMapping[str, Any], *,
                 breaker_config: BreakerConfig = DEFAULT_BREAKER,
                 auto_rollback_config: AutoRollbackConfig = DEFAULT_AUTO_ROLLBACK,
                 clock: Callable[[], int] = wall_clock_ms) -> None:
        self.publisher = publisher
        self.breakers = breakers
        self.rollbacks = rollbacks
        self.breaker_config = breaker_config
        self.auto_rollback_config = auto_rollback_config
        self.clock = clock

    def on_window(self, subject: str, stats: WindowStats, cause: str,
                  window_ms: int | None = None) -> None:
        """One closed window of ``subject``'s traffic, ``window_ms`` long (None: as configured)."""
        backend = breaker_backend(subject)
        if backend is not None:
            self._breaker(backend, stats, cause)
        if subject == AUTO_ROLLBACK_SUBJECT:
            self._auto_rollback(stats, cause, window_ms)

    def on_tick(self, subject: str) -> None:
        """Timer: re-evaluate ``subject``'s breaker with the last window it saw."""
        backend = breaker_backend(subject)
        entry = self.breakers.get(subject)
        if backend is not None and entry is not None:
            self._breaker(backend, from_plain(WindowStats, entry["stats"]), "timer")

    def due(self, now_ms: int) -> list[str]:
        """Backends whose open breaker has waited its cool-down (candidates for a tick)."""
        return [subject for subject, entry in list(self.breakers.items())
                if self._is_due(from_plain(BreakerStatus, entry["status"]), now_ms)]

    def _is_due(self, status: BreakerStatus, now_ms: int) -> bool:
        return (status.phase is BreakerPhase.OPEN
                and breaker.cooldown_over(status, now_ms, self.breaker_config))

    def _breaker(self, backend: Backend, stats: WindowStats, cause: str) -> None:
        entry = self.breakers.get(backend)
        before = (from_plain(BreakerStatus, entry["status"]) if entry
                  else BreakerStatus(backend=backend))
        last = from_plain(WindowStats, entry["stats"]) if entry else stats
        decision = breaker.decide(before, stats, self.clock(), self.breaker_config)
        newest = stats if stats.window_end_ms >= last.window_end_ms else last
        if entry is not None and decision.status == before and newest == last:
            return  # nothing moved (a timer tick, a repeated window): no changelog write
        self.breakers[backend] = {"status": to_plain(decision.status), "stats": to_plain(newest)}
        if decision.changed:
            self.publisher.publish("breaker", backend, before.phase.value,
                                   decision.status.phase.value, decision, stats_metrics(stats),
                                   cause)

    def _auto_rollback(self, stats: WindowStats, cause: str, window_ms: int | None) -> None:
        entry = self.rollbacks.get(AUTO_ROLLBACK_SUBJECT)
        before = from_plain(AutoRollbackStatus, entry["status"]) if entry else AutoRollbackStatus()
        config = self.auto_rollback_config
        if window_ms:  # runs are measured in the windows actually received
            config = replace(config, window_ms=window_ms)
        decision = auto_rollback.decide(before, stats, self.clock(), config)
        if decision.status == before:
            return
        self.rollbacks[AUTO_ROLLBACK_SUBJECT] = {"status": to_plain(decision.status),
                                                 "stats": to_plain(stats)}
        if decision.changed:
            self.publisher.publish("auto-rollback", AUTO_ROLLBACK_SUBJECT, before.phase.value,
                                   decision.status.phase.value, decision, stats_metrics(stats),
                                   cause)


# -- the Faust adapter --------------------------------------------------------------------
def internal_topic(app: faust.App, settings: Settings, suffix: str) -> TopicT:
    """A worker-private topic ``<app_id>-<suffix>`` (bytes key, JSON value) Faust declares."""
    return app.topic(f"{app.conf.id}-{suffix}", internal=True, key_type=bytes,
                     key_serializer="raw", value_serializer="json",
                     partitions=settings.kafka_partitions, retention=7 * 24 * 3600.0)


def status_table(app: faust.App, settings: Settings, name: str) -> MutableMapping[str, Any]:
    """A Faust table of JSON statuses keyed by subject, changelogged (survives restarts)."""
    table = app.Table(name, partitions=settings.kafka_partitions,
                      schema=faust.Schema(key_serializer="json", value_serializer="json"),
                      help=f"{name}: controller status by subject")
    return cast(MutableMapping[str, Any], table)


def register_controller_agent(app: faust.App, settings: Settings, producer: DurableProducer, *,
                              breaker_config: BreakerConfig = DEFAULT_BREAKER,
                              auto_rollback_config: AutoRollbackConfig = DEFAULT_AUTO_ROLLBACK,
                              clock: Callable[[], int] = wall_clock_ms,
                              tick_interval_s: float = DEFAULT_TICK_S, dry_run: bool = False,
                              serializer: EventSerializer | None = None) -> list[AgentT[Any]]:
    """Add the breaker / auto-rollback agents and the cool-down timer to ``app``.

    Args:
        app: from :func:`processors.faust_app.create_app`.
        settings: topic prefix, partitions and CMO_CONTROL_KEY (required).
        producer: publishes decisions, alerts, signed commands and dead letters; the caller
            closes it after the worker stopped.
        breaker_config / auto_rollback_config: the controllers' thresholds.
        clock: milliseconds since the epoch (the controllers' ``now_ms``).
        tick_interval_s: how often the timer looks for breakers to half-open.
        dry_run: decide and publish decisions, but write no control commands.
        serializer: decodes window metrics; defaults to :func:`make_serializer`.

    Raises:
        ConfigError: CMO_CONTROL_KEY is not set.
    """
    publisher = DecisionPublisher(producer, require_control_key(settings), dry_run=dry_run,
                                  clock=clock)
    decoder = EventDecoder(serializer or make_serializer(settings), producer,
                           settings.kafka_topic_prefix)
    inputs = internal_topic(app, settings, "controller-input")
    processor = ControllerProcessor(
        publisher, status_table(app, settings, "breaker-status"),
        status_table(app, settings, "auto-rollback-status"), breaker_config=breaker_config,
        auto_rollback_config=auto_rollback_config, clock=clock)

    async def forward_windows(stream: faust.StreamT[bytes]) -> None:
        async for value in stream:
            event = decoder.decode(value, stream.current_event)
            if isinstance(event, WindowMetrics) and watched(event):
                await inputs.send(key=event.backend.encode(),
                                  value={"window": to_plain(window_stats(event)),
                                         "window_ms": event.window_end - event.window_start,
                                         "cause": event.event_id})

    async def decide(stream: faust.StreamT[Any]) -> None:
        async for key, message in stream.items():
            subject = bytes(key).decode()
            if "window" in message:
                processor.on_window(subject, from_plain(WindowStats, message["window"]),
                                    str(message.get("cause", "?")), message.get("window_ms"))
            else:
                processor.on_tick(subject)

    async def cooldown_timer() -> None:
        now = clock()
        for subject in processor.due(now):
            await inputs.send(key=subject.encode(), value={"tick": now})

    windows = event_topic(app, settings, WindowMetrics)
    agents: list[AgentT[Any]] = [app.agent(windows, name=WINDOW_AGENT)(forward_windows),
                                 app.agent(inputs, name=CONTROL_AGENT)(decide)]
    app.timer(tick_interval_s, name="breaker-cooldown")(cooldown_timer)
    logger.info("controller agent registered on %s (breaker %s, auto-rollback %d triggers, "
                "tick %.1fs%s)", windows.get_topic_name(), breaker_config,
                len(auto_rollback_config.triggers), tick_interval_s,
                ", dry run" if dry_run else "")
    return agents


# -- command line options (used by ``python -m processors controllers``) -----------------
def add_controller_arguments(parser: argparse.ArgumentParser) -> None:
    """Breaker thresholds, the timer interval and dry run as command-line options."""
    d = BreakerConfig()
    parser.add_argument("--breaker-threshold", type=float, default=d.threshold,
                        help="error rate that opens a breaker (default %(default)s)")
    parser.add_argument("--breaker-min-requests", type=int, default=d.min_requests,
                        help="requests a window needs to open a breaker (default %(default)s)")
    parser.add_argument("--breaker-cooldown-ms", type=int, default=d.cooldown_ms,
                        help="open -> half-open after this long (default %(default)s)")
    parser.add_argument("--breaker-probe-percentage", type=float, default=d.probe_percentage,
                        help="LightRAG traffic let through when half-open (default %(default)s)")
    parser.add_argument("--breaker-successes", type=int, default=d.successes_to_close,
                        help="good probe windows that close a breaker (default %(default)s)")
    parser.add_argument("--tick-interval", type=float, default=DEFAULT_TICK_S,
                        help="seconds between cool-down checks (default %(default)s)")
    parser.add_argument("--dry-run", action="store_true",
                        help="publish decisions but write no control commands")


def breaker_config_from(args: argparse.Namespace) -> BreakerConfig:
    """The :class:`BreakerConfig` the options of :func:`add_controller_arguments` ask for."""
    return BreakerConfig(threshold=args.breaker_threshold, min_requests=args.breaker_min_requests,
                         cooldown_ms=args.breaker_cooldown_ms,
                         probe_percentage=args.breaker_probe_percentage,
                         successes_to_close=args.breaker_successes)

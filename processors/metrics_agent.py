"""Metrics agent: windowed serving metrics per backend, published as ``WindowMetrics``.

One Faust app (one consumer group), three stages:

1. *ingest* agents on ``<prefix>.responses``, ``<prefix>.quality`` and ``<prefix>.costs``
   decode each record (undecodable ones go to ``<topic>.dlq``, see
   :class:`processors.faust_app.EventDecoder`), turn the event into a
   :class:`~cmo.domain.windows.Sample` and forward it, keyed by backend, to the internal
   topic ``<app_id>-samples`` (declared by Faust with the same partition count), so
   one worker owns all of a backend's samples whatever partition the event arrived on;
2. the *aggregate* agent folds each sample into the backend's
   :class:`~cmo.domain.windows.WindowStore`, held in the table ``windows`` (changelog
   ``<app_id>-windows-changelog``; key: backend bytes, value: :meth:`BackendState.to_dict`),
   so a restarted worker recovers its open windows;
3. a timer closes windows on wall-clock time (``end + grace_ms <= now``), also when no later
   event arrives, publishes one ``WindowMetrics`` per closed window (``correlation_id`` =
   backend, ``service`` = ``processors``) and stores what is left.

What counts. Responses: latency, ``error is not None`` and ``error_kind == "timeout"``; shadow
responses (``is_shadow``) are not served to users and are left out. Quality scores and costs
count for their backend whether the call served or shadowed (neither event says, and a
shadow call's cost is real spend). Per rollout variant: the router stamps the routing
decision's ``variant`` on the response and cost events (the quality worker copies it from the
response), so a sample with a variant counts in its backend's windows *and* in its
``(backend, variant)`` windows, each closed as its own ``WindowMetrics``.

Delivery. Faust runs at-least-once: after a crash, records after the last committed offset
are processed again, so ingest may forward a sample twice and the aggregator may read a
sample twice. Every sample carries its source position (topic, partition, offset) and the
backend's table record keeps, next to its windows, the highest offset applied per source
partition: one changelog record holds both, so a sample is applied exactly once (samples of
one source partition reach the aggregator in offset order). ``processing_guarantee=
"exactly_once"`` is not used: Faust binds one transactional producer to each *partition
number* and commits it only when input offsets of that partition advance, so a sample
forwarded to another partition stays invisible (read_committed) until that partition sees
input, or is aborted by the broker at the transaction timeout (a lone event never produced
its ``WindowMetrics`` in a test with exactly_once). ``WindowMetrics`` are published before
the table stores the close: a crash in between publishes the window again after restart,
with the same ``event_id`` (a UUID5 of app, backend, variant, kind and bounds), so
consumers deduplicate it. A sample for an already closed window is dropped and counted in
``WindowStore.late``.
"""

from __future__ import annotations

import json
import logging
import math
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import faust
from faust.types import AgentT, EventT, TableT, TopicT

from cmo.adapters.avro import EventSerializer
from cmo.adapters.factory import make_producer, make_serializer
from cmo.adapters.publisher import DurableProducer
from cmo.config import Settings
from cmo.domain.ab_analysis import ABConfig
from cmo.domain.windows import (
    Sample,
    WindowKey,
    WindowSpec,
    WindowStore,
    WindowSummary,
    metrics_fields,
)
from cmo.events import CostRecorded, Event, QualityScored, ResponseGenerated, WindowMetrics
from processors.faust_app import (
    DEFAULT_WEB_PORT,
    EventDecoder,
    changelog_ready,
    create_app,
    event_topic,
)

logger = logging.getLogger(__name__)

SERVICE = "processors"
DEFAULT_APP_ID = "cmo-metrics"
TABLE_NAME = "windows"
SAMPLES_SUFFIX = "samples"
DEFAULT_SPECS = (WindowSpec("tumbling", 10_000), WindowSpec("hopping", 60_000, 10_000))
DEFAULT_GRACE_MS = 2_000
DEFAULT_TICK_S = 1.0
_SOURCES: tuple[type[Event], ...] = (ResponseGenerated, QualityScored, CostRecorded)
EXPERIMENT_KEY = b"lightrag"
"""Key of the A/B samples: one experiment, the variants of the LightRAG routing flag."""
_IDS = uuid.UUID("6f1d2c3e-8a47-4b0e-9d51-3c2f7e9a1b84")  # namespace of WindowMetrics ids


# -- pure logic ---------------------------------------------------------------------------
def sample_for(event: Event) -> Sample | None:
    """The sample an event contributes, or ``None`` (shadow responses, other events): the
    readable definition that the hot path's :func:`sample_row` is tested against.

    Raises:
        ValueError: the event carries an impossible value (negative or infinite latency).
    """
    if isinstance(event, ResponseGenerated):
        if event.is_shadow:
            return None
        return Sample(backend=event.backend, variant=event.variant,
                      timestamp_ms=event.event_time, latency_ms=event.latency_ms,
                      error=event.error is not None, timeout=event.error_kind == "timeout")
    if isinstance(event, QualityScored):
        return Sample(backend=event.backend, variant=event.variant,
                      timestamp_ms=event.event_time, quality=event.composite)
    if isinstance(event, CostRecorded):
        return Sample(backend=event.backend, variant=event.variant,
                      timestamp_ms=event.event_time, cost_usd=event.usd)
    return None


def sample_row(name: str, record: Mapping[str, Any], topic: str, partition: int,
               offset: int) -> list[Any] | None:
    """The samples-topic row (:data:`_ROW` layout) of an event's Avro record, built
    directly (the ingest hot path creates no objects per event); same rules and errors as
    :func:`sample_for`."""
    if name == "ResponseGenerated":
        if record["is_shadow"]:
            return None
        latency = float(record["latency_ms"])
        if not 0.0 <= latency < math.inf:
            raise ValueError(f"latency_ms must be finite and >= 0, got {latency}")
        return [record["backend"], record.get("variant"), int(record["event_time"]), latency,
                record["error"] is not None, record["error_kind"] == "timeout", None, 0.0,
                topic, partition, offset]
    if name == "QualityScored":
        return [record["backend"], record.get("variant"), int(record["event_time"]), None,
                False, False, float(record["composite"]), 0.0, topic, partition, offset]
    if name == "CostRecorded":
        return [record["backend"], record.get("variant"), int(record["event_time"]), None,
                False, False, None, float(record["usd"]), topic, partition, offset]
    return None


@dataclass(frozen=True, slots=True)
class SourcePosition:
    """Where the event behind a sample was read: ``topic[partition]@offset``."""

    topic: str
    partition: int
    offset: int

    @property
    def tp(self) -> str:
        return f"{self.topic}[{self.partition}]"


_ROW = 11
"""Fields of a samples-topic row: the sample's fields (backend, variant, timestamp_ms,
latency_ms, error, timeout, quality, cost_usd), then its source topic, partition, offset.
Rows are positional because this is the hot path (see :func:`sample_row`)."""


def _dumps(rows: list[list[Any]]) -> bytes:
    return json.dumps(rows, separators=(",", ":")).encode()


def decode_samples(data: bytes | None) -> list[tuple[Sample, SourcePosition]]:
    """The samples of a samples-topic value (a JSON list of :data:`_ROW`-field rows).

    Raises:
        ValueError: not a samples record.
    """
    try:
        rows = json.loads(data or b"")
        if not isinstance(rows, list) or any(len(row) != _ROW for row in rows):
            raise ValueError(f"rows of {_ROW} fields expected")
        return [(Sample(backend=r[0], variant=r[1], timestamp_ms=int(r[2]), latency_ms=r[3],
                        error=bool(r[4]), timeout=bool(r[5]), quality=r[6],
                        cost_usd=float(r[7])),
                 SourcePosition(str(r[8]), int(r[9]), int(r[10]))) for r in rows]
    except (TypeError, KeyError, AttributeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not a metrics sample: {exc}") from exc


def fresh_samples(applied: Mapping[str, int], items: Iterable[tuple[Sample, SourcePosition]]
                  ) -> tuple[list[Sample], dict[str, int]]:
    """The samples whose source offset is past the highest applied one of its partition, and
    the new highest offsets (samples of one source partition come in offset order)."""
    highest = dict(applied)
    fresh: list[Sample] = []
    for sample, source in items:
        if source.offset <= highest.get(source.tp, -1):
            continue
        fresh.append(sample)
        highest[source.tp] = source.offset
    return fresh, highest


@dataclass(frozen=True)
class BackendState:
    """One backend's table record: its windows and the source offsets already applied.

    ``partition``: the samples-topic partition the backend lives on (the timer closes only
    backends of partitions this worker actively owns). ``applied``: highest offset applied
    per source partition (``topic[partition]``), the guard against double counting.
    """

    partition: int
    store: WindowStore
    applied: Mapping[str, int] = field(default_factory=dict)

    def add_all(self, items: Iterable[tuple[Sample, SourcePosition]]) -> tuple[BackendState, int]:
        """The state with every sample not applied before added (one copy of the windows),
        and how many were added; samples of one source partition come in offset order."""
        fresh, applied = fresh_samples(self.applied, items)
        if not fresh:
            return self, 0
        return replace(self, store=self.store.add_all(fresh), applied=applied), len(fresh)

    def close_due(self, now_ms: int, grace_ms: int
                  ) -> tuple[list[tuple[WindowKey, WindowSummary]], BackendState]:
        closed, store = self.store.close_due(now_ms, grace_ms)
        return closed, replace(self, store=store)

    def to_dict(self) -> dict[str, Any]:
        return {"partition": self.partition, "store": self.store.to_dict(),
                "applied": dict(self.applied)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], specs: Iterable[WindowSpec]) -> BackendState:
        return cls(int(data["partition"]), WindowStore.from_dict(data["store"], specs),
                   {str(k): int(v) for k, v in data["applied"].items()})


def metrics_event_id(app_id: str, key: WindowKey) -> str:
    """Deterministic id of a window's ``WindowMetrics``: a re-publication has the same id."""
    name = f"{app_id}/{key.backend}/{key.variant or ''}/{key.window_kind}/{key.start}/{key.end}"
    return str(uuid.uuid5(_IDS, name))


def window_metrics(key: WindowKey, summary: WindowSummary, *, app_id: str,
                   now_ms: int) -> WindowMetrics:
    """The ``WindowMetrics`` event of a closed window, keyed by backend."""
    return WindowMetrics(event_id=metrics_event_id(app_id, key), event_time=now_ms,
                         correlation_id=key.backend, service=SERVICE,
                         **metrics_fields(key, summary))


def _now_ms() -> int:
    return int(time.time() * 1000)


# -- the handler (no Faust) ---------------------------------------------------------------
class WindowAggregator:
    """Applies samples to table records and closes their due windows; records are dicts."""

    def __init__(self, producer: DurableProducer, *, app_id: str,
                 specs: Iterable[WindowSpec] = DEFAULT_SPECS, grace_ms: int = DEFAULT_GRACE_MS,
                 clock: Callable[[], int] = _now_ms) -> None:
        self.producer = producer
        self.app_id = app_id
        self.specs = tuple(specs)
        self.grace_ms = grace_ms
        self.clock = clock
        WindowStore(self.specs).close_due(0, grace_ms)  # validates specs and grace now
        self.applied = 0
        self.duplicates = 0
        self.published = 0

    def add_batch(self, record: Mapping[str, Any] | None,
                  items: list[tuple[Sample, SourcePosition]],
                  partition: int) -> dict[str, Any] | None:
        """One backend's samples folded in at once (one decode and one encode of its record,
        one changelog write); ``None`` when every sample was already applied."""
        state = (BackendState(partition, WindowStore(self.specs)) if record is None
                 else BackendState.from_dict(record, self.specs))
        late = state.store.late
        updated, added = state.add_all(items)
        self.duplicates += len(items) - added
        if not added:
            logger.debug("skipping %d duplicate samples of %s", len(items), items[0][0].backend)
            return None
        if updated.store.late > late:
            logger.info("%d late samples for %s missed closed windows",
                        updated.store.late - late, items[0][0].backend)
        self.applied += added
        return updated.to_dict()

    def close(self, record: Mapping[str, Any]) -> dict[str, Any] | None:
        """Publish a ``WindowMetrics`` per due window; the record to store (``None``: none due)."""
        now = self.clock()
        closed, state = BackendState.from_dict(record, self.specs).close_due(now, self.grace_ms)
        if not closed:
            return None
        for key, summary in closed:
            self.producer.publish(window_metrics(key, summary, app_id=self.app_id, now_ms=now))
            logger.info("closed %s window [%s, %s) of %s: %d requests, %d errors, %d timeouts",
                        key.window_kind, key.start, key.end, key.backend, summary.requests,
                        summary.errors, summary.timeouts)
        self.published += len(closed)
        return state.to_dict()


# -- the Faust adapter --------------------------------------------------------------------
@dataclass(frozen=True)
class MetricsAgent:
    """What :func:`register_metrics_agent` added to the app."""

    ingest: tuple[AgentT[bytes], ...]
    aggregate: AgentT[bytes]
    samples: TopicT
    table: TableT[bytes, Any]
    aggregator: WindowAggregator


def samples_topic_name(app_id: str) -> str:
    """The internal repartition topic: ``<app_id>-samples`` (one per app)."""
    return f"{app_id}-{SAMPLES_SUFFIX}"


def group_samples(events: Iterable[EventT[Any]], key_of: Callable[[Sample], bytes]
                  ) -> dict[bytes, tuple[int, list[tuple[Sample, SourcePosition]]]]:
    """A batch of samples-topic records as ``table key -> (partition, samples)``;
    undecodable records (our own topic: a bug, not bad input) are logged and skipped."""
    batches: dict[bytes, tuple[int, list[tuple[Sample, SourcePosition]]]] = {}
    for current in events:
        try:
            items = decode_samples(current.value)
        except ValueError as exc:
            where = _position(current)
            logger.error("skipping %s@%s: %s", where.tp, where.offset, exc)
            continue
        for sample, source in items:
            batches.setdefault(key_of(sample), (current.message.partition, []))[1].append(
                (sample, source))
    return batches


def owned_partitions(app: faust.App, topic: TopicT) -> set[int]:
    """Partitions of ``topic`` this worker actively owns (its timers act on those only)."""
    return {tp.partition for tp in app.assignor.assigned_actives()
            if tp.topic == topic.get_topic_name()}


def _position(event: EventT[Any]) -> SourcePosition:
    message = event.message
    return SourcePosition(message.topic, message.partition, message.offset)


def register_metrics_agent(app: faust.App, settings: Settings, producer: DurableProducer, *,
                           specs: Iterable[WindowSpec] = DEFAULT_SPECS,
                           grace_ms: int = DEFAULT_GRACE_MS, tick_s: float = DEFAULT_TICK_S,
                           clock: Callable[[], int] = _now_ms,
                           serializer: EventSerializer | None = None,
                           batch_size: int = 2_000, batch_within_s: float = 0.05,
                           variant_topic: TopicT | None = None) -> MetricsAgent:
    """Add the metrics pipeline (ingest agents, aggregate agent, table, timer) to ``app``.

    Args:
        app: from :func:`processors.faust_app.create_app`; its id names the internal topics.
        settings: topic prefix and partitions (the samples topic gets as many).
        producer: publishes ``WindowMetrics`` and dead letters; the caller closes it after
            the worker stopped.
        specs: the window kinds (unique ``kind`` names); default tumbling 10 s and hopping
            60 s every 10 s.
        grace_ms: a window closes at wall-clock ``end + grace_ms``.
        tick_s: how often the timer looks for due windows.
        clock: wall clock in epoch ms (tests pass their own).
        serializer: decodes source events; defaults to :func:`make_serializer`.
        batch_size, batch_within_s: the aggregator folds up to ``batch_size`` samples at a
            time, waiting at most ``batch_within_s`` for a batch to fill.
        variant_topic: samples that carry a rollout variant are also sent there (keyed by
            :data:`EXPERIMENT_KEY`) for the A/B analysis (:mod:`processors.ab_agent`).
    """
    app_id = str(app.conf.id)
    decoder = EventDecoder(serializer or make_serializer(settings), producer,
                           settings.kafka_topic_prefix)
    aggregator = WindowAggregator(producer, app_id=app_id, specs=specs, grace_ms=grace_ms,
                                  clock=clock)
    samples = app.topic(samples_topic_name(app_id), internal=True,
                        partitions=settings.kafka_partitions, key_type=bytes, value_type=bytes,
                        key_serializer="raw", value_serializer="raw")
    # use_partitioner: the changelog partition of a key is its hash, as on the samples
    # topic (same raw key bytes, same partitioner), so the timer may write it too.
    table: TableT[bytes, Any] = app.Table(
        TABLE_NAME, default=None, partitions=settings.kafka_partitions,
        key_type=bytes, value_type=None,  # Faust: bytes -> raw codec, None -> json
        use_partitioner=True, help="open metric windows per backend")

    async def forward(stream: faust.StreamT[bytes]) -> None:
        # Batches: one samples message per backend per batch (each sample keeps its source
        # offset); the batch's source offsets are acknowledged after the sends.
        async for events in stream.take_events(  # type: ignore[attr-defined]
                batch_size, within=batch_within_s):
            per_backend: dict[str, list[list[Any]]] = {}
            for current in events:
                decoded = decoder.decode_record(current.value, current)
                if decoded is None:
                    continue
                message = current.message
                try:
                    row = sample_row(*decoded, message.topic, message.partition, message.offset)
                except (ValueError, KeyError, TypeError) as exc:
                    decoder._dead_letter(current, current.value or b"", exc)  # as decoding
                    continue
                if row is not None:
                    per_backend.setdefault(row[0], []).append(row)
            for backend, rows in per_backend.items():
                await samples.send(key=backend.encode(), value=_dumps(rows))
            variants = [row for rows in per_backend.values() for row in rows
                        if row[1] is not None]
            if variant_topic is not None and variants:
                await variant_topic.send(key=EXPERIMENT_KEY, value=_dumps(variants))

    async def aggregate(stream: faust.StreamT[bytes]) -> None:
        # Batches: a backend's record is decoded, updated and written to the changelog once
        # per batch, not once per sample (the record holds all its open windows).
        async for events in stream.take_events(  # type: ignore[attr-defined]
                batch_size, within=batch_within_s):
            batches = group_samples(events, lambda sample: sample.backend.encode())
            await changelog_ready(app, table)
            for key, (partition, items) in batches.items():
                record = aggregator.add_batch(table.get(key), items, partition)
                if record is not None:
                    table[key] = record

    async def close_windows() -> None:
        if app.rebalancing or app.in_recovery:
            return
        owned = owned_partitions(app, samples)
        await changelog_ready(app, table)
        for key, record in list(table.items()):
            if record is None or int(record["partition"]) not in owned:
                continue
            try:
                remaining = aggregator.close(record)
            except Exception:  # one backend's failure must not stop the others
                logger.exception("closing the windows of %s failed; retrying next tick", key)
                continue
            if remaining is not None:
                table[key] = remaining

    ingest = tuple(app.agent(event_topic(app, settings, source), name=f"metrics-{source.stream}")
                   (forward) for source in _SOURCES)
    aggregate_agent: AgentT[bytes] = app.agent(samples, name="metrics-windows")(aggregate)
    app.timer(tick_s, name="metrics-close-windows")(close_windows)
    logger.info("metrics agent registered: %s -> %s, windows %s, grace %d ms, tick %.2f s",
                ", ".join(topic_name_of(a) for a in ingest), samples.get_topic_name(),
                ", ".join(_describe(s) for s in aggregator.specs), grace_ms, tick_s)
    return MetricsAgent(ingest, aggregate_agent, samples, table, aggregator)


def topic_name_of(agent: AgentT[bytes]) -> str:
    """The topic an agent consumes (for logs)."""
    channel = agent.channel
    return channel.get_topic_name() if isinstance(channel, TopicT) else str(channel)


def _describe(spec: WindowSpec) -> str:
    if spec.step_ms is None:
        return f"{spec.kind} {spec.size_ms} ms"
    return f"{spec.kind} {spec.size_ms} ms every {spec.step_ms} ms"


def window_specs(tumbling_ms: int, hopping_ms: int, hop_ms: int) -> tuple[WindowSpec, ...]:
    """Tumbling ``tumbling_ms`` and hopping ``hopping_ms`` every ``hop_ms`` (0 = leave out)."""
    specs = [WindowSpec("tumbling", tumbling_ms)] if tumbling_ms else []
    if hopping_ms:
        specs.append(WindowSpec("hopping", hopping_ms, hop_ms))
    if not specs:
        raise ValueError("at least one window kind is needed")
    return tuple(specs)


def run_metrics(settings: Settings, *, app_id: str = DEFAULT_APP_ID,
                web_port: int | None = None, loglevel: str = "info",
                specs: Iterable[WindowSpec] = DEFAULT_SPECS, grace_ms: int = DEFAULT_GRACE_MS,
                tick_s: float = DEFAULT_TICK_S, ab_interval_s: float = 30.0,
                ab_min_samples: int = 100, **faust_overrides: Any) -> None:
    """Run the metrics worker until a signal stops it (raises SystemExit when done).

    The same worker runs the A/B analysis of rollout variants every ``ab_interval_s``
    (no winner before ``ab_min_samples`` per variant and test).

    ``faust_overrides`` go to :func:`processors.faust_app.create_app` (e.g.
    ``broker_session_timeout``, ``broker_commit_interval``).
    """
    # Larger fetches and stream buffers: the agents work in batches (see take_events).
    options: dict[str, Any] = {"broker_max_poll_records": 2_000,
                               "stream_buffer_maxsize": 16_384, **faust_overrides}
    app = create_app(settings, app_id, web_enabled=web_port is not None,
                     web_port=web_port or DEFAULT_WEB_PORT, **options)
    from processors.ab_agent import register_ab_agent  # it imports this module

    producer = make_producer(settings, "metrics")  # its own outbox file
    try:
        ab = register_ab_agent(app, settings, producer, interval_s=ab_interval_s,
                               config=ABConfig(min_samples=ab_min_samples))
        register_metrics_agent(app, settings, producer, specs=specs, grace_ms=grace_ms,
                               tick_s=tick_s, variant_topic=ab.topic)
        faust.Worker(app, loglevel=loglevel).execute_from_commandline()
    finally:
        left = producer.close()
        logger.info("metrics worker stopped (%d events left in the outbox)", left)

"""A/B agent: per-variant tallies of the rollout experiment and their analysis, published
as ``ControllerDecision`` events (controller ``ab-test``). Runs in the metrics worker.

The metrics ingest agents send every sample that carries a variant (the router stamps the
routing decision's variant on responses and costs; the quality worker copies it onto scores)
to ``<app_id>-ab-samples``, keyed by the experiment (:data:`~processors.metrics_agent.
EXPERIMENT_KEY`), so one worker holds the whole experiment. The ``ab`` agent folds them into
an :class:`~cmo.domain.ab_tally.ABTally` kept in the table ``ab-tally`` (changelog, so a
restarted worker carries on; each sample is applied once, by its source offset, exactly as
in the metrics aggregator). Every ``interval_s`` a timer analyses the tally when it changed
(:func:`cmo.domain.ab_tally.analyse`: z-test on error rate, Mann-Whitney U on quality, no
winner before the minimum sample size) and publishes one ``ControllerDecision`` per pair of
variants: ``from_phase``/``to_phase`` are the previous and new verdicts (``collecting``,
``no-winner``, ``winner:<variant>``), ``action`` ``declare-winner`` or ``keep-collecting``,
``metrics`` the sample sizes, rates, p-values and effect sizes. It declares; it does not
change flags (promotion stays with the rollout controller and the operators).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import faust
from faust.types import TableT, TopicT

from cmo.config import Settings
from cmo.domain.ab_analysis import ABConfig
from cmo.domain.ab_tally import ABTally, Observation, analyse
from cmo.domain.windows import Sample
from cmo.events import ControllerDecision
from cmo.ports import EventPublisher
from processors.faust_app import changelog_ready
from processors.metrics_agent import (
    EXPERIMENT_KEY,
    SERVICE,
    SourcePosition,
    fresh_samples,
    group_samples,
    owned_partitions,
)

logger = logging.getLogger(__name__)

CONTROLLER = "ab-test"
TABLE_NAME = "ab-tally"
SUFFIX = "ab-samples"
DEFAULT_CONFIG = ABConfig()


def observation(sample: Sample) -> Observation | None:
    """What a sample tells the experiment (cost records tell it nothing)."""
    if sample.variant is None:
        return None
    if sample.is_response:
        return Observation(sample.variant, response=True, error=sample.error)
    if sample.quality is not None:
        return Observation(sample.variant, quality=sample.quality)
    return None


@dataclass(frozen=True)
class ABRecord:
    """The table value: the tally, applied source offsets, the last verdict per pair."""

    partition: int
    tally: ABTally
    applied: Mapping[str, int]
    phases: Mapping[str, str]
    analyzed: int

    def to_dict(self) -> dict[str, Any]:
        return {"partition": self.partition, "tally": self.tally.to_dict(),
                "applied": dict(self.applied), "phases": dict(self.phases),
                "analyzed": self.analyzed}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, partition: int) -> ABRecord:
        if data is None:
            return cls(partition, ABTally(), {}, {}, 0)
        return cls(int(data["partition"]), ABTally.from_dict(data["tally"]),
                   {str(k): int(v) for k, v in data["applied"].items()},
                   {str(k): str(v) for k, v in data["phases"].items()}, int(data["analyzed"]))


class ABProcessor:
    """Folds samples into records and publishes the analysis (records are dicts)."""

    def __init__(self, producer: EventPublisher, config: ABConfig,
                 clock: Callable[[], int]) -> None:
        self.producer = producer
        self.config = config
        self.clock = clock

    def add(self, record: Mapping[str, Any] | None, items: list[tuple[Sample, SourcePosition]],
            partition: int) -> dict[str, Any] | None:
        """The new record, or ``None`` when every sample was applied before."""
        state = ABRecord.from_dict(record, partition)
        fresh, applied = fresh_samples(state.applied, items)
        if not fresh:
            return None
        observations = [o for o in map(observation, fresh) if o is not None]
        return ABRecord(state.partition, state.tally.add_all(observations), applied,
                        state.phases, state.analyzed).to_dict()

    def analyse(self, record: Mapping[str, Any], subject_key: str) -> dict[str, Any] | None:
        """Publish one decision per pair if the tally changed; the record to store."""
        state = ABRecord.from_dict(record, int(record["partition"]))
        if state.tally.observed == state.analyzed:
            return None
        phases = dict(state.phases)
        for verdict in analyse(state.tally, self.config):
            before = phases.get(verdict.subject, "collecting")
            winner = verdict.result.winner
            self.producer.publish(ControllerDecision(
                event_id=str(uuid.uuid4()), event_time=self.clock(), correlation_id=subject_key,
                service=SERVICE, controller=CONTROLLER, subject=verdict.subject,
                from_phase=before, to_phase=verdict.phase,
                action="declare-winner" if winner else "keep-collecting",
                reason=verdict.result.reason, metrics=verdict.metrics()))
            logger.info("A/B %s: %s -> %s (%s)", verdict.subject, before, verdict.phase,
                        verdict.result.reason)
            phases[verdict.subject] = verdict.phase
        return ABRecord(state.partition, state.tally, state.applied, phases,
                        state.tally.observed).to_dict()


@dataclass(frozen=True)
class ABAgent:
    topic: TopicT
    table: TableT[bytes, Any]
    processor: ABProcessor


def register_ab_agent(app: faust.App, settings: Settings, producer: EventPublisher, *,
                      interval_s: float = 30.0, config: ABConfig = DEFAULT_CONFIG,
                      clock: Callable[[], int] = lambda: int(time.time() * 1000),
                      batch_size: int = 2_000, batch_within_s: float = 0.05) -> ABAgent:
    """Add the A/B topic, table, agent and analysis timer to ``app``."""
    topic = app.topic(f"{app.conf.id}-{SUFFIX}", internal=True,
                      partitions=settings.kafka_partitions, key_type=bytes, value_type=bytes,
                      key_serializer="raw", value_serializer="raw")
    table: TableT[bytes, Any] = app.Table(
        TABLE_NAME, default=None, partitions=settings.kafka_partitions, key_type=bytes,
        value_type=None, use_partitioner=True, help="A/B tallies per experiment")
    processor = ABProcessor(producer, config, clock)

    async def tally(stream: faust.StreamT[bytes]) -> None:
        async for events in stream.take_events(  # type: ignore[attr-defined]
                batch_size, within=batch_within_s):
            batches = group_samples(events, lambda _sample: EXPERIMENT_KEY)
            await changelog_ready(app, table)
            for key, (partition, items) in batches.items():
                record = processor.add(table.get(key), items, partition)
                if record is not None:
                    table[key] = record

    async def analyse_timer() -> None:
        if app.rebalancing or app.in_recovery:
            return
        owned = owned_partitions(app, topic)
        await changelog_ready(app, table)
        for key, record in _owned(table.items(), owned):
            try:
                updated = processor.analyse(record, key.decode())
            except Exception:  # never stop the worker; retried next interval
                logger.exception("A/B analysis of %r failed", key)
                continue
            if updated is not None:
                table[key] = updated

    app.agent(topic, name="ab-tally")(tally)
    app.timer(interval_s, name="ab-analysis")(analyse_timer)
    return ABAgent(topic, table, processor)


def _owned(items: Iterable[tuple[bytes, Any]], owned: set[int]
           ) -> list[tuple[bytes, Mapping[str, Any]]]:
    return [(k, v) for k, v in list(items) if v is not None and int(v["partition"]) in owned]

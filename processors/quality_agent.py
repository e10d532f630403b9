"""Quality agent: scores every answered response and publishes ``QualityScored``.

Consumes ``<prefix>.responses``; for each :class:`~cmo.events.ResponseGenerated` with an
answer (shadow responses included: the shadow comparison needs their quality too) the
cited quotes become the scorer's passages and the resulting score is published on
``<prefix>.quality`` through a :class:`~cmo.adapters.publisher.DurableProducer`.
Responses with an error or an empty answer are skipped (nothing to score). Undecodable
records go to ``<prefix>.responses.dlq`` (see :class:`processors.faust_app.EventDecoder`).
A scorer failure is logged and the response skipped; the agent keeps going.

Delivery is at-least-once: Faust commits offsets after processing, so a restart may
score a response again and publish a second ``QualityScored`` with a new ``event_id``.
Consumers deduplicate on ``response_event_id``.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable

import faust
from faust.types import AgentT

from cmo.adapters.avro import EventSerializer
from cmo.adapters.factory import make_serializer
from cmo.adapters.publisher import DurableProducer
from cmo.config import Settings
from cmo.events import QualityScored, ResponseGenerated
from cmo.quality.model import Passage, QualityScore, QualityScorer
from processors.faust_app import EventDecoder, event_topic

logger = logging.getLogger(__name__)

SERVICE = "processors"
AGENT_NAME = "quality-scorer"


# -- pure logic ---------------------------------------------------------------------------
def skip_reason(response: ResponseGenerated) -> str | None:
    """Why a response is not scored (``None``: score it)."""
    if response.error:
        return f"errored ({response.error_kind or 'error'})"
    if not response.answer.strip():
        return "empty answer"
    return None


def passages_for(response: ResponseGenerated) -> list[Passage]:
    """One cited passage per citation, in citation order."""
    return [Passage(text=c.quote, cited=True, document_id=c.document_id, page=c.page)
            for c in response.citations]


def quality_event(response: ResponseGenerated, score: QualityScore, *, event_id: str,
                  event_time: int) -> QualityScored:
    """The ``QualityScored`` event for one response's score (same correlation id)."""
    return QualityScored(event_id=event_id, event_time=event_time,
                         correlation_id=response.correlation_id, service=SERVICE,
                         response_event_id=response.event_id, backend=response.backend,
                         relevance=score.relevance, accuracy=score.accuracy,
                         factual=score.factual, composite=score.composite,
                         meets_threshold=score.meets_threshold, scorer=score.scorer,
                         issues=tuple(score.issues), variant=response.variant)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _new_id() -> str:
    return str(uuid.uuid4())


# -- the handler (no Faust) ---------------------------------------------------------------
class QualityProcessor:
    """Scores one response and publishes the result; never raises for a scorer failure."""

    def __init__(self, scorer: QualityScorer, producer: DurableProducer,
                 clock: Callable[[], int] = _now_ms, ids: Callable[[], str] = _new_id) -> None:
        self.scorer = scorer
        self.producer = producer
        self.clock = clock
        self.ids = ids
        self.scored = 0
        self.skipped = 0
        self.failed = 0

    async def handle(self, response: ResponseGenerated) -> QualityScored | None:
        """Score and publish; returns the published event, or ``None`` when skipped/failed."""
        reason = skip_reason(response)
        if reason is not None:
            logger.debug("not scoring response %s: %s", response.event_id, reason)
            self.skipped += 1
            return None
        try:
            score = await self.scorer.score(response.question or "", response.answer,
                                            passages_for(response))
        except Exception as exc:  # noqa: BLE001 -- a scorer bug must not stop the stream
            logger.warning("scorer %s failed on response %s (%s): %s",
                           getattr(self.scorer, "name", "?"), response.event_id,
                           type(exc).__name__, exc)
            self.failed += 1
            return None
        event = quality_event(response, score, event_id=self.ids(), event_time=self.clock())
        self.producer.publish(event)
        self.scored += 1
        logger.debug("scored response %s: composite %.3f (%s)", response.event_id,
                     score.composite, score.scorer)
        return event


# -- the Faust adapter --------------------------------------------------------------------
def register_quality_agent(app: faust.App, settings: Settings, scorer: QualityScorer,
                           producer: DurableProducer, *,
                           serializer: EventSerializer | None = None,
                           concurrency: int = 1) -> AgentT[bytes]:
    """Add the quality agent to ``app``; returns the agent.

    Args:
        app: from :func:`processors.faust_app.create_app`.
        settings: topic prefix and partitions.
        scorer: any :class:`~cmo.quality.model.QualityScorer`.
        producer: publishes ``QualityScored`` and the dead letters; the caller closes it
            after the worker stopped.
        serializer: decodes responses; defaults to :func:`make_serializer`.
        concurrency: Faust actors per worker (>1 trades per-partition order for speed).
    """
    decoder = EventDecoder(serializer or make_serializer(settings), producer,
                           settings.kafka_topic_prefix)
    processor = QualityProcessor(scorer, producer)
    topic = event_topic(app, settings, ResponseGenerated)

    async def score_responses(stream: faust.StreamT[bytes]) -> None:
        async for value in stream:
            event = decoder.decode(value, stream.current_event)
            if isinstance(event, ResponseGenerated):
                await processor.handle(event)

    agent: AgentT[bytes] = app.agent(topic, name=AGENT_NAME,
                                     concurrency=concurrency)(score_responses)
    logger.info("quality agent registered on %s (scorer %s)", topic.get_topic_name(),
                getattr(scorer, "name", type(scorer).__name__))
    return agent

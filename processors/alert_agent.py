"""Faust agent: every Alert event goes to the configured destinations (webhook, email)."""

from __future__ import annotations

import logging

import faust
from faust.types import AgentT

from cmo.adapters.avro import EventSerializer
from cmo.adapters.factory import make_serializer
from cmo.adapters.publisher import DurableProducer
from cmo.config import Settings
from cmo.events import Alert
from processors.alert_delivery import AlertDispatcher
from processors.faust_app import EventDecoder, event_topic

logger = logging.getLogger(__name__)

AGENT_NAME = "alert-delivery"


def register_alert_agent(app: faust.App, settings: Settings, dispatcher: AlertDispatcher,
                         producer: DurableProducer, *,
                         serializer: EventSerializer | None = None) -> AgentT[bytes]:
    """Add the delivery agent; deliveries run in the background so the stream never waits."""
    decoder = EventDecoder(serializer or make_serializer(settings), producer, settings.kafka_topic_prefix)
    topic = event_topic(app, settings, Alert)

    async def deliver(stream: faust.StreamT[bytes]) -> None:
        async for value in stream:
            event = decoder.decode(value, stream.current_event)
            if isinstance(event, Alert):
                dispatcher.dispatch(event)

    agent: AgentT[bytes] = app.agent(topic, name=AGENT_NAME)(deliver)
    logger.info("alert delivery registered on %s to %s", topic.get_topic_name(),
                ", ".join(s.name for s in dispatcher.sinks) or "no destination")
    return agent

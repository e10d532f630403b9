"""The main job on the embedded default: stream one event of every type through Kafka.

Publishes :func:`producers.samples.sample_events` with the durable producer, then
reads them back from their topics with the DLQ-aware consumer.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from cmo.adapters.consumer import Consumed, EventConsumer
from cmo.adapters.factory import make_producer, make_serializer
from cmo.config import Settings
from cmo.topics import topic_name
from producers.samples import sample_events


def stream_samples(settings: Settings, timeout: float = 30.0,
                   on_event: Callable[[Consumed], None] | None = None) -> list[Consumed]:
    """Publish one sample of each event type and return them as consumed back, in arrival order."""
    serializer = make_serializer(settings)
    events = sample_events(int(time.time() * 1000))
    wanted = {e.event_id for e in events}
    topics = sorted({topic_name(settings.kafka_topic_prefix, e) for e in events})
    with make_producer(settings, "demo", serializer) as producer:
        for event in events:
            producer.publish(event)
        producer.flush(timeout)
        got: list[Consumed] = []
        with EventConsumer(settings.kafka_bootstrap_servers, f"cmo-demo-{uuid.uuid4()}", topics,
                           serializer, producer, settings.kafka_topic_prefix) as consumer:
            deadline = time.monotonic() + timeout
            while wanted and time.monotonic() < deadline:
                for consumed in consumer.poll(0.5):
                    if consumed.event.event_id in wanted:
                        wanted.discard(consumed.event.event_id)
                        got.append(consumed)
                        if on_event:
                            on_event(consumed)
    if wanted:
        raise TimeoutError(f"{len(wanted)} demo events did not come back within {timeout:.0f}s")
    return got

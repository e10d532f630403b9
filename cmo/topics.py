"""Topic layout: one topic per event stream under a configurable prefix.

``<prefix>.<stream>`` for each event type (``cmo.queries``, ``cmo.responses``...),
``<topic>.dlq`` for its dead letters. The control topic is compacted (latest command
per target survives) and kept forever; everything else is deleted by retention.
Pure: no Kafka client here.
"""

from __future__ import annotations

from dataclasses import dataclass

from cmo.events import REGISTRY, Event

DLQ_SUFFIX = ".dlq"


@dataclass(frozen=True)
class TopicSpec:
    """What ``cmo topics create`` makes."""

    name: str
    partitions: int
    config: dict[str, str]


def topic_name(prefix: str, event: type[Event] | Event | str) -> str:
    """Topic of an event class, instance or record name."""
    if isinstance(event, str):
        cls = REGISTRY[event]
    elif isinstance(event, Event):
        cls = type(event)
    else:
        cls = event
    return f"{prefix}.{cls.stream}"


def dlq_name(topic: str) -> str:
    return topic + DLQ_SUFFIX


def topic_specs(prefix: str, partitions: int, retention_ms: int) -> list[TopicSpec]:
    """Every event topic and its dead-letter topic, with partitions and retention."""
    specs: list[TopicSpec] = []
    for name in sorted(REGISTRY):
        topic = topic_name(prefix, name)
        if REGISTRY[name].stream == "control":
            # Compacted, never deleted: routers replay it at start to rebuild flag state.
            config = {"cleanup.policy": "compact", "retention.ms": "-1",
                      "min.compaction.lag.ms": "60000"}
            specs.append(TopicSpec(topic, 1, config))  # one partition: one global order
        else:
            specs.append(TopicSpec(topic, partitions, {"retention.ms": str(retention_ms)}))
        specs.append(TopicSpec(dlq_name(topic), 1, {"retention.ms": str(retention_ms)}))
    return specs


def event_for_topic(prefix: str, topic: str) -> str:
    """Record name carried by a topic (the inverse of :func:`topic_name`)."""
    for name, cls in REGISTRY.items():
        if topic == f"{prefix}.{cls.stream}":
            return name
    raise KeyError(f"{topic!r} is not an event topic under prefix {prefix!r}")

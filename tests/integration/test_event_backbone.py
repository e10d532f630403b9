"""The event backbone against the real broker: round trips, DLQ, outbox across outages."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from confluent_kafka import Producer

from cmo.adapters.avro import SingleObjectSerializer
from cmo.adapters.factory import make_producer
from cmo.adapters.kafka_admin import create_topics
from cmo.adapters.local_broker import LocalBroker, default_libs_dir
from cmo.adapters.publisher import DurableProducer
from cmo.config import Settings
from cmo.events import QueryReceived
from cmo.topics import dlq_name, topic_name, topic_specs
from producers.samples import sample_events
from tests.conftest import free_port
from tests.integration.helpers import consume_events, consume_raw

pytestmark = pytest.mark.integration


def _query(i: int, key: str = "q") -> QueryReceived:
    return QueryReceived(event_id=f"00000000-0000-4000-8000-{i:012d}", event_time=1_795_000_000_000 + i,
                         correlation_id=f"{key}{i % 7}", service="test", session_id="s",
                         user_id="u", query_text=f"question {i}")


def test_every_event_type_round_trips_through_kafka(settings: Settings,
                                                    serializer: SingleObjectSerializer) -> None:
    events = sample_events(int(time.time() * 1000))
    topics = sorted({topic_name(settings.kafka_topic_prefix, e) for e in events})
    with make_producer(settings, "test", serializer) as producer:
        for event in events:
            producer.publish(event)
        assert producer.flush(30) == 0
        got = consume_events(settings.kafka_bootstrap_servers, topics, serializer, producer,
                             settings.kafka_topic_prefix, lambda g: len(g) >= len(events))
    by_id = {c.event.event_id: c for c in got}
    assert len(got) == len(events)
    for event in events:
        consumed = by_id[event.event_id]
        assert consumed.event == event
        assert consumed.topic == topic_name(settings.kafka_topic_prefix, event)


def test_per_key_order_is_kept(settings: Settings, serializer: SingleObjectSerializer) -> None:
    with make_producer(settings, "test", serializer) as producer:
        events = [_query(i) for i in range(300)]
        for event in events:
            producer.publish(event)
        producer.flush(30)
        got = consume_events(settings.kafka_bootstrap_servers,
                             [topic_name(settings.kafka_topic_prefix, QueryReceived)], serializer,
                             producer, settings.kafka_topic_prefix, lambda g: len(g) >= 300)
    for key in {e.key for e in events}:
        sent = [e.event_id for e in events if e.key == key]
        assert [c.event.event_id for c in got if c.event.key == key] == sent


def test_bad_records_go_to_the_dlq_and_consumption_goes_on(settings: Settings,
                                                          serializer: SingleObjectSerializer) -> None:
    topic = topic_name(settings.kafka_topic_prefix, QueryReceived)
    alert = [e for e in sample_events(1) if type(e).__name__ == "Alert"][0]
    raw = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers})
    raw.produce(topic, b"\x00garbage\xff", b"k1")                    # undecodable
    raw.produce(topic, serializer.encode(alert, topic), b"k2")        # wrong schema for topic
    raw.produce(topic, serializer.encode(_query(1), topic), b"k3")    # good, after the bad ones
    raw.flush(10)
    with make_producer(settings, "test", serializer) as producer:
        got = consume_events(settings.kafka_bootstrap_servers, [topic], serializer, producer,
                             settings.kafka_topic_prefix, lambda g: len(g) >= 1)
        assert producer.flush(30) == 0
    assert [c.event for c in got] == [_query(1)]
    dead = consume_raw(settings.kafka_bootstrap_servers, dlq_name(topic), 2)
    assert [m.value() for m in dead] == [b"\x00garbage\xff", serializer.encode(alert, topic)]
    for msg, error in zip(dead, ("single-object", "expected a QueryReceived record, got Alert")):
        headers = {k: v.decode() for k, v in msg.headers()}
        assert headers["dlq.source.topic"] == topic
        assert headers["dlq.source.partition"].isdigit() and headers["dlq.source.offset"].isdigit()
        assert error in headers["dlq.error"]
        assert headers["dlq.error.class"] == "SerializationError"


@pytest.fixture
def own_broker(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A broker this test may stop and restart (the session broker stays untouched)."""
    port = free_port()
    kafka = LocalBroker(tmp_path / "kafka", default_libs_dir(), port=port, controller_port=port + 1)
    kafka.start(timeout=120)
    yield kafka
    kafka.stop()


def test_broker_outage_events_wait_in_outbox_and_arrive_once(own_broker: LocalBroker, tmp_path: Path,
                                                             serializer: SingleObjectSerializer) -> None:
    prefix = "outage"
    create_topics(own_broker.bootstrap_servers, topic_specs(prefix, 2, 3_600_000))
    # a small producer queue, so the outage also overflows it into the outbox-only path
    producer = DurableProducer(own_broker.bootstrap_servers, serializer, tmp_path / "outbox.db",
                               prefix, extra_config={"queue.buffering.max.messages": 300})
    for i in range(200):
        producer.publish(_query(i))
    assert producer.flush(30) == 0
    own_broker.stop()
    started = time.monotonic()
    for i in range(200, 1200):  # broker down: accepted without blocking
        producer.publish(_query(i))
    assert time.monotonic() - started < 5
    time.sleep(2)
    assert producer.pending >= 1000  # every accepted, unacknowledged event is in the outbox
    own_broker.start(timeout=120)
    for i in range(1200, 1300):
        producer.publish(_query(i))
    assert producer.flush(90) == 0
    got = consume_events(own_broker.bootstrap_servers, [f"{prefix}.queries"], serializer, producer,
                         prefix, lambda g: len(g) >= 1300, timeout=60)
    producer.close()
    ids = [c.event.event_id for c in got]
    assert len(ids) == len(set(ids)) == 1300
    for key in {c.event.key for c in got}:
        order = [c.event.event_time for c in got if c.event.key == key]
        assert order == sorted(order)


CRASHER = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from cmo.adapters.avro import SchemaStore, SingleObjectSerializer
    from cmo.adapters.factory import schema_dir
    from cmo.adapters.publisher import DurableProducer
    from tests.integration.test_event_backbone import _query
    producer = DurableProducer(sys.argv[1], SingleObjectSerializer(SchemaStore(schema_dir())),
                               Path(sys.argv[2]), "crash")
    for i in range(500):
        producer.publish(_query(i, key="c"))
    os._exit(9)  # crash: no flush, no close
""")


def test_accepted_events_survive_a_process_crash(broker: LocalBroker, tmp_path: Path,
                                                 serializer: SingleObjectSerializer) -> None:
    outbox = tmp_path / "outbox.db"
    dead_port = f"127.0.0.1:{free_port()}"  # nothing listens: events stay in the outbox
    proc = subprocess.run([sys.executable, "-c", CRASHER, dead_port, str(outbox)],
                          cwd=Path(__file__).resolve().parents[2], timeout=60)
    assert proc.returncode == 9
    create_topics(broker.bootstrap_servers, topic_specs("crash", 2, 3_600_000))
    with DurableProducer(broker.bootstrap_servers, serializer, outbox, "crash") as producer:
        assert producer.pending == 500
        assert producer.flush(60) == 0
        got = consume_events(broker.bootstrap_servers, ["crash.queries"], serializer, producer,
                             "crash", lambda g: len(g) >= 500)
    assert sorted(c.event.event_id for c in got) == sorted(_query(i, "c").event_id for i in range(500))


def test_undeliverable_event_is_set_aside_and_does_not_block(broker: LocalBroker, tmp_path: Path,
                                                              serializer: SingleObjectSerializer) -> None:
    create_topics(broker.bootstrap_servers, topic_specs("poison", 1, 3_600_000))
    with DurableProducer(broker.bootstrap_servers, serializer, tmp_path / "outbox.db", "poison",
                         extra_config={"topic.metadata.propagation.max.ms": 1000}) as producer:
        producer.publish_raw("poison.no-such-topic", b"k", b"v")  # topic does not exist
        producer.publish(_query(1))
        deadline = time.monotonic() + 30
        while producer.outbox.dead_count() == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert producer.outbox.dead_count() == 1
        assert producer.flush(30) == 0
        got = consume_events(broker.bootstrap_servers, ["poison.queries"], serializer, producer,
                             "poison", lambda g: len(g) >= 1)
    assert [c.event for c in got] == [_query(1)]

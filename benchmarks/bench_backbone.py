"""Event backbone throughput on the real broker (printed figures, not a test).

Measures, in one process and one run:
  * raw confluent-kafka produce of pre-encoded bytes (baseline),
  * Avro encode + DurableProducer.publish (write-ahead SQLite outbox, the default),
  * raw consume, and consume + Avro decode through EventConsumer.
Target (issue 2): >= 50,000 events/s encode+produce, within 2x of raw.

Usage: .venv/bin/python benchmarks/bench_backbone.py [--events N]
Starts a throwaway local broker unless --bootstrap is given.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path

from confluent_kafka import Consumer, Producer

from cmo.adapters.avro import SchemaStore, SingleObjectSerializer
from cmo.adapters.consumer import EventConsumer
from cmo.adapters.factory import schema_dir
from cmo.adapters.kafka_admin import create_topics
from cmo.adapters.local_broker import LocalBroker, default_libs_dir
from cmo.adapters.publisher import DurableProducer, producer_config
from cmo.events import QueryReceived
from cmo.topics import TopicSpec, topic_specs


def events(n: int) -> list[QueryReceived]:
    base = int(time.time() * 1000)
    return [QueryReceived(event_id=str(uuid.uuid4()), event_time=base + i, correlation_id=f"q{i}",
                          service="bench", session_id="s-1", user_id="u-5f2e",
                          query_text="Which metabolites distinguish type 2 diabetes in plasma?",
                          mode="hybrid", language="en", channel="api") for i in range(n)]


def raw_produce(bootstrap: str, topic: str, payloads: list[tuple[bytes, bytes]]) -> float:
    producer = Producer(producer_config(bootstrap))
    start = time.perf_counter()
    for key, value in payloads:
        while True:
            try:
                producer.produce(topic, value, key)
                break
            except BufferError:
                producer.poll(0.01)
        producer.poll(0)
    producer.flush(120)
    return time.perf_counter() - start


def durable_produce(bootstrap: str, prefix: str, evs: list[QueryReceived], ser: SingleObjectSerializer,
                    outbox: Path, batch: int = 1) -> float:
    producer = DurableProducer(bootstrap, ser, outbox, prefix, message_timeout_ms=120_000)
    start = time.perf_counter()
    if batch == 1:
        for event in evs:
            producer.publish(event)
    else:
        for i in range(0, len(evs), batch):
            producer.publish_many(evs[i:i + batch])
    left = producer.flush(300)
    elapsed = time.perf_counter() - start
    producer.close()
    assert left == 0, f"{left} events not delivered"
    return elapsed


def raw_consume(bootstrap: str, topic: str, n: int) -> float:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"b-{uuid.uuid4()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    got, start = 0, 0.0
    while got < n:
        batch = sum(1 for m in consumer.consume(1000, 1.0) if m.error() is None)
        if batch and not got:
            start = time.perf_counter()  # clock starts at the first record: group join excluded
        got += batch
    elapsed = time.perf_counter() - start
    consumer.close()
    return elapsed


def decoded_consume(bootstrap: str, prefix: str, n: int, ser: SingleObjectSerializer, dlq: DurableProducer) -> float:
    got, start = 0, 0.0
    with EventConsumer(bootstrap, f"b-{uuid.uuid4()}", [f"{prefix}.queries"], ser, dlq, prefix) as consumer:
        while got < n:
            batch = len(consumer.poll(1.0, 1000))
            if batch and not got:
                start = time.perf_counter()
            got += batch
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--bootstrap", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        broker = None
        bootstrap = args.bootstrap
        if bootstrap is None:
            broker = LocalBroker(Path(tmp) / "kafka", default_libs_dir(), port=29092, controller_port=29093)
            bootstrap = broker.start(timeout=120).bootstrap_servers
        try:
            run(bootstrap, args.events, Path(tmp))
        finally:
            if broker:
                broker.stop()


def run(bootstrap: str, n: int, tmp: Path) -> None:
    prefix = f"bench{uuid.uuid4().hex[:6]}"
    create_topics(bootstrap, topic_specs(prefix, 3, 3_600_000) + [TopicSpec(f"{prefix}.raw", 3, {})])
    ser = SingleObjectSerializer(SchemaStore(schema_dir()))
    evs = events(n)
    payloads = [(e.key.encode(), ser.encode(e, "")) for e in evs]
    t0 = time.perf_counter()
    for e in evs:
        ser.encode(e, "")
    enc = time.perf_counter() - t0
    t_raw = raw_produce(bootstrap, f"{prefix}.raw", payloads)
    t_dur = durable_produce(bootstrap, prefix, evs, ser, tmp / "outbox.db")
    t_batch = durable_produce(bootstrap, prefix, evs, ser, tmp / "outbox-b.db", batch=100)
    t_rawc = raw_consume(bootstrap, f"{prefix}.raw", n)
    n_total = 2 * n  # the topic holds both durable runs
    with DurableProducer(bootstrap, ser, tmp / "dlq-outbox.db", prefix) as dlq:
        t_dec = decoded_consume(bootstrap, prefix, n_total, ser, dlq) * n / n_total
    print(f"events: {n:,} QueryReceived (~{len(payloads[0][1])} bytes each), broker {bootstrap}")
    print(f"  Avro encode only                      {n / enc:>10,.0f} events/s")
    print(f"  raw produce, pre-encoded (baseline)   {n / t_raw:>10,.0f} events/s")
    print(f"  Avro encode + durable produce         {n / t_dur:>10,.0f} events/s   "
          f"ratio raw/durable = {t_dur / t_raw:.2f}x")
    print(f"  Avro encode + durable publish_many    {n / t_batch:>10,.0f} events/s   "
          f"ratio raw/durable = {t_batch / t_raw:.2f}x  (batches of 100, one outbox commit each)")
    print(f"  raw consume (baseline)                {n / t_rawc:>10,.0f} events/s")
    print(f"  consume + Avro decode                 {n / t_dec:>10,.0f} events/s   "
          f"ratio = {t_dec / t_rawc:.2f}x")
    for label, t in (("publish", t_dur), ("publish_many", t_batch)):
        ok = n / t >= 50_000 and t / t_raw <= 2.0
        print(f"target >= 50,000 events/s and within 2x of raw ({label}): {'MET' if ok else 'NOT MET'}")


if __name__ == "__main__":
    main()

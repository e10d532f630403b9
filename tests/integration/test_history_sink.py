"""History sink on the real broker and real chDB: SIGKILL between insert and commit, replay, DLQ."""

from __future__ import annotations

import signal
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from cmo.adapters.factory import make_producer
from cmo.config import Settings
from cmo.events import REGISTRY
from cmo.history.client import open_chdb
from cmo.history.schema_map import snake
from cmo.history.sink import DEFAULT_GROUP, HistorySink
from cmo.topics import dlq_name, topic_name
from tests.history_seed import seed_events
from tests.integration.helpers import consume_raw
from tests.integration.worker_process import worker_env

pytestmark = pytest.mark.integration

# A sink subprocess that SIGKILLs itself right after its first insert, before the commit.
KILLED_SINK = """
import os, signal, sys
from pathlib import Path
from cmo.config import Settings
from cmo.history.client import open_chdb
from cmo.history.migrations import migrate
from cmo.history.sink import HistorySink

def die(result):
    if result.rows:
        os.kill(os.getpid(), signal.SIGKILL)

settings = Settings(_env_file=None)
store = open_chdb(Path(sys.argv[1]))
migrate(store)
HistorySink(settings, store, batch_size=40, after_insert=die).run(once=True)
sys.exit(3)
"""


def _counts(path: Path, prefix: str = "") -> dict[str, int]:
    with open_chdb(path) as store:
        return {name: int(store.read(f"SELECT count() FROM {prefix}{snake(name)}").result_rows[0][0])
                for name in REGISTRY}


def _duplicates(path: Path) -> dict[str, int]:
    """Rows stored more than once per table (before FINAL collapses them)."""
    with open_chdb(path) as store:
        return {name: int(store.read(f"SELECT count() - uniqExact(event_id) FROM raw_{snake(name)}"
                                     ).result_rows[0][0]) for name in REGISTRY}


def _committed(settings: Settings, group: str) -> int:
    """Sum of committed offsets of the group over every event topic partition."""
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers, "group.id": group})
    try:
        parts = [TopicPartition(topic_name(settings.kafka_topic_prefix, n), p)
                 for n in REGISTRY for p in range(settings.kafka_partitions)]
        return sum(max(tp.offset, 0) for tp in consumer.committed(parts, timeout=10))
    finally:
        consumer.close()


def test_sink_killed_between_insert_and_commit_then_replayed(settings: Settings, tmp_path: Path) -> None:
    events = seed_events()
    expected = Counter(type(e).__name__ for e in events)
    with make_producer(settings, "seeder") as producer:
        producer.publish_many(events)
        producer.publish(events[0])  # an outbox re-send: the same event twice on the topic
        queries = topic_name(settings.kafka_topic_prefix, "QueryReceived")
        producer.publish_raw(queries, b"bad", b"not avro at all", [])
        assert producer.flush(30) == 0
    data = tmp_path / "history"

    # 1. the sink dies by SIGKILL after inserting its first batch, before committing offsets
    proc = subprocess.run([sys.executable, "-c", KILLED_SINK, str(data)], env=worker_env(settings),
                          capture_output=True, timeout=120, check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    after_kill = _counts(data, "raw_")
    assert 0 < sum(after_kill.values()) < len(events)  # the batch reached the table...
    assert _committed(settings, DEFAULT_GROUP) == 0  # ...but no offset was committed

    # 2. a restarted sink re-reads that batch and finishes: every event exactly once
    with open_chdb(data) as store, HistorySink(settings, store) as sink:
        stats = sink.run(once=True)
    assert stats.skipped >= sum(after_kill.values())
    assert stats.dead_lettered == 1
    assert _counts(data) == {n: expected[n] for n in REGISTRY}
    # the killed batch was looked up and skipped, not stored again; only the producer's re-send
    # of events[0] (a new offset) may sit twice in its table until a merge, hidden by FINAL
    assert _duplicates(data) in ({n: 0 for n in REGISTRY}, {**{n: 0 for n in REGISTRY}, "QueryReceived": 1})
    dlq = consume_raw(settings.kafka_bootstrap_servers, dlq_name(queries), 1)
    assert [m.value() for m in dlq] == [b"not avro at all"]

    # 3. a full replay from the beginning under a new group leaves every count unchanged
    with open_chdb(data) as store, HistorySink(settings, store, group_id=f"replay-{uuid.uuid4()}",
                                              batch_size=7) as sink:
        replay = sink.run(once=True)
    assert replay.consumed == len(events) + 2 and replay.inserted == 0
    assert _counts(data) == {n: expected[n] for n in REGISTRY}
    assert _duplicates(data) in ({n: 0 for n in REGISTRY}, {**{n: 0 for n in REGISTRY}, "QueryReceived": 1})
    assert _committed(settings, DEFAULT_GROUP) == len(events) + 2  # + the re-send + the bad record

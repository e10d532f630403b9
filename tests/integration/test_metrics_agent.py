"""The metrics agent as a real Faust worker against the real broker.

The first test runs the real entry point ``python -m processors metrics`` with small windows
(tumbling 2 s, hopping 4 s every 2 s, grace 500 ms) and checks the ``WindowMetrics`` of
both backends, published by the wall-clock timer with no later event. The second kills the
worker with SIGKILL after half of the events were applied but before any offset was
committed, restarts it and checks that the closed windows count every event exactly once.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from cmo.adapters.avro import SingleObjectSerializer
from cmo.adapters.factory import make_producer
from cmo.adapters.publisher import DurableProducer
from cmo.config import Settings
from cmo.events import CostRecorded, Event, QualityScored, ResponseGenerated, WindowMetrics
from cmo.topics import dlq_name, topic_name
from processors.metrics_agent import TABLE_NAME, samples_topic_name
from tests.integration.helpers import consume_events, consume_raw
from tests.integration.test_quality_agent import Worker, _start, _worker_env

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

TUMBLING_MS, HOPPING_MS, HOP_MS = 2_000, 4_000, 2_000
READY = b"[^Worker]: Ready"

# lightrag: 20 responses, 4 errors of which 2 timeouts; perplexity: 8 responses, 1 error.
LIGHTRAG_LATENCIES = [100.0 + 10.0 * i for i in range(20)]
LIGHTRAG_ERRORS = {2: ("timeout", True), 7: ("http", False), 11: ("timeout", True),
                   14: ("empty", False)}
PERPLEXITY_LATENCIES = [500.0 + 37.5 * i for i in range(8)]
PERPLEXITY_ERRORS = {5: ("http", False)}
QUALITY = {"lightrag": [0.9, 0.8, 0.7], "perplexity": [0.5, 0.7]}
COSTS = {"lightrag": [0.01, 0.02, 0.005], "perplexity": [0.1, 0.2]}


def run_restartable_worker() -> None:
    """Subprocess entry: the metrics worker, tuned to be killed and restarted quickly.

    No offset is committed for 60 s (so a kill always leaves everything to re-process) and
    a dead member leaves the group after 6 s (the broker's minimum session timeout).
    """
    from processors.metrics_agent import run_metrics, window_specs

    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    run_metrics(settings, app_id=os.environ["TEST_APP_ID"],
                specs=window_specs(TUMBLING_MS, HOPPING_MS, HOP_MS),
                grace_ms=int(os.environ["TEST_GRACE_MS"]), tick_s=0.2,
                broker_session_timeout=6.0, broker_heartbeat_interval=1.0,
                broker_commit_interval=60.0)


# -- events ---------------------------------------------------------------------------------
def _id() -> str:
    return str(uuid.uuid4())


def _response(backend: str, i: int, latency: float, ts: int, *,
              error: tuple[str, bool] | None = None, is_shadow: bool = False) -> ResponseGenerated:
    return ResponseGenerated(
        event_id=_id(), event_time=ts, correlation_id=f"{backend}-q{i}", service="test",
        backend=backend, mode="hybrid", answer="" if error else "Lactate rises in sepsis.",
        citations=(), latency_ms=latency, error=f"{error[0]} failure" if error else None,
        error_kind=error[0] if error else None, is_shadow=is_shadow)


def _events(ts: int) -> list[Event]:
    """Every counted event of both backends, all at ``ts``."""
    events: list[Event] = []
    for backend, latencies, errors in (("lightrag", LIGHTRAG_LATENCIES, LIGHTRAG_ERRORS),
                                       ("perplexity", PERPLEXITY_LATENCIES, PERPLEXITY_ERRORS)):
        events += [_response(backend, i, lat, ts, error=errors.get(i))
                   for i, lat in enumerate(latencies)]
        events += [QualityScored(event_id=_id(), event_time=ts, correlation_id=f"{backend}-q{i}",
                                 service="test", response_event_id=_id(), backend=backend,
                                 relevance=q, accuracy=q, factual=q, composite=q,
                                 meets_threshold=q >= 0.8, scorer="test")
                   for i, q in enumerate(QUALITY[backend])]
        events += [CostRecorded(event_id=_id(), event_time=ts, correlation_id=f"{backend}-q{i}",
                                service="test", backend=backend, model="m", operation="query",
                                usd=usd)
                   for i, usd in enumerate(COSTS[backend])]
    return events


def _expected(backend: str) -> dict[str, float | int | None]:
    latencies, errors = ((LIGHTRAG_LATENCIES, LIGHTRAG_ERRORS) if backend == "lightrag"
                         else (PERPLEXITY_LATENCIES, PERPLEXITY_ERRORS))
    n = len(latencies)
    timeouts = sum(1 for _, timeout in errors.values() if timeout)
    return {"requests": n, "errors": len(errors), "timeouts": timeouts,
            "error_rate": len(errors) / n, "timeout_rate": timeouts / n,
            "quality_mean": sum(QUALITY[backend]) / len(QUALITY[backend]),
            "quality_count": len(QUALITY[backend]), "cost_usd": sum(COSTS[backend]),
            # the sketch's rank convention: floor(q * (n - 1)) in sorted order
            "latency_p95_ms": sorted(latencies)[math.floor(0.95 * (n - 1))]}


def _windows_of(ts: int) -> set[tuple[str, int, int]]:
    start = ts - ts % TUMBLING_MS
    hops = {("hopping", s, s + HOPPING_MS)
            for s in range(ts - ts % HOP_MS, ts - HOPPING_MS, -HOP_MS)}
    return {("tumbling", start, start + TUMBLING_MS)} | hops


def _check_window(m: WindowMetrics) -> None:
    want = _expected(m.backend)
    assert m.variant is None and (m.correlation_id, m.service) == (m.backend, "processors")
    got = {"requests": m.requests, "errors": m.errors, "timeouts": m.timeouts}
    assert got == {k: want[k] for k in got}, m
    assert m.error_rate == pytest.approx(want["error_rate"])
    assert m.timeout_rate == pytest.approx(want["timeout_rate"])
    assert m.quality_mean == pytest.approx(want["quality_mean"])
    assert m.quality_count == want["quality_count"]
    assert m.cost_usd == pytest.approx(want["cost_usd"])
    expected_p95 = want["latency_p95_ms"]
    assert isinstance(expected_p95, float) and m.latency_p95_ms is not None
    assert abs(m.latency_p95_ms - expected_p95) <= 0.02 * expected_p95, m


# -- plumbing -------------------------------------------------------------------------------
def _wait_for_log(worker: Worker, needle: bytes, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if needle in worker.log.read_bytes():
            return
        if worker.dead:
            pytest.fail(f"worker exited ({worker.process.returncode}):\n{worker.log_text()}")
        time.sleep(0.1)
    pytest.fail(f"worker never logged {needle!r}:\n{worker.log_text()}")


def _wait_for_window_start(lead_ms: int = 150) -> None:
    """Sleep until the wall clock is at most ``lead_ms`` into a tumbling window."""
    while (into := int(time.time() * 1000) % TUMBLING_MS) > lead_ms:
        time.sleep((TUMBLING_MS - into) / 1000)


def _window_metrics(settings: Settings, serializer: SingleObjectSerializer,
                    producer: DurableProducer, worker: Worker, count: int,
                    timeout: float) -> list[WindowMetrics]:
    got = consume_events(settings.kafka_bootstrap_servers,
                         [topic_name(settings.kafka_topic_prefix, WindowMetrics)], serializer,
                         producer, settings.kafka_topic_prefix,
                         lambda g: len(g) >= count or worker.dead, timeout=timeout)
    return [c.event for c in got if isinstance(c.event, WindowMetrics)]


def _by_window(metrics: list[WindowMetrics]) -> dict[tuple[str, str, int, int], WindowMetrics]:
    by_key = {(m.backend, m.window_kind, m.window_start, m.window_end): m for m in metrics}
    assert len(by_key) == len(metrics), "a window was published twice"
    return by_key


@pytest.fixture
def workers() -> Iterator[list[Worker]]:
    """Every worker a test starts; all are stopped (SIGTERM, then SIGKILL) in teardown."""
    started: list[Worker] = []
    yield started
    for worker in started:
        worker.stop()


# -- tests ----------------------------------------------------------------------------------
def test_windows_close_on_wall_clock_with_exact_metrics_per_backend(
        settings: Settings, serializer: SingleObjectSerializer, tmp_path: Path,
        workers: list[Worker]) -> None:
    began = time.monotonic()
    app_id = f"{settings.kafka_topic_prefix}-metrics"
    cmd = [sys.executable, "-m", "processors", "metrics", "--app-id", app_id,
           "--tumbling-ms", str(TUMBLING_MS), "--hopping-ms", str(HOPPING_MS),
           "--hop-ms", str(HOP_MS), "--grace-ms", "500", "--tick-s", "0.2"]
    worker = _start(cmd, _worker_env(settings), tmp_path / "metrics.log", app_id, None)
    workers.append(worker)
    _wait_for_log(worker, READY)
    ready = time.monotonic() - began
    responses = topic_name(settings.kafka_topic_prefix, ResponseGenerated)

    _wait_for_window_start()
    ts = int(time.time() * 1000)
    counted = _events(ts)
    excluded = [_response("lightrag", 90, 9000.0, ts, is_shadow=True),  # shadow: not served
                _response("lightrag", 91, -5.0, ts)]  # impossible latency: dead-lettered
    with make_producer(settings, "test", serializer) as producer:
        for event in counted + excluded:
            producer.publish(event)
        raw = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers})
        raw.produce(responses, b"\x00not avro\xff", b"lightrag-q0")
        assert raw.flush(10) == 0
        assert producer.flush(30) == 0
        published = int(time.time() * 1000)
        assert published - ts < TUMBLING_MS // 2  # all events are in one tumbling window
        windows = _windows_of(ts)
        metrics = _window_metrics(settings, serializer, producer, worker, 2 * len(windows),
                                  timeout=20)
    received = int(time.time() * 1000)
    log = worker.log_text()

    by_key = _by_window(metrics)
    assert set(by_key) == {(b, *w) for b in ("lightrag", "perplexity") for w in windows}, log
    for m in metrics:
        _check_window(m)
        # closed by the timer at end + grace, not by a later event (none was published)
        assert m.window_end + 500 <= m.event_time <= m.window_end + 500 + 1_500, m
    assert received - max(m.window_end for m in metrics) < 5_000

    dead = consume_raw(settings.kafka_bootstrap_servers, dlq_name(responses), 2)
    classes = {msg.value(): dict(msg.headers() or [])["dlq.error.class"] for msg in dead}
    assert len(dead) == 2 and classes.pop(b"\x00not avro\xff") == b"SerializationError"
    assert list(classes.values()) == [b"ValueError"]  # the impossible latency
    assert f"dead-lettering {responses}[" in log and "latency_ms must be finite" in log
    assert worker.stop() == 0, log
    assert "Traceback" not in worker.log_text()
    print(f"\nworker ready after {ready:.1f} s; windows received {received - ts} ms after "
          f"the events; test took {time.monotonic() - began:.1f} s")


class ChangelogPeek:
    """Reads the table's changelog: the latest tumbling-window request count per backend."""

    def __init__(self, settings: Settings, app_id: str) -> None:
        self.consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers,
                                  "group.id": f"peek-{uuid.uuid4()}",
                                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
        self.consumer.subscribe([f"{app_id}-{TABLE_NAME}-changelog"])
        self.latest: dict[str, int] = {}

    def requests(self) -> dict[str, int]:
        for msg in self.consumer.consume(100, 0.2):
            key, value = msg.key(), msg.value()
            if msg.error() is None and key and value:
                windows = json.loads(value)["store"]["windows"]
                self.latest[key.decode()] = sum(w["acc"]["requests"] for w in windows
                                                if w["key"]["window_kind"] == "tumbling")
        return dict(self.latest)

    def close(self) -> None:
        self.consumer.close()


def _committed(settings: Settings, app_id: str, topics: list[str]) -> list[int]:
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers,
                         "group.id": app_id, "enable.auto.commit": False})
    try:
        tps = [TopicPartition(t, p) for t in topics for p in range(settings.kafka_partitions)]
        return [tp.offset for tp in consumer.committed(tps, timeout=10)]
    finally:
        consumer.close()


def test_a_killed_worker_restarts_without_double_counting_or_losing_events(
        settings: Settings, serializer: SingleObjectSerializer, tmp_path: Path,
        workers: list[Worker]) -> None:
    began = time.monotonic()
    app_id = f"{settings.kafka_topic_prefix}-restart"
    # Every event has the first half's timestamp; a 15 s grace keeps its windows open
    # across the kill and the restart (the second half arrives late, within grace).
    grace_ms = 15_000
    env = _worker_env(settings, TEST_APP_ID=app_id, TEST_GRACE_MS=str(grace_ms))
    code = "from tests.integration.test_metrics_agent import run_restartable_worker as r; r()"
    first = _start([sys.executable, "-c", code], env, tmp_path / "first.log", app_id, None)
    workers.append(first)
    _wait_for_log(first, READY)

    ts = int(time.time() * 1000)
    events = _events(ts)
    half = {"lightrag": 0, "perplexity": 0}
    for event in events[::2]:
        if isinstance(event, ResponseGenerated):
            half[event.backend] += 1
    changelog = ChangelogPeek(settings, app_id)
    try:
        with make_producer(settings, "test", serializer) as producer:
            for event in events[::2]:
                producer.publish(event)
            assert producer.flush(30) == 0
            deadline = time.monotonic() + 20
            while changelog.requests() != half and time.monotonic() < deadline and not first.dead:
                pass
            assert changelog.requests() == half, first.log_text()
            # The first half's responses are in the changelog and no offset is committed: the
            # restarted worker re-reads every record (ingest forwards its samples again).
            first.process.kill()
            first.process.wait(10)
            killed_at = time.monotonic() - began
            sources = [topic_name(settings.kafka_topic_prefix, e)
                       for e in (ResponseGenerated, QualityScored, CostRecorded)]
            assert all(o < 0 for o in _committed(settings, app_id,
                                                 sources + [samples_topic_name(app_id)]))

            second = _start([sys.executable, "-c", code], env, tmp_path / "second.log",
                            app_id, None)
            workers.append(second)
            _wait_for_log(second, READY)
            restarted = time.monotonic() - began
            for event in events[1::2]:
                producer.publish(event)
            assert producer.flush(30) == 0
            windows = _windows_of(ts)
            assert int(time.time() * 1000) < min(end for _, _, end in windows) + grace_ms
            metrics = _window_metrics(settings, serializer, producer, second, 2 * len(windows),
                                      timeout=max(end for _, _, end in windows) + grace_ms
                                      - time.time() * 1000 + 10)
    finally:
        changelog.close()
    log = second.log_text()
    by_key = _by_window(metrics)
    assert set(by_key) == {(b, *w) for b in ("lightrag", "perplexity") for w in windows}, log
    for m in metrics:
        _check_window(m)  # every event exactly once: none double counted, none lost
    assert second.stop() == 0, log
    print(f"\nkilled at {killed_at:.1f} s, restarted worker ready at {restarted:.1f} s, "
          f"test took {time.monotonic() - began:.1f} s")

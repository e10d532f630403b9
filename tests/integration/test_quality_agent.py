"""The quality agent as a real Faust worker against the real broker.

Each test runs the worker as a subprocess (its own event loop, signal handlers and
logging, as in production) and stops it with SIGTERM in teardown. The first test uses a
deterministic stand-in scorer defined here (the worker imports it through
:func:`run_stand_in_worker`); the second runs the real entry point
``python -m processors quality`` with the offline scorer.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from confluent_kafka import Producer

from cmo.adapters.avro import SingleObjectSerializer
from cmo.adapters.consumer import Consumed
from cmo.adapters.factory import make_producer
from cmo.config import Settings
from cmo.events import Citation, QualityScored, ResponseGenerated
from cmo.quality.model import Passage, QualityScore, make_score
from cmo.topics import dlq_name, topic_name
from tests.integration.helpers import consume_events, consume_raw
from tests.integration.worker_process import Worker, spawn, worker_env

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]



class StandInScorer:
    """Deterministic scorer: relevance from the question, accuracy from the citations.

    Raises for an answer containing ``BOOM`` (to show a scorer failure is survived).
    """

    name = "stand-in"

    async def score(self, question: str, answer: str, passages: Sequence[Passage]) -> QualityScore:
        if "BOOM" in answer:
            raise RuntimeError("stand-in scorer exploded")
        relevance = 1.0 if question else 0.5
        accuracy = min(1.0, 0.2 * sum(1 for p in passages if p.cited and p.text))
        issues = () if question else ("no question",)
        return make_score(relevance, accuracy, 0.7, self.name, issues=issues)


def _settings_from_env() -> Settings:
    return Settings(_env_file=None)  # type: ignore[call-arg]


def run_stand_in_worker() -> None:
    """Subprocess entry: the quality worker with :class:`StandInScorer` (settings from env)."""
    import faust

    from processors.faust_app import create_app
    from processors.quality_agent import SERVICE, register_quality_agent

    settings = _settings_from_env()
    app = create_app(settings, os.environ["TEST_APP_ID"], web_enabled=True,
                     web_port=int(os.environ["TEST_WEB_PORT"]))
    producer = make_producer(settings, SERVICE)
    try:
        register_quality_agent(app, settings, StandInScorer(), producer)
        faust.Worker(app, loglevel="info").execute_from_commandline()
    finally:
        producer.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_worker_env = worker_env
_start = spawn


def _wait_for_web(worker: Worker, timeout: float = 30.0) -> bytes:
    """Poll the worker's loopback web port until it answers; returns the body of ``/``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.process.poll() is not None:
            pytest.fail(f"worker exited early ({worker.process.returncode}):\n{worker.log_text()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/", timeout=2) as rsp:
                return bytes(rsp.read())
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"worker web port never answered:\n{worker.log_text()}")


@pytest.fixture
def stand_in_worker(settings: Settings, tmp_path: Path) -> Iterator[Worker]:
    app_id = f"{settings.kafka_topic_prefix}-quality"
    port = _free_port()
    env = _worker_env(settings, TEST_APP_ID=app_id, TEST_WEB_PORT=str(port))
    code = "from tests.integration.test_quality_agent import run_stand_in_worker as r; r()"
    worker = _start([sys.executable, "-c", code], env, tmp_path / "worker.log", app_id, port)
    try:
        yield worker
    finally:
        worker.stop()


def _response(n: int, key: str, *, answer: str = "Lactate rises in sepsis [1].",
              citations: int = 2, question: str | None = "Which metabolite rises in sepsis?",
              error: str | None = None, is_shadow: bool = False) -> ResponseGenerated:
    cites = tuple(Citation(document_id=f"doc{i}", title=f"Paper {i}", page=i + 1,
                           chunk_id=f"doc{i}-c{i}", score=0.9, quote=f"Lactate rises ({i}).")
                  for i in range(citations))
    return ResponseGenerated(
        event_id=f"00000000-0000-4000-8000-{n:012d}", event_time=1_795_000_000_000 + n,
        correlation_id=key, service="test", backend="lightrag", mode="hybrid", answer=answer,
        citations=cites, latency_ms=12.5, error=error,
        error_kind="timeout" if error else None, is_shadow=is_shadow, question=question)


def _quality(got: list[Consumed]) -> dict[str, QualityScored]:
    return {c.event.response_event_id: c.event for c in got if isinstance(c.event, QualityScored)}


def test_worker_scores_responses_dead_letters_garbage_and_keeps_going(
        settings: Settings, serializer: SingleObjectSerializer, stand_in_worker: Worker) -> None:
    started = time.monotonic()
    responses_topic = topic_name(settings.kafka_topic_prefix, ResponseGenerated)
    quality_topic = topic_name(settings.kafka_topic_prefix, QualityScored)
    good = _response(1, "q-1")
    errored = _response(2, "q-1", answer="", citations=0, error="LightRAG timed out")
    exploding = _response(3, "q-1", answer="BOOM")
    shadow = _response(4, "q-1", citations=1, question=None, is_shadow=True)
    other_key = _response(5, "q-2", citations=5)
    # Order on q-1's partition: good, garbage, errored, exploding, shadow.
    with make_producer(settings, "test", serializer) as producer:
        producer.publish(good)
        assert producer.flush(30) == 0
        raw = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers})
        raw.produce(responses_topic, b"\x00not avro\xff", b"q-1", headers=[("origin", b"test")])
        assert raw.flush(10) == 0
        for event in (errored, exploding, shadow, other_key):
            producer.publish(event)
        assert producer.flush(30) == 0
        index = _wait_for_web(stand_in_worker)
        got = consume_events(settings.kafka_bootstrap_servers, [quality_topic], serializer,
                             producer, settings.kafka_topic_prefix,
                             lambda g: len(_quality(g)) >= 3 or stand_in_worker.dead, timeout=60)
    scored = _quality(got)
    log = stand_in_worker.log_text()
    assert set(scored) == {good.event_id, shadow.event_id, other_key.event_id}, log
    assert len(got) == 3  # nothing for the errored or the exploding response
    expected = {good.event_id: (1.0, 0.4, ()), shadow.event_id: (0.5, 0.2, ("no question",)),
                other_key.event_id: (1.0, 1.0, ())}
    for response in (good, shadow, other_key):
        q = scored[response.event_id]
        relevance, accuracy, issues = expected[response.event_id]
        assert (q.relevance, q.accuracy, q.factual) == (relevance, accuracy, 0.7)
        assert q.composite == pytest.approx(0.4 * relevance + 0.3 * accuracy + 0.3 * 0.7)
        assert q.meets_threshold is (q.composite >= 0.8)
        assert (q.scorer, q.issues, q.backend) == ("stand-in", issues, "lightrag")
        assert (q.correlation_id, q.service) == (response.correlation_id, "processors")
    assert json.loads(index) == {"status": "OK"}  # Faust's loopback web (health) endpoint

    dead = consume_raw(settings.kafka_bootstrap_servers, dlq_name(responses_topic), 1)
    assert len(dead) == 1
    msg = dead[0]
    assert (msg.key(), msg.value()) == (b"q-1", b"\x00not avro\xff")
    headers = {str(h[0]): h[1] for h in msg.headers() or [] if isinstance(h[1], bytes)}
    assert headers["dlq.source.topic"] == responses_topic.encode()
    assert headers["dlq.error.class"] == b"SerializationError"
    assert b"0xC3 0x01" in headers["dlq.error"]
    assert headers["origin"] == b"test"
    partition, offset = headers["dlq.source.partition"].decode(), headers["dlq.source.offset"]
    assert f"dead-lettering {responses_topic}[{partition}]@{offset.decode()}" in log
    assert "scorer stand-in failed on response" in log and "stand-in scorer exploded" in log
    # Faust declared its own internal topic through the admin API (auto-create is off).
    assert f"Topic '{stand_in_worker.app_id}-__assignor-__leader' created" in log
    assert time.monotonic() - started < 60

    assert stand_in_worker.stop() == 0, log
    assert "Traceback" not in stand_in_worker.log_text()


def test_entry_point_scores_with_the_offline_scorer(settings: Settings,
                                                    serializer: SingleObjectSerializer,
                                                    tmp_path: Path) -> None:
    pytest.importorskip("cmo.quality.offline")
    app_id = f"{settings.kafka_topic_prefix}-offline"
    worker = _start([sys.executable, "-m", "processors", "quality", "--app-id", app_id],
                    _worker_env(settings), tmp_path / "entry.log", app_id, None)
    try:
        response = _response(10, "q-10", answer="Lactate rises in sepsis.", citations=1)
        with make_producer(settings, "test", serializer) as producer:
            producer.publish(response)
            assert producer.flush(30) == 0
            got = consume_events(settings.kafka_bootstrap_servers,
                                 [topic_name(settings.kafka_topic_prefix, QualityScored)],
                                 serializer, producer, settings.kafka_topic_prefix,
                                 lambda g: len(g) >= 1 or worker.dead, timeout=60)
        assert len(got) == 1, worker.log_text()
        q = got[0].event
        assert isinstance(q, QualityScored)
        assert (q.response_event_id, q.correlation_id) == (response.event_id, "q-10")
        assert all(0.0 <= x <= 1.0 for x in (q.relevance, q.accuracy, q.factual, q.composite))
        assert q.composite == pytest.approx(0.4 * q.relevance + 0.3 * q.accuracy
                                            + 0.3 * q.factual, abs=1e-3)
        assert q.meets_threshold is (q.composite >= settings.lightrag_quality_threshold)
        assert q.scorer == "offline"
    finally:
        code = worker.stop()
    assert code == 0, worker.log_text()

"""Per-variant windows and the A/B analysis, in the real metrics worker on the real broker.

Two rollout variants: ``control`` answered by Perplexity (1 error in 60, good quality) and
``treatment`` answered by LightRAG (15 errors in 60, lower quality). The worker must publish
per-variant ``WindowMetrics`` next to the per-backend ones, and ``ab-test``
``ControllerDecision`` events: first ``collecting`` (20 samples each, under the minimum of
30), then, with 60 each, ``winner:control`` from ``collecting``.
"""

from __future__ import annotations

import random
import sys
import time
import uuid
from pathlib import Path

import pytest

from cmo.adapters.avro import SingleObjectSerializer
from cmo.adapters.factory import make_producer
from cmo.config import Settings
from cmo.events import ControllerDecision, Event, QualityScored, ResponseGenerated, WindowMetrics
from cmo.topics import topic_name
from tests.integration.helpers import consume_events
from tests.integration.test_metrics_agent import READY, _wait_for_log, workers  # noqa: F401
from tests.integration.test_quality_agent import Worker, _start, _worker_env

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

ARMS = {"control": ("perplexity", 1, 0.85), "treatment": ("lightrag", 15, 0.70)}


def _events(variant: str, first: int, last: int, ts: int, rng: random.Random) -> list[Event]:
    backend, errors, quality = ARMS[variant]
    out: list[Event] = []
    for i in range(first, last):
        qid = f"{variant}-q{i}"
        failed = i % 60 < errors  # errors spread over each block of 60
        out.append(ResponseGenerated(
            event_id=str(uuid.uuid4()), event_time=ts, correlation_id=qid, service="test",
            backend=backend, mode="hybrid", answer="" if failed else "an answer", citations=(),
            latency_ms=200.0 + i, error="down" if failed else None,
            error_kind="unavailable" if failed else None, variant=variant))
        if not failed:
            q = round(min(1.0, max(0.0, rng.gauss(quality, 0.04))), 3)
            out.append(QualityScored(
                event_id=str(uuid.uuid4()), event_time=ts, correlation_id=qid, service="test",
                response_event_id=str(uuid.uuid4()), backend=backend, relevance=q, accuracy=q,
                factual=q, composite=q, meets_threshold=q >= 0.8, scorer="test",
                variant=variant))
    return out


def _decisions(settings: Settings, serializer: SingleObjectSerializer, producer: object,
               worker: Worker, phase: str) -> list[ControllerDecision]:
    got = consume_events(
        settings.kafka_bootstrap_servers,
        [topic_name(settings.kafka_topic_prefix, ControllerDecision)], serializer,
        producer, settings.kafka_topic_prefix,  # type: ignore[arg-type]
        lambda g: worker.dead or any(getattr(c.event, "to_phase", "") == phase for c in g),
        timeout=30)
    return [c.event for c in got if isinstance(c.event, ControllerDecision)]


def test_variant_windows_and_ab_decisions_from_the_stream(
        settings: Settings, serializer: SingleObjectSerializer, tmp_path: Path,
        workers: list[Worker]) -> None:  # noqa: F811
    app_id = f"{settings.kafka_topic_prefix}-metrics"
    cmd = [sys.executable, "-m", "processors", "metrics", "--app-id", app_id,
           "--tumbling-ms", "2000", "--hopping-ms", "0", "--grace-ms", "300", "--tick-s", "0.2",
           "--ab-interval-s", "1", "--ab-min-samples", "30"]
    worker = _start(cmd, _worker_env(settings), tmp_path / "metrics.log", app_id, None)
    workers.append(worker)
    _wait_for_log(worker, READY)
    rng = random.Random(5)
    with make_producer(settings, "test", serializer) as producer:
        ts = int(time.time() * 1000)
        for variant in ARMS:
            producer.publish_many(_events(variant, 0, 20, ts, rng))
        assert producer.flush(30) == 0
        first = _decisions(settings, serializer, producer, worker, "collecting")
        collecting = [d for d in first if d.controller == "ab-test"]
        assert collecting and collecting[0].subject == "control-vs-treatment", worker.log_text()
        assert collecting[0].to_phase == "collecting" and "not enough samples" in collecting[0].reason
        assert collecting[0].metrics["requests_a"] == 20.0

        ts2 = int(time.time() * 1000)
        for variant in ARMS:
            producer.publish_many(_events(variant, 20, 60, ts2, rng))
        assert producer.flush(30) == 0
        decisions = _decisions(settings, serializer, producer, worker, "winner:control")
        won = [d for d in decisions if d.to_phase == "winner:control"]
        assert won, worker.log_text()
        verdict = won[-1]
        assert verdict.from_phase == "collecting" and verdict.action == "declare-winner"
        assert verdict.metrics["requests_a"] == 60.0 and verdict.metrics["requests_b"] == 60.0
        assert verdict.metrics["error_rate_b"] == pytest.approx(15 / 60)
        assert verdict.metrics["error_p_value"] < 0.05 and verdict.metrics["quality_p_value"] < 0.05

        # Per-variant windows beside the per-backend ones, with the variant's own counts.
        got = consume_events(
            settings.kafka_bootstrap_servers,
            [topic_name(settings.kafka_topic_prefix, WindowMetrics)], serializer, producer,
            settings.kafka_topic_prefix,
            lambda g: sum(getattr(c.event, "variant", None) == "treatment" for c in g) >= 2,
            timeout=20)
    windows = [c.event for c in got if isinstance(c.event, WindowMetrics)]
    treatment = [w for w in windows if w.variant == "treatment"]
    assert {w.backend for w in treatment} == {"lightrag"}
    assert sum(w.requests for w in treatment) == 60 and sum(w.errors for w in treatment) == 15
    per_backend = [w for w in windows if w.backend == "lightrag" and w.variant is None]
    assert sum(w.requests for w in per_backend) == 60
    assert worker.stop() == 0
    assert "Traceback" not in worker.log_text()

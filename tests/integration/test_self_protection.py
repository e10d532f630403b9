"""End to end: injected LightRAG failures → metrics worker → controllers worker → the breaker
opens on the control topic → a running router's flags send users to Perplexity."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from cmo.adapters.avro import SingleObjectSerializer
from cmo.adapters.control_state import ControlState
from cmo.adapters.factory import make_producer
from cmo.config import Settings
from cmo.domain.flags import FlagContext, FlagState, route
from cmo.events import ResponseGenerated
from tests.integration.test_quality_agent import _free_port, _start, _wait_for_web, _worker_env

pytestmark = pytest.mark.integration
KEY = "self-protection-test-key"


def test_failures_open_the_breaker_and_routers_move_traffic(settings: Settings, tmp_path: Path,
                                                            serializer: SingleObjectSerializer) -> None:
    env = _worker_env(settings, CMO_CONTROL_KEY=KEY)
    metrics_port, control_port = _free_port(), _free_port()
    metrics = _start([sys.executable, "-m", "processors", "metrics", "--app-id", f"{settings.kafka_topic_prefix}-m",
                      "--web-port", str(metrics_port), "--tumbling-ms", "2000", "--hopping-ms", "0",
                      "--grace-ms", "300", "--tick-s", "0.2"],
                     env, tmp_path / "metrics.log", f"{settings.kafka_topic_prefix}-m", metrics_port)
    controllers = _start([sys.executable, "-m", "processors", "controllers", "--web-port", str(control_port),
                          "--breaker-min-requests", "10", "--tick-interval", "0.2"],
                         env, tmp_path / "controllers.log", f"{settings.kafka_topic_prefix}-controllers",
                         control_port)
    router = ControlState(settings.kafka_bootstrap_servers, serializer, settings.kafka_topic_prefix,
                          KEY.encode(), FlagState(rollout_percentage=100))
    try:
        _wait_for_web(metrics)
        _wait_for_web(controllers)
        router.start()
        user = FlagContext(user_id="researcher-1")
        assert route(router.state, user).backend == "lightrag"
        with make_producer(settings, "rag_service", serializer) as producer:
            started = time.monotonic()
            for i in range(30):   # LightRAG is down: every answer fails
                producer.publish(ResponseGenerated(
                    event_id=f"00000000-0000-4000-8000-{i:012d}", event_time=int(time.time() * 1000),
                    correlation_id=f"q{i}", service="rag_service", backend="lightrag", mode="hybrid",
                    answer="", citations=(), latency_ms=30_000.0, error="LightRAG timed out",
                    error_kind="timeout"))
            producer.flush(10)
            state = router.wait_for(lambda s: s.breakers.get("lightrag") == "open", timeout=30)
            elapsed = time.monotonic() - started
        assert state.breakers.get("lightrag") == "open", metrics.log_text()[-3000:] + controllers.log_text()[-3000:]
        decided = route(state, user)
        assert (decided.backend, decided.reason) == ("perplexity", "breaker-open")
        assert elapsed < 15   # 2 s window + grace + controller tick, with margin for a loaded machine
    finally:
        router.close()
        metrics.stop()
        controllers.stop()

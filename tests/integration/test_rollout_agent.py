"""The canary rollout in the controllers worker, against the real broker.

Each test runs ``python -m processors controllers`` (stages 10, 50, 100; 1 s interval) as a
subprocess with CMO_CONTROL_KEY, starts a rollout the way an operator does (a signed
``canary-start 10`` written with :mod:`cmo.adapters.control_writer`), feeds LightRAG
windows, and watches the router's view (:class:`~cmo.adapters.control_state.ControlState`)
plus the ControllerDecision / Alert topics. Workers are stopped with SIGTERM in ``finally``.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cmo.adapters.avro import SingleObjectSerializer
from cmo.adapters.consumer import Consumed
from cmo.adapters.control_state import ControlState
from cmo.adapters.control_writer import build_commands, write_commands
from cmo.adapters.factory import make_producer
from cmo.adapters.publisher import DurableProducer
from cmo.config import Settings
from cmo.domain.rollout_metrics import CANARY
from cmo.events import Alert, ControlCommand, ControllerDecision, WindowMetrics
from cmo.topics import topic_name
from tests.integration.helpers import consume_events
from tests.integration.worker_process import Worker, spawn, worker_env

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

KEY = "rollout-test-signing-key"
ACTOR = "controller:rollout"


def start_worker(settings: Settings, log: Path) -> Worker:
    cmd = [sys.executable, "-m", "processors", "controllers",
           "--app-id", f"{settings.kafka_topic_prefix}-controllers",
           "--tick-interval", "0.2", "--rollout-stages", "10,50,100",
           "--rollout-interval-ms", "1000"]
    return spawn(cmd, worker_env(settings, CMO_CONTROL_KEY=KEY), log)


@pytest.fixture
def control(settings: Settings, serializer: SingleObjectSerializer) -> Iterator[ControlState]:
    state = ControlState(settings.kafka_bootstrap_servers, serializer,
                         settings.kafka_topic_prefix, KEY.encode())
    state.start()
    try:
        yield state
    finally:
        state.close()


@pytest.fixture
def worker(settings: Settings, tmp_path: Path) -> Iterator[Worker]:
    process = start_worker(settings, tmp_path / "controllers.log")
    try:
        yield process
    finally:
        process.stop()


def _window(requests: int, errors: int, *, quality: float = 0.95) -> WindowMetrics:
    end = int(time.time() * 1000)
    return WindowMetrics(event_id=str(uuid.uuid4()), event_time=end, correlation_id="lightrag",
                         service="test", backend="lightrag", window_kind="tumbling",
                         window_start=end - 1000, window_end=end, requests=requests,
                         errors=errors, timeouts=0,
                         error_rate=errors / requests if requests else 0.0, timeout_rate=0.0,
                         latency_p95_ms=100.0 if requests else None,
                         quality_mean=quality if requests else None,
                         quality_count=requests)


def _feed_until(producer: DurableProducer, window: Callable[[], WindowMetrics],
                done: Callable[[], bool], worker: Worker, timeout: float, what: str) -> None:
    """Publish a window every 0.5 s until ``done`` (fails after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline and worker.process.poll() is None:
        producer.publish(window())
        producer.flush(5)
        time.sleep(0.5)
    assert done(), f"{what} not seen in {timeout:.0f}s:\n{worker.log_text()}"


def _start_rollout(producer: DurableProducer, commands: list[ControlCommand],
                   worker: Worker) -> None:
    write_commands(producer, build_commands("canary-start", 10, "alice", "start the canary",
                                            KEY.encode()))
    deadline = time.monotonic() + 30
    while not _ours(commands) and time.monotonic() < deadline and worker.process.poll() is None:
        time.sleep(0.1)
    assert _ours(commands) == [(CANARY, "10.0")], worker.log_text()


def _ours(commands: list[ControlCommand]) -> list[tuple[str, str]]:
    return [(c.target, c.value) for c in commands if c.actor == ACTOR]


def _rollout_events(settings: Settings, serializer: SingleObjectSerializer,
                    producer: DurableProducer, until: Callable[[list[Consumed]], bool]
                    ) -> tuple[list[ControllerDecision], list[Alert]]:
    prefix = settings.kafka_topic_prefix
    got = consume_events(settings.kafka_bootstrap_servers,
                         [topic_name(prefix, ControllerDecision), topic_name(prefix, Alert)],
                         serializer, producer, prefix, until, timeout=20)
    decisions = [c.event for c in got if isinstance(c.event, ControllerDecision)
                 and c.event.controller == "rollout"]
    alerts = [c.event for c in got if isinstance(c.event, Alert)
              and c.event.details.get("controller") == "rollout"]
    return decisions, alerts


def _recording(control: ControlState) -> list[ControlCommand]:
    commands: list[ControlCommand] = []
    control.on_change(lambda _state, command: commands.append(command))
    return commands


def test_good_windows_promote_stage_by_stage(settings: Settings,
                                             serializer: SingleObjectSerializer,
                                             control: ControlState, worker: Worker) -> None:
    started = time.monotonic()
    commands = _recording(control)
    with make_producer(settings, "test", serializer) as producer:
        _start_rollout(producer, commands, worker)
        _feed_until(producer, lambda: _window(50, 0),
                    lambda: control.state.rollout_percentage == 100
                    and control.state.canary_percentage is None, worker, 40, "promotion")
        decisions, _ = _rollout_events(settings, serializer, producer,
                                       lambda g: sum(isinstance(c.event, ControllerDecision)
                                                     for c in g) >= 5)
    assert _ours(commands) == [(CANARY, "10.0"), (CANARY, "50.0"), (CANARY, "100.0"),
                               ("lightrag.rollout_percentage", "100.0"), (CANARY, "null")]
    assert [(d.from_phase, d.to_phase, d.action) for d in decisions] == [
        ("idle", "progressing", "promote"), ("progressing", "progressing", "promote"),
        ("progressing", "progressing", "promote"), ("progressing", "promoting", "promote"),
        ("promoting", "succeeded", "promote")]
    assert [d.metrics.get("canary_percentage") for d in decisions[:3]] == [10.0, 50.0, 100.0]
    assert control.rejected == 0
    assert worker.stop() == 0, worker.log_text()
    assert "Traceback" not in worker.log_text()
    print(f"\npromoted 10 -> 50 -> 100 -> rollout 100 in {time.monotonic() - started:.1f}s")


def test_bad_windows_roll_back_and_alert(settings: Settings, serializer: SingleObjectSerializer,
                                         control: ControlState, worker: Worker) -> None:
    commands = _recording(control)
    with make_producer(settings, "test", serializer) as producer:
        _start_rollout(producer, commands, worker)
        _feed_until(producer, lambda: _window(50, 25),
                    lambda: len(_ours(commands)) >= 3, worker, 30, "rollback")
        decisions, alerts = _rollout_events(settings, serializer, producer,
                                            lambda g: any(isinstance(c.event, Alert)
                                                          for c in g))
    state = control.wait_for(lambda s: s.canary_percentage is None, 10)
    assert (state.canary_percentage, state.rollout_percentage) == (None, 0.0)
    assert _ours(commands) == [(CANARY, "10.0"), (CANARY, "null"),
                               ("lightrag.rollout_percentage", "0.0")]
    assert [(d.to_phase, d.action) for d in decisions] == [("progressing", "promote"),
                                                           ("failed", "rollback")]
    assert "error rate 0.500" in decisions[-1].reason
    assert [(a.kind, a.severity) for a in alerts] == [("rollout", "critical")]
    assert worker.stop() == 0, worker.log_text()


def test_no_traffic_pauses_without_touching_the_canary(
        settings: Settings, serializer: SingleObjectSerializer, control: ControlState,
        worker: Worker) -> None:
    commands = _recording(control)
    with make_producer(settings, "test", serializer) as producer:
        _start_rollout(producer, commands, worker)
        for _ in range(3):
            producer.publish(_window(0, 0))
            producer.flush(5)
            time.sleep(0.5)
        decisions, _ = _rollout_events(settings, serializer, producer,
                                       lambda g: any(isinstance(c.event, ControllerDecision)
                                                     and c.event.to_phase == "paused"
                                                     for c in g))
    paused = [d for d in decisions if d.to_phase == "paused"]
    assert paused, worker.log_text()
    assert paused[0].action == "pause"
    assert "only 0 requests" in paused[0].reason
    assert control.state.canary_percentage == 10.0
    assert _ours(commands) == [(CANARY, "10.0")]
    assert worker.stop() == 0, worker.log_text()

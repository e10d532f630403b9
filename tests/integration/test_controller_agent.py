"""The controllers worker (breakers, auto-rollback, budget) against the real broker.

Each test runs ``python -m processors controllers`` as a subprocess (its own event loop,
signal handlers and logging, as in production) with CMO_CONTROL_KEY set, and watches the
outcome the way a router does: a :class:`~cmo.adapters.control_state.ControlState` with the
same key replays and follows the control topic, and :func:`cmo.domain.flags.route` decides
with its state. Workers are stopped with SIGTERM in ``finally`` blocks.
"""

from __future__ import annotations

import subprocess
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
from cmo.config import Settings
from cmo.domain.flags import FlagContext, FlagState, route
from cmo.events import Alert, ControlCommand, ControllerDecision, CostRecorded, WindowMetrics
from cmo.topics import topic_name
from tests.integration.helpers import consume_events
from tests.integration.worker_process import Worker, spawn, worker_env

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

KEY = "controller-test-signing-key"
USER = FlagContext(user_id="user-42")


_env = worker_env


def _start(settings: Settings, log: Path, *args: str, **env: str) -> Worker:
    cmd = [sys.executable, "-m", "processors", "controllers",
           "--app-id", f"{settings.kafka_topic_prefix}-controllers", "--tick-interval", "0.2",
           *args]
    return spawn(cmd, _env(settings, CMO_CONTROL_KEY=KEY, **env), log)


@pytest.fixture
def control(settings: Settings, serializer: SingleObjectSerializer) -> Iterator[ControlState]:
    """The router's view of the control topic (same key as the worker)."""
    state = ControlState(settings.kafka_bootstrap_servers, serializer,
                         settings.kafka_topic_prefix, KEY.encode())
    state.start()
    try:
        yield state
    finally:
        state.close()


def _now_ms() -> int:
    return int(time.time() * 1000)


def _envelope(key: str) -> dict[str, object]:
    return {"event_id": str(uuid.uuid4()), "event_time": _now_ms(), "correlation_id": key,
            "service": "test"}


def _window(backend: str, requests: int, errors: int, end_ms: int, *,
            kind: str = "tumbling", variant: str | None = None) -> WindowMetrics:
    return WindowMetrics(**_envelope(backend), backend=backend, variant=variant,  # type: ignore[arg-type]
                         window_kind=kind, window_start=end_ms - 10_000, window_end=end_ms,
                         requests=requests, errors=errors, timeouts=0,
                         error_rate=errors / requests, timeout_rate=0.0, latency_p95_ms=120.0)


def _cost(usd: float, query: str) -> CostRecorded:
    return CostRecorded(**_envelope(query), backend="perplexity", model="sonar",  # type: ignore[arg-type]
                        operation="query", prompt_tokens=100, usd=usd)


def _wait(control: ControlState, predicate: Callable[[FlagState], bool], worker: Worker,
          timeout: float, what: str) -> FlagState:
    state = control.wait_for(lambda s: predicate(s) or worker.process.poll() is not None,
                             timeout)
    assert predicate(state), f"{what} not seen in {timeout:.0f}s:\n{worker.log_text()}"
    return state


def _of(kind: type, got: list[Consumed]) -> list:  # type: ignore[type-arg]
    return [c.event for c in got if isinstance(c.event, kind)]


def test_breaker_opens_half_opens_on_the_timer_after_a_restart_and_closes(
        settings: Settings, serializer: SingleObjectSerializer, control: ControlState,
        tmp_path: Path) -> None:
    started = time.monotonic()
    commands: list[ControlCommand] = []
    control.on_change(lambda _state, command: commands.append(command))
    prefix = settings.kafka_topic_prefix
    # A long cool-down first: this worker never half-opens the breaker itself.
    first = _start(settings, tmp_path / "first.log", "--breaker-cooldown-ms", "600000")
    second: Worker | None = None
    try:
        with make_producer(settings, "test", serializer) as producer:
            write_commands(producer, build_commands("rollout", 100, "test", "full rollout",
                                                    KEY.encode()))
            state = _wait(control, lambda s: s.rollout_percentage == 100, first, 15, "rollout")
            assert route(state, USER).reason == "rollout"
            now = _now_ms()
            # Ignored: a hopping window and a per-variant window (perplexity stays closed).
            producer.publish(_window("perplexity", 50, 50, now, kind="hopping"))
            producer.publish(_window("perplexity", 50, 50, now, variant="b"))
            producer.publish(_window("lightrag", 50, 40, now))
            assert producer.flush(15) == 0
            sent = time.monotonic()
            state = _wait(control, lambda s: s.breakers.get("lightrag") == "open", first, 30,
                          "breaker.lightrag = open")
            opened_s = time.monotonic() - sent
            decision = route(state, USER)
            assert (decision.backend, decision.reason) == ("perplexity", "breaker-open")
            assert first.stop() == 0, first.log_text()

            # Restart with a 2 s cool-down and no new window: the restored status half-opens
            # on the timer (a worker without the table would never see the open breaker).
            second = _start(settings, tmp_path / "second.log", "--breaker-cooldown-ms", "2000")
            restarted = time.monotonic()
            state = _wait(control, lambda s: s.breakers.get("lightrag") == "half-open", second,
                          40, "breaker.lightrag = half-open")
            half_open_s = time.monotonic() - restarted
            assert state.probe_percentage == 10.0
            assert route(state, USER).reason in ("breaker-open", "breaker-probe")
            now = _now_ms()
            for i in range(1, 4):  # three good probe windows close it
                producer.publish(_window("lightrag", 20, 0, now + i))
            assert producer.flush(15) == 0
            sent = time.monotonic()
            state = _wait(control, lambda s: s.breakers.get("lightrag") == "closed", second, 30,
                          "breaker.lightrag = closed")
            closed_s = time.monotonic() - sent
            assert route(state, USER).reason == "rollout"
            got = consume_events(settings.kafka_bootstrap_servers,
                                 [topic_name(prefix, ControllerDecision)], serializer, producer,
                                 prefix, lambda g: len(g) >= 3, timeout=20)
        decisions: list[ControllerDecision] = _of(ControllerDecision, got)
        assert [(d.controller, d.subject, d.from_phase, d.to_phase, d.action) for d in decisions
                ] == [("breaker", "lightrag", "closed", "open", "open"),
                      ("breaker", "lightrag", "open", "half-open", "half-open"),
                      ("breaker", "lightrag", "half-open", "closed", "close")]
        assert decisions[0].metrics["error_rate"] == 0.8
        assert decisions[0].metrics["requests"] == 50
        assert "cool-down of 2000 ms over" in decisions[1].reason
        assert not any(d.dry_run for d in decisions)
        controller_writes = [(c.target, c.value) for c in commands if c.actor == "controller:breaker"]
        assert controller_writes == [("breaker.lightrag", '"open"'),
                                     ("breaker.lightrag", '"half-open"'),
                                     ("lightrag.probe_percentage", "10.0"),
                                     ("breaker.lightrag", '"closed"')]
        assert control.rejected == 0  # every command verified with the key
        assert first.log_text().count("breaker lightrag: closed -> open") == 1
        second_log = second.log_text()
        # The restored open status half-opened on the timer, not on a window (none came).
        assert "breaker lightrag: open -> half-open (action half-open" in second_log
        assert "cause timer;" in second_log
        assert second.stop() == 0, second_log
        assert "Traceback" not in first.log_text() + second.log_text()
        print(f"\nopen after {opened_s:.2f}s, half-open {half_open_s:.2f}s after restart, "
              f"closed {closed_s:.2f}s after the good windows; total "
              f"{time.monotonic() - started:.1f}s")
    finally:
        first.stop()
        if second is not None:
            second.stop()


def test_budget_alerts_at_the_threshold_then_stops_paid_traffic(
        settings: Settings, serializer: SingleObjectSerializer, control: ControlState,
        tmp_path: Path) -> None:
    prefix = settings.kafka_topic_prefix
    worker = _start(settings, tmp_path / "budget.log", LIGHTRAG_DAILY_BUDGET="20",
                    LIGHTRAG_MONTHLY_BUDGET="1000", LIGHTRAG_COST_ALERT_THRESHOLD="80")
    try:
        with make_producer(settings, "test", serializer) as producer:
            producer.publish(_cost(10.0, "q-1"))
            producer.publish(_cost(7.0, "q-2"))  # 17 of 20: 85 %
            assert producer.flush(15) == 0
            sent = time.monotonic()
            got = consume_events(settings.kafka_bootstrap_servers, [topic_name(prefix, Alert)],
                                 serializer, producer, prefix,
                                 lambda g: bool(g) or worker.process.poll() is not None,
                                 timeout=30)
            alerted_s = time.monotonic() - sent
            alerts: list[Alert] = _of(Alert, got)
            assert [(a.kind, a.severity) for a in alerts] == [("budget", "warning")], \
                worker.log_text()
            assert "85% of budget spent" in alerts[0].message
            assert alerts[0].details["controller"] == "budget"
            assert control.state.budget_stop is False

            producer.publish(_cost(3.0, "q-3"))  # 20 of 20: stop
            assert producer.flush(15) == 0
            sent = time.monotonic()
            state = _wait(control, lambda s: s.budget_stop, worker, 30, "budget.stop = true")
            stopped_s = time.monotonic() - sent
            decision = route(state, USER)
            assert (decision.backend, decision.reason) == ("lightrag", "budget")
            got = consume_events(settings.kafka_bootstrap_servers,
                                 [topic_name(prefix, ControllerDecision), topic_name(prefix, Alert)],
                                 serializer, producer, prefix, lambda g: len(g) >= 4, timeout=20)
        decisions: list[ControllerDecision] = _of(ControllerDecision, got)
        assert [(d.controller, d.from_phase, d.to_phase, d.action) for d in decisions] == [
            ("budget", "normal", "alerted", "alert"), ("budget", "alerted", "stopped", "stop")]
        assert [d.metrics["usage_percent"] for d in decisions] == [85.0, 100.0]
        assert [(a.kind, a.severity) for a in _of(Alert, got)] == [("budget", "warning"),
                                                                   ("budget", "critical")]
        assert control.rejected == 0
        assert worker.stop() == 0, worker.log_text()
        assert "Traceback" not in worker.log_text()
        print(f"\nbudget alert after {alerted_s:.2f}s, budget.stop after {stopped_s:.2f}s")
    finally:
        worker.stop()


def test_refuses_to_start_without_a_control_key(settings: Settings, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "processors", "controllers"],
                          env=_env(settings), cwd=tmp_path, capture_output=True, timeout=60,
                          check=False)
    assert done.returncode != 0
    assert b"CMO_CONTROL_KEY: not set" in done.stderr
    assert not (settings.cmo_home / "outbox-controllers.db").exists()  # nothing was started

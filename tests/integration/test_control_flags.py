"""Flags through the real control topic: live propagation, replay, signatures, the ops CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from cmo.adapters.avro import SingleObjectSerializer
from cmo.adapters.control_state import ControlState
from cmo.adapters.control_writer import build_commands, write_commands
from cmo.adapters.factory import make_producer
from cmo.config import Settings
from cmo.events import Alert
from cmo.exceptions import ConfigError
from cmo.topics import topic_name
from tests.integration.helpers import consume_events

pytestmark = pytest.mark.integration
KEY = b"integration-test-control-key"


def _router(s: Settings, serializer: SingleObjectSerializer, producer=None) -> ControlState:  # type: ignore[no-untyped-def]
    return ControlState(s.kafka_bootstrap_servers, serializer, s.kafka_topic_prefix, KEY,
                        alerts=producer)


def test_flag_change_reaches_a_running_router_within_a_second_and_replays(
        settings: Settings, serializer: SingleObjectSerializer) -> None:
    with make_producer(settings, "ops", serializer) as producer, _router(settings, serializer) as router:
        router.start()
        assert router.state.version == 0 and router.state.rollout_percentage == 0
        write_commands(producer, build_commands("rollout", 30, "ops", "stage 1", KEY))
        started = time.monotonic()
        state = router.wait_for(lambda s: s.rollout_percentage == 30, timeout=5)
        assert state.rollout_percentage == 30 and time.monotonic() - started < 1.0
        write_commands(producer, build_commands("canary-start", 5, "ops", "canary", KEY)
                       + build_commands("kill", None, "ops", "incident", KEY))
        live = router.wait_for(lambda s: s.kill_switch, timeout=5)
    with _router(settings, serializer) as restarted:
        rebuilt = restarted.start()
    assert rebuilt == live and rebuilt.version == 3
    assert rebuilt.canary_percentage == 5 and rebuilt.kill_switch


def test_unsigned_and_tampered_commands_are_rejected_and_alerted(
        settings: Settings, serializer: SingleObjectSerializer) -> None:
    good = build_commands("rollout", 10, "ops", "ok", KEY)
    tampered = replace(build_commands("rollout", 20, "ops", "looks ok", KEY)[0], value="100")
    unsigned = replace(build_commands("kill", None, "mallory", "no key", KEY)[0], signature=None)
    forged = build_commands("rollout", 100, "mallory", "wrong key", b"not-the-key")
    with make_producer(settings, "ops", serializer) as producer, \
            _router(settings, serializer, producer) as router:
        router.start()
        write_commands(producer, good + [tampered, unsigned] + forged)
        router.wait_for(lambda s: s.rollout_percentage == 10, timeout=5)
        deadline = time.monotonic() + 10
        while router.rejected < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert router.rejected == 3
        assert router.state.rollout_percentage == 10 and not router.state.kill_switch
        alerts = consume_events(settings.kafka_bootstrap_servers, [topic_name(settings.kafka_topic_prefix, Alert)],
                                serializer, producer, settings.kafka_topic_prefix, lambda g: len(g) >= 3)
    kinds = {(a.event.kind, a.event.severity) for a in alerts}
    assert kinds == {("bad-signature", "critical")}
    assert {a.event.details["actor"] for a in alerts} == {"ops", "mallory"}
    assert any("unsigned" in a.event.message for a in alerts)


def test_cli_refuses_without_a_key() -> None:
    with pytest.raises(ConfigError, match="CMO_CONTROL_KEY"):
        build_commands("kill", None, "ops", "why", None)
    with pytest.raises(ConfigError, match="reason"):
        build_commands("kill", None, "ops", " ", KEY)


def _cmo(settings: Settings, tmp_path: Path, *args: str, key: str | None = "cli-key") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIGHTRAG_", "KAFKA_", "CMO_"))}
    env.update(CMO_HOME=str(tmp_path / "home"), KAFKA_BOOTSTRAP_SERVERS=settings.kafka_bootstrap_servers,
               KAFKA_TOPIC_PREFIX=settings.kafka_topic_prefix)
    if key:
        env["CMO_CONTROL_KEY"] = key
    return subprocess.run([sys.executable, "-m", "cmo", *args], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=120)


def test_ops_cli_writes_signed_commands_and_explains(settings: Settings, tmp_path: Path,
                                                    serializer: SingleObjectSerializer) -> None:
    refused = _cmo(settings, tmp_path, "flags", "kill", "--reason", "x", key=None)
    assert refused.returncode == 1 and "CMO_CONTROL_KEY" in refused.stderr
    done = _cmo(settings, tmp_path, "flags", "rollout", "40", "--reason", "stage 2", "--actor", "ana")
    assert done.returncode == 0, done.stderr
    assert "version 1" in done.stdout and "40.0" in done.stdout
    _cmo(settings, tmp_path, "flags", "ab", "start", "kb-test", "-v", "web:50:perplexity",
         "-v", "kb:50:lightrag", "--reason", "compare")
    shown = json.loads(_cmo(settings, tmp_path, "flags", "show", "--json").stdout)
    assert shown["rollout_percentage"] == 40 and shown["experiment"]["name"] == "kb-test"
    explained = json.loads(_cmo(settings, tmp_path, "flags", "explain", "--user-id", "u-42", "--json").stdout)
    assert explained["result"]["reason"] == "ab-variant" and explained["version"] == 2
    assert [r["rule"] for r in explained["rules"]][0] == "kill-switch"
    flag_file = tmp_path / "try.json"
    flag_file.write_text(json.dumps({"rollout_percentage": 100}))
    tried = json.loads(_cmo(settings, tmp_path, "flags", "explain", "--user-id", "u-42",
                            "--flags", str(flag_file), "--json").stdout)
    assert tried["result"]["backend"] == "lightrag" and tried["result"]["reason"] == "rollout"
    rolled = _cmo(settings, tmp_path, "rollback", "--reason", "quality incident")
    assert rolled.returncode == 0, rolled.stderr
    after = json.loads(_cmo(settings, tmp_path, "flags", "show", "--json").stdout)
    assert after["rollout_percentage"] == 0 and after["experiment"] is None
    with make_producer(settings, "reader", serializer) as dlq:
        alerts = consume_events(settings.kafka_bootstrap_servers, [topic_name(settings.kafka_topic_prefix, Alert)],
                                serializer, dlq, settings.kafka_topic_prefix, lambda g: len(g) >= 1)
    incident = alerts[0].event
    assert incident.kind == "incident" and "quality incident" in incident.message

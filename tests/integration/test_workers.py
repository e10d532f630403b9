"""`cmo workers` runs real Faust workers; the alert worker delivers to a webhook."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from cmo.adapters.avro import SingleObjectSerializer
from cmo.adapters.factory import make_producer
from cmo.config import Settings
from cmo.events import Alert
from tests.conftest import free_port

pytestmark = pytest.mark.integration


def test_workers_start_status_stop_and_alerts_reach_the_webhook(settings: Settings, tmp_path: Path,
                                                                 serializer: SingleObjectSerializer) -> None:
    received: list[dict[str, Any]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    hook = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIGHTRAG_", "KAFKA_", "CMO_"))}
    env.update(CMO_HOME=str(tmp_path / "home"), KAFKA_BOOTSTRAP_SERVERS=settings.kafka_bootstrap_servers,
               KAFKA_TOPIC_PREFIX=settings.kafka_topic_prefix, CMO_CONTROL_KEY="workers-test-key",
               CMO_WORKERS_BASE_PORT=str(free_port()),
               CMO_ALERT_WEBHOOK_URL=f"http://127.0.0.1:{hook.server_address[1]}/slack")

    def cmo(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cmo", *args], capture_output=True, text=True,
                              env=env, cwd=tmp_path, timeout=180)

    try:
        started = cmo("workers", "start", "alerts", "controllers")
        assert started.returncode == 0, started.stderr + started.stdout
        assert cmo("workers", "status").returncode == 0
        with make_producer(settings, "test", serializer) as producer:
            producer.publish(Alert(event_id="a-1", event_time=int(time.time() * 1000), correlation_id="x",
                                   service="test", severity="critical", kind="incident",
                                   message="LightRAG rolled back"))
            producer.flush(10)
        deadline = time.monotonic() + 30
        while not received and time.monotonic() < deadline:
            time.sleep(0.2)
        assert received and "LightRAG rolled back" in received[0]["text"]
    finally:
        stopped = cmo("workers", "stop")
        hook.shutdown()
        hook.server_close()
    assert stopped.returncode == 0 and "alerts-0" in stopped.stdout
    assert cmo("workers", "status").returncode == 1

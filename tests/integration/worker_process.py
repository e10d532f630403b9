"""Running `python -m processors ...` workers as subprocesses against the test broker."""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cmo.config import Settings

REPO = Path(__file__).resolve().parents[2]
STOP_TIMEOUT_S = 30.0


@dataclass
class Worker:
    """A worker subprocess and its log file."""

    process: subprocess.Popen[bytes]
    log: Path
    app_id: str = ""
    web_port: int | None = None

    @property
    def dead(self) -> bool:
        """The worker exited on its own (crashed): stop waiting for its output."""
        return self.process.poll() is not None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        """SIGTERM, wait for a clean exit (kill after STOP_TIMEOUT_S); returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return int(self.process.returncode)


def worker_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment a worker needs for this test's broker, prefix and home (no leaks from ours)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "CMO_", "LIGHTRAG_"))}
    env.update(KAFKA_BOOTSTRAP_SERVERS=settings.kafka_bootstrap_servers,
               KAFKA_TOPIC_PREFIX=settings.kafka_topic_prefix,
               KAFKA_PARTITIONS=str(settings.kafka_partitions),
               KAFKA_MESSAGE_TIMEOUT_MS=str(settings.kafka_message_timeout_ms),
               CMO_HOME=str(settings.cmo_home), PYTHONPATH=str(REPO), **extra)
    return env


def spawn(cmd: list[str], env: dict[str, str], log: Path, app_id: str = "",
          web_port: int | None = None) -> Worker:
    with log.open("wb") as out:
        process = subprocess.Popen(cmd, env=env, cwd=log.parent, stdout=out, stderr=subprocess.STDOUT)
    return Worker(process, log, app_id, web_port)

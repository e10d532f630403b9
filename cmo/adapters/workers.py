"""Start, stop and inspect the Faust worker processes (``cmo workers``).

Each worker is ``python -m processors <kind>`` in its own process group, with its PID in
``$CMO_HOME/workers/<name>.pid``, its log in ``<name>.log`` and Faust's web/health endpoint on
a loopback port. Several instances of a kind join the same consumer group and share its
partitions.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from cmo.exceptions import CMOError

logger = logging.getLogger(__name__)

KINDS = ("quality", "metrics", "controllers", "alerts")
BASE_WEB_PORT = 6066


@dataclass(frozen=True)
class WorkerStatus:
    name: str
    pid: int | None
    running: bool
    healthy: bool
    web_port: int
    log_file: Path


class WorkerManager:
    def __init__(self, home: Path, base_port: int = BASE_WEB_PORT) -> None:
        self.dir = home / "workers"
        self.base_port = base_port

    def _names(self, kinds: list[str], instances: int) -> list[tuple[str, str, int]]:
        out = []
        for kind in kinds:
            if kind not in KINDS:
                raise CMOError(f"unknown worker {kind!r}; known: {', '.join(KINDS)}")
            for i in range(instances):
                out.append((f"{kind}-{i}", kind, self.port_of(kind, i)))
        return out

    def port_of(self, kind: str, instance: int) -> int:
        """Health port of a worker: ten per kind, counted up from the base port."""
        return self.base_port + KINDS.index(kind) * 10 + instance

    def start(self, kinds: list[str], instances: int = 1, timeout: float = 60.0) -> list[WorkerStatus]:
        self.dir.mkdir(parents=True, exist_ok=True)
        started = []
        for name, kind, port in self._names(kinds, instances):
            current = self.status_of(name, port)
            if current.running:
                started.append(current)
                continue
            log = (self.dir / f"{name}.log").open("ab")
            proc = subprocess.Popen(
                [sys.executable, "-m", "processors", kind, "--web-port", str(port)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
            log.close()
            (self.dir / f"{name}.pid").write_text(str(proc.pid))
            logger.info("started worker %s (pid %d, health on 127.0.0.1:%d)", name, proc.pid, port)
            started.append(self.status_of(name, port))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = [self.status_of(s.name, s.web_port) for s in started]
            dead = [s for s in states if not s.running]
            if dead:
                raise CMOError(f"worker {dead[0].name} exited during start; see {dead[0].log_file}")
            if all(s.healthy for s in states):
                return states
            time.sleep(0.3)
        raise CMOError("workers did not become healthy in time; see their logs in " + str(self.dir))

    def stop(self, timeout: float = 30.0) -> list[str]:
        stopped = []
        for pid_file in sorted(self.dir.glob("*.pid")):
            pid = _read_pid(pid_file)
            if pid and _alive(pid):
                os.killpg(pid, signal.SIGTERM)
                deadline = time.monotonic() + timeout
                while _alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.1)
                if _alive(pid):
                    os.killpg(pid, signal.SIGKILL)
                stopped.append(pid_file.stem)
            pid_file.unlink(missing_ok=True)
        return stopped

    def status(self) -> list[WorkerStatus]:
        out = []
        for pid_file in sorted(self.dir.glob("*.pid")):
            name = pid_file.stem
            kind, _, index = name.rpartition("-")
            port = self.port_of(kind, int(index)) if kind in KINDS and index.isdigit() else 0
            out.append(self.status_of(name, port))
        return out

    def status_of(self, name: str, port: int) -> WorkerStatus:
        pid = _read_pid(self.dir / f"{name}.pid")
        running = bool(pid and _alive(pid))
        healthy = False
        if running:
            try:
                healthy = httpx.get(f"http://127.0.0.1:{port}/", timeout=1.0).status_code == 200
            except httpx.HTTPError:
                healthy = False
        return WorkerStatus(name, pid, running, healthy, port, self.dir / f"{name}.log")


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours counts as gone
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return True

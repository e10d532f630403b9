"""Integration tests for cmo.adapters.local_broker: real Kafka 4.1.1 broker processes.

Each broker start takes ~5 s; the tests share one running broker where they only read.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from cmo.adapters.local_broker import BrokerError, LocalBroker, default_libs_dir

pytestmark = pytest.mark.integration

LIBS = default_libs_dir()
needs_broker = pytest.mark.skipif(
    shutil.which("java") is None or not any(LIBS.glob("kafka_2.13-*.jar")),
    reason=f"needs java on PATH and the Kafka jars in {LIBS} (scripts/install.sh)",
)

BrokerFactory = Callable[[Path], LocalBroker]


def _free_ports(count: int = 2) -> list[int]:
    socks = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def _new_broker(home: Path) -> LocalBroker:
    port, controller_port = _free_ports()
    return LocalBroker(home, LIBS, port=port, controller_port=controller_port)


def _admin(broker: LocalBroker) -> Any:
    return AdminClient({"bootstrap.servers": broker.bootstrap_servers, "log_level": 0})


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.fixture
def make_broker() -> Iterator[BrokerFactory]:
    """Creates brokers on free ports and always stops them at teardown."""
    brokers: list[LocalBroker] = []

    def factory(home: Path) -> LocalBroker:
        broker = _new_broker(home)
        brokers.append(broker)
        return broker

    yield factory
    for broker in brokers:
        broker.stop(timeout=15)


@pytest.fixture(scope="module")
def running_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    broker = _new_broker(tmp_path_factory.mktemp("broker"))
    try:
        broker.start(timeout=90)
        yield broker
    finally:
        broker.stop(timeout=15)


@needs_broker
def test_start_reports_running_and_answering(running_broker: LocalBroker) -> None:
    status = running_broker.status()
    assert status.running and status.answering
    assert status.pid is not None
    assert status.bootstrap_servers == f"127.0.0.1:{running_broker.port}"
    assert (status.data_dir / "meta.properties").is_file()
    assert status.log_file.is_file() and status.log_file.stat().st_size > 0
    assert int((running_broker.home / "broker.pid").read_text()) == status.pid
    metadata = _admin(running_broker).list_topics(timeout=10)
    assert len(metadata.brokers) == 1


@needs_broker
def test_second_start_is_idempotent(running_broker: LocalBroker) -> None:
    first = running_broker.status()
    # A fresh object on the same home (as a second CLI call would be) finds the PID file.
    again = LocalBroker(
        running_broker.home,
        LIBS,
        port=running_broker.port,
        controller_port=running_broker.controller_port,
    ).start(timeout=30)
    assert again.running and again.answering
    assert again.pid == first.pid


@needs_broker
def test_stop_then_not_running(make_broker: BrokerFactory, tmp_path: Path) -> None:
    broker = make_broker(tmp_path / "home")
    pid = broker.start(timeout=90).pid
    assert pid is not None
    assert broker.stop() is True
    status = broker.status()
    assert not status.running and not status.answering and status.pid is None
    assert not (tmp_path / "home" / "broker.pid").exists()
    assert not Path(f"/proc/{pid}").exists()
    assert broker.stop() is False  # idempotent


@needs_broker
def test_restart_reuses_formatted_data_dir(make_broker: BrokerFactory, tmp_path: Path) -> None:
    broker = make_broker(tmp_path / "home")
    first_pid = broker.start(timeout=90).pid
    meta = (broker.data_dir / "meta.properties").read_text()
    admin = _admin(broker)
    futures = admin.create_topics(
        [NewTopic("survives-restart", num_partitions=1, replication_factor=1)]
    )
    futures["survives-restart"].result(timeout=30)
    assert "survives-restart" in admin.list_topics(timeout=10).topics
    del admin
    assert broker.stop() is True

    status = broker.start(timeout=90)
    assert status.answering and status.pid != first_pid
    assert (broker.data_dir / "meta.properties").read_text() == meta  # not reformatted
    topics = _admin(broker).list_topics(timeout=10).topics
    assert "survives-restart" in topics


@needs_broker
def test_stale_pid_file_is_cleaned_up(make_broker: BrokerFactory, tmp_path: Path) -> None:
    broker = make_broker(tmp_path / "home")
    broker.home.mkdir(parents=True)

    # A PID whose process is gone.
    broker.pid_file.write_text(f"{_dead_pid()}\n")
    status = broker.status()
    assert not status.running and status.pid is None
    assert broker.stop() is False
    assert not broker.pid_file.exists()

    # A PID reused by a live process that is not a Kafka broker (this test process):
    # it must not be signalled, and start() launches a real broker instead.
    broker.pid_file.write_text(f"{os.getpid()}\n")
    assert broker.status().running is False
    assert broker.stop() is False
    broker.pid_file.write_text(f"{os.getpid()}\n")
    status = broker.start(timeout=90)
    assert status.running and status.answering
    assert status.pid not in (None, os.getpid())
    assert int(broker.pid_file.read_text()) == status.pid


def test_missing_libs_dir_points_to_docker_compose(tmp_path: Path) -> None:
    port, controller_port = _free_ports()
    broker = LocalBroker(tmp_path / "home", tmp_path / "no-libs", port, controller_port)
    with pytest.raises(BrokerError) as excinfo:
        broker.start(timeout=5)
    message = str(excinfo.value)
    assert "docker compose -f infra/docker-compose.yml up -d kafka" in message
    assert "scripts/install.sh" in message
    assert excinfo.value.retriable is False
    assert not broker.pid_file.exists()


def test_missing_java_points_to_docker_compose(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    port, controller_port = _free_ports()
    broker = LocalBroker(tmp_path / "home", LIBS, port, controller_port)
    with pytest.raises(BrokerError, match="docker compose"):
        broker.start(timeout=5)

"""``cmo broker start|stop|status``: the local single-node Kafka (KRaft) broker."""

from __future__ import annotations

from urllib.parse import urlparse

import typer

from cmo.adapters.local_broker import LocalBroker, default_libs_dir
from cmo.cli.common import console, settings
from cmo.config import Settings
from cmo.exceptions import ConfigError

app = typer.Typer(help="Run the local Apache Kafka broker (KRaft, single node, loopback only).",
                  no_args_is_help=True)


def local_broker(s: Settings) -> LocalBroker:
    """The broker that KAFKA_BOOTSTRAP_SERVERS points at, when it is on this machine."""
    first = s.kafka_bootstrap_servers.split(",")[0]
    parsed = urlparse("//" + first)
    if parsed.hostname not in ("127.0.0.1", "localhost") or parsed.port is None:
        raise ConfigError([f"KAFKA_BOOTSTRAP_SERVERS: {first!r} is not a local loopback broker; "
                           "`cmo broker` only manages a broker on 127.0.0.1"])
    return LocalBroker(s.broker_home, default_libs_dir(), port=parsed.port,
                       controller_port=parsed.port + 1)


@app.command()
def start(timeout: float = typer.Option(90.0, help="Seconds to wait until the broker answers.")) -> None:
    """Start the broker (formats storage on first start); does nothing if it already runs."""
    status = local_broker(settings()).start(timeout=timeout)
    console.print(f"broker running: pid {status.pid} at {status.bootstrap_servers} "
                  f"(data {status.data_dir}, log {status.log_file})")


@app.command()
def stop(timeout: float = typer.Option(30.0, help="Seconds before SIGKILL.")) -> None:
    """Stop the broker started by `cmo broker start`."""
    was_running = local_broker(settings()).stop(timeout=timeout)
    console.print("broker stopped" if was_running else "broker was not running")


@app.command()
def status() -> None:
    """Show whether the broker runs and answers; exits 1 when it does not."""
    st = local_broker(settings()).status()
    state = "running" if st.running else "stopped"
    answering = "answering" if st.answering else "not answering"
    console.print(f"broker {state}, {answering}: pid {st.pid} at {st.bootstrap_servers} "
                  f"(data {st.data_dir}, log {st.log_file})")
    if not (st.running and st.answering):
        raise typer.Exit(1)

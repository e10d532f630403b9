"""Alert delivery to a loopback webhook receiver and a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from cmo.events import Alert
from tests.conftest import free_port
from processors.alert_delivery import AlertDispatcher, EmailSink, WebhookSink, slack_payload


def alert(n: int, severity: str = "critical") -> Alert:
    return Alert(event_id=f"a{n}", event_time=n, correlation_id="budget", service="processors",
                 severity=severity, kind="budget", message=f"Daily budget 100% used ({n})",
                 details={"spent_usd": "10.00"})


class Receiver:
    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.bodies: list[dict[str, Any]] = []


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            state.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(state.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


class Inbox:
    def __init__(self) -> None:
        self.messages: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope.content.decode())
        return "250 OK"


def test_webhook_gets_slack_json_and_email_is_sent(receiver: tuple[Receiver, str]) -> None:
    state, url = receiver
    inbox = Inbox()
    port = free_port()
    smtp = Controller(inbox, hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        async def run() -> AlertDispatcher:
            hook = WebhookSink(url)
            mail = EmailSink("127.0.0.1", port, "cmo@lab.test",
                             ["ops@lab.test"], starttls=False)
            dispatcher = AlertDispatcher([hook, mail])
            dispatcher.dispatch(alert(1))
            dispatcher.dispatch(alert(2, severity="info"))   # below the minimum severity
            await dispatcher.drain()
            await hook.close()
            return dispatcher

        dispatcher = asyncio.run(run())
    finally:
        smtp.stop()
    assert state.bodies == [slack_payload(alert(1))] and "Daily budget 100% used (1)" in state.bodies[0]["text"]
    assert len(inbox.messages) == 1 and "Subject: [CMO CRITICAL] budget" in inbox.messages[0]
    assert dispatcher.delivered == {"webhook": 1, "email": 1}


def test_failing_webhook_never_blocks_other_destinations(receiver: tuple[Receiver, str]) -> None:
    state, url = receiver
    state.status = 500

    class Recorder:
        name = "recorder"

        def __init__(self) -> None:
            self.seen: list[str] = []

        async def send(self, a: Alert) -> None:
            self.seen.append(a.event_id)

    recorder = Recorder()

    async def run() -> tuple[float, AlertDispatcher]:
        hook = WebhookSink(url, retries=2, backoff_s=0.2)
        dispatcher = AlertDispatcher([hook, recorder])
        started = time.perf_counter()
        for n in range(20):
            dispatcher.dispatch(alert(n))
        dispatch_time = time.perf_counter() - started
        await dispatcher.drain()
        await hook.close()
        return dispatch_time, dispatcher

    dispatch_time, dispatcher = asyncio.run(run())
    assert dispatch_time < 0.1                      # dispatching never waits for a destination
    assert recorder.seen == [f"a{n}" for n in range(20)]
    assert dispatcher.failed["webhook"] == 20 and len(state.bodies) > 40   # retried (3 attempts each)

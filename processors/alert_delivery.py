"""Alert delivery: Alert events fan out to a Slack-compatible webhook and, optionally, email.

Each destination retries with backoff on its own; a destination that keeps failing is
logged and given up on for that alert, and never stops or slows the stream: deliveries
run as background tasks, bounded by a semaphore per destination (when it is saturated
the oldest work keeps going and new alerts for that destination are dropped with a log
line rather than queueing without limit).
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
from collections.abc import Awaitable, Callable, Sequence
from email.message import EmailMessage
from typing import Protocol

import httpx

from cmo.config import Settings
from cmo.events import Alert
from cmo.exceptions import CMOError

logger = logging.getLogger(__name__)

SEVERITY_ORDER = {"info": 0, "warning": 1, "critical": 2}
EMOJI = {"info": ":information_source:", "warning": ":warning:", "critical": ":rotating_light:"}


class DeliveryError(CMOError):
    retriable = True


class AlertSink(Protocol):
    name: str

    async def send(self, alert: Alert) -> None: ...


def slack_payload(alert: Alert) -> dict[str, object]:
    """Slack incoming-webhook JSON (plain ``text`` plus a fields block)."""
    details = "\n".join(f"*{k}*: {v}" for k, v in sorted(alert.details.items()))
    text = f"{EMOJI.get(alert.severity, '')} [{alert.severity.upper()}] {alert.kind}: {alert.message}"
    return {"text": text,
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}},
                       *([{"type": "section", "text": {"type": "mrkdwn", "text": details}}] if details else [])]}


class WebhookSink:
    name = "webhook"

    def __init__(self, url: str, timeout_s: float = 5.0, retries: int = 3, backoff_s: float = 0.5,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self._url = url
        self.retries = retries
        self.backoff_s = backoff_s
        self._sleep = sleep
        self._client = httpx.AsyncClient(timeout=timeout_s)

    async def send(self, alert: Alert) -> None:
        last = ""
        for attempt in range(self.retries + 1):
            try:
                response = await self._client.post(self._url, json=slack_payload(alert))
                if response.status_code < 300:
                    return
                last = f"HTTP {response.status_code}"
                if 400 <= response.status_code < 500 and response.status_code != 429:
                    break
            except httpx.HTTPError as exc:
                last = type(exc).__name__
            if attempt < self.retries:
                await self._sleep(self.backoff_s * 2 ** attempt)
        raise DeliveryError(f"webhook delivery failed after {self.retries + 1} attempts ({last})")

    async def close(self) -> None:
        await self._client.aclose()


class EmailSink:
    name = "email"

    def __init__(self, host: str, port: int, sender: str, recipients: Sequence[str], starttls: bool = True,
                 user: str | None = None, password: str | None = None, retries: int = 2,
                 timeout_s: float = 10.0) -> None:
        self.host, self.port, self.sender, self.recipients = host, port, sender, list(recipients)
        self.starttls, self.user, self._password = starttls, user, password
        self.retries, self.timeout_s = retries, timeout_s

    def _send_sync(self, alert: Alert) -> None:
        message = EmailMessage()
        message["Subject"] = f"[CMO {alert.severity.upper()}] {alert.kind}: {alert.message[:120]}"
        message["From"], message["To"] = self.sender, ", ".join(self.recipients)
        message.set_content(alert.message + "\n\n" + "\n".join(f"{k}: {v}" for k, v in sorted(alert.details.items())))
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.user and self._password:
                smtp.login(self.user, self._password)
            smtp.send_message(message)

    async def send(self, alert: Alert) -> None:
        for attempt in range(self.retries + 1):
            try:
                await asyncio.to_thread(self._send_sync, alert)
                return
            except (OSError, smtplib.SMTPException) as exc:
                if attempt == self.retries:
                    raise DeliveryError(f"email delivery failed: {type(exc).__name__}: {exc}") from exc
                await asyncio.sleep(0.5 * 2 ** attempt)


class AlertDispatcher:
    """Fans each alert out to every sink in the background; failures are logged, never raised."""

    def __init__(self, sinks: Sequence[AlertSink], min_severity: str = "warning",
                 max_in_flight: int = 32) -> None:
        self.sinks = list(sinks)
        self.min_severity = min_severity
        self._limits = {s.name: asyncio.Semaphore(max_in_flight) for s in self.sinks}
        self._tasks: set[asyncio.Task[None]] = set()
        self.delivered: dict[str, int] = {s.name: 0 for s in self.sinks}
        self.failed: dict[str, int] = {s.name: 0 for s in self.sinks}

    def dispatch(self, alert: Alert) -> None:
        if SEVERITY_ORDER.get(alert.severity, 2) < SEVERITY_ORDER[self.min_severity]:
            return
        for sink in self.sinks:
            limit = self._limits[sink.name]
            if limit.locked():
                logger.warning("alert %s dropped for %s: too many deliveries in flight", alert.event_id, sink.name)
                self.failed[sink.name] += 1
                continue
            task = asyncio.ensure_future(self._deliver(sink, limit, alert))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(self, sink: AlertSink, limit: asyncio.Semaphore, alert: Alert) -> None:
        async with limit:
            try:
                await sink.send(alert)
                self.delivered[sink.name] += 1
            except CMOError as exc:
                self.failed[sink.name] += 1
                logger.warning("alert %s (%s) not delivered to %s: %s", alert.event_id, alert.kind, sink.name, exc)

    async def drain(self, timeout: float = 30.0) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)


def sinks_from(settings: Settings) -> list[AlertSink]:
    sinks: list[AlertSink] = []
    if settings.cmo_alert_webhook_url:
        sinks.append(WebhookSink(settings.cmo_alert_webhook_url.get_secret_value()))
    if settings.cmo_alert_smtp_host and settings.cmo_alert_email_from and settings.cmo_alert_email_to:
        sinks.append(EmailSink(settings.cmo_alert_smtp_host, settings.cmo_alert_smtp_port,
                               settings.cmo_alert_email_from,
                               [a.strip() for a in settings.cmo_alert_email_to.split(",") if a.strip()],
                               settings.cmo_alert_smtp_starttls, settings.cmo_alert_smtp_user,
                               settings.cmo_alert_smtp_password.get_secret_value()
                               if settings.cmo_alert_smtp_password else None))
    return sinks

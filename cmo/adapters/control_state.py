"""Routing state from the compacted control topic: replay at start, follow live.

Each router (and ``cmo flags``) assigns itself the control topic's single partition from
the beginning — no consumer group, so every process sees every command — replays it to
the end, then follows it in a background thread. Commands whose HMAC signature does not
verify with CMO_CONTROL_KEY are rejected and logged; rejected commands that arrive live
are also reported as ``Alert`` events (replayed history is not alerted again).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from cmo.adapters.avro import EventSerializer
from cmo.domain.control import ControlError, apply_command, verify
from cmo.domain.flags import FlagState
from cmo.events import Alert, ControlCommand
from cmo.exceptions import BrokerUnavailableError, SerializationError
from cmo.ports import EventPublisher
from cmo.topics import topic_name

logger = logging.getLogger(__name__)


class ControlState:
    """The current :class:`FlagState`, kept in step with the control topic."""

    def __init__(self, bootstrap_servers: str, serializer: EventSerializer, topic_prefix: str,
                 key: bytes | None, initial: FlagState | None = None,
                 alerts: EventPublisher | None = None, service: str = "router") -> None:
        self.topic = topic_name(topic_prefix, ControlCommand)
        self.serializer = serializer
        self.key = key
        self.alerts = alerts
        self.service = service
        self._state = initial or FlagState()
        self._consumer = Consumer({"bootstrap.servers": bootstrap_servers,
                                   "group.id": f"cmo-control-{uuid.uuid4()}",
                                   "enable.auto.commit": False, "log_level": 3,
                                   "logger": logging.getLogger("librdkafka")})
        self._changed = threading.Condition()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self._live = False
        self.rejected = 0
        self._listeners: list[Callable[[FlagState, ControlCommand], None]] = []

    @property
    def state(self) -> FlagState:
        return self._state

    def on_change(self, listener: Callable[[FlagState, ControlCommand], None]) -> None:
        """Call listener(new_state, command) after each applied command (follower thread)."""
        self._listeners.append(listener)

    def start(self, timeout: float = 30.0) -> FlagState:
        """Replay the topic to its end, then follow it; returns the replayed state."""
        deadline = time.monotonic() + timeout
        while True:  # a just-created topic may not have a leader yet
            try:
                _, high = self._consumer.get_watermark_offsets(TopicPartition(self.topic, 0),
                                                               timeout=max(1.0, deadline - time.monotonic()))
                break
            except KafkaException as exc:
                if time.monotonic() > deadline:
                    raise BrokerUnavailableError(
                        f"cannot read the control topic {self.topic} (does it exist? "
                        f"`cmo topics create`): {exc}") from exc
                time.sleep(0.2)
        self._consumer.assign([TopicPartition(self.topic, 0, OFFSET_BEGINNING)])
        last = -1
        while last < high - 1:
            if time.monotonic() > deadline:
                raise BrokerUnavailableError(f"replaying {self.topic} took longer than {timeout:.0f}s")
            last = max(last, self._poll_once(0.2))
        self._live = True
        logger.info("control state replayed from %s: version %d", self.topic, self._state.version)
        self._thread = threading.Thread(target=self._follow, name="cmo-control", daemon=True)
        self._thread.start()
        return self._state

    def _follow(self) -> None:
        while not self._closed.is_set():
            try:
                self._poll_once(0.1)
            except Exception:  # noqa: BLE001 - the follower must survive any bad record
                logger.exception("control follower error")

    def _poll_once(self, timeout: float) -> int:
        last = -1
        for msg in self._consumer.consume(100, timeout):
            if msg.error() is not None:
                continue
            offset = msg.offset() or 0
            last = max(last, offset)
            self._handle(msg.value() or b"", offset)
        return last

    def _handle(self, value: bytes, offset: int) -> None:
        try:
            event = self.serializer.decode(value, self.topic, "ControlCommand")
        except SerializationError as exc:
            self._reject(None, offset, f"undecodable control record: {exc}")
            return
        assert isinstance(event, ControlCommand)
        if not verify(event, self.key):
            why = "unsigned" if not event.signature else "bad signature"
            self._reject(event, offset, f"{why} command {event.command} {event.target} by {event.actor}")
            return
        try:
            new = apply_command(self._state, event, offset)
        except ControlError as exc:
            self._reject(event, offset, f"invalid command: {exc}")
            return
        with self._changed:
            self._state = new
            self._changed.notify_all()
        logger.info("flag %s = %s (version %d, by %s: %s)", event.target, event.value, new.version,
                    event.actor, event.reason)
        for listener in self._listeners:
            listener(new, event)

    def _reject(self, event: ControlCommand | None, offset: int, why: str) -> None:
        self.rejected += 1
        logger.warning("rejected control record %s@%d: %s", self.topic, offset, why)
        if self._live and self.alerts is not None:
            details = {"topic": self.topic, "offset": str(offset)}
            if event is not None:
                details.update(target=event.target, actor=event.actor, command_event_id=event.event_id)
            self.alerts.publish(Alert(event_id=str(uuid.uuid4()), event_time=int(time.time() * 1000),
                                      correlation_id=event.event_id if event else f"control-{offset}",
                                      service=self.service, severity="critical", kind="bad-signature",
                                      message=f"Rejected control command: {why}", details=details))

    def wait_for(self, predicate: Callable[[FlagState], bool], timeout: float) -> FlagState:
        """Block until the state satisfies predicate (or timeout); returns the state."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(self._state):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
            return self._state

    def close(self) -> None:
        self._closed.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._consumer.close()

    def __enter__(self) -> ControlState:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

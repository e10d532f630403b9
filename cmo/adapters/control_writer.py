"""Writing signed control commands (the only way flags change)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from cmo.adapters.publisher import DurableProducer
from cmo.domain.control import expand, parse_value, sign
from cmo.events import ControlCommand
from cmo.exceptions import ConfigError, PublishError


def build_commands(verb: str, argument: Any, actor: str, reason: str, key: bytes | None,
                   service: str = "cli") -> list[ControlCommand]:
    """Signed commands for an ops verb; refuses without a key or a reason."""
    if not key:
        raise ConfigError(["CMO_CONTROL_KEY: not set; control commands must be signed, so nothing "
                           "was written"])
    if not reason.strip():
        raise ConfigError(["--reason: say why (it is recorded with the command)"])
    now = int(time.time() * 1000)
    commands = []
    for target, value in expand(verb, argument) if verb != "set" else [argument]:
        raw = json.dumps(value)
        parse_value(target, raw)  # validate before anything is written
        commands.append(sign(ControlCommand(
            event_id=str(uuid.uuid4()), event_time=now, correlation_id=str(uuid.uuid4()),
            service=service, command=verb, target=target, value=raw, actor=actor, reason=reason), key))
    return commands


def write_commands(producer: DurableProducer, commands: list[ControlCommand], timeout: float = 15.0) -> None:
    for command in commands:
        producer.publish(command)
    if producer.flush(timeout):
        raise PublishError("the control commands are in the local outbox but the broker has not "
                           "acknowledged them yet; they will be sent when it answers")

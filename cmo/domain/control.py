"""Control commands: signing, and folding them into the flag state. Pure.

Every command on the compacted control topic sets one field of the routing state
(``target``) to a JSON ``value``; the CLI verbs (``kill``, ``canary start``, ``rollback``...)
expand into one or more such commands. Because each record fully determines its field,
compaction (latest record per target) loses nothing, and replaying the topic in offset
order rebuilds the same state everywhere; the state's version is the last applied offset
plus one. Commands are signed with HMAC-SHA256 over a canonical payload; a router applies
only commands whose signature verifies.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from cmo.domain.flags import Experiment, FlagState, Variant
from cmo.events import ControlCommand
from cmo.exceptions import CMOError


class ControlError(CMOError):
    """A command that cannot be applied (unknown target, bad value)."""


def canonical_payload(cmd: ControlCommand) -> bytes:
    """The bytes that are signed: every field that changes the meaning of the command."""
    body = {"event_id": cmd.event_id, "event_time": cmd.event_time, "command": cmd.command,
            "target": cmd.target, "value": cmd.value, "actor": cmd.actor, "reason": cmd.reason}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def sign(cmd: ControlCommand, key: bytes) -> ControlCommand:
    return replace(cmd, signature=hmac.new(key, canonical_payload(cmd), hashlib.sha256).hexdigest())


def verify(cmd: ControlCommand, key: bytes | None) -> bool:
    """True only for a command signed with ``key`` (False when unsigned or no key)."""
    if not key or not cmd.signature:
        return False
    expected = hmac.new(key, canonical_payload(cmd), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, cmd.signature)


def _percentage(value: Any) -> float:
    number = float(value)
    if not 0 <= number <= 100:
        raise ControlError(f"a percentage must be between 0 and 100, got {value!r}")
    return number


def _optional_percentage(value: Any) -> float | None:
    return None if value is None else _percentage(value)


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ControlError(f"expected true or false, got {value!r}")
    return value


def _users(value: Any) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(u, str) for u in value):
        raise ControlError("expected a list of user ids")
    return frozenset(value)


def _experiment(value: Any) -> Experiment | None:
    if value is None:
        return None
    try:
        variants = tuple(Variant(str(v["name"]), int(v["weight"]), str(v.get("backend", "lightrag")))
                         for v in value["variants"])
        return Experiment(str(value["name"]), variants, str(value.get("stickiness", "default")))
    except (KeyError, TypeError, ValueError) as exc:
        raise ControlError(f"bad experiment {value!r}: {exc}") from exc


def _phase(value: Any) -> str:
    if value not in ("closed", "open", "half-open"):
        raise ControlError(f"a breaker phase is closed, open or half-open, got {value!r}")
    return str(value)


# target -> (state field, parser)
TARGETS: Mapping[str, tuple[str, Callable[[Any], Any]]] = {
    "lightrag.kill_switch": ("kill_switch", _bool),
    "lightrag.enabled": ("lightrag_enabled", _bool),
    "lightrag.rollout_percentage": ("rollout_percentage", _percentage),
    "lightrag.canary_percentage": ("canary_percentage", _optional_percentage),
    "lightrag.shadow_mode": ("shadow_mode", _bool),
    "lightrag.allow_users": ("allow_users", _users),
    "lightrag.deny_users": ("deny_users", _users),
    "lightrag.experiment": ("experiment", _experiment),
    "lightrag.probe_percentage": ("probe_percentage", _percentage),
    "budget.stop": ("budget_stop", _bool),
    "breaker.lightrag": ("breakers", _phase),
    "breaker.perplexity": ("breakers", _phase),
}


def parse_value(target: str, raw: str) -> Any:
    if target not in TARGETS:
        raise ControlError(f"unknown flag {target!r}; known: {', '.join(sorted(TARGETS))}")
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ControlError(f"value of {target} is not JSON: {raw!r}") from exc
    return TARGETS[target][1](value)


def apply_command(state: FlagState, cmd: ControlCommand, offset: int) -> FlagState:
    """The state after one (already verified) command at ``offset``."""
    value = parse_value(cmd.target, cmd.value)
    field_name = TARGETS[cmd.target][0]
    if field_name == "breakers":
        backend = cmd.target.split(".", 1)[1]
        value = {**state.breakers, backend: value}
    return replace(state, **{field_name: value, "version": offset + 1})


def expand(verb: str, argument: Any = None) -> list[tuple[str, Any]]:
    """The field settings an ops verb stands for, in the order they are written."""
    verbs: dict[str, Callable[[], list[tuple[str, Any]]]] = {
        "enable": lambda: [("lightrag.enabled", True), ("lightrag.kill_switch", False)],
        "disable": lambda: [("lightrag.enabled", False)],
        "kill": lambda: [("lightrag.kill_switch", True)],
        "rollout": lambda: [("lightrag.rollout_percentage", _percentage(argument))],
        "canary-start": lambda: [("lightrag.canary_percentage", _percentage(argument))],
        "canary-abort": lambda: [("lightrag.canary_percentage", None), ("lightrag.rollout_percentage", 0.0)],
        "canary-promote": lambda: [("lightrag.rollout_percentage", 100.0), ("lightrag.canary_percentage", None)],
        "shadow": lambda: [("lightrag.shadow_mode", _bool(argument))],
        "ab-start": lambda: [("lightrag.experiment", argument)],
        "ab-stop": lambda: [("lightrag.experiment", None)],
        "rollback": lambda: [("lightrag.rollout_percentage", 0.0), ("lightrag.canary_percentage", None),
                             ("lightrag.experiment", None)],
    }
    if verb not in verbs:
        raise ControlError(f"unknown command {verb!r}; known: {', '.join(sorted(verbs))}")
    return verbs[verb]()


def state_from_mapping(data: Mapping[str, Any], base: FlagState | None = None) -> FlagState:
    """A state from a flag configuration file ({target or field: value}) for ``flags explain``."""
    state = base or FlagState()
    fields = {f: t for t, (f, _) in TARGETS.items() if f != "breakers"}
    for key, value in data.items():
        target = key if key in TARGETS else fields.get(key)
        if target is None:
            raise ControlError(f"unknown flag {key!r} in the flag file")
        parsed = TARGETS[target][1](value)
        if TARGETS[target][0] == "breakers":
            parsed = {**state.breakers, target.split(".", 1)[1]: parsed}
        state = replace(state, **{TARGETS[target][0]: parsed})
    return state

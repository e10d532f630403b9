"""Control commands: signatures, folding into state, verbs, compaction-safe replay."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from cmo.domain.control import ControlError, apply_command, expand, sign, state_from_mapping, verify
from cmo.domain.flags import FlagState
from cmo.events import ControlCommand

KEY = b"test-control-key"


def cmd(target: str, value: object, n: int = 0, verb: str = "set") -> ControlCommand:
    return ControlCommand(event_id=f"e{n}", event_time=1000 + n, correlation_id=f"c{n}", service="cli",
                          command=verb, target=target, value=json.dumps(value), actor="ops",
                          reason="test")


def test_signatures_verify_and_tampering_fails() -> None:
    signed = sign(cmd("lightrag.rollout_percentage", 25), KEY)
    assert verify(signed, KEY)
    assert not verify(signed, b"other-key")
    assert not verify(replace(signed, value="100"), KEY)
    assert not verify(replace(signed, actor="mallory"), KEY)
    assert not verify(cmd("lightrag.rollout_percentage", 25), KEY)    # unsigned
    assert not verify(signed, None)                                    # router without a key


def test_commands_fold_into_state_with_versions() -> None:
    history = [cmd("lightrag.rollout_percentage", 10, 0), cmd("lightrag.canary_percentage", 5, 1),
               cmd("breaker.lightrag", "open", 2), cmd("lightrag.experiment",
                   {"name": "ab1", "variants": [{"name": "a", "weight": 1, "backend": "perplexity"}]}, 3)]
    state = FlagState()
    for offset, c in enumerate(history):
        state = apply_command(state, c, offset)
    assert state.version == 4 and state.rollout_percentage == 10 and state.canary_percentage == 5
    assert state.breakers == {"lightrag": "open"} and state.experiment is not None
    assert state.experiment.variants[0].backend == "perplexity"


def test_replaying_only_the_latest_per_target_gives_the_same_state() -> None:
    history = [cmd("lightrag.rollout_percentage", p, i) for i, p in enumerate((10, 25, 50))]
    history += [cmd("lightrag.kill_switch", True, 3), cmd("lightrag.kill_switch", False, 4)]
    full = FlagState()
    for offset, c in enumerate(history):
        full = apply_command(full, c, offset)
    latest = {c.target: (offset, c) for offset, c in enumerate(history)}
    compacted = FlagState()
    for offset, c in sorted(latest.values(), key=lambda t: t[0]):
        compacted = apply_command(compacted, c, offset)
    assert compacted == full


@pytest.mark.parametrize("target, value, message", [
    ("lightrag.rollout_percentage", 150, "between 0 and 100"),
    ("lightrag.kill_switch", "yes", "true or false"),
    ("breaker.lightrag", "ajar", "closed, open or half-open"),
    ("lightrag.colour", 1, "unknown flag"),
])
def test_bad_commands_are_refused(target: str, value: object, message: str) -> None:
    with pytest.raises(ControlError, match=message):
        apply_command(FlagState(), cmd(target, value), 0)


@pytest.mark.parametrize("verb, argument, expected", [
    ("kill", None, [("lightrag.kill_switch", True)]),
    ("rollout", 30, [("lightrag.rollout_percentage", 30.0)]),
    ("canary-abort", None, [("lightrag.canary_percentage", None), ("lightrag.rollout_percentage", 0.0)]),
    ("rollback", None, [("lightrag.rollout_percentage", 0.0), ("lightrag.canary_percentage", None),
                        ("lightrag.experiment", None)]),
])
def test_verbs_expand_to_field_settings(verb: str, argument: object, expected: list) -> None:  # type: ignore[type-arg]
    assert expand(verb, argument) == expected


def test_flag_file_state() -> None:
    state = state_from_mapping({"rollout_percentage": 40, "breaker.lightrag": "half-open",
                                "lightrag.allow_users": ["u1"]})
    assert state.rollout_percentage == 40 and state.breakers["lightrag"] == "half-open"
    assert state.allow_users == frozenset({"u1"})
    with pytest.raises(ControlError):
        state_from_mapping({"nonsense": 1})

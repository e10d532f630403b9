"""An OpenFeature provider over the live routing :class:`FlagState`.

Any OpenFeature client (``openfeature-sdk``) can then ask the same questions the router
answers, with the same cohorts: every evaluation calls :func:`cmo.domain.flags.route` on the
state returned by the provider's ``state`` callable (e.g. ``lambda: control.state`` for a
:class:`cmo.adapters.control_state.ControlState`), so a control command is visible on the
very next evaluation. The state is read once per evaluation, so each answer is consistent.

Evaluation context: ``targeting_key`` is the user id; the attribute ``sessionId`` (or
``session_id``) is the session id; the optional attribute ``random`` (a float in [0, 1)) is
the value for random stickiness when there is neither.

Flags (anything else resolves to the default value with ``FLAG_NOT_FOUND``; asking for a
flag with the wrong type gives the default value with ``TYPE_MISMATCH``):

=============================  =======  ====================================================
key                            type     value
=============================  =======  ====================================================
``lightrag.enabled``           boolean  ``lightrag_enabled and not kill_switch`` (STATIC)
``lightrag.kill_switch``       boolean  the kill switch (STATIC)
``lightrag.shadow_mode``       boolean  shadow mode (STATIC)
``lightrag.route``             boolean  True when ``route()`` picks LightRAG for this context;
                                        variant = the A/B variant, else "on"/"off"
``backend``                    string   ``route().backend``: "lightrag", "perplexity" or
                                        "none"; variant = the route's A/B variant
``lightrag.rollout_percentage`` float   the rollout percentage (STATIC)
``lightrag.bucket``            integer  the user's bucket, 1..100 (SPLIT)
``ab.variant``                 string   the experiment variant for this context
                                        (TARGETING_MATCH), or the default value when there
                                        is no experiment (DEFAULT)
=============================  =======  ====================================================

The two routed flags carry the route's reason mapped to OpenFeature's: TARGETING_MATCH for
allowlist/denylist/ab-variant, SPLIT for rollout/canary, DISABLED for kill-switch/disabled,
STATIC otherwise (breaker, budget, perplexity-unavailable). Every successful answer's
``flag_metadata`` holds ``flag_version`` (``FlagState.version``), ``reason`` (the route's own
reason) and, when there is one, ``cohort``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar, cast

from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import FlagResolutionDetails, FlagType, FlagValueType, Reason
from openfeature.provider import AbstractProvider, Metadata

from cmo.domain.flags import (
    LIGHTRAG,
    Availability,
    FlagContext,
    FlagState,
    Route,
    bucket,
    route,
    select_variant,
)

__all__ = ["FLAG_KEYS", "ROUTE_REASONS", "CMOFlagProvider", "to_flag_context"]

ROUTE_REASONS: Mapping[str, Reason] = {
    "allowlist": Reason.TARGETING_MATCH,
    "denylist": Reason.TARGETING_MATCH,
    "ab-variant": Reason.TARGETING_MATCH,
    "rollout": Reason.SPLIT,
    "canary": Reason.SPLIT,
    "kill-switch": Reason.DISABLED,
    "disabled": Reason.DISABLED,
}

_T = TypeVar("_T", bool, str, int, float)
_Value = bool | int | float | str


@dataclass(frozen=True, slots=True)
class _Answer:
    """A flag's value before it becomes FlagResolutionDetails; ``None`` means the default."""

    value: _Value | None
    reason: Reason
    variant: str | None = None


def _on_off(on: bool) -> str:
    return "on" if on else "off"


def _switch(on: bool) -> _Answer:
    return _Answer(on, Reason.STATIC, _on_off(on))


def _route_reason(r: Route) -> Reason:
    return ROUTE_REASONS.get(r.reason, Reason.STATIC)


def _lightrag_route(s: FlagState, c: FlagContext, r: Route) -> _Answer:
    on = r.backend == LIGHTRAG
    return _Answer(on, _route_reason(r), r.variant or _on_off(on))


def _ab_variant(s: FlagState, c: FlagContext, r: Route) -> _Answer:
    variant = select_variant(s.experiment, c) if s.experiment is not None else None
    if variant is None:
        return _Answer(None, Reason.DEFAULT)
    return _Answer(variant.name, Reason.TARGETING_MATCH, variant.name)


_Resolver = Callable[[FlagState, FlagContext, Route], _Answer]

_FLAGS: Mapping[str, tuple[FlagType, _Resolver]] = {
    "lightrag.enabled": (FlagType.BOOLEAN,
                         lambda s, c, r: _switch(s.lightrag_enabled and not s.kill_switch)),
    "lightrag.kill_switch": (FlagType.BOOLEAN, lambda s, c, r: _switch(s.kill_switch)),
    "lightrag.shadow_mode": (FlagType.BOOLEAN, lambda s, c, r: _switch(s.shadow_mode)),
    "lightrag.route": (FlagType.BOOLEAN, _lightrag_route),
    "backend": (FlagType.STRING, lambda s, c, r: _Answer(r.backend, _route_reason(r), r.variant)),
    "lightrag.rollout_percentage": (FlagType.FLOAT,
                                    lambda s, c, r: _Answer(float(s.rollout_percentage),
                                                            Reason.STATIC)),
    "lightrag.bucket": (FlagType.INTEGER,
                        lambda s, c, r: _Answer(r.bucket if r.bucket is not None
                                                else bucket(c, s.group_id), Reason.SPLIT)),
    "ab.variant": (FlagType.STRING, _ab_variant),
}

FLAG_KEYS: frozenset[str] = frozenset(_FLAGS)


class _InvalidContext(ValueError):
    """An evaluation-context attribute has a type the routing context cannot use."""


def to_flag_context(ctx: EvaluationContext | None) -> FlagContext:
    """OpenFeature's evaluation context as the router's :class:`FlagContext`."""
    if ctx is None:
        return FlagContext()
    attrs = ctx.attributes
    session = attrs.get("sessionId", attrs.get("session_id"))
    if session is not None and not isinstance(session, str):
        raise _InvalidContext(f"sessionId must be a string, not {type(session).__name__}")
    rand = attrs.get("random", 0.0)
    if isinstance(rand, bool) or not isinstance(rand, int | float) or not 0.0 <= rand < 1.0:
        raise _InvalidContext(f"random must be a number in [0, 1), not {rand!r}")
    return FlagContext(user_id=ctx.targeting_key or None, session_id=session or None,
                       random=float(rand))


class CMOFlagProvider(AbstractProvider):
    """OpenFeature provider answering from the live :class:`FlagState` via ``route()``."""

    def __init__(self, state: Callable[[], FlagState],
                 available: Availability | None = None) -> None:
        super().__init__()
        self._state = state
        self._available = available or Availability()

    def get_metadata(self) -> Metadata:
        """The provider's name as OpenFeature reports it."""
        return Metadata(name="CMOFlagProvider")

    def _resolve(self, flag_key: str, flag_type: FlagType, default_value: _T,
                 evaluation_context: EvaluationContext | None) -> FlagResolutionDetails[_T]:
        """Look the flag up, check its type, and evaluate it against one state snapshot."""
        entry = _FLAGS.get(flag_key)
        if entry is None:
            return _error(default_value, ErrorCode.FLAG_NOT_FOUND, f"unknown flag {flag_key!r}")
        if entry[0] is not flag_type:
            return _error(default_value, ErrorCode.TYPE_MISMATCH,
                          f"flag {flag_key!r} is {entry[0].value}, not {flag_type.value}")
        try:
            ctx = to_flag_context(evaluation_context)
        except _InvalidContext as exc:
            return _error(default_value, ErrorCode.INVALID_CONTEXT, str(exc))
        state = self._state()
        decided = route(state, ctx, self._available)
        answer = entry[1](state, ctx, decided)
        metadata: dict[str, bool | int | float | str] = {"flag_version": state.version,
                                                         "reason": decided.reason}
        if decided.cohort is not None:
            metadata["cohort"] = decided.cohort
        value = default_value if answer.value is None else cast(_T, answer.value)
        return FlagResolutionDetails(value=value, reason=answer.reason, variant=answer.variant,
                                     flag_metadata=metadata)

    def resolve_boolean_details(self, flag_key: str, default_value: bool,
                                evaluation_context: EvaluationContext | None = None,
                                ) -> FlagResolutionDetails[bool]:
        """Resolve a boolean flag (``lightrag.enabled/.kill_switch/.shadow_mode/.route``)."""
        return self._resolve(flag_key, FlagType.BOOLEAN, default_value, evaluation_context)

    def resolve_string_details(self, flag_key: str, default_value: str,
                               evaluation_context: EvaluationContext | None = None,
                               ) -> FlagResolutionDetails[str]:
        """Resolve a string flag (``backend``, ``ab.variant``)."""
        return self._resolve(flag_key, FlagType.STRING, default_value, evaluation_context)

    def resolve_integer_details(self, flag_key: str, default_value: int,
                                evaluation_context: EvaluationContext | None = None,
                                ) -> FlagResolutionDetails[int]:
        """Resolve an integer flag (``lightrag.bucket``)."""
        return self._resolve(flag_key, FlagType.INTEGER, default_value, evaluation_context)

    def resolve_float_details(self, flag_key: str, default_value: float,
                              evaluation_context: EvaluationContext | None = None,
                              ) -> FlagResolutionDetails[float]:
        """Resolve a float flag (``lightrag.rollout_percentage``)."""
        return self._resolve(flag_key, FlagType.FLOAT, default_value, evaluation_context)

    def resolve_object_details(
        self, flag_key: str,
        default_value: Sequence[FlagValueType] | Mapping[str, FlagValueType],
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[Sequence[FlagValueType] | Mapping[str, FlagValueType]]:
        """No object flags: known keys are a type mismatch, others are not found."""
        if flag_key in _FLAGS:
            return _error(default_value, ErrorCode.TYPE_MISMATCH,
                          f"flag {flag_key!r} is {_FLAGS[flag_key][0].value}, not OBJECT")
        return _error(default_value, ErrorCode.FLAG_NOT_FOUND, f"unknown flag {flag_key!r}")


_D = TypeVar("_D")


def _error(default_value: _D, code: ErrorCode, message: str) -> FlagResolutionDetails[_D]:
    """The default value with an error code (the client returns the default as well)."""
    return FlagResolutionDetails(value=default_value, reason=Reason.ERROR, error_code=code,
                                 error_message=message)

"""Feature flags for routing between LightRAG and Perplexity. Pure and fast.

Bucketing is identical to Unleash's flexible rollout: MurmurHash3 x86 32-bit (unsigned)
with seed 0 over ``"groupId:stickinessValue"``, modulo 100, plus 1; a user is in when that
value is at most the percentage. Stickiness "default" means the user id, else the session
id, else random. Variants use the same hash with seed 86028157 modulo the total weight,
plus 1, walking the variants in order. So a cohort here is the same set of users as in
Unleash or flagd for the same group id.

Rules are evaluated in order, each a small function returning a :class:`Route` or None:
kill switch, disabled, deny list, breaker, budget, allow list, A/B experiment, canary,
rollout. The caller passes a ``random`` value for random stickiness (never the clock).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import mmh3

VARIANT_SEED = 86028157
LIGHTRAG = "lightrag"
PERPLEXITY = "perplexity"
NONE = "none"


def normalized_value(identifier: str, group_id: str, normalizer: int = 100, seed: int = 0) -> int:
    """Unleash's normalized hash: ``murmur3_32(f"{group_id}:{identifier}", seed) % normalizer + 1``."""
    return int(mmh3.hash(f"{group_id}:{identifier}", seed, signed=False)) % normalizer + 1


@dataclass(frozen=True, slots=True)
class FlagContext:
    """Who is asking (typed; never a bare dict)."""

    user_id: str | None = None
    session_id: str | None = None
    random: float = 0.0   # in [0, 1): used only when stickiness falls back to random


def stickiness_value(ctx: FlagContext, stickiness: str = "default") -> str:
    if stickiness in ("default", "userId") and ctx.user_id:
        return ctx.user_id
    if stickiness in ("default", "sessionId") and ctx.session_id:
        return ctx.session_id
    return f"random-{ctx.random:.6f}"


def bucket(ctx: FlagContext, group_id: str, stickiness: str = "default") -> int:
    """The user's bucket, 1..100."""
    return normalized_value(stickiness_value(ctx, stickiness), group_id)


@dataclass(frozen=True, slots=True)
class Variant:
    name: str
    weight: int
    backend: str = LIGHTRAG


@dataclass(frozen=True, slots=True)
class Experiment:
    name: str
    variants: tuple[Variant, ...]
    stickiness: str = "default"


def select_variant(experiment: Experiment, ctx: FlagContext) -> Variant | None:
    """Unleash's variant assignment: seed 86028157, modulo the total weight, walk in order."""
    total = sum(v.weight for v in experiment.variants)
    if total <= 0:
        return None
    target = normalized_value(stickiness_value(ctx, experiment.stickiness), experiment.name,
                              total, VARIANT_SEED)
    counter = 0
    for variant in experiment.variants:
        counter += variant.weight
        if counter >= target:
            return variant
    return None


@dataclass(frozen=True)
class FlagState:
    """Everything routing depends on; ``version`` grows with every applied control command."""

    version: int = 0
    group_id: str = "lightrag"
    kill_switch: bool = False
    lightrag_enabled: bool = True
    rollout_percentage: float = 0.0
    canary_percentage: float | None = None
    shadow_mode: bool = False
    allow_users: frozenset[str] = frozenset()
    deny_users: frozenset[str] = frozenset()
    experiment: Experiment | None = None
    breakers: Mapping[str, str] = field(default_factory=dict)  # backend -> phase; replaced, never mutated
    probe_percentage: float = 10.0
    budget_stop: bool = False


@dataclass(frozen=True, slots=True)
class Route:
    backend: str
    reason: str
    cohort: str | None = None
    variant: str | None = None
    bucket: int | None = None
    shadow_backend: str | None = None


@dataclass(frozen=True, slots=True)
class Availability:
    """Which backends can answer at all (Perplexity needs an API key)."""

    lightrag: bool = True
    perplexity: bool = True


Rule = Callable[[FlagState, FlagContext, int, Availability], Route | None]


def _other(backend: str, available: Availability) -> str:
    if backend == LIGHTRAG:
        return PERPLEXITY if available.perplexity else NONE
    return LIGHTRAG if available.lightrag else NONE


def _to_perplexity(reason: str, n: int, available: Availability, cohort: str | None = None) -> Route:
    """Perplexity when it can answer; without an API key LightRAG serves everyone."""
    if available.perplexity:
        return Route(PERPLEXITY, reason, cohort, bucket=n)
    if available.lightrag:
        return Route(LIGHTRAG, "perplexity-unavailable", cohort, bucket=n)
    return Route(NONE, reason, cohort, bucket=n)


def kill_switch(s: FlagState, c: FlagContext, n: int, a: Availability) -> Route | None:
    # Kill switch: LightRAG gets no traffic at all.
    return Route(PERPLEXITY if a.perplexity else NONE, "kill-switch", bucket=n) if s.kill_switch else None


def disabled(s: FlagState, c: FlagContext, n: int, a: Availability) -> Route | None:
    # LIGHTRAG_ENABLED is off.
    return None if s.lightrag_enabled else Route(PERPLEXITY if a.perplexity else NONE, "disabled", bucket=n)


def denylist(s: FlagState, c: FlagContext, n: int, a: Availability) -> Route | None:
    # Deny list: these users never get LightRAG.
    if c.user_id and c.user_id in s.deny_users:
        return Route(PERPLEXITY if a.perplexity else NONE, "denylist", "denylist", bucket=n)
    return None


def breaker(s: FlagState, c: FlagContext, n: int, a: Availability) -> Route | None:
    # Breaker open: LightRAG is failing; half-open admits a probe percentage.
    phase = s.breakers.get(LIGHTRAG, "closed")
    if phase == "open" or (phase == "half-open" and n > s.probe_percentage):
        return Route(PERPLEXITY if a.perplexity else NONE, "breaker-open", phase, bucket=n)
    if phase == "half-open":
        return Route(LIGHTRAG, "breaker-probe", f"probe<={s.probe_percentage:g}", bucket=n)
    if s.breakers.get(PERPLEXITY, "closed") == "open" and a.lightrag:
        return Route(LIGHTRAG, "breaker-open", "perplexity-open", bucket=n)
    return None


def budget(s: FlagState, c: FlagContext, n: int, a: Availability) -> Route | None:
    # Budget exhausted: no paid backend; the offline knowledge base still answers.
    if s.budget_stop:
        return Route(LIGHTRAG if a.lightrag else NONE, "budget", "budget-stop", bucket=n)
    return None


def allowlist(s: FlagState, c: FlagContext, n: int, a: Availability) -> Route | None:
    # Allow list: these users always get LightRAG.
    if c.user_id and c.user_id in s.allow_users:
        return Route(LIGHTRAG, "allowlist", "allowlist", bucket=n)
    return None


def experiment(s: FlagState, c: FlagContext, n: int, a: Availability) -> Route | None:
    # A/B experiment: the variant decides the backend.
    if s.experiment is None:
        return None
    variant = select_variant(s.experiment, c)
    if variant is None:
        return None
    backend = variant.backend if (variant.backend != PERPLEXITY or a.perplexity) else LIGHTRAG
    return Route(backend, "ab-variant", s.experiment.name, variant.name, n)


def canary(s: FlagState, c: FlagContext, n: int, a: Availability) -> Route | None:
    # Canary: a small share of users on LightRAG while the rollout controller watches.
    if s.canary_percentage is None:
        return None
    if n <= s.canary_percentage:
        return Route(LIGHTRAG, "canary", f"canary<={s.canary_percentage:g}", bucket=n)
    return _to_perplexity("canary", n, a, f"canary>{s.canary_percentage:g}")


def rollout(s: FlagState, c: FlagContext, n: int, a: Availability) -> Route | None:
    # Rollout percentage: users in bucket <= percentage get LightRAG.
    if s.rollout_percentage > 0 and n <= s.rollout_percentage:
        return Route(LIGHTRAG, "rollout", f"rollout<={s.rollout_percentage:g}", bucket=n)
    return _to_perplexity("rollout", n, a, f"rollout>{s.rollout_percentage:g}")


RULES: tuple[tuple[str, Rule], ...] = (
    ("kill-switch", kill_switch), ("disabled", disabled), ("denylist", denylist),
    ("breaker", breaker), ("budget", budget), ("allowlist", allowlist),
    ("ab-variant", experiment), ("canary", canary), ("rollout", rollout),
)


def route(state: FlagState, ctx: FlagContext, available: Availability = Availability()) -> Route:
    """The backend for this user, the reason, and (in shadow mode) the other backend."""
    n = bucket(ctx, state.group_id)
    for _name, rule in RULES:
        decided = rule(state, ctx, n, available)
        if decided is not None:
            break
    else:  # pragma: no cover - rollout always decides
        decided = Route(NONE, "default", bucket=n)
    if state.shadow_mode and decided.backend != NONE:
        shadow = _other(decided.backend, available)
        if shadow != NONE and not (shadow == LIGHTRAG and (state.kill_switch or not state.lightrag_enabled)):
            decided = Route(decided.backend, decided.reason, decided.cohort, decided.variant,
                            decided.bucket, shadow)
    return decided


def explain(state: FlagState, ctx: FlagContext, available: Availability = Availability()) -> list[dict[str, object]]:
    """Each rule in order with what it said (the equivalent of Unleash's playground)."""
    n = bucket(ctx, state.group_id)
    rows: list[dict[str, object]] = []
    for name, rule in RULES:
        decided = rule(state, ctx, n, available)
        rows.append({"rule": name, "bucket": n, "matched": decided is not None,
                     "backend": decided.backend if decided else None,
                     "variant": decided.variant if decided else None})
    return rows

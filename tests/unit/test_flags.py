"""Flag evaluation: Unleash-identical buckets and variants, rule order, monotonic rollout."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from cmo.domain.flags import (
    Availability,
    Experiment,
    FlagContext,
    FlagState,
    Variant,
    bucket,
    explain,
    normalized_value,
    route,
    select_variant,
)


@pytest.mark.parametrize("identifier, group, normalizer, seed, expected", [
    ("123", "gr1", 100, 0, 73),      # Unleash client-specification vectors
    ("999", "groupX", 100, 0, 25),
])
def test_normalized_value_matches_unleash(identifier: str, group: str, normalizer: int, seed: int,
                                          expected: int) -> None:
    assert normalized_value(identifier, group, normalizer, seed) == expected


def test_bucketing_is_deterministic_and_in_range() -> None:
    values = [bucket(FlagContext(user_id=f"u{i}"), "lightrag") for i in range(2000)]
    assert values == [bucket(FlagContext(user_id=f"u{i}"), "lightrag") for i in range(2000)]
    assert min(values) >= 1 and max(values) <= 100
    share = sum(v <= 25 for v in values) / len(values)
    assert 0.21 < share < 0.29


def test_raising_the_percentage_only_adds_users() -> None:
    users = [FlagContext(user_id=f"user-{i}") for i in range(1000)]
    previous: set[str] = set()
    for pct in (0, 1, 5, 10, 25, 50, 75, 99, 100):
        state = FlagState(rollout_percentage=pct)
        on = {c.user_id for c in users if route(state, c).backend == "lightrag"}  # type: ignore[misc]
        assert previous <= on
        previous = on
    assert len(previous) == 1000


def test_stickiness_falls_back_to_session_then_random() -> None:
    by_session = FlagContext(session_id="s-1")
    assert bucket(by_session, "g") == normalized_value("s-1", "g")
    assert bucket(FlagContext(user_id="u", session_id="s-1"), "g") == normalized_value("u", "g")
    assert bucket(FlagContext(random=0.25), "g") == bucket(FlagContext(random=0.25), "g")


def test_variants_follow_unleash_weights() -> None:
    exp = Experiment("kb-vs-web", (Variant("control", 50, "perplexity"), Variant("kb", 50, "lightrag")))
    picks = [select_variant(exp, FlagContext(user_id=f"u{i}")).name for i in range(2000)]  # type: ignore[union-attr]
    assert 0.45 < picks.count("kb") / 2000 < 0.55
    ctx = FlagContext(user_id="u7")
    target = normalized_value("u7", "kb-vs-web", 100, 86028157)
    assert select_variant(exp, ctx).name == ("control" if target <= 50 else "kb")  # type: ignore[union-attr]


@pytest.mark.parametrize("state, ctx, available, backend, reason", [
    (FlagState(kill_switch=True, rollout_percentage=100), FlagContext("a"), Availability(), "perplexity", "kill-switch"),
    (FlagState(lightrag_enabled=False, rollout_percentage=100), FlagContext("a"), Availability(), "perplexity", "disabled"),
    (FlagState(rollout_percentage=100, deny_users=frozenset({"a"})), FlagContext("a"), Availability(), "perplexity", "denylist"),
    (FlagState(rollout_percentage=100, breakers=MappingProxyType({"lightrag": "open"})), FlagContext("a"), Availability(), "perplexity", "breaker-open"),
    (FlagState(budget_stop=True), FlagContext("a"), Availability(), "lightrag", "budget"),
    (FlagState(allow_users=frozenset({"a"})), FlagContext("a"), Availability(), "lightrag", "allowlist"),
    (FlagState(rollout_percentage=100), FlagContext("a"), Availability(), "lightrag", "rollout"),
    (FlagState(rollout_percentage=0), FlagContext("a"), Availability(), "perplexity", "rollout"),
    (FlagState(rollout_percentage=0), FlagContext("a"), Availability(perplexity=False), "lightrag", "perplexity-unavailable"),
    (FlagState(canary_percentage=100), FlagContext("a"), Availability(), "lightrag", "canary"),
    (FlagState(kill_switch=True), FlagContext("a"), Availability(perplexity=False), "none", "kill-switch"),
])
def test_rules_in_order(state: FlagState, ctx: FlagContext, available: Availability, backend: str,
                        reason: str) -> None:
    decided = route(state, ctx, available)
    assert (decided.backend, decided.reason) == (backend, reason)


def test_half_open_breaker_admits_probe_percentage() -> None:
    state = FlagState(rollout_percentage=100, breakers=MappingProxyType({"lightrag": "half-open"}),
                      probe_percentage=10)
    routes = [route(state, FlagContext(f"u{i}")) for i in range(1000)]
    probes = [r for r in routes if r.reason == "breaker-probe"]
    assert all(r.bucket is not None and r.bucket <= 10 for r in probes)
    assert 0.06 < len(probes) / 1000 < 0.14


def test_shadow_mode_names_the_other_backend() -> None:
    decided = route(FlagState(rollout_percentage=100, shadow_mode=True), FlagContext("a"))
    assert decided.backend == "lightrag" and decided.shadow_backend == "perplexity"
    killed = route(FlagState(kill_switch=True, shadow_mode=True), FlagContext("a"))
    assert killed.shadow_backend is None


def test_explain_lists_every_rule() -> None:
    rows = explain(FlagState(rollout_percentage=50), FlagContext("a"))
    assert [r["rule"] for r in rows][-1] == "rollout" and rows[-1]["matched"]
    assert all(r["bucket"] == bucket(FlagContext("a"), "lightrag") for r in rows)

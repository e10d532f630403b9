"""A/B tallies: bounded per-variant counts that analyse like the raw samples."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from cmo.domain.ab_analysis import ABConfig, VariantSample, compare
from cmo.domain.ab_tally import ABTally, Observation, analyse


def observations(variant: str, n: int, error_rate: float, quality_mu: float,
                 rng: random.Random) -> list[Observation]:
    out = []
    for _ in range(n):
        out.append(Observation(variant, response=True, error=rng.random() < error_rate))
        out.append(Observation(variant, quality=round(min(1.0, max(0.0, rng.gauss(quality_mu, 0.05))), 3)))
    return out


def test_tally_analysis_equals_analysis_of_the_raw_samples() -> None:
    rng = random.Random(7)
    a = observations("control", 300, 0.02, 0.80, rng)
    b = observations("treatment", 300, 0.10, 0.70, rng)
    tally = ABTally().add_all(a[:100]).add_all(a[100:] + b)   # batches fold the same
    [verdict] = analyse(tally, ABConfig())
    raw = compare(
        VariantSample("control", 300, sum(o.error for o in a), [o.quality for o in a if o.quality is not None]),
        VariantSample("treatment", 300, sum(o.error for o in b), [o.quality for o in b if o.quality is not None]),
        ABConfig())
    assert verdict.result.quality_mean_diff == pytest.approx(raw.quality_mean_diff)  # summation order
    assert replace(verdict.result, quality_mean_diff=raw.quality_mean_diff) == raw
    assert verdict.subject == "control-vs-treatment" and verdict.phase == "winner:control"
    m = verdict.metrics()
    assert m["requests_a"] == 300 and m["quality_n_b"] == 300 and m["error_p_value"] < 0.05


def test_no_winner_before_the_minimum_sample_size_then_none_without_a_difference() -> None:
    rng = random.Random(1)
    tally = ABTally().add_all(observations("a", 50, 0.05, 0.8, rng) + observations("b", 50, 0.5, 0.3, rng))
    assert [v.phase for v in analyse(tally, ABConfig(min_samples=100))] == ["collecting"]
    same = ABTally().add_all(observations("a", 400, 0.05, 0.8, rng) + observations("b", 400, 0.05, 0.8, rng))
    [verdict] = analyse(same, ABConfig(min_samples=100))
    assert verdict.phase == "no-winner" and "no significant difference" in verdict.result.reason


def test_tally_round_trips_and_counts_observations() -> None:
    tally = ABTally().add_all([Observation("x", response=True, error=True), Observation("x", quality=0.8125),
                               Observation("y", response=True)])
    assert ABTally.from_dict(tally.to_dict()) == tally
    assert tally.observed == 3 and tally.variants["x"].errors == 1 and tally.variants["y"].requests == 1
    assert analyse(ABTally().add_all([Observation("only", response=True)]), ABConfig()) == []

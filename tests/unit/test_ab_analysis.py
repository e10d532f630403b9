"""A/B variant comparison: significance, effect sizes, and no winner on small samples."""

from __future__ import annotations

import random

import pytest

from cmo.domain.ab_analysis import (
    ABConfig,
    VariantSample,
    cohens_h,
    compare,
    mann_whitney,
    two_proportion_z_test,
)


def scores(n: int, mean: float, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [min(1.0, max(0.0, rng.gauss(mean, 0.1))) for _ in range(n)]


def test_clear_error_difference_with_enough_samples_has_a_winner() -> None:
    a = VariantSample("lightrag", 1000, 20, scores(200, 0.8, 1))
    b = VariantSample("perplexity", 1000, 80, scores(200, 0.8, 2))
    r = compare(a, b)
    assert r.winner == "lightrag"
    assert r.error_p_value is not None and r.error_p_value < 0.001
    assert r.error_rate_diff == pytest.approx(-0.06) and r.cohens_h is not None and r.cohens_h < 0
    assert r.quality_p_value is not None and r.quality_p_value > 0.05
    assert "error rate" in r.reason


def test_clear_quality_difference_has_a_winner() -> None:
    a = VariantSample("a", 300, 6, scores(150, 0.70, 3))
    b = VariantSample("b", 300, 6, scores(150, 0.85, 4))
    r = compare(a, b)
    assert r.winner == "b" and "quality" in r.reason
    assert r.quality_p_value is not None and r.quality_p_value < 0.001
    assert r.rank_biserial is not None and r.rank_biserial < -0.5
    assert r.quality_mean_diff is not None and r.quality_mean_diff < 0


def test_small_sample_calls_no_winner_however_large_the_difference() -> None:
    a = VariantSample("a", 50, 0, scores(50, 0.95, 5))
    b = VariantSample("b", 50, 40, scores(50, 0.2, 6))
    r = compare(a, b)
    assert r.winner is None and "not enough samples" in r.reason
    assert r.error_p_value is None and r.quality_p_value is None
    assert compare(a, b, ABConfig(min_samples=30)).winner == "a"


def test_no_significant_difference_no_winner() -> None:
    a = VariantSample("a", 500, 25, scores(200, 0.8, 7))
    b = VariantSample("b", 500, 27, scores(200, 0.8, 8))
    r = compare(a, b)
    assert r.winner is None and "no significant difference" in r.reason


def test_tests_that_disagree_call_no_winner() -> None:
    a = VariantSample("a", 1000, 20, scores(200, 0.6, 9))     # fewer errors, worse answers
    b = VariantSample("b", 1000, 80, scores(200, 0.9, 10))
    r = compare(a, b)
    assert r.winner is None and "disagree" in r.reason


def test_helpers() -> None:
    assert two_proportion_z_test(0, 100, 0, 100) == 1.0
    assert two_proportion_z_test(10, 100, 10, 100) == pytest.approx(1.0)
    assert two_proportion_z_test(10, 1000, 50, 1000) < 1e-6
    assert cohens_h(0.5, 0.5) == 0.0
    assert mann_whitney([0.5] * 10, [0.5] * 10) == (1.0, 0.0)
    p, r = mann_whitney([0.9] * 5 + [0.8] * 5, [0.1] * 10)
    assert p < 0.01 and r == 1.0

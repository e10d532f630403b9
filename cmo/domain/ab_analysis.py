"""A/B comparison of two experiment variants. Pure (scipy for the distributions).

Two tests, each run only when both variants have at least ``min_samples`` of its unit:

* error rate: two-proportion z-test (pooled), effect sizes as the difference of rates and
  Cohen's h;
* answer quality: Mann-Whitney U (``scipy.stats.mannwhitneyu``, two-sided), effect size as
  the rank-biserial correlation (positive: variant A tends to score higher) and the
  difference of means.

A test is significant when its p-value is below ``alpha`` divided by the number of tests run
(Bonferroni). The winner is the variant favoured by every significant test: fewer errors,
better quality (by the sign of the rank-biserial correlation). No test run (too few
samples), nothing significant, or the two tests favouring different variants: no winner,
and ``reason`` says which.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats


@dataclass(frozen=True)
class VariantSample:
    """What one variant collected: request and error counts, per-answer quality scores."""

    name: str
    requests: int
    errors: int
    quality: Sequence[float] = ()

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class ABConfig:
    """Minimum samples per variant (per test) and the family-wise significance level."""

    min_samples: int = 100
    alpha: float = 0.05


@dataclass(frozen=True)
class ABResult:
    """p-values and effect sizes (None when that test was not run) and the verdict."""

    a: str
    b: str
    error_rate_a: float
    error_rate_b: float
    error_p_value: float | None
    error_rate_diff: float | None
    """error_rate_a - error_rate_b."""
    cohens_h: float | None
    quality_p_value: float | None
    quality_mean_diff: float | None
    """mean quality of A - mean quality of B."""
    rank_biserial: float | None
    winner: str | None
    reason: str


def two_proportion_z_test(errors_a: int, n_a: int, errors_b: int, n_b: int) -> float:
    """Two-sided p-value that both error rates are equal (pooled z-test)."""
    pooled = (errors_a + errors_b) / (n_a + n_b)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    if se == 0:
        return 1.0
    z = (errors_a / n_a - errors_b / n_b) / se
    return float(2 * stats.norm.sf(abs(z)))


def cohens_h(p_a: float, p_b: float) -> float:
    """Effect size of a difference of proportions (0.2 small, 0.5 medium, 0.8 large)."""
    return 2 * math.asin(math.sqrt(p_a)) - 2 * math.asin(math.sqrt(p_b))


def mann_whitney(quality_a: Sequence[float], quality_b: Sequence[float]) -> tuple[float, float]:
    """Two-sided Mann-Whitney p-value and rank-biserial correlation (A over B)."""
    if len(set(quality_a) | set(quality_b)) <= 1:
        return 1.0, 0.0
    result = stats.mannwhitneyu(list(quality_a), list(quality_b), alternative="two-sided")
    u = float(result.statistic)
    return float(result.pvalue), 2 * u / (len(quality_a) * len(quality_b)) - 1


def compare(a: VariantSample, b: VariantSample, config: ABConfig = ABConfig()) -> ABResult:
    """Compare two variants; call a winner only with enough samples and a significant,
    consistent difference."""
    n = config.min_samples
    errors_run = a.requests >= n and b.requests >= n
    quality_run = len(a.quality) >= n and len(b.quality) >= n
    error_p = (two_proportion_z_test(a.errors, a.requests, b.errors, b.requests)
               if errors_run else None)
    quality_p, rank_r = mann_whitney(a.quality, b.quality) if quality_run else (None, None)
    winner, reason = _verdict(a, b, error_p, quality_p, rank_r, config)
    return ABResult(
        a.name, b.name, a.error_rate, b.error_rate, error_p,
        a.error_rate - b.error_rate if errors_run else None,
        cohens_h(a.error_rate, b.error_rate) if errors_run else None,
        quality_p, _mean(a.quality) - _mean(b.quality) if quality_run else None, rank_r,
        winner, reason)


def _verdict(a: VariantSample, b: VariantSample, error_p: float | None,
             quality_p: float | None, rank_r: float | None,
             config: ABConfig) -> tuple[str | None, str]:
    run = [p for p in (error_p, quality_p) if p is not None]
    # Too few samples for any test: no winner yet.
    if not run:
        return None, (f"not enough samples: need {config.min_samples} per variant "
                      f"(requests {a.requests}/{b.requests}, "
                      f"quality {len(a.quality)}/{len(b.quality)})")
    level = config.alpha / len(run)
    votes: dict[str, str] = {}
    if error_p is not None and error_p < level and a.error_rate != b.error_rate:
        votes["error rate"] = a.name if a.error_rate < b.error_rate else b.name
    if quality_p is not None and quality_p < level and rank_r:
        votes["quality"] = a.name if rank_r > 0 else b.name
    # Nothing significant: no winner.
    if not votes:
        return None, (f"no significant difference at alpha {config.alpha:g} "
                      f"({_ps(error_p, quality_p)})")
    # Tests disagree: no winner.
    if len(set(votes.values())) > 1:
        return None, "tests disagree: " + ", ".join(f"{k} favours {v}" for k, v in votes.items())
    winner = next(iter(votes.values()))
    return winner, f"{winner} is better on {' and '.join(votes)} ({_ps(error_p, quality_p)})"


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _ps(error_p: float | None, quality_p: float | None) -> str:
    parts = [f"{k} p={p:.3g}" for k, p in (("error", error_p), ("quality", quality_p))
             if p is not None]
    return ", ".join(parts)

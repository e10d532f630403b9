"""What an A/B experiment has collected per variant, and its analysis. Pure.

A :class:`ABTally` counts, per variant, served responses, errors and the quality scores
(kept as a histogram of thousandths: bounded memory whatever the traffic, exact for scores
given to three decimals, which the scorers produce). :func:`analyse` compares every pair of
variants with :func:`cmo.domain.ab_analysis.compare` (two-proportion z-test on error rate,
Mann-Whitney U on quality, no winner before ``min_samples``) and turns each result into a
:class:`PairVerdict` whose ``phase`` is what a ``ControllerDecision`` reports:
``collecting`` (too few samples), ``no-winner`` or ``winner:<variant>``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from itertools import combinations
from types import MappingProxyType
from typing import Any

from cmo.domain.ab_analysis import ABConfig, ABResult, VariantSample, compare

QUALITY_SCALE = 1000
"""Quality scores are binned to 1/QUALITY_SCALE."""


@dataclass(frozen=True)
class VariantTally:
    """One variant: responses served, how many failed, quality histogram (thousandths)."""

    requests: int = 0
    errors: int = 0
    quality: Mapping[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "quality", MappingProxyType(dict(self.quality)))

    @property
    def quality_count(self) -> int:
        return sum(self.quality.values())

    def sample(self, name: str) -> VariantSample:
        """The variant as :func:`~cmo.domain.ab_analysis.compare` takes it."""
        scores = [k / QUALITY_SCALE for k in sorted(self.quality) for _ in range(self.quality[k])]
        return VariantSample(name, self.requests, self.errors, scores)


@dataclass(frozen=True)
class Observation:
    """One thing seen for a variant: a response (``error`` set) or a quality score."""

    variant: str
    response: bool = False
    error: bool = False
    quality: float | None = None


@dataclass(frozen=True)
class ABTally:
    """Every variant's tally; ``observed`` counts all observations (to skip re-analysis)."""

    variants: Mapping[str, VariantTally] = field(default_factory=dict)
    observed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "variants", MappingProxyType(dict(self.variants)))

    def add_all(self, observations: Iterable[Observation]) -> ABTally:
        counts: dict[str, list[int]] = {}
        hist: dict[str, dict[int, int]] = {}
        seen = 0
        for obs in observations:
            seen += 1
            c = counts.setdefault(obs.variant, [0, 0])
            c[0] += int(obs.response)
            c[1] += int(obs.response and obs.error)
            if obs.quality is not None:
                h = hist.setdefault(obs.variant, {})
                k = round(min(max(obs.quality, 0.0), 1.0) * QUALITY_SCALE)
                h[k] = h.get(k, 0) + 1
        if not seen:
            return self
        variants = dict(self.variants)
        for name in counts.keys() | hist.keys():
            old = variants.get(name, VariantTally())
            req, err = counts.get(name, [0, 0])
            quality = dict(old.quality)
            for k, n in hist.get(name, {}).items():
                quality[k] = quality.get(k, 0) + n
            variants[name] = VariantTally(old.requests + req, old.errors + err, quality)
        return replace(self, variants=variants, observed=self.observed + seen)

    def to_dict(self) -> dict[str, Any]:
        return {"observed": self.observed,
                "variants": {name: {"requests": t.requests, "errors": t.errors,
                                    "quality": [[k, n] for k, n in sorted(t.quality.items())]}
                             for name, t in sorted(self.variants.items())}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ABTally:
        return cls({name: VariantTally(int(v["requests"]), int(v["errors"]),
                                       {int(k): int(n) for k, n in v["quality"]})
                    for name, v in data["variants"].items()}, int(data["observed"]))


@dataclass(frozen=True)
class PairVerdict:
    """The analysis of one pair of variants, ready to publish."""

    subject: str
    phase: str
    result: ABResult
    counts: Mapping[str, float] = field(default_factory=dict)

    def metrics(self) -> dict[str, float]:
        """Sample sizes, rates, p-values and effect sizes (tests not run are left out)."""
        r = self.result
        values: dict[str, float | None] = {
            "error_rate_a": r.error_rate_a, "error_rate_b": r.error_rate_b,
            "error_p_value": r.error_p_value, "cohens_h": r.cohens_h,
            "quality_p_value": r.quality_p_value, "quality_mean_diff": r.quality_mean_diff,
            "rank_biserial": r.rank_biserial}
        return {**self.counts, **{k: float(v) for k, v in values.items() if v is not None}}


def phase_of(result: ABResult) -> str:
    """``winner:<variant>``, ``no-winner`` or ``collecting`` (no test could run yet)."""
    if result.winner is not None:
        return f"winner:{result.winner}"
    if result.error_p_value is None and result.quality_p_value is None:
        return "collecting"
    return "no-winner"


def analyse(tally: ABTally, config: ABConfig) -> list[PairVerdict]:
    """One verdict per pair of variants (sorted by name; subject ``a-vs-b``)."""
    verdicts = []
    for a, b in combinations(sorted(tally.variants), 2):
        ta, tb = tally.variants[a], tally.variants[b]
        result = compare(ta.sample(a), tb.sample(b), config)
        counts = {"requests_a": float(ta.requests), "requests_b": float(tb.requests),
                  "quality_n_a": float(ta.quality_count), "quality_n_b": float(tb.quality_count)}
        verdicts.append(PairVerdict(f"{a}-vs-{b}", phase_of(result), result, counts))
    return verdicts

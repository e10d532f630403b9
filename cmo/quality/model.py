"""Scores, claim verdicts and the scorer port. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

RELEVANCE_WEIGHT = 0.4
ACCURACY_WEIGHT = 0.3
FACTUAL_WEIGHT = 0.3
DEFAULT_THRESHOLD = 0.8
FALLBACK_BELOW = 0.6


def composite(relevance: float, accuracy: float, factual: float) -> float:
    """The product's composite score: 0.4·relevance + 0.3·accuracy + 0.3·factual."""
    return round(RELEVANCE_WEIGHT * relevance + ACCURACY_WEIGHT * accuracy
                 + FACTUAL_WEIGHT * factual, 4)


class Verdict(Enum):
    SUPPORTED = "supported"
    """A retrieved passage states the claim."""
    UNSUPPORTED = "unsupported"
    """No passage states it (possibly invented)."""
    CONTRADICTED = "contradicted"
    """A passage states something incompatible (another number, the opposite polarity)."""


@dataclass(frozen=True)
class ClaimCheck:
    claim: str
    verdict: Verdict
    evidence: str | None          # the supporting (or contradicting) passage sentence
    passage: int | None           # index of that passage
    score: float                  # alignment with the evidence in [0, 1]
    reason: str


@dataclass(frozen=True)
class Passage:
    """A source passage the answer may rely on; ``cited`` if the answer cites it."""

    text: str
    cited: bool = True
    document_id: str = ""
    page: int | None = None


@dataclass(frozen=True)
class QualityScore:
    relevance: float
    accuracy: float
    factual: float
    composite: float
    meets_threshold: bool
    scorer: str                                   # offline | llm
    claims: tuple[ClaimCheck, ...] = ()
    issues: tuple[str, ...] = ()
    reasons: dict[str, str] = field(default_factory=dict)   # judge's reasons, per metric

    @property
    def fallback(self) -> bool:
        """Below 0.6: the router should answer from Perplexity instead."""
        return self.composite < FALLBACK_BELOW


def make_score(relevance: float, accuracy: float, factual: float, scorer: str,
               threshold: float = DEFAULT_THRESHOLD, claims: Sequence[ClaimCheck] = (),
               issues: Sequence[str] = (), reasons: dict[str, str] | None = None) -> QualityScore:
    r, a, f = (round(min(1.0, max(0.0, x)), 4) for x in (relevance, accuracy, factual))
    c = composite(r, a, f)
    return QualityScore(r, a, f, c, c >= threshold, scorer, tuple(claims), tuple(issues),
                        dict(reasons or {}))


class QualityScorer(Protocol):
    """Port: score one answer against the question and its source passages."""

    name: str

    async def score(self, question: str, answer: str, passages: Sequence[Passage]) -> QualityScore: ...

"""Offline, deterministic quality scorer: local embeddings plus lexical and numeric checks.

* relevance — semantic similarity of question and answer, plus coverage of the question's
  content words;
* accuracy — how well each claim is stated by the passages it cites (or, uncited, by any
  cited passage); contradicted claims count 0;
* factual — the claims' support by the retrieved passages: a supported claim counts 1, a
  contradicted one 0, an unsupported one its alignment capped at 0.3
  (:mod:`cmo.quality.claims`: a changed number, a flipped negation or an invented entity is
  never supported).

Identical input gives identical scores (the embedding model is deterministic on CPU).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from cmo.domain.sentences import split_sentences
from cmo.quality.claims import Evidence, alignment, check_claim, split_claims, terms
from cmo.quality.model import (
    DEFAULT_THRESHOLD,
    ClaimCheck,
    Passage,
    QualityScore,
    Verdict,
    make_score,
)


class Embedder(Protocol):
    async def embed(self, texts: list[str]) -> Any: ...


def relevance_from(similarity: float, coverage: float) -> float:
    """Map question-answer cosine similarity (MiniLM scale) and word coverage into [0, 1]."""
    scaled = min(1.0, max(0.0, (similarity - 0.15) / 0.5))
    return 0.75 * scaled + 0.25 * coverage


def support_credit(check: ClaimCheck) -> float:
    """1 for a supported claim, 0 for a contradicted one; an unsupported claim keeps its (low)
    alignment, so a near miss ranks above an unrelated statement (fewer ties at zero)."""
    if check.verdict is Verdict.SUPPORTED:
        return 1.0
    if check.verdict is Verdict.CONTRADICTED:
        return 0.0
    return min(check.score, 0.3)


class OfflineScorer:
    name = "offline"

    def __init__(self, embedder: Embedder, threshold: float = DEFAULT_THRESHOLD) -> None:
        self.embedder = embedder
        self.threshold = threshold

    async def score(self, question: str, answer: str, passages: Sequence[Passage]) -> QualityScore:
        claims = split_claims(answer)
        if not answer.strip() or not claims:
            return make_score(0.0, 0.0, 0.0, self.name, self.threshold,
                              issues=["the answer is empty" if not answer.strip()
                                      else "the answer makes no checkable statement"])
        sentences = [(i, s) for i, p in enumerate(passages) for s in split_sentences(p.text)]
        texts = [question, answer] + [c for c, _ in claims] + [s for _, s in sentences]
        vectors = np.asarray(await self.embedder.embed(texts), dtype=np.float32)
        q_vec, a_vec = vectors[0], vectors[1]
        claim_vecs = vectors[2:2 + len(claims)]
        sent_vecs = vectors[2 + len(claims):]
        sims = claim_vecs @ sent_vecs.T if len(sentences) else np.zeros((len(claims), 0))
        sources_text = " ".join(p.text for p in passages)

        checks: list[ClaimCheck] = []
        accuracies: list[float] = []
        for k, (claim, cited) in enumerate(claims):
            evidence = [Evidence(i, s, float(sims[k, j])) for j, (i, s) in enumerate(sentences)]
            check = check_claim(claim, evidence, sources_text)
            checks.append(check)
            targets = {n - 1 for n in cited if 0 < n <= len(passages)} or {
                i for i, p in enumerate(passages) if p.cited}
            own = [e for e in evidence if e.passage in targets]
            best = max((alignment(claim, e) for e in own), default=0.0)
            accuracies.append(0.0 if check.verdict is Verdict.CONTRADICTED else
                              best * (0.5 if check.verdict is Verdict.UNSUPPORTED else 1.0))

        q_terms = terms(question)
        coverage = len(q_terms & terms(answer)) / len(q_terms) if q_terms else 0.0
        relevance = relevance_from(float(q_vec @ a_vec), coverage)
        accuracy = sum(accuracies) / len(accuracies)
        factual = sum(support_credit(c) for c in checks) / len(checks)
        issues = [f"claim {n} {c.verdict.value}: {c.reason} — \"{c.claim[:120]}\""
                  for n, c in enumerate(checks, 1) if c.verdict is not Verdict.SUPPORTED]
        if relevance < 0.5:
            issues.insert(0, f"the answer may not address the question (relevance {relevance:.2f})")
        if not passages:
            issues.insert(0, "no source passages: accuracy and factual support cannot be shown")
        return make_score(relevance, accuracy, factual, self.name, self.threshold, checks, issues)

"""Extractive answers: the most relevant source sentences, with numbered citations.

Used when no language model is configured. The answer consists only of sentences copied
verbatim from retrieved passages, each followed by its citation number; nothing else
(the "extracted" label is metadata the caller shows separately). Pure: sentence
similarities are computed by the caller (local embeddings) and passed in.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-]*")
STOPWORDS = frozenset(
    ["a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "does", "for", "from", "has", "have", "how", "in", "is", "it", "its", "of", "on", "or", "that", "the", "their", "there", "these", "this", "to", "was", "were", "what", "when", "where", "which", "who", "why", "with", "than", "into", "about", "between", "over", "under", "not", "no"])

_ENDS_SENTENCE = re.compile(r"[.!?][\"')\]]*$")

EXTRACTIVE_LABEL = ("Extracted from sources: every sentence below is quoted verbatim from the "
                    "cited papers; no text was generated.")


@dataclass(frozen=True)
class Candidate:
    """One source sentence that could go into the answer."""

    passage: int          # index of the retrieved passage it comes from (retrieval rank order)
    position: int         # sentence index inside the passage
    sentence: str         # verbatim text
    similarity: float     # semantic similarity to the question, in [-1, 1]


@dataclass(frozen=True)
class Extract:
    """The composed answer: text of quoted sentences + [n] markers, and the cited passages."""

    text: str
    sentences: tuple[str, ...]
    cited_passages: tuple[int, ...]   # passage index for citation number n (1-based -> [n-1])
    quotes: tuple[str, ...]           # per citation: the sentences used from that passage


def terms(text: str) -> set[str]:
    """Lower-cased content words (stopwords removed)."""
    return {w.lower() for w in _WORD.findall(text) if w.lower() not in STOPWORDS and len(w) > 1}


def relevance(question_terms: set[str], candidate: Candidate) -> float:
    """Semantic similarity plus a small bonus for shared content words."""
    overlap = len(question_terms & terms(candidate.sentence))
    coverage = overlap / len(question_terms) if question_terms else 0.0
    return candidate.similarity + 0.25 * coverage


def _near_duplicate(a: str, b: str) -> bool:
    ta, tb = terms(a), terms(b)
    return bool(ta and tb) and len(ta & tb) / len(ta | tb) > 0.8


def select(question: str, candidates: Sequence[Candidate], max_sentences: int = 4,
           per_passage: int = 2, min_words: int = 5) -> list[Candidate]:
    """Best sentences: ranked by relevance, capped per passage, near-duplicates dropped."""
    q = terms(question)
    ranked = sorted(candidates, key=lambda c: (-relevance(q, c), c.passage, c.position))
    chosen: list[Candidate] = []
    per: dict[int, int] = {}
    for cand in ranked:
        if len(chosen) >= max_sentences:
            break
        if len(cand.sentence.split()) < min_words or per.get(cand.passage, 0) >= per_passage:
            continue
        if not _ENDS_SENTENCE.search(cand.sentence):
            continue  # headings, captions and title lines are not statements
        if any(_near_duplicate(cand.sentence, c.sentence) for c in chosen):
            continue
        chosen.append(cand)
        per[cand.passage] = per.get(cand.passage, 0) + 1
    return chosen


def compose(chosen: Sequence[Candidate]) -> Extract:
    """Order by relevance as chosen; number passages by first use; append [n] to each sentence."""
    numbers: dict[int, int] = {}
    quotes: dict[int, list[str]] = {}
    parts: list[str] = []
    for cand in chosen:
        n = numbers.setdefault(cand.passage, len(numbers) + 1)
        quotes.setdefault(cand.passage, []).append(cand.sentence)
        parts.append(f"{cand.sentence} [{n}]")
    order = sorted(numbers, key=numbers.__getitem__)
    return Extract(text=" ".join(parts), sentences=tuple(c.sentence for c in chosen),
                   cited_passages=tuple(order), quotes=tuple(" … ".join(quotes[p]) for p in order))

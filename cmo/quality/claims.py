"""Claim checks without a model: numbers, negation, invented entities, lexical support. Pure.

A claim is one sentence of the answer (citation markers removed). Each claim is matched to
its best evidence sentence among the passages (semantic similarity supplied by the caller,
plus content-word overlap) and then checked: a number the sources do not state, a flipped
negation or an entity no source mentions cannot pass as supported.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from cmo.domain.kg_extract import find_entities
from cmo.domain.sentences import split_sentences
from cmo.quality.model import ClaimCheck, Verdict

SUPPORT_THRESHOLD = 0.33
SAME_STATEMENT = 0.65  # alignment above which a polarity flip is a contradiction
_MARKER = re.compile(r"\s*\[(\d+(?:\s*,\s*\d+)*)\]")
_NUMBER = re.compile(r"(?<![A-Za-z])[-+]?\d[\d,]*(?:\.\d+)?(?:\s?%)?")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9\-']*")
NEGATIONS = frozenset(["not", "no", "never", "without", "neither", "nor", "cannot", "none", "nothing", "absent", "absence", "lack", "lacks", "lacking", "lacked", "fail", "fails", "failed", "unable", "unlikely", "insignificant"])
STOPWORDS = frozenset(
    ["a", "an", "and", "are", "as", "at", "be", "been", "being", "by", "can", "could", "did", "do", "does", "for", "from", "had", "has", "have", "how", "i", "in", "into", "is", "it", "its", "may", "might", "more", "most", "of", "on", "or", "our", "shall", "should", "such", "than", "that", "the", "their", "them", "there", "these", "they", "this", "those", "to", "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom", "why", "will", "with", "would", "also", "both", "each", "other", "some", "only", "very", "between", "after", "before", "during", "over", "under", "about", "among", "study", "studies", "patients", "results", "using", "used", "use"])


@dataclass(frozen=True)
class Evidence:
    """A passage sentence and its semantic similarity to the claim being checked."""

    passage: int
    sentence: str
    similarity: float


def claim_citations(sentence: str) -> tuple[int, ...]:
    """Citation numbers ([1], [2, 3]) attached to a sentence."""
    return tuple(int(n) for m in _MARKER.finditer(sentence) for n in m.group(1).split(","))


def split_claims(answer: str) -> list[tuple[str, tuple[int, ...]]]:
    """(claim text without markers, its citation numbers) for each sentence of the answer."""
    out = []
    for sentence in split_sentences(answer):
        text = _MARKER.sub("", sentence).strip()
        if len(_WORD.findall(text)) >= 3:
            out.append((text, claim_citations(sentence)))
    return out


def numbers(text: str) -> set[str]:
    """Numbers as written, normalised: '1,200' -> '1200', '3.50' -> '3.5', '45 %' -> '45%'."""
    found = set()
    for raw in _NUMBER.findall(text):
        value = raw.replace(",", "").replace(" ", "").lstrip("+")
        if "." in value:
            head, _, tail = value.rstrip("%").partition(".")
            value = head + ("." + tail.rstrip("0") if tail.rstrip("0") else "") + (
                "%" if raw.endswith("%") else "")
        found.add(value)
    return found


def _stem(word: str) -> str:
    word = word.lower()
    for suffix in ("ies", "es", "s"):
        if len(word) > 4 and word.endswith(suffix):
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def terms(text: str) -> set[str]:
    """Content words, lower-cased and crudely stemmed."""
    return {_stem(w) for w in _WORD.findall(text) if w.lower() not in STOPWORDS and len(w) > 2}


def negated(text: str) -> bool:
    words = {w.lower() for w in _WORD.findall(text)}
    return bool(words & NEGATIONS) or "n't" in text.lower()


def salient(text: str) -> set[str]:
    """Names a source must mention for the claim to be supported (entities, acronyms)."""
    names = {name for name, _type in find_entities(text)}
    names |= {w for w in re.findall(r"\b[A-Z][A-Za-z0-9\-]*[A-Z0-9][A-Za-z0-9\-]*\b", text)}
    # capitalised words inside a sentence are names (drugs, places, people)
    names |= set(re.findall(r"(?<=[a-z0-9,;:] )[A-Z][a-z]{3,}\b", text))
    return {n for n in names if len(n) > 2}


def overlap(claim: str, sentence: str) -> float:
    """Share of the claim's content words found in the sentence."""
    claim_terms = terms(claim)
    return len(claim_terms & terms(sentence)) / len(claim_terms) if claim_terms else 0.0


def alignment(claim: str, evidence: Evidence) -> float:
    """How well a sentence states the claim, in [0, 1]: similarity and word overlap."""
    return max(0.0, min(1.0, 0.6 * evidence.similarity + 0.4 * overlap(claim, evidence.sentence)))


def check_claim(claim: str, evidence: Sequence[Evidence], sources_text: str) -> ClaimCheck:
    """Verdict for one claim given candidate evidence sentences and all source text."""
    if not evidence:
        return ClaimCheck(claim, Verdict.UNSUPPORTED, None, None, 0.0, "no source passage to check against")
    best = max(evidence, key=lambda e: (alignment(claim, e), -e.passage))
    score = alignment(claim, best)
    lowered = sources_text.lower()
    invented = sorted(n for n in salient(claim) if n.lower() not in lowered)
    if invented:
        return ClaimCheck(claim, Verdict.UNSUPPORTED, best.sentence, best.passage, score * 0.5,
                          f"mentions {', '.join(invented)}, which no source mentions")
    claim_numbers = numbers(claim)
    missing = claim_numbers - numbers(sources_text)
    if missing:
        stated = sorted(numbers(best.sentence) - claim_numbers)
        if stated:
            return ClaimCheck(claim, Verdict.CONTRADICTED, best.sentence, best.passage, 0.0,
                              f"says {', '.join(sorted(missing))} where the source says {', '.join(stated)}")
        return ClaimCheck(claim, Verdict.UNSUPPORTED, best.sentence, best.passage, score * 0.5,
                          f"the number {', '.join(sorted(missing))} is in no source")
    if score >= SUPPORT_THRESHOLD and negated(claim) != negated(best.sentence):
        if score >= SAME_STATEMENT:
            return ClaimCheck(claim, Verdict.CONTRADICTED, best.sentence, best.passage, 0.0,
                              "the source states the opposite (negation differs)")
        return ClaimCheck(claim, Verdict.UNSUPPORTED, best.sentence, best.passage, score * 0.5,
                          "the closest source sentence has the opposite polarity")
    if score >= SUPPORT_THRESHOLD:
        return ClaimCheck(claim, Verdict.SUPPORTED, best.sentence, best.passage, score,
                          "stated by the source")
    return ClaimCheck(claim, Verdict.UNSUPPORTED, best.sentence, best.passage, score,
                      "no source sentence states this")

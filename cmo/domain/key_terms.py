"""Key terms of a passage: the noun-phrase-like word runs it is most about (pure).

The pattern extractor in :mod:`cmo.domain.kg_extract` finds named things — lexicon terms,
disease names, acronyms, capitalised names — and nothing in a passage written in plain
lower-case words ("ovarian torsion", "concept mapping", "tidal volume"). Without an
entity such a passage is unreachable by LightRAG's entity and relation retrieval. This
module fills the gap RAKE-style (Rose et al., 2010), deterministically and without a
model: candidate terms are runs of content words between stopwords, punctuation and
numbers; 1- to 3-word runs inside them are counted over the passage; the best-scored
terms, none contained in another chosen one, are its key terms.

Score of a term = occurrences x (1 + 0.25 per extra word) + 0.1 x occurrences of its
words. A one-word term must not be a generic research word ("patients", "results");
longer terms may end with one ("nursing students") but not start with one.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from cmo.domain.sentences import split_sentences

__all__ = ["GENERIC_WORDS", "WORD_RE", "candidate_runs", "key_terms", "word_set"]

MAX_TERM_WORDS = 3

WORD_RE = re.compile(r"[A-Za-z][A-Za-z0-9'’-]*[A-Za-z0-9]|[A-Za-z]")
"""A word: letters first, then letters, digits, apostrophes or hyphens (``LC-MS``, ``Crohn's``)."""
_BREAK_RE = re.compile(r"[^\s'’-]")  # any punctuation between two words ends a run


def word_set(text: str) -> frozenset[str]:
    """The whitespace-separated words of ``text`` (word lists written as one string)."""
    return frozenset(text.split())


STOPWORDS = word_set("""
a about above according across after again against all almost along already also although
always am among an and another any anyone are around as at be became because become been
before being below between both but by can cannot could did do does doing done due during
each either else enough especially even ever every few for from further had has have having
he her here hers herself him himself his how however i if in into is it its itself just
least less like likely made make makes many may might more most mostly much must my neither
never no nor not now of off often on once one only onto or other others otherwise our ours
out over own per perhaps quite rather really same several shall she should since so some
still such than that the their theirs them themselves then there thereby therefore these
they this those though through throughout thus to together too toward towards under unless
until up upon us very via was we well were what whatever when whenever where whereas
whether which while who whom whose why will with within without would yet you your""")

GENERIC_WORDS = word_set("""
aim aims analysis analyses analysed analyzed approach approaches article assess assessed
assessment association associations background case cases change changes characteristics
clinical compared comparison conclusion conclusions control controls data day days design
difference differences effect effects evaluate evaluated evaluation evidence factor factors
finding findings follow-up group groups hospital important improve improved include included
including increase increased level levels mean measure measured measures median method
methods month months number objective objectives observed outcome outcomes participants
patient patients percent performed period population present previous purpose rate rates
ratio related relationship report reported research respectively result results review risk
role sample samples showed significant significantly similar studies study subjects total
treatment trial use used using value values week weeks year years
greater higher lower better worse larger smaller longer shorter fewer first second third
two three four five six seven eight nine ten take taken create suggest suggests show shows
regarding concerning following undergoing according based given new high low""")


def _content(word: str) -> bool:
    lower = word.lower()
    return (len(lower) > 2 and lower not in STOPWORDS and not lower.endswith("ly")  # no adverbs
            and not (lower.endswith("ed") and "-" not in lower))


def _norm(word: str) -> str:
    """Lower-case unless the word is an acronym or mixed case (``LC-MS``, ``mRNA``)."""
    return word.lower() if sum(c.isupper() for c in word[1:]) == 0 else word


def candidate_runs(sentence: str) -> list[tuple[tuple[int, int], ...]]:
    """Runs of content words of ``sentence`` as ``(start, end)`` spans, in reading order."""
    runs: list[tuple[tuple[int, int], ...]] = []
    current: list[tuple[int, int]] = []
    last_end = 0
    for match in WORD_RE.finditer(sentence):
        gap = sentence[last_end:match.start()]
        if current and _BREAK_RE.search(gap):
            runs.append(tuple(current))
            current = []
        if _content(match.group()):
            current.append(match.span())
        elif current:
            runs.append(tuple(current))
            current = []
        last_end = match.end()
    if current:
        runs.append(tuple(current))
    return runs


def _terms_of_run(words: list[str]) -> Iterable[tuple[str, ...]]:
    for size in range(1, MAX_TERM_WORDS + 1):
        for start in range(len(words) - size + 1):
            term = tuple(words[start:start + size])
            if term[0].lower() not in GENERIC_WORDS:
                yield term


def key_terms(text: str, limit: int = 6) -> list[str]:
    """The ``limit`` best key terms of ``text``, best first (ties: first occurrence)."""
    if limit <= 0:
        return []
    term_counts: Counter[tuple[str, ...]] = Counter()
    word_counts: Counter[str] = Counter()
    first_seen: dict[tuple[str, ...], int] = {}
    for sentence in split_sentences(text):
        for run in candidate_runs(sentence):
            words = [_norm(sentence[s:e]) for s, e in run]
            word_counts.update(words)
            for term in _terms_of_run(words):
                term_counts[term] += 1
                first_seen.setdefault(term, len(first_seen))

    def score(term: tuple[str, ...]) -> float:
        return (term_counts[term] * (1 + 0.25 * (len(term) - 1))
                + 0.1 * sum(word_counts[w] for w in term))

    chosen: list[tuple[str, ...]] = []
    for term in sorted(term_counts, key=lambda t: (-score(t), first_seen[t])):
        if term_counts[term] < 2 and len(term) == 1:
            continue  # a word said once is not what the passage is about
        if any(_contains(other, term) or _contains(term, other) for other in chosen):
            continue
        chosen.append(term)
        if len(chosen) == limit:
            break
    return [" ".join(term) for term in chosen]


def _contains(outer: tuple[str, ...], inner: tuple[str, ...]) -> bool:
    size = len(inner)
    return any(outer[i:i + size] == inner for i in range(len(outer) - size + 1))

"""Extractive answers quote only source sentences and number their citations."""

from __future__ import annotations

import re

import pytest

from cmo.domain.extractive import Candidate, compose, select, terms

SOURCES = [
    ["Untargeted metabolomics measures as many metabolites as possible without a hypothesis.",
     "It is semi-quantitative and relies on annotation against spectral databases.",
     "Short one."],
    ["Targeted metabolomics quantifies a predefined panel of metabolites with internal standards.",
     "Targeted metabolomics quantifies a predefined panel of metabolites using internal standards."],
    ["NMR spectroscopy is highly reproducible but less sensitive than mass spectrometry."],
]


def _candidates(sims: list[list[float]]) -> list[Candidate]:
    return [Candidate(p, i, s, sims[p][i]) for p, sents in enumerate(SOURCES)
            for i, s in enumerate(sents)]


def test_answer_contains_only_source_sentences_and_markers() -> None:
    chosen = select("How do targeted and untargeted metabolomics differ?",
                    _candidates([[0.8, 0.5, 0.9], [0.85, 0.84], [0.2]]))
    extract = compose(chosen)
    all_sentences = {s for src in SOURCES for s in src}
    body = re.sub(r" ?\[\d+\]", "\n", extract.text)
    for piece in filter(None, (p.strip() for p in body.split("\n"))):
        assert piece in all_sentences
    assert "Short one." not in extract.text                      # too short to be an answer
    headings = compose(select("metabolomics strategies", [
        Candidate(0, 0, "Targeted and Untargeted Metabolomics: Complementary Strategies", 0.99)]))
    assert headings.text == ""                                   # a heading is not a statement
    assert extract.text.count("predefined panel") == 1           # near-duplicate dropped
    assert extract.cited_passages[0] == 1                        # best sentence cited first as [1]
    assert extract.text.startswith(SOURCES[1][0] + " [1]")


def test_citation_numbers_follow_first_use_and_quotes_are_verbatim() -> None:
    extract = compose(select("metabolomics", _candidates([[0.9, 0.1, 0.0], [0.1, 0.0], [0.8]])))
    numbers = [int(n) for n in re.findall(r"\[(\d+)\]", extract.text)]
    assert numbers[0] == 1 and sorted(set(numbers)) == list(range(1, len(extract.cited_passages) + 1))
    for passage, quote in zip(extract.cited_passages, extract.quotes):
        for sentence in quote.split(" … "):
            assert sentence in SOURCES[passage]


@pytest.mark.parametrize("cap, expected", [(1, 1), (2, 2), (4, 4)])
def test_max_sentences(cap: int, expected: int) -> None:
    assert len(select("metabolomics panel", _candidates([[0.5, 0.5, 0.5], [0.5, 0.1], [0.5]]),
                      max_sentences=cap)) == expected


def test_terms_drop_stopwords() -> None:
    assert terms("What is the role of LC-MS in NMR?") == {"role", "lc-ms", "nmr"}


def test_deterministic() -> None:
    cands = _candidates([[0.5, 0.5, 0.5], [0.5, 0.5], [0.5]])
    assert compose(select("x", cands)) == compose(select("x", list(reversed(cands))))

"""Tests for rag_service.chunking: sentence splitting and page-bound chunks."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from rag_service.chunking import (
    Chunk,
    approx_tokens,
    chunk_document,
    sentence_spans,
    split_sentences,
)
from rag_service.documents import Page, ParsedDocument, read_document
from tests import pdf_factory as pf


def make_doc(*pages: str, doc_id: str = "doc-0123456789abcdef") -> ParsedDocument:
    return ParsedDocument(path=Path("paper.pdf"), doc_id=doc_id, content_hash="0" * 64,
                          title=None, doi=None,
                          pages=tuple(Page(number=i, text=t) for i, t in enumerate(pages, 1)))


def sentences_of(n: int, words: int = 8, tag: str = "S") -> list[str]:
    return [f"{tag}{i} " + " ".join(["lactate"] * (words - 2)) + " rose." for i in range(n)]


SPLIT_CASES = [
    ("Plasma was analysed. Urine was not.", ["Plasma was analysed.", "Urine was not."]),
    ("Samples (e.g. plasma) were used. Next.", ["Samples (e.g. plasma) were used.", "Next."]),
    ("Use markers, e.g. Glucose and lactate.", ["Use markers, e.g. Glucose and lactate."]),
    ("That is, i.e. Lactate. Done.", ["That is, i.e. Lactate.", "Done."]),
    ("Smith et al. (2019) found it. Others agreed.",
     ["Smith et al. (2019) found it.", "Others agreed."]),
    ("As Smith et al. Reported before.", ["As Smith et al. Reported before."]),
    ("See Fig. 2 for details. Then Figs. 3 and 4.",
     ["See Fig. 2 for details.", "Then Figs. 3 and 4."]),
    ("Levels were 3.5 mM on average. Range 2.1-4.8.",
     ["Levels were 3.5 mM on average.", "Range 2.1-4.8."]),
    ("Significant (p < 0.05). 12 patients improved.",
     ["Significant (p < 0.05).", "12 patients improved."]),
    ("J. R. Smith and A. Jones led it. It worked.",
     ["J. R. Smith and A. Jones led it.", "It worked."]),
    ("Made in the U.S. By hand.", ["Made in the U.S. By hand."]),
    ("Case vs. Control groups differed. Yes.", ["Case vs. Control groups differed.", "Yes."]),
    ("Incubated for 5 min. Samples were spun.", ["Incubated for 5 min.", "Samples were spun."]),
    ("See No. 5 in the list. Next.", ["See No. 5 in the list.", "Next."]),
    ("Is it elevated? Yes! Clearly.", ["Is it elevated?", "Yes!", "Clearly."]),
    ('He said "It rose." Then it fell.', ['He said "It rose."', "Then it fell."]),
    ("It rose.[12] Then it fell [3,4]. End.", ["It rose.[12]", "Then it fell [3,4].", "End."]),
    ("It rose (ref. 4). Then.", ["It rose (ref. 4).", "Then."]),
    ("Results\n\nPlasma rose. Urine fell", ["Results", "Plasma rose.", "Urine fell"]),
    ("A line\nwrapped here. Next one.", ["A line\nwrapped here.", "Next one."]),
    ("  leading and trailing space.  ", ["leading and trailing space."]),
    ("no punctuation at all", ["no punctuation at all"]),
    ("Wait... Then more.", ["Wait...", "Then more."]),
    ("", []),
    ("   \n\n  ", []),
]


@pytest.mark.parametrize(("text", "expected"), SPLIT_CASES)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


@pytest.mark.parametrize("text", [case[0] for case in SPLIT_CASES])
def test_sentences_are_exact_substrings_in_order(text: str) -> None:
    spans = sentence_spans(text)
    assert [text[s:e] for s, e in spans] == split_sentences(text)
    ends = [0] + [e for _, e in spans]
    assert all(s >= prev for (s, _), prev in zip(spans, ends, strict=False))
    # nothing but whitespace is lost between sentences
    assert re.sub(r"\s", "", "".join(split_sentences(text))) == re.sub(r"\s", "", text)


def test_chunks_cover_pages_with_ids_and_order() -> None:
    p1 = " ".join(sentences_of(40, tag="A"))
    p2 = " ".join(sentences_of(3, tag="B"))
    doc = make_doc(p1, "", p2)
    chunks = chunk_document(doc, max_tokens=60, overlap_sentences=1)
    assert all(isinstance(c, Chunk) for c in chunks)
    assert [c.order for c in chunks] == list(range(len(chunks)))
    assert {c.page for c in chunks} == {1, 3}  # the empty page has no chunk
    for c in chunks:
        assert c.doc_id == doc.doc_id
        assert c.text in doc.pages[c.page - 1].text  # exact slice of one page
        assert approx_tokens(c.text) <= 60
        assert c.text == c.text.strip()
    page1 = [c for c in chunks if c.page == 1]
    assert [c.chunk_id for c in page1] == [f"{doc.doc_id}-p1-c{n}" for n in range(len(page1))]
    assert [c.chunk_id for c in chunks if c.page == 3] == [f"{doc.doc_id}-p3-c0"]
    assert len({c.chunk_id for c in chunks}) == len(chunks)


def test_chunks_split_on_sentences_with_overlap() -> None:
    sents = sentences_of(30)
    chunks = chunk_document(make_doc(" ".join(sents)), max_tokens=50, overlap_sentences=1)
    assert len(chunks) > 3
    for c in chunks:
        assert all(s in sents for s in split_sentences(c.text))
    for a, b in itertools.pairwise(chunks):
        assert split_sentences(a.text)[-1] == split_sentences(b.text)[0]
    assert split_sentences(chunks[-1].text)[-1] == sents[-1]


def test_chunks_without_overlap_partition_the_sentences() -> None:
    sents = sentences_of(25)
    chunks = chunk_document(make_doc(" ".join(sents)), max_tokens=40, overlap_sentences=0)
    assert [s for c in chunks for s in split_sentences(c.text)] == sents


def test_overlap_larger_than_chunk_still_progresses() -> None:
    sents = sentences_of(12)
    chunks = chunk_document(make_doc(" ".join(sents)), max_tokens=25, overlap_sentences=5)
    firsts = [split_sentences(c.text)[0] for c in chunks]
    assert len(firsts) == len(set(firsts))
    assert split_sentences(chunks[-1].text)[-1] == sents[-1]
    assert all(approx_tokens(c.text) <= 25 for c in chunks)


def test_over_long_sentence_is_cut_at_spaces() -> None:
    text = " ".join(f"word{i}" for i in range(500))  # no sentence end at all
    chunks = chunk_document(make_doc(text), max_tokens=100, overlap_sentences=0)
    assert len(chunks) > 4
    assert all(approx_tokens(c.text) <= 100 for c in chunks)
    assert " ".join(c.text for c in chunks) == text


def test_custom_token_counter() -> None:
    text = " ".join(sentences_of(20))
    chunks = chunk_document(make_doc(text), max_tokens=200, overlap_sentences=0,
                            count_tokens=len)  # characters as tokens
    assert all(len(c.text) <= 200 for c in chunks)
    assert len(chunks) >= len(text) // 200


def test_small_page_is_one_chunk_and_paragraphs_stay_in_text() -> None:
    text = "Methods\n\nPlasma was collected. It was frozen."
    chunks = chunk_document(make_doc(text))
    assert [c.text for c in chunks] == [text]
    assert split_sentences(chunks[0].text) == ["Methods", "Plasma was collected.",
                                               "It was frozen."]


@pytest.mark.parametrize(("max_tokens", "overlap"), [(0, 1), (10, -1)])
def test_bad_arguments(max_tokens: int, overlap: int) -> None:
    with pytest.raises(ValueError):
        chunk_document(make_doc("Text."), max_tokens=max_tokens, overlap_sentences=overlap)


def test_chunking_a_real_pdf_keeps_pages(tmp_path: Path) -> None:
    pages = [" ".join(sentences_of(30, tag=f"P{n}x")) for n in range(1, 4)]
    doc = read_document(pf.make_pdf(tmp_path / "paper.pdf", pages))
    chunks = chunk_document(doc, max_tokens=80)
    assert {c.page for c in chunks} == {1, 2, 3}
    for c in chunks:
        assert all(s.startswith(f"P{c.page}x") for s in split_sentences(c.text))
        assert c.chunk_id.startswith(f"{doc.doc_id}-p{c.page}-c")

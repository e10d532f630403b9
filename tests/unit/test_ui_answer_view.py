"""What the chat shows: citations numbered like the answer, source and quality indicators,
routing notes and error messages (pure functions, no Chainlit)."""

from __future__ import annotations

from typing import Any

import pytest

from ui.answer_view import (
    citation_views,
    error_kind,
    error_message,
    render_answer,
    retrieval_summary,
    routing_summary,
)

CITATIONS = [
    {"title": "Inborn errors of metabolism", "page": 2, "quote": "Leucine accumulates in MSUD."},
    {"title": "Analytical platforms", "page": 5, "quote": "NMR quantifies urinary metabolites.\nNo derivatization."},
    {"title": "MSUD overview", "page": None, "quote": "", "url": "https://example.org/msud"},
]


def answer(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"backend": "lightrag", "text": "Leucine accumulates [1]. NMR helps [2].",
                            "citations": CITATIONS, "route": {"backend": "lightrag", "reason": "rollout",
                                                              "cohort": "rollout<=100"},
                            "quality": {"composite": 0.83}, "extractive": False}
    return {**base, **over}


def test_citations_are_numbered_like_the_answer_with_title_page_and_quote() -> None:
    views = citation_views(CITATIONS)
    assert [v.name for v in views] == ["[1]", "[2]", "[3]"]
    assert views[0].content == "**Inborn errors of metabolism, p. 2**\n\n> Leucine accumulates in MSUD."
    assert "> NMR quantifies urinary metabolites.\n> No derivatization." in views[1].content
    assert views[2].content == "**MSUD overview**\n\nhttps://example.org/msud"


def test_answer_has_source_indicator_and_quality_badge() -> None:
    text = render_answer(answer())
    assert text.startswith("Leucine accumulates [1]. NMR helps [2].")
    assert "**Source:** knowledge graph" in text
    assert "**Quality:** Good (0.83)" in text


@pytest.mark.parametrize("over, expected, absent", [
    ({"backend": "perplexity", "quality": None}, ["**Source:** web search", "**Quality:** not scored"], []),
    ({"quality": {"composite": 0.95}}, ["Excellent (0.95)"], []),
    ({"quality": {"composite": 0.71}}, ["Acceptable (0.71)"], []),
    ({"quality": {"composite": 0.4}}, ["Low quality (0.40)"], []),
    ({"route": {"reason": "budget"}}, ["budget is used up"], []),
    ({"route": {"reason": "breaker-open"}}, ["circuit breaker open"], []),
    ({"fallback_from": "lightrag", "backend": "perplexity"}, ["lightrag could not answer well"], []),
    ({"extractive": True, "label": "Extracted from sources"}, ["_Extracted from sources_\n\nLeucine"], []),
])
def test_indicators(over: dict[str, Any], expected: list[str], absent: list[str]) -> None:
    text = render_answer(answer(**over))
    assert all(e in text for e in expected), text
    assert not any(a in text for a in absent), text


def test_translated_text_and_notes_replace_the_body_but_keep_sources() -> None:
    text = render_answer(answer(extractive=True), "Leucin reichert sich an [1].", ("Translated into German.",))
    assert "Extracted from sources" not in text  # a translation is not verbatim
    assert text.startswith("Leucin reichert sich an [1].") and "Leucine accumulates" not in text
    assert "**Quality:** Good" in text and "Translated into German." in text


def test_routing_and_retrieval_summaries() -> None:
    assert routing_summary({"backend": "lightrag", "reason": "canary", "cohort": "canary<=5",
                            "variant": None}) == "backend: **lightrag** · reason: canary · cohort: canary<=5"
    summary = retrieval_summary(answer())
    assert summary.startswith("3 cited passage(s) from 3 source(s)") and "- Analytical platforms" in summary


@pytest.mark.parametrize("detail, reason, kind, says", [
    ("lightrag failed: the knowledge base has no answer to this question", "rollout", "empty-kb", "cmo ingest"),
    ("no backend is available for this query", "budget", "budget", "budget is used up"),
    ("no backend is available for this query", "breaker-open", "breaker", "circuit breaker open"),
    ("lightrag failed: LightRAG timed out after 30s", "rollout", "failed", "timed out"),
])
def test_errors_get_a_clear_message(detail: str, reason: str, kind: str, says: str) -> None:
    assert error_kind(detail, reason) == kind
    assert says in error_message(kind, detail)


def test_unknown_error_kind_falls_back_to_a_generic_message() -> None:
    assert "No answer could be produced: boom" == error_message("whatever", "boom").removeprefix("⚠ ")

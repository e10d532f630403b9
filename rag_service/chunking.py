"""Split parsed documents into page-bound chunks of whole sentences.

A chunk never spans two pages, so every chunk cites exactly one page. Chunks are built from
whole sentences (an over-long sentence is cut at word boundaries), hold about ``max_tokens``
tokens, and repeat the last ``overlap_sentences`` sentences of the chunk before. A chunk's
text is an exact slice of its page's text, and :func:`split_sentences` returns exact slices
of its input, so answers can quote source sentences verbatim.

The sentence splitter is rule based: it ends a sentence at ``.``, ``!`` or ``?`` (with any
closing quotes, brackets or a ``[12]`` citation) followed by whitespace and a capital, digit
or opening bracket, and always at a paragraph break, but not after abbreviations such as
"e.g.", "i.e.", "et al.", "Fig.", "vs." or after initials ("J. Smith", "U.S."). "No.",
"p.", "ca." and months count as abbreviations only before a number, and "min." is none, so
"for 5 min. Samples" ends a sentence.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from cmo.domain.sentences import (  # noqa: F401  (re-exported)
    ABBREVIATIONS,
    NUMBER_ABBREVIATIONS,
    sentence_spans,
    split_sentences,
)
from rag_service.documents import ParsedDocument

logger = logging.getLogger(__name__)

TokenCounter = Callable[[str], int]

@dataclass(frozen=True)
class Chunk:
    """A piece of one page: ``chunk_id`` is ``f"{doc_id}-p{page}-c{n}"`` with ``n`` counted
    from 0 within the page; ``order`` counts from 0 across the whole document."""

    chunk_id: str
    doc_id: str
    page: int
    text: str
    order: int


def approx_tokens(text: str) -> int:
    """About how many tokens ``text`` is: words x 1.3, rounded up."""
    return math.ceil(len(text.split()) * 1.3)




def chunk_document(doc: ParsedDocument, max_tokens: int = 300, overlap_sentences: int = 1,
                   count_tokens: TokenCounter = approx_tokens) -> list[Chunk]:
    """Chunks of whole sentences, page by page, about ``max_tokens`` tokens each."""
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")
    if overlap_sentences < 0:
        raise ValueError(f"overlap_sentences must not be negative, got {overlap_sentences}")
    chunks: list[Chunk] = []
    for page in doc.pages:
        units = [u for s, e in sentence_spans(page.text)
                 for u in _fit(page.text, s, e, max_tokens, count_tokens)]
        for n, (start, end) in enumerate(_pack(units, max_tokens, overlap_sentences)):
            chunks.append(Chunk(chunk_id=f"{doc.doc_id}-p{page.number}-c{n}", doc_id=doc.doc_id,
                                page=page.number, text=page.text[start:end], order=len(chunks)))
    logger.debug("chunked %s into %d chunks", doc.doc_id, len(chunks))
    return chunks


def _fit(text: str, start: int, end: int, max_tokens: int,
         count: TokenCounter) -> list[tuple[int, int, int]]:
    """``(start, end, tokens)`` for a sentence, cut at spaces if it alone is too long."""
    tokens = count(text[start:end])
    if tokens <= max_tokens:
        return [(start, end, tokens)]
    pieces: list[tuple[int, int, int]] = []
    words = [m.span() for m in re.finditer(r"\S+", text[start:end])]
    first = 0
    while first < len(words):
        last = first
        while (last + 1 < len(words) and count(text[start + words[first][0]:
                                                      start + words[last + 1][1]]) <= max_tokens):
            last += 1
        s, e = start + words[first][0], start + words[last][1]
        pieces.append((s, e, count(text[s:e])))
        first = last + 1
    return pieces


def _pack(units: list[tuple[int, int, int]], max_tokens: int,
          overlap: int) -> list[tuple[int, int]]:
    """Group consecutive units into ``(start, end)`` spans of at most ``max_tokens`` tokens,
    each starting with the last ``overlap`` units of the one before (as many as fit)."""
    spans: list[tuple[int, int]] = []
    first = 0
    while first < len(units):
        last, total = first, units[first][2]
        while last + 1 < len(units) and total + units[last + 1][2] <= max_tokens:
            last += 1
            total += units[last][2]
        spans.append((units[first][0], units[last][1]))
        if last + 1 >= len(units):
            break
        nxt = last + 1
        keep = min(overlap, last - first)  # always move forward by at least one unit
        while keep and sum(u[2] for u in units[nxt - keep:nxt + 1]) > max_tokens:
            keep -= 1
        first = nxt - keep
    return spans

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
from typing import Final

from rag_service.documents import ParsedDocument

logger = logging.getLogger(__name__)

TokenCounter = Callable[[str], int]

ABBREVIATIONS: Final = frozenset({
    "e.g", "i.e", "eg", "ie", "al", "cf", "vs", "viz", "resp", "fig", "figs", "eq", "eqs",
    "ref", "refs", "suppl", "dr", "mr", "mrs", "ms", "prof", "st", "jr", "sr", "inc", "ltd",
    "co", "corp", "dept", "univ", "sp", "spp", "subsp", "var", "cv",
})
NUMBER_ABBREVIATIONS: Final = frozenset({  # abbreviations only when a number follows
    "no", "nos", "p", "pp", "vol", "vols", "ch", "tab", "ca", "approx", "jan", "feb", "mar",
    "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
})
_END = re.compile(r"""[.!?]+["'”’)\]]*(?:\[\d+(?:[,–-]\s?\d+)*\])?(?=\s|$)""")
_PARAGRAPH = re.compile(r"\n[ \t]*\n\s*")
_OPENERS: Final = "\"'“‘([{"


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


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` offsets of the sentences of ``text``, without surrounding space."""
    spans: list[tuple[int, int]] = []
    start = 0
    for para in [*_PARAGRAPH.finditer(text), None]:
        end = para.start() if para else len(text)
        spans.extend(_sentences_in(text, start, end))
        start = para.end() if para else end
    return spans


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text``, each an exact substring of it (surrounding space trimmed)."""
    return [text[s:e] for s, e in sentence_spans(text)]


def _sentences_in(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    cursor = start
    for match in _END.finditer(text, start, end):
        nxt = match.end()
        while nxt < end and text[nxt].isspace():
            nxt += 1
        if nxt < end and not _starts_sentence(text[nxt]):
            continue
        if match.group().startswith(".") and _is_abbreviation(
                text, cursor, match.start(), nxt < end and text[nxt].isdigit()):
            continue
        spans.append(_trim(text, cursor, match.end()))
        cursor = nxt
    if cursor < end:
        spans.append(_trim(text, cursor, end))
    return [(s, e) for s, e in spans if e > s]


def _starts_sentence(char: str) -> bool:
    return char.isupper() or char.isdigit() or char in _OPENERS


def _is_abbreviation(text: str, sentence_start: int, dot: int, number_next: bool) -> bool:
    """Whether the ``.`` at ``dot`` ends an abbreviation or an initial, not a sentence."""
    word = re.search(r"\S*$", text[sentence_start:dot])
    token = word.group().lstrip(_OPENERS) if word else ""
    if not token:
        return False
    if token.lower() in ABBREVIATIONS or (number_next and token.lower() in NUMBER_ABBREVIATIONS):
        return True
    return re.fullmatch(r"(?:[A-Z]\.)*[A-Z]", token) is not None  # "J", "U.S", "A.B"


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


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

"""Rule-based sentence splitting that returns exact substrings (pure).

A sentence ends at ``.``, ``!`` or ``?`` (with any closing quotes, brackets or a ``[12]``
citation) followed by whitespace and a capital, digit or opening bracket, and always at a
paragraph break, but not after abbreviations such as "e.g.", "i.e.", "et al.", "Fig.",
"vs." or after initials ("J. Smith", "U.S."). "No.", "p.", "ca." and months count as
abbreviations only before a number, and "min." is none, so "for 5 min. Samples" ends a
sentence. Every sentence is an exact slice of the input, so answers can quote sources
verbatim and claims can be traced back.
"""

from __future__ import annotations

import re
from typing import Final

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

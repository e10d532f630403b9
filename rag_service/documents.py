"""Read a lab paper (PDF, plain text or Markdown) into pages of clean text.

:func:`read_document` returns a :class:`ParsedDocument` whose pages are numbered from 1, so
every later citation can name the paper and the page. PDF text comes from pypdf: each
page's text fragments are placed by position, two-column pages are read column by column
(full-width headings above the columns first), words hyphenated at line ends are joined,
and whitespace is normalised with paragraph breaks (``"\\n\\n"``) kept. A file that cannot
be read raises :class:`DocumentError` naming the reason in plain words; nothing else
escapes, whatever the bytes.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import logging
import math
import os
import re
import statistics
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from cmo.exceptions import CMOError

logger = logging.getLogger(__name__)

SUPPORTED_SUFFIXES: Final[tuple[str, ...]] = (".pdf", ".txt", ".md", ".markdown")
DOI_RE: Final = re.compile(r"10\.\d{4,9}/[-._;()/:A-Za-z0-9]+")

Reason = Literal["unreadable", "unsupported_type", "empty", "encrypted", "corrupt", "no_text",
                 "undecodable"]


class DocumentError(CMOError):
    """A file that cannot be turned into text; ``reason`` is a stable code, ``detail`` prose."""

    def __init__(self, path: Path, reason: Reason, detail: str) -> None:
        self.path, self.reason, self.detail = path, reason, detail
        super().__init__(f"{path}: {detail}")


@dataclass(frozen=True)
class Page:
    """One page of text; ``number`` is 1-based (the page a citation names)."""

    number: int
    text: str


@dataclass(frozen=True)
class ParsedDocument:
    """A document's clean text by page, with identity (content hash) and bibliographic hints."""

    path: Path
    doc_id: str
    content_hash: str
    title: str | None
    doi: str | None
    pages: tuple[Page, ...]

    @property
    def text(self) -> str:
        """All non-empty pages joined by paragraph breaks."""
        return "\n\n".join(p.text for p in self.pages if p.text)


def iter_documents(root: Path) -> list[Path]:
    """``root`` if a file, else every non-hidden file below it, sorted; unsupported files are
    included so the caller can report them as failed."""
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise DocumentError(root, "unreadable", "no such file or directory")
    found: list[Path] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found.extend(Path(folder) / f for f in files if not f.startswith("."))
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def read_document(path: Path) -> ParsedDocument:
    """Parse ``path`` (.pdf, .txt, .md, .markdown); raise :class:`DocumentError` if impossible."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise DocumentError(path, "unsupported_type", f"unsupported file type '{suffix}'; "
                            f"supported: {', '.join(SUPPORTED_SUFFIXES)}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DocumentError(path, "unreadable", f"cannot read file: {exc.strerror or exc}") from exc
    if not data:
        raise DocumentError(path, "empty", "file is empty")
    digest = hashlib.sha256(data).hexdigest()
    meta_title: str | None = None
    if suffix == ".pdf":
        texts, meta_title = _read_pdf(path, data)
    else:
        texts = _read_text(path, data, markdown=suffix != ".txt")
    pages = tuple(Page(number=i, text=t) for i, t in enumerate(texts, start=1))
    if not any(p.text for p in pages):
        detail = ("no extractable text (scanned/image-only PDF?); OCR is not supported"
                  if suffix == ".pdf" else "no text: the file holds only whitespace")
        raise DocumentError(path, "no_text", detail)
    title = _meaningful_title(meta_title) or _title_from_text(pages[0].text, suffix != ".pdf")
    doc = ParsedDocument(path=path, doc_id=f"doc-{digest[:16]}", content_hash=digest, title=title,
                         doi=find_doi(" ".join(p.text for p in pages[:2])), pages=pages)
    logger.debug("read %s: %d pages, title=%r, doi=%r", path, len(pages), title, doc.doi)
    return doc


# --- plain text and Markdown -------------------------------------------------------------

def _read_text(path: Path, data: bytes, markdown: bool) -> list[str]:
    encoding = "utf-16" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"
    if encoding == "utf-8-sig" and b"\x00" in data:
        raise DocumentError(path, "undecodable", "file looks binary (contains NUL bytes), not text")
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise DocumentError(path, "undecodable", f"text is not valid {exc.encoding.upper()} "
                            f"(byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                            "re-save the file as UTF-8") from exc
    pages = text.replace("\r\n", "\n").replace("\r", "\n").split("\f")
    if markdown:  # headings become paragraphs of their own
        pages = [re.sub(r"(?m)^(#{1,6} .*)$", r"\n\1\n", p) for p in pages]
    return [clean_text(p, unwrap=False) for p in pages]


def clean_text(text: str, unwrap: bool = True) -> str:
    """Normalise whitespace, keep paragraph breaks, join words hyphenated at line ends.

    With ``unwrap`` the lines of a paragraph are joined by single spaces (PDF line breaks
    are layout, not meaning); without it single line breaks are kept.
    """
    text = unicodedata.normalize("NFKC", text).replace("\u00ad", "")
    text = re.sub(r"[\u200b\u200c\u200d\u2060\ufeff]", "", text)
    lines = [" ".join(line.split()) for line in text.split("\n")]
    paragraphs: list[str] = []
    for para in re.split(r"\n{2,}", "\n".join(lines)):
        para = para.strip("\n")
        if not para:
            continue
        # "metabo-\nlomics" -> "metabolomics"; "LC-\nMS", "2-\nhydroxy..." keep the hyphen
        para = re.sub(r"(?<=[^\W\d_])-\n(?=[a-z])", "", para)
        para = re.sub(r"(?<=\w)-\n(?=\w)", "-", para)
        paragraphs.append(para.replace("\n", " ") if unwrap else para)
    return "\n\n".join(paragraphs)


# --- titles and DOIs ------------------------------------------------------------------------

_JUNK_TITLE = re.compile(r"^(untitled.*|title|no title|\(?(anonymous|unspecified|unknown)\)?"
                         r"|document\d*|microsoft (word|powerpoint).*"
                         r"|.*\.(pdf|docx?|tex|dvi|ps|rtf|indd)|\S*[\d_]\S*)$", re.IGNORECASE)


def _meaningful_title(raw: str | None) -> str | None:
    """Metadata title unless empty, a placeholder, or one word with digits (a file name)."""
    title = " ".join(str(raw or "").split())
    ok = len(title) >= 4 and re.search(r"[^\W\d_]{3}", title) and not _JUNK_TITLE.match(title)
    return title if ok else None


def _title_from_text(first_page: str, plain: bool) -> str | None:
    if plain:
        heading = re.search(r"(?m)^# +(.+?)\s*#*\s*$", first_page)
        if heading:
            return heading.group(1).strip()
        first = next((ln.strip() for ln in first_page.splitlines() if ln.strip()), "")
        return first.lstrip("#").strip()[:300] or None
    for para in first_page.split("\n\n")[:5]:
        letters = sum(ch.isalpha() for ch in para)
        if (len(para.split()) >= 2 and 6 <= len(para) <= 300 and letters >= len(para) / 2
                and not DOI_RE.search(para) and not re.match(r"(?i)(https?:|www\.|doi)", para)):
            return para
    return None


def find_doi(text: str) -> str | None:
    """The first DOI in ``text``, without trailing punctuation or an unbalanced ``)``."""
    match = DOI_RE.search(text)
    if match is None:
        return None
    doi = match.group(0)
    while doi and (doi[-1] in ".,;:/" or (doi[-1] == ")" and doi.count(")") > doi.count("("))):
        doi = doi[:-1]
    return doi or None


# --- PDF ------------------------------------------------------------------------------------

@contextmanager
def _pdf_errors(path: Path) -> Iterator[None]:
    """Map whatever pypdf raises on a malformed file to a corrupt-PDF :class:`DocumentError`."""
    try:
        yield
    except (DocumentError, MemoryError, KeyboardInterrupt):
        raise
    except Exception as exc:  # pypdf raises many kinds (and bare ones) on malformed files
        logger.debug("pypdf failed on %s", path, exc_info=True)
        why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise DocumentError(path, "corrupt", f"PDF is corrupt or truncated: {why}") from exc


def _read_pdf(path: Path, data: bytes) -> tuple[list[str], str | None]:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError

    if b"%PDF-" not in data[:1024]:
        raise DocumentError(path, "corrupt", "PDF is corrupt or truncated: no %PDF header")
    if b"%%EOF" not in data[-2048:]:
        raise DocumentError(path, "corrupt", "PDF is corrupt or truncated: no end-of-file "
                            "marker (incomplete download or copy?)")
    with _pdf_errors(path):
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")
            except (DependencyError, NotImplementedError) as exc:
                raise DocumentError(path, "encrypted", "PDF is encrypted with an unsupported "
                                    f"method ({exc}); save an unprotected copy") from exc
            if not opened:
                raise DocumentError(path, "encrypted", "PDF is encrypted and needs a password; "
                                    "save an unprotected copy and add that instead")
        if len(reader.pages) == 0:
            raise DocumentError(path, "corrupt", "PDF is corrupt or truncated: it has no pages")
        texts = [_page_text(page) for page in reader.pages]
        title = reader.metadata.title if reader.metadata is not None else None
    return texts, title if isinstance(title, str) else None


@dataclass(frozen=True)
class _Frag:
    """A line (or part of one) placed on the page: start ``x0``, estimated end ``x1``."""

    text: str
    x0: float
    x1: float
    y: float
    size: float


def _page_text(page: Any) -> str:
    """The page's clean text, two-column pages read column by column."""
    frags: list[_Frag] = []
    rotated: list[str] = []
    widths: dict[int, dict[str, float]] = {}

    def visit(text: str, cm: list[float], tm: list[float], font: Any, size: float) -> None:
        text = text.replace("\n", " ")
        if not text.strip():
            return
        a, b = tm[0] * cm[0] + tm[1] * cm[2], tm[0] * cm[1] + tm[1] * cm[3]
        d = tm[2] * cm[1] + tm[3] * cm[3]
        if abs(b) > 1e-3 or a <= 0 or d <= 0:  # rotated or mirrored text: kept, not placed
            rotated.append(text.strip())
            return
        x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
        y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
        width = _text_units(text, font, widths) / 1000 * float(size or 1) * a
        new = _Frag(text, x, x + width, y, float(size or 1) * d)
        last = frags[-1] if frags else None
        # pypdf reports a run after a font change (same line, no move) at the line's start
        if last and abs(last.y - y) <= 0.4 * last.size and (
                abs(x - last.x0) < 0.5 or abs(x - last.x1) < 0.3 * last.size):
            new = _Frag(last.text + text, last.x0, max(last.x1, x) + width, last.y, last.size)
            frags.pop()
        frags.append(new)

    plain = page.extract_text(visitor_text=visit) or ""
    if not frags:
        return clean_text(plain)
    box = page.mediabox
    blocks = _column_order(frags, float(box.left), float(box.right))
    raw = "\n\n".join(_render(block) for block in blocks) if blocks else _render(frags)
    return clean_text("\n\n".join([raw, *rotated]))


def _text_units(text: str, font: Any, cache: dict[int, dict[str, float]]) -> float:
    """Width of ``text`` in glyph units (1000 per em), from the font's metrics if usable."""
    if id(font) not in cache:
        cache[id(font)] = {}
        try:
            from pypdf.generic._font import Font

            metrics = Font.from_font_resource(font).character_widths
            cache[id(font)] = {k: float(v) for k, v in metrics.items()}
        except Exception:  # no metrics for this font: an average glyph width will do
            logger.debug("no glyph widths for font %r", font, exc_info=True)
    table = cache[id(font)]
    default = table.get("default") or 500.0
    units = sum(table.get(ch, default) for ch in text)
    return units if 200 <= units / len(text) <= 800 else 500.0 * len(text)  # odd table


MIN_COLUMN_FRAGMENTS: Final = 4


def _column_order(frags: list[_Frag], left: float, right: float) -> list[list[_Frag]] | None:
    """Blocks in reading order if the page has two columns, else ``None``.

    The right column starts at the most common line start in the middle of the page; the
    gutter just left of it must be crossed by no column line. Lines that do cross it are
    full width (title, headings, wide captions) and separate bands; each band is read left
    column first, then right column, top to bottom.
    """
    width = right - left
    starts = [round(f.x0 - left) for f in frags if 0.3 * width <= f.x0 - left <= 0.7 * width]
    if len(starts) < MIN_COLUMN_FRAGMENTS:
        return None
    mode = statistics.mode(s // 3 for s in starts)
    aligned = [s for s in starts if s // 3 == mode]
    gutter = left + min(aligned) - 1.0
    slack = 0.1 * (right - gutter)  # tolerance for estimated line ends
    lefts = [f for f in frags if f.x0 < gutter and f.x1 <= gutter + slack]
    rights = [f for f in frags if f.x0 >= gutter]
    spans = [f for f in frags if f.x0 < gutter < f.x1 - slack]
    if min(len(lefts), len(aligned)) < MIN_COLUMN_FRAGMENTS or len(aligned) < len(rights) / 3:
        return None  # too little on one side, or the right side has no common left edge
    top = min(max(f.y for f in lefts), max(f.y for f in rights))
    bottom = max(min(f.y for f in lefts), min(f.y for f in rights))
    if top < bottom or not (_filled(lefts) and _filled(rights)):
        return None  # the sides never sit side by side, or one side is not a text column
    if sum(bottom < f.y < top for f in spans) > 0.2 * (len(lefts) + len(rights)):
        return None  # lines keep crossing the gap: a table, not columns
    if max(_beside(lefts, rights, bottom, top), _beside(rights, lefts, bottom, top)) < 0.5:
        return None  # the sides take turns rather than run beside each other
    # a lone line in the right half of the left column above or below all the rest is page
    # furniture (centred page number, running head): it separates bands like a heading
    start = min(f.x0 for f in lefts)
    offside = [f for f in lefts if f.x0 > (start + gutter) / 2]
    body = [f for f in lefts if f.x0 <= (start + gutter) / 2] + rights
    lo, hi = min(f.y for f in body), max(f.y for f in body)
    furniture = [f for f in offside if not lo <= f.y <= hi]
    lefts = [f for f in lefts if all(f is not g for g in furniture)]
    spans = sorted(spans + furniture, key=lambda f: -f.y)
    blocks: list[list[_Frag]] = []
    bounds = [math.inf, *(f.y for f in spans), -math.inf]
    for i, (upper, lower) in enumerate(itertools.pairwise(bounds)):
        bands = [[f for f in side if lower < f.y <= upper] for side in (lefts, rights)]
        blocks.extend(sorted(band, key=lambda f: (-f.y, f.x0)) for band in bands if band)
        if i < len(spans):
            if i and not any(bands):  # consecutive full-width lines read as one block
                blocks[-1].append(spans[i])
            else:
                blocks.append([spans[i]])
    logger.debug("two-column page: gutter at x=%.0f, %d full-width lines", gutter, len(spans))
    return blocks


def _filled(side: list[_Frag]) -> bool:
    """Whether most lines of one side run most of the way across it, as in a text column."""
    start = min(f.x0 for f in side)
    ends: dict[int, float] = {}
    for f in side:
        ends[round(f.y)] = max(ends.get(round(f.y), start), f.x1)
    widths = sorted(end - start for end in ends.values())
    return statistics.median(widths) >= 0.6 * widths[int(0.9 * (len(widths) - 1))]


def _beside(side: list[_Frag], other: list[_Frag], low: float, high: float) -> float:
    """Share of the lines of ``side`` between ``low`` and ``high`` with a line of ``other``
    at about the same height."""
    ys = [f.y for f in side if low <= f.y <= high]
    near = sum(any(abs(y - g.y) <= 0.7 * g.size for g in other) for y in ys)
    return near / max(len(ys), 1)


def _render(frags: list[_Frag]) -> str:
    """Fragments in reading order as lines; a blank line where a wide gap or a change of
    font size suggests a new paragraph."""
    lines: list[list[_Frag]] = []
    for f in frags:
        if lines and abs(lines[-1][0].y - f.y) <= 0.4 * max(f.size, lines[-1][0].size):
            lines[-1].append(f)
        else:
            lines.append([f])
    gaps = [a[0].y - b[0].y for a, b in itertools.pairwise(lines) if a[0].y > b[0].y]
    leading = statistics.median(gaps) if gaps else math.inf
    out: list[str] = []
    for i, line in enumerate(lines):
        if i:
            prev, size = lines[i - 1][0], line[0].size
            gap, wide = prev.y - line[0].y, 1.5 * min(leading, 1.3 * size)
            out.append("\n\n" if gap <= 0 or gap > wide or not 0.85 <= size / prev.size <= 1.18
                       else "\n")
        parts = [f.text for f in sorted(line, key=lambda f: f.x0)]
        out.append(" ".join(p.strip() for p in parts))
    return "".join(out)

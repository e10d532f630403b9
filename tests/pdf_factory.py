"""Generate small PDFs for tests with reportlab (text, two-column, hyphenated, broken ones).

Every helper writes the file at ``path`` and returns ``path``. Text is drawn line by line
with ``Canvas.drawString`` so tests control exactly where words and line breaks fall.
"""

from __future__ import annotations

from pathlib import Path

from reportlab.lib.pagesizes import letter
from reportlab.lib.pdfencrypt import StandardEncryption
from reportlab.lib.utils import simpleSplit
from reportlab.pdfgen.canvas import Canvas

PAGE_W, PAGE_H = letter
MARGIN = 54.0
FONT = "Helvetica"
SIZE = 10.0
LEADING = 13.0


def _canvas(path: Path, title: str | None, **kwargs: object) -> Canvas:
    c = Canvas(str(path), pagesize=letter, **kwargs)
    if title is not None:
        c.setTitle(title)
    return c


def _draw_wrapped(c: Canvas, text: str, x: float, y: float, width: float) -> float:
    """Draw paragraphs (separated by blank lines) wrapped to ``width``; return the next y."""
    c.setFont(FONT, SIZE)
    for para in text.split("\n\n"):
        for line in simpleSplit(" ".join(para.split()), FONT, SIZE, width):
            c.drawString(x, y, line)
            y -= LEADING
        y -= LEADING  # paragraph gap
    return y


def make_pdf(path: Path, pages: list[str], title: str | None = None,
             heading: str | None = None) -> Path:
    """One page per entry of ``pages``; ``heading`` (if given) is drawn large on page 1."""
    c = _canvas(path, title)
    for number, text in enumerate(pages, start=1):
        y = PAGE_H - MARGIN
        if heading is not None and number == 1:
            c.setFont("Helvetica-Bold", 16)
            c.drawString(MARGIN, y, heading)
            y -= 32
        _draw_wrapped(c, text, MARGIN, y, PAGE_W - 2 * MARGIN)
        c.showPage()
    c.save()
    return path


def make_two_column_pdf(path: Path, left: str, right: str, heading: str,
                        gutter: float = 18.0, footer: str | None = None,
                        right_first: bool = False) -> Path:
    """A page with a full-width bold ``heading`` and two text columns below it.

    The columns are drawn row by row (left line 1, right line 1, left line 2, ...), as
    some generators do, so a reader that follows the content stream interleaves them;
    with ``right_first`` the whole right column is drawn before the left one.
    """
    c = _canvas(path, None)
    col_w = (PAGE_W - 2 * MARGIN - gutter) / 2
    c.setFont("Helvetica-Bold", 14)
    c.drawString(MARGIN, PAGE_H - MARGIN, heading)
    left_lines = simpleSplit(" ".join(left.split()), FONT, SIZE, col_w)
    right_lines = simpleSplit(" ".join(right.split()), FONT, SIZE, col_w)
    y0 = PAGE_H - MARGIN - 30
    c.setFont(FONT, SIZE)
    rows = range(max(len(left_lines), len(right_lines)))
    cells = [(i, col) for i in rows for col in (0, 1)]
    if right_first:
        cells = [(i, 1) for i in rows] + [(i, 0) for i in rows]
    for i, col in cells:
        lines = right_lines if col else left_lines
        if i < len(lines):
            c.drawString(MARGIN + col * (col_w + gutter), y0 - i * LEADING, lines[i])
    if footer is not None:
        c.setFont(FONT, 8)
        c.drawCentredString(PAGE_W / 2, MARGIN / 2, footer)
    c.showPage()
    c.save()
    return path


def make_hyphenated_pdf(path: Path, lines: list[str], title: str | None = None) -> Path:
    """Draw ``lines`` exactly as given, one per baseline (so ``"metabo-"`` ends a line)."""
    c = _canvas(path, title)
    c.setFont(FONT, SIZE)
    y = PAGE_H - MARGIN
    for line in lines:
        if line:
            c.drawString(MARGIN, y, line)
        y -= LEADING
    c.showPage()
    c.save()
    return path


def make_positioned_pdf(path: Path, items: list[tuple[float, float, str]]) -> Path:
    """Draw each ``(x, y, text)`` at exactly that place on one page, in the order given."""
    c = _canvas(path, None)
    c.setFont(FONT, SIZE)
    for x, y, text in items:
        c.drawString(x, y, text)
    c.showPage()
    c.save()
    return path


def make_encrypted_pdf(path: Path, text: str, user_password: str = "secret",
                       owner_password: str = "owner") -> Path:
    """A text PDF encrypted with the standard handler (``user_password=""`` opens freely)."""
    enc = StandardEncryption(user_password, ownerPassword=owner_password, strength=128)
    c = _canvas(path, None, encrypt=enc)
    _draw_wrapped(c, text, MARGIN, PAGE_H - MARGIN, PAGE_W - 2 * MARGIN)
    c.showPage()
    c.save()
    return path


def make_image_only_pdf(path: Path, pages: int = 1) -> Path:
    """Pages holding only vector shapes and a raster image, with no text layer."""
    from PIL import Image  # pillow comes with reportlab
    from reportlab.lib.utils import ImageReader

    img = Image.new("RGB", (64, 32), (200, 30, 30))
    c = _canvas(path, None)
    for _ in range(pages):
        c.rect(MARGIN, PAGE_H / 2, 200, 100, fill=1)
        c.circle(PAGE_W / 2, PAGE_H / 3, 40, fill=0)
        c.drawImage(ImageReader(img), MARGIN, MARGIN, width=128, height=64)
        c.showPage()
    c.save()
    return path


def make_truncated_pdf(path: Path, keep: float = 0.5) -> Path:
    """A valid text PDF cut to the first ``keep`` fraction of its bytes."""
    make_pdf(path, ["Plasma metabolomics of a small cohort. " * 20] * 2)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def make_garbage_pdf(path: Path) -> Path:
    """A file named .pdf that holds no PDF at all."""
    path.write_bytes(b"This is not a PDF, just some bytes \x00\x01\x02 pretending to be one.\n")
    return path


def make_header_only_pdf(path: Path) -> Path:
    """Starts like a PDF, then garbage: no xref, no trailer, no objects."""
    path.write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Cat")
    return path

"""Tests for rag_service.documents: PDF/text reading, reading order, titles, DOIs, bad input."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest

from cmo.exceptions import CMOError
from rag_service.documents import (
    SUPPORTED_SUFFIXES,
    DocumentError,
    ParsedDocument,
    clean_text,
    find_doi,
    iter_documents,
    read_document,
)
from tests import pdf_factory as pf

LEFT = " ".join(f"Left sentence {i} reports plasma succinate in cohort A." for i in range(1, 13))
RIGHT = " ".join(f"Right sentence {i} reports urine citrate in cohort B." for i in range(1, 13))


def flat(text: str) -> str:
    return " ".join(text.split())


def read_error(path: Path) -> DocumentError:
    with pytest.raises(DocumentError) as info:
        read_document(path)
    return info.value


# --- plain PDFs ----------------------------------------------------------------------------

def test_pdf_pages_identity_and_metadata_title(tmp_path: Path) -> None:
    path = pf.make_pdf(tmp_path / "paper.pdf", ["Page one text about glucose.",
                                                 "Page two text about lactate."],
                       title="Lactate in Sepsis: a Cohort Study")
    doc = read_document(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert isinstance(doc, ParsedDocument)
    assert doc.path == path
    assert doc.content_hash == digest
    assert doc.doc_id == f"doc-{digest[:16]}"
    assert [p.number for p in doc.pages] == [1, 2]
    assert doc.pages[0].text == "Page one text about glucose."
    assert doc.pages[1].text == "Page two text about lactate."
    assert doc.title == "Lactate in Sepsis: a Cohort Study"
    assert doc.text == "Page one text about glucose.\n\nPage two text about lactate."


def test_doc_id_follows_content_not_name(tmp_path: Path) -> None:
    a = pf.make_pdf(tmp_path / "a.pdf", ["Same words."])
    b = tmp_path / "b.pdf"
    b.write_bytes(a.read_bytes())
    c = pf.make_pdf(tmp_path / "c.pdf", ["Other words."])
    assert read_document(a).doc_id == read_document(b).doc_id != read_document(c).doc_id


def test_title_falls_back_to_first_substantial_line(tmp_path: Path) -> None:
    # reportlab writes the placeholder title "untitled" when none is set
    path = pf.make_pdf(tmp_path / "p.pdf", ["Body text of the paper."],
                       heading="Serum Metabolomics of Type 2 Diabetes")
    doc = read_document(path)
    assert doc.title == "Serum Metabolomics of Type 2 Diabetes"
    assert doc.pages[0].text.startswith("Serum Metabolomics of Type 2 Diabetes\n\nBody text")


@pytest.mark.parametrize("placeholder", ["untitled", "Microsoft Word - draft3.docx",
                                         "paper_final_v2", "(anonymous)", "  "])
def test_placeholder_metadata_titles_are_ignored(tmp_path: Path, placeholder: str) -> None:
    path = pf.make_pdf(tmp_path / "p.pdf", ["Body."], title=placeholder,
                       heading="Bile Acids in Liver Disease")
    assert read_document(path).title == "Bile Acids in Liver Disease"


def test_paragraph_breaks_kept_and_whitespace_normalised(tmp_path: Path) -> None:
    lines = ["First   paragraph  about", "  kynurenine.  ", "", "Second paragraph about",
             "tryptophan."]
    doc = read_document(pf.make_hyphenated_pdf(tmp_path / "p.pdf", lines))
    assert doc.pages[0].text == ("First paragraph about kynurenine.\n\n"
                                 "Second paragraph about tryptophan.")
    two = read_document(pf.make_pdf(tmp_path / "q.pdf", ["One line.\n\nAnother line."]))
    assert two.pages[0].text == "One line.\n\nAnother line."


def test_wrapped_lines_are_joined_into_one_paragraph(tmp_path: Path) -> None:
    long = "Acylcarnitines were measured in dried blood spots of newborns. " * 12
    doc = read_document(pf.make_pdf(tmp_path / "p.pdf", [long]))
    assert doc.pages[0].text == flat(long)


# --- hyphenation --------------------------------------------------------------------------

def test_dehyphenation_at_line_ends_keeps_real_hyphens(tmp_path: Path) -> None:
    path = pf.make_hyphenated_pdf(tmp_path / "h.pdf", [
        "Untargeted metabo-",
        "lomics of plasma by LC-MS found",
        "raised 2-hydroxyglutarate and LC-",
        "MS/MS confirmed 2-",
        "hydroxyglutarate in IDH-mutant glioma.",
    ])
    text = read_document(path).pages[0].text
    assert text == ("Untargeted metabolomics of plasma by LC-MS found raised 2-hydroxyglutarate "
                    "and LC-MS/MS confirmed 2-hydroxyglutarate in IDH-mutant glioma.")


@pytest.mark.parametrize(("raw", "clean"), [
    ("metabo-\nlomics", "metabolomics"),
    ("LC-\nMS", "LC-MS"),
    ("2-\nhydroxyglutarate", "2-hydroxyglutarate"),
    ("LC-MS and 2-hydroxyglutarate", "LC-MS and 2-hydroxyglutarate"),
    ("end of para-\n\nNew paragraph", "end of para-\n\nNew paragraph"),
    ("a  b\t c \n d", "a b c d"),
    ("one\n\n\n\ntwo", "one\n\ntwo"),
    ("\ufb01sh oil", "fish oil"),  # ligature
    ("hydro\u00adxy", "hydroxy"),  # soft hyphen
])
def test_clean_text(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean


# --- reading order ------------------------------------------------------------------------

@pytest.mark.parametrize("right_first", [False, True])
def test_two_column_page_reads_left_column_then_right(tmp_path: Path, right_first: bool) -> None:
    path = pf.make_two_column_pdf(tmp_path / "two.pdf", LEFT, RIGHT,
                                  heading="Organic Acids Across Two Cohorts",
                                  right_first=right_first)
    text = read_document(path).pages[0].text
    assert text.startswith("Organic Acids Across Two Cohorts")
    assert LEFT in text and RIGHT in text  # each column whole, in order
    assert text.index(LEFT) + len(LEFT) <= text.index(RIGHT)


def test_two_column_with_wide_title_and_footer(tmp_path: Path) -> None:
    heading = "A Very Long Full Width Title About Plasma And Urine Metabolomics In Two Cohorts"
    path = pf.make_two_column_pdf(tmp_path / "two.pdf", LEFT, RIGHT, heading=heading,
                                  gutter=12.0, footer="Page 7")
    doc = read_document(path)
    text = doc.pages[0].text
    assert doc.title == heading
    assert text.startswith(heading)
    assert LEFT in text and RIGHT in text
    assert text.index(LEFT) < text.index(RIGHT)
    assert "Page 7" in text and text.index("Page 7") > text.index(LEFT)


def test_single_column_page_keeps_stream_order(tmp_path: Path) -> None:
    paras = [f"Paragraph {i} describes sample preparation step {i} in detail." * 3
             for i in range(5)]
    text = read_document(pf.make_pdf(tmp_path / "one.pdf", ["\n\n".join(paras)])).pages[0].text
    assert text.split("\n\n") == [flat(p) for p in paras]


def test_sparse_right_side_lines_do_not_make_columns(tmp_path: Path) -> None:
    # a record layout: labels on the left, occasional indented notes in the middle
    items: list[tuple[float, float, str]] = []
    y = 740.0
    for block in range(5):
        for field in range(4):
            items.append((120, y, f"Block {block} field {field} CARD32 OFFSET"))
            y -= 12
        items.append((335, y, f"Note {block} for flags"))
        y -= 24
    text = read_document(pf.make_positioned_pdf(tmp_path / "t.pdf", items)).pages[0].text
    positions = [text.index(t) for _, _, t in items]
    assert positions == sorted(positions)


# --- DOI ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "doi"), [
    ("doi: 10.1021/acs.jproteome.0c00123.", "10.1021/acs.jproteome.0c00123"),
    ("(https://doi.org/10.1038/s41586-020-2308-7)", "10.1038/s41586-020-2308-7"),
    ("see 10.1016/S0140-6736(20)30183-5, then", "10.1016/S0140-6736(20)30183-5"),
    ("DOI 10.3390/metabo12010045;", "10.3390/metabo12010045"),
    ("no identifier here 10.12/x", None),
])
def test_find_doi(text: str, doi: str | None) -> None:
    assert find_doi(text) == doi


def test_doi_taken_from_first_two_pages_only(tmp_path: Path) -> None:
    on_two = pf.make_pdf(tmp_path / "a.pdf", ["Intro.", "Published as doi:10.1002/jimd.12345."])
    on_three = pf.make_pdf(tmp_path / "b.pdf", ["Intro.", "Methods.", "See 10.1002/jimd.99999."])
    assert read_document(on_two).doi == "10.1002/jimd.12345"
    assert read_document(on_three).doi is None


# --- text and Markdown ------------------------------------------------------------------

def test_markdown_title_heading_and_paragraphs(tmp_path: Path) -> None:
    path = tmp_path / "notes.md"
    path.write_text("draft, do not cite\n# Ketone Bodies in Fasting\nBeta-hydroxybutyrate rose.\n"
                    "\n\n\nDOI 10.1210/jc.2019-01234.\r\n", encoding="utf-8")
    doc = read_document(path)
    assert doc.title == "Ketone Bodies in Fasting"
    assert doc.doi == "10.1210/jc.2019-01234"
    assert doc.pages[0].text == ("draft, do not cite\n\n# Ketone Bodies in Fasting\n\n"
                                 "Beta-hydroxybutyrate rose.\n\nDOI 10.1210/jc.2019-01234.")


def test_txt_title_is_first_line_and_form_feed_splits_pages(tmp_path: Path) -> None:
    path = tmp_path / "paper.txt"
    path.write_bytes("\ufeffUrea cycle disorders\nFirst page  text.\fSecond page text.".encode())
    doc = read_document(path)
    assert doc.title == "Urea cycle disorders"
    assert [(p.number, p.text) for p in doc.pages] == [
        (1, "Urea cycle disorders\nFirst page text."), (2, "Second page text.")]


def test_markdown_long_suffix_and_utf16(tmp_path: Path) -> None:
    path = tmp_path / "x.markdown"
    path.write_bytes("# Taurine\nbody".encode("utf-16"))
    assert read_document(path).title == "Taurine"
    assert ".markdown" in SUPPORTED_SUFFIXES


# --- bad input -----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["empty.pdf", "empty.txt", "empty.md"])
def test_zero_byte_file(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(b"")
    err = read_error(tmp_path / name)
    assert err.reason == "empty" and "file is empty" in str(err)
    assert isinstance(err, CMOError)
    assert str(tmp_path / name) in str(err)


def test_encrypted_pdf_with_password(tmp_path: Path) -> None:
    err = read_error(pf.make_encrypted_pdf(tmp_path / "locked.pdf", "Secret cohort data."))
    assert err.reason == "encrypted"
    assert "PDF is encrypted" in str(err)


def test_encrypted_pdf_with_empty_user_password_is_read(tmp_path: Path) -> None:
    path = pf.make_encrypted_pdf(tmp_path / "open.pdf", "Readable cohort data.", user_password="")
    assert read_document(path).pages[0].text == "Readable cohort data."


@pytest.mark.parametrize("make", [pf.make_truncated_pdf, pf.make_garbage_pdf,
                                  pf.make_header_only_pdf])
def test_corrupt_pdf(tmp_path: Path, make: object) -> None:
    path = make(tmp_path / "bad.pdf")  # type: ignore[operator]
    err = read_error(path)
    assert err.reason == "corrupt"
    assert "PDF is corrupt or truncated: " in str(err)


def test_damaged_pdfs_never_crash(tmp_path: Path) -> None:
    good = pf.make_pdf(tmp_path / "good.pdf", ["Choline and betaine in plasma. " * 30] * 2)
    data = good.read_bytes()
    rng = random.Random(7)
    variants = [data[:cut] + data[-40:] for cut in range(200, len(data) - 40, 400)]
    for _ in range(15):
        noisy = bytearray(data)
        for pos in rng.sample(range(len(data) - 64), 25):
            noisy[pos] = rng.randrange(256)
        variants.append(bytes(noisy))
    for i, variant in enumerate(variants):
        path = tmp_path / f"v{i}.pdf"
        path.write_bytes(variant)
        try:
            doc = read_document(path)
        except DocumentError as err:
            assert err.reason in {"corrupt", "no_text"}
        else:
            assert doc.pages


def test_image_only_pdf(tmp_path: Path) -> None:
    err = read_error(pf.make_image_only_pdf(tmp_path / "scan.pdf", pages=2))
    assert err.reason == "no_text"
    assert "no extractable text (scanned/image-only PDF?); OCR is not supported" in str(err)


@pytest.mark.parametrize(("name", "suffix"), [("report.docx", ".docx"), ("README", "")])
def test_unsupported_type(tmp_path: Path, name: str, suffix: str) -> None:
    (tmp_path / name).write_bytes(b"PK\x03\x04 something")
    err = read_error(tmp_path / name)
    assert err.reason == "unsupported_type"
    assert f"unsupported file type '{suffix}'; supported: .pdf, .txt, .md" in str(err)


@pytest.mark.parametrize("data", [b"caf\xe9 latte", b"text\x00with\x00nuls"])
def test_undecodable_text(tmp_path: Path, data: bytes) -> None:
    (tmp_path / "notes.txt").write_bytes(data)
    err = read_error(tmp_path / "notes.txt")
    assert err.reason == "undecodable"


def test_whitespace_only_text(tmp_path: Path) -> None:
    (tmp_path / "blank.md").write_text(" \n\n\t\n", encoding="utf-8")
    assert read_error(tmp_path / "blank.md").reason == "no_text"


def test_missing_file_and_directory(tmp_path: Path) -> None:
    assert read_error(tmp_path / "gone.pdf").reason == "unreadable"
    (tmp_path / "folder.pdf").mkdir()
    assert read_error(tmp_path / "folder.pdf").reason == "unreadable"


# --- iter_documents -----------------------------------------------------------------------

def test_iter_documents_walks_sorted_skipping_hidden(tmp_path: Path) -> None:
    for rel in ["b.pdf", "a/z.txt", "a/notes.docx", "a/.hidden.md", ".git/config.md",
                "c/d/e.md", ".DS_Store"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x", encoding="utf-8")
    found = [p.relative_to(tmp_path).as_posix() for p in iter_documents(tmp_path)]
    assert found == ["a/notes.docx", "a/z.txt", "b.pdf", "c/d/e.md"]
    assert iter_documents(tmp_path / "b.pdf") == [tmp_path / "b.pdf"]
    with pytest.raises(DocumentError):
        iter_documents(tmp_path / "nowhere")

"""The sample corpus in examples/papers is exactly what scripts/make_sample_papers.py writes."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pypdf import PdfReader

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "make_sample_papers.py"
COMMITTED = REPO / "examples" / "papers"


def _load_script() -> ModuleType:
    name = "make_sample_papers"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


MAKER = _load_script()
FILENAMES = [paper.filename for paper in MAKER.PAPERS]


def _words(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("papers")
    MAKER.build_all(out)
    return out


def test_seven_papers_and_nothing_else() -> None:
    assert len(FILENAMES) == 7
    assert sorted(p.name for p in COMMITTED.iterdir() if not p.name.startswith(".")) == FILENAMES


@pytest.mark.parametrize("filename", FILENAMES)
def test_regenerating_gives_the_committed_bytes(regenerated: Path, filename: str) -> None:
    fresh = (regenerated / filename).read_bytes()
    assert fresh == (COMMITTED / filename).read_bytes(), (
        f"{filename} differs from a fresh build; run "
        ".venv/bin/python scripts/make_sample_papers.py and commit the result")


@pytest.mark.parametrize("paper", MAKER.PAPERS, ids=lambda p: p.filename)
def test_committed_pdf_is_short_readable_and_titled(paper: Any) -> None:
    path = COMMITTED / paper.filename
    assert path.stat().st_size < 60_000
    reader = PdfReader(path)
    assert 2 <= len(reader.pages) <= 3
    texts = [_words(page.extract_text() or "") for page in reader.pages]
    assert all(len(text.split()) > 30 for text in texts), "a page without extractable prose"
    assert _words(paper.title) in texts[0]
    assert f"DOI: {paper.doi}" in texts[0]
    assert MAKER.AUTHOR in texts[0]
    assert reader.metadata is not None
    assert reader.metadata.title == paper.title

"""Language detection on real sentences (lingua, offline)."""

from __future__ import annotations

import pytest

from cmo.adapters.language import detect_language, language_name


@pytest.mark.parametrize("text, code", [
    ("Which metabolites rise in maple syrup urine disease?", "en"),
    ("Welche Metaboliten sind bei der Ahornsirupkrankheit im Plasma erhöht?", "de"),
    ("Quels métabolites augmentent dans le plasma des patients atteints de leucinose ?", "fr"),
    ("¿Qué metabolitos aumentan en la enfermedad de orina de jarabe de arce?", "es"),
    ("Quali metaboliti aumentano nella malattia delle urine a sciroppo d'acero?", "it"),
    ("什么代谢物在枫糖尿病患者的血浆中升高？", "zh"),
])
def test_detects_real_sentences(text: str, code: str) -> None:
    assert detect_language(text) == code


def test_too_short_or_ambiguous_is_unknown() -> None:
    assert detect_language("NMR?") is None
    assert detect_language("  ") is None


def test_language_names() -> None:
    assert language_name("de") == "German" and language_name("xx") == "xx"

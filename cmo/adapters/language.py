"""Which language a question is written in (lingua-language-detector, offline).

Returns the ISO 639-1 code (``"de"``) or None when the text is too short or ambiguous to
tell (then the chat treats it as English). The detector is built once, lazily, for the
languages researchers are likely to write in.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

from lingua import Language, LanguageDetectorBuilder

LANGUAGES = (
    Language.ENGLISH, Language.GERMAN, Language.FRENCH, Language.SPANISH, Language.ITALIAN,
    Language.PORTUGUESE, Language.DUTCH, Language.POLISH, Language.SWEDISH, Language.DANISH,
    Language.FINNISH, Language.CZECH, Language.TURKISH, Language.GREEK, Language.RUSSIAN,
    Language.UKRAINIAN, Language.ARABIC, Language.HEBREW, Language.PERSIAN, Language.HINDI,
    Language.CHINESE, Language.JAPANESE, Language.KOREAN, Language.VIETNAMESE, Language.INDONESIAN,
)
NAMES = {lang.iso_code_639_1.name.lower(): lang.name.title() for lang in LANGUAGES}
_lock = threading.Lock()


@cache
def _detector() -> Any:
    with _lock:
        return (LanguageDetectorBuilder.from_languages(*LANGUAGES)
                .with_minimum_relative_distance(0.1).build())


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of the text's language, or None when it cannot be told."""
    if len(text.strip()) < 3:
        return None
    found = _detector().detect_language_of(text)
    return None if found is None else str(found.iso_code_639_1.name.lower())


def language_name(code: str) -> str:
    """``"de"`` -> ``"German"`` (the code itself when unknown)."""
    return NAMES.get(code, code)

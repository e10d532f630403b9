"""Answer in the question's language when a model is configured; offline, say why not.

The answer text is translated through the OpenAI-compatible chat API (``OPENAI_*``
settings); citation markers [n] are kept and the quoted passages are never translated
(they stay verbatim in the source elements). Without a model the answer stays English
with a note.
"""

from __future__ import annotations

import logging

from cmo.adapters.language import language_name
from cmo.adapters.openai_models import OpenAIModels
from cmo.exceptions import CMOError

logger = logging.getLogger(__name__)

SYSTEM_PROMPT = (
    "You translate answers of a clinical metabolomics research assistant. Translate the user's "
    "text into {language}. Keep every citation marker such as [1] or [2] exactly where it is, "
    "keep metabolite, enzyme and disease names, abbreviations, numbers and units accurate, keep "
    "Markdown formatting. Reply with the translation only.")


def needs_translation(language: str | None) -> bool:
    return bool(language) and language != "en"


def offline_note(language: str) -> str:
    return (f"Your question looks like {language_name(language)}. This answer is in English: "
            "translation needs a language model (set OPENAI_API_KEY).")


def failed_note(language: str) -> str:
    return f"The translation into {language_name(language)} failed, so this answer is in English."


def translated_note(language: str) -> str:
    return (f"Translated into {language_name(language)} by the language model; the quoted "
            "passages in the sources stay in their original language.")


class Translator:
    def __init__(self, models: OpenAIModels | None) -> None:
        self.models = models

    @property
    def available(self) -> bool:
        return self.models is not None

    async def translate(self, text: str, language: str) -> tuple[str, str]:
        """(text to show, note): the translation, or the English text with the reason."""
        if self.models is None:
            return text, offline_note(language)
        try:
            out = await self.models.complete(
                text, system_prompt=SYSTEM_PROMPT.format(language=language_name(language)))
        except CMOError as exc:
            logger.warning("translation into %s failed: %s", language, exc)
            return text, failed_note(language)
        return (out.strip() or text), translated_note(language)

    async def close(self) -> None:
        if self.models is not None:
            await self.models.close()

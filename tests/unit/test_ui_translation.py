"""Answers in the question's language: through the OpenAI-compatible API when a model is
configured (the loopback fake stands in for the paid API), otherwise English with a note."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from cmo.adapters.openai_models import ModelConfig, OpenAIModels
from tests.fakes.openai_compat import FakeOpenAI, serve
from ui.translation import Translator, needs_translation

ANSWER = "Leucine, isoleucine and valine accumulate in MSUD. [1]"


def german(body: dict[str, Any]) -> str:
    assert "German" in body["messages"][0]["content"]
    return "Leucin, Isoleucin und Valin reichern sich bei MSUD an. [1]"


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with serve(FakeOpenAI(chat_reply=german)) as server:
        yield server


def translate(fake: FakeOpenAI | None, text: str, language: str) -> tuple[str, str]:
    async def run() -> tuple[str, str]:
        models = None if fake is None else OpenAIModels(ModelConfig(
            api_key="test-key", base_url=fake.url, chat_model="chat-x", max_retries=0))
        translator = Translator(models)
        try:
            return await translator.translate(text, language)
        finally:
            await translator.close()
    return asyncio.run(run())


def test_translates_with_a_model_and_keeps_citation_markers(fake: FakeOpenAI) -> None:
    text, note = translate(fake, ANSWER, "de")
    assert text == "Leucin, Isoleucin und Valin reichern sich bei MSUD an. [1]"
    assert "Translated into German" in note and "original language" in note
    path, body, _ = fake.requests[0]
    assert path.endswith("/chat/completions") and body["messages"][-1]["content"] == ANSWER
    assert "[1]" in body["messages"][0]["content"]  # the prompt says to keep the markers


def test_offline_answers_in_english_and_says_so() -> None:
    text, note = translate(None, ANSWER, "fr")
    assert text == ANSWER and "looks like French" in note and "OPENAI_API_KEY" in note


def test_failed_translation_keeps_english(fake: FakeOpenAI) -> None:
    fake.fail_next = [(400, None)]
    text, note = translate(fake, ANSWER, "es")
    assert text == ANSWER and "translation into Spanish failed" in note


@pytest.mark.parametrize("language, needed", [("de", True), ("en", False), (None, False), ("", False)])
def test_needs_translation(language: str | None, needed: bool) -> None:
    assert needs_translation(language) is needed

"""The RAGAS-style LLM judge against a loopback OpenAI-compatible fake (a test double)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from cmo.adapters.openai_models import ModelConfig, ModelError, OpenAIModels
from cmo.quality.llm_judge import LLMJudgeScorer, parse_json
from cmo.quality.model import Passage, Verdict
from tests.fakes.openai_compat import FakeOpenAI, serve


class StubEmbedder:
    """Deterministic vectors: texts mentioning 'leucine' point one way, others another."""

    async def embed(self, texts: list[str]) -> Any:
        return np.asarray([[1.0, 0.0] if "leucine" in t.lower() else [0.0, 1.0] for t in texts])


def judge_reply(body: dict[str, Any]) -> str:
    prompt = body["messages"][-1]["content"]
    if "standalone factual statements" in prompt:
        return json.dumps({"statements": ["Leucine is raised in insulin resistance.",
                                          "Leucine is measured by NMR only."]})
    if "Judge each statement" in prompt:
        return "Here you go: " + json.dumps({"verdicts": [
            {"statement": "s1", "verdict": "supported", "reason": "passage 1 says so",
             "evidence": "Leucine was higher in insulin resistance."},
            {"statement": "s2", "verdict": "contradicted", "reason": "passage 2 names LC-MS",
             "evidence": "Leucine was measured by LC-MS."}]})
    if "Write 3 questions" in prompt:
        return json.dumps({"questions": ["Is leucine raised in insulin resistance?",
                                         "How is leucine measured?", "Which amino acid rises?"],
                           "noncommittal": 0})
    if "Rate from 0 to 1" in prompt:
        return json.dumps({"score": 0.5, "reason": "the second statement misstates the method"})
    return "not json at all"


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with serve(FakeOpenAI(chat_reply=judge_reply)) as server:
        yield server


def test_judge_scores_and_keeps_reasons(fake: FakeOpenAI) -> None:
    async def run():  # type: ignore[no-untyped-def]
        models = OpenAIModels(ModelConfig(api_key="k", base_url=fake.url, chat_model="judge-x"))
        try:
            scorer = LLMJudgeScorer(models, StubEmbedder())
            return await scorer.score("Is leucine raised in insulin resistance?",
                                      "Leucine is raised [1]. It is measured by NMR only [2].",
                                      [Passage("Leucine was higher in insulin resistance."),
                                       Passage("Leucine was measured by LC-MS.")])
        finally:
            await models.close()

    score = asyncio.run(run())
    assert score.scorer == "llm" and score.factual == 0.5 and score.accuracy == 0.5
    assert score.relevance == pytest.approx(2 / 3, abs=1e-3)
    assert score.composite == pytest.approx(0.4 * 2 / 3 + 0.3 * 0.5 + 0.3 * 0.5, abs=1e-3)
    assert [c.verdict for c in score.claims] == [Verdict.SUPPORTED, Verdict.CONTRADICTED]
    assert score.claims[1].evidence == "Leucine was measured by LC-MS."
    assert "misstates" in score.reasons["accuracy"] and "LC-MS" in score.reasons["factual"]
    assert any("contradicted" in issue for issue in score.issues)
    bodies = [b for _, b, _ in fake.requests]
    assert all(b["model"] == "judge-x" and b["temperature"] == 0 for b in bodies)
    assert len(bodies) == 4


def test_unparsable_judge_output_is_an_error() -> None:
    with pytest.raises(ModelError, match="not JSON"):
        parse_json("I think it is fine", "verdicts")
    assert parse_json('```json\n{"score": 1}\n```', "accuracy") == {"score": 1}

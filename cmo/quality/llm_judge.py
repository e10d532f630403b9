"""LLM-judged quality, in the style of RAGAS, through the OpenAI API shape.

* factual (faithfulness): the judge splits the answer into standalone statements, then
  gives each a verdict against the retrieved passages — supported, unsupported or
  contradicted — with its reason and evidence;
* relevance (answer relevancy): the judge writes questions the answer would answer; their
  mean embedding similarity to the real question is the score (0 for a noncommittal answer);
* accuracy: the judge rates how faithfully the answer represents the passages it cites.

The judge's reasons are kept in the score. Unparsable judge output is a ModelError.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from cmo.adapters.openai_models import ModelError, OpenAIModels
from cmo.quality.model import (
    DEFAULT_THRESHOLD,
    ClaimCheck,
    Passage,
    QualityScore,
    Verdict,
    make_score,
)
from cmo.quality.offline import Embedder

JUDGE_SYSTEM = ("You are a meticulous evaluator of answers to clinical metabolomics research "
                "questions. Reply with JSON only.")

STATEMENTS_PROMPT = """Break the answer into standalone factual statements (no pronouns).
Question: {question}
Answer: {answer}
Reply as {{"statements": ["...", "..."]}}"""

VERDICTS_PROMPT = """Judge each statement against the context only.
verdict: "supported" if the context states it, "contradicted" if the context states
otherwise, "unsupported" if the context does not say. Quote the evidence when there is any.
Context:
{context}
Statements:
{statements}
Reply as {{"verdicts": [{{"statement": "...", "verdict": "supported|unsupported|contradicted", "reason": "...", "evidence": "..."}}]}}"""

RELEVANCY_PROMPT = """Write {n} questions that the answer below answers, and say whether the
answer is noncommittal (evasive, "I don't know").
Answer: {answer}
Reply as {{"questions": ["..."], "noncommittal": 0 or 1}}"""

ACCURACY_PROMPT = """Rate from 0 to 1 how accurately the answer represents the cited passages
(1 = every statement faithful to its passage, 0 = misrepresents them).
Cited passages:
{context}
Answer: {answer}
Reply as {{"score": 0.0, "reason": "..."}}"""


def parse_json(text: str, what: str) -> dict[str, Any]:
    """The first JSON object in the judge's reply."""
    match = re.search(r"\{.*\}", text, re.DOTALL)
    try:
        value = json.loads(match.group(0) if match else text)
    except (ValueError, AttributeError) as exc:
        raise ModelError(f"the judge's {what} reply is not JSON: {text[:200]!r}") from exc
    if not isinstance(value, dict):
        raise ModelError(f"the judge's {what} reply is not a JSON object")
    return value


def _context(passages: Sequence[Passage]) -> str:
    return "\n\n".join(f"[{i + 1}] {p.text}" for i, p in enumerate(passages))


class LLMJudgeScorer:
    name = "llm"

    def __init__(self, models: OpenAIModels, embedder: Embedder, threshold: float = DEFAULT_THRESHOLD,
                 questions: int = 3) -> None:
        self.models = models
        self.embedder = embedder
        self.threshold = threshold
        self.questions = questions

    async def _ask(self, prompt: str, what: str) -> dict[str, Any]:
        reply = await self.models.complete(prompt, system_prompt=JUDGE_SYSTEM, temperature=0,
                                           response_format={"type": "json_object"})
        return parse_json(reply, what)

    async def score(self, question: str, answer: str, passages: Sequence[Passage]) -> QualityScore:
        if not answer.strip():
            return make_score(0, 0, 0, self.name, self.threshold, issues=["the answer is empty"])
        statements = [str(s) for s in (await self._ask(
            STATEMENTS_PROMPT.format(question=question, answer=answer), "statements")).get("statements", [])]
        checks = await self._verdicts(statements, passages)
        factual = (sum(c.verdict is Verdict.SUPPORTED for c in checks) / len(checks)) if checks else 0.0
        relevance, noncommittal = await self._relevance(question, answer)
        cited = [p for p in passages if p.cited] or list(passages)
        rated = await self._ask(ACCURACY_PROMPT.format(context=_context(cited), answer=answer), "accuracy")
        accuracy = float(rated.get("score", 0.0))
        issues = [f"statement {n} {c.verdict.value}: {c.reason} — \"{c.claim[:120]}\""
                  for n, c in enumerate(checks, 1) if c.verdict is not Verdict.SUPPORTED]
        if noncommittal:
            issues.insert(0, "the answer is noncommittal")
        reasons = {"accuracy": str(rated.get("reason", "")),
                   "factual": "; ".join(f"{c.verdict.value}: {c.reason}" for c in checks),
                   "relevance": "noncommittal" if noncommittal else "mean similarity of generated questions"}
        return make_score(relevance, accuracy, factual, self.name, self.threshold, checks, issues, reasons)

    async def _verdicts(self, statements: list[str], passages: Sequence[Passage]) -> list[ClaimCheck]:
        if not statements:
            return []
        listed = "\n".join(f"{i + 1}. {s}" for i, s in enumerate(statements))
        reply = await self._ask(VERDICTS_PROMPT.format(context=_context(passages), statements=listed),
                                "verdicts")
        checks = []
        for i, statement in enumerate(statements):
            items = reply.get("verdicts", [])
            item = items[i] if i < len(items) and isinstance(items[i], dict) else {}
            try:
                verdict = Verdict(str(item.get("verdict", "unsupported")).lower())
            except ValueError:
                verdict = Verdict.UNSUPPORTED
            checks.append(ClaimCheck(statement, verdict, item.get("evidence") or None, None,
                                     1.0 if verdict is Verdict.SUPPORTED else 0.0,
                                     str(item.get("reason", ""))))
        return checks

    async def _relevance(self, question: str, answer: str) -> tuple[float, bool]:
        reply = await self._ask(RELEVANCY_PROMPT.format(n=self.questions, answer=answer), "relevancy")
        generated = [str(q) for q in reply.get("questions", []) if str(q).strip()]
        noncommittal = bool(reply.get("noncommittal", 0))
        if not generated or noncommittal:
            return 0.0, noncommittal
        vectors = np.asarray(await self.embedder.embed([question, *generated]), dtype=np.float32)
        return float(np.mean(vectors[1:] @ vectors[0])), False

"""Turning retrieved passages into an answer: extractive (offline) or by an LLM.

Both return a :class:`Generated`: the answer text with ``[n]`` markers, which passages
are cited as n = 1, 2, ..., the quoted passage per citation, and token usage.

* :class:`ExtractiveGenerator` (no model configured): the most relevant source
  sentences, verbatim, chosen with local embeddings — it never writes a sentence of its
  own (:mod:`cmo.domain.extractive`).
* :class:`LLMGenerator`: an OpenAI-compatible chat model answers from the numbered
  passages and cites them as [n]; citations are the passages it actually cites.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from cmo.adapters.embeddings import LocalEmbedder
from cmo.adapters.openai_models import OpenAIModels
from cmo.domain.extractive import EXTRACTIVE_LABEL, Candidate, compose, select, terms
from cmo.domain.sentences import split_sentences
from rag_service.lightrag_store import RetrievedChunk


@dataclass(frozen=True)
class Generated:
    text: str
    cited: tuple[int, ...]        # passage index for citation n (n = position + 1)
    quotes: tuple[str, ...]       # quoted passage per citation
    extractive: bool
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    embedding_tokens: int = 0
    label: str | None = None


class AnswerGenerator(Protocol):
    model: str

    async def generate(self, question: str, passages: Sequence[RetrievedChunk],
                       response_type: str) -> Generated: ...

    def stream(self, question: str, passages: Sequence[RetrievedChunk],
               response_type: str) -> AsyncIterator[str | Generated]: ...


def shortlist(question: str, sentences: list[tuple[int, int, str]],
              limit: int) -> list[tuple[int, int, str]]:
    """The sentences worth embedding: most question words first, then retrieval rank.

    Embedding every sentence of every passage on a CPU dominates answer latency; the
    lexical pre-filter keeps the semantic ranking for the plausible few.
    """
    if len(sentences) <= limit:
        return sentences
    wanted = terms(question)
    ranked = sorted(sentences, key=lambda t: (-len(wanted & terms(t[2])), t[0], t[1]))
    return sorted(ranked[:limit], key=lambda t: (t[0], t[1]))


class ExtractiveGenerator:
    """Selects verbatim sentences from the passages (local embeddings, no LLM)."""

    model = "local"

    def __init__(self, embedder: LocalEmbedder, max_sentences: int = 4,
                 max_candidates: int = 14) -> None:
        self.embedder = embedder
        self.max_sentences = max_sentences
        self.max_candidates = max_candidates

    async def generate(self, question: str, passages: Sequence[RetrievedChunk],
                       response_type: str = "") -> Generated:
        sentences = shortlist(question, [(i, j, s) for i, p in enumerate(passages)
                                         for j, s in enumerate(split_sentences(p.text))],
                              self.max_candidates)
        if not sentences:
            return Generated("", (), (), True, self.model, label=EXTRACTIVE_LABEL)
        vectors = await self.embedder.embed([question] + [s for _, _, s in sentences])
        sims = np.asarray(vectors[1:]) @ np.asarray(vectors[0])
        candidates = [Candidate(i, j, s, float(sim)) for (i, j, s), sim in zip(sentences, sims)]
        extract = compose(select(question, candidates, max_sentences=self.max_sentences))
        tokens = sum(len(s.split()) for _, _, s in sentences) + len(question.split())
        return Generated(extract.text, extract.cited_passages, extract.quotes, True, self.model,
                         embedding_tokens=tokens, label=EXTRACTIVE_LABEL)

    async def stream(self, question: str, passages: Sequence[RetrievedChunk],
                     response_type: str = "") -> AsyncIterator[str | Generated]:
        generated = await self.generate(question, passages, response_type)
        for piece in re.findall(r".+?\[\d+\](?: |$)", generated.text) or [generated.text]:
            yield piece
        yield generated


SYSTEM_PROMPT = (
    "You are the Clinical Metabolomics Oracle, a research assistant for clinical metabolomics. "
    "Answer only from the numbered sources given. After every statement cite its source as [n]. "
    "If the sources do not answer the question, say so. Do not invent references.")


def build_prompt(question: str, passages: Sequence[RetrievedChunk], response_type: str) -> str:
    blocks = [f"[{i + 1}] {p.title} (page {p.page}):\n{p.text}" for i, p in enumerate(passages)]
    return ("Sources:\n\n" + "\n\n".join(blocks) + f"\n\nQuestion: {question}\n"
            f"Answer format: {response_type}. Cite sources as [n].")


def cited_numbers(text: str, count: int) -> list[int]:
    """Source numbers cited in text, in order of first citation, within 1..count."""
    seen: dict[int, None] = {}
    for match in re.finditer(r"\[(\d+(?:\s*,\s*\d+)*)\]", text):
        for n in match.group(1).split(","):
            if 1 <= int(n) <= count:
                seen.setdefault(int(n), None)
    return list(seen)


def renumber(text: str, order: Sequence[int]) -> str:
    """Rewrite [n] markers so the first cited source is [1], the next [2], ..."""
    mapping = {old: new + 1 for new, old in enumerate(order)}

    def fix(match: re.Match[str]) -> str:
        nums = [mapping.get(int(n)) for n in match.group(1).split(",")]
        return "[" + ", ".join(str(n) for n in nums if n) + "]" if any(nums) else ""

    return re.sub(r"\[(\d+(?:\s*,\s*\d+)*)\]", fix, text)


class LLMGenerator:
    """Answers with an OpenAI-compatible chat model from the numbered passages."""

    def __init__(self, models: OpenAIModels) -> None:
        self.models = models
        self.model = models.config.chat_model

    def _finish(self, text: str, passages: Sequence[RetrievedChunk], before: tuple[int, int]) -> Generated:
        order = cited_numbers(text, len(passages))
        usage = self.models.usage
        return Generated(renumber(text, order).strip(), tuple(n - 1 for n in order),
                         tuple(passages[n - 1].text for n in order), False, self.model,
                         prompt_tokens=usage.prompt_tokens - before[0],
                         completion_tokens=usage.completion_tokens - before[1])

    async def generate(self, question: str, passages: Sequence[RetrievedChunk],
                       response_type: str = "Multiple Paragraphs") -> Generated:
        before = (self.models.usage.prompt_tokens, self.models.usage.completion_tokens)
        text = await self.models.complete(build_prompt(question, passages, response_type),
                                          system_prompt=SYSTEM_PROMPT, temperature=0)
        return self._finish(text, passages, before)

    async def stream(self, question: str, passages: Sequence[RetrievedChunk],
                     response_type: str = "Multiple Paragraphs") -> AsyncIterator[str | Generated]:
        before = (self.models.usage.prompt_tokens, self.models.usage.completion_tokens)
        parts: list[str] = []
        async for delta in self.models.stream(build_prompt(question, passages, response_type),
                                              system_prompt=SYSTEM_PROMPT):
            parts.append(delta)
            yield delta
        yield self._finish("".join(parts), passages, before)

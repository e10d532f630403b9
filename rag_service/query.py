"""Query service: retrieve from the knowledge store, answer with citations, emit events.

Every answer (also a cached one or a failure) yields a ResponseGenerated event and a
CostRecorded event. Answers are cached per normalized question + mode + top_k + index
version, so a change to the index invalidates them.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace

from cmo.domain.pricing import cost_usd
from cmo.events import Citation, CostRecorded, ResponseGenerated
from cmo.exceptions import CMOError
from cmo.ports import EventPublisher
from rag_service.answer_cache import AnswerCache
from rag_service.generation import AnswerGenerator, Generated
from rag_service.lightrag_store import MODES, KnowledgeStore, Mode, RetrievedChunk
from rag_service.manifest import Manifest

logger = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 4000


class QueryError(CMOError):
    """The question cannot be answered as asked (empty, too long, bad mode)."""


@dataclass(frozen=True)
class Answer:
    query_id: str
    question: str
    mode: str
    text: str
    citations: tuple[Citation, ...]
    extractive: bool
    label: str | None
    model: str
    latency_ms: float
    cached: bool
    index_version: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    embedding_tokens: int = 0
    usd: float = 0.0
    response_event_id: str = ""


def validate(question: str, mode: str, top_k: int) -> tuple[str, Mode]:
    text = question.strip()
    if not text:
        raise QueryError("the question is empty")
    if len(text) > MAX_QUESTION_CHARS:
        raise QueryError(f"the question is too long ({len(text)} characters; at most {MAX_QUESTION_CHARS})")
    if mode not in MODES:
        raise QueryError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
    if not 1 <= top_k <= 50:
        raise QueryError("top_k must be between 1 and 50")
    return text, mode


def citations_for(generated: Generated, passages: list[RetrievedChunk]) -> tuple[Citation, ...]:
    return tuple(Citation(document_id=passages[i].doc_id, title=passages[i].title,
                          page=passages[i].page, chunk_id=passages[i].chunk_id,
                          score=round(passages[i].score, 4), quote=quote)
                 for i, quote in zip(generated.cited, generated.quotes))


class QueryService:
    def __init__(self, store: KnowledgeStore, manifest: Manifest, generator: AnswerGenerator,
                 events: EventPublisher, cache: AnswerCache[Answer] | None = None,
                 service: str = "rag_service",
                 clock: Callable[[], int] = lambda: int(time.time() * 1000)) -> None:
        self.store = store
        self.manifest = manifest
        self.generator = generator
        self.events = events
        self.cache = cache if cache is not None else AnswerCache()
        self.service = service
        self.clock = clock

    async def answer(self, question: str, mode: str = "hybrid", top_k: int = 5,
                     response_type: str = "Multiple Paragraphs", query_id: str | None = None,
                     role: str = "primary", variant: str | None = None) -> Answer:
        """The complete answer; ``role`` is primary, fallback or shadow (recorded in events)."""
        final: Answer | None = None
        async for item in self.stream(question, mode, top_k, response_type, query_id, role,
                                      variant):
            if isinstance(item, Answer):
                final = item
        assert final is not None
        return final

    async def stream(self, question: str, mode: str = "hybrid", top_k: int = 5,
                     response_type: str = "Multiple Paragraphs",
                     query_id: str | None = None, role: str = "primary",
                     variant: str | None = None) -> AsyncIterator[str | Answer]:
        """Text pieces as they are produced, then the complete :class:`Answer`."""
        started = time.perf_counter()
        text, checked_mode = validate(question, mode, top_k)
        query_id = query_id or str(uuid.uuid4())
        version = self.manifest.index_version
        hit = self.cache.get(text, checked_mode, top_k, version)
        if hit is not None:
            answer = replace(hit, query_id=query_id, cached=True,
                             latency_ms=(time.perf_counter() - started) * 1000,
                             prompt_tokens=0, completion_tokens=0, embedding_tokens=0, usd=0.0)
            answer = self._emit(answer, role, variant)
            yield answer.text
            yield answer
            return
        try:
            passages = await self.store.retrieve(text, checked_mode, top_k)
            generated: Generated | None = None
            async for piece in self.generator.stream(text, passages, response_type):
                if isinstance(piece, Generated):
                    generated = piece
                else:
                    yield piece
            assert generated is not None
        except CMOError as exc:
            self._emit_error(query_id, checked_mode, exc, started, version, text, role,
                             variant)
            raise
        usd = cost_usd(generated.model, generated.prompt_tokens, generated.completion_tokens,
                       generated.embedding_tokens)
        answer = Answer(query_id=query_id, question=text, mode=checked_mode, text=generated.text,
                        citations=citations_for(generated, passages),
                        extractive=generated.extractive, label=generated.label,
                        model=generated.model, latency_ms=(time.perf_counter() - started) * 1000,
                        cached=False, index_version=version, prompt_tokens=generated.prompt_tokens,
                        completion_tokens=generated.completion_tokens,
                        embedding_tokens=generated.embedding_tokens, usd=usd)
        answer = self._emit(answer, role, variant)
        if answer.text:
            self.cache.put(text, checked_mode, top_k, version, answer)
        yield answer

    def _emit(self, answer: Answer, role: str = "primary",
              variant: str | None = None) -> Answer:
        event_id = str(uuid.uuid4())
        now = self.clock()
        self.events.publish_many([
            ResponseGenerated(event_id=event_id, event_time=now, correlation_id=answer.query_id,
                              service=self.service, backend="lightrag", mode=answer.mode,
                              answer=answer.text, citations=answer.citations,
                              latency_ms=answer.latency_ms, extractive=answer.extractive,
                              cached=answer.cached, index_version=answer.index_version,
                              question=answer.question, is_fallback=role == "fallback",
                              is_shadow=role == "shadow", variant=variant),
            CostRecorded(event_id=str(uuid.uuid4()), event_time=now, correlation_id=answer.query_id,
                         service=self.service, backend="lightrag", model=answer.model,
                         operation="query", prompt_tokens=answer.prompt_tokens,
                         completion_tokens=answer.completion_tokens,
                         embedding_tokens=answer.embedding_tokens, usd=answer.usd,
                         variant=variant)])
        return replace(answer, response_event_id=event_id)

    def _emit_error(self, query_id: str, mode: str, exc: CMOError, started: float, version: str,
                    question: str, role: str = "primary", variant: str | None = None) -> None:
        kind = "timeout" if "timeout" in str(exc).lower() else (
            "unavailable" if exc.retriable else "internal")
        self.events.publish(ResponseGenerated(
            event_id=str(uuid.uuid4()), event_time=self.clock(), correlation_id=query_id,
            service=self.service, backend="lightrag", mode=mode, answer="", citations=(),
            latency_ms=(time.perf_counter() - started) * 1000, error=str(exc), error_kind=kind,
            index_version=version, question=question, is_fallback=role == "fallback",
            is_shadow=role == "shadow", variant=variant))
        logger.warning("query %s failed: %s", query_id, exc)

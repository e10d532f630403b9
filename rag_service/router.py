"""The router: per query, flags pick LightRAG or Perplexity; failures and poor answers fall back.

For each question: a QueryReceived event, the flag decision (:func:`cmo.domain.flags.route`
on the live control-topic state) overridden by the per-process fast-path breaker, a
RoutingDecision event, then the chosen backend within its timeout. A backend error or
timeout falls back to the other backend (a second RoutingDecision, reason "fallback"); a
LightRAG answer whose composite quality, scored inline within its budget, is below 0.6
also goes to Perplexity. In shadow mode the other backend answers too, off the user's
path, and a ShadowComparison event records both.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cmo.adapters.openai_models import ModelError
from cmo.adapters.perplexity import PerplexityBackend, WebAnswer
from cmo.domain import fast_breaker as fb
from cmo.domain.flags import LIGHTRAG, NONE, PERPLEXITY, Availability, FlagContext, FlagState, Route, route
from cmo.events import Citation, CostRecorded, QueryReceived, ResponseGenerated, RoutingDecision, ShadowComparison
from cmo.exceptions import CMOError
from cmo.ports import EventPublisher
from cmo.quality.inline import score_within
from cmo.quality.model import FALLBACK_BELOW, Passage, QualityScore, QualityScorer
from rag_service.query import Answer, QueryService

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RoutedAnswer:
    query_id: str
    backend: str
    text: str
    citations: tuple[Citation, ...]
    route: Route
    flag_version: int
    latency_ms: float
    extractive: bool = False
    label: str | None = None
    quality: QualityScore | None = None
    fallback_from: str | None = None
    error: str | None = None
    response_event_id: str | None = None


@dataclass
class RouterConfig:
    lightrag_timeout_s: float = 30.0
    perplexity_timeout_s: float = 30.0
    breaker_threshold: int = 5
    breaker_cooldown_ms: int = 10_000
    quality_budget_s: float = 1.5
    service: str = "router"


@dataclass
class _Result:
    text: str
    citations: tuple[Citation, ...]
    latency_ms: float
    extractive: bool = False
    label: str | None = None
    usd: float = 0.0
    response_event_id: str | None = None


def now_ms() -> int:
    return int(time.time() * 1000)


class Router:
    def __init__(self, flags: Callable[[], FlagState], knowledge: QueryService,
                 perplexity: PerplexityBackend, events: EventPublisher,
                 scorer: QualityScorer | None = None, config: RouterConfig | None = None,
                 clock: Callable[[], int] = now_ms, similarity: Any = None) -> None:
        self.flags = flags
        self.knowledge = knowledge
        self.perplexity = perplexity
        self.events = events
        self.scorer = scorer
        self.config = config or RouterConfig()
        self.clock = clock
        self.similarity = similarity
        self.breakers: dict[str, fb.BreakerStatus] = {LIGHTRAG: fb.BreakerStatus(), PERPLEXITY: fb.BreakerStatus()}
        self._shadow_tasks: set[asyncio.Task[None]] = set()

    def availability(self) -> Availability:
        return Availability(lightrag=True, perplexity=self.perplexity.available)

    def decide(self, state: FlagState, ctx: FlagContext) -> Route:
        """Flags first, then the fast-path breaker may send traffic to the other backend."""
        decided = route(state, ctx, self.availability())
        if decided.backend in (LIGHTRAG, PERPLEXITY):
            ok, self.breakers[decided.backend] = fb.allows(self.breakers[decided.backend], self.clock(),
                                                           self.config.breaker_cooldown_ms)
            other = PERPLEXITY if decided.backend == LIGHTRAG else LIGHTRAG
            if not ok and (other == LIGHTRAG or self.perplexity.available):
                return Route(other, "breaker-open", f"fast-breaker:{decided.backend}", decided.variant,
                             decided.bucket, decided.shadow_backend)
        return decided

    async def ask(self, question: str, user_id: str, session_id: str, mode: str = "hybrid",
                  query_id: str | None = None, channel: str = "api",
                  language: str | None = None, on_route: Callable[[Route], None] | None = None,
                  on_delta: Callable[[str], None] | None = None) -> RoutedAnswer:
        """``on_route`` hears every routing decision, ``on_delta`` the answer text as it streams."""
        started = time.perf_counter()
        query_id = query_id or str(uuid.uuid4())
        state = self.flags()
        self.events.publish(QueryReceived(**self._env(query_id), session_id=session_id, user_id=user_id,
                                          query_text=question, mode=mode, language=language, channel=channel))
        decided = self.decide(state, FlagContext(user_id=user_id, session_id=session_id))
        self._decision(query_id, decided, state, user_id, session_id, on_route)
        if decided.backend == NONE:
            return self._failed(query_id, decided, state, started, "no backend is available for this query",
                                question)
        tried: list[str] = []
        backend, reason = decided.backend, decided.reason
        while True:
            tried.append(backend)
            try:
                result = await self._call(backend, question, mode, query_id, fallback=len(tried) > 1,
                                          variant=decided.variant, on_delta=on_delta)
                self.breakers[backend] = fb.record(self.breakers[backend], True, self.clock(),
                                                   self.config.breaker_threshold)
            except CMOError as exc:
                self.breakers[backend] = fb.record(self.breakers[backend], False, self.clock(),
                                                   self.config.breaker_threshold)
                logger.warning("query %s: %s failed: %s", query_id, backend, exc)
                nxt = self._fallback_target(backend, tried, state)
                if nxt is None:
                    return self._failed(query_id, decided, state, started, f"{backend} failed: {exc}",
                                        question)
                self._decision(query_id, Route(nxt, "fallback", f"{backend}-error", decided.variant,
                                               decided.bucket), state, user_id, session_id, on_route)
                backend = nxt
                continue
            quality = await self._inline_quality(backend, question, result)
            if (backend == LIGHTRAG and quality is not None and quality.composite < FALLBACK_BELOW
                    and (nxt := self._fallback_target(backend, tried, state)) is not None):
                logger.info("query %s: LightRAG quality %.2f < %.1f, asking %s", query_id,
                            quality.composite, FALLBACK_BELOW, nxt)
                self._decision(query_id, Route(nxt, "fallback", "low-quality", decided.variant, decided.bucket),
                               state, user_id, session_id, on_route)
                backend = nxt
                continue
            if decided.shadow_backend and len(tried) == 1:
                self._shadow(decided.shadow_backend, question, mode, query_id, backend, result)
            return RoutedAnswer(query_id, backend, result.text, result.citations, decided, state.version,
                                (time.perf_counter() - started) * 1000, result.extractive, result.label,
                                quality, tried[0] if len(tried) > 1 else None,
                                response_event_id=result.response_event_id)

    def _fallback_target(self, failed: str, tried: list[str], state: FlagState) -> str | None:
        other = PERPLEXITY if failed == LIGHTRAG else LIGHTRAG
        if other in tried:
            return None
        if other == PERPLEXITY and not self.perplexity.available:
            return None
        if other == LIGHTRAG and (state.kill_switch or not state.lightrag_enabled):
            return None
        return other

    async def _call(self, backend: str, question: str, mode: str, query_id: str, fallback: bool,
                    shadow: bool = False, variant: str | None = None,
                    on_delta: Callable[[str], None] | None = None) -> _Result:
        if backend == LIGHTRAG:
            role = "shadow" if shadow else "fallback" if fallback else "primary"

            async def streamed() -> Answer:
                final: Answer | None = None
                async for item in self.knowledge.stream(question, mode, query_id=query_id, role=role,
                                                        variant=variant):
                    if isinstance(item, Answer):
                        final = item
                    elif on_delta is not None and item:
                        on_delta(item)
                assert final is not None
                return final

            try:
                answer = await asyncio.wait_for(
                    streamed() if on_delta is not None else
                    self.knowledge.answer(question, mode=mode, query_id=query_id, role=role,
                                          variant=variant),
                    self.config.lightrag_timeout_s)
            except TimeoutError as exc:
                raise ModelError(f"LightRAG timed out after {self.config.lightrag_timeout_s:.0f}s",
                                 retriable=True) from exc
            if not answer.text:
                raise CMOError("the knowledge base has no answer to this question")
            return _Result(answer.text, answer.citations, answer.latency_ms, answer.extractive,
                           answer.label, answer.usd, answer.response_event_id or None)
        return await self._web(question, query_id, fallback, shadow, variant)

    async def _web(self, question: str, query_id: str, fallback: bool, shadow: bool,
                   variant: str | None = None) -> _Result:
        started = time.perf_counter()
        try:
            web: WebAnswer = await asyncio.wait_for(self.perplexity.answer(question),
                                                    self.config.perplexity_timeout_s)
        except (CMOError, TimeoutError) as exc:
            error = exc if isinstance(exc, CMOError) else ModelError("Perplexity timed out", retriable=True)
            self.events.publish(ResponseGenerated(
                **self._env(query_id, "rag_service"), backend=PERPLEXITY, mode="web", answer="", citations=(),
                latency_ms=(time.perf_counter() - started) * 1000, error=str(error),
                error_kind="timeout" if "imeout" in str(error) else "unavailable", is_fallback=fallback,
                is_shadow=shadow, question=question, variant=variant))
            raise error from exc
        response = ResponseGenerated(**self._env(query_id, "rag_service"), backend=PERPLEXITY, mode="web",
                                     answer=web.text, citations=web.citations, latency_ms=web.latency_ms,
                                     is_fallback=fallback, is_shadow=shadow, question=question,
                                     variant=variant)
        self.events.publish_many([
            response,
            CostRecorded(**self._env(query_id, "rag_service"), backend=PERPLEXITY, model=web.model,
                         operation="query", prompt_tokens=web.prompt_tokens,
                         completion_tokens=web.completion_tokens, usd=web.usd, variant=variant)])
        return _Result(web.text, web.citations, web.latency_ms, usd=web.usd,
                       response_event_id=response.event_id)

    async def _inline_quality(self, backend: str, question: str, result: _Result) -> QualityScore | None:
        if self.scorer is None or backend != LIGHTRAG:
            return None
        passages = [Passage(c.quote, True, c.document_id, c.page) for c in result.citations]
        return await score_within(self.scorer, question, result.text, passages, self.config.quality_budget_s)

    def _shadow(self, backend: str, question: str, mode: str, query_id: str, serving: str,
                served: _Result) -> None:
        async def run() -> None:
            try:
                result = await self._call(backend, question, mode, query_id, fallback=False, shadow=True)
            except CMOError as exc:
                logger.info("shadow %s for %s failed: %s", backend, query_id, exc)
                return
            self.events.publish(await self._comparison(query_id, serving, served, backend, result))

        task = asyncio.create_task(run())
        self._shadow_tasks.add(task)
        task.add_done_callback(self._shadow_tasks.discard)

    async def _comparison(self, query_id: str, serving: str, served: _Result, shadow: str,
                          other: _Result) -> ShadowComparison:
        similarity = 0.0
        if self.similarity is not None and served.text and other.text:
            similarity = float(await self.similarity(served.text, other.text))
        a = {c.document_id for c in served.citations}
        b = {c.document_id for c in other.citations}
        overlap = len(a & b) / len(a | b) if a | b else 0.0
        return ShadowComparison(**self._env(query_id), serving_backend=serving, shadow_backend=shadow,
                                similarity=round(similarity, 4), citation_overlap=round(overlap, 4),
                                serving_latency_ms=served.latency_ms, shadow_latency_ms=other.latency_ms,
                                serving_cost_usd=served.usd, shadow_cost_usd=other.usd,
                                serving_answer=served.text, shadow_answer=other.text)

    async def drain_shadows(self, timeout: float = 30.0) -> None:
        """Wait for shadow answers still running (shutdown, tests)."""
        if self._shadow_tasks:
            await asyncio.wait(set(self._shadow_tasks), timeout=timeout)

    def _failed(self, query_id: str, decided: Route, state: FlagState, started: float, why: str,
                question: str) -> RoutedAnswer:
        """No backend could answer: a ResponseGenerated with the error records it."""
        latency = (time.perf_counter() - started) * 1000
        self.events.publish(ResponseGenerated(
            **self._env(query_id), backend=NONE, mode="none", answer="", citations=(), latency_ms=latency,
            error=why, error_kind="unavailable", question=question, variant=decided.variant))
        return RoutedAnswer(query_id, NONE, "", (), decided, state.version, latency, error=why)

    def _decision(self, query_id: str, decided: Route, state: FlagState, user_id: str, session_id: str,
                  on_route: Callable[[Route], None] | None = None) -> None:
        self.events.publish(RoutingDecision(
            **self._env(query_id), backend=decided.backend, reason=decided.reason, user_id=user_id,
            session_id=session_id, cohort=decided.cohort, variant=decided.variant, bucket=decided.bucket,
            flag_version=state.version, shadow_backend=decided.shadow_backend))
        if on_route is not None:
            on_route(decided)

    def _env(self, query_id: str, service: str | None = None) -> dict[str, Any]:
        return {"event_id": str(uuid.uuid4()), "event_time": self.clock(), "correlation_id": query_id,
                "service": service or self.config.service}

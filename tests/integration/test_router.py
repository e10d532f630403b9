"""The router on the real broker and the real offline knowledge base, with a loopback fake
Perplexity server (the only test double: Perplexity is a paid API) that can fail, stall and 429."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cmo.adapters.avro import SingleObjectSerializer
from cmo.adapters.factory import make_producer
from cmo.adapters.perplexity import PerplexityBackend, PerplexityConfig
from cmo.config import Settings
from cmo.domain.flags import FlagState
from cmo.events import QueryReceived, ResponseGenerated, RoutingDecision, ShadowComparison
from cmo.topics import topic_name
from rag_service.context import KnowledgeBase
from rag_service.router import Router, RouterConfig
from tests.fakes.openai_compat import FakeOpenAI, serve
from tests.integration.helpers import consume_events

pytestmark = pytest.mark.integration

PAPER = ("Maple syrup urine disease\n\nMaple syrup urine disease is caused by deficient activity of "
         "the branched-chain alpha-keto acid dehydrogenase complex. Leucine, isoleucine and valine "
         "accumulate in plasma of affected newborns. Treatment restricts dietary branched-chain "
         "amino acids.")
WEB = {"search_results": [{"title": "MSUD overview", "url": "https://example.org/msud",
                           "snippet": "MSUD raises branched-chain amino acids."}]}


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with serve(FakeOpenAI(chat_reply=lambda body: "Web answer: MSUD raises leucine [1].",
                          extra_fields=WEB)) as server:
        yield server


class Flags:
    def __init__(self, state: FlagState) -> None:
        self.state = state

    def __call__(self) -> FlagState:
        return self.state


def run(settings: Settings, tmp_path: Path, fake: FakeOpenAI, scenario: Any, flags: Flags,
        **config: Any) -> Any:
    papers = tmp_path / "papers"
    papers.mkdir()
    (papers / "msud.txt").write_text(PAPER)
    s = settings.model_copy(update={"lightrag_working_dir": tmp_path / "lightrag",
                                    "lightrag_papers_dir": papers})

    async def main() -> Any:
        kb = await KnowledgeBase.open(s, service="test")
        web = PerplexityBackend(PerplexityConfig(api_key="pplx-test", base_url=fake.url, max_retries=0,
                                                 timeout_s=config.pop("web_timeout", 5.0)))

        async def similarity(a: str, b: str) -> float:
            v = np.asarray(await kb.store.embedder.embed([a, b]))
            return float(v[0] @ v[1])

        router = Router(flags, kb.query, web, kb.events, kb.scorer, RouterConfig(**config),
                        similarity=similarity)
        try:
            await kb.ingest.ingest(papers)
            out = await scenario(router)
            await router.drain_shadows()
            return out
        finally:
            await web.close()
            await kb.close()

    return asyncio.run(main())


def events(s: Settings, serializer: SingleObjectSerializer, count: int) -> list[Any]:
    topics = [topic_name(s.kafka_topic_prefix, c) for c in
              (QueryReceived, RoutingDecision, ResponseGenerated, ShadowComparison)]
    with make_producer(s, "reader", serializer) as dlq:
        got = consume_events(s.kafka_bootstrap_servers, topics, serializer, dlq, s.kafka_topic_prefix,
                             lambda g: len(g) >= count, timeout=30)
    return [c.event for c in got]


def test_rollout_decides_and_events_tell_the_story(settings: Settings, tmp_path: Path, fake: FakeOpenAI,
                                                   serializer: SingleObjectSerializer) -> None:
    flags = Flags(FlagState(version=3, rollout_percentage=0))

    async def scenario(router: Router) -> Any:
        web = await router.ask("Which amino acids rise in MSUD?", "u-1", "s-1", query_id="q-web")
        flags.state = FlagState(version=4, rollout_percentage=100)
        kb = await router.ask("Which amino acids accumulate in maple syrup urine disease?", "u-1", "s-1",
                              query_id="q-kb")
        return web, kb

    web, kb = run(settings, tmp_path, fake, scenario, flags)
    assert web.backend == "perplexity" and web.citations[0].url == "https://example.org/msud"
    assert kb.backend == "lightrag" and kb.extractive and "branched-chain" in kb.text
    got = events(settings, serializer, 8)
    decisions = {e.correlation_id: e for e in got if isinstance(e, RoutingDecision)}
    assert decisions["q-web"].reason == "rollout" and decisions["q-web"].flag_version == 3
    assert decisions["q-kb"].backend == "lightrag" and decisions["q-kb"].flag_version == 4
    assert {e.correlation_id for e in got if isinstance(e, QueryReceived)} == {"q-web", "q-kb"}
    responses = {(e.correlation_id, e.backend) for e in got if isinstance(e, ResponseGenerated)}
    assert responses == {("q-web", "perplexity"), ("q-kb", "lightrag")}


def test_failures_fall_back_and_open_the_fast_breaker(settings: Settings, tmp_path: Path, fake: FakeOpenAI,
                                                      serializer: SingleObjectSerializer) -> None:
    flags = Flags(FlagState(rollout_percentage=0))
    fake.fail_next = [(500, None), (429, 0.0)]

    async def scenario(router: Router) -> Any:
        answers = [await router.ask("Which amino acids rise in MSUD?", f"u-{i}", "s", query_id=f"q{i}")
                   for i in range(3)]
        return answers, len(fake.requests)

    (first, second, third), requests = run(settings, tmp_path, fake, scenario, flags, breaker_threshold=2)
    assert first.backend == "lightrag" and first.fallback_from == "perplexity"
    assert second.backend == "lightrag" and second.fallback_from == "perplexity"
    assert third.backend == "lightrag" and third.route.reason == "breaker-open"
    assert requests == 2  # the third query never reached the failing backend
    got = events(settings, serializer, 3 + 5 + 5)
    reasons = [e.reason for e in got if isinstance(e, RoutingDecision) and e.correlation_id == "q0"]
    assert reasons == ["rollout", "fallback"]
    errors = [e for e in got if isinstance(e, ResponseGenerated) and e.error]
    assert len(errors) == 2 and all(e.backend == "perplexity" for e in errors)
    assert any(e.is_fallback and e.backend == "lightrag" for e in got if isinstance(e, ResponseGenerated))


def test_slow_perplexity_times_out_into_lightrag(settings: Settings, tmp_path: Path, fake: FakeOpenAI) -> None:
    fake.delay_s = 2.0
    answer = run(settings, tmp_path, fake,
                 lambda router: router.ask("Which amino acids rise in MSUD?", "u", "s"),
                 Flags(FlagState()), perplexity_timeout_s=0.5)
    assert answer.backend == "lightrag" and answer.fallback_from == "perplexity"


def test_low_quality_lightrag_answer_goes_to_perplexity(settings: Settings, tmp_path: Path,
                                                        fake: FakeOpenAI) -> None:
    answer = run(settings, tmp_path, fake,
                 lambda router: router.ask("What is the airspeed velocity of an unladen swallow?", "u", "s"),
                 Flags(FlagState(rollout_percentage=100)))
    assert answer.fallback_from == "lightrag" and answer.backend == "perplexity"


def test_shadow_mode_answers_twice_and_compares(settings: Settings, tmp_path: Path, fake: FakeOpenAI,
                                                serializer: SingleObjectSerializer) -> None:
    answer = run(settings, tmp_path, fake,
                 lambda router: router.ask("Which amino acids accumulate in maple syrup urine disease?",
                                           "u", "s", query_id="q-shadow"),
                 Flags(FlagState(rollout_percentage=100, shadow_mode=True)))
    assert answer.backend == "lightrag" and answer.route.shadow_backend == "perplexity"
    got = events(settings, serializer, 1 + 1 + 2 + 1)
    shadow = [e for e in got if isinstance(e, ResponseGenerated) and e.is_shadow]
    assert [e.backend for e in shadow] == ["perplexity"]
    comparison = next(e for e in got if isinstance(e, ShadowComparison))
    assert comparison.serving_backend == "lightrag" and comparison.shadow_backend == "perplexity"
    assert 0 < comparison.similarity <= 1 and comparison.shadow_cost_usd > 0

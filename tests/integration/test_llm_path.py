"""The OpenAI-compatible path of the knowledge base against a loopback fake model server.

The fake (a test double for a paid API) answers LightRAG's extraction prompts with
LightRAG-format rows, keyword prompts with JSON, and our answer prompt with a cited
sentence. It proves the wire path — requests, retries, timeouts, token accounting and
costs — and never counts as answer quality.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from cmo.adapters.avro import SingleObjectSerializer
from cmo.adapters.factory import make_producer
from cmo.adapters.openai_models import ModelError
from cmo.config import Settings
from cmo.events import CostRecorded, ResponseGenerated
from cmo.topics import topic_name
from rag_service.context import KnowledgeBase
from tests.fakes.openai_compat import FakeOpenAI, serve
from tests.integration.helpers import consume_events

pytestmark = pytest.mark.integration

TEXT = ("Tandem mass spectrometry measures acylcarnitines in dried blood spots. "
        "Medium-chain acyl-CoA dehydrogenase deficiency raises octanoylcarnitine.")
D = "<|#|>"


def lightrag_reply(body: dict[str, Any]) -> str:
    prompt = "\n".join(str(m["content"]) for m in body["messages"])
    if "high_level_keywords" in prompt:
        return json.dumps({"high_level_keywords": ["newborn screening"],
                           "low_level_keywords": ["acylcarnitines", "octanoylcarnitine"]})
    if D in prompt or "entity_name" in prompt:
        return "\n".join([
            f"entity{D}Tandem Mass Spectrometry{D}Method{D}Measures acylcarnitines in dried blood spots.",
            f"entity{D}Octanoylcarnitine{D}Metabolite{D}Raised in MCAD deficiency.",
            f"relation{D}Tandem Mass Spectrometry{D}Octanoylcarnitine{D}measurement{D}"
            "Tandem mass spectrometry measures octanoylcarnitine.",
            "<|COMPLETE|>"])
    if prompt.startswith("You are the Clinical Metabolomics Oracle") or "Sources:" in prompt:
        return "MCAD deficiency raises octanoylcarnitine, measured by tandem mass spectrometry [1]."
    return "A concise summary."


def _settings(settings: Settings, tmp_path: Path, fake: FakeOpenAI, **extra: Any) -> Settings:
    papers = tmp_path / "papers"
    papers.mkdir(exist_ok=True)
    (papers / "mcad.txt").write_text("MCAD deficiency\n\n" + TEXT)
    return settings.model_copy(update={
        "lightrag_working_dir": tmp_path / "lightrag", "lightrag_papers_dir": papers,
        "openai_api_key": SecretStr("sk-test-not-real"), "openai_base_url": fake.url,
        "openai_chat_model": "gpt-4o-mini", "openai_embedding_model": "text-embedding-3-small",
        "openai_embedding_dim": 8, "openai_max_retries": 3, **extra})


def test_llm_ingest_and_answer_with_retries_and_costs(settings: Settings, tmp_path: Path,
                                                      serializer: SingleObjectSerializer) -> None:
    with serve(FakeOpenAI(chat_reply=lightrag_reply)) as fake:
        s = _settings(settings, tmp_path, fake)

        async def scenario():  # type: ignore[no-untyped-def]
            kb = await KnowledgeBase.open(s, service="test")
            try:
                assert not kb.offline
                report = await kb.ingest.ingest(s.lightrag_papers_dir)
                fake.fail_next = [(429, 0.0), (503, None)]
                answer = await kb.query.answer("What does MCAD deficiency raise?", mode="hybrid")
                graph = await kb.store.rag.chunk_entity_relation_graph.get_all_nodes()
                deleted = await kb.ingest.delete(report.indexed[0])
                after = await kb.store.retrieve("What does MCAD deficiency raise?", "naive", 5)
                return report, answer, graph, deleted, after, kb.models.usage.retries
            finally:
                await kb.close()

        report, answer, graph, deleted, after, retries = asyncio.run(scenario())
        paths = [r[0] for r in fake.requests]
    assert len(report.indexed) == 1 and report.chunks == 1
    assert {"Tandem Mass Spectrometry", "Octanoylcarnitine"} <= {n["entity_id"] for n in graph}
    assert paths.count("/v1/embeddings") >= 2 and paths.count("/v1/chat/completions") >= 3
    assert retries == 2
    assert not answer.extractive and answer.model == "gpt-4o-mini"
    assert answer.text.endswith("[1].") and len(answer.citations) == 1
    assert answer.citations[0].page == 1 and answer.citations[0].title == "MCAD deficiency"
    assert answer.prompt_tokens > 0 and answer.completion_tokens > 0 and answer.usd > 0
    assert deleted is not None and after == []

    prefix = s.kafka_topic_prefix
    with make_producer(s, "reader", serializer) as dlq:
        got = consume_events(s.kafka_bootstrap_servers,
                             [topic_name(prefix, ResponseGenerated), topic_name(prefix, CostRecorded)],
                             serializer, dlq, prefix, lambda g: len(g) >= 2)
    cost = next(c.event for c in got if isinstance(c.event, CostRecorded))
    assert cost.model == "gpt-4o-mini" and cost.prompt_tokens == answer.prompt_tokens
    assert cost.usd == pytest.approx(answer.usd)


def test_model_timeout_is_reported_as_an_error_event(settings: Settings, tmp_path: Path,
                                                     serializer: SingleObjectSerializer) -> None:
    with serve(FakeOpenAI(chat_reply=lightrag_reply)) as fake:
        s = _settings(settings, tmp_path, fake, openai_timeout_s=0.3, openai_max_retries=1,
                      lightrag_embedding_backend="local")

        async def scenario():  # type: ignore[no-untyped-def]
            kb = await KnowledgeBase.open(s, service="test")
            try:
                await kb.ingest.ingest(s.lightrag_papers_dir)
                fake.delay_s = 1.0
                with pytest.raises(ModelError, match="Timeout") as info:
                    await kb.query.answer("What does MCAD deficiency raise?", mode="naive",
                                          query_id="q-timeout")
                return info.value
            finally:
                fake.delay_s = 0.0
                await kb.close()

        error = asyncio.run(scenario())
    assert error.retriable
    prefix = s.kafka_topic_prefix
    with make_producer(s, "reader", serializer) as dlq:
        got = consume_events(s.kafka_bootstrap_servers, [topic_name(prefix, ResponseGenerated)],
                             serializer, dlq, prefix, lambda g: len(g) >= 1)
    event = got[0].event
    assert isinstance(event, ResponseGenerated) and event.correlation_id == "q-timeout"
    assert event.error_kind == "timeout" and event.answer == "" and "Timeout" in (event.error or "")

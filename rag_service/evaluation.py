"""``cmo eval``: run an evaluation set through the knowledge base and score every answer.

Datasets: the PubMedQA format (``{pmid: {"QUESTION", "CONTEXTS", "LONG_ANSWER"}}``; the
reference source of a question is its own abstract) or JSON Lines with ``question`` and
optional ``id``, ``reference_answer`` and ``reference_sources`` (document ids, file names
or titles). Each question is answered under each configuration (mode, top_k), scored by
the configured scorer, checked against its references, and written to a report.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from cmo.exceptions import CMOError
from cmo.quality.model import Passage
from cmo.quality.report import EvalRow, build_report
from rag_service.context import KnowledgeBase

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalItem:
    item_id: str
    question: str
    reference_answer: str | None = None
    reference_sources: tuple[str, ...] = ()
    corpus_text: str | None = None     # text to ingest for this item (PubMedQA abstracts)


@dataclass(frozen=True)
class EvalConfig:
    name: str
    mode: str = "hybrid"
    top_k: int = 5


def parse_config(text: str) -> EvalConfig:
    """'mode=naive,top_k=8' -> EvalConfig; the name is the text itself."""
    fields: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, _, value = part.partition("=")
        if key not in ("mode", "top_k"):
            raise CMOError(f"unknown eval setting {key!r} in {text!r}; use mode=... and top_k=...")
        fields[key] = int(value) if key == "top_k" else value
    return EvalConfig(name=text or "default", **fields)


def load_dataset(path: Path, limit: int | None = None) -> list[EvalItem]:
    if not path.exists():
        raise CMOError(f"evaluation set {path} does not exist")
    text = path.read_text(encoding="utf-8")
    items: list[EvalItem] = []
    if path.suffix == ".jsonl":
        for n, line in enumerate(filter(None, (ln.strip() for ln in text.splitlines())), 1):
            row = json.loads(line)
            if "question" not in row:
                raise CMOError(f"{path}:{n}: a line without 'question'")
            items.append(EvalItem(str(row.get("id", n)), row["question"], row.get("reference_answer"),
                                  tuple(row.get("reference_sources", ()))))
    else:
        data = json.loads(text)
        if not isinstance(data, dict) or not all("QUESTION" in v for v in data.values()):
            raise CMOError(f"{path}: expected the PubMedQA format or a .jsonl file")
        for pmid, row in data.items():
            items.append(EvalItem(pmid, row["QUESTION"], row.get("LONG_ANSWER"), (pmid,),
                                  f"PubMed {pmid}\n\n" + "\n\n".join(row.get("CONTEXTS", []))))
    return items[:limit] if limit else items


async def ingest_corpus(kb: KnowledgeBase, items: Sequence[EvalItem], folder: Path) -> None:
    """Write the items' own texts (PubMedQA abstracts) as files and ingest them."""
    folder.mkdir(parents=True, exist_ok=True)
    for item in items:
        if item.corpus_text:
            (folder / f"{item.item_id}.txt").write_text(item.corpus_text, encoding="utf-8")
    await kb.ingest.ingest(folder, progress=True)


async def run_eval(kb: KnowledgeBase, items: Sequence[EvalItem], configs: Sequence[EvalConfig],
                   progress: bool = True,
                   on_row: Callable[[EvalRow], None] | None = None) -> dict[str, Any]:
    names = {r.doc_id: {r.doc_id, Path(r.path).stem, Path(r.path).name, r.title or ""}
             for r in kb.manifest.all()}
    rows: list[EvalRow] = []
    bar = tqdm(total=len(items) * len(configs), desc="evaluating", unit="answer", disable=not progress)
    for item in items:
        for config in configs:
            rows.append(await _evaluate(kb, item, config, names))
            if on_row:
                on_row(rows[-1])
            bar.update()
    bar.close()
    report = build_report(rows, [c.name for c in configs])
    report["scorer"] = kb.scorer.name
    return report


async def _evaluate(kb: KnowledgeBase, item: EvalItem, config: EvalConfig,
                    names: dict[str, set[str]]) -> EvalRow:
    started = time.perf_counter()
    try:
        answer = await kb.query.answer(item.question, config.mode, config.top_k)
        passages = [Passage(c.quote, True, c.document_id, c.page) for c in answer.citations]
        score = await kb.scorer.score(item.question, answer.text, passages)
    except CMOError as exc:
        return EvalRow(item.item_id, config.name, item.question, "", 0, 0, 0, 0, False, None, None,
                       (time.perf_counter() - started) * 1000, 0, error=str(exc))
    hit = None
    if item.reference_sources:
        cited = set().union(*(names.get(c.document_id, {c.document_id}) for c in answer.citations))
        hit = bool(cited & set(item.reference_sources))
    similarity = None
    if item.reference_answer and answer.text:
        vectors = np.asarray(await kb.store.embedder.embed([answer.text, item.reference_answer]))
        similarity = round(float(vectors[0] @ vectors[1]), 4)
    return EvalRow(item.item_id, config.name, item.question, answer.text, score.relevance,
                   score.accuracy, score.factual, score.composite, score.meets_threshold, hit,
                   similarity, answer.latency_ms, len(answer.citations), score.issues)

"""Offline knowledge-base benchmark on PubMedQA (printed figures, not a test).

Measures, in one process and one event loop (LightRAG's storages are bound to it):
  1. Ingestion: each PubMedQA-L abstract becomes ``<pmid>.txt`` (first line "PubMed <pmid>",
     then its context sections separated by blank lines); ``IngestService.ingest`` on that
     folder is timed -> docs, pages, chunks, pages/s, docs/s.
  2. Retrieval quality per LightRAG mode (naive, local, global, hybrid, mix) through
     ``KnowledgeStore.retrieve(question, mode, top_k=5)``: hit@k = the question's own
     abstract is among the first k *distinct* documents of the 5 retrieved chunks (doc id ->
     pmid through the manifest's file paths). Baseline in the same run: BM25Okapi
     (``rank_bm25``) over the same file texts, lower-cased words minus stopwords.
  3. Query latency of the full offline ``QueryService.answer(question, mode="hybrid")``
     (retrieval + extractive answer + events), p50/p95 over up to 100 questions, then the
     same questions again from the answer cache (every answer must say ``cached``).
  4. The issue's targets, each MET / NOT MET: hit@5 >= 0.95 per mode; hit@1 above BM25's
     hit@1 per mode; p95 < 500 ms; cached p95 < 20 ms.

No API key and no Kafka broker are used: events go to a producer pointed at an unused
loopback port, so they just accumulate in its SQLite outbox under the work dir.

Usage:
  .venv/bin/python benchmarks/bench_retrieval.py [--limit N] [--latency-questions M]
      [--workdir DIR [--reuse]] [--data pqal_dev.json]
``--workdir`` keeps the index (default: a temporary dir, removed afterwards); ``--reuse``
skips writing papers and ingesting, and measures an index already built there.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import tempfile
import time
from pathlib import Path

import numpy as np
from rank_bm25 import BM25Okapi

from cmo.config import Settings
from cmo.domain.extractive import STOPWORDS
from rag_service.context import KnowledgeBase
from rag_service.lightrag_store import MODES

DATA = Path("/work/shared/data/pubmedqa/pqal_dev.json")
TOP_K = 5
TARGET_HIT5 = 0.95
TARGET_P95_MS = 500.0
TARGET_CACHED_P95_MS = 20.0
_WORD = re.compile(r"[a-z0-9][a-z0-9\-]*")


def tokens(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS and len(w) > 1]


def paper_text(pmid: str, item: dict[str, object]) -> str:
    contexts = [str(c).strip() for c in item["CONTEXTS"]]  # type: ignore[attr-defined]
    return f"PubMed {pmid}\n\n" + "\n\n".join(c for c in contexts if c) + "\n"


def write_papers(papers: Path, items: dict[str, dict[str, object]]) -> None:
    papers.mkdir(parents=True, exist_ok=True)
    for old in papers.glob("*.txt"):
        if old.stem not in items:
            old.unlink()
    for pmid, item in items.items():
        path = papers / f"{pmid}.txt"
        text = paper_text(pmid, item)
        if not path.exists() or path.read_text("utf-8") != text:
            path.write_text(text, "utf-8")


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


def hits(ranked: list[list[str]], truth: list[str]) -> tuple[float, float]:
    n = max(len(truth), 1)
    h1 = sum(1 for docs, t in zip(ranked, truth) if t in docs[:1]) / n
    h5 = sum(1 for docs, t in zip(ranked, truth) if t in docs[:TOP_K]) / n
    return h1, h5


async def run(args: argparse.Namespace, workdir: Path) -> None:
    data: dict[str, dict[str, object]] = json.loads(args.data.read_text("utf-8"))
    items = dict(list(data.items())[: args.limit])
    papers, home = workdir / "papers", workdir / "home"
    settings = Settings(_env_file=None, cmo_home=home,  # type: ignore[call-arg]
                        lightrag_working_dir=workdir / "lightrag", lightrag_papers_dir=papers,
                        kafka_bootstrap_servers="127.0.0.1:1", openai_api_key=None)
    print(f"work dir {workdir}; {len(items)} abstracts from {args.data}")
    if not args.reuse:
        write_papers(papers, items)
    opened = time.perf_counter()
    kb = await KnowledgeBase.open(settings, service="bench_retrieval")
    print(f"knowledge base opened in {time.perf_counter() - opened:.1f} s "
          f"({'offline, extractive answers' if kb.offline else 'WITH a model'})")
    try:
        # 1. ingestion ----------------------------------------------------------------------
        print("\n== 1. Ingestion ==")
        if args.reuse:
            print("skipped (--reuse): measuring the index already in the work dir")
        else:
            report = await kb.ingest.ingest(papers, progress=args.progress)
            n_docs, secs = len(report.indexed), report.seconds
            print(f"indexed {n_docs} docs ({len(report.unchanged)} unchanged, "
                  f"{len(report.failed)} failed, {len(report.deleted)} deleted) in {secs:.1f} s")
            print(f"pages {report.pages}, chunks {report.chunks}; "
                  f"{report.pages / secs:.2f} pages/s, {n_docs / secs:.2f} docs/s, "
                  f"{secs / max(n_docs, 1) * 1000:.0f} ms/doc")
            for path, reason in list(report.failed.items())[:5]:
                print(f"  failed {Path(path).name}: {reason}")
        pmid_of = {r.doc_id: Path(r.path).stem for r in kb.manifest.all() if r.status == "indexed"}
        indexed = set(pmid_of.values())
        questions = [(pmid, str(item["QUESTION"])) for pmid, item in items.items()
                     if pmid in indexed][: args.questions]
        truth = [pmid for pmid, _ in questions]
        print(f"{len(pmid_of)} documents indexed; {len(questions)} questions evaluated")

        # 2. retrieval ----------------------------------------------------------------------
        print(f"\n== 2. Retrieval hit@1 / hit@{TOP_K} (own abstract among the first k distinct "
              f"docs of top_k={TOP_K} chunks) ==")
        pmids = [pmid for pmid, _ in questions]
        bm25 = BM25Okapi([tokens(paper_text(p, items[p])) for p in pmids])
        bm_ranked = []
        for _, question in questions:
            scores = bm25.get_scores(tokens(question))
            bm_ranked.append([pmids[i] for i in np.argsort(-scores, kind="stable")[:TOP_K]])
        results: dict[str, tuple[float, float, float, float]] = {}
        bm1, bm5 = hits(bm_ranked, truth)
        for mode in [m for m in MODES if m in args.modes.split(",")]:
            ranked, times, distinct = [], [], []
            for _, question in questions:
                started = time.perf_counter()
                chunks = await kb.store.retrieve(question, mode, top_k=TOP_K)
                times.append((time.perf_counter() - started) * 1000)
                docs = list(dict.fromkeys(pmid_of.get(c.doc_id, c.doc_id) for c in chunks))
                ranked.append(docs)
                distinct.append(len(docs))
            h1, h5 = hits(ranked, truth)
            results[mode] = (h1, h5, pct(times, 50), float(np.mean(distinct)))
        print(f"{'method':8} {'hit@1':>6} {'hit@5':>6} {'h1/BM25':>8} {'h1-BM25':>8} "
              f"{'h5-BM25':>8} {'docs/q':>6} {'p50 ms':>7}")
        print(f"{'bm25':8} {bm1:6.3f} {bm5:6.3f} {1.0:8.2f} {0.0:+8.3f} {0.0:+8.3f} "
              f"{TOP_K:6.1f} {'':>7}")
        for name, (h1, h5, p50, ndocs) in results.items():
            ratio = h1 / bm1 if bm1 else float("inf")
            print(f"{name:8} {h1:6.3f} {h5:6.3f} {ratio:8.2f} {h1 - bm1:+8.3f} {h5 - bm5:+8.3f} "
                  f"{ndocs:6.1f} {p50:7.1f}")

        # 3. latency ------------------------------------------------------------------------
        asked = [q for _, q in questions[: args.latency_questions]]
        print(f"\n== 3. Query latency: QueryService.answer(mode='hybrid', top_k={TOP_K}), "
              f"{len(asked)} questions ==")
        cold, warm, cold_reported = [], [], []
        not_cached = 0
        clear = getattr(kb.store.embedder, "clear_cache", None)
        if clear:
            clear()  # cold: the hit@k phase above embedded these questions already
        for question in asked:
            started = time.perf_counter()
            answer = await kb.query.answer(question, mode="hybrid", top_k=TOP_K)
            cold.append((time.perf_counter() - started) * 1000)
            cold_reported.append(answer.latency_ms)
        for question in asked:
            started = time.perf_counter()
            answer = await kb.query.answer(question, mode="hybrid", top_k=TOP_K)
            warm.append((time.perf_counter() - started) * 1000)
            not_cached += not answer.cached
        print(f"uncached: p50 {pct(cold, 50):.1f} ms, p95 {pct(cold, 95):.1f} ms, "
              f"max {max(cold, default=0):.1f} ms (answer.latency_ms p95 "
              f"{pct(cold_reported, 95):.1f} ms)")
        print(f"cached:   p50 {pct(warm, 50):.2f} ms, p95 {pct(warm, 95):.2f} ms; "
              f"{len(warm) - not_cached}/{len(warm)} answers marked cached")

        # 4. targets ------------------------------------------------------------------------
        print("\n== 4. Targets ==")
        meet5 = [m for m, r in results.items() if r[1] >= TARGET_HIT5]
        for name, (h1, h5, _, _) in results.items():
            print(f"hit@5 >= {TARGET_HIT5:.2f} [{name:6}]: {h5:.3f}  {verdict(h5 >= TARGET_HIT5)}")
        print(f"  modes meeting hit@5: {', '.join(meet5) or 'none'}")
        for name, (h1, _, _, _) in results.items():
            print(f"hit@1 > BM25 {bm1:.3f} [{name:6}]: {h1:.3f}  {verdict(h1 > bm1)}")
        print(f"p95 < {TARGET_P95_MS:.0f} ms: {pct(cold, 95):.1f} ms  "
              f"{verdict(pct(cold, 95) < TARGET_P95_MS)}")
        ok = pct(warm, 95) < TARGET_CACHED_P95_MS and not_cached == 0
        print(f"cached p95 < {TARGET_CACHED_P95_MS:.0f} ms (all cached): {pct(warm, 95):.2f} ms, "
              f"{not_cached} not cached  {verdict(ok)}")
        print(f"\nevents waiting in the outbox (no broker on 127.0.0.1:1): {kb.events.pending}")
    finally:
        await kb.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=500, help="abstracts to use (default 500)")
    parser.add_argument("--latency-questions", type=int, default=100)
    parser.add_argument("--questions", type=int, default=None,
                        help="evaluate retrieval on the first N questions only (default all)")
    parser.add_argument("--modes", default=",".join(MODES),
                        help="comma-separated modes to evaluate (default all)")
    parser.add_argument("--workdir", type=Path, help="keep the index here (default: temp dir)")
    parser.add_argument("--reuse", action="store_true", help="skip ingestion; needs --workdir")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--progress", action="store_true", help="show an ingestion progress bar")
    args = parser.parse_args()
    if args.reuse and args.workdir is None:
        parser.error("--reuse needs --workdir (an already ingested work dir)")
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("librdkafka").setLevel(logging.CRITICAL)  # "connection refused", by design
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        asyncio.run(run(args, args.workdir.resolve()))
        return
    with tempfile.TemporaryDirectory(prefix="cmo-bench-retrieval-") as tmp:
        asyncio.run(run(args, Path(tmp)))


if __name__ == "__main__":
    main()

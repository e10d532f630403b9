"""The knowledge base end to end, offline: PDFs in, cited extractive answers out, events on Kafka.

Real parts only: generated PDFs (two-column page, hyphenated words), pypdf, the local
embedding model, LightRAG's storages, the real Kafka broker. Each scenario runs in one
event loop (LightRAG's storages belong to the loop that opened them).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cmo.adapters.avro import SingleObjectSerializer
from cmo.adapters.factory import make_producer
from cmo.config import Settings
from cmo.events import CostRecorded, DocumentIngested, ResponseGenerated
from cmo.topics import topic_name
from rag_service.context import KnowledgeBase
from tests.conftest import PUBMEDQA
from tests.integration.helpers import consume_events
from tests.pdf_factory import (
    make_encrypted_pdf,
    make_hyphenated_pdf,
    make_image_only_pdf,
    make_pdf,
    make_truncated_pdf,
    make_two_column_pdf,
)

pytestmark = pytest.mark.integration

NMR = ("Nuclear magnetic resonance spectroscopy quantifies metabolites in urine without "
       "chromatographic separation. NMR measurements are highly reproducible across laboratories. "
       "The sensitivity of NMR is lower than that of mass spectrometry.")
PKU = ("Phenylketonuria is detected in newborn screening by elevated phenylalanine in dried blood "
       "spots. Tandem mass spectrometry measures phenylalanine and tyrosine in a single run. "
       "Early dietary treatment prevents intellectual disability in phenylketonuria.")
LEFT = ("Left column text. Branched-chain amino acids such as leucine and valine are associated "
        "with insulin resistance in prospective cohorts. These amino acids rose years before "
        "the diagnosis of type 2 diabetes.")
RIGHT = ("Right column text. Trimethylamine N-oxide is produced from dietary choline by gut "
         "bacteria and hepatic oxidation. Elevated plasma trimethylamine N-oxide predicts "
         "cardiovascular events in several cohorts.")


def _kb_settings(settings: Settings, tmp_path: Path) -> Settings:
    papers = tmp_path / "papers"
    papers.mkdir()
    return settings.model_copy(update={"lightrag_working_dir": tmp_path / "lightrag",
                                       "lightrag_papers_dir": papers})


PAGE_TWO = ("Page two of the NMR paper talks about sample preparation with buffered deuterium "
            "oxide and internal standards.")
HYPHEN = ("Acylcarnitine profiles reveal fatty acid oxidation disorders such as medium-chain "
          "acyl-CoA dehydrogenase deficiency in newborns. Pharmacometabolomics uses pre-dose "
          "metabolic profiles to predict drug response.")
ALL_SOURCES = " ".join([NMR, PAGE_TWO, PKU, LEFT, RIGHT, HYPHEN])


def _papers(folder: Path) -> None:
    make_pdf(folder / "nmr.pdf", [NMR, PAGE_TWO],
             title="NMR in clinical metabolomics")
    make_pdf(folder / "pku.pdf", [PKU], title="Newborn screening for phenylketonuria")
    make_two_column_pdf(folder / "columns.pdf", LEFT, RIGHT, heading="Metabolic risk markers")
    make_hyphenated_pdf(folder / "hyphen.pdf", [
        "Acylcarnitine profiles reveal fatty acid oxidation disor-",
        "ders such as medium-chain acyl-CoA dehydrogenase deficiency in",
        "newborns. Pharmaco-",
        "metabolomics uses pre-dose metabolic profiles to predict drug response."],
        title="Acylcarnitines")


def _sentences_in_sources(answer, sources: str = ALL_SOURCES) -> list[str]:  # type: ignore[no-untyped-def]
    """Answer sentences that are not verbatim in the sources and in their cited quote (must be none)."""
    flat = re.sub(r"\s+", " ", sources)
    bad = []
    for piece, number in re.findall(r"\s*(.+?)\s*\[(\d+)\]", answer.text):
        quote = answer.citations[int(number) - 1].quote
        if piece not in flat or piece not in quote:
            bad.append(piece)
    return bad


def test_ingest_ask_update_delete_with_events(settings: Settings, tmp_path: Path,
                                              serializer: SingleObjectSerializer) -> None:
    s = _kb_settings(settings, tmp_path)
    papers = s.lightrag_papers_dir
    _papers(papers)

    async def scenario() -> dict[str, object]:
        out: dict[str, object] = {}
        kb = await KnowledgeBase.open(s, service="test")
        try:
            first = await kb.ingest.ingest(papers)
            out["first"] = first
            out["again"] = await kb.ingest.ingest(papers)
            out["nmr"] = await kb.query.answer("How reproducible is NMR for urine metabolites?",
                                               mode="hybrid")
            out["nmr_cached"] = await kb.query.answer("how reproducible is NMR for urine metabolites",
                                                      mode="hybrid")
            out["right"] = await kb.query.answer("What predicts cardiovascular events in plasma?",
                                                 mode="naive")
            out["hyphen"] = await kb.query.answer("What does pharmacometabolomics use?", mode="mix")
            # every sentence of the cited passages was embedded at ingestion, not at query time
            quoted = [c.quote for a in (out["nmr"], out["right"]) for c in a.citations]
            vectors = kb.store.embedder.store
            assert vectors is not None and quoted
            sentences = {x for q in quoted for x in q.split(" … ")}  # quotes join sentences
            assert set(vectors.get_many(sentences)) == sentences
            # change one paper: the old statement must disappear
            make_pdf(papers / "pku.pdf", ["Maple syrup urine disease raises leucine, isoleucine and "
                                          "valine in plasma. It is treated with a restricted diet."],
                     title="Maple syrup urine disease")
            out["changed"] = await kb.ingest.ingest(papers)
            out["pku_after_change"] = await kb.query.answer(
                "How is phenylketonuria detected in newborn screening?", mode="naive", top_k=8)
            (papers / "nmr.pdf").unlink()
            out["deleted"] = await kb.ingest.ingest(papers)
            out["nmr_after_delete"] = await kb.query.answer(
                "How reproducible is NMR for urine metabolites?", mode="naive", top_k=8)
            out["docs"] = kb.manifest.all()
        finally:
            await kb.close()
        return out

    out = asyncio.run(scenario())
    first, again = out["first"], out["again"]
    assert len(first.indexed) == 4 and not first.failed  # type: ignore[attr-defined]
    assert len(again.unchanged) == 4 and not again.indexed  # type: ignore[attr-defined]

    nmr = out["nmr"]
    assert nmr.extractive and nmr.label and nmr.citations  # type: ignore[attr-defined]
    top = nmr.citations[0]  # type: ignore[attr-defined]
    assert top.title == "NMR in clinical metabolomics" and top.page == 1
    assert "reproducible" in nmr.text  # type: ignore[attr-defined]
    assert _sentences_in_sources(nmr) == []  # type: ignore[attr-defined]
    assert out["nmr_cached"].cached and out["nmr_cached"].text == nmr.text  # type: ignore[attr-defined]

    right = out["right"]
    assert any("trimethylamine N-oxide predicts" in c.quote for c in right.citations)  # type: ignore[attr-defined]
    assert _sentences_in_sources(right) == []  # type: ignore[attr-defined]

    hyphen = out["hyphen"]
    assert "Pharmacometabolomics uses pre-dose metabolic profiles" in hyphen.text  # type: ignore[attr-defined]

    changed = out["changed"]
    assert changed.indexed == [str((papers / "pku.pdf").resolve())]  # type: ignore[attr-defined]
    assert all("Phenylketonuria is detected" not in c.quote
               for c in out["pku_after_change"].citations)  # type: ignore[attr-defined]
    assert "Phenylketonuria is detected" not in out["pku_after_change"].text  # type: ignore[attr-defined]
    assert out["deleted"].deleted == [str((papers / "nmr.pdf").resolve())]  # type: ignore[attr-defined]
    assert all(c.title != "NMR in clinical metabolomics"
               for c in out["nmr_after_delete"].citations)  # type: ignore[attr-defined]
    assert {d.status for d in out["docs"]} == {"indexed"} and len(out["docs"]) == 3  # type: ignore[attr-defined]

    prefix = s.kafka_topic_prefix
    topics = [topic_name(prefix, c) for c in (DocumentIngested, ResponseGenerated, CostRecorded)]
    with make_producer(s, "reader", serializer) as dlq:
        got = consume_events(s.kafka_bootstrap_servers, topics, serializer, dlq, prefix,
                             lambda g: len(g) >= 16 + 6 + 6, timeout=60)
    ingested = [c.event for c in got if isinstance(c.event, DocumentIngested)]
    statuses = sorted(e.status for e in ingested)
    assert statuses.count("indexed") == 5 and statuses.count("unchanged") == 10
    assert statuses.count("deleted") == 1
    responses = [c.event for c in got if isinstance(c.event, ResponseGenerated)]
    costs = [c.event for c in got if isinstance(c.event, CostRecorded)]
    assert len(responses) == len(costs) == 6
    assert {r.correlation_id for r in responses} == {c.correlation_id for c in costs}
    assert sum(r.cached for r in responses) == 1
    assert all(c.model == "local" and c.usd == 0.0 for c in costs)
    nmr_event = next(r for r in responses if r.correlation_id == nmr.query_id)  # type: ignore[attr-defined]
    assert nmr_event.citations == nmr.citations and nmr_event.extractive  # type: ignore[attr-defined]


def test_bad_files_fail_with_reasons_and_the_batch_goes_on(settings: Settings, tmp_path: Path) -> None:
    s = _kb_settings(settings, tmp_path)
    papers = s.lightrag_papers_dir
    make_pdf(papers / "good.pdf", [NMR], title="Good paper")
    make_encrypted_pdf(papers / "locked.pdf", PKU)
    make_truncated_pdf(make_pdf(papers / "broken.pdf", [PKU] * 3))
    (papers / "empty.pdf").write_bytes(b"")
    make_image_only_pdf(papers / "scan.pdf")
    (papers / "notes.docx").write_bytes(b"PK\x03\x04 not a supported type")
    (papers / "readme.md").write_text("# Lab notes\n\nUrine samples are stored at -80 degrees Celsius.\n")

    async def scenario():  # type: ignore[no-untyped-def]
        kb = await KnowledgeBase.open(s, service="test")
        try:
            return await kb.ingest.ingest(papers), kb.manifest.all()
        finally:
            await kb.close()

    report, records = asyncio.run(scenario())
    reasons = {Path(p).name: r for p, r in report.failed.items()}
    assert sorted(Path(p).name for p in report.indexed) == ["good.pdf", "readme.md"]
    assert "encrypted" in reasons["locked.pdf"]
    assert "corrupt or truncated" in reasons["broken.pdf"]
    assert "empty" in reasons["empty.pdf"]
    assert "no extractable text" in reasons["scan.pdf"]
    assert "unsupported file type" in reasons["notes.docx"]
    assert {r.status for r in records if Path(r.path).name in reasons} == {"failed"}


def test_interrupted_ingest_resumes_without_losing_work(settings: Settings, tmp_path: Path) -> None:
    s = _kb_settings(settings, tmp_path)
    papers = s.lightrag_papers_dir
    for i, text in enumerate([NMR, PKU, LEFT, RIGHT]):
        make_pdf(papers / f"p{i}.pdf", [text], title=f"Paper {i}")

    async def interrupted() -> int:
        kb = await KnowledgeBase.open(s, service="test")
        calls = 0
        original = kb.store.insert_chunks

        async def failing(*args, **kwargs):  # type: ignore[no-untyped-def]
            nonlocal calls
            calls += 1
            if calls == 3:
                raise KeyboardInterrupt  # the user pressed Ctrl-C during the third paper
            return await original(*args, **kwargs)

        kb.store.insert_chunks = failing  # type: ignore[method-assign]
        try:
            await kb.ingest.ingest(papers)
        except KeyboardInterrupt:
            pass
        finally:
            await kb.close()
        return calls

    async def resumed():  # type: ignore[no-untyped-def]
        kb = await KnowledgeBase.open(s, service="test")
        try:
            report = await kb.ingest.ingest(papers)
            answer = await kb.query.answer("What predicts cardiovascular events?", mode="naive")
            return report, answer
        finally:
            await kb.close()

    assert asyncio.run(interrupted()) == 3
    report, answer = asyncio.run(resumed())
    assert len(report.unchanged) == 2 and len(report.indexed) == 2
    assert answer.citations and answer.citations[0].title == "Paper 3"


CRASH_SCRIPT = """
import asyncio, os, sys
from pathlib import Path
from cmo.config import Settings
from rag_service.context import KnowledgeBase

async def main():
    kb = await KnowledgeBase.open(Settings(_env_file=None), service="test")
    kb.ingest.commit_every_docs = 2  # papers 0 and 1 are committed as one batch
    original, calls = kb.store.insert_chunks, 0

    async def dying(*args, **kwargs):
        nonlocal calls
        calls += 1
        stored = await original(*args, **kwargs)
        if calls == 3:
            kb.events.flush(10)
            os._exit(3)  # power cut: paper 2 is stored in memory, never committed
        return stored

    kb.store.insert_chunks = dying
    await kb.ingest.ingest(Path(sys.argv[1]))

asyncio.run(main())
"""


def test_crash_before_a_batch_commit_loses_only_that_batch(settings: Settings,
                                                           tmp_path: Path) -> None:
    s = _kb_settings(settings, tmp_path)
    papers = s.lightrag_papers_dir
    for i, text in enumerate([NMR, PKU, LEFT, RIGHT]):
        make_pdf(papers / f"p{i}.pdf", [text], title=f"Paper {i}")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "CMO_",
                                                                        "LIGHTRAG_", "OPENAI_"))},
           "KAFKA_BOOTSTRAP_SERVERS": s.kafka_bootstrap_servers,
           "KAFKA_TOPIC_PREFIX": s.kafka_topic_prefix, "CMO_HOME": str(s.cmo_home),
           "LIGHTRAG_WORKING_DIR": str(s.lightrag_working_dir)}
    crashed = subprocess.run([sys.executable, "-c", CRASH_SCRIPT, str(papers)], env=env,
                             cwd=Path(__file__).parents[2], capture_output=True, timeout=300)
    assert crashed.returncode == 3, crashed.stderr.decode(errors="replace")[-2000:]

    async def resumed():  # type: ignore[no-untyped-def]
        kb = await KnowledgeBase.open(s, service="test")
        try:
            recorded = sorted(Path(r.path).name for r in kb.manifest.all()
                              if r.status == "indexed")
            report = await kb.ingest.ingest(papers)
            answer = await kb.query.answer("What predicts cardiovascular events?", mode="naive")
            return recorded, report, answer, kb.store.documents()
        finally:
            await kb.close()

    recorded, report, answer, documents = asyncio.run(resumed())
    assert recorded == ["p0.pdf", "p1.pdf"], "only the committed batch is recorded"
    assert sorted(Path(p).name for p in report.unchanged) == ["p0.pdf", "p1.pdf"]
    assert sorted(Path(p).name for p in report.indexed) == ["p2.pdf", "p3.pdf"]
    assert len(documents) == 4
    assert answer.citations and answer.citations[0].title == "Paper 3"


@pytest.mark.skipif(not PUBMEDQA.exists(), reason="PubMedQA dev data not present")
def test_pubmedqa_questions_find_their_own_abstract(settings: Settings, tmp_path: Path) -> None:
    s = _kb_settings(settings, tmp_path)
    data = json.loads(PUBMEDQA.read_text())
    items = list(data.items())[:40]
    for pmid, item in items:
        (s.lightrag_papers_dir / f"{pmid}.txt").write_text(
            f"PubMed {pmid}\n\n" + "\n\n".join(item["CONTEXTS"]))

    async def scenario():  # type: ignore[no-untyped-def]
        kb = await KnowledgeBase.open(s, service="test")
        try:
            await kb.ingest.ingest(s.lightrag_papers_dir)
            by_doc = {r.doc_id: Path(r.path).stem for r in kb.manifest.all()}
            hits = 0
            for pmid, item in items:
                answer = await kb.query.answer(item["QUESTION"], mode="hybrid")
                hits += pmid in {by_doc.get(c.document_id) for c in answer.citations}
            # Graph-only retrieval reaches the abstract through its entities (key terms
            # included) and relations, never through the chunk vectors.
            graph_hits = {mode: 0 for mode in ("local", "global")}
            for mode in graph_hits:
                for pmid, item in items:
                    chunks = await kb.store.retrieve(item["QUESTION"], mode, top_k=5)
                    graph_hits[mode] += pmid in {by_doc.get(c.doc_id) for c in chunks}
            return hits, graph_hits
        finally:
            await kb.close()

    hits, graph_hits = asyncio.run(scenario())
    assert hits >= 34  # >= 85% of questions cite their own abstract
    assert graph_hits["local"] >= 38 and graph_hits["global"] >= 38, graph_hits

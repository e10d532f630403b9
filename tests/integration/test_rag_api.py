"""The knowledge-base HTTP service with its real lifespan (store, manifest, Kafka producer)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cmo.config import Settings
from rag_service.api import create_app
from tests.pdf_factory import make_image_only_pdf, make_pdf

pytestmark = pytest.mark.integration

TEXT = ("Gas chromatography-mass spectrometry requires derivatization of polar metabolites. "
        "Trimethylsilylation makes organic acids volatile enough for GC-MS analysis.")


@pytest.fixture
def client(settings: Settings, tmp_path: Path) -> Iterator[TestClient]:
    papers = tmp_path / "papers"
    papers.mkdir()
    s = settings.model_copy(update={"lightrag_working_dir": tmp_path / "lightrag",
                                    "lightrag_papers_dir": papers, "rag_max_upload_mb": 1})
    with TestClient(create_app(s)) as c:
        yield c


def test_upload_query_stream_and_delete(client: TestClient, tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "gcms.pdf", [TEXT], title="GC-MS derivatization")
    up = client.post("/v1/documents", files={"file": ("gcms.pdf", pdf.read_bytes(), "application/pdf")})
    assert up.status_code == 201, up.text
    doc_id = up.json()["doc_id"]
    assert up.json()["status"] == "indexed" and up.json()["pages"] == 1
    assert [d["doc_id"] for d in client.get("/v1/documents").json()] == [doc_id]
    assert client.get(f"/v1/documents/{doc_id}").json()["title"] == "GC-MS derivatization"

    answer = client.post("/v1/query", json={"question": "Why is derivatization needed for GC-MS?",
                                             "mode": "naive"}).json()
    assert answer["extractive"] and answer["citations"][0]["document_id"] == doc_id
    assert answer["citations"][0]["page"] == 1 and "derivatization" in answer["text"]

    with client.stream("POST", "/v1/query", json={"question": "What makes organic acids volatile?",
                                                   "mode": "mix", "stream": True}) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        lines = list(resp.iter_lines())
    events = [line for line in lines if line.startswith("event:")]
    assert events[-1] == "event: answer" and "event: delta" in events
    final = json.loads([line for line in lines if line.startswith("data:")][-1][5:])
    assert final["citations"] and final["extractive"]

    assert client.delete(f"/v1/documents/{doc_id}").status_code == 200
    assert client.get(f"/v1/documents/{doc_id}").status_code == 404
    after = client.post("/v1/query", json={"question": "Why is derivatization needed for GC-MS?"}).json()
    assert after["citations"] == [] and after["text"] == ""


@pytest.mark.parametrize("payload, status, message", [
    ({"question": ""}, 422, "empty"),
    ({"question": "   "}, 422, "empty"),
    ({"question": "x" * 5000}, 413, "too long"),
    ({"question": "NMR?", "mode": "psychic"}, 422, "unknown mode"),
    ({"question": "NMR?", "top_k": 0}, 422, "top_k"),
    ({"mode": "naive"}, 422, "question"),
])
def test_bad_queries_get_clear_4xx(client: TestClient, payload: dict[str, object], status: int,
                                   message: str) -> None:
    resp = client.post("/v1/query", json=payload)
    assert resp.status_code == status
    assert message in json.dumps(resp.json())


def test_bad_uploads_and_unknown_documents(client: TestClient, tmp_path: Path) -> None:
    assert client.post("/v1/documents", files={"file": ("x.docx", b"PK..", "application/msword")}).status_code == 415
    assert client.post("/v1/documents", files={"file": ("e.pdf", b"", "application/pdf")}).status_code == 422
    big = client.post("/v1/documents", files={"file": ("big.txt", b"a " * 600_000, "text/plain")})
    assert big.status_code == 413
    scan = make_image_only_pdf(tmp_path / "scan.pdf")
    bad = client.post("/v1/documents", files={"file": ("scan.pdf", scan.read_bytes(), "application/pdf")})
    assert bad.status_code == 422 and "no extractable text" in bad.json()["detail"]
    garbage = client.post("/v1/documents", files={"file": ("g.pdf", b"%PDF-1.4 garbage", "application/pdf")})
    assert garbage.status_code == 422 and "corrupt" in garbage.json()["detail"]
    assert client.delete("/v1/documents/doc-0000").status_code == 404


def test_health_and_openapi(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    health = client.get("/health/lightrag")
    assert health.status_code == 200
    body = health.json()
    assert body["storage_writable"] and body["index_loaded"] and body["model_reachable"]
    assert body["mode"] == "offline"
    spec = client.get("/openapi.json").json()
    assert {"/v1/query", "/v1/documents", "/v1/documents/{doc_id}", "/health/lightrag"} <= set(spec["paths"])


def test_ask_routes_and_rollback_clears_the_cache(settings: Settings, tmp_path: Path) -> None:
    import time

    from pydantic import SecretStr

    from cmo.adapters.control_writer import build_commands, write_commands
    from cmo.adapters.factory import make_producer

    papers = tmp_path / "papers"
    papers.mkdir()
    (papers / "gcms.txt").write_text("GC-MS derivatization\n\n" + TEXT)
    s = settings.model_copy(update={"lightrag_working_dir": tmp_path / "lightrag", "lightrag_papers_dir": papers,
                                    "cmo_control_key": SecretStr("api-test-key")})
    with TestClient(create_app(s)) as c:
        c.post("/v1/documents", files={"file": ("gcms.txt", (papers / "gcms.txt").read_bytes(), "text/plain")})
        routed = c.post("/v1/ask", json={"question": "Why is derivatization needed for GC-MS?",
                                          "user_id": "u-hmac-1", "session_id": "s1"})
        assert routed.status_code == 200, routed.text
        body = routed.json()
        assert body["backend"] == "lightrag" and body["route"]["reason"] == "perplexity-unavailable"
        assert body["quality"]["composite"] > 0.6 and body["citations"]
        question = {"question": "What makes organic acids volatile?", "mode": "naive"}
        c.post("/v1/query", json=question)
        assert c.post("/v1/query", json=question).json()["cached"]
        with make_producer(s, "ops") as producer:
            write_commands(producer, build_commands("rollback", None, "ops", "incident", b"api-test-key"))
        deadline = time.monotonic() + 10
        while c.get("/v1/flags").json()["version"] < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert c.get("/v1/flags").json()["version"] == 3
        assert not c.post("/v1/query", json=question).json()["cached"]
        assert c.post("/v1/ask", json={"question": "", "user_id": "u"}).status_code == 422

"""HTTP service of the knowledge base (FastAPI).

POST /v1/query (JSON, or Server-Sent Events with ``"stream": true``), GET/POST/DELETE
/v1/documents (PDF, text or Markdown upload), GET /health, GET /health/lightrag, and the
OpenAPI description at /openapi.json. Bad input gets a 4xx with a clear message: an
empty or oversized question (422/413), an unknown mode (422), a bad upload (415/413/422),
an unknown document (404).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request, UploadFile
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from cmo.adapters.control_state import ControlState
from cmo.adapters.perplexity import PerplexityBackend, perplexity_config
from cmo.config import Settings
from cmo.control_config import control_key, initial_state
from cmo.exceptions import CMOError
from rag_service.context import KnowledgeBase
from rag_service.documents import SUPPORTED_SUFFIXES
from rag_service.query import MAX_QUESTION_CHARS, Answer, QueryError
from rag_service.router import RoutedAnswer, Router, RouterConfig

logger = logging.getLogger(__name__)


class AskRequest(BaseModel):
    question: str = Field(..., description="The research question.")
    user_id: str = Field(..., min_length=1, max_length=200, description="Pseudonymous user id (HMAC of the login).")
    session_id: str = Field("", max_length=200)
    mode: str = Field("hybrid", description="Retrieval mode when LightRAG answers.")
    query_id: str | None = Field(None, max_length=100)
    channel: str = Field("api", max_length=20)
    language: str | None = Field(None, max_length=10)
    stream: bool = Field(False, description="Server-Sent Events: routing, delta events, then the answer.")


def router_config(settings: Settings) -> RouterConfig:
    return RouterConfig(lightrag_timeout_s=settings.router_lightrag_timeout_s,
                        perplexity_timeout_s=settings.perplexity_timeout_s,
                        breaker_threshold=settings.router_breaker_threshold,
                        breaker_cooldown_ms=settings.router_breaker_cooldown_ms,
                        quality_budget_s=settings.cmo_quality_inline_budget_ms / 1000,
                        service="router")


class QueryRequest(BaseModel):
    question: str = Field(..., description="The research question.")
    mode: str = Field("hybrid", description="naive, local, global, hybrid or mix.")
    top_k: int = Field(5, ge=1, le=50, description="Passages to retrieve.")
    response_type: str = Field("Multiple Paragraphs", max_length=100)
    stream: bool = Field(False, description="Server-Sent Events: delta events, then the answer.")
    query_id: str | None = Field(None, max_length=100, description="Correlation id (default: new UUID).")


def answer_json(answer: Answer) -> dict[str, Any]:
    return asdict(answer)


def routed_json(routed: RoutedAnswer) -> dict[str, Any]:
    result = asdict(routed)
    result["quality"] = asdict(routed.quality) if routed.quality else None
    return result


def sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(jsonable_encoder(data))}\n\n"


async def ask_events(router: Router, body: AskRequest, query_id: str) -> AsyncIterator[str]:
    """SSE for /v1/ask: a ``routing`` event per decision, ``delta`` events, then ``answer`` or ``error``."""
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    async def run() -> None:
        try:
            routed = await router.ask(
                body.question, body.user_id, body.session_id, body.mode, query_id, channel=body.channel,
                language=body.language,
                on_route=lambda r: queue.put_nowait(sse("routing", {"query_id": query_id, **asdict(r)})),
                on_delta=lambda text: queue.put_nowait(sse("delta", {"text": text})))
            failed = routed.error and not routed.text
            queue.put_nowait(sse("error", {"detail": routed.error, "query_id": query_id}) if failed
                             else sse("answer", routed_json(routed)))
        except CMOError as exc:
            queue.put_nowait(sse("error", {"detail": str(exc), "query_id": query_id}))
        except Exception:  # the stream must end with an answer or an error, never just stop
            logger.exception("query %s: streamed answer failed", query_id)
            queue.put_nowait(sse("error", {"detail": "internal error in rag_service", "query_id": query_id}))
        finally:
            queue.put_nowait(None)

    task = asyncio.create_task(run())
    try:
        while (item := await queue.get()) is not None:
            yield item
    finally:
        if not task.done():
            task.cancel()


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        kb = app.state.kb = await KnowledgeBase.open(settings, service="rag_service")
        control = ControlState(settings.kafka_bootstrap_servers, kb.events.serializer,
                               settings.kafka_topic_prefix, control_key(settings),
                               initial_state(settings), alerts=kb.events, service="rag_service")
        web = PerplexityBackend(perplexity_config(settings))
        try:
            await asyncio.to_thread(control.start)
            control.on_change(lambda state, cmd: kb.query.cache.clear() if cmd.command == "rollback" else None)
            app.state.router = Router(lambda: control.state, kb.query, web, kb.events, kb.scorer,
                                      router_config(settings), similarity=kb.similarity)
            app.state.control = control
            yield
        finally:
            if hasattr(app.state, "router"):
                await app.state.router.drain_shadows(5)
            control.close()
            await web.close()
            await kb.close()

    app = FastAPI(title="Clinical Metabolomics Oracle — knowledge base",
                  description="Cited answers from the lab's papers (LightRAG).", version="1",
                  lifespan=lifespan)

    def kb(request: Request) -> KnowledgeBase:
        return request.app.state.kb  # type: ignore[no-any-return]

    @app.exception_handler(QueryError)
    async def _query_error(request: Request, exc: QueryError) -> JSONResponse:
        status = 413 if "too long" in str(exc) else 422
        return JSONResponse({"detail": str(exc)}, status_code=status)

    @app.exception_handler(CMOError)
    async def _cmo_error(request: Request, exc: CMOError) -> JSONResponse:
        logger.warning("request failed: %s", exc)
        return JSONResponse({"detail": str(exc), "retriable": exc.retriable},
                            status_code=503 if exc.retriable else 500)

    @app.post("/v1/query", summary="Answer a question with citations")
    async def query(body: QueryRequest, request: Request) -> Any:
        if len(body.question) > MAX_QUESTION_CHARS:
            raise QueryError(f"the question is too long ({len(body.question)} characters; "
                             f"at most {MAX_QUESTION_CHARS})")
        service = kb(request).query
        if not body.stream:
            return answer_json(await service.answer(body.question, body.mode, body.top_k,
                                                    body.response_type, body.query_id))
        from rag_service.query import validate
        validate(body.question, body.mode, body.top_k)  # 4xx before the stream starts

        async def events() -> AsyncIterator[str]:
            try:
                async for item in service.stream(body.question, body.mode, body.top_k,
                                                 body.response_type, body.query_id):
                    if isinstance(item, Answer):
                        yield f"event: answer\ndata: {json.dumps(answer_json(item))}\n\n"
                    else:
                        yield f"event: delta\ndata: {json.dumps({'text': item})}\n\n"
            except CMOError as exc:
                yield f"event: error\ndata: {json.dumps({'detail': str(exc)})}\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.post("/v1/ask", summary="Answer through the router (flags pick LightRAG or Perplexity)")
    async def ask(body: AskRequest, request: Request) -> Any:
        from rag_service.query import validate
        validate(body.question, body.mode, 5)
        router: Router = request.app.state.router
        if body.stream:
            return StreamingResponse(ask_events(router, body, body.query_id or str(uuid.uuid4())),
                                     media_type="text/event-stream")
        routed = await router.ask(body.question, body.user_id, body.session_id, body.mode,
                                  body.query_id, channel=body.channel, language=body.language)
        if routed.error and not routed.text:
            raise HTTPException(503, routed.error)
        return routed_json(routed)

    @app.get("/v1/flags", summary="The routing flags this service applies")
    async def flags(request: Request) -> dict[str, Any]:
        return {"version": request.app.state.control.state.version,
                "state": json.loads(json.dumps(asdict(request.app.state.control.state), default=sorted))}

    @app.get("/v1/documents", summary="List documents")
    async def list_documents(request: Request) -> list[dict[str, Any]]:
        return [asdict(r) for r in kb(request).manifest.all()]

    @app.get("/v1/documents/{doc_id}", summary="One document")
    async def get_document(doc_id: str, request: Request) -> dict[str, Any]:
        record = kb(request).manifest.get(doc_id)
        if record is None:
            raise HTTPException(404, f"no document {doc_id!r}")
        return asdict(record)

    @app.delete("/v1/documents/{doc_id}", summary="Remove a document from graph and vectors")
    async def delete_document(doc_id: str, request: Request) -> dict[str, Any]:
        record = await kb(request).ingest.delete(doc_id)
        if record is None:
            raise HTTPException(404, f"no document {doc_id!r}")
        return {"deleted": record.doc_id, "path": record.path}

    @app.post("/v1/documents", status_code=201, summary="Upload and index a paper")
    async def upload(file: UploadFile, request: Request) -> dict[str, Any]:
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(file.filename or "").name).strip("._")
        suffix = Path(name).suffix.lower()
        if not name or suffix not in SUPPORTED_SUFFIXES:
            raise HTTPException(415, f"unsupported file type {suffix or '(none)'!r}; "
                                f"upload one of {', '.join(SUPPORTED_SUFFIXES)}")
        limit = settings.rag_max_upload_mb * 1024 * 1024
        data = await file.read(limit + 1)
        if len(data) > limit:
            raise HTTPException(413, f"file is larger than {settings.rag_max_upload_mb} MB")
        if not data:
            raise HTTPException(422, "file is empty")
        target_dir = settings.lightrag_papers_dir / "uploads"
        target_dir.mkdir(parents=True, exist_ok=True)
        target = target_dir / name
        with tempfile.NamedTemporaryFile(dir=target_dir, delete=False) as tmp:
            tmp.write(data)
        os.replace(tmp.name, target)
        report = await kb(request).ingest.ingest(target)
        if report.failed:
            target.unlink(missing_ok=True)
            raise HTTPException(422, f"{name}: {next(iter(report.failed.values()))}")
        record = kb(request).manifest.get(str(target.resolve()))
        return {"status": "indexed" if report.indexed else "unchanged",
                **(asdict(record) if record else {})}

    @app.get("/health", summary="Liveness")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/health/lightrag", summary="Storage writable, index loaded, model reachable")
    async def health_lightrag(request: Request) -> JSONResponse:
        base = kb(request)
        workdir = settings.lightrag_working_dir
        checks: dict[str, Any] = {
            "storage_writable": os.access(workdir, os.W_OK),
            "index_loaded": base.store._rag is not None,
            "documents": len(base.store.documents()),
            "index_version": base.manifest.index_version,
            "mode": "offline" if base.offline else "llm",
        }
        try:
            if base.models is not None:
                await base.models.ping()
            else:
                await base.store.embedder.embed(["ping"])
            checks["model_reachable"] = True
        except CMOError as exc:
            checks["model_reachable"] = False
            checks["model_error"] = str(exc)
        ok = checks["storage_writable"] and checks["index_loaded"] and checks["model_reachable"]
        return JSONResponse({"status": "ok" if ok else "degraded", **checks},
                            status_code=200 if ok else 503)

    return app

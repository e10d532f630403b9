"""One realistic sample of every event type, as the demo and the tests stream them.

A sample query's life: asked, routed, answered with page citations, scored, costed,
rated; plus an ingested paper, an ops command, a controller decision, window metrics,
a shadow comparison and an alert.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from cmo.events import (
    Alert,
    Citation,
    ControlCommand,
    ControllerDecision,
    CostRecorded,
    DocumentIngested,
    Event,
    QualityScored,
    QueryReceived,
    ResponseGenerated,
    RoutingDecision,
    ShadowComparison,
    UserFeedback,
    WindowMetrics,
)


def sample_events(now_ms: int, new_id: Callable[[], str] = lambda: str(uuid.uuid4())) -> list[Event]:
    """Twelve events, one per type, sharing one query id where they describe one query."""
    query_id, doc_id = new_id(), new_id()
    response_id = new_id()

    def env(correlation_id: str, service: str, event_id: str | None = None) -> dict[str, Any]:
        return {"event_id": event_id or new_id(), "event_time": now_ms,
                "correlation_id": correlation_id, "service": service}

    citation = Citation(document_id=doc_id, title="Untargeted LC-MS metabolomics in clinical research",
                        page=3, chunk_id=f"chunk-{doc_id[:8]}-0007", score=0.82,
                        quote="Untargeted metabolomics measures as many metabolites as possible "
                              "without a prior hypothesis.")
    return [
        QueryReceived(**env(query_id, "ui"), session_id="session-demo", user_id="u-3f9a2c",
                      query_text="What distinguishes targeted from untargeted metabolomics?",
                      mode="hybrid", language="en", channel="cli"),
        RoutingDecision(**env(query_id, "router"), backend="lightrag", reason="rollout",
                        user_id="u-3f9a2c", session_id="session-demo", cohort="rollout<=25",
                        bucket=17, flag_version=4),
        ResponseGenerated(**env(query_id, "rag_service", response_id), backend="lightrag",
                          mode="hybrid", answer="[Extracted from sources] Untargeted metabolomics "
                          "measures as many metabolites as possible without a prior hypothesis. [1]",
                          citations=(citation,), latency_ms=142.5, extractive=True,
                          index_version="idx-1"),
        QualityScored(**env(query_id, "processors"), response_event_id=response_id,
                      backend="lightrag", relevance=0.91, accuracy=0.95, factual=1.0,
                      composite=0.949, meets_threshold=True, scorer="offline"),
        CostRecorded(**env(query_id, "rag_service"), backend="lightrag", model="local",
                     operation="query", embedding_tokens=12, usd=0.0),
        UserFeedback(**env(query_id, "ui"), user_id="u-3f9a2c", session_id="session-demo",
                     rating=1, comment="Exactly the page I needed", response_event_id=response_id),
        DocumentIngested(**env(doc_id, "rag_service"), path="examples/papers/untargeted.pdf",
                         status="indexed", content_hash="9f" * 32, title=citation.title,
                         doi="10.1000/cmo.demo", pages=4, chunks=11, duration_ms=812.0),
        ControlCommand(**env(new_id(), "cli"), command="rollout", target="lightrag.rollout_percentage",
                       value="25", actor="ops-demo", reason="demo stage"),
        ControllerDecision(**env("lightrag", "processors"), controller="rollout",
                           subject="lightrag", from_phase="progressing", to_phase="progressing",
                           action="promote", reason="all checks passed at 10%",
                           metrics={"error_rate": 0.01, "latency_p95_ms": 820.0, "quality": 0.86}),
        WindowMetrics(**env("lightrag", "processors"), backend="lightrag", window_kind="tumbling",
                      window_start=now_ms - 10_000, window_end=now_ms, requests=40, errors=1,
                      timeouts=0, error_rate=0.025, timeout_rate=0.0, latency_p50_ms=130.0,
                      latency_p95_ms=410.0, latency_p99_ms=650.0, quality_mean=0.87,
                      quality_count=38, cost_usd=0.0),
        ShadowComparison(**env(query_id, "processors"), serving_backend="perplexity",
                         shadow_backend="lightrag", similarity=0.78, citation_overlap=0.0,
                         serving_latency_ms=2100.0, shadow_latency_ms=142.5,
                         serving_cost_usd=0.005, serving_quality=0.84, shadow_quality=0.95),
        Alert(**env("budget", "processors"), severity="warning", kind="budget",
              message="Daily budget 80% used", details={"spent_usd": "8.00", "budget_usd": "10.00"}),
    ]

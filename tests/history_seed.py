"""Deterministic seeded events of every type for the history store (tests and the page).

``seed_history(store, start_ms=SEED_START_MS)`` builds the events with :func:`seed_events`,
Avro-encodes them and writes them through :class:`cmo.history.batch_writer.RawBatchWriter`
(the sink's own write path), then returns a :class:`Seeded` with every event so tests compute expectations
from the data itself. Everything lies in ``[start_ms, start_ms + SEED_SPAN_MS)``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TypeVar

from cmo.adapters.avro import SchemaStore, SingleObjectSerializer
from cmo.adapters.consumer import Consumed
from cmo.adapters.factory import schema_dir
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
from cmo.history.batch_writer import RawBatchWriter, RawRecord
from cmo.history.client import HistoryStore
from cmo.topics import topic_name

E = TypeVar("E", bound=Event)

SEED_START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
SEED_SPAN_MS = 48 * 3_600_000      # two days
HOUR = 3_600_000
QUESTIONS = (
    "Which metabolites rise in MSUD?",
    "What is the role of acylcarnitines in fatty acid oxidation disorders?",
    "How does LC-MS quantify bile acids in plasma?",
    "Which biomarkers distinguish type 2 diabetes?",
    "What causes elevated lactate in mitochondrial disease?",
)
N_QUERIES = 60
ROUTING_REASONS = ("rollout", "default", "breaker-open", "canary")


@dataclass(frozen=True)
class Seeded:
    """What was seeded: every event, and the time range they span."""

    events: tuple[Event, ...]
    start_ms: int
    end_ms: int  # exclusive

    def of(self, cls: type[E]) -> list[E]:
        return [e for e in self.events if type(e) is cls]

    def counts(self) -> Counter[str]:
        return Counter(type(e).__name__ for e in self.events)


def _env(kind: str, i: int, t: int, corr: str, service: str = "seed") -> dict[str, object]:
    # Deterministic UUID-shaped ids, unique per (kind, i).
    kind_no = sum(ord(ch) for ch in kind) * 1000 + len(kind)
    eid = f"00000000-0000-4000-8000-{kind_no:06d}{i:06d}"
    return {"event_id": eid, "event_time": t, "correlation_id": corr, "service": service}


def seed_events(start_ms: int = SEED_START_MS) -> list[Event]:
    """The seeded events (pure, deterministic for a given start)."""
    out: list[Event] = []
    step = SEED_SPAN_MS // (N_QUERIES + 1)
    for i in range(N_QUERIES):
        t = start_ms + (i + 1) * step
        qid = f"q-{i:03d}"
        backend = "lightrag" if i % 3 else "perplexity"
        variant = ("A", "B")[i % 2] if i % 4 == 0 else None
        out.append(QueryReceived(**_env("query", i, t, qid, "ui"), session_id=f"s-{i % 7}",
                                 user_id=f"u-{i % 5}", query_text=QUESTIONS[i % len(QUESTIONS)],
                                 language="en", channel=("ui", "api", "cli")[i % 3]))
        out.append(RoutingDecision(**_env("route", i, t + 5, qid, "router"), backend=backend,
                                   reason=ROUTING_REASONS[i % len(ROUTING_REASONS)],
                                   user_id=f"u-{i % 5}", session_id=f"s-{i % 7}",
                                   variant=variant, bucket=i % 100, flag_version=1 + i // 20))
        failed = i % 7 == 0
        cites = tuple(Citation(document_id=f"doc-{(i + k) % 4}", title=f"Paper {(i + k) % 4}",
                               page=1 + k if backend == "lightrag" else None, chunk_id=f"c-{i}-{k}",
                               score=0.9 - 0.1 * k, quote=f"passage {k}",
                               url=None if backend == "lightrag" else f"https://example.org/{i}")
                      for k in range(0 if failed else 1 + i % 3))
        response = ResponseGenerated(
            **_env("response", i, t + 100 + i * 37 % 900, qid, "router"), backend=backend,
            mode="hybrid" if backend == "lightrag" else "web", answer="" if failed else f"answer {i}",
            citations=cites, latency_ms=float(100 + (i * 37) % 900),
            error="backend timed out" if failed else None, error_kind="timeout" if failed else None,
            cached=i % 10 == 5, is_fallback=i % 11 == 3, question=QUESTIONS[i % len(QUESTIONS)])
        out.append(response)
        if i % 6 == 1:  # a shadow answer from the other backend: not user traffic
            other = "perplexity" if backend == "lightrag" else "lightrag"
            out.append(ResponseGenerated(
                **_env("shadowresp", i, t + 200, qid, "router"), backend=other, mode="hybrid",
                answer=f"shadow {i}", citations=(), latency_ms=float(50 + i), is_shadow=True))
            out.append(ShadowComparison(
                **_env("shadow", i, t + 300, qid, "processors"), serving_backend=backend,
                shadow_backend=other, similarity=round(0.5 + (i % 5) / 10, 3),
                citation_overlap=round((i % 4) / 4, 3), serving_latency_ms=float(100 + i),
                shadow_latency_ms=float(50 + i), serving_cost_usd=0.002, shadow_cost_usd=0.001,
                serving_quality=0.8, shadow_quality=round(0.6 + (i % 3) / 10, 3)))
        if not failed:
            rel, acc, fac = (round(0.5 + (i % 5) / 10, 3), round(0.6 + (i % 4) / 10, 3),
                             round(0.4 + (i % 6) / 10, 3))
            comp = round(0.4 * rel + 0.3 * acc + 0.3 * fac, 6)
            out.append(QualityScored(
                **_env("quality", i, t + 2000, qid, "processors"),
                response_event_id=response.event_id, backend=backend, relevance=rel, accuracy=acc,
                factual=fac, composite=comp, meets_threshold=comp >= 0.7, scorer="offline",
                issues=("low_overlap",) if comp < 0.6 else ()))
        model = "gpt-4o-mini" if backend == "lightrag" else "sonar"
        out.append(CostRecorded(**_env("cost", i, t + 150, qid, "router"), backend=backend,
                                model=model, operation="query", prompt_tokens=100 + i,
                                completion_tokens=50 + i, usd=round(0.001 * (1 + i % 5), 6)))
        if i % 3 == 0:
            out.append(UserFeedback(**_env("feedback", i, t + 60_000, qid, "ui"), user_id=f"u-{i % 5}",
                                    session_id=f"s-{i % 7}", rating=1 if i % 9 else -1,
                                    comment=None if i % 2 else "thanks",
                                    response_event_id=response.event_id))
    out.extend(_ops_events(start_ms))
    return out


def _ops_events(start_ms: int) -> list[Event]:
    out: list[Event] = []
    for i, status in enumerate(("indexed", "indexed", "failed", "unchanged", "indexed", "deleted")):
        out.append(DocumentIngested(
            **_env("ingest", i, start_ms + HOUR * (2 + 7 * i), f"doc-{i}", "rag_service"),
            path=f"papers/p{i}.pdf", status=status, content_hash=f"h{i}", title=f"Paper {i}",
            pages=0 if status == "failed" else 3 + i, chunks=0 if status == "failed" else 10 * (i + 1),
            reason="encrypted PDF" if status == "failed" else None, duration_ms=float(500 + 100 * i)))
    stages = (("idle", "stage-5", "promote"), ("stage-5", "stage-25", "promote"),
              ("stage-25", "stage-25", "pause"), ("stage-25", "stage-50", "promote"),
              ("stage-50", "rolled-back", "rollback"))
    for i, (src, dst, action) in enumerate(stages):
        out.append(ControllerDecision(
            **_env("decision", i, start_ms + HOUR * (3 + 8 * i), "lightrag", "processors"),
            controller="rollout", subject="lightrag", from_phase=src, to_phase=dst, action=action,
            reason=f"step {i}", metrics={"error_rate": 0.01 * i, "quality": 0.9 - 0.05 * i},
            dry_run=False))
    out.append(ControllerDecision(
        **_env("decision", 99, start_ms + HOUR * 30, "lightrag", "processors"), controller="breaker",
        subject="lightrag", from_phase="closed", to_phase="open", action="open",
        reason="errors", metrics={"error_rate": 0.4}))
    for i, cmd in enumerate(("rollout", "enable", "kill")):
        out.append(ControlCommand(**_env("control", i, start_ms + HOUR * (1 + 15 * i), "lightrag", "cli"),
                                  command=cmd, target="lightrag", value=str(10 * (i + 1)),
                                  actor="ops", reason=f"change {i}"))
    for i in range(6):
        w0 = start_ms + HOUR * (4 + 6 * i)
        backend = ("lightrag", "perplexity")[i % 2]
        out.append(WindowMetrics(
            **_env("window", i, w0 + 60_000, backend, "processors"), backend=backend,
            window_kind="tumbling", window_start=w0, window_end=w0 + 60_000, requests=100 + i,
            errors=i, timeouts=i // 2, error_rate=i / (100 + i), timeout_rate=(i // 2) / (100 + i),
            latency_p50_ms=200.0 + i, latency_p95_ms=800.0 + i, latency_p99_ms=None,
            quality_mean=0.8, quality_count=10, cost_usd=0.05 * i))
    for i, (sev, kind) in enumerate((("warning", "budget"), ("critical", "rollback"), ("info", "breaker"))):
        out.append(Alert(**_env("alert", i, start_ms + HOUR * (5 + 12 * i), "lightrag", "processors"),
                         severity=sev, kind=kind, message=f"alert {i}", details={"n": str(i)}))
    return out


def as_consumed(events: list[Event], prefix: str = "seed") -> list[Consumed]:
    """The events as the sink would see them (topic, partition 0, offsets counting up per topic)."""
    offsets: Counter[str] = Counter()
    out: list[Consumed] = []
    for event in events:
        topic = topic_name(prefix, event)
        out.append(Consumed(event, topic, 0, offsets[topic], event.event_time))
        offsets[topic] += 1
    return out


def as_records(events: list[Event], prefix: str = "seed") -> list[RawRecord]:
    """The events Avro-encoded as the sink reads them from Kafka (partition 0, offsets per topic)."""
    serializer = SingleObjectSerializer(SchemaStore(schema_dir()))
    return [RawRecord(c.topic, c.partition, c.offset, serializer.encode(c.event),
                      type(c.event).__name__) for c in as_consumed(events, prefix)]


def seed_history(store: HistoryStore, start_ms: int = SEED_START_MS) -> Seeded:
    """Write the seeded events through the sink's write path; returns what was written."""
    events = seed_events(start_ms)
    serializer = SingleObjectSerializer(SchemaStore(schema_dir()))
    RawBatchWriter(store, serializer).write(as_records(events))
    return Seeded(tuple(events), start_ms, start_ms + SEED_SPAN_MS)

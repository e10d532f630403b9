"""The twelve event types of the Clinical Metabolomics Oracle.

Field names, order and defaults mirror ``schemas/<Name>.avsc`` exactly (a contract
test enforces it); the .avsc files carry the documentation of every field.
Events are past-tense nouns, except :class:`ControlCommand`, which is a command.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from cmo.events.base import Event

_EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, kw_only=True, slots=True)
class Citation:
    """One source passage an answer cites (paper + page, or a web result)."""

    document_id: str
    title: str
    page: int | None = None
    chunk_id: str
    score: float
    quote: str
    url: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class QueryReceived(Event):
    stream = "queries"
    session_id: str
    user_id: str
    query_text: str
    mode: str = "hybrid"
    language: str | None = None
    channel: str = "api"


@dataclass(frozen=True, kw_only=True, slots=True)
class RoutingDecision(Event):
    stream = "routing"
    backend: str
    reason: str
    user_id: str
    session_id: str = ""
    cohort: str | None = None
    variant: str | None = None
    bucket: int | None = None
    flag_version: int
    shadow_backend: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ResponseGenerated(Event):
    stream = "responses"
    backend: str
    mode: str
    answer: str
    citations: tuple[Citation, ...]
    latency_ms: float
    error: str | None = None
    error_kind: str | None = None
    extractive: bool = False
    cached: bool = False
    is_fallback: bool = False
    is_shadow: bool = False
    index_version: str | None = None
    question: str | None = None
    variant: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class QualityScored(Event):
    stream = "quality"
    response_event_id: str
    backend: str
    relevance: float
    accuracy: float
    factual: float
    composite: float
    meets_threshold: bool
    scorer: str
    issues: tuple[str, ...] = ()
    variant: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class CostRecorded(Event):
    stream = "costs"
    backend: str
    model: str
    operation: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    embedding_tokens: int = 0
    usd: float
    variant: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class UserFeedback(Event):
    stream = "feedback"
    user_id: str
    session_id: str
    rating: int
    comment: str | None = None
    response_event_id: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class DocumentIngested(Event):
    stream = "ingestion"
    path: str
    status: str
    content_hash: str
    title: str | None = None
    doi: str | None = None
    pages: int = 0
    chunks: int = 0
    reason: str | None = None
    duration_ms: float = 0.0


@dataclass(frozen=True, kw_only=True, slots=True)
class ControlCommand(Event):
    """Signed flag change or ops command; keyed by ``target`` so compaction keeps the latest."""

    stream = "control"
    command: str
    target: str
    value: str = "null"
    actor: str
    reason: str
    signature: str | None = None

    @property
    def key(self) -> str:
        return self.target


@dataclass(frozen=True, kw_only=True, slots=True)
class ControllerDecision(Event):
    stream = "controller-decisions"
    controller: str
    subject: str
    from_phase: str
    to_phase: str
    action: str
    reason: str
    metrics: Mapping[str, float] = field(default_factory=dict)
    dry_run: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class WindowMetrics(Event):
    stream = "window-metrics"
    backend: str
    variant: str | None = None
    window_kind: str
    window_start: int
    window_end: int
    requests: int
    errors: int
    timeouts: int
    error_rate: float
    timeout_rate: float
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    latency_p99_ms: float | None = None
    quality_mean: float | None = None
    quality_count: int = 0
    cost_usd: float = 0.0


@dataclass(frozen=True, kw_only=True, slots=True)
class ShadowComparison(Event):
    stream = "shadow"
    serving_backend: str
    shadow_backend: str
    similarity: float
    citation_overlap: float
    serving_latency_ms: float
    shadow_latency_ms: float
    serving_cost_usd: float = 0.0
    shadow_cost_usd: float = 0.0
    serving_quality: float | None = None
    shadow_quality: float | None = None
    serving_answer: str = ""
    shadow_answer: str = ""
    source: str = "live"
    replay_run_id: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Alert(Event):
    stream = "alerts"
    severity: str
    kind: str
    message: str
    details: Mapping[str, str] = field(default_factory=dict)

"""Replay: re-run historical questions against a candidate and a baseline backend, compare.

Questions come from QueryReceived events on the queries topic between two instants
(Kafka message timestamps): a fresh consumer with no group commits seeks every partition
with ``offsets_for_times`` and stops a partition at its first record past ``to``. Each
question is answered by the baseline and by the candidate (LightRAG with its own mode and
top_k, or Perplexity), both answers are scored with the knowledge base's scorer (passages
are the citations' quotes) and a ShadowComparison event (``source="replay"``, one
``replay_run_id`` per run; serving = baseline, shadow = candidate) is published per
question. The report holds one row per question, aggregates and a migration verdict.
"""

from __future__ import annotations

import json
import logging
import math
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, TopicPartition
from tqdm import tqdm

from cmo.adapters.avro import EventSerializer
from cmo.adapters.perplexity import NOT_CONFIGURED, PerplexityBackend
from cmo.config import Settings
from cmo.events import Citation, QueryReceived, ShadowComparison
from cmo.exceptions import CMOError
from cmo.quality.model import Passage
from cmo.topics import topic_name
from rag_service.context import KnowledgeBase

logger = logging.getLogger(__name__)

LIGHTRAG = "lightrag"
PERPLEXITY = "perplexity"
BACKENDS = (LIGHTRAG, PERPLEXITY)
TOLERANCE = 0.02     # candidate quality may trail the baseline by this much and still pass
TIE = 0.01           # composite differences within this are ties


class ReplayError(CMOError):
    """Bad replay arguments (times, backend names, config file)."""


@dataclass(frozen=True)
class BackendSpec:
    """One side of the comparison: a backend and, for LightRAG, its retrieval settings."""

    backend: str
    mode: str | None = None       # None: the mode the question was originally asked with
    top_k: int = 5

    @property
    def label(self) -> str:
        return f"{self.backend}:{self.mode or 'original'}/k{self.top_k}" if self.backend == LIGHTRAG \
            else self.backend


@dataclass(frozen=True)
class Outcome:
    text: str = ""
    citations: tuple[Citation, ...] = ()
    latency_ms: float = 0.0
    usd: float = 0.0
    quality: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class Row:
    query_id: str
    question: str
    asked_at_ms: int
    baseline_quality: float | None
    candidate_quality: float | None
    similarity: float
    citation_overlap: float
    baseline_latency_ms: float
    candidate_latency_ms: float
    baseline_cost_usd: float
    candidate_cost_usd: float
    error: str | None = None


@dataclass
class Replayer:
    """Answers, scores and compares; publishes ShadowComparison events through ``kb.events``."""

    kb: KnowledgeBase
    web: PerplexityBackend
    baseline: BackendSpec
    candidate: BackendSpec
    run_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def unavailable(self) -> str | None:
        """Why the comparison cannot run (Perplexity without a key), or None."""
        if PERPLEXITY in (self.baseline.backend, self.candidate.backend) and not self.web.available:
            return f"perplexity unavailable: {NOT_CONFIGURED}"
        return None

    async def run(self, queries: Sequence[QueryReceived], progress: bool = True) -> list[Row]:
        rows: list[Row] = []
        for query in tqdm(queries, desc="replaying", unit="question", disable=not progress):
            rows.append(await self.compare(query))
        self.kb.events.flush()
        return rows

    async def compare(self, query: QueryReceived) -> Row:
        base = await self._answer(self.baseline, query)
        cand = await self._answer(self.candidate, query)
        similarity = 0.0
        if base.text and cand.text:
            similarity = round(float(await self.kb.similarity(base.text, cand.text)), 4)
        a = {c.document_id for c in base.citations}
        b = {c.document_id for c in cand.citations}
        overlap = round(len(a & b) / len(a | b), 4) if a | b else 0.0
        error = "; ".join(e for e in (base.error, cand.error) if e) or None
        self.kb.events.publish(ShadowComparison(
            event_id=str(uuid.uuid4()), event_time=int(time.time() * 1000),
            correlation_id=query.correlation_id, service="replay",
            serving_backend=self.baseline.backend, shadow_backend=self.candidate.backend,
            similarity=similarity, citation_overlap=overlap,
            serving_latency_ms=base.latency_ms, shadow_latency_ms=cand.latency_ms,
            serving_cost_usd=base.usd, shadow_cost_usd=cand.usd,
            serving_quality=base.quality, shadow_quality=cand.quality,
            serving_answer=base.text, shadow_answer=cand.text,
            source="replay", replay_run_id=self.run_id))
        return Row(query.correlation_id, query.query_text, query.event_time, base.quality, cand.quality,
                   similarity, overlap, round(base.latency_ms, 1), round(cand.latency_ms, 1),
                   base.usd, cand.usd, error)

    async def _answer(self, spec: BackendSpec, query: QueryReceived) -> Outcome:
        question = query.query_text
        try:
            if spec.backend == PERPLEXITY:
                web = await self.web.answer(question)
                text, citations, latency, usd = web.text, web.citations, web.latency_ms, web.usd
            else:
                answer = await self.kb.query.answer(question, mode=spec.mode or query.mode, top_k=spec.top_k,
                                                    query_id=query.correlation_id, role="shadow")
                text, citations, latency, usd = answer.text, answer.citations, answer.latency_ms, answer.usd
        except CMOError as exc:
            logger.warning("replay %s: %s failed for %s: %s", self.run_id, spec.label,
                           query.correlation_id, exc)
            return Outcome(error=f"{spec.label}: {exc}")
        quality = None
        if text:
            passages = [Passage(c.quote, True, c.document_id, c.page) for c in citations]
            quality = (await self.kb.scorer.score(question, text, passages)).composite
        return Outcome(text, citations, latency, usd, quality)


# --- reading the queries topic ---------------------------------------------------------------

def parse_time(value: str) -> int:
    """Epoch milliseconds from epoch ms digits or ISO 8601 (naive means UTC)."""
    text = value.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ReplayError(f"not an ISO 8601 time or epoch milliseconds: {value!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def read_queries(settings: Settings, serializer: EventSerializer, start_ms: int, end_ms: int,
                 limit: int | None = None, timeout_s: float = 30.0) -> list[QueryReceived]:
    """QueryReceived events with a record timestamp in [start_ms, end_ms], oldest first."""
    topic = topic_name(settings.kafka_topic_prefix, QueryReceived)
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers,
                         "group.id": f"cmo-replay-{uuid.uuid4()}", "enable.auto.commit": False,
                         "enable.auto.offset.store": False, "auto.offset.reset": "earliest",
                         "isolation.level": "read_committed", "enable.partition.eof": True,
                         "log_level": 3, "logger": logging.getLogger("librdkafka")})
    found: list[tuple[int, QueryReceived]] = []
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if metadata is None or metadata.error is not None or not metadata.partitions:
            raise ReplayError(f"topic {topic} not found")
        wanted = [TopicPartition(topic, p, start_ms) for p in sorted(metadata.partitions)]
        seeks = consumer.offsets_for_times(wanted, timeout=10)
        open_parts: dict[int, int] = {}          # partition -> high watermark
        for tp in seeks:
            high = consumer.get_watermark_offsets(TopicPartition(topic, tp.partition), timeout=10)[1]
            if tp.offset >= 0 and tp.offset < high:
                open_parts[tp.partition] = high
        consumer.assign([tp for tp in seeks if tp.partition in open_parts])
        deadline = time.monotonic() + timeout_s
        while open_parts and time.monotonic() < deadline:
            for msg in consumer.consume(500, 0.5):
                part, error = msg.partition() or 0, msg.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        open_parts.pop(part, None)
                    else:
                        logger.warning("replay read: %s", error)
                    continue
                if part not in open_parts:
                    continue
                stamp = msg.timestamp()[1]
                if stamp > end_ms:
                    open_parts.pop(part, None)
                    consumer.pause([TopicPartition(topic, part)])
                    continue
                if (msg.offset() or 0) + 1 >= open_parts[part]:
                    open_parts.pop(part, None)
                try:
                    event = serializer.decode(msg.value() or b"", topic, "QueryReceived")
                except CMOError as exc:
                    logger.warning("replay skips %s[%s]@%s: %s", topic, part, msg.offset(), exc)
                    continue
                if isinstance(event, QueryReceived) and stamp >= start_ms:
                    found.append((stamp, event))
    finally:
        consumer.close()
    found.sort(key=lambda pair: pair[0])
    queries = [event for _, event in found]
    return queries[:limit] if limit else queries


# --- the report (pure) ------------------------------------------------------------------------

def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)], 1)


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def _side(rows: Sequence[Row], side: str) -> dict[str, Any]:
    quality = [q for r in rows if (q := getattr(r, f"{side}_quality")) is not None]
    latency = [getattr(r, f"{side}_latency_ms") for r in rows if getattr(r, f"{side}_quality") is not None]
    return {"mean_quality": _mean(quality), "answered": len(quality),
            "latency_p50_ms": percentile(latency, 50), "latency_p95_ms": percentile(latency, 95),
            "total_cost_usd": round(sum(getattr(r, f"{side}_cost_usd") for r in rows), 6)}


def build_report(rows: Sequence[Row], baseline: BackendSpec, candidate: BackendSpec, run_id: str,
                 window: tuple[int, int], min_questions: int, unavailable: str | None = None) -> dict[str, Any]:
    """Rows, aggregates and the verdict; ready when the candidate keeps up on enough questions."""
    pairs = [(r.baseline_quality, r.candidate_quality) for r in rows
             if r.baseline_quality is not None and r.candidate_quality is not None]
    wins = sum(1 for b, c in pairs if c - b > TIE)
    losses = sum(1 for b, c in pairs if b - c > TIE)
    keeps_up = sum(1 for b, c in pairs if c >= b - TOLERANCE)
    aggregates: dict[str, Any] = {"questions": len(rows), "compared": len(pairs), "baseline": _side(rows, "baseline"),
                  "candidate": _side(rows, "candidate"),
                  "mean_similarity": _mean([r.similarity for r in rows if r.error is None]),
                  "mean_citation_overlap": _mean([r.citation_overlap for r in rows if r.error is None]),
                  "candidate_wins": wins, "candidate_losses": losses, "ties": len(pairs) - wins - losses,
                  "candidate_within_tolerance": keeps_up}
    b_mean, c_mean = aggregates["baseline"]["mean_quality"], aggregates["candidate"]["mean_quality"]
    rule = f"quality ≥ baseline − {TOLERANCE} on ≥ {min_questions} questions"
    if unavailable:
        ready, message = False, unavailable
    elif len(pairs) < min_questions or b_mean is None or c_mean is None:
        ready, message = False, f"not ready: {len(pairs)} compared questions, {min_questions} needed"
    elif c_mean >= b_mean - TOLERANCE and keeps_up >= min_questions:
        ready, message = True, f"candidate ready: {rule} (mean {c_mean:.3f} vs {b_mean:.3f}, {keeps_up} keep up)"
    else:
        ready, message = False, f"not ready: needs {rule} (mean {c_mean:.3f} vs {b_mean:.3f}, {keeps_up} keep up)"
    return {"replay_run_id": run_id, "from_ms": window[0], "to_ms": window[1],
            "baseline": baseline.label, "candidate": candidate.label, "unavailable": unavailable,
            "rows": [asdict(r) for r in rows], "aggregates": aggregates,
            "verdict": {"ready": ready, "message": message, "rule": rule}}


# --- the whole run ----------------------------------------------------------------------------

def load_specs(candidate: str, baseline: str | None, config: Path | None) -> tuple[BackendSpec, BackendSpec]:
    """(baseline, candidate); a JSON config overrides the candidate ({"mode", "top_k"}) and may
    carry a "baseline" object for the baseline."""
    for name in (candidate, baseline):
        if name is not None and name not in BACKENDS:
            raise ReplayError(f"unknown backend {name!r}; use one of {', '.join(BACKENDS)}")
    raw: dict[str, Any] = {}
    if config is not None:
        try:
            raw = json.loads(config.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ReplayError(f"cannot read replay config {config}: {exc}") from exc
        if not isinstance(raw, dict):
            raise ReplayError(f"replay config {config} must be a JSON object")
    base_raw = raw.pop("baseline", {}) or {}
    other = baseline or (PERPLEXITY if candidate == LIGHTRAG else LIGHTRAG)
    return _spec(other, base_raw), _spec(candidate, raw)


def _spec(backend: str, raw: dict[str, Any]) -> BackendSpec:
    unknown = set(raw) - {"mode", "top_k"}
    if unknown:
        raise ReplayError(f"unknown replay config keys: {', '.join(sorted(unknown))}")
    return BackendSpec(backend, raw.get("mode"), int(raw.get("top_k", 5)))


async def replay(kb: KnowledgeBase, web: PerplexityBackend, serializer: EventSerializer,
                 start_ms: int, end_ms: int, baseline: BackendSpec, candidate: BackendSpec,
                 limit: int | None = None, min_questions: int = 10, progress: bool = True) -> dict[str, Any]:
    """Read the window's questions, compare both backends on each, return the report."""
    if end_ms < start_ms:
        raise ReplayError("--to is before --from")
    replayer = Replayer(kb, web, baseline, candidate)
    why = replayer.unavailable()
    if why:
        logger.warning("replay %s: %s", replayer.run_id, why)
        return build_report([], baseline, candidate, replayer.run_id, (start_ms, end_ms), min_questions, why)
    queries = read_queries(kb.settings, serializer, start_ms, end_ms, limit)
    logger.info("replay %s: %d questions, %s vs %s", replayer.run_id, len(queries), candidate.label,
                baseline.label)
    rows = await replayer.run(queries, progress)
    return build_report(rows, baseline, candidate, replayer.run_id, (start_ms, end_ms), min_questions)

"""Evaluation reports: per-question rows, aggregates per configuration, side-by-side deltas. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from statistics import mean
from typing import Any

METRICS = ("relevance", "accuracy", "factual", "composite")


@dataclass(frozen=True)
class EvalRow:
    item_id: str
    config: str
    question: str
    answer: str
    relevance: float
    accuracy: float
    factual: float
    composite: float
    meets_threshold: bool
    source_hit: bool | None          # a reference source among the citations (None: no reference)
    reference_similarity: float | None
    latency_ms: float
    citations: int
    issues: tuple[str, ...] = ()
    error: str | None = None


def aggregate(rows: Sequence[EvalRow]) -> dict[str, Any]:
    ok = [r for r in rows if r.error is None]
    out: dict[str, Any] = {"questions": len(rows), "errors": len(rows) - len(ok)}
    for metric in METRICS:
        out[metric] = round(mean(getattr(r, metric) for r in ok), 4) if ok else None
    out["pass_rate"] = round(float(mean(r.meets_threshold for r in ok)), 4) if ok else None
    hits = [r.source_hit for r in ok if r.source_hit is not None]
    out["source_hit_rate"] = round(float(mean(hits)), 4) if hits else None
    sims = [r.reference_similarity for r in ok if r.reference_similarity is not None]
    out["reference_similarity"] = round(mean(sims), 4) if sims else None
    out["latency_ms_mean"] = round(mean(r.latency_ms for r in ok), 1) if ok else None
    return out


def compare(rows: Sequence[EvalRow], a: str, b: str) -> dict[str, Any]:
    """Per-metric mean delta (b - a) and wins/losses/ties over questions both answered."""
    by = {(r.item_id, r.config): r for r in rows if r.error is None}
    common = sorted({i for i, c in by if c == a} & {i for i, c in by if c == b})
    result: dict[str, Any] = {"a": a, "b": b, "questions": len(common)}
    for metric in METRICS:
        deltas = [getattr(by[(i, b)], metric) - getattr(by[(i, a)], metric) for i in common]
        result[metric] = {
            "mean_delta": round(mean(deltas), 4) if deltas else None,
            "b_better": sum(d > 1e-9 for d in deltas), "a_better": sum(d < -1e-9 for d in deltas),
            "ties": sum(abs(d) <= 1e-9 for d in deltas)}
    winner = result["composite"]["mean_delta"]
    result["verdict"] = ("no data" if winner is None else
                         f"{b} better" if winner > 0.01 else f"{a} better" if winner < -0.01 else "no clear difference")
    return result


def build_report(rows: Sequence[EvalRow], configs: Sequence[str]) -> dict[str, Any]:
    report: dict[str, Any] = {
        "configs": list(configs),
        "aggregates": {c: aggregate([r for r in rows if r.config == c]) for c in configs},
        "rows": [asdict(r) for r in rows],
    }
    if len(configs) == 2:
        report["comparison"] = compare(rows, configs[0], configs[1])
    return report

"""Every dashboard query on seeded events in real chDB, against numbers computed here in Python."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cmo.events import (
    ControllerDecision,
    CostRecorded,
    DocumentIngested,
    QualityScored,
    QueryReceived,
    ResponseGenerated,
    RoutingDecision,
    ShadowComparison,
    UserFeedback,
)
from cmo.history.client import HistoryStore, open_chdb
from cmo.history.dashboards import BY_NAME, DASHBOARDS, run_dashboard
from cmo.history.migrations import migrate
from tests.history_seed import HOUR, Seeded, seed_history

pytestmark = pytest.mark.integration
BUDGETS = {"daily_budget": 1.5, "monthly_budget": 40.0}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HistoryStore, Seeded]]:
    with open_chdb(Path(tmp_path_factory.mktemp("history"))) as store:
        migrate(store)
        seeded = seed_history(store)
        seed_history(store)  # written twice: results must not change
        yield store, seeded


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _hour(ms: int) -> str:
    return _dt(ms - ms % HOUR).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _day(ms: int) -> str:
    return _dt(ms).date().isoformat()


def _iso(ms: int) -> str:
    return _dt(ms).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _q(values: list[float], level: float) -> float:  # ClickHouse quantileExact
    ordered = sorted(values)
    return ordered[min(int(level * len(ordered)), len(ordered) - 1)]


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _groups(events: list[Any], key: Callable[[Any], tuple[Any, ...]]) -> dict[tuple[Any, ...], list[Any]]:
    out: dict[tuple[Any, ...], list[Any]] = defaultdict(list)
    for e in events:
        out[key(e)].append(e)
    return dict(sorted(out.items()))


def expected(name: str, s: Seeded, lo: int, hi: int) -> list[dict[str, Any]]:
    """The dashboard's rows, computed from the seeded events (same order as the SQL)."""
    def within(cls: type) -> list[Any]:
        return [e for e in s.of(cls) if lo <= e.event_time < hi]

    if name == "traffic":
        g = _groups(within(RoutingDecision), lambda e: (_hour(e.event_time), e.backend, e.reason))
        return [{"hour": h, "backend": b, "reason": r, "series": f"{b} / {r}", "requests": len(v)}
                for (h, b, r), v in g.items()]
    answers = [e for e in within(ResponseGenerated) if not e.is_shadow]
    if name == "error_rate":
        out = []
        for (h, b), v in _groups(answers, lambda e: (_hour(e.event_time), e.backend)).items():
            errors = sum(e.error is not None for e in v)
            out.append({"hour": h, "backend": b, "responses": len(v), "errors": errors,
                        "error_rate": round(errors / len(v), 4)})
        return out
    if name == "latency":
        return [{"hour": h, "backend": b, "responses": len(v),
                 **{f"p{p}_ms": _q([e.latency_ms for e in v], p / 100) for p in (50, 95, 99)}}
                for (h, b), v in _groups(answers, lambda e: (_hour(e.event_time), e.backend)).items()]
    if name == "quality_trend":
        return [{"day": d, "backend": b, "scored": len(v),
                 **{m: round(_mean([getattr(e, m) for e in v]), 4)
                    for m in ("relevance", "accuracy", "factual", "composite")},
                 "meets_threshold_ratio": round(sum(e.meets_threshold for e in v) / len(v), 4)}
                for (d, b), v in _groups(within(QualityScored), lambda e: (_day(e.event_time), e.backend)).items()]
    if name == "cost_daily":
        return [{"day": d, "backend": b, "model": m, "series": f"{b} / {m}", "records": len(v),
                 "tokens": sum(e.prompt_tokens + e.completion_tokens + e.embedding_tokens for e in v),
                 "usd": round(sum(e.usd for e in v), 6)}
                for (d, b, m), v in _groups(within(CostRecorded),
                                            lambda e: (_day(e.event_time), e.backend, e.model)).items()]
    if name == "budget_burn":
        month0 = _dt(lo).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        costs = [e for e in s.of(CostRecorded) if month0.timestamp() * 1000 <= e.event_time < hi]
        out, mtd = [], 0.0
        for (d,), v in _groups(costs, lambda e: (_day(e.event_time),)).items():
            spend = sum(e.usd for e in v)
            mtd += spend
            if d >= _day(lo):
                out.append({"day": d, "spend_usd": round(spend, 6), "month_to_date_usd": round(mtd, 6),
                            "daily_budget_usd": 1.5, "monthly_budget_usd": 40.0,
                            "remaining_usd": round(40.0 - round(mtd, 6), 6)})
        return out
    if name == "rollout_history":
        return [{"time": _iso(e.event_time), "controller": e.controller, "subject": e.subject,
                 "from_phase": e.from_phase, "to_phase": e.to_phase, "action": e.action,
                 "reason": e.reason, "dry_run": e.dry_run}
                for e in sorted(within(ControllerDecision), key=lambda e: (e.event_time, e.event_id),
                              reverse=True)[:1000]]
    if name == "shadow_comparison":
        return [{"day": d, "pair": p, "comparisons": len(v),
                 "mean_similarity": round(_mean([e.similarity for e in v]), 4),
                 "mean_citation_overlap": round(_mean([e.citation_overlap for e in v]), 4),
                 "mean_latency_delta_ms": round(_mean([e.shadow_latency_ms - e.serving_latency_ms
                                                       for e in v]), 2),
                 "mean_quality_delta": round(_mean([e.shadow_quality - e.serving_quality for e in v]), 4),
                 "shadow_wins": sum(e.shadow_quality > e.serving_quality for e in v)}
                for (d, p), v in _groups(within(ShadowComparison), lambda e: (
                    _day(e.event_time), f"{e.serving_backend} vs {e.shadow_backend}")).items()]
    if name == "top_queries":
        qs = within(QueryReceived)
        counts = Counter(q.query_text for q in qs)
        ranked = sorted(counts, key=lambda t: (-counts[t], t))[:20]
        return [{"query_text": t, "queries": counts[t],
                 "users": len({q.user_id for q in qs if q.query_text == t}),
                 "last_asked": _iso(max(q.event_time for q in qs if q.query_text == t))} for t in ranked]
    if name == "feedback_ratio":
        out = []
        for (d,), v in _groups(within(UserFeedback), lambda e: (_day(e.event_time),)).items():
            up, down = sum(e.rating > 0 for e in v), sum(e.rating < 0 for e in v)
            out.append({"day": d, "thumbs_up": up, "thumbs_down": down,
                        "positive_ratio": round(up / (up + down), 4)})
        return out
    if name == "ingestion_status":
        return [{"day": d, "status": st, "documents": len(v), "pages": sum(e.pages for e in v),
                 "chunks": sum(e.chunks for e in v),
                 "mean_duration_ms": round(_mean([e.duration_ms for e in v]), 1)}
                for (d, st), v in _groups(within(DocumentIngested),
                                          lambda e: (_day(e.event_time), e.status)).items()]
    raise AssertionError(f"no expectation for dashboard {name}")


WINDOWS = {"all": (0, 48 * HOUR), "cut": (5 * HOUR + 1234, 31 * HOUR)}


@pytest.mark.parametrize("window", sorted(WINDOWS))
@pytest.mark.parametrize("name", [d.name for d in DASHBOARDS])
def test_dashboard_matches_seeded_data(seeded: tuple[HistoryStore, Seeded], name: str,
                                       window: str) -> None:
    store, s = seeded
    lo, hi = (s.start_ms + off for off in WINDOWS[window])
    out = run_dashboard(store, BY_NAME[name], _dt(lo), _dt(hi), BUDGETS)
    want = expected(name, s, lo, hi)
    assert want, "the seeded window must give the dashboard something to show"
    got = [dict(zip(out.columns, row)) for row in out.rows]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert {k: g[k] for k in w} == pytest.approx(w, abs=1e-9), (name, g, w)


def test_dashboard_window_outside_data_is_empty(seeded: tuple[HistoryStore, Seeded]) -> None:
    store, s = seeded
    start = _dt(s.end_ms) + timedelta(days=40)  # next month: budget burn has no spend either
    for dash in DASHBOARDS:
        assert run_dashboard(store, dash, start, start + timedelta(hours=3), BUDGETS).rows == []

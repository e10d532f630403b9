"""The metrics ingest hot path builds sample rows straight from Avro records; they must decode
to exactly what the reference ``sample_for`` gives for the event, with its source position."""

from __future__ import annotations

import pytest

from cmo.events import CostRecorded, Event, QualityScored, ResponseGenerated, ShadowComparison
from cmo.events.records import to_record
from processors.metrics_agent import SourcePosition, _dumps, decode_samples, sample_for, sample_row

ENV = {"event_id": "00000000-0000-4000-8000-000000000001", "event_time": 1_795_000_000_123,
       "correlation_id": "q1", "service": "test"}
EVENTS: list[Event] = [
    ResponseGenerated(**ENV, backend="lightrag", mode="hybrid", answer="a", citations=(),
                      latency_ms=120.5, variant="treatment"),
    ResponseGenerated(**ENV, backend="perplexity", mode="web", answer="", citations=(),
                      latency_ms=30000.0, error="slow", error_kind="timeout"),
    QualityScored(**ENV, response_event_id="r", backend="lightrag", relevance=0.9, accuracy=0.8,
                  factual=0.7, composite=0.81, meets_threshold=True, scorer="offline",
                  variant="control"),
    CostRecorded(**ENV, backend="perplexity", model="sonar", operation="query", usd=0.005),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_rows_decode_to_the_reference_sample(event: Event) -> None:
    row = sample_row(type(event).__name__, to_record(event), "t.responses", 2, 41)
    assert row is not None
    [(sample, source)] = decode_samples(_dumps([row]))
    assert sample == sample_for(event)
    assert source == SourcePosition("t.responses", 2, 41)


def test_shadow_answers_and_other_events_give_no_row_and_bad_latency_is_refused() -> None:
    shadow = ResponseGenerated(**ENV, backend="lightrag", mode="hybrid", answer="a", citations=(),
                               latency_ms=1.0, is_shadow=True)
    assert sample_row("ResponseGenerated", to_record(shadow), "t", 0, 0) is None
    other = ShadowComparison(**ENV, serving_backend="a", shadow_backend="b", similarity=0.5,
                             citation_overlap=0.0, serving_latency_ms=1.0, shadow_latency_ms=2.0,
                             serving_cost_usd=0.0, shadow_cost_usd=0.0, serving_answer="x",
                             shadow_answer="y")
    assert sample_row("ShadowComparison", to_record(other), "t", 0, 0) is None
    bad = to_record(EVENTS[0]) | {"latency_ms": -5.0}
    with pytest.raises(ValueError, match="latency_ms must be finite"):
        sample_row("ResponseGenerated", bad, "t", 0, 0)

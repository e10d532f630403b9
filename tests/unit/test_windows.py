"""Windowed metrics: the quantile sketch, window ranges, aggregations and the window store."""

from __future__ import annotations

import dataclasses
import json
import math
import random
from typing import Any

import pytest

from cmo.domain.sketch import QuantileSketch
from cmo.domain.windows import (
    COST,
    COUNT,
    ERROR_RATE,
    ERRORS,
    LATENCY,
    QUALITY,
    TIMEOUT_RATE,
    TIMEOUTS,
    Aggregation,
    Sample,
    WindowAccumulator,
    WindowKey,
    WindowSpec,
    WindowStore,
    WindowSummary,
    hopping_ranges,
    metrics_fields,
    tumbling_range,
)
from cmo.events import WindowMetrics
from cmo.events.base import Event

TUMBLING = WindowSpec("tumbling-10s", 10_000)
HOPPING = WindowSpec("hopping-60s-10s", 60_000, 10_000)
SPECS = (TUMBLING, HOPPING)


def s(ts: int = 0, **fields: object) -> Sample:
    return Sample(backend="lightrag", timestamp_ms=ts, **fields)  # type: ignore[arg-type]


OK = s(latency_ms=100.0)
ERR = s(latency_ms=50.0, error=True)
TIMEOUT = s(error=True, timeout=True)
SCORE = s(quality=0.5)
SCORE_HIGH = s(quality=1.0)
PRICE = s(cost_usd=0.25)
MIXED = [OK, ERR, TIMEOUT, SCORE, SCORE_HIGH, PRICE, PRICE]


# --- the sketch ----------------------------------------------------------------------------


def exact_quantile(values: list[float], q: float) -> float:
    """The rank the sketch estimates (ddsketch semantics): floor(q * (n - 1)) in sorted order."""
    return sorted(values)[math.floor(q * (len(values) - 1))]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sketch_is_within_relative_accuracy_of_exact_quantiles(seed: int) -> None:
    rng = random.Random(seed)
    values = [rng.lognormvariate(5.0, 1.5) for _ in range(5_000)] + [0.0] * 50
    sketch = QuantileSketch().add_all(values)
    assert sketch.count == len(values)
    for q in (0.0, 0.005, 0.01, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0):
        exact, estimate = exact_quantile(values, q), sketch.quantile(q)
        assert estimate is not None
        if exact == 0.0:
            assert estimate == 0.0
        else:
            assert abs(estimate - exact) / exact <= 0.01 + 1e-9, q   # 1 % (the brief allows 2 %)


def test_merging_sketches_equals_sketching_the_union() -> None:
    rng = random.Random(7)
    xs = [rng.expovariate(1 / 200) for _ in range(1_000)]
    ys = [rng.uniform(1, 5_000) for _ in range(700)] + [0.0]
    a, b = QuantileSketch().add_all(xs), QuantileSketch().add_all(ys)
    union = QuantileSketch().add_all(xs + ys)
    assert a.merge(b) == union == b.merge(a)
    assert [a.merge(b).quantile(q) for q in (0.5, 0.99)] == [union.quantile(q) for q in (0.5, 0.99)]


def test_sketch_edges_and_serialization() -> None:
    empty = QuantileSketch()
    assert empty.count == 0 and empty.quantile(0.5) is None
    one = empty.add(42.0)
    assert empty.count == 0                                   # immutable: add returns a new one
    assert one.quantile(0.0) == one.quantile(1.0) == pytest.approx(42.0, rel=0.01)
    for bad in (-1.0, math.inf, math.nan):
        with pytest.raises(ValueError):
            empty.add(bad)
    with pytest.raises(ValueError):
        one.quantile(1.5)
    with pytest.raises(ValueError):
        one.merge(QuantileSketch(relative_accuracy=0.02))
    sketch = empty.add_all([0.0, 1.5, 3.0, 3.0, 1e6])
    assert QuantileSketch.from_bytes(sketch.to_bytes()) == sketch
    assert QuantileSketch.from_dict(json.loads(json.dumps(sketch.to_dict()))) == sketch
    with pytest.raises(ValueError):
        QuantileSketch.from_dict({"relative_accuracy": 0.01, "zero_count": 0, "bins": [[3, -1]]})


# --- window ranges -------------------------------------------------------------------------


@pytest.mark.parametrize(("ts", "expected"), [
    (0, (0, 10_000)),
    (12_345, (10_000, 20_000)),
    (19_999, (10_000, 20_000)),
    (20_000, (20_000, 30_000)),                              # half-open: the end belongs to the next
    (-1, (-10_000, 0)),
])
def test_tumbling_10s(ts: int, expected: tuple[int, int]) -> None:
    assert tumbling_range(ts, 10_000) == expected


def test_hopping_60s_every_10s_gives_six_windows() -> None:
    assert hopping_ranges(65_000, 60_000, 10_000) == [
        (10_000, 70_000), (20_000, 80_000), (30_000, 90_000),
        (40_000, 100_000), (50_000, 110_000), (60_000, 120_000),
    ]
    on_boundary = hopping_ranges(60_000, 60_000, 10_000)
    assert len(on_boundary) == 6 and on_boundary[0] == (10_000, 70_000)   # [0, 60 000) excluded


@pytest.mark.parametrize(("size", "step"), [(60, 10), (25, 10), (10, 10), (7, 3)])
def test_hopping_ranges_are_exactly_the_windows_containing_the_timestamp(size: int,
                                                                          step: int) -> None:
    for ts in range(-70, 200):
        brute = [(st, st + size) for st in range(-300, 300)
                 if st % step == 0 and st <= ts < st + size]
        assert hopping_ranges(ts, size, step) == brute, ts


def test_invalid_window_specs() -> None:
    with pytest.raises(ValueError):
        WindowSpec("gappy", 10_000, 20_000)
    with pytest.raises(ValueError):
        WindowSpec("empty", 0)
    with pytest.raises(ValueError):
        WindowStore((TUMBLING, WindowSpec("tumbling-10s", 20_000)))


# --- aggregations: one table ---------------------------------------------------------------


def approx_or_none(actual: object, expected: object) -> bool:
    """Equal, numbers within 1 % (the sketch's accuracy), None only where None is expected."""
    if isinstance(expected, tuple) and isinstance(actual, tuple):
        return len(actual) == len(expected) and all(map(approx_or_none, actual, expected))
    if expected is None or actual is None:
        return actual is expected
    return actual == pytest.approx(expected, rel=0.01)


AGGREGATIONS = [
    ("count-empty", COUNT, [], 0),
    ("count-responses-only", COUNT, MIXED, 3),
    ("errors", ERRORS, MIXED, 2),
    ("timeouts", TIMEOUTS, MIXED, 1),
    ("error-rate-empty", ERROR_RATE, [SCORE, PRICE], 0.0),
    ("error-rate", ERROR_RATE, MIXED, 2 / 3),
    ("timeout-rate", TIMEOUT_RATE, MIXED, 1 / 3),
    ("latency-empty", LATENCY, [TIMEOUT, SCORE], (None, None, None)),
    ("latency-one", LATENCY, [OK, SCORE], (100.0, 100.0, 100.0)),
    ("latency-spread", LATENCY, [s(latency_ms=float(v)) for v in range(1, 101)],
     (50.0, 95.0, 99.0)),
    ("quality-empty", QUALITY, [OK], (None, 0)),
    ("quality-mean", QUALITY, MIXED, (0.75, 2)),
    ("cost-sum", COST, MIXED, 0.5),
]


@pytest.mark.parametrize(("agg", "samples", "expected"),
                         [row[1:] for row in AGGREGATIONS], ids=[row[0] for row in AGGREGATIONS])
def test_aggregation(agg: Aggregation[Any, Any], samples: list[Sample], expected: object) -> None:
    state = agg.initialize()
    for sample in samples:
        state = agg.agg(state, sample)
    assert approx_or_none(agg.result(state), expected)
    # Merging the states of two halves gives the same result.
    left, right = agg.initialize(), agg.initialize()
    for sample in samples[: len(samples) // 2]:
        left = agg.agg(left, sample)
    for sample in samples[len(samples) // 2:]:
        right = agg.agg(right, sample)
    assert agg.result(agg.merge(left, right)) == agg.result(state)


def test_accumulator_summary_and_merge_equals_sequential_add() -> None:
    rng = random.Random(3)
    samples = [s(latency_ms=rng.randint(1, 4000) / 4, error=rng.random() < 0.2,
                 quality=rng.choice([None, 0.25, 0.5, 1.0]), cost_usd=rng.choice([0.0, 0.125]))
               for _ in range(200)]
    sequential = WindowAccumulator()
    for sample in samples:
        sequential = sequential.add(sample)
    left, right = WindowAccumulator(), WindowAccumulator()
    for sample in samples[:77]:
        left = left.add(sample)
    for sample in samples[77:]:
        right = right.add(sample)
    assert left.merge(right) == sequential                   # dyadic values: exact float sums
    # One-pass batch folding equals sample-by-sample folding, from an empty or a used state.
    assert WindowAccumulator().add_all(samples) == sequential
    assert left.add_all(samples[77:]) == sequential
    timeout = s(latency_ms=None, error=True, timeout=True)
    assert WindowAccumulator().add_all([timeout, timeout]) == WindowAccumulator().add(timeout).add(timeout)
    summary = sequential.summary()
    assert summary.requests == 200 and summary.error_rate == summary.errors / 200
    assert summary.quality_count == sum(x.quality is not None for x in samples)
    assert WindowAccumulator().summary() == WindowSummary(0, 0, 0, 0.0, 0.0, None, None, None,
                                                          None, 0, 0.0)


def test_summary_fills_the_window_metrics_event() -> None:
    key = WindowKey("lightrag", "canary", "tumbling-10s", 10_000, 20_000)
    fields = metrics_fields(key, WindowAccumulator().add(ERR).summary())
    envelope = {f.name for f in dataclasses.fields(Event)}
    assert set(fields) == {f.name for f in dataclasses.fields(WindowMetrics)} - envelope
    event = WindowMetrics(event_id="e", event_time=20_000, correlation_id="lightrag",
                          service="metrics", **fields)
    assert event.errors == 1 and event.variant == "canary" and event.window_end == 20_000


# --- the store -----------------------------------------------------------------------------


def test_windows_close_on_wall_clock_time_without_later_events() -> None:
    store = WindowStore((TUMBLING,)).add(s(12_000, latency_ms=80.0))
    closed, store = store.close_due(now_ms=24_999, grace_ms=5_000)
    assert closed == [] and len(store.windows) == 1          # end + grace not reached yet
    closed, store = store.close_due(now_ms=25_000, grace_ms=5_000)
    assert [key for key, _ in closed] == [WindowKey("lightrag", None, "tumbling-10s",
                                                    10_000, 20_000)]
    assert closed[0][1].requests == 1 and closed[0][1].latency_p50_ms == pytest.approx(80, 0.01)
    assert store.windows == {} and store.closed_through_ms == 20_000
    assert store.close_due(now_ms=90_000, grace_ms=5_000)[0] == []   # closes once only


def test_samples_within_grace_count_and_late_samples_are_dropped() -> None:
    store = WindowStore(SPECS).add(s(12_000, latency_ms=1.0))
    _, store = store.close_due(now_ms=22_000, grace_ms=5_000)     # nothing due: 20 000 + 5 000
    store = store.add(s(19_000, latency_ms=2.0))                   # after the end, within grace
    closed, store = store.close_due(now_ms=25_000, grace_ms=5_000)
    assert [(k.window_kind, k.start, k.end, summary.requests) for k, summary in closed] == [
        ("hopping-60s-10s", -40_000, 20_000, 2), ("tumbling-10s", 10_000, 20_000, 2)]
    store = store.add(s(15_000, latency_ms=3.0))                   # its tumbling window closed
    assert store.late == 1
    assert all(k.start != 10_000 or k.window_kind != "tumbling-10s" for k in store.windows)
    assert all(acc.requests == 3 for acc in store.windows.values())   # still in open hoppers
    store = store.add(s(21_000, latency_ms=4.0))                   # open window: not late
    assert store.late == 1
    all_closed, store = store.close_due(now_ms=200_000, grace_ms=5_000)
    assert sum(summary.requests for k, summary in all_closed if k.window_kind == "tumbling-10s") \
        == 1                                                      # the late sample never reopened


def test_hopping_sample_partly_late_feeds_its_open_windows() -> None:
    _, store = WindowStore(SPECS).close_due(now_ms=75_000, grace_ms=5_000)   # through 70 000
    store = store.add(s(65_000, latency_ms=1.0))
    assert store.late == 1
    assert sorted(k.start for k in store.windows) == [20_000, 30_000, 40_000, 50_000, 60_000]


def test_closed_windows_come_oldest_first_per_backend_and_variant() -> None:
    store = WindowStore(SPECS).add_all([
        s(5_000, latency_ms=10.0, variant="canary"),
        s(6_000, latency_ms=20.0, variant="stable"),
        s(7_000, latency_ms=30.0),
        Sample(backend="perplexity", timestamp_ms=8_000, latency_ms=40.0, error=True),
    ])
    assert len(WindowStore(SPECS).keys_for(s(5_000, variant="canary"))) == 2 * (1 + 6)
    closed, _ = store.close_due(now_ms=10_000, grace_ms=0)
    by_key = {(k.backend, k.variant): summary for k, summary in closed}
    assert [k.end for k, _ in closed] == sorted(k.end for k, _ in closed)
    assert {k.window_kind for k, _ in closed} == {"tumbling-10s", "hopping-60s-10s"}
    assert by_key[("lightrag", None)].requests == 3                # backend-level: all variants
    assert by_key[("lightrag", "canary")].requests == 1
    assert by_key[("lightrag", "stable")].latency_p50_ms == pytest.approx(20.0, rel=0.01)
    assert by_key[("perplexity", None)].error_rate == 1.0
    assert ("perplexity", "canary") not in by_key


def test_store_is_a_value_and_round_trips_through_plain_dicts() -> None:
    empty = WindowStore(SPECS)
    store = empty.add_all([s(12_000, latency_ms=5.0, variant="a", quality=0.5),
                           s(31_000, error=True, cost_usd=0.125), s(44_000, latency_ms=0.0)])
    assert empty.windows == {}                                     # add returned a new store
    _, store = store.close_due(now_ms=40_000, grace_ms=1_000)
    store = store.add(s(1_000, latency_ms=1.0))
    assert store.late == 1 and store.windows
    data = json.loads(json.dumps(store.to_dict()))
    assert WindowStore.from_dict(data, SPECS) == store
    for acc in store.windows.values():
        assert WindowAccumulator.from_dict(json.loads(json.dumps(acc.to_dict()))) == acc
    assert WindowStore.from_dict(WindowStore(SPECS).to_dict(), SPECS) == WindowStore(SPECS)


def test_sample_rejects_impossible_latency() -> None:
    for bad in (-1.0, math.nan, math.inf):
        with pytest.raises(ValueError):
            s(latency_ms=bad)


def test_batch_add_shares_window_keys_only_within_a_grid_cell() -> None:
    # sizes and steps whose gcd (1 s) is smaller than any of them, timestamps across edges
    specs = (WindowSpec("tumbling", 4_000), WindowSpec("hopping", 7_000, 3_000))
    rng = random.Random(11)
    samples = [s(ts=rng.randrange(0, 30_000), latency_ms=float(rng.randint(1, 500)),
                 variant=rng.choice([None, "a"])) for _ in range(300)]
    one_by_one = WindowStore(specs)
    for sample in samples:
        one_by_one = one_by_one.add(sample)
    assert WindowStore(specs).add_all(samples) == one_by_one


def test_store_batch_equals_one_sample_at_a_time() -> None:
    """Batches fold each grid cell once and merge it into every window of the cell: the
    same windows, counts, sketches and late count as adding the samples one by one."""
    rng = random.Random(7)
    samples = [Sample(backend=rng.choice(["lightrag", "perplexity"]),
                      timestamp_ms=rng.randint(0, 90_000),
                      variant=rng.choice([None, "control", "treatment"]),
                      latency_ms=float(rng.randint(1, 5_000)), error=rng.random() < 0.1,
                      cost_usd=0.25 * rng.randint(0, 4))
               for _ in range(400)]
    _, start = WindowStore(SPECS).add(s(5_000, latency_ms=1.0)).close_due(45_000, 0)
    one_by_one = start
    for sample in samples:
        one_by_one = one_by_one.add(sample)
    batched = start.add_all(samples)
    assert batched.late == one_by_one.late > 0
    assert batched.windows.keys() == one_by_one.windows.keys()
    for key, acc in batched.windows.items():
        assert acc.summary() == one_by_one.windows[key].summary(), key

"""Windowed metrics per backend and variant: window ranges, aggregations and the window store.

Pure: callers pass ``timestamp_ms`` / ``now_ms``; nothing reads the clock or touches Kafka.
Windows are half-open ``[start, end)`` in epoch ms, aligned to multiples of their step; a
timestamp belongs to every window containing it (faust ``windows.py`` ``ranges()``). Metrics
are tiny ``initialize / agg / merge / result`` aggregations (quix-streams
``dataframe/windows/aggregations.py``, plus ``merge``). :class:`WindowStore` feeds each sample
to its windows per backend and per variant, and ``close_due(now_ms, grace_ms)``, ticked by a
timer, closes windows with ``end + grace_ms <= now_ms`` even when no later event arrives; a
window closes once, later samples for it are dropped and counted in ``late``. Every value
round-trips through plain dicts (``to_dict`` / ``from_dict``) for Faust tables and changelogs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from types import MappingProxyType
from typing import Any, ClassVar, Protocol, TypeVar

from cmo.domain.sketch import DEFAULT_RELATIVE_ACCURACY, QuantileSketch

S = TypeVar("S")
R_co = TypeVar("R_co", covariant=True)


def tumbling_range(timestamp_ms: int, size_ms: int) -> tuple[int, int]:
    """The one tumbling window ``[start, end)`` of length ``size_ms`` containing the timestamp."""
    if size_ms <= 0:
        raise ValueError(f"size_ms must be positive, got {size_ms}")
    start = timestamp_ms - timestamp_ms % size_ms
    return start, start + size_ms


def hopping_ranges(timestamp_ms: int, size_ms: int, step_ms: int) -> list[tuple[int, int]]:
    """All hopping windows ``[start, end)`` containing the timestamp, oldest first.

    Windows start at multiples of ``step_ms``; ``0 < step_ms <= size_ms`` (no gaps).
    """
    if not 0 < step_ms <= size_ms:
        raise ValueError(f"need 0 < step_ms <= size_ms, got step {step_ms}, size {size_ms}")
    latest = timestamp_ms - timestamp_ms % step_ms
    starts = range(latest, timestamp_ms - size_ms, -step_ms)
    return [(start, start + size_ms) for start in reversed(starts)]


@dataclass(frozen=True)
class WindowSpec:
    """One kind of window: tumbling when ``step_ms`` is None, else hopping."""

    kind: str
    size_ms: int
    step_ms: int | None = None

    def __post_init__(self) -> None:
        self.ranges(0)  # validates size and step

    def ranges(self, timestamp_ms: int) -> list[tuple[int, int]]:
        """The windows of this kind containing the timestamp."""
        if self.step_ms is None:
            return [tumbling_range(timestamp_ms, self.size_ms)]
        return hopping_ranges(timestamp_ms, self.size_ms, self.step_ms)


@dataclass(frozen=True, kw_only=True, slots=True)
class Sample:
    """One observation: a response, a quality score or a cost record, with only its fields set."""

    backend: str
    variant: str | None = None
    timestamp_ms: int
    latency_ms: float | None = None
    error: bool = False
    timeout: bool = False
    quality: float | None = None
    cost_usd: float = 0.0

    def __post_init__(self) -> None:
        if self.latency_ms is not None and not 0.0 <= self.latency_ms < math.inf:
            raise ValueError(f"latency_ms must be finite and >= 0, got {self.latency_ms}")

    @property
    def is_response(self) -> bool:
        """A response: it carries a latency, an error or a timeout."""
        return self.latency_ms is not None or self.error or self.timeout


class Aggregation(Protocol[S, R_co]):
    """A window metric: a state, how one sample and another state fold into it, its result."""

    def initialize(self) -> S: ...
    def agg(self, state: S, sample: Sample) -> S: ...
    def merge(self, left: S, right: S) -> S: ...
    def result(self, state: S) -> R_co: ...


class _Counter:
    """Counts the samples whose ``flag`` attribute (or property) is true."""

    flag: ClassVar[str]

    def initialize(self) -> int:
        return 0

    def agg(self, state: int, sample: Sample) -> int:
        return state + int(bool(getattr(sample, self.flag)))

    def merge(self, left: int, right: int) -> int:
        return left + right

    def result(self, state: int) -> int:
        return state


class Count(_Counter):
    """Responses (samples with a latency, an error or a timeout); quality/cost records excluded."""
    flag = "is_response"


class Errors(_Counter):
    """Responses that failed (a timeout is an error only if the caller marks it so)."""
    flag = "error"


class Timeouts(_Counter):
    """Responses that timed out."""
    flag = "timeout"


class _Rate:
    """Share of responses whose ``flag`` is true; state ``(responses, hits)``; 0.0 if none."""

    flag: ClassVar[str]

    def initialize(self) -> tuple[int, int]:
        return 0, 0

    def agg(self, state: tuple[int, int], sample: Sample) -> tuple[int, int]:
        return state[0] + int(sample.is_response), state[1] + int(bool(getattr(sample, self.flag)))

    def merge(self, left: tuple[int, int], right: tuple[int, int]) -> tuple[int, int]:
        return left[0] + right[0], left[1] + right[1]

    def result(self, state: tuple[int, int]) -> float:
        responses, hits = state
        return hits / responses if responses else 0.0


class ErrorRate(_Rate):
    """errors / responses."""
    flag = "error"


class TimeoutRate(_Rate):
    """timeouts / responses."""
    flag = "timeout"


class LatencyQuantiles:
    """p50/p95/p99 latency (ms) from a :class:`QuantileSketch`; None when no latency was seen."""

    def __init__(self, relative_accuracy: float = DEFAULT_RELATIVE_ACCURACY) -> None:
        self.relative_accuracy = relative_accuracy

    def initialize(self) -> QuantileSketch:
        return QuantileSketch(self.relative_accuracy)

    def agg(self, state: QuantileSketch, sample: Sample) -> QuantileSketch:
        return state if sample.latency_ms is None else state.add(sample.latency_ms)

    def merge(self, left: QuantileSketch, right: QuantileSketch) -> QuantileSketch:
        return left.merge(right)

    def result(self, state: QuantileSketch) -> tuple[float | None, float | None, float | None]:
        return state.quantile(0.5), state.quantile(0.95), state.quantile(0.99)


class MeanQuality:
    """Mean of the non-None quality scores and their count; state ``(sum, count)``."""

    def initialize(self) -> tuple[float, int]:
        return 0.0, 0

    def agg(self, state: tuple[float, int], sample: Sample) -> tuple[float, int]:
        return state if sample.quality is None else (state[0] + sample.quality, state[1] + 1)

    def merge(self, left: tuple[float, int], right: tuple[float, int]) -> tuple[float, int]:
        return left[0] + right[0], left[1] + right[1]

    def result(self, state: tuple[float, int]) -> tuple[float | None, int]:
        total, count = state
        return (total / count if count else None), count


class Cost:
    """Sum of ``cost_usd``."""

    def initialize(self) -> float:
        return 0.0

    def agg(self, state: float, sample: Sample) -> float:
        return state + sample.cost_usd

    def merge(self, left: float, right: float) -> float:
        return left + right

    def result(self, state: float) -> float:
        return state


COUNT, ERRORS, TIMEOUTS = Count(), Errors(), Timeouts()
ERROR_RATE, TIMEOUT_RATE = ErrorRate(), TimeoutRate()
LATENCY, QUALITY, COST = LatencyQuantiles(), MeanQuality(), Cost()


@dataclass(frozen=True)
class WindowSummary:
    """A closed window's metrics; the fields of the ``WindowMetrics`` event after the key."""

    requests: int
    errors: int
    timeouts: int
    error_rate: float
    timeout_rate: float
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    latency_p99_ms: float | None
    quality_mean: float | None
    quality_count: int
    cost_usd: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class WindowAccumulator:
    """The states of all aggregations for one window. Rates derive from the counts."""

    requests: int = 0
    errors: int = 0
    timeouts: int = 0
    latency: QuantileSketch = field(default_factory=LATENCY.initialize)
    quality: tuple[float, int] = (0.0, 0)
    cost_usd: float = 0.0

    def add(self, sample: Sample) -> WindowAccumulator:
        """The accumulator with one more sample."""
        return WindowAccumulator(**{n: a.agg(getattr(self, n), sample) for n, a in _STATES.items()})

    def add_all(self, samples: Sequence[Sample]) -> WindowAccumulator:
        """The accumulator with all samples, in one pass (equal to folding :meth:`add`)."""
        responses = [s for s in samples if s.is_response]
        quality = [s.quality for s in samples if s.quality is not None]
        cost = self.cost_usd
        for s in samples:
            cost += s.cost_usd
        return WindowAccumulator(
            self.requests + len(responses), self.errors + sum(1 for s in responses if s.error),
            self.timeouts + sum(1 for s in responses if s.timeout),
            self.latency.add_all([s.latency_ms for s in samples if s.latency_ms is not None]),
            (self.quality[0] + sum(quality), self.quality[1] + len(quality)), cost)

    def merge(self, other: WindowAccumulator) -> WindowAccumulator:
        """The accumulator of both inputs' samples (float sums equal up to rounding)."""
        return WindowAccumulator(
            **{n: a.merge(getattr(self, n), getattr(other, n)) for n, a in _STATES.items()})

    def summary(self) -> WindowSummary:
        """The results of all aggregations."""
        p50, p95, p99 = LATENCY.result(self.latency)
        quality_mean, quality_count = QUALITY.result(self.quality)
        return WindowSummary(
            requests=COUNT.result(self.requests), errors=ERRORS.result(self.errors),
            timeouts=TIMEOUTS.result(self.timeouts),
            error_rate=ERROR_RATE.result((self.requests, self.errors)),
            timeout_rate=TIMEOUT_RATE.result((self.requests, self.timeouts)),
            latency_p50_ms=p50, latency_p95_ms=p95, latency_p99_ms=p99,
            quality_mean=quality_mean, quality_count=quality_count,
            cost_usd=COST.result(self.cost_usd),
        )

    def to_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "errors": self.errors, "timeouts": self.timeouts,
                "latency": self.latency.to_dict(), "quality_sum": self.quality[0],
                "quality_count": self.quality[1], "cost_usd": self.cost_usd}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WindowAccumulator:
        return cls(int(data["requests"]), int(data["errors"]), int(data["timeouts"]),
                   QuantileSketch.from_dict(data["latency"]),
                   (float(data["quality_sum"]), int(data["quality_count"])),
                   float(data["cost_usd"]))


_STATES: dict[str, Aggregation[Any, Any]] = {
    "requests": COUNT, "errors": ERRORS, "timeouts": TIMEOUTS, "latency": LATENCY,
    "quality": QUALITY, "cost_usd": COST,
}
"""Which aggregation keeps each field of :class:`WindowAccumulator`."""


@dataclass(frozen=True)
class WindowKey:
    """Which window: per backend when ``variant`` is None, else per backend and variant."""

    backend: str
    variant: str | None
    window_kind: str
    start: int
    end: int

    def sort_key(self) -> tuple[int, int, str, str, bool, str]:
        return (self.end, self.start, self.window_kind, self.backend,
                self.variant is not None, self.variant or "")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WindowKey:
        return cls(**data)


def metrics_fields(key: WindowKey, summary: WindowSummary) -> dict[str, Any]:
    """Keyword arguments of a ``WindowMetrics`` event, all but the envelope fields."""
    return {"backend": key.backend, "variant": key.variant, "window_kind": key.window_kind,
            "window_start": key.start, "window_end": key.end, **summary.to_dict()}


@dataclass(frozen=True)
class WindowStore:
    """Open windows, the close watermark and the late counter; a value, updated by copy.

    ``closed_through_ms``: every window with ``end <= closed_through_ms`` has closed (None
    before the first close). ``late``: samples dropped from at least one closed window.
    """

    specs: tuple[WindowSpec, ...]
    windows: Mapping[WindowKey, WindowAccumulator] = field(default_factory=dict)
    closed_through_ms: int | None = None
    late: int = 0

    def __post_init__(self) -> None:
        kinds = [spec.kind for spec in self.specs]
        if len(set(kinds)) != len(kinds):
            raise ValueError(f"window kinds must be unique, got {kinds}")
        object.__setattr__(self, "windows", MappingProxyType(_thaw(self.windows)))

    def keys_for(self, sample: Sample) -> list[WindowKey]:
        """Every window the sample belongs to, per backend and (if it has one) per variant."""
        variants = (None,) if sample.variant is None else (None, sample.variant)
        return [WindowKey(sample.backend, variant, spec.kind, start, end)
                for spec in self.specs
                for start, end in spec.ranges(sample.timestamp_ms)
                for variant in variants]

    def add(self, sample: Sample) -> WindowStore:
        """The store with the sample added to each of its windows still open."""
        return self.add_all((sample,))

    def add_all(self, samples: Iterable[Sample]) -> WindowStore:
        """The store with all samples added (one copy of the windows, not one per sample).

        Samples of one backend/variant within one grid cell belong to exactly the same
        windows, so each cell is folded into one accumulator once and that accumulator is
        merged into each of its windows (equal to adding the samples one by one; float
        sums up to rounding).
        """
        windows = _thaw(self.windows)
        late = self.late
        grid = _grid_ms(self.specs)
        cells: dict[tuple[str, str | None, int], list[Sample]] = {}
        for sample in samples:
            cells.setdefault((sample.backend, sample.variant, sample.timestamp_ms // grid),
                             []).append(sample)
        closed = self.closed_through_ms
        for members in cells.values():
            folded: WindowAccumulator | None = None
            missed = False
            for key in self.keys_for(members[0]):
                if closed is not None and key.end <= closed:
                    missed = True  # closed windows stay closed: the samples miss them
                    continue
                if folded is None:
                    folded = _EMPTY.add_all(members)
                old = windows.get(key)
                windows[key] = folded if old is None else old.merge(folded)
            late += len(members) if missed else 0
        return replace(self, windows=windows, late=late)

    def close_due(self, now_ms: int, grace_ms: int) -> tuple[list[tuple[WindowKey, WindowSummary]], WindowStore]:
        """Close every window with ``end + grace_ms <= now_ms``: their summaries, oldest first,
        and the store without them. Call it from a timer; no later sample is needed."""
        if grace_ms < 0:
            raise ValueError(f"grace_ms must be >= 0, got {grace_ms}")
        through = now_ms - grace_ms
        if self.closed_through_ms is not None:
            through = max(through, self.closed_through_ms)
        due = sorted((key for key in self.windows if key.end <= through),
                     key=WindowKey.sort_key)
        closed = [(key, self.windows[key].summary()) for key in due]
        remaining = {key: acc for key, acc in self.windows.items() if key.end > through}
        return closed, replace(self, windows=remaining, closed_through_ms=through)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON state; the specs are configuration and are passed to :meth:`from_dict`."""
        windows = [{"key": key.to_dict(), "acc": self.windows[key].to_dict()}
                   for key in sorted(self.windows, key=WindowKey.sort_key)]
        return {"windows": windows, "closed_through_ms": self.closed_through_ms, "late": self.late}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], specs: Iterable[WindowSpec]) -> WindowStore:
        closed = data["closed_through_ms"]
        windows = {WindowKey.from_dict(w["key"]): WindowAccumulator.from_dict(w["acc"])
                   for w in data["windows"]}
        return cls(tuple(specs), windows, None if closed is None else int(closed), int(data["late"]))


_EMPTY = WindowAccumulator()


def _grid_ms(specs: Iterable[WindowSpec]) -> int:
    """The largest step dividing every window size and step: two timestamps in the same
    grid cell (``ts // grid``) belong to exactly the same windows."""
    grid = 0
    for spec in specs:
        grid = math.gcd(grid, spec.size_ms, spec.step_ms or spec.size_ms)
    return max(grid, 1)


def _thaw(windows: Mapping[WindowKey, WindowAccumulator]) -> dict[WindowKey, WindowAccumulator]:
    """A mutable copy; ``.copy()`` of a mapping proxy is ~20x faster than ``dict(proxy)``."""
    return windows.copy() if isinstance(windows, dict | MappingProxyType) else dict(windows)

"""The answer-quality badge shown in the chat (product design thresholds). Pure.

Composite quality in [0, 1]: at least 0.9 is Excellent, 0.8 Good, 0.7 Acceptable, below
that Low quality. No score (e.g. a web answer that was not scored inline) gets no badge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Level = Literal["excellent", "good", "acceptable", "low"]

THRESHOLDS: tuple[tuple[float, Level, str], ...] = (
    (0.9, "excellent", "Excellent"),
    (0.8, "good", "Good"),
    (0.7, "acceptable", "Acceptable"),
)


@dataclass(frozen=True, slots=True)
class QualityBadge:
    level: Level
    label: str
    score: float

    @property
    def text(self) -> str:
        """E.g. ``Quality: Good (0.84)``."""
        return f"Quality: {self.label} ({self.score:.2f})"


def quality_badge(score: float | None) -> QualityBadge | None:
    """The badge for a composite score, or None when the answer was not scored."""
    if score is None or math.isnan(score):
        return None
    clamped = min(max(score, 0.0), 1.0)
    for threshold, level, label in THRESHOLDS:
        if clamped >= threshold:
            return QualityBadge(level, label, clamped)
    return QualityBadge("low", "Low quality", clamped)

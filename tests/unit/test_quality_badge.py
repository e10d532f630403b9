"""Quality badge thresholds from the product design."""

from __future__ import annotations

import pytest

from cmo.domain.quality_badge import quality_badge


@pytest.mark.parametrize("score, label", [
    (1.0, "Excellent"), (0.9, "Excellent"), (0.8999, "Good"), (0.8, "Good"),
    (0.7999, "Acceptable"), (0.7, "Acceptable"), (0.6999, "Low quality"), (0.0, "Low quality"),
    (1.7, "Excellent"), (-0.2, "Low quality"),
])
def test_thresholds(score: float, label: str) -> None:
    badge = quality_badge(score)
    assert badge is not None and badge.label == label


def test_text_and_missing_score() -> None:
    badge = quality_badge(0.842)
    assert badge is not None and badge.text == "Quality: Good (0.84)" and badge.level == "good"
    assert quality_badge(None) is None
    assert quality_badge(float("nan")) is None

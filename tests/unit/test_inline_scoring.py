"""Inline scoring gives up on time and on scorer errors instead of blocking the user."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from cmo.exceptions import CMOError
from cmo.quality.inline import score_within
from cmo.quality.model import Passage, QualityScore, make_score


class Scorer:
    name = "test"

    def __init__(self, delay: float = 0.0, fail: bool = False) -> None:
        self.delay, self.fail = delay, fail

    async def score(self, question: str, answer: str, passages: Sequence[Passage]) -> QualityScore:
        await asyncio.sleep(self.delay)
        if self.fail:
            raise CMOError("scorer broke")
        return make_score(0.9, 0.9, 0.9, self.name)


def test_score_within_budget() -> None:
    assert asyncio.run(score_within(Scorer(), "q", "a", [], 1.0)).composite == 0.9  # type: ignore[union-attr]


def test_slow_or_failing_scorer_gives_none() -> None:
    assert asyncio.run(score_within(Scorer(delay=1.0), "q", "a", [], 0.05)) is None
    assert asyncio.run(score_within(Scorer(fail=True), "q", "a", [], 1.0)) is None

"""Scoring on the user's path, within a time budget (for the router's < 0.6 fallback)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from cmo.exceptions import CMOError
from cmo.quality.model import Passage, QualityScore, QualityScorer

logger = logging.getLogger(__name__)


async def score_within(scorer: QualityScorer, question: str, answer: str,
                       passages: Sequence[Passage], budget_s: float) -> QualityScore | None:
    """The score, or None when the scorer needs longer than ``budget_s`` or fails.

    None means "unknown": the router then keeps the answer it has rather than blocking
    the user or falling back on a guess.
    """
    try:
        return await asyncio.wait_for(scorer.score(question, answer, passages), budget_s)
    except TimeoutError:
        logger.info("inline quality scoring exceeded its %.0f ms budget", budget_s * 1000)
    except CMOError as exc:
        logger.warning("inline quality scoring failed: %s", exc)
    return None

"""The offline scorer on real PubMedQA abstracts with the real local embedding model."""

from __future__ import annotations

import asyncio
import json
import re

import pytest

from cmo.adapters.embeddings import LocalEmbedder
from cmo.quality.model import Passage, Verdict
from cmo.quality.offline import OfflineScorer
from tests.conftest import PUBMEDQA

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not PUBMEDQA.exists(), reason="PubMedQA dev data not present")]

N = 150


def auc(pos: list[float], neg: list[float]) -> float:
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


@pytest.fixture(scope="module")
def scorer() -> OfflineScorer:
    return OfflineScorer(LocalEmbedder())


@pytest.fixture(scope="module")
def items() -> list[dict[str, object]]:
    return list(json.loads(PUBMEDQA.read_text()).values())[:N]


def test_answers_from_the_right_abstract_score_higher(scorer: OfflineScorer, items: list) -> None:  # type: ignore[type-arg]
    async def run():  # type: ignore[no-untyped-def]
        pos, neg = [], []
        for i, item in enumerate(items):
            passages = [Passage(c) for c in item["CONTEXTS"]]
            other = items[(i + 7) % len(items)]
            pos.append(await scorer.score(item["QUESTION"], item["LONG_ANSWER"], passages))
            neg.append(await scorer.score(item["QUESTION"], other["LONG_ANSWER"], passages))
        return pos, neg

    pos, neg = asyncio.run(run())
    for metric in ("accuracy", "factual", "relevance", "composite"):
        value = auc([getattr(s, metric) for s in pos], [getattr(s, metric) for s in neg])
        assert value >= 0.9, f"{metric} ROC AUC {value:.3f}"


def _sentence(items: list, pattern: str) -> tuple[dict, str]:  # type: ignore[type-arg]
    for item in items:
        for context in item["CONTEXTS"]:
            for sentence in re.split(r"(?<=\.)\s+", context):
                if (re.search(pattern, sentence) and 12 < len(sentence.split()) < 40
                        and not re.search(r"\b(not|no|never|without)\b", sentence)):
                    return item, sentence
    raise AssertionError(f"no sentence matching {pattern}")


def test_mutated_claims_are_not_supported(scorer: OfflineScorer, items: list) -> None:  # type: ignore[type-arg]
    item, sentence = _sentence(items, r"\b\d+(\.\d+)?%")
    number = re.search(r"\b(\d+(?:\.\d+)?)%", sentence).group(1)  # type: ignore[union-attr]
    changed = sentence.replace(f"{number}%", f"{float(number) + 17:g}%", 1)
    invented = sentence.rstrip(".") + " in patients treated with Zorbatinib at the Ulmstadt Clinic."
    neg_item, neg_sentence = _sentence(items, r"\b(was|were)\b")
    flipped = re.sub(r"\b(was|were)\b", r"\1 not", neg_sentence, count=1)
    cases = {"original": (item, sentence), "changed": (item, changed), "invented": (item, invented),
             "neg_original": (neg_item, neg_sentence), "flipped": (neg_item, flipped)}

    async def verdicts():  # type: ignore[no-untyped-def]
        return {name: await scorer.score(it["QUESTION"], answer, [Passage(c) for c in it["CONTEXTS"]])
                for name, (it, answer) in cases.items()}

    scores = asyncio.run(verdicts())
    assert scores["original"].claims[0].verdict is Verdict.SUPPORTED
    assert scores["neg_original"].claims[0].verdict is Verdict.SUPPORTED
    for name in ("changed", "flipped", "invented"):
        claim = scores[name].claims[0]
        assert claim.verdict is not Verdict.SUPPORTED, (name, claim)
        base = "neg_original" if name == "flipped" else "original"
        assert scores[name].factual < scores[base].factual
        assert scores[name].issues
    assert scores["changed"].claims[0].verdict is Verdict.CONTRADICTED
    assert "Zorbatinib" in scores["invented"].claims[0].reason


def test_identical_input_gives_identical_scores(scorer: OfflineScorer, items: list) -> None:  # type: ignore[type-arg]
    item = items[3]
    passages = [Passage(c) for c in item["CONTEXTS"]]
    first = asyncio.run(scorer.score(item["QUESTION"], item["LONG_ANSWER"], passages))
    second = asyncio.run(OfflineScorer(LocalEmbedder()).score(item["QUESTION"], item["LONG_ANSWER"], passages))
    assert first == second


def test_empty_answer_scores_zero(scorer: OfflineScorer) -> None:
    score = asyncio.run(scorer.score("What is NMR?", "", [Passage("NMR is spectroscopy.")]))
    assert score.composite == 0 and score.issues == ("the answer is empty",)

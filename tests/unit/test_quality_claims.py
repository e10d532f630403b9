"""Claim checks: numbers, negation, invented entities, support — one parametrized table."""

from __future__ import annotations

import pytest

from cmo.quality.claims import Evidence, check_claim, negated, numbers, split_claims
from cmo.quality.model import Verdict, composite, make_score

SOURCE = ("Plasma leucine was 45% higher in patients with insulin resistance. "
          "Valine did not differ between the groups. "
          "Samples were analysed by LC-MS at the Karolinska Institute.")
SENTENCES = [s.strip() + "." for s in SOURCE.split(".") if s.strip()]


def _evidence(similarity: float = 0.9) -> list[Evidence]:
    return [Evidence(0, s, similarity) for s in SENTENCES]


@pytest.mark.parametrize("claim, verdict, reason", [
    ("Plasma leucine was 45% higher in patients with insulin resistance.", Verdict.SUPPORTED, "stated"),
    ("Plasma leucine was 62% higher in patients with insulin resistance.", Verdict.CONTRADICTED, "62%"),
    ("Plasma leucine was 45% higher in 300 patients with insulin resistance.", Verdict.UNSUPPORTED, "300"),
    ("Valine differed between the groups.", Verdict.CONTRADICTED, "opposite"),
    ("Plasma leucine was not higher in patients with insulin resistance.", Verdict.CONTRADICTED, "opposite"),
    ("Samples were analysed by GC-MS at the Karolinska Institute.", Verdict.UNSUPPORTED, "GC-MS"),
    ("Samples were analysed by LC-MS at the Mayo Clinic.", Verdict.UNSUPPORTED, "Mayo Clinic"),
])
def test_claim_verdicts(claim: str, verdict: Verdict, reason: str) -> None:
    check = check_claim(claim, _evidence(), SOURCE)
    assert check.verdict is verdict, check.reason
    assert reason in check.reason or reason in claim


def test_low_similarity_is_unsupported() -> None:
    check = check_claim("Cholesterol predicts stroke in elderly women.", _evidence(0.05), SOURCE)
    assert check.verdict is Verdict.UNSUPPORTED and check.score < 0.33


@pytest.mark.parametrize("text, expected", [
    ("1,200 samples and 3.50 mM", {"1200", "3.5"}),
    ("45 % of 12 patients", {"45%", "12"}),
    ("no numbers here", set()),
])
def test_numbers(text: str, expected: set[str]) -> None:
    assert numbers(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("Valine did not differ.", True), ("There was no effect.", True),
    ("It wasn't significant.", True), ("Valine differed.", False),
])
def test_negation(text: str, expected: bool) -> None:
    assert negated(text) is expected


def test_claims_keep_their_citations() -> None:
    claims = split_claims("Leucine rose in insulin resistance [1]. Valine was unchanged [2, 3]. Ok.")
    assert claims == [("Leucine rose in insulin resistance.", (1,)),
                      ("Valine was unchanged.", (2, 3))]


def test_composite_and_threshold() -> None:
    assert composite(1.0, 0.5, 0.0) == pytest.approx(0.55)
    score = make_score(0.9, 0.8, 0.7, "offline", threshold=0.8)
    assert score.composite == pytest.approx(0.81) and score.meets_threshold and not score.fallback
    low = make_score(0.5, 0.5, 0.5, "offline")
    assert not low.meets_threshold and low.fallback
    assert make_score(1.5, -1, 0.5, "offline").relevance == 1.0

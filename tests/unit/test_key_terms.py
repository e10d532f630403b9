"""Unit tests of the RAKE-style key terms that make plain-word passages reachable."""

from __future__ import annotations

from cmo.domain.key_terms import candidate_runs, key_terms
from cmo.domain.kg_extract import CONCEPT, extract_graph

TORSION = ("Ovarian torsion in children is treated by detorsion or oophorectomy. "
           "We reviewed girls with ovarian torsion at two hospitals. "
           "Oophorectomy was performed in most cases, although detorsion preserved the ovary. "
           "Ovarian torsion recurred rarely after detorsion.")


def test_runs_break_at_stopwords_punctuation_and_adverbs() -> None:
    sentence = "Tidal volume, measured carefully, predicts extubation failure in infants."
    runs = [" ".join(sentence[s:e] for s, e in run) for run in candidate_runs(sentence)]
    assert runs == ["Tidal volume", "predicts extubation failure", "infants"]


def test_key_terms_prefer_repeated_phrases_and_skip_generic_words() -> None:
    terms = key_terms(TORSION, 4)
    assert terms[:3] == ["ovarian torsion", "detorsion", "oophorectomy"]
    assert not {"cases", "performed", "hospitals"} & set(terms)
    assert all(not (a != b and a in b.split()) for a in terms for b in terms), terms
    assert key_terms(TORSION, 0) == []
    assert key_terms(TORSION, 4) == key_terms(TORSION, 4)  # deterministic


def test_words_said_once_are_not_key_terms() -> None:
    assert key_terms("Atropine was given.", 4) == []


def test_key_terms_become_concept_entities_of_the_chunk() -> None:
    graph = extract_graph(TORSION)
    concepts = {e.name for e in graph.entities if e.entity_type == CONCEPT}
    assert {"ovarian torsion", "detorsion", "oophorectomy"} <= concepts
    assert ("detorsion", "ovarian torsion") in {(r.source, r.target) for r in graph.relations}
    assert not any(e.entity_type == CONCEPT
                   for e in extract_graph(TORSION, key_term_limit=0).entities)

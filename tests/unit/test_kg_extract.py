"""Unit tests of the deterministic offline entity/relation extractor."""

from __future__ import annotations

import pytest

from cmo.domain.kg_extract import (
    ACRONYM,
    BIOMARKER,
    CONCEPT,
    DISEASE,
    ENTITY_TYPES,
    ENZYME,
    METABOLITE,
    NAMED_ENTITY,
    ORGANIZATION,
    SPECIMEN,
    STUDY,
    TECHNIQUE,
    build_custom_kg,
    extract_graph,
    find_entities,
    query_keywords,
    relation_keywords,
    split_sentences,
)

# sentence, entities that must be found (name, type), names that must not be found
ENTITY_TABLE: list[tuple[str, list[tuple[str, str]], list[str]]] = [
    ("Plasma samples were analysed by LC-MS and GC/MS.",
     [("plasma", SPECIMEN), ("LC-MS", TECHNIQUE), ("GC-MS", TECHNIQUE)], []),
    ("We used 1H NMR spectroscopy and liquid chromatography-mass spectrometry.",
     [("NMR", TECHNIQUE), ("LC-MS", TECHNIQUE)], ["H"]),
    ("Untargeted metabolomics of urine identified lactate and citrate.",
     [("untargeted metabolomics", TECHNIQUE), ("urine", SPECIMEN), ("lactate", METABOLITE),
      ("citrate", METABOLITE)], ["metabolomics"]),
    ("Serum uric acid and bile acids were elevated.",
     [("serum", SPECIMEN), ("uric acid", METABOLITE), ("bile acids", METABOLITE)], []),
    ("Patients with chronic kidney disease had hyperkalemia and proteinuria.",
     [("chronic kidney disease", DISEASE), ("hyperkalemia", DISEASE),
      ("proteinuria", DISEASE)], ["patients with chronic kidney disease"]),
    ("Breast cancer and metabolic syndrome were associated with fibrosis and hepatitis.",
     [("breast cancer", DISEASE), ("metabolic syndrome", DISEASE), ("fibrosis", DISEASE),
      ("hepatitis", DISEASE)], []),
    ("The diagnosis of Alzheimer's disease relied on CSF biomarkers.",
     [("Alzheimer's disease", DISEASE), ("CSF", SPECIMEN)], ["diagnosis"]),
    ("HbA1c and C-reactive protein predicted type 2 diabetes.",
     [("HbA1c", BIOMARKER), ("CRP", BIOMARKER), ("diabetes", DISEASE)], []),
    ("Lactate dehydrogenase and alanine transaminase activity rose, unlike serum lipase.",
     [("lactate dehydrogenase", ENZYME), ("alanine transaminase", ENZYME), ("serum", SPECIMEN),
      ("lipase", ENZYME)], ["lactate", "alanine", "serum lipase"]),
    ("The study was run at Mayo Clinic Hospital within the Framingham Heart Study.",
     [("Mayo Clinic Hospital", ORGANIZATION), ("Framingham Heart Study", STUDY)], ["The"]),
    ("Patients from North Carolina received COVID-19 vaccines and IL-6 assays.",
     [("North Carolina", NAMED_ENTITY), ("COVID-19", ACRONYM), ("IL-6", ACRONYM)], []),
    ("DBEs were done; the OR was 1.5 (95% CI 1.1-2.0) in stage III.",
     [("DBE", ACRONYM)], ["OR", "CI", "III", "DBEs"]),
    ("The results were not significant in this small sample.", [], []),
]


@pytest.mark.parametrize(("sentence", "expected", "absent"), ENTITY_TABLE)
def test_find_entities(sentence: str, expected: list[tuple[str, str]],
                       absent: list[str]) -> None:
    found = find_entities(sentence)
    for item in expected:
        assert item in found, f"{item} not in {found}"
    names = {name for name, _type in found}
    for name in absent:
        assert name not in names
    assert len(names) == len(found), "entities are reported once per sentence"
    assert all(entity_type in ENTITY_TYPES for _name, entity_type in found)


@pytest.mark.parametrize(("text", "sentences"), [
    ("One. Two! Three?", ["One.", "Two!", "Three?"]),
    ("Measured by LC-MS, e.g. in plasma. Next.", ["Measured by LC-MS, e.g. in plasma.", "Next."]),
    ("As Smith et al. reported. Then J. Doe replied.",
     ["As Smith et al. reported.", "Then J. Doe replied."]),
    ("A value of 3.5 mmol/L was seen. It rose.", ["A value of 3.5 mmol/L was seen.", "It rose."]),
    ("First line\nsecond line", ["First line", "second line"]),
    ("", []),
])
def test_split_sentences(text: str, sentences: list[str]) -> None:
    assert split_sentences(text) == sentences


@pytest.mark.parametrize(("sentence", "cues"), [
    ("Lactate was associated with sepsis.", ("co-occurrence", "association")),
    ("Glucose increased while insulin decreased.", ("co-occurrence", "increase", "decrease")),
    ("NMR was used.", ("co-occurrence",)),
])
def test_relation_keywords(sentence: str, cues: tuple[str, ...]) -> None:
    assert relation_keywords(sentence) == cues


TEXT = ("Plasma lactate was measured by LC-MS in sepsis. "
        "Lactate and sepsis were associated in the validation cohort. "
        "NMR confirmed the finding.")


def test_extract_graph_descriptions_are_verbatim_sentences_and_weights_count() -> None:
    graph = extract_graph(TEXT)
    entities = {e.name: e for e in graph.entities}
    assert set(entities) == {"plasma", "lactate", "LC-MS", "sepsis", "NMR", "validation cohort"}
    assert entities["validation cohort"].entity_type == CONCEPT
    assert entities["lactate"].mentions == 2
    for entity in graph.entities:
        assert entity.description in split_sentences(TEXT)
        assert entity.name.lower() in entity.description.lower() or entity.name == "LC-MS"
    relations = {(r.source, r.target): r for r in graph.relations}
    assert relations[("lactate", "sepsis")].weight == 2.0
    assert relations[("LC-MS", "plasma")].weight == 1.0
    assert "association" not in relations[("LC-MS", "plasma")].keywords
    assert all(r.source < r.target for r in graph.relations)
    assert not any("NMR" in pair for pair in relations), "NMR shares no sentence"


def test_extract_graph_is_deterministic_and_bounded() -> None:
    assert extract_graph(TEXT) == extract_graph(TEXT)
    crowded = "NMR, LC-MS, GC-MS, HPLC, UPLC, ESI, PCA, PLS-DA, MALDI and CE-MS were compared."
    graph = extract_graph(crowded, max_entities_per_sentence=4)
    assert len(graph.entities) == 10
    assert len(graph.relations) == 6


def test_custom_kg_shape() -> None:
    payload = build_custom_kg([("doc1-c0", TEXT), ("doc1-c1", "Urine NMR of diabetes.")],
                              file_path="doc1")
    assert [c["source_id"] for c in payload["chunks"]] == ["doc1-c0", "doc1-c1"]
    assert {c["content"] for c in payload["chunks"]} == {TEXT, "Urine NMR of diabetes."}
    for entity in payload["entities"]:
        assert set(entity) == {"entity_name", "entity_type", "description", "source_id",
                               "file_path"}
    nmr_sources = {e["source_id"] for e in payload["entities"] if e["entity_name"] == "NMR"}
    assert nmr_sources == {"doc1-c0", "doc1-c1"}
    for rel in payload["relationships"]:
        assert set(rel) == {"src_id", "tgt_id", "description", "keywords", "weight",
                            "source_id", "file_path"}
        assert rel["keywords"].startswith("co-occurrence")
        assert rel["weight"] >= 1.0


@pytest.mark.parametrize(("question", "low", "high_words"), [
    ("Is plasma lactate by LC-MS a biomarker of sepsis?",
     ["plasma", "lactate", "LC-MS", "biomarker", "sepsis"], ["plasma", "lactate", "sepsis"]),
    ("Can tailored interventions increase mammography use among HMO women?",
     ["HMO", "tailored", "mammography"], ["mammography", "HMO"]),
    ("Is it?", [], ["Is it?"]),
])
def test_query_keywords(question: str, low: list[str], high_words: list[str]) -> None:
    keywords = query_keywords(question)
    for term in low:
        assert term in keywords.low_level
    assert keywords.high_level, "LightRAG needs at least one keyword to skip its LLM"
    for word in high_words:
        assert word in keywords.high_level[0]
    assert len(keywords.low_level) == len({t.lower() for t in keywords.low_level})

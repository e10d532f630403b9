"""Deterministic, offline entity and relation extraction for clinical metabolomics text.

No language model: entities come from a small built-in lexicon (techniques, metabolites,
biomarkers, specimens, diseases) and from surface patterns — disease names (``-emia``,
``-uria``, ``-osis``, ``-itis``, ``... cancer/syndrome/disease``), ``... acid``
metabolites, ``-ase`` enzymes, acronyms (``LC-MS``) and capitalised names. Each entity is
described by a verbatim sentence it occurs in; two entities in the same sentence are
related, weighted by the number of sentences they share. The output is shaped for
LightRAG's custom-KG insert (``entities`` / ``relationships`` records).

Pure: no I/O, no clock, no randomness — the same text always gives the same graph.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from cmo.domain.key_terms import WORD_RE as _WORD_RE
from cmo.domain.key_terms import key_terms
from cmo.domain.key_terms import word_set as _words
from cmo.domain.sentences import split_sentences as _split

logger = logging.getLogger(__name__)

ENTITY_TYPES = (TECHNIQUE, METABOLITE, BIOMARKER, SPECIMEN, DISEASE, ENZYME, ACRONYM,
                ORGANIZATION, STUDY, NAMED_ENTITY, CONCEPT) = (
    "technique", "metabolite", "biomarker", "specimen", "disease", "enzyme", "acronym",
    "organization", "study", "named_entity", "concept")

MAX_ENTITIES_PER_SENTENCE = 8
"""Only the first entities of a sentence are paired, bounding relations to 28 a sentence."""

KEY_TERMS_PER_CHUNK = 4
"""Key terms (:mod:`cmo.domain.key_terms`) of a chunk added as ``concept`` entities, so a
passage in plain lower-case words still has entities for graph retrieval to reach it."""

# type | canonical name | other spellings (matched case-insensitively, whole words)
_LEXICON_TEXT = """
technique|LC-MS|LC/MS|LCMS|liquid chromatography-mass spectrometry|liquid chromatography mass spectrometry
technique|LC-MS/MS|LC-MS-MS|liquid chromatography-tandem mass spectrometry
technique|GC-MS|GC/MS|GCMS|gas chromatography-mass spectrometry|gas chromatography mass spectrometry
technique|NMR|NMR spectroscopy|1H NMR|1H-NMR|proton NMR|nuclear magnetic resonance|magnetic resonance spectroscopy
technique|mass spectrometry|MS/MS|tandem mass spectrometry
technique|HPLC|high-performance liquid chromatography|high performance liquid chromatography
technique|UPLC|UHPLC|ultra-performance liquid chromatography
technique|CE-MS|capillary electrophoresis-mass spectrometry
technique|MALDI|MALDI-TOF|matrix-assisted laser desorption ionization
technique|ESI|electrospray ionization
technique|metabolomics|metabonomics|metabolic profiling|metabolite profiling
technique|untargeted metabolomics|non-targeted metabolomics
technique|PCA|principal component analysis
technique|PLS-DA|partial least squares discriminant analysis
technique|ROC analysis|ROC curve|receiver operating characteristic
*technique|targeted metabolomics|lipidomics|proteomics|genomics|OPLS-DA|isotope dilution
metabolite|glucose|blood glucose|plasma glucose
metabolite|lactate|lactic acid
metabolite|cholesterol|LDL cholesterol|HDL cholesterol
metabolite|triglycerides|triglyceride|triacylglycerols
metabolite|acylcarnitines|acylcarnitine|carnitine
metabolite|ketone bodies|3-hydroxybutyrate|beta-hydroxybutyrate|acetoacetate
metabolite|TMAO|trimethylamine N-oxide
metabolite|phospholipids|phospholipid|phosphatidylcholine|lysophosphatidylcholine
metabolite|sphingolipids|ceramide|ceramides|sphingomyelin
metabolite|branched-chain amino acids|BCAA|BCAAs
*metabolite|pyruvate|citrate|succinate|creatinine|urea|homocysteine|bilirubin|cortisol
*metabolite|glutamine|glutamate|alanine|glycine|leucine|isoleucine|valine|tryptophan|tyrosine
*metabolite|phenylalanine|serine|proline|arginine|histidine|methionine|lysine|cysteine
*metabolite|taurine|ornithine|citrulline|kynurenine|cholesterol esters
biomarker|HbA1c|glycated hemoglobin|hemoglobin A1c|haemoglobin A1c
biomarker|CRP|C-reactive protein
biomarker|PSA|prostate-specific antigen
biomarker|BNP|NT-proBNP
*biomarker|insulin|albumin|troponin
*specimen|plasma|serum|saliva
specimen|urine|urinary
specimen|CSF|cerebrospinal fluid
specimen|dried blood spots|dried blood spot|DBS
specimen|feces|faeces|stool
specimen|tissue biopsy|biopsy|biopsies
disease|diabetes|diabetes mellitus|type 2 diabetes|type 1 diabetes|T2D|T2DM|T1D
disease|inborn errors of metabolism|inborn error of metabolism
*disease|obesity|hypertension|asthma|sepsis|dementia|depression|schizophrenia|autism|stroke|HIV
"""


def _parse_lexicon(text: str) -> dict[str, tuple[str, str]]:
    """Lower-cased spelling -> (canonical name, entity type)."""
    table: dict[str, tuple[str, str]] = {}
    for line in text.strip().splitlines():
        entity_type, canonical, *variants = line.lstrip("*").split("|")
        if line.startswith("*"):  # a list of names, each its own canonical form
            for name in (canonical, *variants):
                table[name.lower()] = (name, entity_type)
            continue
        for spelling in (canonical, *variants):
            table[spelling.lower()] = (canonical, entity_type)
    return table


_LEXICON = _parse_lexicon(_LEXICON_TEXT)
_LEXICON_RE = re.compile(
    r"(?<![\w-])(?:"
    + "|".join(re.escape(s) for s in sorted(_LEXICON, key=len, reverse=True))
    + r")(?![\w-])",
    re.IGNORECASE,
)


_STOPWORDS = _words("""
a about above after again against all also am among an and any are as at be been before
being below between both but by can could did do does doing during each either few for
from further had has have having he her here hers him his how i if in into is it its
itself may might more most must no nor not now of off on once only or other our ours out
over own per same she should since so some such than that the their them then there these
they this those through to too under until up upon us very via was we were what when where
whether which while who whom whose why will with within without would yet you your""")
_QUESTION_WORDS = _words("does do did is are was were can could should would will how what "
                         "which who whom whose why when where whether there any")
# Words that end a disease-name modifier run (walking left from the head noun).
_NON_MODIFIERS = _STOPWORDS | _words("""
patients patient women men children adults subjects participants cases controls people
risk incidence prevalence mortality history diagnosis diagnosed stage onset severity
without among increased decreased higher lower high low significant significantly new
early late other various several many most more less non type types form forms""")
_DISEASE_HEAD_RE = re.compile(
    r"\b(?:diseases?|syndromes?|cancers?|disorders?|failure|deficiency|infection|injury|"
    r"carcinoma|tumou?rs?)\b", re.IGNORECASE)
_DISEASE_SUFFIX_RE = re.compile(
    r"\b[A-Za-z]{3,}(?:aemia|emia|uria|osis|itis|pathy|penia|plasia|trophy|algia|oma)s?\b")
_DISEASE_SUFFIX_STOP = _words("diagnosis diagnoses prognosis prognoses hypnosis osmosis "
                              "kinesis coma diploma aroma stoma")
_ACID_RE = re.compile(
    r"\b(?:(?:[A-Za-z0-9]+-)?[A-Za-z0-9]+(?:-[a-z]+)?\s+){1,2}acids?\b", re.IGNORECASE)
_ENZYME_RE = re.compile(  # "lactate dehydrogenase", "creatine kinase", "lipase"
    r"\b(?:([A-Za-z][\w-]*(?:ate|ine|ose|ol|yl))\s+)?([a-z]*(?:kinase|genase|ferase|synthase|"
    r"lipase|amylase|phosphatase|transaminase|oxidase|reductase|esterase|peptidase)s?)\b",
    re.IGNORECASE)
_ACRONYM_RE = re.compile(r"(?<![\w-])[A-Za-z0-9]*[A-Z][A-Za-z0-9]*(?:[-/][A-Za-z0-9]+)*(?![\w-])")
_ACRONYM_STOP = _words("""
CI OR HR RR SD SE SEM IQR NS VS II III IV VI VII VIII IX XI XII USA US UK EU BACKGROUND
METHODS RESULTS CONCLUSION CONCLUSIONS OBJECTIVE OBJECTIVES DESIGN SETTING PURPOSE AIM AIMS""")
_ROMAN_RE = re.compile(r"^[IVXLC]+$")
_CAPITAL_RUN_RE = re.compile(
    r"\b[A-Z][a-z]+(?:['’]s)?(?:\s+(?:(?:of|for|and|the|de)\s+)?[A-Z][a-z]+(?:['’]s)?)+\b")
_ORG_WORDS = _words("University Hospital Institute Center Centre College Department Clinic "
                    "Foundation Association Society Agency Organization Organisation Ministry")
_STUDY_WORDS = _words("Study Trial Survey Cohort Registry Project Program Programme")
_CUES = tuple((re.compile(pattern, re.IGNORECASE), cue) for pattern, cue in (
    (r"\bassociat", "association"), (r"\bcorrelat", "correlation"),
    (r"\b(?:increas|elevat|higher|raised|upregulat)", "increase"),
    (r"\b(?:decreas|reduc|lower|depleted|downregulat)", "decrease"),
    (r"\bpredict", "prediction"), (r"\bdiagnos", "diagnosis"),
    (r"\b(?:bio)?markers?\b", "biomarker"),
    (r"\b(?:measur|quantif|detect|analy[sz])", "measurement"), (r"\brisk\b", "risk"),
    (r"\b(?:treat|therap)", "treatment"), (r"\bcompar", "comparison")))


@dataclass(frozen=True, slots=True)
class Entity:
    """One entity found in a text: its name, type and a verbatim sentence mentioning it."""

    name: str
    entity_type: str
    description: str
    mentions: int = 1


@dataclass(frozen=True, slots=True)
class Relation:
    """Two entities sharing sentences; ``source < target``, weight = shared sentences."""

    source: str
    target: str
    description: str
    keywords: tuple[str, ...]
    weight: float


@dataclass(frozen=True, slots=True)
class ChunkGraph:
    """Entities and relations of one chunk of text."""

    entities: tuple[Entity, ...]
    relations: tuple[Relation, ...]

    def to_custom_kg(self, source_id: str, file_path: str = "custom_kg") -> dict[str, Any]:
        """The ``entities`` / ``relationships`` records of LightRAG's custom-KG insert."""
        return {
            "entities": [
                {"entity_name": e.name, "entity_type": e.entity_type,
                 "description": e.description, "source_id": source_id, "file_path": file_path}
                for e in self.entities
            ],
            "relationships": [
                {"src_id": r.source, "tgt_id": r.target, "description": r.description,
                 "keywords": ", ".join(r.keywords), "weight": r.weight,
                 "source_id": source_id, "file_path": file_path}
                for r in self.relations
            ],
        }


@dataclass(frozen=True, slots=True)
class QueryKeywords:
    """LightRAG-style query keywords: themes (high level) and specific terms (low level)."""

    high_level: tuple[str, ...]
    low_level: tuple[str, ...]


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text``; line breaks also end a sentence (titles, list items)."""
    return [sentence for line in text.split("\n") for sentence in _split(line)]


def _is_acronym(token: str) -> bool:
    """Two or more capitals (``LC-MS``, ``mRNA``, ``COVID-19``), not a stop-listed word."""
    if not 2 <= len(token) <= 15 or token.upper() in _ACRONYM_STOP or _ROMAN_RE.match(token):
        return False
    if token.isalpha() and token.isupper() and len(token) > 6:
        return False  # a shouted word or heading, not an acronym
    return sum(1 for c in token if c.isupper()) >= 2


def _lower_initial(word: str) -> str:
    """``Breast`` -> ``breast``; keeps acronyms, mixed case and eponyms (``Crohn's``)."""
    plain = len(word) > 1 and word[0].isupper() and word[1:].islower()
    return word.lower() if plain and "'" not in word and "’" not in word else word


def _disease_phrases(sentence: str) -> Iterable[tuple[int, int, str]]:
    words = list(_WORD_RE.finditer(sentence))
    for index, word in enumerate(words):
        if not _DISEASE_HEAD_RE.fullmatch(word.group()):
            continue
        first = index
        while first > 0 and index - first < 3:
            candidate = words[first - 1].group()
            between = sentence[words[first - 1].end():words[first].start()]
            if between.strip() or candidate.lower() in _NON_MODIFIERS:
                break
            if candidate.lower().endswith(("ed", "ing", "ly")) and "-" not in candidate:
                break
            first -= 1
        if first == index:
            continue  # a bare "disease" is not a named disease
        tokens = [w.group() for w in words[first:index + 1]]
        if first == 0:  # sentence-initial capital
            tokens[0] = _lower_initial(tokens[0])
        tokens[-1] = tokens[-1].lower()
        yield words[first].start(), word.end(), " ".join(tokens)


@functools.lru_cache(maxsize=256)
def _terms_pattern(terms: tuple[str, ...]) -> tuple[re.Pattern[str], dict[str, str]]:
    names = {term.lower(): term for term in terms}
    pattern = re.compile(r"(?<![\w-])(?:" + "|".join(
        re.escape(t) for t in sorted(names, key=len, reverse=True)) + r")(?![\w-])",
        re.IGNORECASE)
    return pattern, names


def _candidates(sentence: str, terms: tuple[str, ...] = (),
                ) -> list[tuple[int, int, int, str, str]]:
    """(priority, start, end, name, type) for every pattern match in ``sentence``."""
    found: list[tuple[int, int, int, str, str]] = []
    if terms:
        pattern, names = _terms_pattern(terms)
        for m in pattern.finditer(sentence):
            found.append((6, m.start(), m.end(), names[m.group().lower()], CONCEPT))
    for m in _LEXICON_RE.finditer(sentence):
        canonical, entity_type = _LEXICON[m.group().lower()]
        found.append((0, m.start(), m.end(), canonical, entity_type))
    for start, end, name in _disease_phrases(sentence):
        found.append((1, start, end, name, DISEASE))
    for m in _ACID_RE.finditer(sentence):
        words = m.group().split()
        while len(words) > 1 and words[0].lower() in _NON_MODIFIERS:
            words = words[1:]
        for size in range(2, len(words) + 1):  # "uric acid" survives a claimed "serum"
            name = " ".join(words[-size:])
            found.append((2, m.end() - len(name), m.end(), name.lower(), METABOLITE))
    for m in _CAPITAL_RUN_RE.finditer(sentence):
        words = m.group().split()
        while words and words[0].lower() in _STOPWORDS:
            words = words[1:]
        if len(words) >= 2 and words[-1].lower() not in _STOPWORDS:
            name = " ".join(words)
            kind = (ORGANIZATION if _ORG_WORDS.intersection(words) else
                    STUDY if words[-1] in _STUDY_WORDS else NAMED_ENTITY)
            found.append((3, m.end() - len(name), m.end(), name, kind))
    for m in _DISEASE_SUFFIX_RE.finditer(sentence):
        if m.group().lower() not in _DISEASE_SUFFIX_STOP:
            found.append((4, m.start(), m.end(), _lower_initial(m.group()), DISEASE))
    for m in _ENZYME_RE.finditer(sentence):
        if m.group(1):
            found.append((0, m.start(), m.end(), m.group().lower(), ENZYME))
        found.append((4, m.start(2), m.end(), m.group(2).lower(), ENZYME))
    for m in _ACRONYM_RE.finditer(sentence):
        if _is_acronym(m.group()):
            name = m.group()[:-1] if re.fullmatch(r"[A-Z]{2,}s", m.group()) else m.group()
            found.append((5, m.start(), m.end(), name, ACRONYM))  # "DBEs" -> "DBE"
    return found


def find_entities(sentence: str, terms: Sequence[str] = ()) -> list[tuple[str, str]]:
    """(name, type) of the entities in one sentence, in reading order, without repeats.

    Overlapping matches are resolved by pattern priority (lexicon first, then disease
    phrases, ``... acid``, capitalised names, suffix words, acronyms, then the given key
    ``terms`` of the passage as ``concept`` entities), then length.
    """
    chosen: list[tuple[int, int, str, str]] = []
    for _prio, start, end, name, entity_type in sorted(
        _candidates(sentence, tuple(terms)), key=lambda c: (c[0], c[1] - c[2], c[1])
    ):
        if all(end <= s or start >= e for s, e, _n, _t in chosen):
            chosen.append((start, end, name, entity_type))
    result: list[tuple[str, str]] = []
    seen: set[str] = set()
    for _s, _e, name, entity_type in sorted(chosen):
        if name not in seen:
            seen.add(name)
            result.append((name, entity_type))
    return result


def relation_keywords(sentence: str) -> tuple[str, ...]:
    """``co-occurrence`` plus the relation cues (association, increase, ...) in ``sentence``."""
    return ("co-occurrence", *(cue for pattern, cue in _CUES if pattern.search(sentence)))


def extract_graph(text: str, *, max_entities_per_sentence: int = MAX_ENTITIES_PER_SENTENCE,
                  key_term_limit: int = KEY_TERMS_PER_CHUNK) -> ChunkGraph:
    """Entities and co-occurrence relations of one chunk of text.

    An entity's description is the first sentence it occurs in and ``mentions`` counts
    its sentences; a relation links two entities of one sentence (first sentence as
    description, weight = number of sentences they share). The chunk's first
    ``key_term_limit`` key terms are entities too (``concept``) where no pattern claims
    their words.
    """
    entities: dict[str, Entity] = {}
    relations: dict[tuple[str, str], Relation] = {}
    terms = tuple(key_terms(text, key_term_limit))
    for sentence in split_sentences(text):
        found = find_entities(sentence, terms)
        for name, entity_type in found:
            known = entities.get(name)
            entities[name] = (Entity(name, entity_type, sentence) if known is None else
                              Entity(name, known.entity_type, known.description,
                                     known.mentions + 1))
        names = [name for name, _type in found[:max_entities_per_sentence]]
        for i, first in enumerate(names):
            for second in names[i + 1:]:
                key = (first, second) if first < second else (second, first)
                rel = relations.get(key)
                relations[key] = (
                    Relation(key[0], key[1], sentence, relation_keywords(sentence), 1.0)
                    if rel is None else Relation(rel.source, rel.target, rel.description,
                                                 rel.keywords, rel.weight + 1.0))
    return ChunkGraph(tuple(entities.values()), tuple(relations.values()))


def build_custom_kg(chunks: Iterable[tuple[str, str]], file_path: str = "custom_kg"
                    ) -> dict[str, Any]:
    """A whole LightRAG custom-KG payload from ``(source_id, text)`` pairs.

    Entities are reported once per chunk they occur in, each with that chunk's
    ``source_id``; LightRAG's insert keeps only one record per entity name, so callers
    that need every source (e.g. for deletion) must merge them themselves.
    """
    payload: dict[str, Any] = {"chunks": [], "entities": [], "relationships": []}
    for source_id, text in chunks:
        payload["chunks"].append({"content": text, "source_id": source_id,
                                  "file_path": file_path})
        part = extract_graph(text).to_custom_kg(source_id, file_path)
        payload["entities"].extend(part["entities"])
        payload["relationships"].extend(part["relationships"])
    return payload


def query_keywords(question: str, *, max_low_level: int = 10) -> QueryKeywords:
    """Offline stand-in for LightRAG's LLM keyword extraction.

    Low level: the entities of the question, then its content words. High level: the
    question's content words as one phrase, plus its relation cues. Never empty for a
    question with at least one word.
    """
    entity_names = [name for name, _type in find_entities(question.strip())]
    content = [w.group() for w in _WORD_RE.finditer(question)
               if w.group().lower() not in _STOPWORDS
               and w.group().lower() not in _QUESTION_WORDS and len(w.group()) > 2]
    low: list[str] = []
    for term in [*entity_names, *(_lower_initial(w) for w in content)]:
        if term.lower() not in {t.lower() for t in low}:
            low.append(term)
    phrase = " ".join(content) or question.strip()
    cues = [cue for cue in relation_keywords(question)[1:] if cue not in phrase]
    return QueryKeywords(high_level=tuple(dict.fromkeys([phrase, *cues])),
                         low_level=tuple(low[:max_low_level]))

"""Sentence vectors computed at ingestion are read back instead of recomputed."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cmo.adapters.embeddings import EMBEDDING_DIM, LocalEmbedder
from cmo.adapters.sentence_vectors import SentenceVectorStore

SENTENCES = ["Lactate is elevated in septic shock.",
             "NMR spectroscopy quantifies metabolites without separation.",
             "Phenylketonuria is an inborn error of metabolism."]


def test_precomputed_vectors_are_served_without_loading_the_model(tmp_path: Path) -> None:
    db = tmp_path / "vectors.db"
    writer = LocalEmbedder(store=SentenceVectorStore(db, LocalEmbedder.name, EMBEDDING_DIM))
    assert writer.precompute_sync(SENTENCES + SENTENCES[:1]) == 3
    assert writer.precompute_sync(SENTENCES) == 0            # nothing new
    expected = writer.embed_sync(SENTENCES)

    reader = LocalEmbedder(store=SentenceVectorStore(db, LocalEmbedder.name, EMBEDDING_DIM))
    got = reader.embed_sync(list(reversed(SENTENCES)))
    assert reader._model is None                             # served from the store
    np.testing.assert_array_equal(got, expected[::-1])
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0)

    # Another model's vectors are never mixed in; a text not stored is computed.
    other = SentenceVectorStore(db, "another-model", EMBEDDING_DIM)
    assert other.get_many(SENTENCES) == {} and len(other) == 3
    mixed = reader.embed_sync([SENTENCES[0], "Untargeted LC-MS profiles thousands of features."])
    assert reader._model is not None and mixed.shape == (2, EMBEDDING_DIM)
    np.testing.assert_array_equal(mixed[0], expected[0])


def test_embedder_without_a_store_precomputes_nothing() -> None:
    assert LocalEmbedder().precompute_sync(SENTENCES) == 0

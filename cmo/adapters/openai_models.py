"""Chat and embedding models through the OpenAI API shape (openai package).

Works with OpenAI, Azure OpenAI and any OpenAI-compatible server (vLLM, Ollama,
llama.cpp) via ``OPENAI_BASE_URL``. Our own retry loop (429 and 5xx, timeouts and
connection errors; exponential backoff with jitter, honouring ``Retry-After``) and a
concurrency limit wrap the client; every call's token usage is counted so answers and
ingestion can be costed. Errors leave as :class:`ModelError` (``retriable`` set).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import openai

from cmo.exceptions import CMOError

logger = logging.getLogger(__name__)
T = TypeVar("T")


class ModelError(CMOError):
    """A model call failed (after retries when the failure was retriable)."""

    def __init__(self, message: str, *, retriable: bool = False, status: int | None = None) -> None:
        super().__init__(message)
        self.retriable = retriable
        self.status = status


@dataclass
class TokenUsage:
    """Running token counts for one model client."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    embedding_tokens: int = 0
    calls: int = 0
    retries: int = 0


@dataclass(frozen=True)
class ModelConfig:
    api_key: str = field(repr=False)
    base_url: str | None = None
    chat_model: str = "gpt-4o-mini"
    embedding_model: str = "text-embedding-3-small"
    embedding_dim: int = 1536
    concurrency: int = 4
    timeout_s: float = 60.0
    max_retries: int = 4
    backoff_base_s: float = 0.5
    backoff_max_s: float = 20.0


@contextmanager
def mapped_openai_errors(what: str) -> Iterator[None]:
    """Translate openai exceptions into ModelError (retriable for 429, 5xx, timeouts)."""
    try:
        yield
    except openai.APIStatusError as exc:
        status = exc.status_code
        retriable = status == 429 or status >= 500
        raise ModelError(f"{what}: HTTP {status}: {exc.message}", retriable=retriable,
                         status=status) from exc
    except (openai.APITimeoutError, openai.APIConnectionError) as exc:
        raise ModelError(f"{what}: {type(exc).__name__}: {exc}", retriable=True) from exc
    except openai.OpenAIError as exc:
        raise ModelError(f"{what}: {exc}") from exc


def backoff_delay(attempt: int, base: float, cap: float, retry_after: float | None = None) -> float:
    """Full-jitter exponential backoff; a server's Retry-After wins when given."""
    if retry_after is not None:
        return min(cap, retry_after)
    return random.uniform(0, min(cap, base * 2 ** attempt))


class OpenAIModels:
    """Async chat + embeddings with retries, a concurrency limit and token accounting."""

    def __init__(self, config: ModelConfig, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.config = config
        self.usage = TokenUsage()
        self._sleep = sleep
        # Any: the SDK's overloads are not worth mirroring; responses are read defensively.
        self._client: Any = openai.AsyncOpenAI(api_key=config.api_key, base_url=config.base_url,
                                          timeout=config.timeout_s, max_retries=0)
        self._limit = asyncio.Semaphore(config.concurrency)

    async def _call(self, what: str, fn: Callable[[], Awaitable[T]]) -> T:
        attempt = 0
        while True:
            try:
                async with self._limit:
                    with mapped_openai_errors(what):
                        self.usage.calls += 1
                        return await fn()
            except ModelError as exc:
                if not exc.retriable or attempt >= self.config.max_retries:
                    raise
                delay = backoff_delay(attempt, self.config.backoff_base_s, self.config.backoff_max_s,
                                      _retry_after(exc))
                logger.warning("%s failed (%s); retry %d/%d in %.2fs", what, exc, attempt + 1,
                               self.config.max_retries, delay)
                self.usage.retries += 1
                attempt += 1
                await self._sleep(delay)

    async def complete(self, prompt: str, system_prompt: str | None = None,
                       history: Sequence[dict[str, str]] = (), **options: Any) -> str:
        """One chat completion; returns the text and counts its tokens."""
        messages: list[dict[str, str]] = []
        if system_prompt:
            messages.append({"role": "system", "content": system_prompt})
        messages += list(history)
        messages.append({"role": "user", "content": prompt})

        async def call() -> str:
            resp = await self._client.chat.completions.create(
                model=self.config.chat_model, messages=messages, **options)
            if resp.usage is not None:
                self.usage.prompt_tokens += resp.usage.prompt_tokens
                self.usage.completion_tokens += resp.usage.completion_tokens
            return resp.choices[0].message.content or ""

        return await self._call(f"chat completion ({self.config.chat_model})", call)

    async def stream(self, prompt: str, system_prompt: str | None = None) -> AsyncIterator[str]:
        """Stream a chat completion's text deltas (usage requested in the final chunk)."""
        messages = [{"role": "system", "content": system_prompt or ""}, {"role": "user", "content": prompt}]

        async def open_stream() -> Any:
            return await self._client.chat.completions.create(
                model=self.config.chat_model, messages=messages, stream=True,
                stream_options={"include_usage": True})

        stream = await self._call(f"chat stream ({self.config.chat_model})", open_stream)
        with mapped_openai_errors("chat stream"):
            async for chunk in stream:
                if getattr(chunk, "usage", None):
                    self.usage.prompt_tokens += chunk.usage.prompt_tokens
                    self.usage.completion_tokens += chunk.usage.completion_tokens
                if chunk.choices and chunk.choices[0].delta.content:
                    yield chunk.choices[0].delta.content

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Embeddings for texts (one request), counting embedding tokens."""

        async def call() -> list[list[float]]:
            resp = await self._client.embeddings.create(model=self.config.embedding_model,
                                                        input=list(texts))
            if resp.usage is not None:
                self.usage.embedding_tokens += resp.usage.prompt_tokens
            return [d.embedding for d in sorted(resp.data, key=lambda d: d.index)]

        return await self._call(f"embeddings ({self.config.embedding_model})", call)

    async def ping(self) -> None:
        """Cheap reachability check (GET /models; no tokens spent)."""
        with mapped_openai_errors("model server"):
            await self._client.models.list()

    async def close(self) -> None:
        await self._client.close()


def _retry_after(exc: ModelError) -> float | None:
    cause = exc.__cause__
    response = getattr(cause, "response", None)
    header = response.headers.get("retry-after") if response is not None else None
    try:
        return float(header) if header is not None else None
    except ValueError:
        return None

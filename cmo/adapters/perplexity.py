"""Web-search answers from Perplexity (its OpenAI-compatible chat completions API).

One ``POST {base_url}/chat/completions`` per question over a pooled ``httpx.AsyncClient``.
The answer text keeps Perplexity's ``[1]``, ``[2]`` markers; they are 1-based indexes into
the returned sources, which are mapped, in order, to :class:`~cmo.events.models.Citation`
in the same shape the LightRAG backend uses (``document_id`` ``web-<sha256(url)[:16]>``,
``page`` None, ``chunk_id`` "", rank-order ``score``, the snippet as ``quote``).
``search_results`` are preferred; the plain ``citations`` URL list is the fallback.

Retries mirror :class:`~cmo.adapters.openai_models.OpenAIModels`: 429, 5xx, timeouts and
connection errors are retried with full-jitter exponential backoff honouring
``Retry-After``; other 4xx are not. Errors leave as
:class:`~cmo.adapters.openai_models.ModelError` and never contain the API key.
Without ``PERPLEXITY_API_KEY`` the backend is not ``available`` and ``answer`` refuses.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Self
from urllib.parse import urlsplit

import httpx

from cmo.adapters.openai_models import ModelError, TokenUsage, backoff_delay
from cmo.config import Settings
from cmo.domain.pricing import cost_usd
from cmo.events.models import Citation

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.perplexity.ai"
DEFAULT_MODEL = "sonar"
NOT_CONFIGURED = "Perplexity is not configured (PERPLEXITY_API_KEY unset)"
_THINK = re.compile(r"<think>.*?</think>\s*", re.DOTALL)


@dataclass(frozen=True)
class PerplexityConfig:
    """Connection and retry settings for the Perplexity API."""

    api_key: str = field(repr=False)
    base_url: str = DEFAULT_BASE_URL
    model: str = DEFAULT_MODEL
    timeout_s: float = 30.0
    max_retries: int = 3
    backoff_base_s: float = 0.5
    backoff_max_s: float = 10.0
    max_connections: int = 20


def perplexity_config(settings: Settings) -> PerplexityConfig | None:
    """The config from settings, or None when ``PERPLEXITY_API_KEY`` is unset or blank.

    ``perplexity_model``, ``perplexity_base_url`` and ``perplexity_timeout_s`` are read
    when the settings define them; otherwise the defaults apply.
    """
    secret = getattr(settings, "perplexity_api_key", None)
    key = secret.get_secret_value().strip() if secret is not None else ""
    if not key:
        return None
    model = getattr(settings, "perplexity_model", None) or DEFAULT_MODEL
    base_url = getattr(settings, "perplexity_base_url", None) or DEFAULT_BASE_URL
    timeout = getattr(settings, "perplexity_timeout_s", None) or 30.0
    return PerplexityConfig(api_key=key, base_url=str(base_url), model=str(model),
                            timeout_s=float(timeout))


@dataclass(frozen=True)
class WebAnswer:
    """One answer from web search: text with ``[n]`` markers and its ordered sources."""

    text: str
    citations: tuple[Citation, ...]
    model: str
    prompt_tokens: int
    completion_tokens: int
    usd: float
    latency_ms: float


def web_citations(search_results: Any, citations: Any) -> tuple[Citation, ...]:
    """Perplexity's sources as Citations, in order (``[n]`` in the text is the n-th).

    ``search_results`` (dicts with title, url, date?, snippet?) win when non-empty;
    otherwise ``citations`` (URL strings) are used. Entries are never dropped or
    reordered, so the text's numbering stays valid.
    """
    sources: list[tuple[str, str, str]] = []  # (url, title, snippet)
    if isinstance(search_results, list) and search_results:
        for item in search_results:
            entry = item if isinstance(item, dict) else {"url": item}
            url = str(entry.get("url") or "")
            title = str(entry.get("title") or "") or _url_title(url)
            sources.append((url, title, str(entry.get("snippet") or "")))
    elif isinstance(citations, list):
        for item in citations:
            url = str(item.get("url") or "") if isinstance(item, dict) else str(item or "")
            sources.append((url, _url_title(url), ""))
    n = len(sources)
    return tuple(
        Citation(document_id="web-" + hashlib.sha256((url or title).encode()).hexdigest()[:16],
                 title=title, page=None, chunk_id="", score=1.0 - i / n, quote=snippet,
                 url=url or None)
        for i, (url, title, snippet) in enumerate(sources))


def _url_title(url: str) -> str:
    """``host/path`` of a URL (what a bare citation URL is titled); the URL if unparsable."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    title = (parts.netloc + parts.path).rstrip("/")
    return title or url


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP-date); None if absent/bad."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class PerplexityBackend:
    """Async question answering through Perplexity with retries and token/cost accounting."""

    def __init__(self, config: PerplexityConfig | None, *,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.config = config
        self.usage = TokenUsage()
        self._sleep = sleep
        self._client: httpx.AsyncClient | None = None
        if config is not None and config.api_key:
            self._url = config.base_url.rstrip("/") + "/chat/completions"
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(config.timeout_s),
                limits=httpx.Limits(max_connections=config.max_connections,
                                    max_keepalive_connections=config.max_connections),
                headers={"Authorization": f"Bearer {config.api_key}",
                         "Content-Type": "application/json", "Accept": "application/json"},
                transport=transport)

    @property
    def available(self) -> bool:
        """True when an API key is configured (the router only routes here then)."""
        return self._client is not None

    async def answer(self, question: str, *, system_prompt: str | None = None) -> WebAnswer:
        """Ask Perplexity one question; the text, ordered citations, tokens, USD and latency.

        ``latency_ms`` covers the whole call, retries included.
        """
        if self._client is None or self.config is None:
            raise ModelError(NOT_CONFIGURED, retriable=False)
        messages: list[dict[str, str]] = []
        if system_prompt:
            messages.append({"role": "system", "content": system_prompt})
        messages.append({"role": "user", "content": question})
        started = time.perf_counter()
        data = await self._post({"model": self.config.model, "messages": messages})
        latency_ms = (time.perf_counter() - started) * 1000.0
        return self._to_answer(data, latency_ms)

    async def _post(self, payload: dict[str, Any]) -> dict[str, Any]:
        assert self._client is not None and self.config is not None
        cfg = self.config
        what = f"Perplexity ({cfg.model})"
        attempt = 0
        while True:
            retry_after: float | None = None
            cause: BaseException | None = None
            self.usage.calls += 1
            try:
                response = await self._client.post(self._url, json=payload)
            except httpx.TimeoutException as exc:
                cause = exc
                error = ModelError(f"{what}: Timeout after {cfg.timeout_s:g}s "
                                   f"({type(exc).__name__})", retriable=True)
            except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
                cause = exc
                error = ModelError(self._scrub(f"{what}: bad base URL: {exc}"), retriable=False)
            except httpx.TransportError as exc:
                cause = exc
                error = ModelError(self._scrub(f"{what}: {type(exc).__name__}: {exc}"),
                                   retriable=True)
            except httpx.HTTPError as exc:
                cause = exc
                error = ModelError(self._scrub(f"{what}: {type(exc).__name__}: {exc}"))
            else:
                status = response.status_code
                if 200 <= status < 300:
                    return self._json(response, what)
                retriable = status == 429 or status >= 500
                error = ModelError(self._scrub(f"{what}: HTTP {status}: {_detail(response)}"),
                                   retriable=retriable, status=status)
                retry_after = parse_retry_after(response.headers.get("retry-after"))
            if not error.retriable or attempt >= cfg.max_retries:
                raise error from cause
            delay = backoff_delay(attempt, cfg.backoff_base_s, cfg.backoff_max_s, retry_after)
            logger.warning("%s failed (%s); retry %d/%d in %.2fs", what, error, attempt + 1,
                           cfg.max_retries, delay)
            self.usage.retries += 1
            attempt += 1
            await self._sleep(delay)

    def _json(self, response: httpx.Response, what: str) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError as exc:
            raise ModelError(f"{what}: response is not JSON", status=response.status_code) from exc
        if not isinstance(data, dict):
            raise ModelError(f"{what}: response is not a JSON object", status=response.status_code)
        return data

    def _to_answer(self, data: dict[str, Any], latency_ms: float) -> WebAnswer:
        assert self.config is not None
        model = self.config.model
        try:
            content = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as exc:
            raise ModelError(f"Perplexity ({model}): malformed response "
                             "(no choices[0].message.content)") from exc
        text = _THINK.sub("", str(content or "")).strip()
        raw_usage = data.get("usage")
        usage: dict[str, Any] = raw_usage if isinstance(raw_usage, dict) else {}
        prompt_tokens = _int(usage.get("prompt_tokens"))
        completion_tokens = _int(usage.get("completion_tokens"))
        self.usage.prompt_tokens += prompt_tokens
        self.usage.completion_tokens += completion_tokens
        return WebAnswer(
            text=text,
            citations=web_citations(data.get("search_results"), data.get("citations")),
            model=model, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
            usd=cost_usd(model, prompt_tokens, completion_tokens, requests=1),
            latency_ms=latency_ms)

    def _scrub(self, message: str) -> str:
        """The message with the API key (if it somehow appears) masked."""
        key = self.config.api_key if self.config is not None else ""
        return message.replace(key, "***") if key else message

    async def ping(self) -> None:
        """Reachability check (GET base URL; any HTTP reply counts; no tokens, key not checked)."""
        if self._client is None or self.config is None:
            raise ModelError(NOT_CONFIGURED, retriable=False)
        try:
            await self._client.get(self.config.base_url)
        except httpx.HTTPError as exc:
            raise ModelError(self._scrub(f"Perplexity unreachable: {type(exc).__name__}: {exc}"),
                             retriable=True) from exc

    async def close(self) -> None:
        """Close the connection pool (idempotent)."""
        if self._client is not None:
            await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def _detail(response: httpx.Response) -> str:
    """The error message of an error body (``{"error": {"message": ...}}``), else its text."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip() or response.reason_phrase
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])[:200]
    if isinstance(error, str):
        return error[:200]
    return str(body)[:200]


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


__all__ = ["NOT_CONFIGURED", "PerplexityBackend", "PerplexityConfig", "WebAnswer",
           "parse_retry_after", "perplexity_config", "web_citations"]

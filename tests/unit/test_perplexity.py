"""The Perplexity web backend against a loopback fake server (never the real API).

Covers the request shape, source → Citation mapping (search_results and bare citation
URLs), token/cost accounting, retries with Retry-After, give-up and no-retry paths,
timeouts, key hygiene in errors and the unconfigured (no key) backend.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import SecretStr

from cmo.adapters.openai_models import ModelError
from cmo.adapters.perplexity import (
    NOT_CONFIGURED,
    PerplexityBackend,
    PerplexityConfig,
    WebAnswer,
    parse_retry_after,
    perplexity_config,
    web_citations,
)
from cmo.config import Settings
from cmo.domain.pricing import cost_usd
from tests.fakes.openai_compat import FakeOpenAI, serve

KEY = "pplx-SECRET-test-key-123"
SEARCH_RESULTS = [
    {"title": "Plasma metabolomics review", "url": "https://example.org/review",
     "date": "2024-05-01", "snippet": "Plasma lipids change with fasting."},
    {"title": "HMDB entry", "url": "https://hmdb.ca/metabolites/HMDB0000122"},
]
CITATION_URLS = ["https://pubmed.ncbi.nlm.nih.gov/12345/", "https://example.com/a/b?x=1"]


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with serve(FakeOpenAI(chat_reply=lambda body: "Glucose rises [1], see HMDB [2].")) as server:
        yield server


def _backend(fake_or_url: FakeOpenAI | str, **kw: Any) -> tuple[PerplexityBackend, list[float]]:
    slept: list[float] = []

    async def sleep(s: float) -> None:
        slept.append(s)

    url = fake_or_url if isinstance(fake_or_url, str) else fake_or_url.url
    config = PerplexityConfig(api_key=KEY, base_url=url, **kw)
    return PerplexityBackend(config, sleep=sleep), slept


def _ask(backend: PerplexityBackend, question: str = "What is glucose?",
         system_prompt: str | None = None) -> WebAnswer:
    async def go() -> WebAnswer:
        try:
            return await backend.answer(question, system_prompt=system_prompt)
        finally:
            await backend.close()

    return asyncio.run(go())


def _fails(backend: PerplexityBackend, question: str = "q") -> ModelError:
    async def go() -> ModelError:
        try:
            with pytest.raises(ModelError) as info:
                await backend.answer(question)
            return info.value
        finally:
            await backend.close()

    return asyncio.run(go())


def _web_id(url: str) -> str:
    return "web-" + hashlib.sha256(url.encode()).hexdigest()[:16]


def test_request_shape_text_search_results_tokens_and_cost(fake: FakeOpenAI) -> None:
    fake.extra_fields = {"search_results": SEARCH_RESULTS, "citations": CITATION_URLS}
    backend, slept = _backend(fake, model="sonar-pro")
    answer = _ask(backend, "What is glucose?", system_prompt="Cite sources.")

    path, body, headers = fake.requests[0]
    assert path == "/v1/chat/completions" and body["model"] == "sonar-pro"
    assert body["messages"] == [{"role": "system", "content": "Cite sources."},
                                {"role": "user", "content": "What is glucose?"}]
    assert headers["authorization"] == f"Bearer {KEY}"

    assert answer.text == "Glucose rises [1], see HMDB [2]."
    assert answer.model == "sonar-pro"
    # search_results win over citations; order kept, so [n] is the n-th citation
    first, second = answer.citations
    assert first.document_id == _web_id("https://example.org/review")
    assert first.title == "Plasma metabolomics review" and first.url == "https://example.org/review"
    assert first.quote == "Plasma lipids change with fasting."
    assert first.page is None and first.chunk_id == "" and first.score == 1.0
    assert second.title == "HMDB entry" and second.quote == "" and second.score == 0.5

    assert answer.prompt_tokens == 5 and answer.completion_tokens == 6  # the fake counts words
    assert answer.usd == cost_usd("sonar-pro", 5, 6, requests=1) > 0.005
    assert answer.latency_ms > 0 and slept == []
    assert backend.usage.prompt_tokens == 5 and backend.usage.calls == 1


def test_plain_citation_urls_and_no_system_prompt(fake: FakeOpenAI) -> None:
    fake.extra_fields = {"search_results": [], "citations": CITATION_URLS}
    backend, _ = _backend(fake)
    answer = _ask(backend)

    assert fake.requests[0][1]["messages"] == [{"role": "user", "content": "What is glucose?"}]
    assert fake.requests[0][1]["model"] == "sonar"
    assert [c.url for c in answer.citations] == CITATION_URLS
    assert [c.title for c in answer.citations] == ["pubmed.ncbi.nlm.nih.gov/12345",
                                                   "example.com/a/b"]
    assert [c.document_id for c in answer.citations] == [_web_id(u) for u in CITATION_URLS]
    assert [c.score for c in answer.citations] == [1.0, 0.5]
    assert all(c.quote == "" and c.chunk_id == "" for c in answer.citations)
    assert answer.usd == cost_usd("sonar", answer.prompt_tokens, answer.completion_tokens,
                                  requests=1)


def test_no_sources_gives_no_citations(fake: FakeOpenAI) -> None:
    backend, _ = _backend(fake)
    assert _ask(backend).citations == ()


def test_web_citations_scores_by_rank() -> None:
    cites = web_citations(None, [f"https://x.org/{i}" for i in range(4)])
    assert [c.score for c in cites] == [1.0, 0.75, 0.5, 0.25]
    assert all(c.document_id.startswith("web-") and len(c.document_id) == 20 for c in cites)


def test_429_with_retry_after_then_success(fake: FakeOpenAI) -> None:
    fake.fail_next = [(429, 1.5)]
    backend, slept = _backend(fake)
    answer = _ask(backend)
    assert answer.text.startswith("Glucose")
    assert len(fake.requests) == 2 and backend.usage.retries == 1
    assert slept == [1.5]  # Retry-After honoured


def test_repeated_500_exhausts_retries(fake: FakeOpenAI) -> None:
    fake.fail_next = [(500, None)] * 5
    backend, slept = _backend(fake, max_retries=2, backoff_base_s=0.1, backoff_max_s=1.0)
    error = _fails(backend)
    assert error.retriable and error.status == 500 and "HTTP 500" in str(error)
    assert len(fake.requests) == 3 and backend.usage.retries == 2
    assert len(slept) == 2 and all(0 <= s <= 1.0 for s in slept)


def test_400_is_not_retried(fake: FakeOpenAI) -> None:
    fake.fail_next = [(400, None)]
    backend, slept = _backend(fake)
    error = _fails(backend)
    assert not error.retriable and error.status == 400
    assert len(fake.requests) == 1 and slept == []


def test_timeout_is_a_retriable_model_error(fake: FakeOpenAI) -> None:
    fake.delay_s = 0.5
    backend, slept = _backend(fake, timeout_s=0.1, max_retries=1)
    error = _fails(backend)
    assert error.retriable and error.status is None and "Timeout" in str(error)
    assert len(slept) == 1


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def test_connection_error_is_retriable() -> None:
    backend, slept = _backend(_closed_port_url(), max_retries=1)
    error = _fails(backend)
    assert error.retriable and len(slept) == 1


def test_api_key_never_in_errors(fake: FakeOpenAI) -> None:
    messages: list[str] = []
    for failures, kw in (([(401, None)], {}), ([(503, None)] * 2, {"max_retries": 1})):
        fake.fail_next = list(failures)
        backend, _ = _backend(fake, **kw)
        messages.append(str(_fails(backend, f"leak {KEY}?")))
    fake.delay_s = 0.3
    backend, _ = _backend(fake, timeout_s=0.05, max_retries=0)
    messages.append(str(_fails(backend)))
    backend, _ = _backend(_closed_port_url(), max_retries=0)
    messages.append(str(_fails(backend)))
    assert len(messages) == 4 and not any(KEY in m for m in messages)
    assert KEY not in repr(PerplexityConfig(api_key=KEY))


def test_unavailable_without_key() -> None:
    backend = PerplexityBackend(None)
    assert not backend.available
    error = _fails(backend)
    assert str(error) == NOT_CONFIGURED and not error.retriable
    assert PerplexityBackend(PerplexityConfig(api_key="")).available is False


def test_perplexity_config_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PERPLEXITY_API_KEY", raising=False)
    assert perplexity_config(Settings(_env_file=None)) is None  # type: ignore[call-arg]
    blank = Settings(_env_file=None, perplexity_api_key=SecretStr("  "))  # type: ignore[call-arg]
    assert perplexity_config(blank) is None

    config = perplexity_config(
        Settings(_env_file=None, perplexity_api_key=SecretStr(KEY)))  # type: ignore[call-arg]
    assert config is not None and config.api_key == KEY
    assert config.base_url == "https://api.perplexity.ai" and config.timeout_s == 30.0

    stub: Any = SimpleNamespace(perplexity_api_key=SecretStr(KEY), perplexity_model="sonar-pro",
                                perplexity_base_url="http://proxy.local/v1",
                                perplexity_timeout_s=7)
    config = perplexity_config(stub)
    assert config is not None and config.model == "sonar-pro"
    assert config.base_url == "http://proxy.local/v1" and config.timeout_s == 7.0


def test_parse_retry_after() -> None:
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("2") == 2.0 and parse_retry_after("-1") == 0.0
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)
    delay = parse_retry_after(later)
    assert delay is not None and 50 < delay <= 60

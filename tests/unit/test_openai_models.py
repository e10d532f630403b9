"""The OpenAI-shaped model client against a loopback fake server: retries, timeouts, usage."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from cmo.adapters.openai_models import ModelConfig, ModelError, OpenAIModels, backoff_delay
from tests.fakes.openai_compat import FakeOpenAI, serve


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with serve(FakeOpenAI()) as server:
        yield server


def _models(fake: FakeOpenAI, **kw: object) -> tuple[OpenAIModels, list[float]]:
    slept: list[float] = []

    async def sleep(s: float) -> None:
        slept.append(s)

    config = ModelConfig(api_key="test-key", base_url=fake.url, chat_model="chat-x",
                         embedding_model="emb-x", **kw)  # type: ignore[arg-type]
    return OpenAIModels(config, sleep=sleep), slept


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_chat_sends_messages_and_counts_tokens(fake: FakeOpenAI) -> None:
    models, _ = _models(fake)

    async def go() -> str:
        try:
            return await models.complete("What is NMR?", system_prompt="Be brief.")
        finally:
            await models.close()

    assert run(go()) == "ok: What is NMR?"
    path, body, headers = fake.requests[0]
    assert path == "/v1/chat/completions" and body["model"] == "chat-x"
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert headers["authorization"] == "Bearer test-key"
    assert models.usage.prompt_tokens == 5 and models.usage.completion_tokens == 4


def test_429_and_5xx_are_retried_with_backoff(fake: FakeOpenAI) -> None:
    fake.fail_next = [(429, 1.5), (503, None), (500, None)]
    models, slept = _models(fake)

    async def go() -> str:
        try:
            return await models.complete("hi")
        finally:
            await models.close()

    assert run(go()).startswith("ok")
    assert len(fake.requests) == 4 and models.usage.retries == 3
    assert slept[0] == 1.5  # Retry-After honoured


def test_retries_give_up_and_4xx_is_not_retried(fake: FakeOpenAI) -> None:
    fake.fail_next = [(500, None)] * 3
    models, _ = _models(fake, max_retries=2)

    async def go() -> None:
        try:
            with pytest.raises(ModelError) as info:
                await models.complete("hi")
            assert info.value.retriable and info.value.status == 500
            fake.fail_next = [(400, None)]
            with pytest.raises(ModelError) as bad:
                await models.complete("hi")
            assert not bad.value.retriable
        finally:
            await models.close()

    run(go())
    assert len(fake.requests) == 4  # 3 attempts, then one non-retried 400


def test_timeout_is_a_retriable_model_error(fake: FakeOpenAI) -> None:
    fake.delay_s = 0.5
    models, _ = _models(fake, timeout_s=0.1, max_retries=1)

    async def go() -> None:
        try:
            with pytest.raises(ModelError, match="Timeout") as info:
                await models.complete("slow")
            assert info.value.retriable
        finally:
            await models.close()

    run(go())


def test_embeddings_and_streaming(fake: FakeOpenAI) -> None:
    models, _ = _models(fake)

    async def go() -> tuple[list[list[float]], str]:
        try:
            vectors = await models.embed(["plasma lipids", "urine organic acids"])
            text = "".join([d async for d in models.stream("stream please")])
            return vectors, text
        finally:
            await models.close()

    vectors, text = run(go())
    assert len(vectors) == 2 and len(vectors[0]) == 8 and vectors[0] != vectors[1]
    assert text == "ok: stream please"
    assert models.usage.embedding_tokens == 5 and models.usage.completion_tokens == 3


def test_concurrency_limit(fake: FakeOpenAI) -> None:
    fake.delay_s = 0.05
    models, _ = _models(fake, concurrency=2)

    async def go() -> list[str]:
        try:
            return await asyncio.gather(*(models.complete(f"q{i}") for i in range(6)))
        finally:
            await models.close()

    assert len(run(go())) == 6


@pytest.mark.parametrize("attempt", [0, 1, 5, 20])
def test_backoff_is_bounded(attempt: int) -> None:
    assert 0 <= backoff_delay(attempt, 0.5, 8.0) <= 8.0
    assert backoff_delay(attempt, 0.5, 8.0, retry_after=30) == 8.0

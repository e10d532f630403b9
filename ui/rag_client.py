"""HTTP client of rag_service's ``POST /v1/ask`` with ``"stream": true`` (Server-Sent Events).

Yields :class:`AskEvent` items: ``routing`` (per decision), ``delta`` (answer text),
then ``answer`` (the routed answer) or ``error``. Connection failures and 4xx/5xx
replies become :class:`BackendError` with a plain message.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from cmo.exceptions import CMOError


class BackendError(CMOError):
    """rag_service could not be asked (down, or it refused the request)."""

    def __init__(self, message: str, *, unreachable: bool = False, status: int | None = None) -> None:
        super().__init__(message)
        self.unreachable = unreachable
        self.status = status
        self.retriable = unreachable or (status is not None and status >= 500)


@dataclass(frozen=True)
class AskEvent:
    kind: str                # routing, delta, answer, error
    data: dict[str, Any]


async def parse_sse(lines: AsyncIterator[str]) -> AsyncIterator[AskEvent]:
    kind, data = "message", list[str]()
    async for line in lines:
        if not line:
            if data:
                yield AskEvent(kind, json.loads("\n".join(data)))
            kind, data = "message", []
        elif line.startswith("event:"):
            kind = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
    if data:
        yield AskEvent(kind, json.loads("\n".join(data)))


class RagClient:
    def __init__(self, base_url: str, timeout_s: float = 120.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._client = httpx.AsyncClient(base_url=base_url.rstrip("/"), transport=transport,
                                         timeout=httpx.Timeout(timeout_s, connect=5.0))

    async def ask(self, payload: dict[str, Any]) -> AsyncIterator[AskEvent]:
        try:
            async with self._client.stream("POST", "/v1/ask", json={**payload, "stream": True}) as resp:
                if resp.status_code >= 400:
                    body = await resp.aread()
                    raise BackendError(_detail(body, resp.status_code), status=resp.status_code)
                async for event in parse_sse(resp.aiter_lines()):
                    yield event
        except httpx.TransportError as exc:
            raise BackendError(f"rag_service at {self._client.base_url} is not reachable: {exc}",
                               unreachable=True) from exc

    async def close(self) -> None:
        await self._client.aclose()


def _detail(body: bytes, status: int) -> str:
    try:
        detail = json.loads(body).get("detail")
    except (ValueError, AttributeError):
        detail = None
    if isinstance(detail, list):  # FastAPI validation errors
        detail = "; ".join(str(d.get("msg", d)) for d in detail if isinstance(d, dict)) or None
    return str(detail or f"HTTP {status}")

"""Token prices and cost arithmetic (USD per million tokens). Pure.

The defaults are list prices at the time of writing; labs override them with a price
table (``CMO_PRICE_TABLE`` JSON: ``{"model": {"input": x, "output": y}}``). Local
models cost nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Price:
    input_per_mtok: float
    output_per_mtok: float = 0.0
    per_request: float = 0.0


DEFAULT_PRICES: Mapping[str, Price] = {
    "local": Price(0.0, 0.0),
    "gpt-4o-mini": Price(0.15, 0.60),
    "gpt-4o": Price(2.50, 10.00),
    "text-embedding-3-small": Price(0.02),
    "text-embedding-3-large": Price(0.13),
    "sonar": Price(1.0, 1.0, per_request=0.005),
    "sonar-pro": Price(3.0, 15.0, per_request=0.005),
}


def cost_usd(model: str, prompt_tokens: int = 0, completion_tokens: int = 0,
             embedding_tokens: int = 0, prices: Mapping[str, Price] = DEFAULT_PRICES,
             requests: int = 0) -> float:
    """USD for the given usage; unknown models are priced like gpt-4o (never free by mistake)."""
    price = prices.get(model) or DEFAULT_PRICES["gpt-4o"]
    tokens_in = prompt_tokens + embedding_tokens
    return round(tokens_in * price.input_per_mtok / 1e6
                 + completion_tokens * price.output_per_mtok / 1e6
                 + requests * price.per_request, 8)

"""Token usage per call and per run, summed through a state reducer, with estimated cost.

Prices are USD per million tokens, looked up per call by the model's spec:

- `CHUNKWISE_PRICES` may name a JSON file mapping a spec, a bare model id or a glob over
  either to `{"input": ..., "output": ..., "cached_input": ...}` (`cached_input` defaults to
  `input`), e.g. `{"openai:gpt-4o-mini": {"input": 0.15, "output": 0.6},
  "*claude-3-5-sonnet*": {"input": 3, "output": 15, "cached_input": 0.3}}`. Its entries win.
- Built in: the default Bedrock models (Claude 3 Haiku and Claude 3 Sonnet, on-demand
  us-east-1 list prices), OpenRouter `:free` models and the local backend (both 0).
- Otherwise the `genai-prices` package's bundled price data (offline; most hosted models of
  OpenAI, Anthropic, Bedrock, Google, Mistral, OpenRouter, ...), looked up by provider (or, on
  the OpenAI-compatible route, by the server's base URL: a local or unknown server is never
  priced as OpenAI).

A call with no known price leaves `cost_usd` unset and counts in `unpriced_calls`, so a run's
total cost is never shown as exact when part of it is unknown.
"""

from __future__ import annotations

import fnmatch
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from chunkwise.errors import ConfigError

PRICES_ENV = "CHUNKWISE_PRICES"


class Usage(BaseModel):
    """Tokens billed by providers; `calls` counts requests answered (cache hits excluded).

    `input_tokens` includes `cached_tokens` (prompt tokens served from the provider's cache);
    `retries` counts requests that failed and were sent again; `cost_usd` is an estimate over
    the priced calls, `unpriced_calls` those without a configured price.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    calls: int = 0
    retries: int = 0
    cost_usd: float | None = None
    unpriced_calls: int = 0

    def __add__(self, other: Usage) -> Usage:
        cost = None
        if self.cost_usd is not None or other.cost_usd is not None:
            cost = (self.cost_usd or 0.0) + (other.cost_usd or 0.0)
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cached_tokens=self.cached_tokens + other.cached_tokens,
            calls=self.calls + other.calls,
            retries=self.retries + other.retries,
            cost_usd=cost,
            unpriced_calls=self.unpriced_calls + other.unpriced_calls,
        )

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def line(self) -> str:
        """`12 calls, 34,567 in / 8,901 out tokens (1,024 cached), ~$0.0123` (the CLI's end)."""
        text = (
            f"{self.calls} call{'s' if self.calls != 1 else ''}, "
            f"{self.input_tokens:,} in / {self.output_tokens:,} out tokens"
            f" ({self.cached_tokens:,} cached)"
        )
        if self.retries:
            text += f", {self.retries} retr{'ies' if self.retries != 1 else 'y'}"
        if self.cost_usd is not None:
            text += f", ~${self.cost_usd:.4f}"
            if self.unpriced_calls:
                text += f" (+{self.unpriced_calls} unpriced)"
        return text


def add_usage(left: Usage | dict[str, Any] | None, right: Usage | dict[str, Any] | None) -> Usage:
    """Reducer for a `usage` state channel; accepts dicts as restored from checkpoints."""
    a = left if isinstance(left, Usage) else Usage.model_validate(left or {})
    b = right if isinstance(right, Usage) else Usage.model_validate(right or {})
    return a + b


def usage_from_metadata(meta: dict[str, Any] | None) -> Usage:
    """Read LangChain's `usage_metadata` (input/output tokens, cache reads) into a Usage."""
    if not meta:
        return Usage(calls=1)
    details = meta.get("input_token_details") or {}
    return Usage(
        input_tokens=int(meta.get("input_tokens") or 0),
        output_tokens=int(meta.get("output_tokens") or 0),
        cached_tokens=int(details.get("cache_read") or 0),
        calls=1,
    )


# -- prices ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Price:
    """USD per million tokens."""

    input: float
    output: float
    cached_input: float | None = None

    def cost(self, usage: Usage) -> float:
        cached = min(usage.cached_tokens, usage.input_tokens)
        fresh = usage.input_tokens - cached
        cached_rate = self.input if self.cached_input is None else self.cached_input
        return (fresh * self.input + cached * cached_rate + usage.output_tokens * self.output) / 1e6


BUILTIN_PRICES: dict[str, Price] = {
    # the default Bedrock models (models.defaults), on-demand list prices
    "*anthropic.claude-3-haiku-20240307-v1:0": Price(0.25, 1.25),
    "*anthropic.claude-3-sonnet-20240229-v1:0": Price(3.0, 15.0),
    # OpenRouter's free variants (the default OpenAI-compatible model is one) and local runs
    "*:free": Price(0.0, 0.0),
    "local:*": Price(0.0, 0.0),
}

_PRICES_CACHE: dict[tuple[str, float], dict[str, Price]] = {}
_PRICES_LOCK = threading.Lock()


def _price_of(name: str, entry: Any, source: str) -> Price:
    if not isinstance(entry, dict):
        raise ConfigError(f"{source}: price for {name!r} must be an object with input/output")
    try:
        input_rate = float(entry["input"])
        output_rate = float(entry["output"])
        cached = entry.get("cached_input")
        cached_rate = None if cached is None else float(cached)
    except (KeyError, TypeError, ValueError):
        raise ConfigError(
            f"{source}: price for {name!r} needs numeric \"input\" and \"output\" "
            "(USD per million tokens)"
        ) from None
    if min(input_rate, output_rate, cached_rate or 0.0) < 0:
        raise ConfigError(f"{source}: price for {name!r} must not be negative")
    return Price(input_rate, output_rate, cached_rate)


def load_prices(path: str | os.PathLike[str] | None = None) -> dict[str, Price]:
    """Prices from `path` (default `$CHUNKWISE_PRICES`) over the built-in ones."""
    location = str(path) if path is not None else os.environ.get(PRICES_ENV, "")
    if not location:
        return dict(BUILTIN_PRICES)
    file = Path(location).expanduser()
    try:
        stamp = file.stat().st_mtime
    except OSError:
        raise ConfigError(f"{PRICES_ENV}={location}: no such file") from None
    with _PRICES_LOCK:
        cached = _PRICES_CACHE.get((str(file), stamp))
    if cached is not None:
        return cached
    try:
        raw = json.loads(file.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{PRICES_ENV}={location}: not a JSON file ({exc})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{PRICES_ENV}={location}: expected an object of model -> price")
    prices = {k: _price_of(k, v, f"{PRICES_ENV}={location}") for k, v in raw.items()}
    merged = {**prices, **{k: v for k, v in BUILTIN_PRICES.items() if k not in prices}}
    with _PRICES_LOCK:
        _PRICES_CACHE[(str(file), stamp)] = merged
    return merged


def price_for(spec: str, prices: dict[str, Price] | None = None) -> Price | None:
    """The price of a spec (`provider:model`): exact spec, exact model id, then globs."""
    table = load_prices() if prices is None else prices
    model = spec.split(":", 1)[1] if ":" in spec else spec
    for key in (spec, model):
        if key in table:
            return table[key]
    for pattern, price in table.items():
        if any(ch in pattern for ch in "*?[") and (
            fnmatch.fnmatchcase(spec, pattern) or fnmatch.fnmatchcase(model, pattern)
        ):
            return price
    return None


# our provider names -> genai-prices provider ids (the OpenAI route goes by base URL instead)
_GENAI_PROVIDERS = {
    "bedrock_converse": "aws", "bedrock": "aws", "anthropic": "anthropic",
    "google_genai": "google", "google_vertexai": "google", "mistralai": "mistral",
    "groq": "groq", "xai": "x-ai", "deepseek": "deepseek", "openrouter": "openrouter",
    "together": "together", "fireworks": "fireworks", "cohere": "cohere",
    "perplexity": "perplexity", "azure_openai": "azure",
}
_GENAI_MISSING: set[tuple[str, str, str]] = set()  # lookups that failed: not tried again


def _genai_cost(usage: Usage, spec: str, base_url: str | None) -> float | None:
    """The cost by `genai-prices`' bundled data (no network), or None if it has no price."""
    provider, _, model = spec.partition(":")
    if not model:
        return None
    if provider == "openai":
        if base_url and not base_url.startswith("https://api.openai.com"):
            where = ("provider_api_url", base_url)
        else:
            where = ("provider_id", "openai")
    elif provider in _GENAI_PROVIDERS:
        where = ("provider_id", _GENAI_PROVIDERS[provider])
    else:
        return None
    key = (model, *where)
    if key in _GENAI_MISSING:
        return None
    try:
        from genai_prices import Usage as PriceUsage
        from genai_prices import calc_price

        counts = PriceUsage(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
                            cache_read_tokens=min(usage.cached_tokens, usage.input_tokens))
        if where[0] == "provider_api_url":
            result = calc_price(counts, model_ref=model, provider_api_url=where[1])
        else:
            result = calc_price(counts, model_ref=model, provider_id=where[1])
    except Exception:  # not priced there (LookupError), or the package is missing or changed
        _GENAI_MISSING.add(key)
        return None
    return float(result.total_price)


def priced(
    usage: Usage, spec: str, prices: dict[str, Price] | None = None, *,
    base_url: str | None = None,
) -> Usage:
    """`usage` with `cost_usd` set from the spec's price, or counted as unpriced.

    `CHUNKWISE_PRICES` and the built-in table first, then `genai-prices` (`base_url`: the
    OpenAI-compatible server the call went to)."""
    price = price_for(spec, prices)
    cost = price.cost(usage) if price is not None else _genai_cost(usage, spec, base_url)
    if cost is None:
        return usage.model_copy(update={"cost_usd": None, "unpriced_calls": usage.calls})
    return usage.model_copy(update={"cost_usd": cost, "unpriced_calls": 0})

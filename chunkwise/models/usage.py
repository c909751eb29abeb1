"""Token usage per call and per run, summed through a state reducer."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class Usage(BaseModel):
    """Tokens billed by providers; `calls` counts requests actually sent (cache hits excluded)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    calls: int = 0
    cost_usd: float | None = None

    def __add__(self, other: Usage) -> Usage:
        cost = None
        if self.cost_usd is not None or other.cost_usd is not None:
            cost = (self.cost_usd or 0.0) + (other.cost_usd or 0.0)
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cached_tokens=self.cached_tokens + other.cached_tokens,
            calls=self.calls + other.calls,
            cost_usd=cost,
        )

    def line(self) -> str:
        text = (
            f"{self.calls} calls, {self.input_tokens} in / {self.output_tokens} out tokens"
            f" ({self.cached_tokens} cached)"
        )
        return text if self.cost_usd is None else f"{text}, ~${self.cost_usd:.4f}"


def add_usage(left: Usage | dict[str, Any] | None, right: Usage | dict[str, Any] | None) -> Usage:
    """Reducer for a `usage` state channel; accepts dicts as restored from checkpoints."""
    a = Usage.model_validate(left or {})
    b = Usage.model_validate(right or {})
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

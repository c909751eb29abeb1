"""Response headers of a model call, and the rate limits providers report in them.

Where the headers come from:
- `ChatOpenAI(include_response_headers=True)` (the factory sets it, and on the copy of a
  Python-given model) puts them in `AIMessage.response_metadata["headers"]`;
- `ChatBedrockConverse` keeps botocore's `response_metadata["ResponseMetadata"]["HTTPHeaders"]`
  (Bedrock sends no rate-limit headers: it adapts from ThrottlingException alone);
- an SDK error carries its response: `exc.response.headers` (httpx) or botocore's
  `exc.response["ResponseMetadata"]["HTTPHeaders"]`.

What is read: OpenAI-style `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` (reset as a
duration such as `1s`, `6m0s`, `20ms`) and Anthropic's `anthropic-ratelimit-{requests,tokens}-
{limit,remaining,reset}` (reset as an RFC 3339 time). Limits are per minute.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def _lowered(raw: Any) -> dict[str, str]:
    try:
        return {str(k).lower(): str(v) for k, v in dict(raw).items()}
    except Exception:
        return {}


def response_headers(message: Any) -> dict[str, str]:
    """Lower-cased HTTP headers of a chat model's answer, when the integration keeps them."""
    meta = getattr(message, "response_metadata", None)
    if not isinstance(meta, Mapping):
        return {}
    if isinstance(meta.get("headers"), Mapping):
        return _lowered(meta["headers"])
    botocore = meta.get("ResponseMetadata")
    if isinstance(botocore, Mapping) and isinstance(botocore.get("HTTPHeaders"), Mapping):
        return _lowered(botocore["HTTPHeaders"])
    return {}


def error_headers(exc: BaseException) -> dict[str, str]:
    """Lower-cased HTTP headers of the response an SDK error came with."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is not None:
        return _lowered(headers)
    if isinstance(response, dict):  # botocore ClientError
        return _lowered(response.get("ResponseMetadata", {}).get("HTTPHeaders", {}) or {})
    return {}


def parse_duration(text: str, now: float | None = None) -> float | None:
    """Seconds from `1s`, `6m0s`, `1m30.5s`, `20ms`, a bare number, or an RFC 3339 time."""
    value = text.strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    parts = _DURATION.findall(value)
    if parts and "".join(n + u for n, u in parts) == value:
        return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if value >= 0 else None


@dataclass(frozen=True)
class ProviderLimits:
    """What the provider said about an endpoint's limits in one response (None: not sent).

    `*_limit` are per minute; `*_remaining` what was left when it answered; `*_reset` seconds
    until the bucket is full again.
    """

    requests_limit: float | None = None
    requests_remaining: float | None = None
    requests_reset: float | None = None
    tokens_limit: float | None = None
    tokens_remaining: float | None = None
    tokens_reset: float | None = None

    def wait_hint(self, tokens: float) -> float | None:
        """Seconds until one more request of `tokens` fits, by the provider's own numbers
        (the refill rate is what was used over the time until reset); None if unknown."""
        waits = []
        for limit, remaining, reset, need in (
            (self.requests_limit, self.requests_remaining, self.requests_reset, 1.0),
            (self.tokens_limit, self.tokens_remaining, self.tokens_reset, tokens),
        ):
            if limit is None or remaining is None or reset is None or remaining >= need:
                continue
            used = limit - remaining
            if used > 0:
                waits.append(reset * min(1.0, (need - remaining) / used))
        return max(waits) if waits else None


def provider_limits(headers: Mapping[str, str], now: float | None = None) -> ProviderLimits | None:
    """The rate limits in OpenAI-style or Anthropic headers; None when there are none."""
    found: dict[str, float | None] = {}
    for kind in ("requests", "tokens"):
        names: tuple[tuple[str, str, str], ...] = (
            (f"x-ratelimit-limit-{kind}", f"x-ratelimit-remaining-{kind}",
             f"x-ratelimit-reset-{kind}"),
            (f"anthropic-ratelimit-{kind}-limit", f"anthropic-ratelimit-{kind}-remaining",
             f"anthropic-ratelimit-{kind}-reset"),
        )
        if kind == "tokens":  # Anthropic's input-token limit when the combined one is absent
            names += (("anthropic-ratelimit-input-tokens-limit",
                       "anthropic-ratelimit-input-tokens-remaining",
                       "anthropic-ratelimit-input-tokens-reset"),)
        for limit, remaining, reset in names:
            if limit in headers or remaining in headers:
                found[f"{kind}_limit"] = _number(headers.get(limit))
                found[f"{kind}_remaining"] = _number(headers.get(remaining))
                raw_reset = headers.get(reset)
                found[f"{kind}_reset"] = None if raw_reset is None else parse_duration(
                    raw_reset, now)
                break
    if not any(v is not None for v in found.values()):
        return None
    return ProviderLimits(**found)

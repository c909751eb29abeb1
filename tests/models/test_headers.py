"""Response headers through LangChain, and the rate limits providers put in them."""

from __future__ import annotations

import httpx
import pytest
from langchain_core.messages import AIMessage

from chunkwise.models.headers import (
    ProviderLimits,
    error_headers,
    parse_duration,
    provider_limits,
    response_headers,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1s", 1.0), ("6m0s", 360.0), ("1m30.5s", 90.5), ("20ms", 0.02), ("1h2m3s", 3723.0),
     ("0.25", 0.25), ("7", 7.0), ("soon", None), ("", None)],
)
def test_durations(text: str, seconds: float | None) -> None:
    assert parse_duration(text) == (None if seconds is None else pytest.approx(seconds))


def test_rfc3339_reset_is_seconds_from_now() -> None:
    assert parse_duration("2026-01-01T00:00:10Z", now=1767225600.0) == pytest.approx(10.0)


def test_openai_headers() -> None:
    limits = provider_limits({
        "x-ratelimit-limit-requests": "500", "x-ratelimit-remaining-requests": "499",
        "x-ratelimit-reset-requests": "120ms", "x-ratelimit-limit-tokens": "240000",
        "x-ratelimit-remaining-tokens": "236000", "x-ratelimit-reset-tokens": "1s",
    })
    assert limits == ProviderLimits(500, 499, 0.12, 240_000, 236_000, 1.0)


def test_anthropic_headers_prefer_the_combined_token_limit() -> None:
    headers = {
        "anthropic-ratelimit-requests-limit": "50", "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": "2026-01-01T00:00:01Z",
        "anthropic-ratelimit-input-tokens-limit": "30000",
        "anthropic-ratelimit-input-tokens-remaining": "100",
        "anthropic-ratelimit-tokens-limit": "40000", "anthropic-ratelimit-tokens-remaining": "9",
    }
    limits = provider_limits(headers, now=1767225600.0)
    assert limits is not None
    assert (limits.requests_limit, limits.requests_remaining) == (50, 0)
    assert limits.requests_reset == pytest.approx(1.0)
    assert (limits.tokens_limit, limits.tokens_remaining) == (40_000, 9)
    del headers["anthropic-ratelimit-tokens-limit"], headers["anthropic-ratelimit-tokens-remaining"]
    assert provider_limits(headers).tokens_limit == 30_000  # type: ignore[union-attr]


def test_no_rate_limit_headers_is_none() -> None:
    assert provider_limits({"content-type": "application/json"}) is None
    assert provider_limits({"x-ratelimit-limit-tokens": "lots"}) is None


def test_wait_hint_uses_the_providers_refill() -> None:
    limits = ProviderLimits(tokens_limit=60_000, tokens_remaining=0, tokens_reset=60.0)
    assert limits.wait_hint(1000) == pytest.approx(1.0)  # 1000 a second
    assert ProviderLimits(tokens_limit=10).wait_hint(1000) is None


def test_headers_as_langchain_integrations_keep_them() -> None:
    openai_style = AIMessage("x", response_metadata={"headers": {"X-RateLimit-Limit-Tokens": "9"}})
    bedrock_style = AIMessage("x", response_metadata={
        "ResponseMetadata": {"HTTPHeaders": {"x-amzn-requestid": "r"}}})
    assert response_headers(openai_style) == {"x-ratelimit-limit-tokens": "9"}
    assert response_headers(bedrock_style) == {"x-amzn-requestid": "r"}
    assert response_headers(AIMessage("x")) == {} and response_headers(None) == {}


def test_headers_of_sdk_errors() -> None:
    import openai
    from botocore.exceptions import ClientError

    request = httpx.Request("POST", "https://example.invalid/v1/chat/completions")
    response = httpx.Response(429, headers={"Retry-After": "2"}, json={}, request=request)
    error = openai.RateLimitError("slow down", response=response, body={})
    assert error_headers(error)["retry-after"] == "2"
    boto = ClientError({"Error": {"Code": "ThrottlingException", "Message": "m"},
                        "ResponseMetadata": {"HTTPHeaders": {"Retry-After": "3"}}},
                       "Converse")  # type: ignore[arg-type]
    assert error_headers(boto) == {"retry-after": "3"}
    assert error_headers(ValueError("x")) == {}

"""Usage sums, prices and cost, and redaction of secrets in text and logs."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from chunkwise.errors import ConfigError
from chunkwise.models.secrets import RedactingFilter, install_log_redaction, redact
from chunkwise.models.usage import (
    Price,
    Usage,
    add_usage,
    load_prices,
    price_for,
    priced,
    usage_from_metadata,
)


def test_usage_from_langchain_metadata() -> None:
    usage = usage_from_metadata(
        {"input_tokens": 1200, "output_tokens": 80, "total_tokens": 1280,
         "input_token_details": {"cache_read": 1000}}
    )
    assert (usage.input_tokens, usage.output_tokens, usage.cached_tokens, usage.calls) == (
        1200, 80, 1000, 1)
    assert usage_from_metadata(None) == Usage(calls=1)


def test_add_usage_reducer_accepts_checkpointed_dicts() -> None:
    total = add_usage(Usage(input_tokens=1, calls=1, cost_usd=0.5).model_dump(),
                      Usage(output_tokens=2, calls=1, retries=3, unpriced_calls=1))
    assert total == Usage(input_tokens=1, output_tokens=2, calls=2, retries=3, cost_usd=0.5,
                          unpriced_calls=1)
    assert add_usage(None, None) == Usage()


def test_usage_line() -> None:
    usage = Usage(input_tokens=34567, output_tokens=8901, cached_tokens=1024, calls=12,
                  retries=2, cost_usd=0.01234, unpriced_calls=1)
    assert usage.line() == (
        "12 calls, 34,567 in / 8,901 out tokens (1,024 cached), 2 retries, ~$0.0123 "
        "(+1 unpriced)"
    )
    assert Usage(calls=1).line() == "1 call, 0 in / 0 out tokens (0 cached)"


def test_builtin_prices_cover_the_default_models() -> None:
    haiku = price_for("bedrock_converse:anthropic.claude-3-haiku-20240307-v1:0")
    assert haiku == Price(0.25, 1.25)
    assert price_for("bedrock_converse:us.anthropic.claude-3-haiku-20240307-v1:0") == haiku
    assert price_for("bedrock_converse:anthropic.claude-3-sonnet-20240229-v1:0") == Price(3, 15)
    assert price_for("openai:stepfun/step-3.5-flash:free") == Price(0, 0)
    assert price_for("local:default") == Price(0, 0)
    assert price_for("openai:gpt-4o-mini") is None


def test_cost_counts_cached_prompt_tokens_at_the_cached_rate() -> None:
    usage = Usage(input_tokens=1_000_000, cached_tokens=400_000, output_tokens=100_000, calls=1)
    price = Price(input=3.0, output=15.0, cached_input=0.3)
    assert price.cost(usage) == pytest.approx(0.6 * 3.0 + 0.4 * 0.3 + 0.1 * 15.0)
    assert Price(1.0, 2.0).cost(usage) == pytest.approx(1.0 + 0.2)


def test_prices_file_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({
        "openai:gpt-4o-mini": {"input": 0.15, "output": 0.6},
        "*claude-3-haiku*": {"input": 0.3, "output": 1.5, "cached_input": 0.03},
    }))
    monkeypatch.setenv("CHUNKWISE_PRICES", str(prices))
    assert price_for("openai:gpt-4o-mini") == Price(0.15, 0.6)
    # the file's entries win over the built-in ones
    assert price_for("bedrock_converse:anthropic.claude-3-haiku-20240307-v1:0") == Price(
        0.3, 1.5, 0.03)
    assert price_for("local:default") == Price(0, 0)  # built-ins still apply elsewhere
    usage = priced(Usage(input_tokens=1000, output_tokens=100, calls=1), "openai:gpt-4o-mini")
    assert usage.cost_usd == pytest.approx((1000 * 0.15 + 100 * 0.6) / 1e6)
    unknown = priced(Usage(input_tokens=1, calls=1), "openai:other")
    assert unknown.cost_usd is None and unknown.unpriced_calls == 1


def test_genai_prices_price_most_hosted_models_offline() -> None:
    """Without a CHUNKWISE_PRICES entry, genai-prices' bundled data prices the call (no
    network: the test environment has none beyond 127.0.0.1)."""
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000, calls=1)
    assert priced(usage, "openai:gpt-4o-mini").cost_usd == pytest.approx(0.15 + 0.6)
    assert priced(usage, "bedrock_converse:amazon.nova-pro-v1:0").cost_usd == pytest.approx(4.0)
    routed = priced(usage, "openai:openai/gpt-4o-mini", base_url="https://openrouter.ai/api/v1")
    assert routed.cost_usd == pytest.approx(0.75) and routed.unpriced_calls == 0
    cached = Usage(input_tokens=1_000_000, cached_tokens=1_000_000, calls=1)
    assert priced(cached, "openai:gpt-4o-mini").cost_usd == pytest.approx(0.075)


def test_a_local_or_unknown_server_is_never_priced_as_openai() -> None:
    usage = Usage(input_tokens=1000, calls=1)
    local = priced(usage, "openai:gpt-4o-mini", base_url="http://127.0.0.1:8080/v1")
    assert local.cost_usd is None and local.unpriced_calls == 1
    assert priced(usage, "openai:fake-gpt").cost_usd is None
    assert priced(usage, "ScriptedChatModel:scripted").cost_usd is None


def test_prices_file_wins_over_genai_prices(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"openai:gpt-4o-mini": {"input": 1, "output": 1}}))
    monkeypatch.setenv("CHUNKWISE_PRICES", str(prices))
    usage = Usage(input_tokens=1_000_000, calls=1)
    assert priced(usage, "openai:gpt-4o-mini").cost_usd == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("content", "words"),
    [("not json", "not a JSON file"), ("[]", "expected an object"),
     ('{"m": {"input": 1}}', "needs numeric"), ('{"m": {"input": -1, "output": 1}}',
                                                 "must not be negative")],
)
def test_bad_prices_files_are_config_errors(
    tmp_path: Path, content: str, words: str
) -> None:
    path = tmp_path / "prices.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=words):
        load_prices(path)
    with pytest.raises(ConfigError, match="no such file"):
        load_prices(tmp_path / "missing.json")


def test_redact_known_variables_generic_secrets_and_key_shapes(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLM_API_KEY", "abcd-live-secret")
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok_0123456789")
    monkeypatch.setenv("FEATURE_KEY", "short")  # under 8 characters: a plain word, left alone
    text = ("key abcd-live-secret, token tok_0123456789, short, sk-proj-abcdef123456, "
            "AKIAIOSFODNN7EXAMPLE, Authorization: Bearer eyJ0eXAiOiJKV1Qi.x1, "
            "invalid_api_key: Incorrect API key provided")
    cleaned = redact(text)
    for secret in ("abcd-live-secret", "tok_0123456789", "sk-proj-abcdef123456",
                   "AKIAIOSFODNN7EXAMPLE", "eyJ0eXAiOiJKV1Qi"):
        assert secret not in cleaned
    assert "short" in cleaned and "Incorrect API key provided" in cleaned


@pytest.mark.parametrize(
    "text",
    ["either-or-fallback", "model rk-2024-preview not found", "pk-value and or-else",
     "sk-learn-compatible-estimator", "task-2024abcdefghijklmnop",
     "InvalidSignatureException/RequestExpired2024",
     "meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8",
     "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B-ThisIsAVeryLongCamelCaseIdentifier123",
     "blob sha256:2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881",
     "the bearer of bad news", "invalid_api_key: Incorrect API key provided"],
)
def test_redact_leaves_ordinary_words_and_model_names(text: str) -> None:
    assert redact(text) == text


@pytest.mark.parametrize(
    ("text", "kept"),
    [("key sk-proj-abcdef123456 used", "key *** used"),
     ("sk-ant-api03-Ab1Cd2Ef3Gh4Ij5Kl6Mn7", "***"),
     ("sk-or-v1-0123456789abcdef0123456789abcdef", "***"),
     ("gsk_ABCdef0123456789ghijKL and ghp_0123456789abcdefABCDEFghij", "*** and ***"),
     ("AIzaSyD0123456789abcdefghijKLMNOPQRSTU", "***"),
     ("id AKIAIOSFODNN7EXAMPLE", "id ***"),
     ("Authorization: Bearer eyJ0eXAiOiJKV1Qi.x1", "Authorization: Bearer ***"),
     ("GET https://x.test/v1/models?key=abc123secret&alt=json",
      "GET https://x.test/v1/models?key=***&alt=json"),
     ("https://s3.test/f?X-Amz-Date=1&X-Amz-Signature=0f1e2d3c",
      "https://s3.test/f?X-Amz-Date=1&X-Amz-Signature=***"),
     ("token q8Rz3LmW0pX9vT2kY7sB4nF6hJ1cD5gA here", "token *** here")],
)
def test_redact_masks_real_key_shapes(text: str, kept: str) -> None:
    assert redact(text) == kept


def test_log_records_are_redacted(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token-0123456789")
    logger = logging.getLogger("chunkwise.test.redaction")
    caplog.handler.addFilter(RedactingFilter())
    with caplog.at_level(logging.DEBUG, logger="chunkwise.test.redaction"):
        logger.debug("headers: %s", {"X-Amz-Security-Token": "session-token-0123456789"})
    assert "session-token-0123456789" not in caplog.text and "***" in caplog.text


def test_install_log_redaction_is_idempotent() -> None:
    logger = logging.getLogger("chunkwise.test.install")
    handler = logging.StreamHandler()
    logger.addHandler(handler)
    try:
        install_log_redaction(logger)
        install_log_redaction(logger)
        assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1
    finally:
        logger.removeHandler(handler)

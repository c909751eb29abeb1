"""Spec parsing, backend resolution order and the seeds' environment variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from chunkwise.errors import ConfigError
from chunkwise.models.defaults import (
    BEDROCK_CHUNK_DEFAULT,
    BEDROCK_CODE_DEFAULT,
    LOCAL_DEFAULT,
    OPENAI_COMPAT_BASE_URL,
    OPENAI_COMPAT_MODEL,
    resolve_spec,
)
from chunkwise.models.resolve import resolve_model
from chunkwise.models.settings import ModelSettings, chunk_processing_delay
from chunkwise.models.spec import ModelSpec, parse_model_spec


@pytest.mark.parametrize(
    ("text", "provider", "model"),
    [
        ("bedrock_converse:anthropic.claude-3-haiku-20240307-v1:0", "bedrock_converse",
         "anthropic.claude-3-haiku-20240307-v1:0"),
        ("bedrock:anthropic.claude-3-sonnet-20240229-v1:0", "bedrock_converse",
         "anthropic.claude-3-sonnet-20240229-v1:0"),
        ("anthropic.claude-3-haiku-20240307-v1:0", "bedrock_converse",
         "anthropic.claude-3-haiku-20240307-v1:0"),
        ("us.anthropic.claude-3-5-sonnet-20240620-v1:0", "bedrock_converse",
         "us.anthropic.claude-3-5-sonnet-20240620-v1:0"),
        ("amazon.nova-pro-v1:0", "bedrock_converse", "amazon.nova-pro-v1:0"),
        ("arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.meta.llama3-1-8b-v1:0",
         "bedrock_converse",
         "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.meta.llama3-1-8b-v1:0"),
        ("openai:stepfun/step-3.5-flash:free", "openai", "stepfun/step-3.5-flash:free"),
        ("openai:gpt-4o-mini", "openai", "gpt-4o-mini"),
        ("gpt-4.1-mini", "openai", "gpt-4.1-mini"),
        ("ollama:llama3.2:3b", "ollama", "llama3.2:3b"),
        ("anthropic:claude-3-5-haiku-latest", "anthropic", "claude-3-5-haiku-latest"),
        ("local", "local", "default"),
        ("local:qwen2.5-coder-1.5b", "local", "qwen2.5-coder-1.5b"),
        ("  OpenAI:gpt-4o  ", "openai", "gpt-4o"),
    ],
)
def test_specs_parse(text: str, provider: str, model: str) -> None:
    assert parse_model_spec(text) == ModelSpec(provider, model)
    assert str(parse_model_spec(text)) == f"{provider}:{model}"


@pytest.mark.parametrize(
    ("text", "words"),
    [("", "empty model spec"), ("openai:", "names no model"), ("nonsense:x", "unknown model spec"),
     ("just words", "unknown model spec")],
)
def test_bad_specs_are_one_line_config_errors(text: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words) as info:
        parse_model_spec(text)
    assert "\n" not in str(info.value)


def test_explicit_flag_wins() -> None:
    env = {"BEDROCK_MODEL_ID": "anthropic.claude-3-haiku-20240307-v1:0", "LLM_API_KEY": "k"}
    resolved = resolve_spec("code", "local:default", env)
    assert (resolved.spec, resolved.source) == ("local:default", "flag")


def test_flagged_openai_spec_uses_the_compatible_route_when_configured() -> None:
    resolved = resolve_spec("code", "openai:x", {"LLM_API_KEY": "k"})
    assert resolved.base_url == OPENAI_COMPAT_BASE_URL
    assert resolve_spec("code", "openai:x", {}).base_url is None


def test_seed_bedrock_variables_per_role() -> None:
    env = {"BEDROCK_MODEL_ID": "anthropic.claude-3-sonnet-20240229-v1:0",
           "BEDROCK_CHUNK_MODEL_ID": "anthropic.claude-3-haiku-20240307-v1:0"}
    chunk, code = resolve_spec("chunk", None, env), resolve_spec("code", None, env)
    assert (chunk.spec, chunk.variable) == (env["BEDROCK_CHUNK_MODEL_ID"],
                                           "BEDROCK_CHUNK_MODEL_ID")
    assert (code.spec, code.source) == (env["BEDROCK_MODEL_ID"], "env")
    assert parse_model_spec(chunk.spec).provider == "bedrock_converse"


def test_seed_llm_variables() -> None:
    env = {"LLM_MODEL": "meta/llama-3", "LLM_BASE_URL": "http://127.0.0.1:8000/v1"}
    resolved = resolve_spec("writer", None, env)
    assert (resolved.spec, resolved.base_url, resolved.source) == (
        "openai:meta/llama-3", "http://127.0.0.1:8000/v1", "env")
    default_url = resolve_spec("writer", None, {"LLM_MODEL": "m"}).base_url
    assert default_url == OPENAI_COMPAT_BASE_URL


def test_chunkwise_model_variables_take_any_spec() -> None:
    env = {"CHUNKWISE_MODEL": "ollama:llama3.2", "CHUNKWISE_JUDGE_MODEL": "local:default",
           "BEDROCK_MODEL_ID": "anthropic.claude-3-sonnet-20240229-v1:0"}
    assert resolve_spec("judge", None, env).spec == "local:default"
    assert resolve_spec("writer", None, env).spec == "ollama:llama3.2"


def test_credentials_pick_bedrock_then_the_compatible_route(tmp_path: Path) -> None:
    nothing = {"AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}
    aws = {**nothing, "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b", "LLM_API_KEY": "k"}
    assert resolve_spec("chunk", None, aws).spec == f"bedrock_converse:{BEDROCK_CHUNK_DEFAULT}"
    assert resolve_spec("code", None, aws).spec == f"bedrock_converse:{BEDROCK_CODE_DEFAULT}"
    assert resolve_spec("code", None, {**nothing, "AWS_PROFILE": "dev"}).source == "credentials"
    compat = resolve_spec("code", None, {**nothing, "LLM_API_KEY": "k"})
    assert (compat.spec, compat.base_url) == (f"openai:{OPENAI_COMPAT_MODEL}",
                                              OPENAI_COMPAT_BASE_URL)
    credentials_file = tmp_path / "credentials"
    credentials_file.write_text("[default]\n")
    on_disk = resolve_spec("code", None, {"AWS_SHARED_CREDENTIALS_FILE": str(credentials_file)})
    assert on_disk.source == "credentials"


def test_nothing_configured_is_the_offline_local_default(tmp_path: Path) -> None:
    resolved = resolve_spec("code", None, {"AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "x")})
    assert (resolved.spec, resolved.source) == (LOCAL_DEFAULT, "default")
    model = resolve_model("code", None, ModelSettings(),
                          {"AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "x")})
    assert model.describe() == "local:default · embedded llama.cpp (offline) · from default"


@pytest.mark.parametrize(("raw", "value"), [(None, 0.0), ("", 0.0), ("2", 2.0), (" 0.5 ", 0.5)])
def test_chunk_processing_delay(raw: str | None, value: float) -> None:
    env = {} if raw is None else {"CHUNK_PROCESSING_DELAY": raw}
    assert chunk_processing_delay(env) == value
    assert ModelSettings(min_interval=chunk_processing_delay(env)).min_interval == value


@pytest.mark.parametrize("raw", ["soon", "-1", "nan"])
def test_bad_chunk_processing_delay_is_a_config_error(raw: str) -> None:
    with pytest.raises(ConfigError, match="CHUNK_PROCESSING_DELAY"):
        chunk_processing_delay({"CHUNK_PROCESSING_DELAY": raw})


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [("rpm", 0, "--rpm must be more than 0"), ("tpm", -1.0, "--tpm must be more than 0"),
     ("rpm", float("nan"), "--rpm must be more than 0"),
     ("burst_seconds", 0.0, "--burst-seconds must be more than 0"),
     ("max_in_flight", 0, "--max-in-flight must be at least 1"),
     ("max_attempts", 0, "--max-attempts must be at least 1"),
     ("min_interval", -1.0, "--delay must be at least 0"),
     ("top_p", 1.5, "--top-p must be at most 1"), ("context_window", 0, "--context-window")],
)
def test_settings_reject_bad_values_in_one_line(field: str, value: float, words: str) -> None:
    """Where settings are made, so the CLI and the Python API get the same check."""
    with pytest.raises(ConfigError, match=words.replace("-", r"\-")) as info:
        ModelSettings(**{field: value})  # type: ignore[arg-type]
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError):
        ModelSettings().with_(**{field: value})


def test_fractional_rates_stay_fractional() -> None:
    assert ModelSettings(rpm=0.5).limiter_config().rpm == 0.5

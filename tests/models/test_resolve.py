"""`resolve_model`: one frozen description of a role's model, decided once, without I/O."""

from __future__ import annotations

import dataclasses

import pytest

from chunkwise.errors import ConfigError
from chunkwise.models.resolve import model_fingerprint, resolve_model
from chunkwise.models.scripted import ScriptedChatModel
from chunkwise.models.settings import ModelSettings

OPENROUTER = "https://openrouter.ai/api/v1"


def test_a_spec_from_the_environment_with_the_route_folded_in() -> None:
    env = {"LLM_MODEL": "meta/llama-3", "LLM_API_KEY": "sk-k-0123456789abcdef"}
    model = resolve_model("writer", None, ModelSettings(temperature=0.2), env)
    assert (model.role, model.name, model.source, model.variable) == (
        "writer", "openai:meta/llama-3", "env", "LLM_MODEL")
    assert model.settings.base_url == OPENROUTER and model.settings.temperature == 0.2
    assert model.endpoint == f"openai:{OPENROUTER}" == model.cache_scope
    assert model.backend == f"OpenAI-compatible at {OPENROUTER}"
    assert model.structured_method == "function_calling"
    assert model.describe() == (
        f"openai:meta/llama-3 · OpenAI-compatible at {OPENROUTER} · from env LLM_MODEL")
    assert "sk-k-0123456789abcdef" not in repr(model)
    with pytest.raises(dataclasses.FrozenInstanceError):
        model.name = "x"  # type: ignore[misc]
    assert hash(model) == hash(resolve_model("writer", None, ModelSettings(temperature=0.2), env))


def test_the_build_key_follows_the_environment_and_the_sampling() -> None:
    env = {"LLM_API_KEY": "one"}
    a = resolve_model("code", "openai:m", ModelSettings(), env)
    assert a.build_key == resolve_model("code", "openai:m", ModelSettings(rpm=5), env).build_key
    assert a.build_key != resolve_model("code", "openai:m", ModelSettings(), {"LLM_API_KEY": "two"}
                                        ).build_key
    assert a.build_key != resolve_model("code", "openai:m", ModelSettings(top_p=0.5), env).build_key


def test_resolving_needs_no_credentials_building_does() -> None:
    model = resolve_model("chunk", "bedrock_converse:anthropic.claude-3-haiku-20240307-v1:0",
                          ModelSettings(), {"AWS_REGION": "eu-west-3"})
    assert model.endpoint == "bedrock:eu-west-3" and model.source == "flag"
    assert model.backend == "Amazon Bedrock Converse (eu-west-3)"


def test_a_chat_model_given_in_python() -> None:
    chat = ScriptedChatModel()
    model = resolve_model("judge", chat, ModelSettings())
    assert model.instance is chat and model.spec is None and model.build_key is None
    assert (model.source, model.name) == ("python", "scripted:scripted")
    assert model.describe() == "ScriptedChatModel (given in Python)"
    assert model.endpoint.startswith("instance:ScriptedChatModel:")


def test_a_python_models_cache_scope_is_its_parameters_without_keys() -> None:
    from langchain_openai import ChatOpenAI

    def chat(**kw: object) -> ChatOpenAI:
        args: dict[str, object] = {"model": "m", "api_key": "sk-a-0123456789abcdef",
                                   "base_url": "http://127.0.0.1:1/v1", **kw}
        return ChatOpenAI(**args)  # type: ignore[arg-type]

    base = model_fingerprint(chat())
    assert model_fingerprint(chat(api_key="sk-b-0123456789abcdef")) == base
    assert model_fingerprint(chat(max_retries=5, timeout=3)) == base
    assert model_fingerprint(chat(base_url="http://127.0.0.1:2/v1")) != base
    assert model_fingerprint(chat(temperature=0.9)) != base
    assert model_fingerprint(chat(max_tokens=10)) != base
    assert model_fingerprint(chat(default_headers={"Authorization": "Bearer x"})) == base


def test_anything_else_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="spec string or a LangChain chat model"):
        resolve_model("code", 42, ModelSettings())  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown model spec"):
        resolve_model("code", "nonsense:model", ModelSettings())


def test_describe_models_reports_the_choice_as_data(tmp_path: object) -> None:
    """The command prints it; resolution hands back data (no print callback goes down)."""
    from chunkwise.state.context import BaseContext, describe_models

    context = BaseContext(blob_store=":memory:")
    chunk, judge = describe_models(context, {"chunk": None, "judge": ScriptedChatModel()})
    assert (chunk.role, chunk.name, chunk.source) == ("chunk", "local:default", "default")
    assert (judge.role, judge.source) == ("judge", "python")

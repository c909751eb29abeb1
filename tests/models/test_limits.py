"""A model's window and reply cap: settings > the model's own > its profile > table > default."""

from __future__ import annotations

import pytest

from chunkwise.models.limits import expected_limits, model_limits
from chunkwise.models.scripted import ScriptedChatModel
from chunkwise.models.settings import ModelSettings
from chunkwise.models.spec import parse_model_spec

from .clients import make_client


def test_a_bare_gpt_4_has_8k_from_its_profile_not_the_32k_default() -> None:
    from langchain_openai import ChatOpenAI

    chat = ChatOpenAI(model="gpt-4", api_key="sk-x-0123456789",  # type: ignore[arg-type]
                      base_url="http://127.0.0.1:9/v1")
    client = make_client(chat, ModelSettings())
    assert (client.context_window, client.max_output_tokens) == (8192, 8192)
    assert (client.limits.context_source, client.limits.output_source) == ("profile", "profile")


def test_each_source_in_order() -> None:
    settings = ModelSettings()
    profile = {"max_input_tokens": 128_000, "max_output_tokens": 16_384}
    assert model_limits("openai:gpt-4o", settings.with_(context_window=4096, max_new_tokens=99),
                        profile=profile).describe() == (
        "context 4,096 (settings) · reply 99 (settings)")
    assert model_limits("x:y", settings, profile=profile, model_window=2048).describe() == (
        "context 2,048 (model) · reply 16,384 (profile)")
    assert model_limits("openai:gpt-4o-2024", settings).describe() == (
        "context 128,000 (table) · reply 16,384 (table)")
    assert model_limits("openai:mystery", settings).describe() == (
        "context 32,768 (default) · reply 4,096 (default)")


def test_the_chat_models_own_window_and_profile_are_read() -> None:
    chat = ScriptedChatModel(profile={"max_input_tokens": 1000, "max_output_tokens": 100})
    limits = model_limits("scripted:scripted", ModelSettings(), chat=chat)
    assert (limits.context_window, limits.max_output_tokens) == (1000, 100)


@pytest.mark.parametrize(
    ("spec", "window", "source"),
    [("openai:gpt-4", 8192, "profile"), ("openai:gpt-4.1", 1_047_576, "profile"),
     ("bedrock_converse:anthropic.claude-3-haiku-20240307-v1:0", 200_000, "table"),
     ("local:default", 8192, "model")],
)
def test_expected_limits_without_building(spec: str, window: int, source: str) -> None:
    limits = expected_limits(parse_model_spec(spec), ModelSettings())
    assert (limits.context_window, limits.context_source) == (window, source)

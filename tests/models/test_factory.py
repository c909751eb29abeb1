"""The factory: SDK retries off, endpoints and keys from the environment, config errors."""

from __future__ import annotations

import pytest

from chunkwise.errors import ConfigError
from chunkwise.models.factory import (
    OPENAI_COMPAT_BASE_URL,
    build_chat_model,
    endpoint_of,
    openai_api_key,
    openai_base_url,
)
from chunkwise.models.settings import ModelSettings
from chunkwise.models.spec import parse_model_spec
from tests.models.clients import make_client

BEDROCK = "bedrock_converse:anthropic.claude-3-haiku-20240307-v1:0"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret-key")
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


def test_bedrock_client_makes_exactly_one_attempt_per_call(aws: None) -> None:
    chat = build_chat_model(parse_model_spec(BEDROCK), ModelSettings(timeout=7.0))
    config = chat.client.meta.config  # type: ignore[attr-defined]
    # botocore's max_attempts=1 would have meant one *retry*: total_max_attempts is the total
    assert config.retries["total_max_attempts"] == 1
    assert config.read_timeout == 7.0
    assert chat.client.meta.region_name == "eu-west-3"  # type: ignore[attr-defined]
    assert chat.model_id == "anthropic.claude-3-haiku-20240307-v1:0"  # type: ignore[attr-defined]


def test_bedrock_endpoint_override_reaches_the_runtime_client(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "http://127.0.0.1:4566")
    spec = parse_model_spec(BEDROCK)
    chat = build_chat_model(spec, ModelSettings())
    assert chat.client.meta.endpoint_url == "http://127.0.0.1:4566"  # type: ignore[attr-defined]
    assert endpoint_of(spec, ModelSettings()) == "bedrock:http://127.0.0.1:4566"


def test_bedrock_ignores_the_openai_base_url(aws: None) -> None:
    chat = build_chat_model(parse_model_spec(BEDROCK), ModelSettings(base_url="https://x.test/v1"))
    assert "x.test" not in chat.client.meta.endpoint_url  # type: ignore[attr-defined]


def test_bedrock_without_credentials_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no AWS credentials"):
        build_chat_model(parse_model_spec(BEDROCK), ModelSettings())


def test_openai_has_no_sdk_retries_and_speaks_chat_completions(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLM_API_KEY", "sk-test-0123456789")
    chat = build_chat_model(parse_model_spec("openai:some/model"),
                            ModelSettings(base_url="http://127.0.0.1:8000/v1", timeout=9.0,
                                          max_new_tokens=100))
    assert chat.max_retries == 0 and chat.root_client.max_retries == 0  # type: ignore[attr-defined]
    assert chat.use_responses_api is False  # type: ignore[attr-defined]
    assert chat.extra_body == {"max_tokens": 100}  # type: ignore[attr-defined]
    assert chat.request_timeout == 9.0  # type: ignore[attr-defined]
    assert "sk-test-0123456789" not in repr(chat)


@pytest.mark.parametrize(
    ("env", "flag", "url", "key"),
    [
        ({"LLM_API_KEY": "k1"}, None, OPENAI_COMPAT_BASE_URL, "k1"),
        ({"LLM_API_KEY": "k1", "LLM_BASE_URL": "http://h/v1"}, None, "http://h/v1", "k1"),
        ({"LLM_API_KEY": "k1", "LLM_BASE_URL": "http://h/v1"}, "http://f/v1", "http://f/v1",
         "k1"),
        ({"OPENAI_API_KEY": "k2"}, None, None, "k2"),
        ({"LLM_API_KEY": "k1", "OPENAI_API_KEY": "k2"}, None, OPENAI_COMPAT_BASE_URL, "k1"),
        ({}, "http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1", "not-needed"),
        ({}, "http://localhost:11434/v1", "http://localhost:11434/v1", "not-needed"),
        ({}, "https://remote.test/v1", "https://remote.test/v1", None),
        ({}, None, None, None),
    ],
)
def test_openai_compatible_route(
    env: dict[str, str], flag: str | None, url: str | None, key: str | None
) -> None:
    base = openai_base_url(ModelSettings(base_url=flag), env)
    assert base == url
    assert openai_api_key(base, env) == key


def test_openai_without_a_key_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match=r"no API key for openai:gpt-4o-mini at api\.openai\.com"):
        build_chat_model(parse_model_spec("openai:gpt-4o-mini"), ModelSettings())


def test_a_provider_without_its_package_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="provider 'groq' needs its LangChain package"):
        build_chat_model(parse_model_spec("groq:llama-3.1-8b-instant"), ModelSettings())


def test_built_models_are_reused_until_the_environment_changes(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLM_API_KEY", "sk-one-0123456789")
    settings = ModelSettings(base_url="http://127.0.0.1:9/v1")
    a = make_client("openai:m", settings)
    b = make_client("openai:m", settings.with_(rpm=5, max_attempts=2))  # limits: same model
    assert a.chat is b.chat
    monkeypatch.setenv("LLM_API_KEY", "sk-two-0123456789")
    c = make_client("openai:m", settings)
    assert c.chat is not a.chat
    assert "sk-two" not in repr(c) and "sk-two" not in repr(settings)


def test_a_python_chat_openai_gets_its_sdk_retries_turned_off(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    from langchain_openai import ChatOpenAI

    mine = ChatOpenAI(model="gpt-4o-mini", api_key="sk-x-0123456789",  # type: ignore[arg-type]
                      base_url="http://127.0.0.1:9/v1")
    assert mine.root_client.max_retries == 2  # the SDK default
    client = make_client(mine, ModelSettings(max_attempts=4))
    assert client.chat.root_client.max_retries == 0  # type: ignore[attr-defined]
    assert client.chat.client._client is client.chat.root_client  # type: ignore[attr-defined]
    assert mine.root_client.max_retries == 2  # the caller's object is untouched
    assert client._backoff.max_attempts == 4
    assert client.name == "openai:gpt-4o-mini"
    assert client.structured_method == "function_calling"  # a compatible server


def test_a_python_bedrock_model_keeps_the_total_within_bounds(aws: None) -> None:
    from langchain_aws import ChatBedrockConverse

    mine = ChatBedrockConverse(model="anthropic.claude-3-haiku-20240307-v1:0",
                               region_name="us-east-1")
    client = make_client(mine, ModelSettings(max_attempts=6))
    # botocore's standard mode makes up to 3 attempts per call: the seam makes 2 calls at most
    assert mine.client.meta.config.retries == {"mode": "standard"}  # type: ignore[attr-defined]
    assert client._backoff.max_attempts == 2
    assert client.structured_method == "function_calling"


def test_a_python_model_of_another_kind_does_not_import_langchain_openai() -> None:
    """Finding out whether a model is a ChatOpenAI used to import langchain-openai (and the
    openai SDK): 0.85 s for every run of a Bedrock, local or scripted model."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from chunkwise.models.client import client_for\n"
        "from chunkwise.models.resolve import resolve_model\n"
        "from chunkwise.models.scripted import ScriptedChatModel\n"
        "from chunkwise.models.settings import ModelSettings\n"
        "model = ScriptedChatModel(responders={'*': lambda c: 'x'})\n"
        "client = client_for(resolve_model('chunk', model, ModelSettings(cache=False)))\n"
        "assert client.complete('hi', task='t').text == 'x'\n"
        "sdk = ('openai', 'langchain_openai')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in sdk))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_a_half_imported_langchain_openai_is_not_mistaken_for_a_chat_openai(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two documents of a batch start at once: one thread may be importing langchain-openai
    (its module already in sys.modules, its classes not yet defined) while another asks
    whether a scripted model is a ChatOpenAI."""
    import sys
    import types

    from chunkwise.models.factory import without_sdk_retries
    from chunkwise.models.scripted import ScriptedChatModel

    half_built = types.ModuleType("langchain_openai.chat_models.base")
    monkeypatch.setitem(sys.modules, "langchain_openai.chat_models.base", half_built)
    model = ScriptedChatModel(responders={})
    assert without_sdk_retries(model)[0] is model

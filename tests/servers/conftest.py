"""Fixtures: fake OpenAI and Bedrock servers on 127.0.0.1, and environments pointing at them.

The root conftest already isolates the environment and resets limiters and built models after
each test. These fixtures add the variables a backend needs (fake keys that tests then look
for in errors, results and checkpoints) and fast retry settings.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chunkwise.models.client import clear_model_cache
from chunkwise.models.limiter import reset_limiters
from chunkwise.models.settings import ModelSettings

from .fake_bedrock import FakeBedrock
from .fake_openai import FakeOpenAI

OPENAI_KEY = "sk-test-chunkwise-0123456789abcdef"
AWS_SECRET = "testing-secret-0123456789abcdefABCDEF"
AWS_SESSION = "testing-session-token-0123456789"
BEDROCK_MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
BEDROCK_SPEC = f"bedrock_converse:{BEDROCK_MODEL}"
OPENAI_SPEC = "openai:fake-gpt"

# more variables that would change which backend or price a test sees
_ALSO_ISOLATE = (
    "CHUNKWISE_MODEL", "CHUNKWISE_CHUNK_MODEL", "CHUNKWISE_CODE_MODEL", "CHUNKWISE_PRICES",
    "OPENAI_BASE_URL", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL",
    "AWS_DEFAULT_PROFILE",
)


@pytest.fixture(autouse=True)
def _isolate_more(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in _ALSO_ISOLATE:
        monkeypatch.delenv(name, raising=False)
    reset_limiters()
    clear_model_cache()
    yield


@pytest.fixture
def fast() -> ModelSettings:
    """Small backoff and timeout so retry tests take milliseconds, not minutes."""
    return ModelSettings(
        timeout=1.0, max_attempts=4, backoff_base=0.01, backoff_cap=0.04, max_retry_after=1.0,
        cache=False,
    )


@pytest.fixture
def openai_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    """A fake OpenAI-compatible server; LLM_API_KEY and LLM_BASE_URL point at it."""
    server = FakeOpenAI().start()
    monkeypatch.setenv("LLM_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("LLM_BASE_URL", server.base_url)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def bedrock_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBedrock]:
    """A fake Bedrock Runtime; fake AWS credentials; botocore's endpoint override points at it."""
    server = FakeBedrock().start()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", AWS_SESSION)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", server.url)
    try:
        yield server
    finally:
        server.close()

"""Live checks against hosted models: opt-in with RUN_LIVE_LLM_TESTS=1 (plus the key or creds).

    RUN_LIVE_LLM_TESTS=1 LLM_API_KEY=... [LLM_MODEL=...] [LLM_BASE_URL=...] pytest -m live
    RUN_LIVE_LLM_TESTS=1 AWS_PROFILE=... [BEDROCK_CHUNK_MODEL_ID=...] pytest -m live

The root conftest scrubs keys from every test's environment; these tests put back what the
shell had when the module was collected, and only for themselves.
"""

from __future__ import annotations

import os

import pytest
from pydantic import BaseModel

from chunkwise.models.defaults import (
    BEDROCK_CHUNK_DEFAULT,
    OPENAI_COMPAT_BASE_URL,
    OPENAI_COMPAT_MODEL,
    has_aws_credentials,
)
from chunkwise.models.settings import ModelSettings
from tests.models.clients import make_client

SHELL = dict(os.environ)  # captured at collection, before the isolating fixtures run
LIVE = SHELL.get("RUN_LIVE_LLM_TESTS") == "1"
AWS_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
            "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE",
            "AWS_BEARER_TOKEN_BEDROCK", "AWS_ENDPOINT_URL_BEDROCK_RUNTIME")

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not LIVE, reason="live model tests are opt-in: RUN_LIVE_LLM_TESTS=1"),
]
SETTINGS = ModelSettings(max_new_tokens=64, timeout=60.0, max_attempts=3, cache=False)


class Capital(BaseModel):
    country: str
    capital: str


def _restore(monkeypatch: pytest.MonkeyPatch, names: tuple[str, ...]) -> None:
    for name in names:
        if name in SHELL:
            monkeypatch.setenv(name, SHELL[name])
        else:
            monkeypatch.delenv(name, raising=False)


@pytest.mark.skipif(not SHELL.get("LLM_API_KEY"), reason="needs LLM_API_KEY")
def test_openai_compatible_route_live(monkeypatch: pytest.MonkeyPatch) -> None:
    _restore(monkeypatch, ("LLM_API_KEY", "LLM_BASE_URL", "LLM_MODEL"))
    spec = f"openai:{SHELL.get('LLM_MODEL') or OPENAI_COMPAT_MODEL}"
    settings = SETTINGS.with_(base_url=SHELL.get("LLM_BASE_URL") or OPENAI_COMPAT_BASE_URL)
    client = make_client(spec, settings)
    out = client.complete("Reply with the single word: pong", task="live")
    assert out.text.strip() and out.usage.calls == 1 and out.usage.output_tokens > 0
    answer = client.structured("What is the capital of France?", Capital, task="live")
    assert "paris" in answer.value.capital.lower()
    assert SHELL["LLM_API_KEY"] not in repr(client)


@pytest.mark.skipif(not has_aws_credentials(SHELL), reason="needs AWS credentials")
def test_bedrock_live(monkeypatch: pytest.MonkeyPatch) -> None:
    _restore(monkeypatch, AWS_VARS)
    spec = f"bedrock_converse:{SHELL.get('BEDROCK_CHUNK_MODEL_ID') or BEDROCK_CHUNK_DEFAULT}"
    client = make_client(spec, SETTINGS)
    out = client.complete("Reply with the single word: pong", task="live")
    assert out.text.strip() and out.usage.input_tokens > 0
    answer = client.structured("What is the capital of France?", Capital, task="live")
    assert "paris" in answer.value.capital.lower()

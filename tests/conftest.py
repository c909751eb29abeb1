"""Fixtures shared by every test: an isolated environment and the real texts in ../shared."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

# Variables that would make a test pick a real backend or a real key.
_ISOLATE = (
    "LLM_API_KEY", "OPENAI_API_KEY", "LLM_MODEL", "LLM_BASE_URL", "BEDROCK_MODEL_ID",
    "BEDROCK_CHUNK_MODEL_ID", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_PROFILE", "AWS_BEARER_TOKEN_BEDROCK", "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
    "CHUNK_PROCESSING_DELAY", "CHUNKWISE_LOCAL_MODEL", "CHUNKWISE_PAPERS_DIR", "CHUNKWISE_MODEL",
    "CHUNKWISE_CHUNK_MODEL", "CHUNKWISE_CODE_MODEL", "CHUNKWISE_WRITER_MODEL",
    "CHUNKWISE_PLANNER_MODEL", "CHUNKWISE_JUDGE_MODEL", "CHUNKWISE_REWRITER_MODEL",
    "CHUNKWISE_PRICES", "OPENAI_BASE_URL", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL",
)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _ISOLATE:
        monkeypatch.delenv(name, raising=False)
    home = tmp_path_factory.mktemp("chunkwise-home")
    monkeypatch.setenv("CHUNKWISE_HOME", str(home))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "no-aws-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / "no-aws-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(autouse=True)
def fresh_model_registry() -> Iterator[None]:
    """Limiters and built chat models are process-wide; tests must not share them."""
    from chunkwise.models.client import clear_model_cache
    from chunkwise.models.limiter import reset_limiters

    yield
    reset_limiters()
    clear_model_cache()


@pytest.fixture
def shared() -> Path:
    """`../shared` beside the repository; tests that need it skip cleanly when it is absent."""
    if not SHARED.is_dir():
        pytest.skip("../shared (real texts) is not present")
    return SHARED


@pytest.fixture
def postgres_url() -> str:
    """The PostgreSQL server `.ci/run` starts; tests that need it skip without it."""
    url = os.environ.get("CHUNKWISE_TEST_POSTGRES")
    if not url:
        pytest.skip("CHUNKWISE_TEST_POSTGRES is unset (scripts/test.sh starts PostgreSQL)")
    return url

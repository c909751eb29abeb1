"""Which model each role uses when the caller does not say.

Order: explicit flag > role env variable > credentials found (AWS -> Bedrock, LLM_API_KEY ->
OpenAI-compatible) > the embedded local model. The seed's variables keep working:
BEDROCK_CHUNK_MODEL_ID (chunk role), BEDROCK_MODEL_ID (every other role), LLM_MODEL and
LLM_BASE_URL (OpenAI-compatible).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Role = Literal["chunk", "code", "writer", "judge", "rewriter", "planner"]
Source = Literal["flag", "env", "credentials", "default"]

BEDROCK_CHUNK_DEFAULT = "anthropic.claude-3-haiku-20240307-v1:0"
BEDROCK_CODE_DEFAULT = "anthropic.claude-3-sonnet-20240229-v1:0"
OPENAI_COMPAT_BASE_URL = "https://openrouter.ai/api/v1"
OPENAI_COMPAT_MODEL = "stepfun/step-3.5-flash:free"
LOCAL_DEFAULT = "local:default"


@dataclass(frozen=True)
class ResolvedSpec:
    spec: str
    source: Source
    base_url: str | None = None


def has_aws_credentials(env: Mapping[str, str]) -> bool:
    """AWS keys or a named profile in the environment (no network, no IMDS probe)."""
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        return True
    if env.get("AWS_PROFILE") or env.get("AWS_BEARER_TOKEN_BEDROCK"):
        return True
    path = env.get("AWS_SHARED_CREDENTIALS_FILE") or os.path.expanduser("~/.aws/credentials")
    return os.path.isfile(path)


def resolve_spec(
    role: str, explicit: str | None = None, env: Mapping[str, str] | None = None
) -> ResolvedSpec:
    """The spec for a role, and where it came from (the CLI prints both)."""
    env = os.environ if env is None else env
    if explicit:
        return ResolvedSpec(explicit, "flag")
    role_var = "BEDROCK_CHUNK_MODEL_ID" if role == "chunk" else "BEDROCK_MODEL_ID"
    if env.get(role_var):
        return ResolvedSpec(env[role_var], "env")  # bare Bedrock ids parse as bedrock_converse
    if env.get("LLM_MODEL"):
        return ResolvedSpec(
            f"openai:{env['LLM_MODEL']}", "env", env.get("LLM_BASE_URL") or OPENAI_COMPAT_BASE_URL
        )
    if env.get("CHUNKWISE_LOCAL_MODEL"):
        return ResolvedSpec(LOCAL_DEFAULT, "env")
    if has_aws_credentials(env):
        model_id = BEDROCK_CHUNK_DEFAULT if role == "chunk" else BEDROCK_CODE_DEFAULT
        return ResolvedSpec(f"bedrock_converse:{model_id}", "credentials")
    if env.get("LLM_API_KEY"):
        return ResolvedSpec(
            f"openai:{OPENAI_COMPAT_MODEL}",
            "credentials",
            env.get("LLM_BASE_URL") or OPENAI_COMPAT_BASE_URL,
        )
    return ResolvedSpec(LOCAL_DEFAULT, "default")

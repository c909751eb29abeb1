"""Which model each role uses when the caller does not say.

Order: explicit flag > environment > credentials found > the embedded local model.

- environment: `CHUNKWISE_<ROLE>_MODEL`, then `CHUNKWISE_MODEL` (any spec), then the seeds'
  variables: `BEDROCK_CHUNK_MODEL_ID` (chunk role) or `BEDROCK_MODEL_ID` (every other role),
  then `LLM_MODEL` (OpenAI-compatible at `LLM_BASE_URL`, default OpenRouter), then
  `CHUNKWISE_LOCAL_MODEL` (the local backend);
- credentials: AWS keys, a profile, SSO/container/web-identity credentials or a Bedrock API key
  -> Bedrock with the seeds' default models; else `LLM_API_KEY` -> the OpenAI-compatible
  default (`stepfun/step-3.5-flash:free` on OpenRouter);
- otherwise `local:default`, which needs no network.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Role = Literal["chunk", "code", "writer", "judge", "rewriter", "planner"]
ROLES: tuple[str, ...] = ("chunk", "code", "writer", "judge", "rewriter", "planner")
Source = Literal["flag", "env", "credentials", "default"]

BEDROCK_CHUNK_DEFAULT = "anthropic.claude-3-haiku-20240307-v1:0"
BEDROCK_CODE_DEFAULT = "anthropic.claude-3-sonnet-20240229-v1:0"
OPENAI_COMPAT_BASE_URL = "https://openrouter.ai/api/v1"
OPENAI_COMPAT_MODEL = "stepfun/step-3.5-flash:free"
LOCAL_DEFAULT = "local:default"
# said once by a command whose roles fell back to the local model (`source == "default"`)
LOCAL_DEFAULT_NOTICE = (
    "no cloud credentials found: running offline on the embedded local model "
    "(demo-grade output). For Bedrock set AWS credentials or --model "
    "bedrock_converse:MODEL_ID; for an OpenAI-compatible server set LLM_API_KEY and "
    "--model openai:MODEL --base-url URL"
)


@dataclass(frozen=True)
class ResolvedSpec:
    spec: str
    source: Source
    base_url: str | None = None
    variable: str | None = None  # the environment variable that decided, if any


def has_aws_credentials(env: Mapping[str, str]) -> bool:
    """AWS keys, a profile or other credential source (no network, no IMDS probe)."""
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        return True
    if any(
        env.get(name)
        for name in (
            "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_BEARER_TOKEN_BEDROCK",
            "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        )
    ):
        return True
    path = env.get("AWS_SHARED_CREDENTIALS_FILE") or os.path.expanduser("~/.aws/credentials")
    return os.path.isfile(path)


def _compat_base_url(env: Mapping[str, str]) -> str:
    return env.get("LLM_BASE_URL") or OPENAI_COMPAT_BASE_URL


def _is_openai(spec: str) -> bool:
    from chunkwise.errors import ConfigError
    from chunkwise.models.spec import parse_model_spec

    try:
        return parse_model_spec(spec).provider == "openai"
    except ConfigError:
        return False


def _openai_route(spec: str, env: Mapping[str, str]) -> str | None:
    """The base URL an `openai:` spec uses on the OpenAI-compatible route (None otherwise)."""
    if not _is_openai(spec):
        return None
    if env.get("LLM_BASE_URL") or env.get("LLM_API_KEY"):
        return _compat_base_url(env)
    return None


def resolve_spec(
    role: str, explicit: str | None = None, env: Mapping[str, str] | None = None
) -> ResolvedSpec:
    """The spec for a role, and where it came from (the CLI prints both)."""
    env = os.environ if env is None else env
    if explicit:
        spec = explicit.strip()
        return ResolvedSpec(spec, "flag", _openai_route(spec, env))
    for name in (f"CHUNKWISE_{role.upper()}_MODEL", "CHUNKWISE_MODEL"):
        if env.get(name):
            spec = env[name].strip()
            return ResolvedSpec(spec, "env", _openai_route(spec, env), name)
    role_var = "BEDROCK_CHUNK_MODEL_ID" if role == "chunk" else "BEDROCK_MODEL_ID"
    if env.get(role_var):  # bare Bedrock ids parse as bedrock_converse
        return ResolvedSpec(env[role_var].strip(), "env", None, role_var)
    if env.get("LLM_MODEL"):
        return ResolvedSpec(
            f"openai:{env['LLM_MODEL'].strip()}", "env", _compat_base_url(env), "LLM_MODEL"
        )
    if env.get("CHUNKWISE_LOCAL_MODEL"):
        return ResolvedSpec(LOCAL_DEFAULT, "env", None, "CHUNKWISE_LOCAL_MODEL")
    if has_aws_credentials(env):
        model_id = BEDROCK_CHUNK_DEFAULT if role == "chunk" else BEDROCK_CODE_DEFAULT
        return ResolvedSpec(f"bedrock_converse:{model_id}", "credentials", None, "AWS")
    if env.get("LLM_API_KEY"):
        return ResolvedSpec(
            f"openai:{OPENAI_COMPAT_MODEL}", "credentials", _compat_base_url(env), "LLM_API_KEY"
        )
    return ResolvedSpec(LOCAL_DEFAULT, "default")

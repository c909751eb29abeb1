"""Model specs: `provider:model` strings, one per role.

Only the first colon separates provider from model, so Bedrock ids such as
`anthropic.claude-3-haiku-20240307-v1:0` and OpenRouter ids such as
`stepfun/step-3.5-flash:free` survive parsing. Accepted without a provider:

- a bare Bedrock model id or inference profile (`anthropic.claude-3-haiku-20240307-v1:0`,
  `us.anthropic.claude-3-5-sonnet-20240620-v1:0`: the seeds' `BEDROCK_MODEL_ID` values) or a
  Bedrock ARN -> `bedrock_converse`;
- `local` -> `local:default`;
- a model name LangChain can attribute to a provider (`gpt-4o-mini` -> `openai`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from chunkwise.errors import ConfigError

_STATIC_PROVIDERS = frozenset(
    {
        "anthropic", "anthropic_bedrock", "azure_ai", "azure_openai", "baseten", "bedrock",
        "bedrock_converse", "cohere", "deepseek", "fireworks", "google_anthropic_vertex",
        "google_genai", "google_vertexai", "groq", "huggingface", "ibm", "litellm", "meta",
        "mistralai", "nvidia", "ollama", "openai", "openrouter", "perplexity", "together",
        "upstage", "xai",
    }
)


def _langchain_providers() -> frozenset[str]:
    try:
        from langchain.chat_models.base import _BUILTIN_PROVIDERS
    except Exception:  # a future langchain without the private table: keep the static list
        return frozenset()
    return frozenset(str(p) for p in _BUILTIN_PROVIDERS)


# Providers init_chat_model knows, plus our own embedded backend.
KNOWN_PROVIDERS = _STATIC_PROVIDERS | _langchain_providers() | {"local"}
_ALIASES = {
    "bedrock": "bedrock_converse",
    "bedrock-converse": "bedrock_converse",
    "aws": "bedrock_converse",
    "openai-compatible": "openai",
    "openai_compatible": "openai",
}
# [geo.]vendor.model-name[-vN][:rev], as Bedrock names foundation models and inference profiles
_BEDROCK_ID = re.compile(r"^(?:[a-z]{2,6}\.)?[a-z0-9-]+\.[A-Za-z0-9._-]+(?::\d+)?$")
_BEDROCK_VENDORS = frozenset(
    {
        "ai21", "amazon", "anthropic", "cohere", "deepseek", "luma", "meta", "mistral", "openai",
        "qwen", "stability", "twelvelabs", "writer", "google", "minimax", "moonshot", "nvidia",
    }
)
_BEDROCK_GEOS = frozenset({"us", "eu", "apac", "global", "jp", "au", "ca", "us-gov"})
_BEDROCK_ARN = re.compile(r"^arn:aws[a-z-]*:bedrock:[a-z0-9-]+:\d*:[A-Za-z-]+/\S+$")


@dataclass(frozen=True)
class ModelSpec:
    """A parsed `provider:model` string."""

    provider: str
    model: str

    def __str__(self) -> str:
        return f"{self.provider}:{self.model}"


def _inferred_provider(model: str) -> str | None:
    try:
        from langchain.chat_models.base import _attempt_infer_model_provider
    except Exception:
        return None
    try:
        provider = _attempt_infer_model_provider(model)
    except Exception:
        return None
    return str(provider) if provider else None


def _looks_like_bedrock(raw: str) -> bool:
    if not _BEDROCK_ID.match(raw):
        return False
    parts = raw.lower().split(".")
    return parts[0] in _BEDROCK_VENDORS or (
        len(parts) > 2 and parts[0] in _BEDROCK_GEOS and parts[1] in _BEDROCK_VENDORS
    )


def parse_model_spec(text: str) -> ModelSpec:
    """Parse a spec, or raise a one-line `ConfigError` saying what a valid one looks like."""
    raw = text.strip()
    if not raw:
        raise ConfigError("empty model spec: give one like openai:gpt-4o-mini or local:default")
    if _BEDROCK_ARN.match(raw):
        return ModelSpec("bedrock_converse", raw)
    head, sep, tail = raw.partition(":")
    provider = _ALIASES.get(head.lower(), head.lower())
    if sep and provider in KNOWN_PROVIDERS:
        model = tail.strip()
        if not model:
            raise ConfigError(f"model spec {raw!r} names no model after '{head}:'")
        return ModelSpec(provider, model)
    if not sep and provider == "local":
        return ModelSpec("local", "default")
    if _looks_like_bedrock(raw):
        return ModelSpec("bedrock_converse", raw)
    if not sep and (inferred := _inferred_provider(raw)) is not None:
        inferred = _ALIASES.get(inferred, inferred)
        if inferred in KNOWN_PROVIDERS:
            return ModelSpec(inferred, raw)
    if sep and _BEDROCK_ID.match(raw):  # an unknown vendor, but Bedrock-shaped with a revision
        return ModelSpec("bedrock_converse", raw)
    raise ConfigError(
        f"unknown model spec {raw!r}: use provider:model with a provider among "
        f"{', '.join(sorted(KNOWN_PROVIDERS))} (e.g. openai:gpt-4o-mini, "
        "bedrock_converse:anthropic.claude-3-haiku-20240307-v1:0, local:default)"
    )

"""Model specs: `provider:model` strings, one per role.

Only the first colon separates provider from model, so Bedrock ids such as
`anthropic.claude-3-haiku-20240307-v1:0` and OpenRouter ids such as
`stepfun/step-3.5-flash:free` survive parsing. A bare Bedrock id (the seed's
`BEDROCK_MODEL_ID` values) is read as `bedrock_converse:<id>`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from chunkwise.errors import ConfigError

# Providers init_chat_model knows, plus our own embedded backend.
KNOWN_PROVIDERS = frozenset(
    {
        "anthropic", "anthropic_bedrock", "azure_ai", "azure_openai", "baseten", "bedrock",
        "bedrock_converse", "cohere", "deepseek", "fireworks", "google_anthropic_vertex",
        "google_genai", "google_vertexai", "groq", "huggingface", "ibm", "litellm", "meta",
        "mistralai", "nvidia", "ollama", "openai", "openrouter", "perplexity", "together",
        "upstage", "xai", "local",
    }
)
_ALIASES = {"bedrock": "bedrock_converse", "aws": "bedrock_converse"}
# vendor.model-name[-vN][:rev], as Bedrock names its foundation models and inference profiles
_BEDROCK_ID = re.compile(r"^(?:[a-z]{2}\.)?[a-z0-9-]+\.[A-Za-z0-9._-]+(?::\d+)?$")


@dataclass(frozen=True)
class ModelSpec:
    """A parsed `provider:model` string."""

    provider: str
    model: str

    def __str__(self) -> str:
        return f"{self.provider}:{self.model}"


def parse_model_spec(text: str) -> ModelSpec:
    """Parse a spec, or raise a one-line `ConfigError` saying what a valid one looks like."""
    raw = text.strip()
    if not raw:
        raise ConfigError("empty model spec: give one like openai:gpt-4o-mini or local:default")
    head, sep, tail = raw.partition(":")
    provider = _ALIASES.get(head.lower(), head.lower())
    if sep and provider in KNOWN_PROVIDERS:
        if not tail.strip():
            raise ConfigError(f"model spec {raw!r} names no model after '{head}:'")
        return ModelSpec(provider, tail.strip())
    if _BEDROCK_ID.match(raw):
        return ModelSpec("bedrock_converse", raw)
    if provider == "local" and not sep:
        return ModelSpec("local", "default")
    raise ConfigError(
        f"unknown model spec {raw!r}: use provider:model with a provider among "
        f"{', '.join(sorted(KNOWN_PROVIDERS))} (e.g. openai:gpt-4o-mini, "
        "bedrock_converse:anthropic.claude-3-haiku-20240307-v1:0, local:qwen2.5-coder-1.5b)"
    )

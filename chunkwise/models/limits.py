"""A model's context window and reply cap, for token budgeting, and where each number came from.

Order, first found wins: the settings (`--context-window`, `--max-new-tokens`); the chat
model's own number (the local model's `n_ctx`); its LangChain `profile` (langchain-core >= 1.1:
`max_input_tokens` / `max_output_tokens`, filled by the provider package from its model data
when the model is built); the family table below (substring of the model id, most specific
first); a conservative default. `chunkwise models show` prints the source beside each number.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from chunkwise.models.settings import ModelSettings
from chunkwise.models.spec import ModelSpec

LimitSource = Literal["settings", "model", "profile", "table", "default"]


@dataclass(frozen=True)
class ModelLimits:
    context_window: int
    max_output_tokens: int
    context_source: LimitSource = "table"
    output_source: LimitSource = "table"

    def describe(self) -> str:
        """`context 128,000 (profile) · reply 16,384 (profile)`."""
        return (f"context {self.context_window:,} ({self.context_source}) · "
                f"reply {self.max_output_tokens:,} ({self.output_source})")


_TABLE: tuple[tuple[str, int, int], ...] = (
    ("claude-3-5", 200_000, 8_192),
    ("claude-3-7", 200_000, 8_192),
    ("claude-3", 200_000, 4_096),
    ("claude", 200_000, 8_192),
    ("gpt-4.1", 1_000_000, 32_768),
    ("gpt-4o", 128_000, 16_384),
    ("gpt-4-turbo", 128_000, 4_096),
    ("gpt-5", 400_000, 32_768),
    ("o3", 200_000, 32_768),
    ("o4", 200_000, 32_768),
    ("gpt-3.5", 16_385, 4_096),
    ("nova-pro", 300_000, 5_000),
    ("nova-lite", 300_000, 5_000),
    ("llama3-1", 128_000, 2_048),
    ("llama-3", 128_000, 4_096),
    ("mistral-large", 128_000, 8_192),
    ("qwen", 32_768, 8_192),
    ("step-3", 64_000, 8_192),
    ("deepseek", 64_000, 8_192),
)
DEFAULT_CONTEXT_WINDOW = 32_768
DEFAULT_MAX_OUTPUT = 4_096


def _table(model_id: str) -> tuple[int, int] | None:
    lowered = model_id.lower()
    for needle, window, output in _TABLE:
        if needle in lowered:
            return window, output
    return None


def _positive(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and value > 0 else None


def expected_limits(spec: ModelSpec, settings: ModelSettings) -> ModelLimits:
    """What `model_limits` will say once the spec's model is built, without building it (for
    `models show`, which contacts and loads nothing)."""
    window = None
    if spec.provider == "local" and settings.context_window is None:
        try:  # the local backend's own rule for n_ctx (settings, env, what the model knows)
            from chunkwise.models.local import _n_ctx_from_env, resolve_local_model

            window = _n_ctx_from_env(resolve_local_model(spec.model))
        except Exception:
            window = None
    return model_limits(str(spec), settings, profile=_static_profile(spec), model_window=window)


def _static_profile(spec: ModelSpec) -> Mapping[str, Any] | None:
    """The profile a spec's chat model gets when built, from the provider package's model
    data; None when the provider has none or its package changed."""
    try:
        if spec.provider == "openai":
            from langchain_openai.chat_models.base import _get_default_model_profile
        elif spec.provider == "bedrock_converse":
            from langchain_aws.chat_models.bedrock_converse import _get_default_model_profile
        else:
            return None
        profile = _get_default_model_profile(spec.model)
        if not profile and spec.provider == "bedrock_converse" and spec.model.count(".") > 1:
            profile = _get_default_model_profile(spec.model.split(".", 1)[1])  # `us.` profiles
    except Exception:
        return None
    return dict(profile) if profile else None


def model_limits(
    name: str,
    settings: ModelSettings,
    *,
    chat: Any = None,
    profile: Mapping[str, Any] | None = None,
    model_window: int | None = None,
) -> ModelLimits:
    """The window and reply cap of model `name` (`provider:model`), with their sources.

    `chat`: the built chat model (its own `context_window` and `profile` are read);
    `profile`, `model_window`: the same, known without building (see `expected_limits`)."""
    if chat is not None:
        profile = profile or getattr(chat, "profile", None)
        model_window = model_window or _positive(getattr(chat, "context_window", None))
    profile = profile or {}
    model_id = name.split(":", 1)[1] if ":" in name else name
    table = _table(model_id)

    window: tuple[int | None, LimitSource]
    for window in (
        (settings.context_window, "settings"),
        (model_window, "model"),
        (_positive(profile.get("max_input_tokens")), "profile"),
        (table[0] if table else None, "table"),
        (DEFAULT_CONTEXT_WINDOW, "default"),
    ):
        if window[0]:
            break
    output: tuple[int | None, LimitSource]
    for output in (
        (settings.max_new_tokens, "settings"),
        (_positive(profile.get("max_output_tokens")), "profile"),
        (table[1] if table else None, "table"),
        (DEFAULT_MAX_OUTPUT, "default"),
    ):
        if output[0]:
            break
    return ModelLimits(int(window[0] or 0), int(output[0] or 0), window[1], output[1])

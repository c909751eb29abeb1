"""Context windows and output limits of known model families, for token budgeting.

Looked up by substring of the model id, most specific first. Unknown models get a
conservative window; `--context-window` overrides any entry.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelLimits:
    context_window: int
    max_output_tokens: int


_TABLE: tuple[tuple[str, ModelLimits], ...] = (
    ("claude-3-5", ModelLimits(200_000, 8_192)),
    ("claude-3-7", ModelLimits(200_000, 8_192)),
    ("claude-3", ModelLimits(200_000, 4_096)),
    ("claude", ModelLimits(200_000, 8_192)),
    ("gpt-4.1", ModelLimits(1_000_000, 32_768)),
    ("gpt-4o", ModelLimits(128_000, 16_384)),
    ("gpt-4-turbo", ModelLimits(128_000, 4_096)),
    ("gpt-5", ModelLimits(400_000, 32_768)),
    ("o3", ModelLimits(200_000, 32_768)),
    ("o4", ModelLimits(200_000, 32_768)),
    ("gpt-3.5", ModelLimits(16_385, 4_096)),
    ("nova-pro", ModelLimits(300_000, 5_000)),
    ("nova-lite", ModelLimits(300_000, 5_000)),
    ("llama3-1", ModelLimits(128_000, 2_048)),
    ("llama-3", ModelLimits(128_000, 4_096)),
    ("mistral-large", ModelLimits(128_000, 8_192)),
    ("qwen", ModelLimits(32_768, 8_192)),
    ("step-3", ModelLimits(64_000, 8_192)),
    ("deepseek", ModelLimits(64_000, 8_192)),
)
DEFAULT_LIMITS = ModelLimits(32_768, 4_096)


def limits_for(model_id: str) -> ModelLimits:
    lowered = model_id.lower()
    for needle, limits in _TABLE:
        if needle in lowered:
            return limits
    return DEFAULT_LIMITS

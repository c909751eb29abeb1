"""Keep credentials out of messages, logs and results."""

from __future__ import annotations

import os
import re

SECRET_ENV_VARS = (
    "LLM_API_KEY",
    "OPENAI_API_KEY",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ACCESS_KEY_ID",
    "AWS_BEARER_TOKEN_BEDROCK",
    "ANTHROPIC_API_KEY",
    "OPENROUTER_API_KEY",
)
_KEY_LIKE = re.compile(r"\b(sk|rk|pk|or)-[A-Za-z0-9_*\-]{6,}|\bAKIA[0-9A-Z]{12,}|Bearer\s+\S+")


def redact(text: str) -> str:
    """Replace any configured secret, and anything shaped like an API key, with ***."""
    for name in SECRET_ENV_VARS:
        value = os.environ.get(name)
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    return _KEY_LIKE.sub("***", text)

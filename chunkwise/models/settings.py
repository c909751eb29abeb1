"""Per-role model options: sampling, endpoint, timeouts and rate limits. Never secrets."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

StructuredMethod = Literal["json_schema", "function_calling", "json_mode"]


@dataclass(frozen=True)
class ModelSettings:
    """Options shared by every model role of a run; keys stay in the environment."""

    temperature: float | None = None
    top_p: float | None = None
    max_new_tokens: int | None = None
    base_url: str | None = None
    timeout: float = 120.0
    rpm: float | None = None
    tpm: float | None = None
    min_interval: float = 0.0
    max_attempts: int = 6
    backoff_base: float = 1.0
    backoff_cap: float = 60.0
    context_window: int | None = None
    structured_method: StructuredMethod | None = None
    cache: bool = True

    def with_(self, **changes: object) -> ModelSettings:
        return replace(self, **changes)  # type: ignore[arg-type]

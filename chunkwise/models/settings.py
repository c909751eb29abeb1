"""Per-role model options: sampling, endpoint, timeouts, retries and rate limits. Never secrets.

`ModelSettings` rides in a run's `Context`, which LangGraph does not checkpoint; it still holds
no keys, so it can be printed, logged and compared freely. Keys stay in the environment and
are read by the factory when a chat model is built.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

from chunkwise.errors import ConfigError

StructuredMethod = Literal["json_schema", "function_calling", "json_mode"]

CHUNK_PROCESSING_DELAY_ENV = "CHUNK_PROCESSING_DELAY"


@dataclass(frozen=True)
class ModelSettings:
    """Options shared by every model role of a run.

    Retries: at most `max_attempts` requests per call in all (the SDKs' own retries are off),
    waiting `backoff_base * 2**(n-1)` seconds (jittered, capped at `backoff_cap`) between them,
    or the server's Retry-After when longer, up to `max_retry_after`.

    Limits, per provider endpoint and shared by every branch of the process: `rpm` requests and
    `tpm` tokens (prompt estimate + output cap, settled to the reported usage) per `rate_window`
    seconds, `max_in_flight` requests at once, and `min_interval` seconds between request
    starts (the seeds' `CHUNK_PROCESSING_DELAY`, see `chunk_processing_delay`).
    """

    temperature: float | None = None
    top_p: float | None = None
    max_new_tokens: int | None = None
    base_url: str | None = None
    timeout: float = 120.0
    rpm: float | None = None
    tpm: float | None = None
    min_interval: float = 0.0
    max_in_flight: int | None = None
    rate_window: float = 60.0
    max_attempts: int = 6
    backoff_base: float = 1.0
    backoff_cap: float = 60.0
    max_retry_after: float = 120.0
    context_window: int | None = None
    structured_method: StructuredMethod | None = None
    cache: bool = True

    def with_(self, **changes: object) -> ModelSettings:
        return replace(self, **changes)  # type: ignore[arg-type]

    def limits_key(self) -> tuple[object, ...]:
        """The part of the settings that configures an endpoint's rate limiter."""
        return (self.rpm, self.tpm, self.min_interval, self.max_in_flight, self.rate_window)


def chunk_processing_delay(env: Mapping[str, str] | None = None, default: float = 0.0) -> float:
    """Seconds between request starts from `CHUNK_PROCESSING_DELAY` (for `min_interval`).

    The seeds slept this long between chunks; here it spaces request starts on an endpoint,
    which keeps the same pacing for `--sequential --delay` runs. Empty or unset gives
    `default`; anything but a non-negative number is a one-line `ConfigError`.
    """
    env = os.environ if env is None else env
    raw = (env.get(CHUNK_PROCESSING_DELAY_ENV) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(
            f"{CHUNK_PROCESSING_DELAY_ENV}={raw!r} is not a number of seconds"
        ) from None
    if value < 0 or value != value:  # negative or NaN
        raise ConfigError(f"{CHUNK_PROCESSING_DELAY_ENV}={raw!r} must be 0 or more seconds")
    return value

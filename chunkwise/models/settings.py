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
from chunkwise.models.limiter import LimiterConfig

StructuredMethod = Literal["json_schema", "function_calling", "json_mode"]

CHUNK_PROCESSING_DELAY_ENV = "CHUNK_PROCESSING_DELAY"


@dataclass(frozen=True)
class ModelSettings:
    """Options shared by every model role of a run.

    Retries: at most `max_attempts` failed requests per call (the SDKs' own retries are off),
    waiting `backoff_base * 2**(n-1)` seconds (jittered, capped at `backoff_cap`) between them,
    or the server's Retry-After when longer, up to `max_retry_after`. Throttles (429,
    ThrottlingException) are not failures: they wait as the server asks and retry through the
    limiter until the call has spent `max_throttle_wait` seconds on them (`retry.Backoff`).

    Limits, per provider endpoint and shared by every branch of the process (`models.limiter`):
    `rpm` requests and `tpm` tokens per minute (prompt estimate + output cap, settled to the
    reported usage), paced as continuously refilled buckets holding `burst_seconds` worth,
    `max_in_flight` requests at once, and `min_interval` seconds between request starts (the
    seeds' `CHUNK_PROCESSING_DELAY`, see `chunk_processing_delay`). Unset `rpm`/`tpm` start
    unbounded and adapt to the provider's 429s and rate-limit headers.

    Invalid values raise a one-line `ConfigError` naming the flag, so the CLI and the Python
    API reject them the same way.
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
    burst_seconds: float = 2.0
    max_attempts: int = 6
    backoff_base: float = 1.0
    backoff_cap: float = 60.0
    max_retry_after: float = 120.0
    max_throttle_wait: float = 600.0
    context_window: int | None = None
    structured_method: StructuredMethod | None = None
    cache: bool = True

    def __post_init__(self) -> None:
        _check(self)

    def with_(self, **changes: object) -> ModelSettings:
        return replace(self, **changes)  # type: ignore[arg-type]

    def limiter_config(self) -> LimiterConfig:
        """The part of the settings that configures an endpoint's rate limiter."""
        return LimiterConfig(
            rpm=self.rpm, tpm=self.tpm, burst_seconds=self.burst_seconds,
            min_interval=self.min_interval, max_in_flight=self.max_in_flight,
        )


# (field, flag, lowest allowed, whether the lowest itself is allowed, what it counts)
_BOUNDS: tuple[tuple[str, str, float, bool, str], ...] = (
    ("temperature", "--temperature", 0.0, True, "a sampling temperature"),
    ("top_p", "--top-p", 0.0, True, "a probability mass"),
    ("max_new_tokens", "--max-new-tokens", 1, True, "tokens per reply"),
    ("timeout", "--timeout", 0.0, False, "seconds per request"),
    ("rpm", "--rpm", 0.0, False, "requests per minute; leave it unset for no limit"),
    ("tpm", "--tpm", 0.0, False, "tokens per minute; leave it unset for no limit"),
    ("min_interval", "--delay", 0.0, True, "seconds between request starts"),
    ("max_in_flight", "--max-in-flight", 1, True, "requests at once"),
    ("burst_seconds", "--burst-seconds", 0.0, False, "seconds of rate a burst may use"),
    ("max_attempts", "--max-attempts", 1, True, "attempts per call on errors"),
    ("backoff_base", "backoff_base", 0.0, True, "seconds"),
    ("backoff_cap", "backoff_cap", 0.0, True, "seconds"),
    ("max_retry_after", "max_retry_after", 0.0, True, "seconds"),
    ("max_throttle_wait", "max_throttle_wait", 0.0, True, "seconds"),
    ("context_window", "--context-window", 1, True, "tokens"),
)


def _check(settings: ModelSettings) -> None:
    """One line per bad value, naming the flag (a bare ValueError deep in the limiter was a
    traceback; `--rpm 0` must be exit 2)."""
    for name, flag, low, inclusive, unit in _BOUNDS:
        value = getattr(settings, name)
        if value is None:
            continue
        ok = isinstance(value, int | float) and (value >= low if inclusive else value > low)
        if not ok:  # also NaN, which fails every comparison
            need = f"at least {low:g}" if inclusive else f"more than {low:g}"
            raise ConfigError(f"{flag} must be {need} ({unit}), not {value!r}")
    if settings.top_p is not None and settings.top_p > 1:
        raise ConfigError(f"--top-p must be at most 1, not {settings.top_p!r}")


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

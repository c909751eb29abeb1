"""Retry classification and backoff: the one owner of retries for every model call.

SDK retries are switched off in the factory and graph nodes carry no `RetryPolicy` for model
errors, so the bound here is the bound in total. Throttling, 5xx, timeouts and dropped
connections are retried with exponential backoff and full jitter, honouring Retry-After;
auth, validation, unknown-model and context-length errors fail at once with the provider's
message (redacted).
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

from chunkwise.errors import ChunkwiseError
from chunkwise.models.secrets import redact

T = TypeVar("T")
Kind = Literal["throttled", "server", "timeout", "connection", "malformed", "auth",
               "validation", "not_found", "context_length", "unknown"]
RETRYABLE: frozenset[str] = frozenset({"throttled", "server", "timeout", "connection", "malformed"})

_THROTTLE_CODES = {
    "ThrottlingException", "TooManyRequestsException", "ServiceQuotaExceededException"
}
_SERVER_CODES = {"InternalServerException", "ServiceUnavailableException", "ModelNotReadyException",
                 "ModelTimeoutException", "ModelStreamErrorException", "InternalFailure"}
_AUTH_CODES = {"AccessDeniedException", "UnrecognizedClientException", "ExpiredTokenException",
               "InvalidSignatureException", "IncompleteSignature", "MissingAuthenticationToken"}
_CONTEXT = re.compile(
    r"context[ _-]?length|maximum context|too many tokens in|input is too long|prompt is too long"
    r"|exceeds? the context|context window|max_tokens_exceeded|reduce the length",
    re.IGNORECASE,
)


class ModelCallError(ChunkwiseError):
    """A model call that failed for good; `kind` says why, the message is one redacted line."""

    def __init__(self, message: str, *, kind: Kind, attempts: int = 1) -> None:
        super().__init__(message)
        self.kind = kind
        self.attempts = attempts

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE


@dataclass(frozen=True)
class Classified:
    kind: Kind
    status: int | None
    message: str
    retry_after: float | None


def _headers(exc: BaseException) -> dict[str, str]:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is not None:
        return {str(k).lower(): str(v) for k, v in dict(headers).items()}
    if isinstance(response, dict):  # botocore ClientError
        raw = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        return {str(k).lower(): str(v) for k, v in raw.items()}
    return {}


def _retry_after(headers: dict[str, str]) -> float | None:
    if "retry-after-ms" in headers:
        try:
            return max(0.0, float(headers["retry-after-ms"]) / 1000.0)
        except ValueError:
            pass
    if "retry-after" in headers:
        try:
            return max(0.0, float(headers["retry-after"]))
        except ValueError:
            return None  # an HTTP date: fall back to our own backoff
    return None


def _status_kind(status: int, message: str) -> Kind:
    if status == 429:
        return "throttled"
    if status >= 500:
        return "server"
    if status in (401, 403):
        return "auth"
    if status == 404:
        return "not_found"
    if status in (408, 409):
        return "timeout" if status == 408 else "server"
    if _CONTEXT.search(message):
        return "context_length"
    return "validation"


def classify(exc: BaseException) -> Classified:
    """Sort any provider, SDK or transport exception into one of the kinds above."""
    if isinstance(exc, ModelCallError):
        return Classified(exc.kind, None, str(exc), None)
    name = type(exc).__name__
    message = redact(" ".join(str(exc).split()) or name)
    headers = _headers(exc)
    after = _retry_after(headers)

    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:  # botocore ClientError
        code = str(response["Error"].get("Code", ""))
        status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        text = redact(str(response["Error"].get("Message", message)))
        if code in _THROTTLE_CODES or "too many tokens" in text.lower():
            return Classified("throttled", status, f"{code}: {text}", after)
        if code in _SERVER_CODES:
            return Classified("server", status, f"{code}: {text}", after)
        if code in _AUTH_CODES:
            return Classified("auth", status, f"{code}: {text}", None)
        if code == "ResourceNotFoundException":
            return Classified("not_found", status, f"{code}: {text}", None)
        kind = _status_kind(status, text) if status else (
            "context_length" if _CONTEXT.search(text) else "validation")
        return Classified(kind, status, f"{code}: {text}", after)

    http_status = getattr(exc, "status_code", None) or getattr(response, "status_code", None)
    if isinstance(http_status, int) and http_status >= 400:
        return Classified(_status_kind(http_status, message), http_status, message, after)

    lowered = name.lower()
    if "nocredentials" in lowered or "partialcredentials" in lowered or "authentication" in lowered:
        return Classified("auth", None, message, None)
    if "timeout" in lowered or isinstance(exc, TimeoutError):
        return Classified("timeout", None, message, None)
    if (
        "connection" in lowered
        or "protocol" in lowered
        or "endpointconnection" in lowered
        or isinstance(exc, ConnectionError)
    ):
        return Classified("connection", None, message, None)
    if isinstance(exc, json.JSONDecodeError) or "responsevalidation" in lowered or (
        "decode" in lowered and "json" in message.lower()
    ):
        return Classified("malformed", None, message, None)
    if "toomanytokens" in lowered or "throttl" in lowered or "ratelimit" in lowered:
        return Classified("throttled", None, message, after)
    if _CONTEXT.search(message):
        return Classified("context_length", None, message, None)
    return Classified("unknown", None, message, None)


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter; a server's Retry-After wins when it is longer."""

    max_attempts: int = 6
    base: float = 1.0
    cap: float = 60.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        ceiling = min(self.cap, self.base * (2 ** (attempt - 1)))
        wait = rng.uniform(ceiling / 2, ceiling)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.cap * 5))
        return wait


def call_with_retries(
    fn: Callable[[], T],
    *,
    backoff: Backoff,
    describe: str,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[Classified, int, float], None] | None = None,
    rng: random.Random | None = None,
) -> T:
    """Run `fn`, retrying what is transient; raise `ModelCallError` with one clear line."""
    rng = rng or random.Random()
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn()
        except Exception as exc:
            info = classify(exc)
            if info.kind not in RETRYABLE or attempt >= backoff.max_attempts:
                status = f" (HTTP {info.status})" if info.status else ""
                tries = f" after {attempt} attempts" if attempt > 1 else ""
                raise ModelCallError(
                    f"{describe}: {info.kind.replace('_', ' ')}{status}{tries}: {info.message}",
                    kind=info.kind,
                    attempts=attempt,
                ) from None
            wait = backoff.delay(attempt, info.retry_after, rng)
            if on_retry is not None:
                on_retry(info, attempt, wait)
            sleep(wait)


def describe_exception(exc: BaseException) -> str:
    """One redacted line for any exception, for chunk results and logs."""
    return str(exc) if isinstance(exc, ModelCallError) else classify(exc).message



"""Retry classification and backoff: the one owner of retries for every model call.

The bound here is the bound in total:
- SDK retries are off: `ChatOpenAI(max_retries=0)`, botocore `total_max_attempts=1` (botocore's
  `max_attempts=1` would mean one *retry*), `init_chat_model(..., max_retries=0)`.
- Graph nodes carry no `RetryPolicy` for model errors, and `ModelCallError` is a `RuntimeError`,
  which LangGraph's default `retry_on` never retries, so a policy added later cannot multiply
  the attempts either.

5xx, timeouts, dropped connections and malformed responses are retried with exponential
backoff and jitter, honouring Retry-After and retry-after-ms, up to `max_attempts`. Throttling
(429, ThrottlingException, "Too many tokens") is not a failure: it waits as the server asks and
goes back through the endpoint's limiter, within a time budget of its own (`Backoff`). Auth
(401/403), validation (400), unknown model (404), exhausted quota and context-length errors
fail at once with the provider's message, redacted, on one line.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Literal, TypeVar

from chunkwise.errors import ChunkwiseError
from chunkwise.models.headers import error_headers
from chunkwise.models.secrets import redact

T = TypeVar("T")
Kind = Literal["throttled", "server", "timeout", "connection", "malformed", "auth",
               "validation", "not_found", "context_length", "quota", "unknown"]
RETRYABLE: frozenset[str] = frozenset({"throttled", "server", "timeout", "connection", "malformed"})
MAX_MESSAGE = 400  # characters of the provider's message kept in the one-line error
MIN_THROTTLE_CHARGE = 1.0  # seconds each throttle counts against the throttle budget, at least

_THROTTLE_CODES = {
    "ThrottlingException", "TooManyRequestsException", "ServiceQuotaExceededException",
    "Throttling", "ThrottledException", "RequestLimitExceeded", "SlowDown",
}
_SERVER_CODES = {"InternalServerException", "ServiceUnavailableException", "ModelNotReadyException",
                 "ModelTimeoutException", "ModelStreamErrorException", "InternalFailure",
                 "ServiceUnavailable", "InternalError"}
_AUTH_CODES = {"AccessDeniedException", "UnrecognizedClientException", "ExpiredTokenException",
               "ExpiredToken", "InvalidSignatureException", "IncompleteSignature",
               "MissingAuthenticationToken", "InvalidClientTokenId", "SignatureDoesNotMatch"}
_NOT_FOUND_CODES = {"ResourceNotFoundException", "ModelNotFoundException"}
_CONTEXT = re.compile(
    r"context[ _-]?length|maximum context|too many tokens in (?:the )?(?:prompt|input|request)"
    r"|input is too long|prompt is too long|exceeds? the context|context window"
    r"|max_tokens_exceeded|reduce the length|input token count.*exceeds|too many input tokens"
    r"|maximum (?:input|prompt) length",
    re.IGNORECASE,
)
_THROTTLE_TEXT = re.compile(
    r"too many (?:tokens|requests)|rate[ _-]?limit|throttl|slow down|tokens per min",
    re.IGNORECASE,
)
_QUOTA_TEXT = re.compile(
    r"insufficient_quota|exceeded your current quota|billing|credits? (?:are )?exhausted"
    r"|requires more credits|payment required",
    re.IGNORECASE,
)


class ModelCallError(ChunkwiseError, RuntimeError):
    """A model call that failed for good; `kind` says why, the message is one redacted line.

    A `RuntimeError` so LangGraph's default `RetryPolicy.retry_on` never retries it again.
    """

    def __init__(
        self, message: str, *, kind: Kind, attempts: int = 1, status: int | None = None
    ) -> None:
        super().__init__(redact(message))
        self.kind = kind
        self.attempts = attempts
        self.status = status

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE

    def __reduce__(self) -> tuple[object, ...]:  # picklable with its keyword fields
        return (_rebuild_error, (str(self), self.kind, self.attempts, self.status))


def _rebuild_error(message: str, kind: Kind, attempts: int, status: int | None) -> ModelCallError:
    return ModelCallError(message, kind=kind, attempts=attempts, status=status)


@dataclass(frozen=True)
class Classified:
    kind: Kind
    status: int | None
    message: str
    retry_after: float | None

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE


def parse_retry_after(headers: dict[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms`, or `retry-after` in seconds or as an HTTP date."""
    if "retry-after-ms" in headers:
        try:
            return max(0.0, float(headers["retry-after-ms"]) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _status_kind(status: int, message: str) -> Kind:
    if status == 429:
        return "quota" if _QUOTA_TEXT.search(message) else "throttled"
    if status == 402:
        return "quota"
    if status >= 500:
        return "server"
    if status in (401, 403):
        return "auth"
    if status == 404:
        return "not_found"
    if status == 408:
        return "timeout"
    if status == 409:
        return "server"
    if status == 413 or _CONTEXT.search(message):
        return "context_length"
    return "validation"


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    line = line.split(" For troubleshooting, visit:")[0]  # langchain's appended help link
    return line if len(line) <= MAX_MESSAGE else line[: MAX_MESSAGE - 3] + "..."


def _provider_message(exc: BaseException) -> str:
    """The provider's own message when the SDK parsed one (OpenAI's `body.error.message`)."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            code = inner.get("code") or inner.get("type")
            text = str(inner["message"])
            return f"{code}: {text}" if code else text
        if isinstance(inner, str):
            return inner
    return str(exc)


def _classify_botocore(exc: BaseException, response: dict[str, object], after: float | None,
                       message: str) -> Classified:
    error = response.get("Error") or {}
    meta = response.get("ResponseMetadata") or {}
    code = str(error.get("Code", "")) if isinstance(error, dict) else ""
    status = int((meta.get("HTTPStatusCode") if isinstance(meta, dict) else 0) or 0) or None
    text = str(error.get("Message", message)) if isinstance(error, dict) else message
    line = f"{code}: {text}" if code else text
    context = bool(_CONTEXT.search(text))
    if code in _THROTTLE_CODES or (_THROTTLE_TEXT.search(text) and not context):
        return Classified("throttled", status, line, after)
    if code in _SERVER_CODES:
        return Classified("server", status, line, after)
    if code in _AUTH_CODES:
        return Classified("auth", status, line, None)
    if code in _NOT_FOUND_CODES:
        return Classified("not_found", status, line, None)
    if context:
        return Classified("context_length", status, line, None)
    if status:
        return Classified(_status_kind(status, text), status, line, after)
    return Classified("validation", status, line, None)


def _classify_langchain(exc: BaseException, message: str, after: float | None) -> Kind | None:
    """LangChain's provider-neutral error types (langchain-core >= 1.3), when raised."""
    try:
        from langchain_core import exceptions as lc
    except ImportError:  # pragma: no cover
        return None
    table: tuple[tuple[str, Kind], ...] = (
        ("ContextOverflowError", "context_length"),
        ("ModelAuthenticationError", "auth"),
        ("ModelPermissionDeniedError", "auth"),
        ("ModelNotFoundError", "not_found"),
        ("ModelRateLimitError", "throttled"),
        ("ModelTimeoutError", "timeout"),
        ("ModelConnectionError", "connection"),
        ("ModelAPIError", "server"),
        ("ModelInvalidRequestError", "validation"),
    )
    for name, kind in table:
        cls = getattr(lc, name, None)
        if isinstance(cls, type) and isinstance(exc, cls):
            if kind == "throttled" and _QUOTA_TEXT.search(message):
                return "quota"
            if kind == "validation" and _CONTEXT.search(message):
                return "context_length"
            return kind
    return None


def classify(exc: BaseException) -> Classified:
    """Sort any provider, SDK or transport exception into one of the kinds above."""
    if isinstance(exc, ModelCallError):
        return Classified(exc.kind, exc.status, str(exc), None)
    name = type(exc).__name__
    message = redact(_one_line(_provider_message(exc)) or name)
    headers = error_headers(exc)
    after = parse_retry_after(headers)

    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:  # botocore ClientError
        found = _classify_botocore(exc, response, after, message)
        return Classified(found.kind, found.status, redact(_one_line(found.message)),
                          found.retry_after)

    http_status = getattr(exc, "status_code", None) or getattr(response, "status_code", None)
    if isinstance(http_status, int) and http_status >= 400:
        kind = _status_kind(http_status, message)
        if kind == "validation" and _CONTEXT.search(message):
            kind = "context_length"
        return Classified(kind, http_status, message, after if kind in RETRYABLE else None)

    known = _classify_langchain(exc, message, after)
    if known is not None:
        return Classified(known, None, message, after if known in RETRYABLE else None)

    lowered = name.lower()
    text = message.lower()
    if "nocredentials" in lowered or "partialcredentials" in lowered or "authentication" in lowered:
        return Classified("auth", None, message, None)
    if "timeout" in lowered or isinstance(exc, TimeoutError) or "timed out" in text:
        return Classified("timeout", None, message, None)
    if (
        "connection" in lowered
        or "protocol" in lowered
        or "endpointconnection" in lowered
        or isinstance(exc, ConnectionError)
        or "connection reset" in text
        or "connection aborted" in text
    ):
        return Classified("connection", None, message, None)
    if (
        isinstance(exc, json.JSONDecodeError)
        or "responsevalidation" in lowered
        or "responseparser" in lowered
        or ("decode" in lowered and "json" in text)
        or "no 'output' key found" in text  # langchain-aws on an unparsable Converse body
    ):
        return Classified("malformed", None, message, None)
    if _QUOTA_TEXT.search(message):
        return Classified("quota", None, message, None)
    if "toomanytokens" in lowered or "throttl" in lowered or "ratelimit" in lowered or (
        _THROTTLE_TEXT.search(message) and not _CONTEXT.search(message)
    ):
        return Classified("throttled", None, message, after)
    if _CONTEXT.search(message):
        return Classified("context_length", None, message, None)
    # not a provider error we know: name its type, so a bug is recognisable as one
    return Classified("unknown", None, f"{name}: {message}" if message != name else name, None)


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter; a server's Retry-After wins when it is longer.

    Attempt n (1-based) waits a uniform draw from [c/2, c], c = min(cap, base * 2**(n-1)),
    or the server's Retry-After when longer, capped at `max_retry_after`.

    Throttles are not failures: a 429 / ThrottlingException says "not now", and the endpoint's
    limiter paces the retry. They do not use up `max_attempts` (which bounds errors); a call
    keeps retrying throttles until it has waited `throttle_budget` seconds on them, each
    throttle counting at least `MIN_THROTTLE_CHARGE`, so a provider that throttles for good
    still ends the call. A throttle with Retry-After waits what the server asked (it knows
    when the request fits); one without backs off exponentially.
    """

    max_attempts: int = 6
    base: float = 1.0
    cap: float = 60.0
    max_retry_after: float = 120.0
    throttle_budget: float = 600.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        ceiling = min(self.cap, self.base * (2 ** (attempt - 1)))
        wait = rng.uniform(ceiling / 2, ceiling)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_retry_after))
        return wait


def failure_line(describe: str, info: Classified, attempts: int) -> str:
    status = f" (HTTP {info.status})" if info.status else ""
    tries = f" after {attempts} attempts" if attempts > 1 else ""
    return f"{describe}: {info.kind.replace('_', ' ')}{status}{tries}: {info.message}"


def call_with_retries(
    fn: Callable[[], T],
    *,
    backoff: Backoff,
    describe: str,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[Classified, int, float], None] | None = None,
    rng: random.Random | None = None,
) -> T:
    """Run `fn`, retrying what is transient; raise `ModelCallError` with one clear line.

    At most `backoff.max_attempts` calls of `fn` in all. The error raised has no cause or
    context attached, so no SDK exception (and nothing it carries) travels further.
    """
    rng = rng or random.Random()
    attempt = failures = throttles = 0
    throttled_for = 0.0  # seconds charged against `backoff.throttle_budget`
    while True:
        attempt += 1
        try:
            return fn()
        except Exception as exc:
            info = classify(exc)
            error = None
            if info.kind == "throttled":
                throttles += 1
                wait = _throttle_wait(backoff, throttles, info.retry_after, rng)
                throttled_for += max(wait, MIN_THROTTLE_CHARGE)
                if throttled_for > backoff.throttle_budget:
                    error = ModelCallError(
                        failure_line(describe, info, attempt)
                        + f" (throttled for {throttled_for:.0f} s in all)",
                        kind=info.kind, attempts=attempt, status=info.status,
                    )
            else:
                failures += 1
                wait = backoff.delay(failures, info.retry_after, rng)
                if info.kind not in RETRYABLE or failures >= max(1, backoff.max_attempts):
                    error = ModelCallError(
                        failure_line(describe, info, attempt),
                        kind=info.kind, attempts=attempt, status=info.status,
                    )
        if error is not None:
            raise error  # outside the except block: no __context__ chained to the SDK error
        if on_retry is not None:
            on_retry(info, attempt, wait)
        sleep(wait)


def _throttle_wait(backoff: Backoff, throttles: int, retry_after: float | None,
                   rng: random.Random) -> float:
    """What the server asked (capped), with a little jitter so the branches it turned away
    together do not all come back at once; exponential backoff when it did not say."""
    if retry_after is None:
        return backoff.delay(throttles, None, rng)
    asked = min(retry_after, backoff.max_retry_after)
    return asked + rng.uniform(0.0, 0.1 * asked)


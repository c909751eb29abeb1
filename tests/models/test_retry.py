"""Retry classification in one place, backoff bounds and the one-owner rule."""

from __future__ import annotations

import json
import pickle
import random

import httpx
import openai
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from chunkwise.models.retry import (
    RETRYABLE,
    Backoff,
    Classified,
    ModelCallError,
    call_with_retries,
    classify,
    parse_retry_after,
)


def _openai_error(status: int, message: str, code: str | None = None,
                  headers: dict[str, str] | None = None) -> openai.APIStatusError:
    request = httpx.Request("POST", "https://example.invalid/v1/chat/completions")
    body = {"error": {"message": message, "type": "x", "code": code}}
    response = httpx.Response(status, headers=headers or {}, json=body, request=request)
    cls = {400: openai.BadRequestError, 401: openai.AuthenticationError,
           403: openai.PermissionDeniedError, 404: openai.NotFoundError,
           429: openai.RateLimitError}.get(status, openai.InternalServerError)
    return cls(f"Error code: {status} - {json.dumps(body)}", response=response, body=body)


def _boto_error(code: str, message: str, status: int,
                headers: dict[str, str] | None = None) -> ClientError:
    response = {"Error": {"Code": code, "Message": message},
                "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": headers or {}}}
    return ClientError(response, "Converse")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("exc", "kind", "after"),
    [
        (_openai_error(429, "Rate limit", "rate_limit_exceeded", {"retry-after": "7"}),
         "throttled", 7.0),
        (_openai_error(429, "Rate limit", None, {"retry-after-ms": "250"}), "throttled", 0.25),
        (_openai_error(429, "You exceeded your current quota", "insufficient_quota"), "quota",
         None),
        (_openai_error(500, "oops"), "server", None),
        (_openai_error(401, "Incorrect API key"), "auth", None),
        (_openai_error(403, "Forbidden"), "auth", None),
        (_openai_error(404, "The model `x` does not exist"), "not_found", None),
        (_openai_error(400, "This model's maximum context length is 8192 tokens",
                       "context_length_exceeded"), "context_length", None),
        (_openai_error(400, "Invalid 'temperature'"), "validation", None),
        (_boto_error("ThrottlingException", "Too many tokens, please wait.", 429), "throttled",
         None),
        (_boto_error("ThrottlingException", "Too many requests", 400, {"retry-after": "2"}),
         "throttled", 2.0),
        (_boto_error("ValidationException", "Too many tokens, please wait before trying again.",
                     400), "throttled", None),
        (_boto_error("ValidationException", "Input is too long for requested model.", 400),
         "context_length", None),
        (_boto_error("ValidationException", "too many tokens in the prompt", 400),
         "context_length", None),
        (_boto_error("ValidationException", "Malformed input request", 400), "validation", None),
        (_boto_error("AccessDeniedException", "no access", 403), "auth", None),
        (_boto_error("ExpiredTokenException", "expired", 400), "auth", None),
        (_boto_error("ResourceNotFoundException", "no such model", 404), "not_found", None),
        (_boto_error("ServiceUnavailableException", "busy", 503), "server", None),
        (_boto_error("ModelNotReadyException", "warming", 429), "server", None),
        (ReadTimeoutError(endpoint_url="http://x"), "timeout", None),
        (TimeoutError("timed out"), "timeout", None),
        (ConnectionResetError("Connection reset by peer"), "connection", None),
        (json.JSONDecodeError("Expecting value", "{", 1), "malformed", None),
        (ValueError("No 'output' key found in the response from the Bedrock Converse API."),
         "malformed", None),
        (RuntimeError("something else"), "unknown", None),
    ],
)
def test_classify(exc: BaseException, kind: str, after: float | None) -> None:
    info = classify(exc)
    assert info.kind == kind
    assert info.retry_after == after
    assert info.retryable == (kind in RETRYABLE)
    assert "\n" not in info.message


def test_langchain_standard_errors_are_classified() -> None:
    from langchain_core import exceptions as lc

    assert classify(lc.ModelRateLimitError("slow down")).kind == "throttled"
    assert classify(lc.ContextOverflowError("too long")).kind == "context_length"
    assert classify(lc.ModelAuthenticationError("no")).kind == "auth"


def test_retry_after_forms() -> None:
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, now=1445412470) \
        == pytest.approx(10.0)
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


def test_messages_are_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_API_KEY", "sk-live-abcdefghijklmnop")
    info = classify(_openai_error(401, "Incorrect API key provided: sk-live-abcdefghijklmnop"))
    assert "sk-live-abcdefghijklmnop" not in info.message and "***" in info.message


def test_backoff_grows_caps_and_honours_retry_after() -> None:
    rng = random.Random(1)
    backoff = Backoff(max_attempts=6, base=1.0, cap=8.0, max_retry_after=30.0)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 8.0)]:
        for _ in range(50):
            assert ceiling / 2 <= backoff.delay(attempt, None, rng) <= ceiling
    assert backoff.delay(1, 20.0, rng) == 20.0
    assert backoff.delay(1, 500.0, rng) == 30.0  # a server's pause is capped


def _flaky(errors: list[BaseException]) -> tuple[list[int], object]:
    calls: list[int] = []

    def fn() -> str:
        calls.append(1)
        if errors:
            raise errors.pop(0)
        return "ok"

    return calls, fn


def test_call_with_retries_retries_transient_errors_then_returns() -> None:
    calls, fn = _flaky([_openai_error(500, "x"), _openai_error(429, "y"), TimeoutError()])
    slept: list[float] = []
    seen: list[tuple[str, int]] = []
    result = call_with_retries(
        fn, backoff=Backoff(5, 0.1, 1.0), describe="m (t)", sleep=slept.append,  # type: ignore[arg-type]
        on_retry=lambda info, n, wait: seen.append((info.kind, n)),
    )
    assert result == "ok" and len(calls) == 4 and len(slept) == 3
    assert seen == [("server", 1), ("throttled", 2), ("timeout", 3)]


def test_call_with_retries_stops_at_the_bound() -> None:
    calls, fn = _flaky([_openai_error(503, "down")] * 10)
    with pytest.raises(ModelCallError) as info:
        call_with_retries(fn, backoff=Backoff(3, 0.0, 0.0), describe="m (t)",  # type: ignore[arg-type]
                          sleep=lambda s: None)
    assert len(calls) == 3
    error = info.value
    assert (error.kind, error.attempts, error.status) == ("server", 3, 503)
    assert str(error).startswith("m (t): server (HTTP 503) after 3 attempts: ")
    assert error.__cause__ is None and error.__context__ is None


def test_permanent_errors_are_not_retried() -> None:
    calls, fn = _flaky([_openai_error(401, "bad key")])
    with pytest.raises(ModelCallError) as info:
        call_with_retries(fn, backoff=Backoff(6, 0.0, 0.0), describe="m (t)",  # type: ignore[arg-type]
                          sleep=lambda s: None)
    assert len(calls) == 1 and info.value.kind == "auth" and not info.value.retryable


def test_model_call_errors_are_never_retried_by_langgraph_retry_policies() -> None:
    """One owner of retries: LangGraph's default retry_on declines our error, so a RetryPolicy
    on a node cannot multiply the attempts the seam already made."""
    from langgraph.types import RetryPolicy

    policy = RetryPolicy()
    retry_on = policy.retry_on
    assert callable(retry_on)
    error = ModelCallError("m (t): server (HTTP 500) after 6 attempts: down", kind="server",
                           attempts=6)
    assert retry_on(error) is False  # type: ignore[call-arg,operator]
    assert isinstance(error, RuntimeError)
    # and the runner recognises it without importing models/
    from chunkwise.errors import ChunkwiseError

    assert isinstance(error, ChunkwiseError)


def test_model_call_errors_pickle_with_their_fields() -> None:
    error = ModelCallError("m: throttled", kind="throttled", attempts=3, status=429)
    again = pickle.loads(pickle.dumps(error))
    assert (str(again), again.kind, again.attempts, again.status) == (
        "m: throttled", "throttled", 3, 429)


def test_classified_of_a_model_call_error_keeps_its_kind() -> None:
    error = ModelCallError("x", kind="context_length", status=400)
    assert classify(error) == Classified("context_length", 400, "x", None)


def test_throttles_wait_what_the_server_asked_and_do_not_use_up_the_attempts() -> None:
    """Six 429s with Retry-After and two 503s under max_attempts=3: the call goes through.
    Each 429 waits the server's 0.4 s (plus at most 10% jitter), not an exponential backoff."""
    throttle = _openai_error(429, "slow down", headers={"retry-after-ms": "400"})
    calls, fn = _flaky([throttle] * 3 + [_openai_error(503, "x")] + [throttle] * 3
                       + [_openai_error(503, "y")])
    slept: list[float] = []
    result = call_with_retries(
        fn, backoff=Backoff(3, 0.01, 0.01), describe="m (t)", sleep=slept.append,  # type: ignore[arg-type]
    )
    assert result == "ok" and len(calls) == 9
    throttle_waits = [w for i, w in enumerate(slept) if i not in (3, 7)]
    assert all(0.4 <= w <= 0.44 for w in throttle_waits), throttle_waits


def test_a_call_throttled_for_good_ends_at_the_throttle_budget() -> None:
    calls, fn = _flaky([_openai_error(429, "slow down", headers={"retry-after": "5"})] * 100)
    with pytest.raises(ModelCallError) as info:
        call_with_retries(fn, backoff=Backoff(3, 0.0, 0.0, throttle_budget=30.0),  # type: ignore[arg-type]
                          describe="m (t)", sleep=lambda s: None, rng=random.Random(0))
    # 5 s and up to 10% more each: the sixth takes the sum past 30 s
    assert len(calls) == 6 and info.value.kind == "throttled" and info.value.attempts == 6
    assert "throttled for" in str(info.value)

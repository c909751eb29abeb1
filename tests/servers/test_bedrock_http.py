"""The real ChatBedrockConverse adapter, built by our factory from a spec, against a fake
Bedrock Runtime reached through botocore's `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` override."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from chunkwise.models.retry import MIN_THROTTLE_CHARGE, ModelCallError
from chunkwise.models.settings import ModelSettings
from tests.models.clients import make_client

from . import fake_bedrock as br
from .base import Fault, Reply, Request
from .conftest import AWS_SECRET, AWS_SESSION, BEDROCK_MODEL, BEDROCK_SPEC
from .fake_bedrock import FakeBedrock


class Dataset(BaseModel):
    name: str
    reason: str


def test_text_call_reaches_the_override_endpoint_and_counts_usage(
    bedrock_server: FakeBedrock, fast: ModelSettings
) -> None:
    bedrock_server.reply = lambda r: Reply("bonjour", input_tokens=321, output_tokens=9,
                                           cached_tokens=0)
    client = make_client(BEDROCK_SPEC, fast.with_(temperature=0.1, max_new_tokens=50))
    out = client.complete("hello", task="summarize")
    assert out.text == "bonjour"
    assert (out.usage.input_tokens, out.usage.output_tokens, out.usage.calls) == (321, 9, 1)
    # the built-in price of the default chunk model: $0.25 / $1.25 per million tokens
    assert out.usage.cost_usd == pytest.approx((321 * 0.25 + 9 * 1.25) / 1e6)
    [call] = bedrock_server.requests
    # the ':0' of the model id survives parsing and is sent (URL-encoded) in the path
    assert call.path == "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
    assert call.body["inferenceConfig"] == {"temperature": 0.1, "maxTokens": 50}
    assert call.body["messages"] == [{"role": "user", "content": [{"text": "hello"}]}]
    assert call.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=testing/")
    assert call.headers["x-amz-security-token"] == AWS_SESSION


def test_structured_output_with_tool_use(bedrock_server: FakeBedrock, fast: ModelSettings) -> None:
    def reply(request: Request) -> dict[str, object]:
        assert request.structured == "tools"
        assert request.tool_name == "Dataset"
        assert set((request.schema or {})["properties"]) == {"name", "reason"}
        return {"name": "CIFAR-10", "reason": "small images"}

    bedrock_server.reply = reply
    out = make_client(BEDROCK_SPEC, fast).structured("Pick a dataset", Dataset, task="datasets")
    assert out.value == Dataset(name="CIFAR-10", reason="small images")
    [call] = bedrock_server.requests
    config = call.body["toolConfig"]
    assert config["tools"][0]["toolSpec"]["name"] == "Dataset"
    assert config["toolChoice"] == {"tool": {"name": "Dataset"}}
    assert out.usage.calls == 1


def test_structured_output_repairs_a_missing_tool_call(
    bedrock_server: FakeBedrock, fast: ModelSettings
) -> None:
    answers = iter([Reply(text="I think CIFAR-10."), {"name": "CIFAR-10", "reason": "fits"}])
    bedrock_server.reply = lambda r: next(answers)
    out = make_client(BEDROCK_SPEC, fast).structured("Pick a dataset", Dataset, task="datasets")
    assert out.value.name == "CIFAR-10"
    assert bedrock_server.count == 2 and out.usage.calls == 2
    last = bedrock_server.requests[1].body["messages"][-1]
    assert "does not match the required schema" in last["content"][0]["text"]


@pytest.mark.parametrize(
    "fault",
    [
        br.throttled(429),
        br.throttled(400),
        br.throttled(400, message="Too many requests, please wait before trying again."),
        br.server_error(500),
        br.unavailable(),
        br.malformed(),
        br.dropped(),
        br.slow(3.0),
    ],
    ids=["throttle-429", "throttle-400", "too-many-requests", "500", "503", "malformed", "reset",
         "timeout"],
)
def test_transient_failures_are_retried_then_succeed(
    bedrock_server: FakeBedrock, fast: ModelSettings, fault: Fault
) -> None:
    bedrock_server.reply = lambda r: "recovered"
    bedrock_server.script(fault, fault)
    out = make_client(BEDROCK_SPEC, fast.with_(timeout=0.3)).complete("hello", task="t")
    assert out.text == "recovered"
    # two failures and a success: botocore sent each attempt once (total_max_attempts=1)
    assert bedrock_server.count == 3
    assert out.usage.retries == 2


def test_retries_stop_at_max_attempts(bedrock_server: FakeBedrock, fast: ModelSettings) -> None:
    bedrock_server.script([br.server_error(500)] * 10)
    with pytest.raises(ModelCallError) as info:
        make_client(BEDROCK_SPEC, fast.with_(max_attempts=3)).complete("hello", task="t")
    assert bedrock_server.count == 3
    error = info.value
    assert (error.kind, error.attempts, error.status) == ("server", 3, 500)


def test_throttles_are_not_failures_until_the_throttle_budget_is_spent(
    bedrock_server: FakeBedrock, fast: ModelSettings
) -> None:
    """A throttle is "not now": it does not use up --max-attempts (a chunk used to give up
    after 6 throttles in a busy fan-out); each counts at least MIN_THROTTLE_CHARGE seconds
    against max_throttle_wait, which ends a call a provider throttles for good."""
    bedrock_server.reply = lambda r: "through"
    bedrock_server.script([br.throttled(400)] * 4)
    out = make_client(BEDROCK_SPEC, fast.with_(max_attempts=2)).complete("hello", task="t")
    assert out.text == "through" and bedrock_server.count == 5 and out.usage.retries == 4

    bedrock_server.script([br.throttled(400)] * 10)
    budget = 2.5 * MIN_THROTTLE_CHARGE  # room for two throttles, not three
    with pytest.raises(ModelCallError) as info:
        make_client(BEDROCK_SPEC, fast.with_(max_attempts=2, max_throttle_wait=budget)
                    ).complete("hello again", task="t")
    assert bedrock_server.count == 5 + 3
    error = info.value
    assert (error.kind, error.attempts, error.status) == ("throttled", 3, 400)
    assert "ThrottlingException: Too many tokens" in str(error)


def test_throttling_retry_after_is_honoured(
    bedrock_server: FakeBedrock, fast: ModelSettings
) -> None:
    bedrock_server.script(br.throttled(429, retry_after=0.3))
    make_client(BEDROCK_SPEC, fast).complete("hello", task="t")
    first, second = bedrock_server.requests
    assert second.started - first.finished >= 0.3


@pytest.mark.parametrize(
    ("fault", "kind", "status", "words"),
    [
        (br.access_denied(), "auth", 403, "AccessDeniedException: You don't have access"),
        (br.unrecognized_client(), "auth", 403, "UnrecognizedClientException"),
        (br.unknown_model(), "not_found", 404, "ResourceNotFoundException: Could not resolve"),
        (br.context_length(), "context_length", 400, "Input is too long for requested model"),
        (br.validation(), "validation", 400, "ValidationException: Malformed input request"),
    ],
    ids=["403-access", "403-token", "404", "context-length", "400"],
)
def test_permanent_failures_fail_fast_with_one_clear_line(
    bedrock_server: FakeBedrock, fast: ModelSettings, fault: Fault, kind: str, status: int,
    words: str,
) -> None:
    bedrock_server.script(fault, fault)
    with pytest.raises(ModelCallError) as info:
        make_client(BEDROCK_SPEC, fast).complete("hello", task="code")
    error = info.value
    assert bedrock_server.count == 1
    assert (error.kind, error.status, error.attempts) == (kind, status, 1)
    line = str(error)
    assert line.startswith(f"{BEDROCK_SPEC} (code): ") and words in line and "\n" not in line
    for secret in (AWS_SECRET, AWS_SESSION):
        assert secret not in line


def test_missing_credentials_is_a_config_error(
    bedrock_server: FakeBedrock, fast: ModelSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chunkwise.errors import ConfigError

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    with pytest.raises(ConfigError, match="no AWS credentials for bedrock_converse:"):
        make_client(BEDROCK_SPEC, fast)
    assert bedrock_server.count == 0


def test_bare_seed_model_id_and_inference_profile_reach_bedrock(
    bedrock_server: FakeBedrock, fast: ModelSettings
) -> None:
    make_client(BEDROCK_MODEL, fast).complete("a", task="t")
    make_client("us.anthropic.claude-3-5-sonnet-20240620-v1:0", fast).complete("b", task="t")
    paths = [r.path for r in bedrock_server.requests]
    assert paths == [
        "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse",
        "/model/us.anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse",
    ]

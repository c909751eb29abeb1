"""`chunkwise models check|show` against the fake servers, through the real CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chunkwise.cli import main

from . import fake_bedrock as br
from . import fake_openai as oa
from .base import Reply
from .conftest import AWS_SECRET, BEDROCK_SPEC, OPENAI_KEY, OPENAI_SPEC
from .fake_bedrock import FakeBedrock
from .fake_openai import FakeOpenAI


def test_check_prints_backend_latency_usage_and_reply(
    openai_server: FakeOpenAI, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    openai_server.reply = lambda r: Reply("pong", input_tokens=12, output_tokens=1)
    report = tmp_path / "check.json"
    code = main(["models", "check", OPENAI_SPEC, "--base-url", openai_server.base_url,
                 "--json", str(report)])
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == (f"model: {OPENAI_SPEC} · OpenAI-compatible at {openai_server.base_url}"
                        " · from flag")
    assert lines[1].startswith("ok in ") and "1 call, 12 in / 1 out tokens (0 cached)" in lines[1]
    assert lines[2] == "reply: pong"
    [call] = openai_server.requests
    assert call.body["max_tokens"] == 32 and "max_completion_tokens" not in call.body
    saved = json.loads(report.read_text())
    assert saved["ok"] is True and saved["usage"]["input_tokens"] == 12
    assert OPENAI_KEY not in out + err + report.read_text()


def test_check_structured_tries_tool_calling(
    openai_server: FakeOpenAI, capsys: pytest.CaptureFixture[str]
) -> None:
    openai_server.reply = lambda r: {"word": "pong"} if r.structured else "pong"
    assert main(["models", "check", OPENAI_SPEC, "--structured"]) == 0
    out = capsys.readouterr().out
    assert "structured reply: 'pong'" in out and "2 calls" in out
    assert openai_server.requests[1].body["tool_choice"]["function"]["name"] == "CheckAnswer"


def test_check_bedrock_with_the_default_model_of_a_role(
    bedrock_server: FakeBedrock, capsys: pytest.CaptureFixture[str]
) -> None:
    bedrock_server.reply = lambda r: Reply("pong", input_tokens=20, output_tokens=2)
    assert main(["models", "check", "--role", "chunk"]) == 0  # AWS credentials -> Bedrock
    out = capsys.readouterr().out
    assert out.splitlines()[0] == (
        f"model: {BEDROCK_SPEC} · Amazon Bedrock Converse ({bedrock_server.url}) "
        "· from credentials AWS"
    )
    assert "~$0.0000" in out  # priced (the default Bedrock models have built-in prices)
    assert bedrock_server.count == 1


@pytest.mark.parametrize(
    ("fault", "code", "words", "requests"),
    [
        (oa.unauthorized(OPENAI_KEY), 2, "auth (HTTP 401): invalid_api_key: Incorrect API key", 1),
        (oa.unknown_model("fake-gpt"), 2, "not found (HTTP 404)", 1),
        (oa.server_error(), 1, "server (HTTP 500) after 2 attempts", 2),
        (oa.context_length(), 1, "context length (HTTP 400)", 1),
    ],
    ids=["401", "404", "500", "context"],
)
def test_check_reports_the_provider_error_in_one_line(
    openai_server: FakeOpenAI, capsys: pytest.CaptureFixture[str], fault: oa.Fault, code: int,
    words: str, requests: int,
) -> None:
    openai_server.script(fault, fault)
    assert main(["models", "check", OPENAI_SPEC, "--max-attempts", "2"]) == code
    err = capsys.readouterr().err
    [line] = err.strip().splitlines()
    assert line.startswith("chunkwise: models check failed after ") and words in line
    assert OPENAI_KEY not in line
    assert openai_server.count == requests  # permanent errors at once, transient ones retried


def test_a_429_does_not_use_up_max_attempts(
    openai_server: FakeOpenAI, capsys: pytest.CaptureFixture[str]
) -> None:
    """Throttles are not failures: two 429s under --max-attempts 2 still get an answer (a
    chunk used to give up after a few 429s in a busy fan-out)."""
    openai_server.script(oa.rate_limited(retry_after=0.01), oa.rate_limited(retry_after=0.01))
    assert main(["models", "check", OPENAI_SPEC, "--max-attempts", "2"]) == 0
    assert openai_server.count == 3
    assert "2 retries" in capsys.readouterr().out


def test_check_retries_a_429_like_any_call_and_reports_it(
    openai_server: FakeOpenAI, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A check tells whether a setup works under the provider's normal throttling: it retries
    (it used to stop at the first 429) and says how often and how long it waited."""
    openai_server.script(oa.rate_limited(retry_after=0.2))
    report = tmp_path / "check.json"
    assert main(["models", "check", OPENAI_SPEC, "--json", str(report)]) == 0
    out = capsys.readouterr().out
    assert openai_server.count == 2 and openai_server.requests[0].status == 429
    assert "1 call, " in out and "1 retry" in out
    [line] = [x for x in out.splitlines() if x.startswith("retried ")]
    waited = float(line.split("waiting ")[1].split("s ")[0])
    assert line.startswith("retried 1 time, waiting ") and waited >= 0.2
    saved = json.loads(report.read_text())
    assert saved["retries"] == 1 and saved["retry_wait_seconds"] >= 0.2


def test_check_retries_server_errors_by_default(
    openai_server: FakeOpenAI, capsys: pytest.CaptureFixture[str]
) -> None:
    openai_server.script(oa.server_error(), oa.server_error())
    assert main(["models", "check", OPENAI_SPEC]) == 0
    assert openai_server.count == 3
    assert "retried 2 times" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--rpm", "0"], "--rpm must be more than 0 (requests per minute; leave it unset"),
        (["--tpm", "0"], "--tpm must be more than 0 (tokens per minute; leave it unset"),
        (["--tpm", "-5"], "--tpm must be more than 0"),
        (["--burst-seconds", "0"], "--burst-seconds must be more than 0"),
        (["--max-in-flight", "0"], "--max-in-flight must be at least 1"),
        (["--max-attempts", "0"], "--max-attempts must be at least 1"),
        (["--timeout", "nan"], "--timeout must be more than 0"),
    ],
)
def test_bad_limits_are_one_line_config_errors(
    capsys: pytest.CaptureFixture[str], flags: list[str], words: str
) -> None:
    """`--rpm 0` used to end in a traceback from the limiter: exit 2, one line, no request."""
    assert main(["models", "check", OPENAI_SPEC, "--base-url", "http://127.0.0.1:9/v1",
                 *flags]) == 2
    err = capsys.readouterr().err
    [line] = err.strip().splitlines()
    assert words in line and "Traceback" not in err


def test_check_bedrock_access_denied_is_a_config_error(
    bedrock_server: FakeBedrock, capsys: pytest.CaptureFixture[str]
) -> None:
    bedrock_server.script(br.access_denied())
    assert main(["models", "check", BEDROCK_SPEC]) == 2
    err = capsys.readouterr().err
    assert "AccessDeniedException" in err and AWS_SECRET not in err


def test_check_config_errors_exit_2_without_a_request(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["models", "check", "nonsense:model"]) == 2
    assert "unknown model spec 'nonsense:model'" in capsys.readouterr().err
    assert main(["models", "check", "openai:gpt-4o-mini"]) == 2
    assert "no API key for openai:gpt-4o-mini" in capsys.readouterr().err
    assert main(["models", "check", BEDROCK_SPEC]) == 2
    assert "no AWS credentials" in capsys.readouterr().err


def test_show_prints_every_role_and_why(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLM_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("BEDROCK_CHUNK_MODEL_ID", "anthropic.claude-3-haiku-20240307-v1:0")
    assert main(["models", "show", "--code-model", "local:default"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert "· from env BEDROCK_CHUNK_MODEL_ID ·" in lines["chunk"]
    assert "bedrock_converse:anthropic.claude-3-haiku-20240307-v1:0" in lines["chunk"]
    assert "local:default · embedded llama.cpp (offline) · from flag" in lines["code"]
    assert lines["writer"].startswith(
        "writer    openai:stepfun/step-3.5-flash:free · OpenAI-compatible at "
        "https://openrouter.ai/api/v1 · from credentials LLM_API_KEY"
    )
    assert OPENAI_KEY not in out


def test_show_says_where_each_limit_comes_from(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bare gpt-4 has 8k, from its LangChain profile (the table's unknown-model default was
    32k); flags win; the table and the default say so; the local model reports its n_ctx."""
    url = ["--base-url", "http://127.0.0.1:9/v1"]
    assert main(["models", "show", "--model", "openai:gpt-4", *url]) == 0
    assert "context 8,192 (profile) · reply 8,192 (profile)" in capsys.readouterr().out
    assert main(["models", "show", "--model", "openai:gpt-4", *url, "--context-window", "4096",
                 "--max-new-tokens", "100"]) == 0
    assert "context 4,096 (settings) · reply 100 (settings)" in capsys.readouterr().out
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "a")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "b")
    assert main(["models", "show", "--model",
                 "bedrock_converse:anthropic.claude-3-haiku-20240307-v1:0"]) == 0
    assert "context 200,000 (table) · reply 4,096 (table)" in capsys.readouterr().out
    assert main(["models", "show", "--model", "openai:some-new-model", *url]) == 0
    assert "context 32,768 (default) · reply 4,096 (default)" in capsys.readouterr().out
    assert main(["models", "show", "--model", "local:default"]) == 0
    assert "context 8,192 (model)" in capsys.readouterr().out

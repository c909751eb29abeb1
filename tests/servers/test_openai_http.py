"""The real ChatOpenAI adapter, built by our factory from a spec, against a fake server."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel, Field

from chunkwise.models.retry import ModelCallError
from chunkwise.models.settings import ModelSettings
from tests.models.clients import make_client

from . import fake_openai as oa
from .base import Reply, Request
from .conftest import OPENAI_KEY, OPENAI_SPEC
from .fake_openai import FakeOpenAI


class Paper(BaseModel):
    title: str
    year: int = Field(ge=1900)


def _paper(request: Request) -> Reply | str | dict[str, object]:
    if request.structured:
        return {"title": "Attention", "year": 2017}
    return "plain answer"


def test_text_call_sends_key_model_and_sampling_and_counts_usage(
    openai_server: FakeOpenAI, fast: ModelSettings
) -> None:
    openai_server.reply = lambda r: Reply("pong", input_tokens=120, output_tokens=7,
                                          cached_tokens=100)
    settings = fast.with_(temperature=0.2, top_p=0.9, max_new_tokens=64)
    client = make_client(OPENAI_SPEC, settings)
    out = client.complete("ping", task="check")
    assert out.text == "pong"
    usage = out.usage
    assert (usage.input_tokens, usage.output_tokens, usage.cached_tokens) == (120, 7, 100)
    assert out.usage.calls == 1 and out.usage.retries == 0
    [call] = openai_server.requests
    assert call.path == "/v1/chat/completions"
    assert call.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert call.body["model"] == "fake-gpt"
    assert call.body["temperature"] == 0.2 and call.body["top_p"] == 0.9
    # compatible servers get the classic name (llama.cpp and Ollama ignore the new one)
    assert call.body["max_tokens"] == 64 and "max_completion_tokens" not in call.body
    assert call.body["messages"] == [{"role": "user", "content": "ping"}]
    assert not call.body.get("stream")


def test_structured_output_with_tool_calling(
    openai_server: FakeOpenAI, fast: ModelSettings
) -> None:
    openai_server.reply = _paper
    client = make_client(OPENAI_SPEC, fast)  # a custom base URL defaults to tool calling
    out = client.structured("Which paper?", Paper, task="extract")
    assert out.value == Paper(title="Attention", year=2017)
    [call] = openai_server.requests
    assert call.body["tools"][0]["function"]["name"] == "Paper"
    assert call.body["tool_choice"]["function"]["name"] == "Paper"
    assert "response_format" not in call.body
    assert out.usage.calls == 1 and out.usage.output_tokens > 0


def test_structured_output_with_json_schema(openai_server: FakeOpenAI, fast: ModelSettings) -> None:
    openai_server.reply = _paper
    client = make_client(OPENAI_SPEC, fast.with_(structured_method="json_schema"))
    out = client.structured("Which paper?", Paper, task="extract")
    assert out.value.year == 2017
    [call] = openai_server.requests
    fmt = call.body["response_format"]
    assert fmt["type"] == "json_schema"
    assert set(fmt["json_schema"]["schema"]["properties"]) == {"title", "year"}
    assert "tools" not in call.body


@pytest.mark.parametrize("method", ["function_calling", "json_schema"])
def test_invalid_structured_answer_is_repaired_with_its_errors(
    openai_server: FakeOpenAI, fast: ModelSettings, method: str
) -> None:
    answers = iter([{"title": "Attention", "year": 17}, {"title": "Attention", "year": 2017}])
    openai_server.reply = lambda r: next(answers)
    client = make_client(OPENAI_SPEC, fast.with_(structured_method=method))
    out = client.structured("Which paper?", Paper, task="extract")
    assert out.value.year == 2017
    assert openai_server.count == 2
    repair = openai_server.requests[1].body["messages"]
    assert "does not match the required schema" in repair[-1]["content"]
    assert "greater than or equal to 1900" in repair[-1]["content"]
    assert out.usage.calls == 2


def test_structured_output_gives_up_after_the_repair_budget(
    openai_server: FakeOpenAI, fast: ModelSettings
) -> None:
    openai_server.reply = lambda r: {"title": "x"}
    client = make_client(OPENAI_SPEC, fast)
    with pytest.raises(ModelCallError) as info:
        client.structured("Which paper?", Paper, task="extract", repair_attempts=1)
    assert info.value.kind == "validation"
    assert openai_server.count == 2


@pytest.mark.parametrize(
    "fault",
    [
        oa.rate_limited(retry_after=0.01),
        oa.rate_limited(retry_after_ms=10),
        oa.server_error(500),
        oa.server_error(503),
        oa.malformed(),
        oa.dropped(),
        oa.slow(3.0),
    ],
    ids=["429-retry-after", "429-retry-after-ms", "500", "503", "malformed", "reset", "timeout"],
)
def test_transient_failures_are_retried_then_succeed(
    openai_server: FakeOpenAI, fast: ModelSettings, fault: oa.Fault
) -> None:
    openai_server.reply = lambda r: "recovered"
    openai_server.script(fault, fault)
    client = make_client(OPENAI_SPEC, fast.with_(timeout=0.3))
    out = client.complete("hello", task="t")
    assert out.text == "recovered"
    assert openai_server.count == 3  # two failures, one success: the SDK retried nothing itself
    assert out.usage.retries == 2 and out.usage.calls == 1


def test_retries_stop_at_max_attempts(openai_server: FakeOpenAI, fast: ModelSettings) -> None:
    openai_server.script([oa.server_error(500)] * 10)
    client = make_client(OPENAI_SPEC, fast.with_(max_attempts=3))
    with pytest.raises(ModelCallError) as info:
        client.complete("hello", task="t")
    assert openai_server.count == 3
    assert info.value.kind == "server" and info.value.attempts == 3 and info.value.status == 500
    assert "after 3 attempts" in str(info.value) and "\n" not in str(info.value)


def test_retry_after_ms_is_honoured(openai_server: FakeOpenAI, fast: ModelSettings) -> None:
    openai_server.script(oa.rate_limited(retry_after_ms=250))
    client = make_client(OPENAI_SPEC, fast)  # own backoff would wait at most 0.04 s
    client.complete("hello", task="t")
    first, second = openai_server.requests
    assert second.started - first.finished >= 0.25


def test_retry_after_seconds_is_honoured(openai_server: FakeOpenAI, fast: ModelSettings) -> None:
    openai_server.script(oa.rate_limited(retry_after=0.3))
    client = make_client(OPENAI_SPEC, fast)
    client.complete("hello", task="t")
    first, second = openai_server.requests
    assert second.started - first.finished >= 0.3


@pytest.mark.parametrize(
    ("fault", "kind", "status", "words"),
    [
        (oa.unauthorized(OPENAI_KEY), "auth", 401, "Incorrect API key provided"),
        (oa.unauthorized(OPENAI_KEY, status=403), "auth", 403, "Incorrect API key provided"),
        (oa.unknown_model("fake-gpt"), "not_found", 404, "`fake-gpt` does not exist"),
        (oa.context_length(), "context_length", 400, "maximum context length is 8192"),
        (oa.bad_request(), "validation", 400, "Invalid value for 'temperature'"),
    ],
    ids=["401", "403", "404", "context-length", "400"],
)
def test_permanent_failures_fail_fast_with_one_clear_line(
    openai_server: FakeOpenAI, fast: ModelSettings, fault: oa.Fault, kind: str, status: int,
    words: str,
) -> None:
    openai_server.script(fault, fault, fault)
    client = make_client(OPENAI_SPEC, fast)
    with pytest.raises(ModelCallError) as info:
        client.complete("hello", task="summarize")
    error = info.value
    assert openai_server.count == 1
    assert (error.kind, error.status, error.attempts) == (kind, status, 1)
    line = str(error)
    assert words in line and "\n" not in line
    assert line.startswith(f"{OPENAI_SPEC} (summarize): ")
    assert OPENAI_KEY not in line and OPENAI_KEY not in repr(error)
    assert error.__cause__ is None and error.__context__ is None


def test_exhausted_quota_is_not_retried(openai_server: FakeOpenAI, fast: ModelSettings) -> None:
    fault = oa.Fault(
        "quota", status=429,
        body={"error": {"message": "You exceeded your current quota, please check your plan "
                        "and billing details.", "type": "insufficient_quota",
                        "code": "insufficient_quota"}},
    )
    openai_server.script(fault, fault)
    with pytest.raises(ModelCallError) as info:
        make_client(OPENAI_SPEC, fast).complete("hello", task="t")
    assert info.value.kind == "quota" and openai_server.count == 1


def test_streaming_under_langgraph_messages_mode_counts_usage(
    openai_server: FakeOpenAI, fast: ModelSettings
) -> None:
    """Studio streams with stream_mode="messages": ChatOpenAI then streams, usage still counts."""
    from langgraph.graph import END, START, StateGraph
    from typing_extensions import TypedDict

    class State(TypedDict, total=False):
        text: str
        tokens: int

    openai_server.reply = lambda r: Reply("streamed words", input_tokens=11, output_tokens=2)
    client = make_client(OPENAI_SPEC, fast)

    def node(state: State) -> State:
        out = client.complete("hi", task="t")
        return {"text": out.text, "tokens": out.usage.input_tokens + out.usage.output_tokens}

    builder = StateGraph(State)
    builder.add_node("node", node)
    builder.add_edge(START, "node")
    builder.add_edge("node", END)
    chunks = list(builder.compile().stream({}, stream_mode=["messages", "values"]))
    final = [c for mode, c in chunks if mode == "values"][-1]
    assert final == {"text": "streamed words", "tokens": 13}
    [call] = openai_server.requests
    assert call.body["stream"] is True
    assert call.body["stream_options"] == {"include_usage": True}
    assert any(mode == "messages" for mode, _ in chunks)


def test_a_loopback_server_needs_no_key(
    openai_server: FakeOpenAI, fast: ModelSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LLM_API_KEY")
    out = make_client(OPENAI_SPEC, fast).complete("hello", task="t")
    assert out.text == "ok"
    assert openai_server.requests[0].headers["authorization"] == "Bearer not-needed"


def test_base_url_flag_wins_over_env(
    openai_server: FakeOpenAI, fast: ModelSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLM_BASE_URL", "http://127.0.0.1:9/v1")  # nothing listens there
    out = make_client(OPENAI_SPEC, fast.with_(base_url=openai_server.base_url)).complete(
        "hello", task="t"
    )
    assert out.text == "ok" and openai_server.count == 1


def test_connection_refused_is_retried_then_reported(
    fast: ModelSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLM_API_KEY", OPENAI_KEY)
    client = make_client(OPENAI_SPEC, fast.with_(base_url="http://127.0.0.1:9/v1", max_attempts=2))
    with pytest.raises(ModelCallError) as info:
        client.complete("hello", task="t")
    assert info.value.kind == "connection" and info.value.attempts == 2
    assert OPENAI_KEY not in str(info.value)


def test_call_cache_answers_a_repeated_call_without_a_request(
    openai_server: FakeOpenAI, fast: ModelSettings
) -> None:
    from chunkwise.runtime.blobs import MemoryBlobStore

    store = MemoryBlobStore()
    client = make_client(OPENAI_SPEC, fast.with_(cache=True), store=store)
    first = client.complete("hello", task="t")
    again = client.complete("hello", task="t")
    assert (first.cached, again.cached) == (False, True)
    assert again.text == first.text and again.usage.calls == 0
    assert openai_server.count == 1
    assert OPENAI_KEY not in json.dumps(store._calls)


# -- a chat model given in Python -----------------------------------------------------------------
def test_a_python_chat_openai_makes_exactly_max_attempts_requests(
    openai_server: FakeOpenAI, fast: ModelSettings
) -> None:
    """`without_sdk_retries` rewrites private ChatOpenAI attributes: this fails if a new
    langchain-openai renames them or changes what they hold (the SDK would then retry too)."""
    import openai
    from langchain_openai import ChatOpenAI
    from openai.resources.chat.completions import AsyncCompletions, Completions

    mine = ChatOpenAI(model="fake-gpt", api_key=OPENAI_KEY,  # type: ignore[arg-type]
                      base_url=openai_server.base_url)
    for name, kind in (("root_client", openai.OpenAI), ("client", Completions),
                       ("root_async_client", openai.AsyncOpenAI),
                       ("async_client", AsyncCompletions)):
        assert isinstance(getattr(mine, name), kind), name
    assert mine.root_client.max_retries == 2  # the SDK default the seam must turn off
    openai_server.script([oa.server_error(500)] * 10)
    client = make_client(mine, fast.with_(max_attempts=3))
    assert isinstance(client.chat.client, Completions)  # type: ignore[attr-defined]
    assert client.chat.client._client is client.chat.root_client  # type: ignore[attr-defined]
    with pytest.raises(ModelCallError) as info:
        client.complete("hello", task="t")
    assert info.value.attempts == 3 and openai_server.count == 3
    assert mine.root_client.max_retries == 2  # the caller's object is untouched


def test_python_chat_models_share_cached_answers_only_with_identical_parameters(
    openai_server: FakeOpenAI, fast: ModelSettings
) -> None:
    """The cache key is the model's own parameters, not its class and model name: another
    server or temperature is another model. Keys never enter the cache."""
    from langchain_openai import ChatOpenAI

    from chunkwise.runtime.blobs import MemoryBlobStore

    store = MemoryBlobStore()
    other = FakeOpenAI().start()
    try:
        openai_server.reply = lambda r: "from the first server"
        other.reply = lambda r: "from the second server"

        def chat(url: str, temperature: float, key: str = OPENAI_KEY) -> ChatOpenAI:
            return ChatOpenAI(model="fake-gpt", api_key=key,  # type: ignore[arg-type]
                              base_url=url, temperature=temperature)

        def ask(model: ChatOpenAI) -> str:
            return make_client(model, fast.with_(cache=True), store=store).complete(
                "hello", task="t").text

        assert ask(chat(openai_server.base_url, 0.0)) == "from the first server"
        assert ask(chat(other.base_url, 0.0)) == "from the second server"  # not a cache hit
        ask(chat(openai_server.base_url, 0.5))
        assert openai_server.count == 2 and other.count == 1
        # the same parameters (another key: keys are not parameters) are answered from cache
        assert ask(chat(openai_server.base_url, 0.0, "sk-other-0123456789abcdef")) == (
            "from the first server")
        assert openai_server.count == 2
        assert OPENAI_KEY not in json.dumps(store._calls)
    finally:
        other.close()


# -- the per-call reply cap ------------------------------------------------------------------------
def test_the_per_call_cap_reaches_a_server_that_reads_only_max_tokens(
    openai_server: FakeOpenAI, fast: ModelSettings
) -> None:
    """llama.cpp's server, Ollama and older vLLM ignore `max_completion_tokens` (ChatOpenAI's
    name for `max_tokens`): the cap must arrive as `max_tokens`, below the settings' cap."""
    openai_server.reads_max_tokens_only = True
    openai_server.reply = lambda r: "one two three four five six seven eight"
    client = make_client(OPENAI_SPEC, fast.with_(max_new_tokens=64))
    out = client.complete("count", task="t", max_tokens=3)
    assert out.text == "one two three"
    body = openai_server.requests[0].body
    assert body["max_tokens"] == 3 and "max_completion_tokens" not in body
    assert client.complete("count", task="t").text.split()[-1] == "eight"  # 64: not cut


def test_the_per_call_cap_on_a_python_chat_openai_keeps_its_extra_body(
    openai_server: FakeOpenAI, fast: ModelSettings
) -> None:
    from langchain_openai import ChatOpenAI

    openai_server.reads_max_tokens_only = True
    openai_server.reply = lambda r: "one two three four five"
    mine = ChatOpenAI(model="fake-gpt", api_key=OPENAI_KEY,  # type: ignore[arg-type]
                      base_url=openai_server.base_url, extra_body={"top_k": 5})
    assert make_client(mine, fast).complete("count", task="t", max_tokens=2).text == "one two"
    body = openai_server.requests[0].body
    assert body["max_tokens"] == 2 and body["top_k"] == 5


def test_response_headers_reach_the_limiter(openai_server: FakeOpenAI, fast: ModelSettings) -> None:
    """ChatOpenAI keeps the response headers (include_response_headers): the provider's
    x-ratelimit-* numbers become the endpoint's limits without --rpm/--tpm."""
    from chunkwise.models.limiter import RateLimiter

    from .base import BucketLimit

    openai_server.bucket = BucketLimit(rpm=600, tpm=90_000, headers=True)
    client = make_client(OPENAI_SPEC, fast)
    client.complete("hello", task="t")
    assert isinstance(client.limiter, RateLimiter)
    assert (client.limiter.stats().rpm, client.limiter.stats().tpm) == (600, 90_000)

"""ModelClient with a scripted model: cache, repair, retries, events (no HTTP)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from chunkwise.models.client import DEFAULT_OUTPUT_ESTIMATE
from chunkwise.models.limiter import Permit, RateLimiter, set_limiter_factory
from chunkwise.models.retry import ModelCallError
from chunkwise.models.scripted import ScriptedCall, ScriptedChatModel
from chunkwise.models.settings import ModelSettings
from chunkwise.runtime.blobs import MemoryBlobStore
from tests.models.clients import make_client

FAST = ModelSettings(max_attempts=3, backoff_base=0.0, backoff_cap=0.0)


class Answer(BaseModel):
    word: str


class Throttled(Exception):
    status_code = 429


def test_cache_survives_a_new_model_object_of_the_same_kind() -> None:
    store = MemoryBlobStore()
    first = ScriptedChatModel(responders={"*": lambda c: "one"})
    again = ScriptedChatModel(responders={"*": lambda c: "two"})
    assert make_client(first, FAST, store=store).complete("hi", task="t").text == "one"
    hit = make_client(again, FAST, store=store).complete("hi", task="t")
    assert (hit.text, hit.cached, hit.usage.calls) == ("one", True, 0)
    assert again.calls == []


def test_cache_key_separates_tasks_prompts_and_sampling() -> None:
    store = MemoryBlobStore()
    model = ScriptedChatModel(responders={"*": lambda c: f"{c.task}:{c.last}"})
    client = make_client(model, FAST, store=store)
    client.complete("a", task="x")
    client.complete("a", task="y")
    client.complete("b", task="x")
    make_client(model, FAST.with_(temperature=0.7), store=store).complete("a", task="x")
    assert len(model.calls) == 4


def test_retries_are_counted_in_usage_and_events() -> None:
    failures = iter([Throttled("slow down"), Throttled("slow down")])

    def fail(call: ScriptedCall) -> BaseException | None:
        return next(failures, None)

    model = ScriptedChatModel(responders={"*": lambda c: "fine"}, fail=fail)
    out = make_client(model, FAST.with_(cache=False)).complete("hi", task="t")
    assert out.text == "fine" and out.usage.retries == 2 and out.usage.calls == 1
    assert len(model.calls) == 3


def test_permanent_failure_is_one_line_with_the_task() -> None:
    class Denied(Exception):
        status_code = 403

    model = ScriptedChatModel(responders={"*": lambda c: "x"}, fail=lambda c: Denied("denied"))
    with pytest.raises(ModelCallError) as info:
        make_client(model, FAST.with_(cache=False)).complete("hi", task="summarize")
    assert str(info.value) == "scripted:scripted (summarize): auth (HTTP 403): denied"
    assert len(model.calls) == 1


def test_structured_repair_then_cache() -> None:
    answers: list[Any] = [{"wrong": 1}, {"word": "pong"}]
    model = ScriptedChatModel(responders={"*": lambda c: answers.pop(0)})
    store = MemoryBlobStore()
    client = make_client(model, FAST, store=store)
    out = client.structured("say pong", Answer, task="s")
    assert out.value == Answer(word="pong") and out.usage.calls == 2
    assert "does not match the required schema" in model.calls[1].last
    again = client.structured("say pong", Answer, task="s")
    assert again.cached and again.value == out.value and len(model.calls) == 2


def test_a_repair_turn_shows_only_the_last_answer_and_only_its_start() -> None:
    # an answer that ran on to its token limit, twice: the third prompt must not hold both
    answers: list[Any] = ["word " * 5000, "pong " * 5000, {"word": "pong"}]
    model = ScriptedChatModel(responders={"*": lambda c: answers.pop(0)})
    client = make_client(model, FAST)
    out = client.structured("say pong", Answer, task="s")
    assert out.value == Answer(word="pong") and out.usage.calls == 3
    third = model.calls[2].messages
    assert [type(m).__name__ for m in third] == ["HumanMessage", "AIMessage", "HumanMessage"]
    assert str(third[1].content).startswith("pong pong")
    assert str(third[1].content).endswith("more characters cut: the answer ran on]")
    assert len(model.calls[2].prompt) < 6000


def test_events_reach_the_langgraph_stream() -> None:
    from langgraph.graph import END, START, StateGraph
    from typing_extensions import TypedDict

    class State(TypedDict, total=False):
        text: str

    failures = iter([Throttled("slow")])
    model = ScriptedChatModel(responders={"*": lambda c: "ok"},
                              fail=lambda c: next(failures, None))
    client = make_client(model, FAST.with_(cache=False))

    def node(state: State) -> State:
        return {"text": client.complete("hi", task="t").text}

    builder = StateGraph(State)
    builder.add_node("node", node)
    builder.add_edge(START, "node")
    builder.add_edge("node", END)
    events = [e["event"] for e in builder.compile().stream({}, stream_mode="custom")]
    assert events == ["call_started", "call_finished", "call_retry", "call_started",
                      "call_finished"]


def test_a_client_knows_its_window_and_output_cap() -> None:
    client = make_client(ScriptedChatModel(), FAST.with_(context_window=4096, max_new_tokens=99))
    assert (client.context_window, client.max_output_tokens) == (4096, 99)


def test_the_limiter_books_the_reply_cap_each_request_carries() -> None:
    """OpenAI charges max_tokens against TPM when it admits a request: booking a default
    guess under a larger per-call cap let the limiter admit faster than the provider would."""
    booked: list[int] = []

    class Recording(RateLimiter):
        def acquire(self, estimated_tokens: int) -> Permit:
            booked.append(estimated_tokens)
            return super().acquire(estimated_tokens)

    set_limiter_factory(lambda endpoint, config: Recording(config))
    try:
        model = ScriptedChatModel(responders={"*": lambda c: "fine"})
        client = make_client(model, FAST.with_(cache=False))
        client.complete("hi", task="t", max_tokens=3100)
        client.complete("hi", task="t")
        capped = make_client(model, FAST.with_(cache=False, max_new_tokens=700))
        capped.complete("hi", task="t", max_tokens=3100)  # the smaller of the two is sent
        capped.complete("hi", task="t")
    finally:
        set_limiter_factory(None)
    prompt = booked[1] - DEFAULT_OUTPUT_ESTIMATE
    assert booked == [prompt + 3100, prompt + DEFAULT_OUTPUT_ESTIMATE, prompt + 700, prompt + 700]


def test_a_structured_call_can_cap_its_answer_on_a_copy_of_the_model() -> None:
    from langchain_openai import ChatOpenAI

    from chunkwise.models.factory import with_structured_reply_cap

    chat = ChatOpenAI(model="m", api_key="sk-test", base_url="http://127.0.0.1:9/v1")
    capped = with_structured_reply_cap(chat, 2000)
    assert capped.max_tokens == 2000 and chat.max_tokens is None  # type: ignore[attr-defined]
    lower = chat.model_copy(update={"max_tokens": 500})
    assert with_structured_reply_cap(lower, 2000).max_tokens == 500  # type: ignore[attr-defined]
    scripted = ScriptedChatModel(responders={"*": lambda c: {"word": "pong"}})
    assert with_structured_reply_cap(scripted, 2000) is scripted  # no such setting

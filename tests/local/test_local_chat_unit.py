"""LlamaCppChatModel logic against a fake llama.cpp instance (no native library needed)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from chunkwise.models.local import chat
from chunkwise.models.local.chat import LlamaCppChatModel
from chunkwise.models.local.messages import with_json_instruction
from chunkwise.models.local.runtime import ContextLengthExceededError, LoadedModel
from chunkwise.models.local.sampling import NO_REPETITION_CONTROL, PROSE_REPETITION, Repetition


class Person(BaseModel):
    """A person named in the text."""

    name: str = Field(description="first name")
    age: int


class PersonDict(TypedDict):
    name: str
    age: int


class FakeLlama:
    """Records calls, replies from a script, and notices overlapping generations."""

    chat_format = "fake"  # no GGUF template, so streamed usage is not computed

    def __init__(self) -> None:
        self.calls: list[tuple[list[dict[str, Any]], dict[str, Any]]] = []
        self.repetition: Repetition | None = None  # set by LoadedModel.begin before each call
        self.repetitions: list[Repetition | None] = []
        self.replies: list[str] = []
        self.overflow = False
        self.active = 0
        self.overlapped = False

    def create_chat_completion(
        self, messages: list[dict[str, Any]], stream: bool = False, **params: Any
    ) -> Any:
        self.calls.append((messages, params))
        self.repetitions.append(self.repetition)
        if stream:
            return self._stream()
        self._enter()
        try:
            if self.overflow:
                raise ValueError("Requested tokens (9000) exceed context window of 8192")
            text = self.replies.pop(0) if self.replies else "ok"
            return {
                "choices": [
                    {"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                ],
                "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
            }
        finally:
            self.active -= 1

    def _enter(self) -> None:
        self.active += 1
        if self.active > 1:
            self.overlapped = True
        time.sleep(0.005)

    def _stream(self) -> Iterator[dict[str, Any]]:
        if self.overflow:
            raise ValueError("Requested tokens (9000) exceed context window of 8192")
        text = self.replies.pop(0) if self.replies else "one two"
        yield {"choices": [{"delta": {"role": "assistant"}, "finish_reason": None}]}
        for piece in text.split(" "):
            yield {"choices": [{"delta": {"content": piece}, "finish_reason": None}]}
        yield {"choices": [{"delta": {}, "finish_reason": "stop"}]}

    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = False) -> list[int]:
        return list(range(len(text.split())))


@pytest.fixture
def llama(monkeypatch: pytest.MonkeyPatch) -> FakeLlama:
    fake = FakeLlama()
    loaded = LoadedModel(llama=fake, n_ctx=8192)
    monkeypatch.setattr(chat, "load_model", lambda path, n_ctx, n_threads: loaded)
    return fake


@pytest.fixture
def model() -> LlamaCppChatModel:
    return LlamaCppChatModel(model_path="/models/fake.gguf", model_name="fake-coder")


def test_invoke_returns_text_usage_and_metadata(llama: FakeLlama, model: LlamaCppChatModel) -> None:
    llama.replies = ["hello there"]

    reply = model.invoke("hi")

    assert reply.content == "hello there"
    assert reply.usage_metadata == {"input_tokens": 12, "output_tokens": 3, "total_tokens": 15}
    assert reply.response_metadata["model_name"] == "fake-coder"
    assert reply.response_metadata["finish_reason"] == "stop"


def test_messages_and_sampling_settings_are_passed(llama: FakeLlama) -> None:
    model = LlamaCppChatModel(
        model_path="/m.gguf", temperature=0.5, top_p=0.8, max_tokens=64, seed=7
    )
    history = [
        SystemMessage("be brief"),
        HumanMessage("q"),
        AIMessage("", tool_calls=[{"name": "f", "args": {"x": 1}, "id": "c1"}]),
        ToolMessage("42", tool_call_id="c1"),
        HumanMessage([{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]),
    ]

    model.invoke(history, stop=["END"])

    messages, params = llama.calls[0]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool", "user"]
    assert messages[2]["tool_calls"][0]["function"] == {"name": "f", "arguments": {"x": 1}}
    assert messages[4]["content"] == "ab"
    assert params == {
        "temperature": 0.5,
        "top_p": 0.8,
        "max_tokens": 64,
        "seed": 7,
        "stop": ["END"],
    }


def test_defaults_are_greedy_and_uncapped(llama: FakeLlama, model: LlamaCppChatModel) -> None:
    model.invoke("hi")
    _, params = llama.calls[0]
    assert params == {"temperature": 0.0, "max_tokens": None, "stop": []}
    assert model.context_window == 8192


def test_non_text_content_is_refused(llama: FakeLlama, model: LlamaCppChatModel) -> None:
    image = {"type": "image_url", "image_url": {"url": "data:,"}}
    with pytest.raises(ValueError, match="text only"):
        model.invoke([HumanMessage([image])])


def test_unknown_call_arguments_are_refused(llama: FakeLlama, model: LlamaCppChatModel) -> None:
    with pytest.raises(TypeError, match="unsupported"):
        model.invoke("hi", n_gpu_layers=99)


def test_structured_output_constrains_and_parses(
    llama: FakeLlama, model: LlamaCppChatModel
) -> None:
    llama.replies = ['{"name": "Ada", "age": 36}']

    result = model.with_structured_output(Person).invoke(
        [SystemMessage("Extract people."), HumanMessage("Ada is 36.")]
    )

    assert result == Person(name="Ada", age=36)
    messages, params = llama.calls[0]
    schema = params["response_format"]["schema"]
    assert params["response_format"]["type"] == "json_object"
    assert schema["required"] == ["name", "age"]
    assert schema["description"] == "A person named in the text."
    # the instruction ends the last user message: the prompt's prefix is the plain call's
    assert messages[0] == {"role": "system", "content": "Extract people."}
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[1]["content"].startswith("Ada is 36.\n\nAnswer with a single JSON object")
    assert '"first name"' in messages[1]["content"]
    plain, _ = llama.calls[0]
    model.invoke([SystemMessage("Extract people."), HumanMessage("Ada is 36.")])
    assert llama.calls[1][0][1]["content"] == "Ada is 36."
    assert plain[1]["content"].startswith(llama.calls[1][0][1]["content"])


def test_json_instruction_follows_a_trailing_tool_or_assistant_message() -> None:
    messages = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    out = with_json_instruction(messages, None)
    assert out[:2] == messages
    assert out[2] == {"role": "user", "content": "Answer with a single JSON object only."}


@pytest.mark.parametrize("method", ["json_schema", "function_calling", "json_mode"])
def test_every_method_uses_constrained_decoding(
    llama: FakeLlama, model: LlamaCppChatModel, method: str
) -> None:
    llama.replies = ['{"name": "Ada", "age": 36}']
    result = model.with_structured_output(Person, method=method).invoke("Ada is 36.")
    assert result == Person(name="Ada", age=36)
    assert "schema" in llama.calls[0][1]["response_format"]
    assert "tools" not in llama.calls[0][1]


def test_dict_schemas_give_dicts(llama: FakeLlama, model: LlamaCppChatModel) -> None:
    json_schema = {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}
    llama.replies = ['{"x": 5}', '{"name": "Bo", "age": 2}']

    assert model.with_structured_output(json_schema).invoke("x?") == {"x": 5}
    assert model.with_structured_output(PersonDict).invoke("who?") == {"name": "Bo", "age": 2}
    assert llama.calls[0][1]["response_format"]["schema"] == json_schema


def test_include_raw_reports_parse_errors(llama: FakeLlama, model: LlamaCppChatModel) -> None:
    llama.replies = ['{"name": "Ada"']  # cut off, as when max_tokens is hit

    out = model.with_structured_output(Person, include_raw=True).invoke("Ada")

    assert isinstance(out, dict)
    assert out["parsed"] is None
    assert out["parsing_error"] is not None
    assert out["raw"].content == '{"name": "Ada"'


def test_structured_output_rejects_unknown_method(model: LlamaCppChatModel) -> None:
    with pytest.raises(ValueError, match="method"):
        model.with_structured_output(Person, method="xml")


def test_forced_tool_call(llama: FakeLlama, model: LlamaCppChatModel) -> None:
    llama.replies = ['{"name": "Cy", "age": 9}']

    reply = model.bind_tools([Person], tool_choice="any").invoke("Cy is 9")

    assert isinstance(reply, AIMessage)
    assert reply.tool_calls[0]["name"] == "Person"
    assert reply.tool_calls[0]["args"] == {"name": "Cy", "age": 9}
    assert "tools" not in llama.calls[0][1]


def test_tool_choice_by_name_and_truncated_arguments(
    llama: FakeLlama, model: LlamaCppChatModel
) -> None:
    llama.replies = ['{"name": "Cy"']
    reply = model.bind_tools([Person], tool_choice="Person").invoke("Cy")
    assert isinstance(reply, AIMessage)
    assert reply.tool_calls == []
    assert reply.invalid_tool_calls[0]["name"] == "Person"


def test_unforced_tools_are_refused(model: LlamaCppChatModel) -> None:
    with pytest.raises(ValueError, match="forced"):
        model.bind_tools([Person])
    with pytest.raises(ValueError, match="forced"):
        model.bind_tools([Person, PersonDict], tool_choice="any")


def test_overflow_is_a_context_length_error(llama: FakeLlama, model: LlamaCppChatModel) -> None:
    llama.overflow = True
    with pytest.raises(ContextLengthExceededError, match="context length of 8192") as caught:
        model.invoke("long")
    assert "9000 tokens" in str(caught.value)
    with pytest.raises(ContextLengthExceededError, match="context length"):
        list(model.stream("long"))


def test_stream_yields_pieces_then_metadata(llama: FakeLlama, model: LlamaCppChatModel) -> None:
    llama.replies = ["a b c"]

    chunks = list(model.stream("hi"))

    assert [c.content for c in chunks] == ["a", "b", "c", ""]
    assert chunks[-1].response_metadata["finish_reason"] == "stop"


def test_concurrent_calls_never_overlap(llama: FakeLlama, model: LlamaCppChatModel) -> None:
    threads = [threading.Thread(target=model.invoke, args=("hi",)) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(llama.calls) == 6
    assert not llama.overlapped


def test_token_ids_use_the_model_tokenizer(llama: FakeLlama, model: LlamaCppChatModel) -> None:
    assert model.get_num_tokens("one two three") == 3


def test_prose_gets_repetition_control_code_and_json_do_not(
    llama: FakeLlama, model: LlamaCppChatModel
) -> None:
    llama.replies = ["prose", "code", '{"name": "Ada", "age": 36}']

    model.invoke([SystemMessage("Write plainly."), HumanMessage("Tell me about lighthouses.")])
    model.invoke([SystemMessage("Output only the code in one ```python block."), HumanMessage("x")])
    model.with_structured_output(Person).invoke("Ada is 36.")

    assert llama.repetitions == [PROSE_REPETITION, NO_REPETITION_CONTROL, NO_REPETITION_CONTROL]
    assert PROSE_REPETITION != NO_REPETITION_CONTROL
    # the controls travel to the engine, never as create_chat_completion arguments
    assert not {"repeat_penalty", "dry_multiplier"} & {k for _, p in llama.calls for k in p}


def test_text_kind_and_explicit_controls_per_call(
    llama: FakeLlama, model: LlamaCppChatModel
) -> None:
    model.bind(text_kind="code").invoke("Tell me about lighthouses.")
    model.invoke([SystemMessage("```python please"), HumanMessage("x")], text_kind="prose")
    model.invoke("hi", repeat_penalty=1.2, penalty_last_n=128)
    off = model.model_copy(update={"prose_repetition": NO_REPETITION_CONTROL})
    off.invoke("Tell me about lighthouses.")

    assert llama.repetitions == [
        NO_REPETITION_CONTROL,
        PROSE_REPETITION,
        Repetition(
            **{**PROSE_REPETITION.__dict__, "repeat_penalty": 1.2, "penalty_last_n": 128}
        ),
        NO_REPETITION_CONTROL,
    ]
    with pytest.raises(ValueError, match="text_kind"):
        model.invoke("hi", text_kind="poetry")


def test_history_reaches_dry_through_the_client_and_keys_the_cache(
    llama: FakeLlama, model: LlamaCppChatModel
) -> None:
    from dataclasses import replace

    from chunkwise.models.scripted import ScriptedChatModel
    from chunkwise.models.settings import ModelSettings
    from tests.models.clients import make_client

    client = make_client(model, ModelSettings(cache=False))
    client.complete("Tell me about lighthouses.", task="t", history="Earlier section text.")
    client.complete("Tell me about lighthouses.", task="t")
    assert llama.repetitions == [replace(PROSE_REPETITION, dry_history="Earlier section text."),
                                 PROSE_REPETITION]
    # another history is another answer: never served from the cache of the first
    messages = [HumanMessage("x")]
    assert client._cache_key("t", messages, history="a") != client._cache_key("t", messages)

    # a backend without DRY ignores the history (it would refuse an unknown argument)
    scripted = make_client(ScriptedChatModel(responders={"t": lambda call: "fine"}),
                           ModelSettings(cache=False))
    assert scripted.complete("x", task="t", history="Earlier.").text == "fine"


def test_dry_history_primes_the_end_of_the_history_then_a_paragraph_break() -> None:
    from chunkwise.models.local.engine import ChunkwiseLlama

    class Characters:
        def tokenize(self, data: bytes, add_bos: bool = True, special: bool = False) -> list[int]:
            return [ord(c) for c in data.decode("utf-8")]

    primed = Repetition(dry_multiplier=0.8, dry_penalty_last_n=8, dry_history="abcdefgh")
    # half of DRY's window is left to the reply: the history's last 4 tokens, then "\n\n"
    tokens = ChunkwiseLlama._history_tokens(Characters(), primed)  # type: ignore[arg-type]
    assert tokens == [ord(c) for c in "efgh\n\n"]
    blank = Repetition(dry_multiplier=0.8, dry_history="  ")
    assert ChunkwiseLlama._history_tokens(Characters(), blank) == []  # type: ignore[arg-type]

"""End to end with the real qwen2.5-coder-0.5b through llama.cpp (a few seconds in all).

Needs the `local` extra (llama-cpp-python and the model's part packages); skipped otherwise.
The joined weights land in the normal model cache, so only the first run pays the join.
"""

from __future__ import annotations

import importlib.util
import threading
from typing import Literal

import pytest
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel, Field

from chunkwise.models.local import (
    ContextLengthExceededError,
    LlamaCppChatModel,
    build_local_chat_model,
)
from chunkwise.models.local.weights import QWEN_CODER_0_5B

pytestmark = pytest.mark.local_model

_missing = [
    name
    for name in ("llama_cpp", *QWEN_CODER_0_5B.part_modules)
    if importlib.util.find_spec(name) is None
]
if _missing:
    pytest.skip(
        f"local model backend not installed (missing {', '.join(_missing)}): "
        'pip install "chunkwise[local]"',
        allow_module_level=True,
    )

SPEC = "local:qwen2.5-coder-0.5b"


class Person(BaseModel):
    """A person named in the text."""

    name: str = Field(description="the person's first name")
    age: int = Field(description="age in years")


class Step(BaseModel):
    title: str = Field(max_length=30)
    kind: Literal["code", "text"]


class Plan(BaseModel):
    """Steps to implement a small program."""

    # Bounded so the grammar keeps the reply short: the test checks shape, not planning.
    steps: list[Step] = Field(min_length=1, max_length=2)
    language: str | None = None


@pytest.fixture(scope="module")
def model() -> LlamaCppChatModel:
    return build_local_chat_model(SPEC, temperature=None, top_p=None, max_new_tokens=48)


def test_chat_returns_text_with_usage(model: LlamaCppChatModel) -> None:
    reply = model.invoke([HumanMessage("Name one primary colour. One word.")])

    assert isinstance(reply.content, str) and reply.content.strip()
    usage = reply.usage_metadata
    assert usage is not None
    assert usage["input_tokens"] > 5 and usage["output_tokens"] > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert reply.response_metadata["model_name"] == "qwen2.5-coder-0.5b"
    assert reply.response_metadata["finish_reason"] in ("stop", "length")


def test_streamed_usage_matches_invoke(model: LlamaCppChatModel) -> None:
    messages = [SystemMessage("Answer tersely."), HumanMessage("Count from 1 to 3.")]
    whole = model.invoke(messages)
    chunks = list(model.stream(messages))
    streamed = chunks[0]
    for chunk in chunks[1:]:
        streamed = streamed + chunk

    assert streamed.content == whole.content  # greedy decoding is repeatable
    assert streamed.usage_metadata is not None and whole.usage_metadata is not None
    assert streamed.usage_metadata["input_tokens"] == whole.usage_metadata["input_tokens"]


def test_structured_output_is_a_valid_pydantic_object(model: LlamaCppChatModel) -> None:
    model = model.model_copy(update={"max_tokens": 256})  # room for the whole object
    person = model.with_structured_output(Person).invoke("Alice turned 31 yesterday.")
    assert isinstance(person, Person)
    assert "Alice" in person.name

    plan = model.with_structured_output(Plan, method="function_calling").invoke(
        "Plan a Python script that prints the first ten primes."
    )
    assert isinstance(plan, Plan)
    assert 1 <= len(plan.steps) <= 2
    assert all(len(step.title) <= 30 for step in plan.steps)


def test_too_long_prompt_is_a_context_length_error() -> None:
    small = build_local_chat_model(SPEC, temperature=None, top_p=None, max_new_tokens=8, n_ctx=512)
    with pytest.raises(ContextLengthExceededError, match="context length of 512 tokens"):
        small.invoke("lorem ipsum " * 400)


def test_concurrent_branches_queue_on_one_model(model: LlamaCppChatModel) -> None:
    replies: list[str] = []

    def ask() -> None:
        replies.append(str(model.invoke("Say OK.").content))

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(replies) == 2 and all(replies)


def test_token_count_uses_the_model_tokenizer(model: LlamaCppChatModel) -> None:
    assert 0 < model.get_num_tokens("def add(a, b):\n    return a + b\n") < 20

"""The engine's speedups keep outputs the same, on the real qwen2.5-coder-0.5b (greedy decoding).

Each shortcut is compared with the stock path it replaces: grammar checked on the chosen token
against llama-cpp-python's whole-vocabulary grammar pass, and a restored saved prefix against a
fresh context.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel, Field

from chunkwise.models.local.weights import QWEN_CODER_0_5B
from tests.local_model import skip_unless_small_local_model

pytestmark = pytest.mark.local_model

skip_unless_small_local_model()

import llama_cpp  # noqa: E402

from chunkwise.models.local.engine import ChunkwiseLlama  # noqa: E402
from chunkwise.models.local.sampling import PROSE_REPETITION  # noqa: E402
from chunkwise.models.local.weights import ensure_model_file  # noqa: E402

N_CTX = 2048
NOTES = (
    "The Gated Token Mixer has 4 layers of width 256, a causal depthwise convolution with "
    "kernel size 7, and a gated feed-forward block with expansion 2. It is trained with AdamW "
    "at learning rate 3e-4, batch size 64, for 5 epochs on AG News (4 classes, 120,000 "
    "training headlines), reaching 90.4% accuracy."
)


class Hyperparameters(BaseModel):
    """Hyperparameters stated in the notes."""

    layers: int
    width: int
    kernel_size: int
    learning_rate: float
    dataset: str = Field(description="dataset name")
    classes: list[str] = Field(default_factory=list, max_length=4)


def _messages(question: str) -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": "You answer from the notes only."},
        {"role": "user", "content": f"Notes:\n{NOTES}\n\n{question}"},
    ]


@pytest.fixture(scope="module")
def model_path() -> str:
    return str(ensure_model_file(QWEN_CODER_0_5B.name))


def _open(cls: type, model_path: str, **kwargs: Any) -> Any:
    return cls(model_path=model_path, n_ctx=N_CTX, n_threads=2, verbose=False, **kwargs)


@pytest.fixture(scope="module")
def stock(model_path: str) -> Iterator[Any]:
    llama = _open(llama_cpp.Llama, model_path)
    yield llama
    llama.close()


@pytest.fixture(scope="module")
def engine(model_path: str) -> Iterator[ChunkwiseLlama]:
    llama = _open(ChunkwiseLlama, model_path)
    yield llama
    llama.close()


def _reply(llama: Any, messages: list[dict[str, Any]], **kwargs: Any) -> str:
    llama.reset()  # a fresh context each time: no KV reuse between the compared calls
    out = llama.create_chat_completion(messages=messages, temperature=0.0, **kwargs)
    return str(out["choices"][0]["message"]["content"])


def test_grammar_checked_on_the_chosen_token_gives_the_stock_answer(
    stock: Any, engine: ChunkwiseLlama
) -> None:
    schema = Hyperparameters.model_json_schema()
    fmt = {"type": "json_object", "schema": schema}
    messages = _messages("List the hyperparameters as JSON: " + json.dumps(schema))

    engine.reset_timings()
    fast = _reply(engine, messages, response_format=fmt, max_tokens=160)
    rejected = engine.timings()["grammar_rechecks"]

    assert fast == _reply(stock, messages, response_format=fmt, max_tokens=160)
    parsed = Hyperparameters.model_validate_json(fast)
    assert parsed.layers == 4 and parsed.kernel_size == 7
    # the shortcut was exercised both ways: most tokens passed, some were chosen again
    generated = engine.timings()["generated_tokens"]
    assert 0 < rejected < generated


def test_a_restored_prefix_gives_the_same_text_as_a_fresh_context(model_path: str) -> None:
    first = _messages("Which optimizer is used? One sentence.")
    other = [{"role": "user", "content": "Name a prime number between 10 and 20."}]
    second = _messages("What accuracy is reached? One sentence.")
    llama = _open(ChunkwiseLlama, model_path, prefix_cache_bytes=64 << 20)
    try:
        fresh = _reply(llama, second, max_tokens=40)
        for messages in (first, other):  # `other` evicts the notes from the live KV cache
            llama.create_chat_completion(messages=messages, temperature=0.0, max_tokens=20)
        llama.reset_timings()
        out = llama.create_chat_completion(messages=second, temperature=0.0, max_tokens=40)
        evaluated = llama.timings()["prompt_eval_tokens"]
    finally:
        llama.close()

    assert out["choices"][0]["message"]["content"] == fresh
    # only the question after the shared notes was evaluated again
    assert evaluated < out["usage"]["prompt_tokens"] // 3


def test_dry_changes_a_looping_reply_only_when_asked(engine: ChunkwiseLlama) -> None:
    messages = [{"role": "user", "content": "Write the sentence 'The cat sat on the mat.' "
                                            "ten times, one per line."}]
    plain = _reply(engine, messages, max_tokens=80)
    engine.repetition = PROSE_REPETITION
    try:
        damped = _reply(engine, messages, max_tokens=80)
    finally:
        engine.repetition = type(PROSE_REPETITION)()

    assert plain.count("The cat sat on the mat.") >= 5
    assert damped.count("The cat sat on the mat.") < plain.count("The cat sat on the mat.")


def test_dry_primed_with_a_history_keeps_the_reply_from_copying_it(
    engine: ChunkwiseLlama,
) -> None:
    from dataclasses import replace

    sentence = "The old keeper climbed the narrow stairs of the granite tower every night."
    messages = [{"role": "user", "content": f"Repeat this sentence exactly: {sentence}"}]
    engine.repetition = PROSE_REPETITION  # DRY watches only the reply: the copy goes through
    try:
        plain = _reply(engine, messages, max_tokens=40)
        engine.repetition = replace(PROSE_REPETITION, dry_history=sentence)
        primed = _reply(engine, messages, max_tokens=40)
    finally:
        engine.repetition = type(PROSE_REPETITION)()

    assert sentence[:-1] in plain
    assert sentence[:-1] not in primed and primed.strip()

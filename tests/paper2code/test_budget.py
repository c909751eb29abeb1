"""Chunk and notes budgets reserve the prompts' real fixed parts, measured, not guessed."""

from __future__ import annotations

import pytest

from chunkwise.models.scripted import ScriptedChatModel
from chunkwise.models.settings import ModelSettings
from chunkwise.nodes.paper2code.budget import chunk_budget, notes_budget
from chunkwise.prompts.measure import prompt_tokens
from chunkwise.prompts.paper2code import (
    chunk_prompt_overhead,
    code_messages,
    code_prompt_overhead,
    notes_token_cap,
    notes_word_limit,
    summarize_messages,
)
from chunkwise.text.tokens import default_tokenizer
from tests.models.clients import make_client

TITLE = "Attention Is All You Need: Transformers for Sequence Transduction Without Recurrence"


def _text_of(tokens: int) -> str:
    tok = default_tokenizer()
    words = " ".join(f"w{i}" for i in range(tokens))
    return tok.decode(tok.encode(words)[:tokens])


@pytest.mark.parametrize("window", [2048, 8192, 32_768])
def test_a_full_chunk_its_prompt_and_its_summary_fit_the_chunk_model(window: int) -> None:
    client = make_client(ScriptedChatModel(), ModelSettings(context_window=window))
    budget = chunk_budget(client)
    max_words = notes_word_limit(budget)
    messages = summarize_messages(title=TITLE, text=_text_of(budget), number=12, total=40,
                                  section="3.2 Multi-Head Attention", max_words=max_words)
    assert prompt_tokens(messages) + notes_token_cap(max_words) <= window
    # the reserve is the prompt itself: a chunk uses nearly all that is left
    assert prompt_tokens(messages) - budget <= chunk_prompt_overhead()


def test_the_notes_and_the_code_prompt_leave_room_for_the_code() -> None:
    client = make_client(ScriptedChatModel(), ModelSettings(context_window=16_384))
    budget = notes_budget(client)
    messages = code_messages(title=TITLE, notes=_text_of(budget),
                             dataset="WMT 2014 English-German", task="machine translation")
    reserve = min(client.max_output_tokens, client.context_window // 3)
    assert prompt_tokens(messages) + reserve <= client.context_window
    assert prompt_tokens(messages) - budget <= code_prompt_overhead()

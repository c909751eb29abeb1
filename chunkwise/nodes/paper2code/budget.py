"""Token budgets derived from each model's context window.

A chunk must fit the chunk model with its prompt and the reply its summary call allows
(`notes_token_cap`, so a request never asks for more than the window holds); the joined notes
must fit the code model with room for a whole file of code. The prompts' fixed parts are
measured (`chunkwise.prompts.paper2code`); a 10% margin covers the gap between our tokenizer
(cl100k) and the provider's.
"""

from __future__ import annotations

from chunkwise.errors import ConfigError
from chunkwise.models.client import ModelClient
from chunkwise.prompts.paper2code import (
    chunk_prompt_overhead,
    code_prompt_overhead,
    notes_token_cap,
    notes_word_limit,
)

MARGIN = 0.9


def summary_reply_tokens(client: ModelClient, source_tokens: int) -> int:
    """The reply a summary or merge of `source_tokens` tokens may write."""
    return min(client.max_output_tokens, notes_token_cap(notes_word_limit(source_tokens)))


def chunk_budget(client: ModelClient, cap: int | None = None) -> int:
    """Most tokens one chunk may hold for the chunk model (`cap` lowers it, never raises it)."""

    def fits(tokens: int) -> bool:
        reply = summary_reply_tokens(client, tokens)
        return tokens <= int((client.context_window - reply - chunk_prompt_overhead()) * MARGIN)

    # the reply grows with the chunk, so what fits is a prefix of the sizes: bisect its end
    budget, too_big = 0, client.context_window
    while too_big - budget > 1:
        middle = (budget + too_big) // 2
        budget, too_big = (middle, too_big) if fits(middle) else (budget, middle)
    if cap is not None:
        if cap < 64:
            raise ConfigError(f"--chunk-tokens {cap} is too small: use at least 64")
        budget = min(budget, cap)
    if budget < 64:
        raise ConfigError(
            f"{client.name} has a context of {client.context_window} tokens, too small to "
            "summarize chunks: raise --context-window or pick a larger model"
        )
    return budget


def notes_budget(client: ModelClient) -> int:
    """Most tokens the combined notes may take in the code model's prompt."""
    reserve = min(client.max_output_tokens, client.context_window // 3)
    return max(256, int((client.context_window - reserve - code_prompt_overhead()) * MARGIN))

"""Prompt sizes in tokens: the tokens a call sends, and the fixed part of a prompt that a
budget reserves (measured on the real prompt with empty texts, not guessed)."""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.messages import BaseMessage

from chunkwise.text.tokens import Tokenizer, default_tokenizer


def prompt_tokens(messages: Sequence[BaseMessage], tokenizer: Tokenizer | None = None) -> int:
    """Tokens of the messages' text (cl100k unless a tokenizer is given); the chat format's
    few tokens per message are left to the budgets' margins."""
    tok = tokenizer or default_tokenizer()
    return sum(tok.count(str(m.content)) for m in messages)
